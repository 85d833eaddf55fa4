// The Received: trace header the SMTP server prepends to every message it
// accepts (RFC 5321 §4.4, RFC 5322 §3.6.7), in the layout Postfix uses:
//
//   Received: from <helo> ([<peer address>])
//   	by <hostname> (posthorn) with <protocol> id <queue id>
//   	for <rcpt>; <RFC 5322 date>          (the `for` clause: one recipient only)
//
// Threading: pure; appends to the caller's string. Inputs are trusted to be
// printable ASCII (the session validates HELO and addresses before storing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::proto::smtp {

struct trace_info {
    std::string_view helo;
    std::string_view peer_address;   // IPv4 or IPv6 text; empty: unknown
    std::string_view hostname;
    std::string_view protocol;       // SMTP, ESMTP, UTF8SMTP (RFC 3848, RFC 6531 §3.7.3)
    std::string_view queue_id;
    std::string_view single_rcpt;    // empty unless the message has one recipient
    int64_t unix_ms = 0;
};

void append_received(std::string& out, const trace_info& t);

}  // namespace posthorn::proto::smtp
