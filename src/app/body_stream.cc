// A message's content from the spool, a window at a time (see body_stream.hh).
#include "body_stream.hh"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace posthorn::app {

void body_stream::start() noexcept {
    _stuffer.reset();
    _offset = 0;
    _active = true;
}

core::result<bool> body_stream::fill(const spool::shard_spool& sp, const spool::recovered_message& m,
                                     std::span<char> scratch, std::string& out) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(scratch.size(), m.content_bytes - _offset));
    if (n > 0) {
        if (auto r = read(sp, m, scratch.data(), n); !r) {
            _active = false;
            return r.err();
        }
        _offset += n;
        _stuffer.stuff(std::string_view(scratch.data(), n), out);
    }
    if (_offset < m.content_bytes) return false;
    _stuffer.finish(out);
    _active = false;
    return true;
}

core::result<void> body_stream::read(const spool::shard_spool& sp, const spool::recovered_message& m, char* dst,
                                     size_t n) {
    if (auto r = sp.content_extents(m, _extents); !r) return r;
    uint64_t base = 0;  // content offset of the extent
    for (const spool::extent& e : _extents) {
        if (_offset + n <= base) break;
        uint64_t end = base + e.length;
        uint64_t at = std::max(_offset, base);
        while (at < end && at < _offset + n) {
            size_t want = static_cast<size_t>(std::min(end, _offset + n) - at);
            ssize_t got = ::pread(e.fd, dst + (at - _offset), want, static_cast<off_t>(e.offset + (at - base)));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) return core::error{errno, "pread spool segment"};
            if (got == 0) return core::error{core::e_corrupt, "spool segment shorter than its message"};
            at += static_cast<uint64_t>(got);
        }
        base = end;
    }
    if (base < _offset + n) return core::error{core::e_corrupt, "content shorter than content_bytes"};
    return core::ok();
}

}  // namespace posthorn::app
