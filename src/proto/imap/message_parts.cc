// One stored message's structure for FETCH and SEARCH; see
// message_parts.hh. The header block is found by reading the message's
// first bytes up to the blank line.
#include "proto/imap/message_parts.hh"

#include "posthorn/core/text.hh"
#include "proto/imap/mailbox_names.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::proto::imap {
namespace {

constexpr size_t k_first_read_bytes = 8192;
constexpr size_t k_content_window_bytes = 64 * 1024;
constexpr size_t k_keep_bytes = 16 * 1024;   // buffers above this are dropped between commands

// End of the header block (after its blank line) in `s`, or npos.
size_t blank_line_end(std::string_view s) noexcept {
    for (size_t p = 0; (p = s.find('\n', p)) != std::string_view::npos; ++p) {
        size_t q = p + 1;
        if (q < s.size() && s[q] == '\n') return q + 1;
        if (q + 1 < s.size() && s[q] == '\r' && s[q + 1] == '\n') return q + 2;
    }
    return std::string_view::npos;
}

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

void filter_fields(std::string_view h, std::span<const std::string_view> names, bool exclude, std::string& out) {
    out.clear();
    bool keep = false;
    size_t p = 0;
    while (p < h.size()) {
        size_t e = h.find('\n', p);
        size_t next = e == std::string_view::npos ? h.size() : e + 1;
        std::string_view line = h.substr(p, next - p);
        p = next;
        if (line == "\r\n" || line == "\n") break;
        if (line[0] != ' ' && line[0] != '\t') {
            size_t colon = line.find(':');
            std::string_view name = line.substr(0, colon == std::string_view::npos ? 0 : colon);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
            bool listed = false;
            for (std::string_view n : names) listed = listed || core::iequals(n, name);
            keep = colon != std::string_view::npos && listed != exclude;
        }
        if (keep) out.append(line);
    }
    out.append("\r\n");
}

void message_parts::reset(const store::message& m) noexcept {
    _msg = m;
    _header_loaded = false;
    _failed = false;
    _header_bytes = 0;
    _header.clear();
}

bool message_parts::load_header() {
    if (_header_loaded) return !_failed;
    _header_loaded = true;
    size_t want = k_first_read_bytes;
    for (;;) {
        uint64_t n = std::min<uint64_t>(want, _msg.size);
        if (auto r = _store.read(_msg, 0, n, _header); !r || _header.size() != n) {
            _failed = true;
            _header.clear();
            return false;
        }
        size_t end = blank_line_end(_header);
        if (end != std::string_view::npos) {
            _header.resize(end);
            _header_bytes = end;
            return true;
        }
        if (n == _msg.size || n >= store::mime::header_bytes_max) {
            _header_bytes = n;   // no blank line: all header (RFC 5322 allows no body)
            return true;
        }
        want = std::min<size_t>(want * 4, store::mime::header_bytes_max);
    }
}

std::string_view message_parts::header_block() {
    load_header();
    return _header;
}

store::mime::range message_parts::header() {
    load_header();
    return {0, _header_bytes};
}

store::mime::range message_parts::body() {
    load_header();
    return {_header_bytes, _msg.size - std::min(_header_bytes, _msg.size)};
}

std::optional<store::mime::range> message_parts::locate(const store::mime::section& s) {
    using kind = store::mime::section::kind;
    if (s.path.empty()) {
        switch (s.what) {
        case kind::all: return store::mime::range{0, _msg.size};
        case kind::header:
        case kind::header_fields:
        case kind::header_fields_not: return header();
        case kind::text: return body();
        case kind::mime: return std::nullopt;
        }
    }
    // Without the MIME skeleton the message is one part: part 1 is its body.
    if (s.path.size() == 1 && s.path[0] == 1) {
        if (s.what == kind::all) return body();
        if (s.what == kind::mime) return header();
    }
    return std::nullopt;
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
    using field = store::mime::skeleton::field;
    switch (f) {
    case field::from: return header_contains("From", needle);
    case field::to: return header_contains("To", needle);
    case field::cc: return header_contains("Cc", needle);
    case field::bcc: return header_contains("Bcc", needle);
    case field::subject: return header_contains("Subject", needle);
    }
    return false;
}

std::optional<int64_t> message_parts::sent_date() { return std::nullopt; }

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

void message_parts::write_envelope(std::string& out) {
    // Without the skeleton: the date and subject as they are, the rest NIL.
    out.append("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

void message_parts::write_body_structure(std::string& out, bool) {
    auto b = body();
    out.append("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" ");
    out.append(std::to_string(b.length)).append(" 0)");
}

void message_parts::release_buffers() noexcept {
    if (_header.capacity() > k_keep_bytes) std::string().swap(_header);
    if (_window.capacity() > k_keep_bytes) std::string().swap(_window);
}

}  // namespace posthorn::proto::imap
