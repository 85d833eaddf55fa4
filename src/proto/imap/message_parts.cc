// One stored message's structure for FETCH and SEARCH; see
// message_parts.hh. Everything structural comes from the store's MIME
// skeleton (kept with the message, parsed once when it was stored); only
// SEARCH HEADER/BODY/TEXT read the message's bytes.
#include "proto/imap/message_parts.hh"

#include "posthorn/core/text.hh"
#include "proto/imap/mailbox_names.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::proto::imap {
namespace {

constexpr size_t k_content_window_bytes = 64 * 1024;
constexpr size_t k_keep_bytes = 16 * 1024;   // buffers above this are dropped between commands


}  // namespace

bool icontains(std::string_view hay, std::string_view n) noexcept {
    if (n.empty()) return true;
    if (hay.size() < n.size()) return false;
    const char first = n[0];
    const char first_up = first >= 'a' && first <= 'z' ? static_cast<char>(first - 32) : first;
    const size_t last = hay.size() - n.size();
    for (size_t i = 0; i <= last; ++i) {
        char c = hay[i];
        if (c != first && c != first_up) continue;
        size_t j = 1;
        while (j < n.size() && core::ascii_lower(hay[i + j]) == n[j]) ++j;
        if (j == n.size()) return true;
    }
    return false;
}

void message_parts::reset(const store::message& m) noexcept {
    _msg = m;
    _skel = _msg.skeleton.get();
    _header_loaded = false;
    _failed = false;
    _header.clear();
}

const store::mime::skeleton* message_parts::skeleton() {
    if (_skel) return _skel;
    if (_failed) return nullptr;
    // Messages indexed before skeletons existed: parsed now (and kept in
    // this copy only).
    auto r = _store.skeleton_of(_msg);
    if (!r) {
        _failed = true;
        return nullptr;
    }
    _skel = r->get();
    return _skel;
}

bool message_parts::load_header() {
    if (_header_loaded) return !_failed;
    _header_loaded = true;
    store::mime::range h = header();
    if (auto r = _store.read(_msg, h.offset, h.length, _header); !r || _header.size() != h.length) {
        _failed = true;
        _header.clear();
        return false;
    }
    return true;
}

std::string_view message_parts::header_block() {
    load_header();
    return _header;
}

store::mime::range message_parts::header() {
    const auto* k = skeleton();
    return k ? k->header() : store::mime::range{0, 0};
}

store::mime::range message_parts::body() {
    const auto* k = skeleton();
    return k ? k->body() : store::mime::range{0, 0};
}

std::optional<store::mime::range> message_parts::locate(const store::mime::section& s) {
    const auto* k = skeleton();
    return k ? k->locate(s) : std::nullopt;
}

bool message_parts::header_contains(std::string_view name, std::string_view needle) {
    std::string_view h = header_block();
    std::string& value = _window;   // the unfolded value of a matching field
    bool in_field = false;
    auto check = [&]() { return in_field && icontains(value, needle); };
    size_t p = 0;
    while (p < h.size()) {
        size_t e = h.find('\n', p);
        std::string_view line = h.substr(p, e == std::string_view::npos ? std::string_view::npos : e - p);
        p = e == std::string_view::npos ? h.size() : e + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            if (in_field) value.append(line);
            continue;
        }
        if (check()) return true;
        in_field = false;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view fname = line.substr(0, colon);
        while (!fname.empty() && (fname.back() == ' ' || fname.back() == '\t')) fname.remove_suffix(1);
        if (!core::iequals(fname, name)) continue;
        in_field = true;
        value.assign(line.substr(colon + 1));
    }
    return check();
}

bool message_parts::field_contains(store::mime::skeleton::field f, std::string_view needle) {
    const auto* k = skeleton();
    if (!k) return false;
    if (k->field_contains(f, needle)) return true;
    // A message typed by hand in SMTP (Lab 2) often has no From: header;
    // the envelope sender that local delivery recorded in Return-Path
    // stands in for it, as the From: Postfix's cleanup would have added.
    using field = store::mime::skeleton::field;
    return f == field::from && !k->field_contains(field::from, {}) && header_contains("Return-Path", needle);
}

std::optional<int64_t> message_parts::sent_date() {
    const auto* k = skeleton();
    return k ? k->sent_date() : std::nullopt;
}

bool message_parts::content_contains(store::mime::range r, std::string_view needle) {
    if (needle.empty()) return true;
    if (r.length < needle.size()) return false;
    uint64_t off = r.offset;
    const uint64_t end = r.offset + r.length;
    const uint64_t window = std::max<uint64_t>(k_content_window_bytes, needle.size() * 2);
    while (off < end) {
        uint64_t n = std::min<uint64_t>(window, end - off);
        if (auto rd = _store.read(_msg, off, n, _window); !rd || _window.size() != n) {
            _failed = true;
            return false;
        }
        if (icontains(_window, needle)) return true;
        if (off + n >= end) break;
        off += n - (needle.size() - 1);   // overlap: a match across windows
    }
    return false;
}

bool message_parts::text_contains(std::string_view needle, bool with_header) {
    if (needle.empty()) return true;
    const auto* k = skeleton();
    if (!k) return !_failed && content_contains(with_header ? store::mime::range{0, _msg.size} : body(), needle);
    if (with_header && content_contains(k->header(), needle)) return true;
    k->text_spans(_spans);
    for (const auto& span : _spans) {
        if (store::mime::text_decoder::changes_nothing(span.encoding, span.charset)) {
            if (content_contains(span.bytes, needle)) return true;
            if (_failed) return false;
            continue;
        }
        _decoder.reset(span.encoding, span.charset);
        _decoded.clear();
        uint64_t off = span.bytes.offset;
        const uint64_t end = span.bytes.offset + span.bytes.length;
        for (;;) {
            const bool last = off >= end;
            if (last) {
                _decoder.finish(_decoded);
            } else {
                uint64_t n = std::min<uint64_t>(k_content_window_bytes, end - off);
                if (auto rd = _store.read(_msg, off, n, _window); !rd || _window.size() != n) {
                    _failed = true;
                    return false;
                }
                off += n;
                _decoder.feed(_window, _decoded);
            }
            if (icontains(_decoded, needle)) return true;
            if (last) break;
            // Keep what a match across the next piece could start with.
            if (_decoded.size() >= needle.size()) _decoded.erase(0, _decoded.size() - (needle.size() - 1));
        }
    }
    return false;
}

void message_parts::write_envelope(std::string& out) {
    if (const auto* k = skeleton()) return k->write_envelope(out);
    out.append("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

void message_parts::write_body_structure(std::string& out, bool extensible) {
    if (const auto* k = skeleton()) return k->write_body_structure(out, extensible);
    out.append("(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
}

void message_parts::release_buffers() noexcept {
    _msg = store::message{};   // its skeleton is not kept alive by an idle session
    _spans.clear();            // views into that skeleton
    _skel = nullptr;
    if (_header.capacity() > k_keep_bytes) std::string().swap(_header);
    if (_window.capacity() > k_keep_bytes) std::string().swap(_window);
    if (_decoded.capacity() > k_keep_bytes) std::string().swap(_decoded);
}

}  // namespace posthorn::proto::imap
