// relay_hops: where the relay agent's connections for a destination go, in
// the order to try them (DESIGN.md "Queue and delivery"). A [routes] hop
// that is an IP literal is itself; a hop given by name is its A/AAAA
// records; a domain without a route is its MX exchangers in preference
// order, each with its addresses, on [queue] mx_port (net::resolver).
// Delivery asks for candidate 0, 1, 2, ... of a destination: the next one
// after a refused connection or a greeting that was not 2xx (RFC 5321 §5.1:
// try the next exchanger). A list stays in use until its TTL ends and a
// new round (candidate 0) asks again.
//
// Threading: shard-local, not thread-safe; one per delivery.
// Outcomes: a lookup's end is reported once to the resolved callback, from
// the loop (never inside candidate()). A [routes] host name that does not
// resolve is the operator's mistake, not the sender's: its permanent DNS
// failures are reported as temporary (451 4.4.4), so the mail waits.
// Logs: one line when the resolver cannot be set up.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/core/callback.hh"
#include "posthorn/core/reactor.hh"
#include "posthorn/net/resolver.hh"
#include "posthorn/queue/routing.hh"
#include "posthorn/queue/scheduler.hh"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace posthorn::app {

class relay_hops {
public:
    using resolved_fn = core::callback<void(queue::destination_id, const net::dns_answer&)>;

    relay_hops(const config& cfg, core::reactor& io, resolved_fn on_resolved);
    ~relay_hops();
    // No more lookups or callbacks (shutdown); the reactor turns after it.
    void shutdown() noexcept;

    enum class pick_kind : uint8_t { connect, resolving, exhausted };
    struct pick {
        pick_kind kind = pick_kind::exhausted;
        net::endpoint address;
        std::string host;  // the exchanger's name, for logs
    };
    // The index-th address to try for destination d (0 = the best). A stale
    // or missing list for index 0 starts a lookup: `resolving` then, and the
    // resolved callback follows.
    pick candidate(queue::destination_id d, const queue::next_hop& hop, uint32_t index);

private:
    struct target {
        net::endpoint address;
        std::string host;
    };
    struct state {
        bool resolving = false;
        bool route_host = false;  // a [routes] host name, not an MX lookup
        uint64_t expires_ms = 0;  // reactor clock; 0 = no list
        std::vector<target> targets;
    };
    state& at(queue::destination_id d);
    void on_answer(queue::destination_id d, const net::dns_answer& answer) noexcept;
    static void on_no_resolver(void* ctx) noexcept;

    core::reactor& _io;
    uint16_t _mx_port;
    resolved_fn _on_resolved;
    std::unique_ptr<net::resolver> _dns;  // null when c-ares could not be set up
    std::vector<state> _states;           // by destination id
    std::vector<queue::destination_id> _failed_now;  // no resolver: reported from the loop
    core::task _report_failed;
    bool _down = false;
};

}  // namespace posthorn::app
