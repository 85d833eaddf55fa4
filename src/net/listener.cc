// registry and listener (see net/listener.hh): binding with SO_REUSEPORT,
// accepting into connections, per-shard and per-IP counts, and shutdown.
// Threading: shard-local. Logs listener open/close and accept failures.
#include "posthorn/net/listener.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"
#include "posthorn/core/reactor.hh"

#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace posthorn::net {


// --- listener ----------------------------------------------------------------

void listener::close() noexcept {
    if (_closing) return;
    _closing = true;
    _registry->io().acceptor_close(_acceptor);
}

void listener::on_accept(int fd) noexcept { _registry->open_connection(fd, *_handler, false); }

void listener::on_accept_error(int err) noexcept {
    core::log::warn("msg=\"accept failed\" listen={} errno={} error=\"{}\"", _local.text(), -err,
                    std::strerror(-err));
}

void listener::on_acceptor_closed() noexcept {
    core::log::info("msg=\"listener closed\" listen={}", _local.text());
    _registry->on_listener_gone(*this);
}

// --- registry ----------------------------------------------------------------

template <typename T>
void registry::link_front(T*& head, T& item) noexcept {
    item._prev = nullptr;
    item._next = head;
    if (head) head->_prev = &item;
    head = &item;
}

template <typename T>
void registry::unlink(T*& head, T& item) noexcept {
    if (item._prev) item._prev->_next = item._next;
    if (item._next) item._next->_prev = item._prev;
    if (head == &item) head = item._next;
    item._prev = item._next = nullptr;
}

registry::registry(core::reactor& r, limits caps, uint32_t shard_id)
    : _reactor(&r), _caps(caps), _id_base(static_cast<uint64_t>(shard_id) << 40) {}

registry::~registry() {
    if (!idle()) {
        close_all(false);
        _reactor->run_until_idle();
    }
    // Left only if the reactor could not finish them: leak rather than free
    // memory the kernel may still write.
    if (!idle()) core::log::error("msg=\"net registry destroyed with sockets still open\"");
}

core::result<listener*> registry::listen(std::string_view address, handler& h, listener_options options) {
    auto ep = parse_endpoint(address);
    if (!ep) return ep.err();
    return listen(*ep, h, options);
}

core::result<listener*> registry::listen(const endpoint& ep, handler& h, listener_options options) {
    auto fd = bind_socket(ep, transport::tcp, options.backlog);
    if (!fd) return fd.err();
    auto local = local_endpoint(*fd);
    if (!local) {
        ::close(*fd);
        return local.err();
    }
    auto* l = new listener(*this, h, *local);
    auto opened = _reactor->acceptor_open(l->_acceptor, *fd, *l);
    if (!opened) {
        ::close(*fd);
        delete l;
        return opened.err();
    }
    link_front(_listeners, *l);
    core::log::info("msg=\"listening\" listen={} io={}", l->_local.text(), core::to_string(_reactor->mode()));
    return l;
}

core::result<listener*> registry::listen_unix(const std::string& path, handler& h, listener_options options) {
    sockaddr_un sun{};
    if (path.empty() || path.size() >= sizeof sun.sun_path) return core::error{ENAMETOOLONG, "unix socket path"};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.data(), path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return core::errno_error("socket");
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());  // a stale socket
    mode_t old = ::umask(0177);  // 0600 from the start: no window for other users
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    ::umask(old);
    if (rc != 0 || ::listen(fd, options.backlog) != 0) {
        core::error e = core::errno_error(rc != 0 ? "bind unix socket" : "listen unix socket");
        ::close(fd);
        return e;
    }
    endpoint local;
    std::memcpy(&local.addr, &sun, sizeof sun);
    local.length = sizeof sun;
    auto* l = new listener(*this, h, local);
    auto opened = _reactor->acceptor_open(l->_acceptor, fd, *l);
    if (!opened) {
        ::close(fd);
        delete l;
        return opened.err();
    }
    link_front(_listeners, *l);
    core::log::info("msg=\"listening\" listen={} io={}", l->_local.text(), core::to_string(_reactor->mode()));
    return l;
}

core::result<connection*> registry::adopt(int fd, handler& h) noexcept {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on non-TCP
    connection* c = open_connection(fd, h, true);
    if (!c) return core::error{EINVAL, "adopt: not a connected socket"};
    return c;
}

core::result<connection*> registry::connect(const endpoint& ep, handler& h) noexcept {
    int fd = ::socket(ep.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return core::errno_error("socket");
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, ep.sa(), ep.length) != 0 && errno != EINPROGRESS) {
        core::error e = core::errno_error("connect");
        ::close(fd);
        return e;
    }
    // Still connecting: the reactor's receive waits for the peer's first
    // bytes, which is what a client of a server-speaks-first protocol needs;
    // a refused or unreachable peer ends the stream with -errno.
    auto* c = new connection(*this, h, _id_base | _next_id++);
    link_front(_connections, *c);
    c->_flags |= connection::f_outbound;
    c->start(fd, ep.sa());
    return c;
}

connection* registry::open_connection(int fd, handler& h, bool adopted) noexcept {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) < 0) {
        // Gone before we looked (reset right after the handshake). An
        // adopted fd stays the caller's.
        if (!adopted) ::close(fd);
        return nullptr;
    }
    auto* c = new connection(*this, h, _id_base | _next_id++);
    link_front(_connections, *c);
    ++_count;
    ip_key key = key_of(reinterpret_cast<const sockaddr*>(&peer));
    uint32_t from_ip = ++_per_ip[key];
    if (_count > _caps.connections_max)
        c->_limit = limit_hit::per_shard;
    else if (from_ip > _caps.connections_per_ip_max)
        c->_limit = limit_hit::per_ip;
    c->start(fd, reinterpret_cast<const sockaddr*>(&peer));
    return c;
}

uint32_t registry::connections_from(const ip_key& k) const noexcept {
    auto it = _per_ip.find(k);
    return it == _per_ip.end() ? 0 : it->second;
}

void registry::on_connection_closing(connection& c) noexcept {
    if (c._flags & connection::f_outbound) return;  // never counted
    --_count;
    auto it = _per_ip.find(c.peer_key());
    if (it != _per_ip.end() && --it->second == 0) _per_ip.erase(it);
}

void registry::on_connection_gone(connection& c) noexcept {
    unlink(_connections, c);
    delete &c;
}

void registry::on_listener_gone(listener& l) noexcept {
    unlink(_listeners, l);
    delete &l;
}

void registry::close_all(bool graceful) noexcept {
    for (listener* l = _listeners; l; l = l->_next) l->close();
    for (connection* c = _connections; c; c = c->_next) {
        if (graceful)
            c->begin_close(close_reason::shutdown);
        else
            c->begin_abort(close_reason::shutdown, 0);
    }
}

}  // namespace posthorn::net
