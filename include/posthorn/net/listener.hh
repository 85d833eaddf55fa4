// registry: the connections and listeners of one shard, with the counts the
// app needs to enforce its caps (per shard, per client IP per shard), and
// listener: one bound socket (SO_REUSEPORT, so each shard binds it too)
// accepting into the registry. The registry owns both; each is freed once
// the reactor has finished with its socket.
//
// Threading: shard-local, not thread-safe; one registry per shard.
// Limits: the caps are not enforced here: a connection over one is still
// opened with over_limit() set, and the app refuses it with a reply.
// Logs: one line per listener opened or closed, accept failures (at most one
// per accept pause), and nothing per connection.
// Shutdown: close_all(), then reactor::run_until_idle(); the destructor does
// both if they were not done.
#pragma once

#include "posthorn/core/result.hh"
#include "posthorn/core/stream.hh"
#include "posthorn/net/address.hh"
#include "posthorn/net/connection.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace posthorn::core {
class reactor;
}

namespace posthorn::net {

struct limits {
    uint32_t connections_max = 10000;       // per shard
    uint32_t connections_per_ip_max = 100;  // per client IP, per shard
};

struct listener_options {
    int backlog = 1024;
};

class listener final : private core::acceptor_handler {
public:
    const endpoint& local() const noexcept { return _local; }  // the bound address (real port)
    uint16_t port() const noexcept { return _local.port(); }
    void close() noexcept;  // stop accepting; the socket closes, the object goes later

private:
    friend class registry;
    listener(registry& r, handler& h, const endpoint& local) noexcept : _registry(&r), _handler(&h), _local(local) {}
    ~listener() = default;
    void on_accept(int fd) noexcept override;
    void on_accept_error(int err) noexcept override;
    void on_acceptor_closed() noexcept override;

    registry* _registry;
    handler* _handler;
    endpoint _local;
    core::acceptor _acceptor;
    listener* _prev = nullptr;
    listener* _next = nullptr;
    bool _closing = false;
};

class registry {
public:
    registry(core::reactor& r, limits caps = {}, uint32_t shard_id = 0);
    ~registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    core::reactor& io() noexcept { return *_reactor; }
    const limits& caps() const noexcept { return _caps; }

    // Binds address ("127.0.0.1:2525", "[::1]:25", port 0 = any) with
    // SO_REUSEPORT and accepts connections for h.
    core::result<listener*> listen(std::string_view address, handler& h, listener_options options = {});
    core::result<listener*> listen(const endpoint& ep, handler& h, listener_options options = {});
    // A Unix stream socket at `path` (a stale socket file there is replaced),
    // mode 0600: for local tools such as the control socket. One shard only.
    core::result<listener*> listen_unix(const std::string& path, handler& h, listener_options options = {});

    // Takes over a connected socket (one handed over by another shard, or
    // connected by the app); on_open() runs before this returns.
    core::result<connection*> adopt(int fd, handler& h) noexcept;

    // Opens a TCP connection to ep for h (non-blocking connect): on_open()
    // runs before this returns, on_data() once the peer speaks, and a
    // refused or unreachable peer closes it with reason error and
    // close_error() -ECONNREFUSED / -ETIMEDOUT / ... The caller bounds the
    // connect with set_idle_timeout_ms(). Outbound connections do not count
    // against the caps (those are for clients).
    core::result<connection*> connect(const endpoint& ep, handler& h) noexcept;

    uint32_t connections() const noexcept { return _count; }  // inbound, open, on this shard
    uint32_t connections_from(const ip_key& k) const noexcept;

    // Shutdown: close every listener; close every connection (graceful:
    // after its output is sent; otherwise at once). Their on_close() reason
    // is `shutdown`.
    void close_all(bool graceful = false) noexcept;
    bool idle() const noexcept { return !_connections && !_listeners; }

private:
    friend class connection;
    friend class listener;
    connection* open_connection(int fd, handler& h, bool adopted) noexcept;
    void on_connection_closing(connection& c) noexcept;  // leaves the counts
    void on_connection_gone(connection& c) noexcept;     // freed
    void on_listener_gone(listener& l) noexcept;
    template <typename T>
    static void link_front(T*& head, T& item) noexcept;
    template <typename T>
    static void unlink(T*& head, T& item) noexcept;

    core::reactor* _reactor;
    limits _caps;
    uint64_t _id_base;
    uint64_t _next_id = 1;
    uint32_t _count = 0;
    std::unordered_map<ip_key, uint32_t, ip_key_hash> _per_ip;
    connection* _connections = nullptr;
    listener* _listeners = nullptr;
};

}  // namespace posthorn::net
