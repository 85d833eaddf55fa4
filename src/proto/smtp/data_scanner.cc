// The body scanner's single pass: a read cursor, a write cursor and the start
// of the piece not yet handed out, all inside the caller's chunk. Between CR
// and LF bytes (found by memchr, each search reused until passed) a span is
// moved only when a dot was removed before it in the same chunk.
#include "proto/smtp/data_scanner.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::proto::smtp {
namespace {

// The bytes the scanner adds to content: ".\r\n" (a dot held at a line start
// and the newline that follows it), "\r\n" and "\n" (normalized bare LF and
// bare CR). Its refcount starts at 1 and that reference is never dropped, so
// it never reaches a pool. One per thread: refcounts are plain integers.
struct static_bytes {
    char bytes[4] = {'.', '\r', '\n', '\0'};
    core::chunk c{bytes, 3, 1, UINT32_MAX, nullptr};
};
thread_local static_bytes t_static;

constexpr uint32_t k_dot_crlf = 0;  // ".\r\n"
constexpr uint32_t k_crlf = 1;      // "\r\n"
constexpr uint32_t k_lf = 2;        // "\n"

core::slice static_piece(uint32_t offset, uint32_t length) {
    return core::slice{core::chunk_ref(&t_static.c), offset, length};
}

const char* find(const char* from, const char* end, char c) noexcept {
    const void* p = std::memchr(from, c, static_cast<size_t>(end - from));
    return p ? static_cast<const char*>(p) : end;
}

}  // namespace

void data_scanner::start_dot(newline_rule rule, uint64_t max_bytes) noexcept {
    // keep is for binary BDAT content; dot-stuffed text normalizes instead.
    _rule = rule == newline_rule::keep ? newline_rule::normalize : rule;
    _max_bytes = max_bytes;
    _content_bytes = 0;
    _chunk_left = 0;
    _state = st::bol;
    _failure = failure::none;
    _dot = true;
    _discard = false;
}

void data_scanner::start_counted(newline_rule rule, uint64_t max_bytes) noexcept {
    _rule = rule;
    _max_bytes = max_bytes;
    _content_bytes = 0;
    _chunk_left = 0;
    _state = st::text;
    _failure = failure::none;
    _dot = false;
    _discard = false;
}

void data_scanner::next_chunk(uint64_t octets) noexcept { _chunk_left = octets; }

bool data_scanner::done() const noexcept { return _dot ? _state == st::done : _chunk_left == 0; }

void data_scanner::fail(failure f) noexcept {
    if (_failure == failure::none) _failure = f;
    _discard = true;
}

size_t data_scanner::scan_keep(const core::slice& in, std::vector<core::slice>& out) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(in.length, _chunk_left));
    if (n > 0 && !_discard) {
        if (_content_bytes + n > _max_bytes) {
            fail(failure::too_big);
        } else {
            out.push_back(in.prefix(n));
            _content_bytes += n;
        }
    }
    _chunk_left -= n;
    return n;
}

size_t data_scanner::scan(const core::slice& in, std::vector<core::slice>& out, size_t pieces_max) {
    if (!_dot && (_rule == newline_rule::keep || _discard)) return scan_keep(in, out);
    if (_dot && _state == st::done) return 0;

    char* const base = in.data();
    char* const end = base + (_dot ? in.length : std::min<uint64_t>(in.length, _chunk_left));
    char* r = base;      // next byte to read
    char* w = base;      // content is compacted into [base, w)
    char* piece = base;  // content in [piece, w) not yet appended to out
    const char* next_cr = nullptr;
    const char* next_lf = nullptr;

    auto give_up = [&](failure f) {
        fail(f);
        piece = w;
    };
    auto copy = [&](size_t n) {
        if (!_discard) {
            if (w != r) std::memmove(w, r, n);
            w += n;
        }
        r += n;
    };
    auto flush = [&] {
        if (w == piece) return;
        uint64_t n = static_cast<uint64_t>(w - piece);
        if (_content_bytes + n > _max_bytes) return give_up(failure::too_big);
        out.push_back(core::slice{in.owner, in.offset + static_cast<uint32_t>(piece - base),
                                  static_cast<uint32_t>(n)});
        _content_bytes += n;
        piece = w;
    };
    // A bare CR or LF: rejected, or replaced by static bytes [offset, +length).
    // The content before it is flushed first, so the size limit and a bare
    // newline are reported in the order they occur, whatever the cut.
    auto bare = [&](uint32_t offset, uint32_t length) {
        flush();
        if (_discard) return;
        if (_rule == newline_rule::reject) return give_up(failure::bare_newline);
        if (_content_bytes + length > _max_bytes) return give_up(failure::too_big);
        out.push_back(static_piece(offset, length));
        _content_bytes += length;
    };

    // A full `out` stops the scan, but only once a byte was consumed, so every
    // call makes progress (pieces_max is soft by the two pieces a step adds).
    while (r < end && _state != st::done && (out.size() < pieces_max || r == base)) {
        switch (_state) {
        case st::text: {
            if (!next_cr || next_cr < r) next_cr = find(r, end, '\r');
            if (!next_lf || next_lf < r) next_lf = find(r, end, '\n');
            copy(static_cast<size_t>(std::min(next_cr, next_lf) - r));
            if (r == end) break;
            if (*r == '\r') {
                copy(1);
                _state = st::cr;
            } else {
                ++r;  // bare LF: not content as it stands
                bare(k_crlf, 2);
            }
            break;
        }
        case st::cr:
            if (*r == '\n') {
                copy(1);
                _state = _dot ? st::bol : st::text;
            } else {
                bare(k_lf, 1);  // the CR is already content; r is not consumed
                _state = st::text;
            }
            break;
        case st::bol:
            if (*r == '.') {
                ++r;
                _state = st::bol_dot;
            } else {
                _state = st::text;
            }
            break;
        case st::bol_dot:
            if (*r == '\r') {
                ++r;
                _state = st::bol_dot_cr;
            } else if (*r == '\n') {
                ++r;
                bare(k_dot_crlf, 3);  // ".\n": the dot stays, the LF becomes CRLF
                _state = st::text;
            } else {
                _state = st::text;  // a stuffed dot: dropped (RFC 5321 §4.5.2)
            }
            break;
        case st::bol_dot_cr:
            if (*r == '\n') {
                ++r;
                _state = st::done;  // <CRLF>.<CRLF>
            } else {
                bare(k_dot_crlf, 3);  // ".\r" + other: the dot stays, the CR becomes CRLF
                _state = st::text;
            }
            break;
        case st::done:
            break;
        }
    }
    flush();
    size_t consumed = static_cast<size_t>(r - base);
    if (!_dot) _chunk_left -= consumed;
    return consumed;
}

void data_scanner::finish_counted(std::vector<core::slice>& out) {
    if (_dot || _state != st::cr) return;
    _state = st::text;
    if (_rule == newline_rule::keep || _discard) return;
    if (_rule == newline_rule::reject) return fail(failure::bare_newline);
    if (_content_bytes + 1 > _max_bytes) return fail(failure::too_big);
    out.push_back(static_piece(k_lf, 1));
    _content_bytes += 1;
}

}  // namespace posthorn::proto::smtp
