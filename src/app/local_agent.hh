// local_agent: local delivery (DESIGN.md "Process model", "Mailbox store").
// A user's mailbox belongs to shard xxh3(user) % shards. The delivery of the
// shard whose spool holds a message asks the owner shard, through the
// shard rings, to store it for some of its recipients; the owner copies the
// content from the spool's extents into its mailbox store (copy_file_range;
// the spool's fds are the process's, and the message stays live until the
// answer comes back), makes it durable with one group commit per turn, and
// answers; only then does the asking delivery write rcpt_done.
//
// Threading: one agent per shard, used on its own thread; the table of
// agents is written once per shard at start and read by other shards only
// to find where to send (through shard messages, never a direct call).
// Limits: a request carries one message and its recipients on one owner.
// Requests that find the ring full wait in an outbox, retried every turn.
// Logs: store failures (the recipients are deferred).
#pragma once

#include "posthorn/core/shard.hh"
#include "posthorn/queue/scheduler.hh"
#include "posthorn/spool.hh"
#include "posthorn/store.hh"
#include "metrics.hh"

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace posthorn::app {

struct local_rcpt {
    std::string user;       // mailbox owner (directory login name)
    std::string address;    // final address: Delivered-To
    std::string orcpt;
    uint32_t rcpt_index = 0;
    int error = 0;          // the answer: 0 stored; else errno-style
    std::string why;        // the answer's text when error != 0
};

class local_agent;
using local_agent_table = std::array<local_agent*, 256>;

struct local_request {
    local_agent_table* agents = nullptr;     // where the receiving shard finds its agent
    uint32_t from_shard = 0;
    uint64_t message_id = 0;
    queue::destination_id dest = 0;
    std::string return_path;                 // the envelope sender, "" for <>
    int64_t arrival_unix_s = 0;
    std::vector<spool::extent> content;
    std::vector<local_rcpt> rcpts;
    uint64_t store_seq = 0;                  // on the owner: durable once the store reaches it
};

// The shard that owns `user`'s mailbox.
uint32_t mailbox_owner(std::string_view user, uint32_t shards) noexcept;

class local_agent {
public:
    // A store sync costs the device a cache flush, as the spool's do, and on
    // one device they queue behind each other. One every 5 ms at most
    // carries more deliveries and leaves the device to the spool's syncs,
    // which SMTP clients wait for. Measured, one shard, loadgen 1 KiB x 16
    // reusing connections, every message stored, medians of 3 runs per set:
    // a sync whenever one can start 17.2k / 18.5k / 19.9k msgs/s (three
    // sets); every 2 ms 19.5k / 22.0k; 5 ms 24.0k / 23.1k; 10 ms 24.3k.
    static constexpr uint64_t sync_interval_ms = 5;

    using answer_fn = void (*)(void* ctx, std::unique_ptr<local_request> req) noexcept;

    local_agent(core::shard& here, store::shard_store& store, local_agent_table& table);
    ~local_agent();

    // Answers for requests this shard sent come here (the shard's delivery).
    void set_answer(answer_fn fn, void* ctx) noexcept { _answer = fn; _answer_ctx = ctx; }
    void set_metrics(shard_metrics* m) noexcept { _metrics = m; }

    // Sends a request to the owner of its recipients (maybe this shard).
    void submit(uint32_t owner, std::unique_ptr<local_request> req) noexcept;
    // Once per loop turn: retries the outbox, runs the store's group commit.
    void turn() noexcept;
    bool busy() const noexcept { return !_outbox.empty() || !_waiting.empty() || _syncs_left > 0; }
    store::shard_store& store() noexcept { return _store; }

private:
    static void on_request(core::shard* here, void* payload) noexcept;
    static void on_answer(core::shard* here, void* payload) noexcept;
    void store_request(std::unique_ptr<local_request> req) noexcept;
    void answer(std::unique_ptr<local_request> req) noexcept;
    void send(uint32_t to, bool is_answer, std::unique_ptr<local_request> req) noexcept;
    void sync_done(uint64_t seq, int err) noexcept;

    core::shard& _shard;
    store::shard_store& _store;
    local_agent_table& _table;
    answer_fn _answer = nullptr;
    void* _answer_ctx = nullptr;
    shard_metrics* _metrics = nullptr;
    struct outgoing {
        uint32_t to;
        bool is_answer;
        std::unique_ptr<local_request> req;
    };
    std::deque<outgoing> _outbox;
    std::deque<std::unique_ptr<local_request>> _waiting;  // stored, not yet durable; seq order
    void complete() noexcept;
    std::string _prefix;   // reused: Return-Path and Delivered-To
    int _syncs_left = 0;   // fdatasyncs of the running group commit
    int _sync_error = 0;
    uint64_t _sync_seq = 0;
    uint64_t _next_sync_ms = 0;
    core::timer_id _sync_timer;
};

}  // namespace posthorn::app
