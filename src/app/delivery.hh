// delivery: the queue manager of one shard and its relay agent (DESIGN.md
// "Queue and delivery"). Durable messages come in from the spool sink (and
// from recovery at start); each recipient is routed (queue::route_table),
// grouped per destination into items, and the scheduler decides when items
// go out. The relay agent opens connections (net::registry::connect) within
// each destination's budget, speaks SMTP through proto::smtp::client, sends
// the content from the spool dot-stuffed a window at a time (body_stream:
// the next window when the connection's output has drained), and writes
// every outcome back to the spool: rcpt_done per recipient, message_done
// once all are done.
// 4xx, timeouts and refused connections retry on [queue] retry until
// [queue] lifetime; 5xx or expiry bounce with a DSN to the sender (never to
// the null sender), itself queued as a message.
//
// Local recipients go, grouped per owner shard, to the local agent
// (local_agent.hh), which answers once the mailbox store made them durable.
//
// Next hops: [routes] (an address, or a host name's A/AAAA), else the
// domain's MX exchangers by preference (relay_hops, net::resolver); the
// next exchanger/address is tried when a connection fails or its greeting
// is not 2xx, and the item waits for a retry once all have failed. A null
// MX, NXDOMAIN or no address bounces at once; a failed lookup retries.
//
// Threading: shard-local, not thread-safe.
// Limits: max_connections_per_destination; one message per transaction
// (all its recipients for that destination), many per connection; a body
// in flight holds one window (body_stream::window_bytes; up to twice that
// once stuffed) per connection whatever the message's size, plus one read
// window per shard.
// Logs: one line per delivery attempt outcome per recipient (key=value,
// queue id), per bounce, per connection failure.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/core/reactor.hh"
#include "posthorn/directory.hh"
#include "posthorn/net.hh"
#include "posthorn/proto/smtp_client.hh"
#include "posthorn/queue.hh"
#include "posthorn/queue/retry.hh"
#include "posthorn/queue/routing.hh"
#include "posthorn/queue/scheduler.hh"
#include "posthorn/spool.hh"
#include "local_agent.hh"
#include "metrics.hh"
#include "relay_hops.hh"
#include "spool_sink.hh"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace posthorn::app {

class delivery final : public net::handler {
public:
    delivery(const config& cfg, const directory::handle& dir, spool::shard_spool& spool, spool_sink& sink,
             net::registry& reg, core::reactor& io);
    ~delivery();

    // A durable message (from the sink, or recovered at start).
    void enqueue(uint64_t id, queue::envelope&& env, spool::recovered_message&& where);
    // Stops starting connections (shutdown); open ones finish or are closed
    // by the registry.
    void stop() noexcept;
    // Counters, and the per-destination table published once a second.
    void set_metrics(shard_metrics* m) noexcept;
    // Local delivery: without an agent, local recipients wait in the spool.
    void set_local(local_agent* agent, uint32_t shards) noexcept { _local = agent; _shards = shards; }
    // The owner shard's answer to a request of ours.
    void local_answered(std::unique_ptr<local_request> req) noexcept;

    size_t messages() const noexcept { return _messages.size(); }

    // `posthorn queue flush`: every deferred item is tried now. Returns how many.
    size_t flush() noexcept;
    // `posthorn queue delete ID`: the message is tombstoned in the spool
    // (message_done) and forgotten here; a transaction in flight finishes
    // but records nothing. False when the spool has no live message `id`.
    bool remove(uint64_t id) noexcept;

    // net::handler for outbound connections.
    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_deadline(net::connection& c) noexcept override;
    void on_drained(net::connection& c) noexcept override;
    void on_close(net::connection& c) noexcept override;

private:
    // An envelope recipient is done once every address it expands to
    // ([aliases], recursively) is delivered or bounced; `held` when some of
    // them cannot be delivered by what is built yet (local).
    enum class rcpt_state : uint8_t { waiting, held, done };
    struct message {
        queue::envelope env;
        spool::recovered_message where;
        std::vector<rcpt_state> rcpts;
        std::vector<uint32_t> targets_left;  // per recipient: addresses still to deliver
        std::vector<uint8_t> held_part;      // per recipient: some address is held
        std::vector<uint8_t> bounced_part;   // per recipient: some address bounced
        uint32_t attempts = 0;
        uint64_t first_attempt_ms = 0;  // wall clock: arrival
        uint32_t left = 0;              // recipients not done
        uint32_t local_in_flight = 0;   // requests at owner shards: they read the spool's files
        bool removed = false;           // `queue delete` while requests were in flight
    };
    struct target {
        uint32_t rcpt;          // envelope index
        std::string address;    // final address (the recipient's, or an alias target)
        std::string orcpt;      // ORCPT to send: as given, or the alias it came from
        std::string user;       // local delivery: the mailbox owner
    };
    struct item {
        uint64_t message_id;
        queue::destination_id dest;
        std::vector<target> targets;
    };
    struct relay;  // one outbound connection

    void route_recipients(uint64_t id, message& m);
    void pump() noexcept;
    void arm_timer(uint64_t sleep_ms) noexcept;
    void dispatch_local(queue::destination_id d) noexcept;
    // Opens a connection to the destination's index-th candidate address,
    // or the next one that takes a socket; false when none opened (a
    // lookup is running, or every candidate failed: the items were
    // deferred with last_error). relay_hops.cc.
    bool open_connection(queue::destination_id d, uint32_t index = 0,
                         std::string_view last_error = "no address") noexcept;
    void on_resolved(queue::destination_id d, const net::dns_answer& answer) noexcept;
    // Every item waiting for d bounces with `why` (a null MX, NXDOMAIN).
    void bounce_destination(queue::destination_id d, const proto::smtp::reply& why) noexcept;
    proto::smtp::client_event next_transaction(relay& r) noexcept;
    void handle(relay& r, proto::smtp::client_event ev) noexcept;
    proto::smtp::client_event send_body(relay& r) noexcept;
    uint32_t& connecting(queue::destination_id d);
    std::vector<relay*>& idle_for(queue::destination_id d);
    void leave_idle(relay& r) noexcept;
    void finish_item(relay& r, const std::vector<proto::smtp::reply>& replies) noexcept;
    void finish_target(uint64_t id, message& m, const target& t, bool delivered, const proto::smtp::reply& why,
                       const std::string& remote) noexcept;
    void defer(item&& it, const proto::smtp::reply& why) noexcept;
    // Every item waiting for d, out of the scheduler and the item table.
    std::vector<item> take_waiting(queue::destination_id d);
    void defer_destination(queue::destination_id d, const proto::smtp::reply& why) noexcept;
    // Marks the addresses bounced and sends the sender one DSN for them.
    // status_override: "4.4.7" for expiry; else the replies' codes.
    void bounce(uint64_t id, message& m, const std::vector<std::pair<target, proto::smtp::reply>>& failed,
                const std::string& remote, std::string_view status_override) noexcept;
    void expand(std::string_view address, std::vector<std::string>& out, int depth) const;
    void maybe_done(uint64_t id) noexcept;
    queue::item_id add_item(item&& it);
    void publish() noexcept;

    const config& _cfg;
    const directory::handle& _dir;  // the shard's current directory: routing reads the latest
    spool::shard_spool& _spool;
    spool_sink& _sink;
    net::registry& _reg;
    core::reactor& _io;
    queue::route_table _routes;
    queue::retry_policy _retry;
    queue::scheduler _sched;
    std::vector<queue::next_hop> _hops;  // by destination id
    std::unordered_map<uint64_t, message> _messages;
    std::unordered_map<queue::item_id, item> _items;
    queue::item_id _next_item = 1;
    std::vector<queue::destination_id> _startable;  // reused by pump
    std::vector<uint32_t> _connecting;  // by destination: connections not greeted yet
    std::vector<std::vector<relay*>> _idle;  // by destination: connected, no work
    queue::destination_id _opening = 0;  // for on_open, inside registry::connect
    uint32_t _opening_candidate = 0;     // which of the destination's addresses
    relay_hops _next_hops;
    std::unordered_map<uint64_t, std::unique_ptr<relay>> _relays;  // connection id -> relay
    core::timer_id _timer;
    core::timer_id _publish_timer;
    shard_metrics* _metrics = nullptr;
    local_agent* _local = nullptr;
    std::vector<std::pair<uint32_t, std::unique_ptr<local_request>>> _local_requests;  // reused by dispatch_local
    uint32_t _shards = 1;
    uint64_t _timer_at = 0;
    bool _stopped = false;
    std::unique_ptr<char[]> _window;  // reused: one window of a body being sent (body_stream)
};

}  // namespace posthorn::app
