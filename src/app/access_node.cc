#include "access_node.hh"

#include "posthorn/core/log.hh"
#include "local_agent.hh"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace posthorn::app {
namespace {

// A window of a big output (RETR, FETCH BODY[]) and the mark below which
// the next is asked for: one window in the kernel, one being produced.
constexpr size_t k_window_bytes = 256 * 1024;
constexpr size_t k_low_water_bytes = 64 * 1024;
constexpr uint32_t k_failure_factor_max = 8;
constexpr uint64_t k_failure_memory_ms = 10 * 60 * 1000;
constexpr size_t k_failure_entries_max = 10000;

}  // namespace

// A logged-in session on its way to the owner shard. Owns the fd until the
// owner adopts it; dropped undelivered (shutdown), it closes it.
struct access_node::handoff {
    access_node_table* table = nullptr;
    int fd = -1;
    std::string blob;        // the session's suspend()
    std::string unread;      // input received after the login command
    std::string user;        // canonical login name
    std::string session_id;  // kept, so the logs of both shards join up
    std::shared_ptr<const directory::snapshot> checked_in;  // the login was checked in it
    ~handoff() {
        if (fd >= 0) ::close(fd);
    }
};

struct access_node::conn_state {
    net::connection* c = nullptr;
    std::unique_ptr<access_session> s;
    std::string session_id;
    std::string unfed;        // handed-over input, fed before the socket's
    uint64_t barrier = 0;     // output waits for the store's durable seq to reach it
    const directory::user* login_user = nullptr;  // while checking: a user of login_dir, or null
    std::shared_ptr<const directory::snapshot> login_dir;  // while checking
    bool checking = false;    // a login check runs (or its failure delay)
    bool held = false;        // in _held
    bool draining = false;    // notify_drained() asked
    bool leaving = false;     // suspended, released to another shard
};

access_node::access_node(const config& cfg, const directory::handle& dir, core::shard& here, net::registry& reg,
                         store::shard_store& store, access_protocol& proto, access_node_table& table)
    : _cfg(cfg),
      _dir(dir),
      _here(here),
      _reg(reg),
      _store(store),
      _proto(proto),
      _table(table),
      _auth(here.io(), &access_node::on_checked, this) {
    _table[here.id()] = this;
}

access_node::~access_node() { _table[_here.id()] = nullptr; }

bool access_node::is_loopback(std::string_view ip) const noexcept {
    return ip.starts_with("127.") || ip == "::1" || ip.starts_with("::ffff:127.");
}

access_peer access_node::make_peer(net::connection& c) noexcept {
    access_peer p;
    p.plaintext_allowed = _cfg.allow_plaintext || is_loopback(c.peer_address());
    p.session_id = fmt::format("{:x}", c.id());
    p.wake = [this, id = c.id()] { _woken.push_back(id); };
    return p;
}

void access_node::on_open(net::connection& c) noexcept {
    if (c.over_limit() != net::limit_hit::none || _stopped) {
        core::log::warn("{} event=refused conn={:x} client={} reason={}", _proto.name(), c.id(), c.peer_address(),
                        _stopped ? "shutdown"
                        : c.over_limit() == net::limit_hit::per_ip ? "connections_per_ip"
                                                                   : "connections_per_shard");
        c.write(_proto.too_many_connections());
        c.close();
        return;
    }
    auto a = std::make_unique<conn_state>();
    a->c = &c;
    access_peer peer = make_peer(c);
    if (_adopting) {
        peer.session_id = _adopting->session_id;
        a->session_id = peer.session_id;
        a->s = _proto.resume(std::move(peer), _adopting->blob);
        if (!a->s) {
            core::log::error("{} event=handoff_failed session={} reason=bad_blob", _proto.name(), a->session_id);
            c.abort();
            return;
        }
        a->unfed = std::move(_adopting->unread);
        ++_handoffs_in;
    } else {
        ++_opened;
        a->session_id = peer.session_id;
        a->s = _proto.open(std::move(peer));
        if (!a->s) {
            c.abort();
            return;
        }
    }
    conn_state& st = *a;
    c.set_context(a.release());
    _conns.emplace(c.id(), &st);
    c.set_idle_timeout_ms(static_cast<uint32_t>(std::min<uint64_t>(_proto.timeout_ms(), UINT32_MAX)));
    if (_adopting) {
        const store_mark mark = store_mark_now();
        st.s->login_checked(true, _adopting->user, std::move(_adopting->checked_in));
        after_step(st, mark);
    } else {
        st.s->start();
    }
    pump(st);
}

bool access_node::blocked(const conn_state& a) const noexcept {
    return a.checking || a.held || a.leaving || (a.s->streaming() && !a.s->feeds_while_streaming()) ||
           a.s->pending_login();
}

size_t access_node::on_data(net::connection& c, const core::slice& bytes) noexcept {
    auto* a = static_cast<conn_state*>(c.context());
    if (!a || c.closing()) return bytes.length;
    // What is not consumed stays with the connection, which pauses; pump()
    // resumes it once the session can take more. A step that finishes at
    // once (a cheap login check) lets the rest be fed here.
    size_t used = 0;
    std::string_view in = bytes.view();
    while (used < in.size() && !blocked(*a) && a->unfed.empty() && !c.closing()) {
        const store_mark mark = store_mark_now();
        size_t n = a->s->feed(in.substr(used));
        used += n;
        after_step(*a, mark);
        if (a->s->wants_close()) {
            pump(*a);
            return bytes.length;
        }
        pump(*a);
        if (n == 0) break;
    }
    if (a->leaving) return used;  // the rest goes with the socket to the owner shard
    return c.closing() ? bytes.length : used;
}

// What the session just did to the store decides when its reply may go:
// after the group commit for anything but flag changes, which need only be
// written (store.hh important_seq()).
void access_node::after_step(conn_state& a, store_mark before) noexcept {
    if (_store.appended_seq() == before.appended) return;
    if (_store.important_seq() != before.important) {
        a.barrier = _store.appended_seq();
        return;
    }
    if (auto r = _store.prepare_sync(); !r)
        core::log::error("{} event=store_write_failed session={} reason=\"{}\"", _proto.name(), a.session_id,
                         r.err().reason());
}

void access_node::send_output(conn_state& a) noexcept {
    if (a.barrier) {
        if (_store.durable_seq() < a.barrier && !_store.failed()) {
            if (!a.held) {
                a.held = true;
                _held.push_back(a.c->id());
            }
            return;
        }
        a.barrier = 0;
    }
    std::string& out = a.s->output();
    if (out.empty()) return;
    net::connection& c = *a.c;
    if (c.output().empty())
        std::swap(c.output(), out);
    else
        c.output().append(out);
    out.clear();
    c.flush();
}

void access_node::pump(conn_state& a) noexcept {
    net::connection& c = *a.c;
    for (;;) {
        if (c.closing() || a.leaving) return;
        send_output(a);
        if (a.held) return;
        if (a.s->wants_close()) {
            c.close();
            return;
        }
        if (a.checking) return;
        if (a.s->pending_login()) {
            start_login(a);
            continue;  // a cheap check answered at once
        }
        if (a.s->streaming()) {
            if (!a.draining) {
                a.draining = true;
                c.notify_drained(k_low_water_bytes);
            }
            return;
        }
        if (!a.unfed.empty()) {
            const store_mark mark = store_mark_now();
            size_t used = a.s->feed(a.unfed);
            after_step(a, mark);
            a.unfed.erase(0, used);
            continue;
        }
        c.resume_reading();
        return;
    }
}

void access_node::on_drained(net::connection& c) noexcept {
    auto* a = static_cast<conn_state*>(c.context());
    if (!a) return;
    a->draining = false;
    if (a->s->streaming()) a->s->next_output(k_window_bytes);
    pump(*a);
}

// --- logins -----------------------------------------------------------------

void access_node::start_login(conn_state& a) noexcept {
    const proto::login_request* req = a.s->pending_login();
    a.checking = true;
    a.login_dir = _dir.share();
    a.login_user = a.login_dir->find_login(req->user);
    if (directory::password_check_is_cheap(a.login_user)) {
        bool ok = a.login_user && directory::verify_password(*a.login_user, req->password);
        finish_login(a.c->id(), ok);
        return;
    }
    _auth.check(a.login_user, a.login_dir, req->password, a.c->id());
}

void access_node::on_checked(void* ctx, uint64_t token, bool ok) noexcept {
    auto* self = static_cast<access_node*>(ctx);
    auto it = self->_conns.find(token);
    if (it == self->_conns.end()) return;  // the client went away meanwhile
    conn_state& a = *it->second;
    self->finish_login(token, ok);
    self->pump(a);
}

uint32_t access_node::note_failure(std::string_view ip) noexcept {
    const uint64_t now = _here.io().now_ms();
    if (_failures.size() >= k_failure_entries_max)
        std::erase_if(_failures, [now](const auto& e) { return now - e.second.last_ms > k_failure_memory_ms; });
    failures& f = _failures[std::string(ip)];
    if (now - f.last_ms > k_failure_memory_ms) f.count = 0;
    f.count = std::min(f.count + 1, k_failure_factor_max);
    f.last_ms = now;
    return f.count;
}

void access_node::finish_login(uint64_t conn_id, bool ok) noexcept {
    auto it = _conns.find(conn_id);
    if (it == _conns.end()) return;
    conn_state& a = *it->second;
    const directory::user* u = a.login_user;
    std::shared_ptr<const directory::snapshot> checked_in = std::move(a.login_dir);  // keeps u alive here
    a.login_user = nullptr;
    if (!ok || !u) {
        const uint32_t factor = note_failure(a.c->peer_address());
        const uint64_t delay_ms = _cfg.auth_failure_delay_ms * factor;
        core::log::info("{} event=login_delay session={} client={} failures={} delay_ms={}", _proto.name(),
                        a.session_id, a.c->peer_address(), factor, delay_ms);
        if (delay_ms == 0) {
            fail_login(conn_id);
            return;
        }
        _here.io().schedule_after(delay_ms, [self = this, conn_id]() noexcept {
            self->fail_login(conn_id);
            auto found = self->_conns.find(conn_id);
            if (found != self->_conns.end()) self->pump(*found->second);
        });
        return;
    }
    const uint32_t owner = mailbox_owner(u->name, _here.count());
    if (!_proto.moves_to_mailbox_owner() || owner == _here.id() || _stopped || !_table[owner]) {
        a.checking = false;
        const store_mark mark = store_mark_now();
        a.s->login_checked(true, u->name, std::move(checked_in));
        after_step(a, mark);
        return;
    }
    // The mailbox lives on another shard: the session goes there (its fd,
    // its state, and whatever the client already sent after the login).
    auto h = std::make_unique<handoff>();
    h->table = &_table;
    h->blob = a.s->suspend();
    h->user = u->name;
    h->session_id = a.session_id;
    h->checked_in = std::move(checked_in);
    a.checking = false;
    a.leaving = true;
    core::log::info("{} event=handoff session={} user={} to_shard={}", _proto.name(), a.session_id, u->name, owner);
    _leaving.emplace(conn_id, std::move(h));
    a.c->release();
}

void access_node::fail_login(uint64_t conn_id) noexcept {
    auto it = _conns.find(conn_id);
    if (it == _conns.end()) return;
    conn_state& a = *it->second;
    a.checking = false;
    a.s->login_checked(false, "", nullptr);
}

// --- handoff ------------------------------------------------------------------

void access_node::on_released(net::connection& c, int fd, std::string&& unread) noexcept {
    auto it = _leaving.find(c.id());
    if (it == _leaving.end()) {
        ::close(fd);
        return;
    }
    std::unique_ptr<handoff> h = std::move(it->second);
    _leaving.erase(it);
    h->fd = fd;
    h->unread = std::move(unread);
    const uint32_t owner = mailbox_owner(h->user, _here.count());
    core::shard_message m{&access_node::on_handoff, h.get()};
    if (_outbox.empty() && _here.send(owner, m)) {
        (void)h.release();
        return;
    }
    _outbox.emplace_back(owner, std::move(h));
}

void access_node::on_handoff(core::shard* here, void* payload) noexcept {
    std::unique_ptr<handoff> h(static_cast<handoff*>(payload));
    if (!here) return;  // shutdown: the fd is closed
    access_node* node = (*h->table)[here->id()];
    if (!node) return;
    node->adopt(std::move(h));
}

void access_node::adopt(std::unique_ptr<handoff> h) noexcept {
    if (_stopped) return;
    _adopting = h.get();
    auto c = _reg.adopt(h->fd, *this);
    _adopting = nullptr;
    if (!c) {
        // A client that hung up right after its login leaves a socket with
        // no peer: that is the client's doing, not a failure of ours.
        if (c.err().code == EINVAL || c.err().code == ENOTCONN)
            core::log::info("{} event=handoff_client_gone session={}", _proto.name(), h->session_id);
        else
            core::log::error("{} event=handoff_failed session={} reason=\"{}\"", _proto.name(), h->session_id,
                             c.err().reason());
        return;  // h closes the fd
    }
    h->fd = -1;  // the connection's now
}

// --- timers, close, turns ------------------------------------------------------

void access_node::on_deadline(net::connection& c) noexcept {
    auto* a = static_cast<conn_state*>(c.context());
    if (!a) {
        c.abort();
        return;
    }
    if (a->held) {  // our disk is slow, not the client: wait
        c.set_idle_timeout_ms(static_cast<uint32_t>(std::min<uint64_t>(_proto.timeout_ms(), UINT32_MAX)));
        return;
    }
    core::log::info("{} event=timeout session={} client={}", _proto.name(), a->session_id, c.peer_address());
    a->s->on_timeout();
    a->barrier = 0;
    send_output(*a);
    c.close();
}

void access_node::on_close(net::connection& c) noexcept {
    auto* a = static_cast<conn_state*>(c.context());
    c.set_context(nullptr);
    _leaving.erase(c.id());
    if (!a) return;
    _conns.erase(c.id());
    if (c.reason() != net::close_reason::released) a->s->on_disconnect();
    delete a;
}

void access_node::turn() noexcept {
    if (!_woken.empty()) {
        _woken_now.swap(_woken);
        for (uint64_t id : _woken_now)
            if (auto it = _conns.find(id); it != _conns.end() && !it->second->held) pump(*it->second);
        _woken_now.clear();
    }
    // A held reply waits for a commit that had not reached it: look again
    // only when the store's durable point moved.
    if (!_held.empty() && (_store.durable_seq() != _held_checked_seq || _store.failed())) {
        _held_checked_seq = _store.durable_seq();
        _held_now.swap(_held);
        for (uint64_t id : _held_now) {
            auto it = _conns.find(id);
            if (it == _conns.end()) continue;
            conn_state& a = *it->second;
            a.held = false;
            pump(a);  // held again if its barrier is still ahead
        }
        _held_now.clear();
    }
    while (!_outbox.empty()) {
        auto& [to, h] = _outbox.front();
        core::shard_message m{&access_node::on_handoff, h.get()};
        if (!_here.send(to, m)) break;
        (void)h.release();
        _outbox.pop_front();
    }
}

void access_node::stop() noexcept {
    _stopped = true;
    _auth.stop();
    _outbox.clear();
}

}  // namespace posthorn::app
