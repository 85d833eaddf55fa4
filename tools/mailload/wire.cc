// See wire.hh.
#include "wire.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/time.h>
#include <unistd.h>

namespace posthorn::mailload {

wire::~wire() { close(); }

void wire::close() noexcept {
    if (_fd >= 0) ::close(_fd);
    _fd = -1;
    _head = _tail = 0;
}

bool wire::fail(const char* what, int err) {
    _error = what;
    if (err != 0) {
        _error += ": ";
        _error += err == EAGAIN ? "timed out" : std::strerror(err);
    }
    close();
    return false;
}

bool wire::open(const endpoint& ep, uint32_t timeout_ms) {
    close();
    _error.clear();
    _fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (_fd < 0) return fail("socket", errno);
    timeval tv{};
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000);
    setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int attempt = 0;; ++attempt) {
        if (::connect(_fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) == 0) return true;
        // A full accept queue drops the SYN; connect then times out (EAGAIN
        // with SO_SNDTIMEO) or is refused while a server restarts.
        if ((errno != EAGAIN && errno != EINTR) || attempt >= 20) return fail("connect", errno);
    }
}

bool wire::write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("send", errno);
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

bool wire::fill() {
    if (_head == _tail) {
        _head = _tail = 0;
    } else if (_tail == _buf.size()) {
        if (_head == 0) _buf.resize(_buf.size() * 2);  // a line longer than the buffer
        else {
            std::memmove(_buf.data(), _buf.data() + _head, _tail - _head);
            _tail -= _head;
            _head = 0;
        }
    }
    for (;;) {
        ssize_t n = ::recv(_fd, _buf.data() + _tail, _buf.size() - _tail, 0);
        if (n > 0) {
            _tail += static_cast<size_t>(n);
            _bytes_in += static_cast<uint64_t>(n);
            return true;
        }
        if (n == 0) return fail("connection closed by the server", 0);
        if (errno != EINTR) return fail("recv", errno);
    }
}

bool wire::read_line(std::string& line, size_t line_max) {
    line.clear();
    size_t scanned = _head;
    for (;;) {
        const void* nl = std::memchr(_buf.data() + scanned, '\n', _tail - scanned);
        if (nl != nullptr) {
            size_t end = static_cast<size_t>(static_cast<const char*>(nl) - _buf.data()) + 1;
            line.assign(_buf.data() + _head, end - _head);
            _head = end;
            return true;
        }
        if (_tail - _head > line_max) return fail("line too long", 0);
        size_t offset = _tail - _head;
        if (!fill()) return false;
        scanned = _head + offset;
    }
}

bool wire::read_dot_body(uint64_t& size) {
    size = 0;
    bool line_start = true;
    for (;;) {
        const char* base = _buf.data();
        const char* p = base + _head;
        const char* end = base + _tail;
        while (p < end) {
            if (line_start) {
                if (*p == '.') {
                    if (end - p < 3) break;  // ".\r\n" or a stuffed dot: need more to tell
                    if (p[1] == '\r' && p[2] == '\n') {
                        _head = static_cast<size_t>(p + 3 - base);
                        return true;
                    }
                    ++p;  // the stuffed dot is not part of the message
                }
                line_start = false;
            }
            const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
            if (!nl) {
                size += static_cast<uint64_t>(end - p);
                p = end;
                break;
            }
            const char* after = static_cast<const char*>(nl) + 1;
            size += static_cast<uint64_t>(after - p);
            p = after;
            line_start = true;
        }
        _head = static_cast<size_t>(p - base);
        if (!fill()) return false;
    }
}

bool wire::read_exact(size_t n, std::string* out) {
    while (n > 0) {
        if (_head == _tail && !fill()) return false;
        size_t take = std::min(n, _tail - _head);
        if (out != nullptr) out->append(_buf.data() + _head, take);
        _head += take;
        n -= take;
    }
    return true;
}

}  // namespace posthorn::mailload
