// RFC 2047 encoded words ("=?charset?B|Q?text?=") decoded for SEARCH:
// utf-8 and us-ascii pass their bytes through, iso-8859-1 (latin1) is
// widened to UTF-8; any other charset, or a malformed word, stays as
// written, so a search for its raw text still finds it.
//
// Limits: a word is at most 75 bytes by RFC 2047 §2; longer ones (seen in
// the wild) are accepted up to the value's end.
// Threading: stateless.
#include "store/mime/internal.hh"

#include "posthorn/core/text.hh"

namespace posthorn::store::mime {

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c = core::ascii_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int base64_value(char c) noexcept { return core::base64_value(c); }

std::string decode_b(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        int v = base64_value(c);
        if (v < 0) continue;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

std::string decode_q(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '_') {
            out.push_back(' ');
        } else if (c == '=' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

enum class charset : uint8_t { utf8, latin1, other };

charset charset_of(std::string_view name) {
    if (auto star = name.find('*'); star != std::string_view::npos) name = name.substr(0, star);  // RFC 2231 language
    if (core::iequals(name, "utf-8") || core::iequals(name, "utf8") || core::iequals(name, "us-ascii"))
        return charset::utf8;
    if (core::iequals(name, "iso-8859-1") || core::iequals(name, "latin1") || core::iequals(name, "iso_8859-1"))
        return charset::latin1;
    return charset::other;
}

// Decodes the word at in[at] ("=?...?="); false (nothing consumed) if it
// is none or its charset is not one we convert.
bool decode_word(std::string_view in, size_t& at, std::string& out) {
    size_t q1 = in.find('?', at + 2);
    if (q1 == std::string_view::npos || q1 + 3 >= in.size() || in[q1 + 2] != '?') return false;
    char enc = core::ascii_lower(in[q1 + 1]);
    if (enc != 'b' && enc != 'q') return false;
    size_t end = in.find("?=", q1 + 3);
    if (end == std::string_view::npos) return false;
    std::string_view cs = in.substr(at + 2, q1 - at - 2);
    std::string_view text = in.substr(q1 + 3, end - q1 - 3);
    for (char c : text)
        if (c == ' ' || c == '\t') return false;
    charset kind = charset_of(cs);
    if (kind == charset::other || cs.empty()) return false;
    std::string bytes = enc == 'b' ? decode_b(text) : decode_q(text);
    if (kind == charset::latin1) {
        for (char c : bytes) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x80) {
                out.push_back(c);
            } else {
                out.push_back(static_cast<char>(0xc0 | (u >> 6)));
                out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
            }
        }
    } else {
        out += bytes;
    }
    at = end + 2;
    return true;
}

}  // namespace

std::string decode_encoded_words(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    std::string pending_space;   // whitespace after a decoded word: dropped if another follows
    bool after_word = false;
    size_t at = 0;
    while (at < in.size()) {
        char c = in[at];
        if (c == '=' && at + 1 < in.size() && in[at + 1] == '?') {
            std::string decoded;
            size_t next = at;
            if (decode_word(in, next, decoded)) {
                if (!after_word) out += pending_space;
                pending_space.clear();
                out += decoded;
                after_word = true;
                at = next;
                continue;
            }
        }
        if (c == ' ' || c == '\t') {
            pending_space.push_back(c);
            ++at;
            continue;
        }
        out += pending_space;
        pending_space.clear();
        out.push_back(c);
        after_word = false;
        ++at;
    }
    out += pending_space;
    return out;
}

}  // namespace posthorn::store::mime
