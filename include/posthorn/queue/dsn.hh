// queue/dsn: delivery status notifications (RFC 3464 multipart/report,
// RFC 3461 NOTIFY / RET / ENVID / ORCPT, RFC 3463 status codes), built as a
// complete message ready to be queued from the null sender <> to the
// original envelope sender.
//
// Policy (who gets one): never when the original sender is the null sender
// (a bounce never bounces); NOTIFY=NEVER never; a failure unless NOTIFY was
// given without FAILURE; a delay only with NOTIFY=DELAY; a success only with
// NOTIFY=SUCCESS. The original travels whole (message/rfc822) unless
// RET=HDRS or it is larger than original_bytes_max (then its header only,
// text/rfc822-headers), as Postfix's bounce_size_limit.
//
// Threading: pure functions over values. Nothing here logs or fails.
#pragma once

#include "posthorn/queue.hh"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace posthorn::queue {

enum class dsn_action : uint8_t { failed, delayed, delivered, relayed };

struct dsn_recipient {
    std::string_view address;       // final recipient, local@domain
    std::string_view orcpt;         // ORCPT as given ("rfc822;xtext"), may be empty
    uint8_t notify = 0;             // notify_bits from RCPT
    dsn_action action = dsn_action::failed;
    std::string_view status;        // "5.1.1"
    std::string_view remote_mta;    // host name or address of the peer; empty if none
    std::string_view diagnostic;    // the peer's reply, "550 5.1.1 ..." (smtp), or ours
    int64_t last_attempt_unix_ms = 0;
};

struct dsn_request {
    std::string_view reporting_mta;   // our hostname
    std::string_view sender;          // the original envelope sender: the DSN's recipient
    std::string_view envid;           // ENVID as given (xtext), may be empty
    dsn_ret ret = dsn_ret::unspecified;
    int64_t arrival_unix_ms = 0;
    int64_t now_unix_ms = 0;
    std::string_view original;        // the original message as stored
    uint64_t original_bytes_max = 50'000;
    std::string_view unique;          // makes boundary and Message-ID unique (the queue id)
    std::span<const dsn_recipient> rcpts;
};

// Whether a recipient's outcome calls for a DSN to `sender`.
bool dsn_wanted(std::string_view sender, uint8_t notify, dsn_action action) noexcept;

// The whole DSN message (header and body, CRLF line ends).
std::string build_dsn(const dsn_request& r);

// RFC 3461 §4 xtext (ENVID, ORCPT): '+', '=', controls and non-ASCII as +HH.
void append_xtext(std::string& out, std::string_view s);

// "Tue, 26 Nov 2024 08:40:00 +0000" (RFC 5322 §3.3), always UTC.
void append_rfc5322_date(std::string& out, int64_t unix_ms);

}  // namespace posthorn::queue
