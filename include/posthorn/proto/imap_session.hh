// The IMAP4rev1 server session (RFC 3501) with IDLE (RFC 2177), UIDPLUS
// (RFC 4315), MOVE (RFC 6851), LITERAL+ (RFC 7888), NAMESPACE (RFC 2342),
// ID (RFC 2971), ENABLE (RFC 5161), SPECIAL-USE (RFC 6154), CHILDREN
// (RFC 3348), UNSELECT (RFC 3691), SASL-IR (RFC 4959): one sans-I/O state
// machine, fed received bytes in any split. It owns no socket and no timer.
//
// Its host: feeds input (feed() may consume less than given: after a login
// command until login_checked(), and while streaming(); the host re-feeds
// the rest later), sends output(), pulls the next output with next_output()
// while streaming() (a big FETCH literal or a long FETCH goes out in
// windows, never whole), checks logins (proto/login.hh), moves a logged-in
// session to its owner shard (suspend()/resume()), closes when
// wants_close(), and sends output() when cfg.on_output is called (IDLE
// news and other sessions' changes arrive outside feed()). Mutations
// (APPEND, STORE, COPY, MOVE, EXPUNGE, CREATE, ...) reach the store at
// once, before they are durable: a host that answers only after the fsync
// (as Dovecot does for APPEND) holds output() until store.durable_seq()
// reaches the appended_seq() it saw after feed() — the store's group
// commit, as for SMTP. Timeouts (RFC 3501 §5.4 autologout, at least 30
// minutes; IDLE clients re-issue within 29) are the host's timers.
//
// Threading: shard-local, not thread-safe. The store must be the shard
// store that owns the user's mailbox once logged in.
// Limits (session_config): a command is at most command_bytes_max bytes
// (its lines and small literals); a literal other than APPEND's message at
// most literal_bytes_max; an APPEND message at most append_bytes_max
// (streamed into the store, never held); search_depth_max nested
// parentheses/NOT/OR in SEARCH; errors_max BAD replies, then BYE and close.
// Logs `imap session=<id> event=...` lines (one per BAD/NO with its
// reason); peer bytes go through core::log::escaped, passwords never.
#pragma once

#include "posthorn/directory.hh"
#include "posthorn/proto/login.hh"
#include "posthorn/store.hh"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace posthorn::proto::imap {

struct session_config {
    uint32_t command_bytes_max = 64 * 1024;     // lines + small literals of one command
    uint32_t literal_bytes_max = 64 * 1024;     // one literal, APPEND's message aside
    uint64_t append_bytes_max = 50ull << 20;    // like [smtp] max_message_size
    // A refused non-synchronizing literal (the client sends it anyway) is
    // read and dropped up to this size; past it the session says BYE and
    // closes (RFC 7888 §4 allows either).
    uint64_t literal_discard_bytes_max = 64ull << 20;
    uint32_t fetch_inline_bytes_max = 64 * 1024;  // bigger FETCH literals are streamed
    uint32_t output_bytes_max = 256 * 1024;     // a FETCH pauses (streaming()) past this
    uint32_t search_depth_max = 64;
    uint32_t errors_max = 10;
    // LOGIN/AUTHENTICATE allowed without TLS (the host sets it for loopback
    // peers or `[auth] allow_plaintext`); else LOGINDISABLED (RFC 3501 §6.2.3).
    bool plaintext_allowed = false;
    // Called when output() got bytes outside feed()/next_output() (IDLE,
    // untagged news): the host should send them.
    std::function<void()> on_output;
};

// The session keeps references to the shard's directory handle (read at
// each lookup) and the store: both must outlive it.
class session {
public:
    session(const session_config& cfg, const directory::handle& dir, store::shard_store& store,
            std::string session_id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // On the owner shard: a session from suspend()'s blob, waiting for
    // login_checked(true, user). Null when the blob is not one of ours.
    static std::unique_ptr<session> resume(const session_config& cfg, const directory::handle& dir,
                                           store::shard_store& store, std::string session_id,
                                           std::string_view blob);

    // Connection opened: the greeting goes to output().
    void start();

    // Received bytes; returns how many were consumed (see above).
    size_t feed(std::string_view input);

    // proto/login.hh: non-null while a login waits for the host (feed()
    // consumes nothing meanwhile). login_checked() puts the tagged answer
    // in output() (cfg.on_output is not called: the caller knows); then the
    // host sends it and feeds the rest of the input. On success the store
    // gets INBOX if missing and a watch for the user.
    const login_request* pending_login() const noexcept;
    // `checked_in` (login.hh) is not kept: a logged-in IMAP session keeps
    // only its user's name, no pointer into a snapshot.
    void login_checked(bool ok, std::string_view canonical_user,
                       std::shared_ptr<const directory::snapshot> checked_in = nullptr);
    // While pending_login(): the session's state for the owner shard (no
    // password in it); this session is dead afterwards (wants_close(),
    // nothing more is sent). Empty (and nothing changes) at other times.
    std::string suspend();

    // A FETCH still has output: once output() is sent, next_output() adds
    // about window_bytes more (then the rest of the FETCH and its tagged
    // reply). A store read failure closes the session and logs why (with a
    // BYE between items; inside a literal whose length is out, silently).
    bool streaming() const noexcept;
    void next_output(size_t window_bytes);

    // The connection is going away: a streamed APPEND is dropped, the
    // store watch ends.
    void on_disconnect() noexcept;

    std::string& output() noexcept;          // bytes to send; the host clears them
    bool wants_close() const noexcept;       // close once output() is sent
    bool idling() const noexcept;            // in IDLE (RFC 2177)
    bool authenticated() const noexcept;
    uint32_t error_count() const noexcept;
    uint32_t auth_failures() const noexcept; // for the host's delay
    std::string_view last_error() const noexcept;  // reason of the last BAD/NO (also logged)
    // The array behind the selected mailbox's sequence numbers (null when
    // none is selected): while the session has reported every change of
    // the folder, the store's shared one (shard_store::uids_of). For tests
    // and memory accounting.
    const store::uid_list* view_uids() const noexcept;

    struct impl;
private:
    std::unique_ptr<impl> _impl;
};

}  // namespace posthorn::proto::imap
