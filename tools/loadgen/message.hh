// What the load generator writes: the message text (built once, shared
// read-only by every thread; only a few header lines are made per message) and
// an output queue that writes it without copying the body.
//
// A message is headers (with a unique Message-ID) + a body of exactly
// size_bytes: 80-byte lines (78 printable characters + CRLF, never starting
// with '.', so no dot-stuffing), the last line shortened to fit, then
// ".\r\n". Bodies of any size, 100 MiB included, come from one block of at
// most 1 MiB that is referenced repeatedly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <sys/uio.h>

namespace posthorn::loadgen {

class message_source {
public:
    message_source(uint64_t size_bytes, std::string from, std::string rcpt);

    // The header block (ending in the empty line) of message number seq.
    std::string header(uint64_t seq, uint32_t thread) const;

    const std::string& block() const noexcept { return _block; }
    uint64_t whole_blocks() const noexcept { return _whole_blocks; }
    size_t partial_block_bytes() const noexcept { return _partial; }
    const std::string& tail() const noexcept { return _tail; }  // last line + ".\r\n"
    uint64_t size_bytes() const noexcept { return _size_bytes; }

private:
    uint64_t _size_bytes;
    std::string _from;
    std::string _rcpt;
    std::string _date;
    uint64_t _run_id;
    std::string _block;          // whole lines only
    uint64_t _whole_blocks = 0;  // the block this many times, then
    size_t _partial = 0;         // this many bytes of it (whole lines), then
    std::string _tail;           // the short last line and the end-of-data ".\r\n"
};

// Bytes waiting to go out on one connection: owned strings (commands,
// headers) and borrowed spans repeated n times (the shared body block).
class output_queue {
public:
    void push(std::string s);
    void push_borrowed(const char* data, size_t len, uint64_t repeat = 1);

    bool empty() const noexcept { return _segments.empty(); }
    uint64_t pending_bytes() const noexcept { return _pending; }
    void clear() noexcept {
        _segments.clear();
        _pending = 0;
    }

    // Fills up to max iovecs from the front; returns how many.
    int gather(iovec* iov, int max) const noexcept;
    // Drops n written bytes from the front.
    void consume(size_t n) noexcept;

private:
    struct segment {
        std::string owned;
        const char* data = nullptr;
        size_t len = 0;
        uint64_t repeat = 1;
        uint64_t repeat_done = 0;  // whole copies already written
        size_t offset = 0;         // into the current copy
    };
    std::deque<segment> _segments;
    uint64_t _pending = 0;
};

}  // namespace posthorn::loadgen
