// IMAP command framing; see reader.hh.
#include "proto/imap/reader.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::proto::imap {
namespace {
constexpr size_t k_keep_bytes = 4096;
}  // namespace

bool command_reader::announced(std::string_view line, literal_info& out) noexcept {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 3 || line.back() != '}') return false;
    line.remove_suffix(1);
    bool sync = true;
    if (line.back() == '+') {
        sync = false;
        line.remove_suffix(1);
    }
    size_t digits = 0;
    while (digits < line.size() && line[line.size() - 1 - digits] >= '0' && line[line.size() - 1 - digits] <= '9')
        ++digits;
    if (digits == 0 || digits == line.size() || line[line.size() - 1 - digits] != '{') return false;
    uint64_t n = 0;
    for (char c : line.substr(line.size() - digits)) {
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10) {
            n = UINT64_MAX;  // absurd: refused by size anyway
            break;
        }
        n = n * 10 + d;
    }
    out.size = n;
    out.sync = sync;
    return true;
}

command_reader::event command_reader::next(std::string_view in, size_t& pos) {
    if (_done) {
        _done = false;
        _text.clear();
        _line_start = 0;
        // A big command's buffer is not kept by an idle session.
        if (_text.capacity() > k_keep_bytes) std::string().swap(_text);
    }
    if (_mode == mode::literal_out && _left == 0) {
        _mode = mode::line;
        _line_start = _text.size();
        return event::literal_end;
    }
    while (pos < in.size()) {
        switch (_mode) {
        case mode::line: {
            const void* nl = std::memchr(in.data() + pos, '\n', in.size() - pos);
            size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
            std::string_view piece = in.substr(pos, end - pos);
            if (_text.size() + piece.size() + 2 > _max) {
                // Keep the start (the tag is in it) and drop the rest of the line.
                size_t keep = std::min<size_t>(piece.size(), 64);
                if (_text.size() < 64) _text.append(piece.substr(0, keep));
                _mode = mode::too_long;
                _tail_len = 0;
                continue;
            }
            _text.append(piece);
            pos = nl ? end + 1 : end;
            if (!nl) return event::more;
            // A CR ending the line; never a literal's last byte before it.
            if (_text.size() > _line_start && _text.back() == '\r') _text.pop_back();
            std::string_view line = std::string_view(_text).substr(_line_start);
            bool lit = announced(line, _lit);
            _text.append("\r\n");
            if (lit) {
                if (_skipping) {
                    if (_lit.sync) return finish_dropped();
                    _left = _lit.size;
                    _mode = mode::literal_skip;
                    continue;
                }
                return event::literal;
            }
            if (_skipping) return finish_dropped();
            _text.resize(_text.size() - 2);
            _done = true;
            return event::command;
        }
        case mode::literal_in: {
            size_t n = static_cast<size_t>(std::min<uint64_t>(_left, in.size() - pos));
            _text.append(in.substr(pos, n));
            pos += n;
            _left -= n;
            if (_left == 0) {
                _mode = mode::line;
                _line_start = _text.size();
            }
            continue;
        }
        case mode::literal_out: {
            if (_left == 0) {
                _mode = mode::line;
                _line_start = _text.size();
                return event::literal_end;
            }
            size_t n = static_cast<size_t>(std::min<uint64_t>(_left, in.size() - pos));
            _chunk = in.substr(pos, n);
            pos += n;
            _left -= n;
            return event::literal_bytes;
        }
        case mode::literal_skip: {
            size_t n = static_cast<size_t>(std::min<uint64_t>(_left, in.size() - pos));
            pos += n;
            _left -= n;
            if (_left == 0) {
                _mode = mode::skip_line;
                _tail_len = 0;
            }
            continue;
        }
        case mode::skip_line:
        case mode::too_long: {
            const void* nl = std::memchr(in.data() + pos, '\n', in.size() - pos);
            size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
            keep_tail(in.substr(pos, end - pos));
            pos = nl ? end + 1 : end;
            if (!nl) return event::more;
            literal_info li;
            bool lit = announced(std::string_view(_tail, _tail_len), li);
            bool was_too_long = _mode == mode::too_long;
            _skipping = true;
            if (lit && !li.sync) {
                _left = li.size;
                _mode = mode::literal_skip;
            } else {
                _mode = mode::line;
                _skipping = false;
            }
            if (was_too_long) {
                _done = _mode == mode::line;
                if (!_done) _text.resize(std::min<size_t>(_text.size(), 64));
                return event::line_too_long;
            }
            if (_mode == mode::line) return finish_dropped();
            continue;
        }
        }
    }
    return event::more;
}

void command_reader::keep_tail(std::string_view piece) noexcept {
    const size_t cap = sizeof(_tail);
    if (piece.size() >= cap) {
        std::memcpy(_tail, piece.data() + piece.size() - cap, cap);
        _tail_len = cap;
        return;
    }
    size_t keep = std::min(_tail_len, cap - piece.size());
    std::memmove(_tail, _tail + _tail_len - keep, keep);
    std::memcpy(_tail + keep, piece.data(), piece.size());
    _tail_len = keep + piece.size();
}

command_reader::event command_reader::finish_dropped() {
    _mode = mode::line;
    _skipping = false;
    _done = true;
    return event::dropped;
}

void command_reader::take_literal() {
    _mode = mode::literal_in;
    _left = _lit.size;
    if (_left == 0) {
        _mode = mode::line;
        _line_start = _text.size();
    }
}

void command_reader::stream_literal() {
    _mode = mode::literal_out;
    _left = _lit.size;
}

void command_reader::drop_literal_and_command() {
    if (_lit.sync) return reset();
    _skipping = true;
    _left = _lit.size;
    _mode = _left ? mode::literal_skip : mode::skip_line;
    _tail_len = 0;
}

void command_reader::reset() noexcept {
    _mode = mode::line;
    _skipping = false;
    _done = false;
    _text.clear();
    _line_start = 0;
    _left = 0;
}

void command_reader::drop_command() noexcept {
    _skipping = true;
    _text.clear();
    _line_start = 0;
    _mode = mode::skip_line;
    _tail_len = 0;
}

}  // namespace posthorn::proto::imap
