// The POP3 server session (RFC 1939, CAPA from RFC 2449, AUTH PLAIN from
// RFC 5034): one sans-I/O state machine, fed received bytes in any split.
// It owns no socket and no timer. Its host feeds it, sends output(), pulls
// message windows while streaming(), closes when wants_close(), delays
// after failed logins (auth_failures()), and owns the per-user maildrop
// locks (maildrop_locks).
//
// The maildrop is the user's INBOX as it was at login: message numbers
// 1..N stay fixed for the session (RFC 1939 §3); DELE marks, RSET unmarks,
// QUIT in TRANSACTION expunges the marked ones through the store (UPDATE).
// A message expunged meanwhile by another session (IMAP) is answered -ERR.
//
// Threading: shard-local, not thread-safe; the store must be the shard
// store that owns the user's mailbox (the host moves the session there).
// Logins follow proto/login.hh: the host checks passwords (off its loop)
// and moves the session to the shard owning the mailbox (suspend/resume).
// Limits (session_config): a command line is at most line_length_max bytes,
// CRLF included (RFC 2449 §4 says 255; lenient); errors_max -ERR replies,
// then a last -ERR and close. Message bytes are never held whole: at most
// one window (window_bytes asked by the host, doubled at worst by stuffing).
// Logs `pop3 session=<id> event=...` lines, one per -ERR with its reason;
// peer bytes go through core::log::escaped, passwords never.
#pragma once

#include "posthorn/directory.hh"
#include "posthorn/proto/login.hh"
#include "posthorn/store.hh"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace posthorn::proto::pop3 {

struct session_config {
    uint32_t line_length_max = 512;   // CRLF included
    uint32_t errors_max = 10;         // -ERR replies, then close
    // USER/PASS and AUTH PLAIN send the password in the clear: allowed from
    // loopback, over TLS (later), or by [auth] allow_plaintext; otherwise
    // -ERR and CAPA does not offer them (RFC 2595 §2.1 / Dovecot's
    // disable_plaintext_auth).
    bool plaintext_allowed = true;
};

// RFC 1939 §8: the maildrop is locked exclusively while a session is in
// TRANSACTION. The host keeps the set (per shard, since a mailbox lives on
// one shard). The session locks after a good password and unlocks when it
// ends (QUIT, on_disconnect, or destruction).
class maildrop_locks {
public:
    virtual ~maildrop_locks() = default;
    virtual bool try_lock(std::string_view user) = 0;
    virtual void unlock(std::string_view user) noexcept = 0;
};

// The session keeps references to the shard's directory handle, the store
// and the locks: all three must outlive it. Once logged in it also keeps
// (shares) the snapshot its user was found in, whatever reloads follow.
class session {
public:
    session(const session_config& cfg, const directory::handle& dir, store::shard_store& store,
            maildrop_locks& locks, std::string session_id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Connection opened: the greeting goes to output().
    void start();

    // login.hh: the credentials waiting for the host's check (feed()
    // consumes nothing meanwhile), the host's answer, and the move to the
    // owner shard: suspend() (this session is then closed) and resume()
    // there (nullptr for a blob that is not one), then login_checked(true).
    const login_request* pending_login() const noexcept;
    // `checked_in`: the snapshot the password was checked in (null: the
    // handle's current one); the session looks its user up there and keeps it.
    void login_checked(bool ok, std::string_view canonical_user,
                       std::shared_ptr<const directory::snapshot> checked_in = nullptr);
    std::string suspend();
    static std::unique_ptr<session> resume(const session_config& cfg, const directory::handle& dir,
                                           store::shard_store& store, maildrop_locks& locks,
                                           std::string session_id, std::string_view blob);

    // Received bytes. Returns how many were consumed: fewer than given
    // when a RETR/TOP starts streaming (pipelined commands after it wait);
    // the host feeds the rest once streaming() is false again.
    size_t feed(std::string_view input);

    // RETR/TOP in progress: once output() is sent, the host calls
    // next_output() to append the next piece — about window_bytes of the
    // message (dot-stuffed, so up to twice that), and the final ".CRLF".
    // A store read failure mid-message closes the session (the +OK is out,
    // there is no way to say -ERR) and logs why.
    bool streaming() const noexcept;
    void next_output(size_t window_bytes);

    // The connection is going away without QUIT: nothing is expunged
    // (RFC 1939 §6), the lock is released.
    void on_disconnect() noexcept;

    // Bytes to send; the host takes them (clear() after sending, or swap).
    std::string& output() noexcept;
    bool wants_close() const noexcept;   // close once output() is sent
    uint32_t error_count() const noexcept;
    uint32_t auth_failures() const noexcept;   // for the host's delay
    bool authenticated() const noexcept;
    // Why the last -ERR was sent (also logged), for the host and tests.
    std::string_view last_error() const noexcept;

    struct impl;
private:
    std::unique_ptr<impl> _impl;
};

}  // namespace posthorn::proto::pop3
