// body_stream: one message's content on its way from the spool to a relay
// connection, dot-stuffed for DATA (RFC 5321 §4.5.2) a bounded window at a
// time, so a 100 MiB message costs a window of memory, not 100 MiB
// (DESIGN.md promise 5).
//
// Owns: where the next window starts (content offset) and the stuffer's
// line-start state, which carries across windows, so a "." at the very
// first byte of a window is doubled exactly when the byte before it (the
// last of the previous window) ended a line.
// Reads: pread(2) from the spool's segment files, located anew for every
// window through shard_spool::content_extents, so no fd is kept across
// turns (a segment may go once the message is deleted). The spool just
// wrote these bytes: the reads are served from the page cache.
// Threading: shard-local, not thread-safe.
// Limits: one window (the caller's scratch buffer) per fill(); the output
// grows by at most twice the window plus the 5-byte terminator.
// Errors: a failed or short read (the segment shrank, EIO) is returned; the
// host then abandons the transaction without the terminator, so the peer
// never takes a cut message.
#pragma once

#include "posthorn/core/result.hh"
#include "posthorn/proto/smtp_client.hh"
#include "posthorn/spool.hh"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace posthorn::app {

class body_stream {
public:
    static constexpr size_t window_bytes = 256 * 1024;

    // From the beginning of a (new) message.
    void start() noexcept;
    bool active() const noexcept { return _active; }
    // Reads the next window of m's content (at most scratch.size() bytes)
    // and appends it, stuffed, to out; after the last byte, the terminator
    // (CRLF first if the content does not end with one, then ".CRLF").
    // Returns true once the terminator is in out: the stream is then idle.
    core::result<bool> fill(const spool::shard_spool& sp, const spool::recovered_message& m, std::span<char> scratch,
                            std::string& out);
    uint64_t offset() const noexcept { return _offset; }  // content bytes consumed

private:
    // Reads content bytes [_offset, _offset + n) into dst.
    core::result<void> read(const spool::shard_spool& sp, const spool::recovered_message& m, char* dst, size_t n);

    proto::smtp::dot_stuffer _stuffer;
    std::vector<spool::extent> _extents;  // reused
    uint64_t _offset = 0;
    bool _active = false;
};

}  // namespace posthorn::app
