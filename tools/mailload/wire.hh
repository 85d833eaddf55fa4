// One blocking TCP connection with a read buffer: the transport under the IMAP
// and POP3 clients. Reads and writes time out after timeout_ms (SO_RCVTIMEO,
// SO_SNDTIMEO). Every failure sets error() and returns false; the connection
// is then unusable. Not thread-safe: one connection, one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace posthorn::mailload {

struct endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

class wire {
public:
    wire() = default;
    ~wire();
    wire(const wire&) = delete;
    wire& operator=(const wire&) = delete;

    // Buffer size to start with (it grows for a longer line); before open().
    void set_buffer_bytes(size_t n) { _buf.assign(n, 0); }
    bool open(const endpoint& ep, uint32_t timeout_ms);
    void close() noexcept;
    bool is_open() const noexcept { return _fd >= 0; }

    bool write_all(std::string_view bytes);
    // One line through its "\n" (CRLF kept in `line`). Fails past line_max.
    bool read_line(std::string& line, size_t line_max = 1 << 20);
    // Exactly n bytes; appended to *out unless out is null (then discarded).
    bool read_exact(size_t n, std::string* out);
    // A dot-stuffed multi-line body (POP3 RETR, RFC 1939 §3) through its
    // ".CRLF" line, read in place: `size` is its length with the stuffing
    // removed. Scans the buffer per line without copying lines out, so the
    // client costs little next to the servers it measures.
    bool read_dot_body(uint64_t& size);

    const std::string& error() const noexcept { return _error; }
    uint64_t bytes_in() const noexcept { return _bytes_in; }

private:
    bool fill();  // at least one more byte into the buffer, or false
    bool fail(const char* what, int err);

    int _fd = -1;
    std::vector<char> _buf = std::vector<char>(64 * 1024);
    size_t _head = 0;  // first unread byte
    size_t _tail = 0;  // one past the last received byte
    uint64_t _bytes_in = 0;
    std::string _error;
};

}  // namespace posthorn::mailload
