// The SMTP server session (RFC 5321 + ESMTP extensions): one sans-I/O state
// machine, fed received bytes in any split. It owns no socket and no timer;
// its host (src/app) feeds it, sends what it puts in output(), closes when it
// asks, and carries messages to the spool through a message_sink.
//
// Threading: shard-local, not thread-safe.
// Limits (session_config): command line length, recipients, message size,
// errors per session, body bytes held before spilling to the sink. Breaking
// one gets a reply and a log line, never growth or a crash.
#pragma once

#include "posthorn/core/chunk.hh"
#include "posthorn/core/result.hh"
#include "posthorn/directory.hh"
#include "posthorn/queue.hh"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace posthorn::proto::smtp {

enum class bare_newline_policy : uint8_t { reject, normalize };
enum class vrfy_policy : uint8_t { cannot_verify /* 252 */, verify /* 250 / 550 */, disabled /* 502 */ };

struct session_config {
    std::string hostname = "localhost";
    uint64_t max_message_size = 52428800;
    uint32_t max_recipients = 1000;
    uint32_t line_length_max = 512;        // RFC 5321 §4.5.3.1.4, CRLF included
    uint32_t errors_max = 10;              // then 421 and close
    uint32_t body_window_bytes = 256 * 1024;  // body held before write_body()
    bare_newline_policy bare_newlines = bare_newline_policy::reject;
    vrfy_policy vrfy = vrfy_policy::cannot_verify;
    bool expn_enabled = false;             // false: 502
    bool forbid_unauth_pipelining = true;  // as Postfix smtpd_forbid_unauth_pipelining
    // Wall clock (Unix ms) for Received: and envelopes; null: the system
    // clock. Tests pin it.
    int64_t (*clock_unix_ms)() noexcept = nullptr;
};

struct peer_info {
    std::string address;     // IP as text, for Received: and logs
    bool trusted = false;    // in trusted_networks: may relay
};

// What a session asks of its host: the spool, behind the queue.
class message_sink {
public:
    virtual ~message_sink() = default;
    // A new message; its queue id, or an error (the session answers 451 4.3.0).
    virtual core::result<uint64_t> begin_message() = 0;
    // Body bytes in order, dot-unstuffed and CRLF-clean, when the window
    // fills. The slices may be released as soon as this returns.
    virtual core::result<void> write_body(uint64_t id, std::span<const core::slice> body) = 0;
    // End of the message: the envelope, the Received: header to prepend, and
    // the rest of the body. Asynchronous: the host calls session::on_committed
    // once the message is durable (or failed). The slices and the header's
    // bytes may be released as soon as this returns. An error return is final (the session answers
    // 451 4.3.0 and does not call abort_message for that id); the sink may
    // call on_committed from inside commit().
    virtual core::result<void> commit(uint64_t id, const queue::envelope& env,
                                      std::string_view received_header,
                                      std::span<const core::slice> body_tail) = 0;
    // The message will not be committed (size, bare newline, RSET, close).
    virtual void abort_message(uint64_t id) noexcept = 0;
};

class session {
public:
    session(const session_config& cfg, const directory::handle& dir, message_sink& sink,
            peer_info peer, std::string session_id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Connection opened. `input_pending`: the client sent bytes before the
    // greeting (pre-greet pipelining): refused when forbidden, else 220.
    void start(bool input_pending);

    // Received bytes. Returns how many were consumed; fewer than given means
    // the session waits (for on_committed) and the host feeds the rest later.
    // The session may rewrite the bytes in place and keep references to them.
    size_t feed(const core::slice& input);

    // The sink finished commit(): `ok` -> 250 with the queue id, else 451.
    void on_committed(bool ok);
    // The host's deadline for the current state passed: 421 and close.
    void on_timeout();
    // The connection is going away (peer closed, error): abort what is open.
    void on_disconnect() noexcept;

    // Bytes to send; the host takes them (clear() after sending or swap).
    std::string& output() noexcept;
    bool wants_close() const noexcept;       // close once output() is sent
    bool waiting_for_commit() const noexcept;
    bool in_data() const noexcept;            // DATA/BDAT body: data timeout applies
    uint32_t error_count() const noexcept;

    struct impl;
private:
    std::unique_ptr<impl> _impl;
};

}  // namespace posthorn::proto::smtp
