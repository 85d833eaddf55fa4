// queue: envelopes and recipient state, the scheduled -> ready queues,
// routing, backoff, DSN and the delivery_agent interface (DESIGN.md "Queue and
// delivery"). This first part owns the envelope and its byte encoding, which
// the spool stores opaquely inside `message` records.
//
// Threading: shard-local values; nothing here is shared.
// Errors: decode() is strict (our own disk is decoded strictly, STYLE.md #5)
// and returns e_corrupt on any malformed byte.
#pragma once

#include "posthorn/core/result.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::queue {

// RFC 3461 NOTIFY bits; 0 = not given.
enum notify_bits : uint8_t { notify_never = 1, notify_success = 2, notify_failure = 4, notify_delay = 8 };
enum class body_type : uint8_t { unspecified = 0, seven_bit = 1, eight_bit_mime = 2, binary_mime = 3 };
enum class dsn_ret : uint8_t { unspecified = 0, full = 1, headers = 2 };

struct recipient {
    std::string address;   // local@domain, qualified; the domain lower-cased
    std::string orcpt;     // ORCPT parameter as given (addr-type;xtext), may be empty
    uint8_t notify = 0;    // notify_bits
};

struct envelope {
    std::string mail_from;          // qualified reverse-path; empty = null sender <>
    std::vector<recipient> rcpts;
    std::string helo;               // HELO/EHLO argument
    std::string client_address;     // peer IP as text
    uint64_t declared_size = 0;     // MAIL SIZE=, 0 when absent
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    dsn_ret ret = dsn_ret::unspecified;
    std::string envid;              // ENVID as given (xtext)
    int64_t received_unix_ms = 0;   // when the transaction started

    void clear() noexcept;
};

// Appends the encoding of `e` to `out` (little-endian, length-prefixed fields,
// a version byte first).
void encode(const envelope& e, std::string& out);
core::result<envelope> decode(std::string_view bytes);

// A queue id: shard in the top byte, then a per-shard counter seeded from the
// clock at start, so ids stay unique across restarts. Printed as 16 hex digits.
std::string format_queue_id(uint64_t id);

}  // namespace posthorn::queue
