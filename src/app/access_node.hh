// access_node: the mailbox-access side of one shard (POP3, IMAP, and LDAP,
// which has logins but no mailbox and so no handoff): wires each
// connection to a sans-I/O session of its protocol, runs the logins of
// proto/login.hh, and moves a logged-in session to the shard that owns its
// mailbox (DESIGN.md: every mailbox operation then runs shard-local).
//
// Per connection: the session, input handed over from another shard (fed
// before the socket's), and a durability barrier: a reply to a command that
// changed the store waits until the store's group commit covers it (the
// local agent runs that commit), as SMTP's 250 waits for the spool's; a
// flag change only until its record is written (store.hh important_seq()).
// Big outputs (RETR, FETCH BODY[]) go out a window at a time, paced by
// on_drained().
//
// Logins: {PLAIN}/{DEMO} passwords are checked on the loop, crypt(3) hashes
// and unknown users on the shard's auth_worker thread. A login is checked in
// the shard's current directory snapshot, which the check keeps (shares)
// until the session has its answer, here or on the owner shard: a reload
// meanwhile neither frees the user under the auth thread nor changes whom
// the session finds (proto/login.hh). A failure is
// answered after auth_failure_delay x the client's recent failures on this
// shard (at most 8x; forgotten after 10 minutes without one), as Dovecot's
// auth_failure_delay. Plaintext logins are offered to loopback clients, or
// to all with [auth] allow_plaintext (TLS is a later issue).
//
// Threading: shard-local, not thread-safe; the node table is written once
// per shard at start and read by other shards only to address handoffs
// (through shard messages). Logs one line per refused connection, timeout,
// handoff failure and login delay; sessions log their own events.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/core/shard.hh"
#include "posthorn/directory.hh"
#include "posthorn/net.hh"
#include "posthorn/proto/login.hh"
#include "posthorn/store.hh"
#include "auth_worker.hh"

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace posthorn::app {

// One protocol's session as the node drives it (pop3_access.cc, ...).
class access_session {
public:
    virtual ~access_session() = default;
    virtual void start() = 0;
    virtual size_t feed(std::string_view input) = 0;
    virtual std::string& output() noexcept = 0;
    virtual bool streaming() const noexcept = 0;
    virtual void next_output(size_t window_bytes) = 0;
    virtual bool wants_close() const noexcept = 0;
    virtual const proto::login_request* pending_login() const noexcept = 0;
    // proto/login.hh; `checked_in`: the snapshot the password was checked in.
    virtual void login_checked(bool ok, std::string_view canonical_user,
                               std::shared_ptr<const directory::snapshot> checked_in) = 0;
    virtual std::string suspend() = 0;
    virtual void on_disconnect() noexcept = 0;
    // The autologout timer ran out: a last word (IMAP's BYE), if any.
    virtual void on_timeout() = 0;
    // True when feed() may be called while streaming() (LDAP takes an
    // Abandon for the search it is streaming); the session then consumes
    // only what it can act on and leaves the rest.
    virtual bool feeds_while_streaming() const noexcept { return false; }
};

// access_session over a protocol session whose members have those names
// (proto::pop3::session, proto::imap::session, proto::ldap::session).
// `last_word` is what the autologout timer sends before closing ("" for
// none). A session without a snapshot argument to login_checked finds its
// user elsewhere (LDAP: in its tree); one with feeds_while_streaming()
// says so itself.
template <typename Session>
class access_session_of final : public access_session {
public:
    access_session_of(std::unique_ptr<Session> s, std::string_view last_word)
        : _s(std::move(s)), _last_word(last_word) {}
    void start() override { _s->start(); }
    size_t feed(std::string_view input) override { return _s->feed(input); }
    std::string& output() noexcept override { return _s->output(); }
    bool streaming() const noexcept override { return _s->streaming(); }
    void next_output(size_t window_bytes) override { _s->next_output(window_bytes); }
    bool wants_close() const noexcept override { return _s->wants_close(); }
    const proto::login_request* pending_login() const noexcept override { return _s->pending_login(); }
    void login_checked(bool ok, std::string_view user, std::shared_ptr<const directory::snapshot> checked_in) override {
        if constexpr (requires { _s->login_checked(ok, user, std::move(checked_in)); })
            _s->login_checked(ok, user, std::move(checked_in));
        else
            _s->login_checked(ok, user);
    }
    std::string suspend() override { return _s->suspend(); }
    void on_disconnect() noexcept override { _s->on_disconnect(); }
    void on_timeout() override { _s->output().append(_last_word); }
    bool feeds_while_streaming() const noexcept override {
        if constexpr (requires { _s->feeds_while_streaming(); })
            return _s->feeds_while_streaming();
        else
            return false;
    }

private:
    std::unique_ptr<Session> _s;
    std::string_view _last_word;
};

struct access_peer {
    bool plaintext_allowed = false;
    std::string session_id;
    // Called when the session wrote output outside feed() (IMAP IDLE).
    std::function<void()> wake;
};

// One protocol: how to make, resume and refuse its sessions.
class access_protocol {
public:
    virtual ~access_protocol() = default;
    virtual std::string_view name() const noexcept = 0;   // "pop3", "imap": logs and metrics
    virtual uint64_t timeout_ms() const noexcept = 0;
    virtual std::unique_ptr<access_session> open(access_peer peer) = 0;
    // Null when the blob is not one of this protocol's.
    virtual std::unique_ptr<access_session> resume(access_peer peer, std::string_view blob) = 0;
    virtual std::string_view too_many_connections() const noexcept = 0;  // the reply, then close
    // POP3 and IMAP sessions move to the shard owning the user's mailbox
    // after login; a protocol without mailboxes (LDAP) stays where it is.
    virtual bool moves_to_mailbox_owner() const noexcept { return true; }
};

class access_node;
// Slot [shard]: that shard's node of one protocol.
using access_node_table = std::array<access_node*, 256>;

class access_node final : public net::handler {
public:
    access_node(const config& cfg, const directory::handle& dir, core::shard& here, net::registry& reg,
                store::shard_store& store, access_protocol& proto, access_node_table& table);
    ~access_node();

    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_drained(net::connection& c) noexcept override;
    void on_deadline(net::connection& c) noexcept override;
    void on_released(net::connection& c, int fd, std::string&& unread) noexcept override;
    void on_close(net::connection& c) noexcept override;

    // Once per loop turn: replies whose barrier the store's commit passed,
    // handoffs that found a shard ring full.
    void turn() noexcept;
    // Shutdown: no more handoffs in or out; the auth worker stops.
    void stop() noexcept;
    uint64_t sessions_opened() const noexcept { return _opened; }
    uint64_t handoffs_in() const noexcept { return _handoffs_in; }

    struct handoff;
    struct conn_state;

private:
    static void on_checked(void* ctx, uint64_t token, bool ok) noexcept;
    static void on_handoff(core::shard* here, void* payload) noexcept;
    void adopt(std::unique_ptr<handoff> h) noexcept;
    void start_login(conn_state& a) noexcept;
    void finish_login(uint64_t conn_id, bool ok) noexcept;
    void fail_login(uint64_t conn_id) noexcept;
    // Feeds kept input, sends what the session wrote, starts the next step
    // (a login check, a window, a close). Safe to call at any time.
    void pump(conn_state& a) noexcept;
    void send_output(conn_state& a) noexcept;
    struct store_mark {
        uint64_t appended;
        uint64_t important;
    };
    store_mark store_mark_now() const noexcept { return {_store.appended_seq(), _store.important_seq()}; }
    void after_step(conn_state& a, store_mark before) noexcept;
    bool blocked(const conn_state& a) const noexcept;
    bool is_loopback(std::string_view ip) const noexcept;
    access_peer make_peer(net::connection& c) noexcept;
    uint32_t note_failure(std::string_view ip) noexcept;

    const config& _cfg;
    const directory::handle& _dir;   // the shard's current directory: each login reads it
    core::shard& _here;
    net::registry& _reg;
    store::shard_store& _store;
    access_protocol& _proto;
    access_node_table& _table;
    auth_worker _auth;
    std::unordered_map<uint64_t, conn_state*> _conns;  // by connection id
    std::unordered_map<uint64_t, std::unique_ptr<handoff>> _leaving;  // released, fd not back yet
    std::deque<std::pair<uint32_t, std::unique_ptr<handoff>>> _outbox;  // ring was full
    std::vector<uint64_t> _held;        // connections whose output waits for the store's commit
    std::vector<uint64_t> _woken;       // sessions that wrote output outside feed(): pumped next turn
    std::vector<uint64_t> _woken_now;
    std::vector<uint64_t> _held_now;
    uint64_t _held_checked_seq = 0;
    struct failures {
        uint32_t count = 0;
        uint64_t last_ms = 0;
    };
    std::unordered_map<std::string, failures> _failures;  // by client IP
    handoff* _adopting = nullptr;       // set around registry::adopt, read by on_open
    bool _stopped = false;
    uint64_t _opened = 0;
    uint64_t _handoffs_in = 0;
};

}  // namespace posthorn::app
