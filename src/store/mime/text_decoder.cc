// text_decoder (store/text_decoder.hh): transfer decoding by hand (a table
// walk per piece; no Debian library offers a streaming base64 and
// quoted-printable decoder for this), charset conversion by iconv(3).
#include "posthorn/store/text_decoder.hh"

#include "posthorn/core/text.hh"

#include <iconv.h>

#include <cerrno>

namespace posthorn::store::mime {
namespace {

constexpr int8_t k_not_base64 = -1;

constexpr auto k_base64_values = [] {
    struct table {
        int8_t v[256];
    } t{};
    for (int i = 0; i < 256; ++i) t.v[i] = k_not_base64;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t.v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
}();

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool passes_through(std::string_view charset) noexcept {
    return charset.empty() || core::iequals(charset, "us-ascii") || core::iequals(charset, "utf-8") ||
           core::iequals(charset, "utf8");
}

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";   // U+FFFD

}  // namespace

text_decoder::text_decoder(std::string_view transfer_encoding, std::string_view charset) {
    reset(transfer_encoding, charset);
}

void text_decoder::reset(std::string_view transfer_encoding, std::string_view charset) {
    _transfer = transfer::identity;
    if (core::iequals(transfer_encoding, "base64")) _transfer = transfer::base64;
    else if (core::iequals(transfer_encoding, "quoted-printable")) _transfer = transfer::quoted_printable;
    _b64_bits = 0;
    _b64_count = 0;
    _qp_pending.clear();
    _raw.clear();
    if (passes_through(charset)) charset = {};
    if (core::iequals(charset, _charset)) {
        if (_iconv) ::iconv(static_cast<iconv_t>(_iconv), nullptr, nullptr, nullptr, nullptr);  // initial state
        return;
    }
    if (_iconv) ::iconv_close(static_cast<iconv_t>(_iconv));
    _iconv = nullptr;
    _charset.assign(charset);
    if (charset.empty()) return;
    iconv_t cd = ::iconv_open("UTF-8", _charset.c_str());
    if (cd != reinterpret_cast<iconv_t>(-1)) _iconv = cd;
}

bool text_decoder::changes_nothing(std::string_view transfer_encoding, std::string_view charset) noexcept {
    return !core::iequals(transfer_encoding, "base64") && !core::iequals(transfer_encoding, "quoted-printable") &&
           passes_through(charset);
}

text_decoder::~text_decoder() {
    if (_iconv) ::iconv_close(static_cast<iconv_t>(_iconv));
}

void text_decoder::feed(std::string_view in, std::string& out) {
    if (!_iconv) return transfer_decode(in, out);
    transfer_decode(in, _raw);
    convert(out, false);
}

// The whole bytes of a quantum cut short (by "=" padding or the end).
void text_decoder::flush_base64(std::string& out) {
    if (_b64_count == 2) {
        out.push_back(static_cast<char>(_b64_bits >> 4));
    } else if (_b64_count == 3) {
        out.push_back(static_cast<char>(_b64_bits >> 10));
        out.push_back(static_cast<char>(_b64_bits >> 2));
    }
    _b64_bits = 0;
    _b64_count = 0;
}

void text_decoder::finish(std::string& out) {
    if (_transfer == transfer::base64) flush_base64(_iconv ? _raw : out);
    if (_transfer == transfer::quoted_printable && !_qp_pending.empty()) {
        (_iconv ? _raw : out).append(_qp_pending);   // a cut escape: kept as written
        _qp_pending.clear();
    }
    if (_iconv) convert(out, true);
}

void text_decoder::transfer_decode(std::string_view in, std::string& out) {
    switch (_transfer) {
    case transfer::identity: out.append(in); return;
    case transfer::base64:
        for (char c : in) {
            int8_t v = k_base64_values.v[static_cast<unsigned char>(c)];
            if (v == k_not_base64) {
                if (c == '=') flush_base64(out);   // padding ends a short quantum
                continue;                          // line breaks, stray bytes
            }
            _b64_bits = (_b64_bits << 6) | static_cast<uint32_t>(v);
            if (++_b64_count == 4) {
                out.push_back(static_cast<char>(_b64_bits >> 16));
                out.push_back(static_cast<char>(_b64_bits >> 8));
                out.push_back(static_cast<char>(_b64_bits));
                _b64_bits = 0;
                _b64_count = 0;
            }
        }
        return;
    case transfer::quoted_printable: {
        std::string_view s = in;
        std::string joined;
        if (!_qp_pending.empty()) {
            joined = _qp_pending;
            joined.append(in);
            s = joined;
            _qp_pending.clear();
        }
        size_t i = 0;
        while (i < s.size()) {
            size_t eq = s.find('=', i);
            if (eq == std::string_view::npos) {
                out.append(s.substr(i));
                return;
            }
            out.append(s.substr(i, eq - i));
            if (s.size() - eq < 3) {   // "=", "=X" or "=\r" at the end: wait for more
                _qp_pending.assign(s.substr(eq));
                return;
            }
            char a = s[eq + 1], b = s[eq + 2];
            if (a == '\r' && b == '\n') {
                i = eq + 3;            // soft line break
            } else if (a == '\n') {
                i = eq + 2;            // soft line break, bare LF
            } else if (int h = hex_value(a), l = hex_value(b); h >= 0 && l >= 0) {
                out.push_back(static_cast<char>(h * 16 + l));
                i = eq + 3;
            } else {
                out.push_back('=');    // not an escape: kept as written
                i = eq + 1;
            }
        }
        return;
    }
    }
}

void text_decoder::convert(std::string& out, bool last) {
    auto cd = static_cast<iconv_t>(_iconv);
    char* in = _raw.data();
    size_t in_left = _raw.size();
    while (in_left > 0) {
        const size_t at = out.size();
        out.resize(at + in_left * 4 + 16);
        char* o = out.data() + at;
        size_t o_left = out.size() - at;
        size_t r = ::iconv(cd, &in, &in_left, &o, &o_left);
        out.resize(out.size() - o_left);
        if (r != static_cast<size_t>(-1)) continue;
        if (errno == E2BIG) continue;
        if (errno == EINVAL && !last) break;   // a character cut by the piece's end
        // Invalid (or cut at the very end): one replacement, then on.
        out.append(k_replacement);
        ++in;
        --in_left;
    }
    _raw.erase(0, _raw.size() - in_left);
    if (last) ::iconv(cd, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace posthorn::store::mime
