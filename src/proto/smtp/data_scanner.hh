// The DATA/BDAT body scanner: turns received bytes into message content, in
// place, without copying the body (DESIGN.md "Zero-copy DATA").
//
// DATA (RFC 5321 §4.1.1.4, §4.5.2): dot-stuffed text that ends only at
// <CRLF>.<CRLF>. A leading dot is removed by compacting the chunk with a
// write cursor (memmove of the spans between removed dots); CR and LF are
// found with memchr, so the scan does no per-byte work between them.
// BDAT (RFC 3030): counted octets, no stuffing, no terminator.
// Bare CR or bare LF (RFC 5321 §2.3.8) is `reject`ed (the content is dropped
// and the failure reported once the body ends), `normalize`d to CRLF (the
// inserted bytes are slices of a static, never-released chunk), or `keep`t
// (BDAT with BODY=BINARYMIME). A bare CR or LF never starts a line: it can
// neither end DATA nor make a following dot a stuffed one, so none of the
// smuggling endings (`\n.\n`, `\r.\r`, `\r\n\0.\r\n`, ...) ends the body. A
// dot at a line start followed by CR or LF (other than the end marker) is
// kept, so such bytes stay visible in normalized content.
//
// Threading: shard-local, not thread-safe (the static chunk is per thread).
// Limits: content beyond max_bytes is discarded and reported (too_big); the
// scanner holds no bytes itself, only a few bits of state between calls, and
// stops early when `out` reaches pieces_max so the caller can spill.
// Returns: consumed byte counts and content pieces (core::slice) appended to
// the caller's vector; it never allocates beyond that vector and never logs.
#pragma once

#include "posthorn/core/chunk.hh"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace posthorn::proto::smtp {

enum class newline_rule : uint8_t { reject, normalize, keep };

class data_scanner {
public:
    enum class failure : uint8_t { none, too_big, bare_newline };

    // A DATA body: starts at a line start, ends after <CRLF>.<CRLF>.
    void start_dot(newline_rule rule, uint64_t max_bytes) noexcept;
    // A BDAT message: the state carries across its chunks.
    void start_counted(newline_rule rule, uint64_t max_bytes) noexcept;
    // BDAT <octets>: the next chunk of the counted message.
    void next_chunk(uint64_t octets) noexcept;

    // Scans `in`, rewriting its bytes in place, and appends the content
    // pieces to `out` (slices of `in`'s chunk or of the static chunk).
    // Returns how many bytes of `in` were consumed: it stops after the end
    // marker (DATA), at the end of the chunk (BDAT), or once out.size()
    // reaches pieces_max (after at least one byte, so the limit may be passed
    // by a few pieces); call again with the rest. It returns 0 only when
    // `in` is empty or done() is already true.
    size_t scan(const core::slice& in, std::vector<core::slice>& out, size_t pieces_max);
    // BDAT LAST, after its chunk is done: a CR at the very end is bare.
    void finish_counted(std::vector<core::slice>& out);

    // DATA: the end marker was seen. BDAT: the current chunk is complete.
    bool done() const noexcept;
    failure failed() const noexcept { return _failure; }
    // Content bytes produced so far (after unstuffing and normalizing).
    uint64_t content_bytes() const noexcept { return _content_bytes; }
    // Stop producing content; keep finding the end (the session gave up).
    void discard() noexcept { _discard = true; }

private:
    enum class st : uint8_t {
        text,        // inside a line
        cr,          // the last content byte was CR
        bol,         // at a line start (after CRLF; DATA only)
        bol_dot,     // a dot at a line start, not yet emitted
        bol_dot_cr,  // a dot and CR at a line start, not yet emitted
        done,        // DATA: after <CRLF>.<CRLF>
    };

    void fail(failure f) noexcept;
    size_t scan_keep(const core::slice& in, std::vector<core::slice>& out);

    uint64_t _max_bytes = 0;
    uint64_t _content_bytes = 0;
    uint64_t _chunk_left = 0;    // BDAT: octets of the current chunk still to come
    st _state = st::bol;
    newline_rule _rule = newline_rule::reject;
    failure _failure = failure::none;
    bool _dot = true;            // DATA (dot-stuffed) or BDAT (counted)
    bool _discard = false;
};

}  // namespace posthorn::proto::smtp
