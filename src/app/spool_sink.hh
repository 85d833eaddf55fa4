// The SMTP sessions' message_sink on one shard: streams body fragments and
// commits messages into the shard's spool, hands out queue ids, and runs the
// group commit — one fdatasync per loop turn answers every message appended
// in that turn (DESIGN.md "Group commit"); a turn may start its sync while
// the previous turn's is still running (two in flight at most).
//
// Threading: shard-local, not thread-safe.
// Errors: a failed append or fdatasync makes the spool refuse further
// appends; sessions then get 451 4.3.0 (begin_message/commit errors), and
// the waiters of a failed sync get on_committed(false).
#pragma once

#include "posthorn/proto/smtp_session.hh"
#include "posthorn/spool.hh"
#include "metrics.hh"

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace posthorn::app {

class spool_sink final : public proto::smtp::message_sink {
public:
    // Two: messages committed while one fdatasync runs start their own at
    // once rather than wait for it to end, when there are enough of them to
    // pay for a second flush. Measured at 1 KiB x 16, one shard, medians of
    // 3: reusing connections 33.5k -> 39.6k msgs/s; a connection per message
    // (few commits per turn) loses ~10% if every turn may start a second
    // sync, and holds with the threshold of 6. Four in flight gained nothing.
    static constexpr int max_syncs_in_flight = 2;
    static constexpr uint32_t second_sync_min_waiters = 6;

    // Called once the records up to a waiter's sequence number are durable
    // (ok) or can no longer be (failed sync).
    using waiter_done = void (*)(void* ctx, uint64_t token, bool ok) noexcept;

    spool_sink(spool::shard_spool& spool, uint32_t shard, uint64_t first_counter);

    core::result<uint64_t> begin_message() override;
    core::result<void> write_body(uint64_t id, std::span<const core::slice> body) override;
    core::result<void> commit(uint64_t id, const queue::envelope& env, std::string_view received_header,
                              std::span<const core::slice> body_tail) override;
    void abort_message(uint64_t id) noexcept override;

    // The host parks a session whose commit is pending; `token` names it.
    void park(uint64_t token) {
        _waiters.push_back({_spool.appended_seq(), token});
        ++_parked_since_sync;
    }
    void set_waiter_done(waiter_done fn, void* ctx) noexcept { _done = fn; _done_ctx = ctx; }

    // Delivery: each committed message, once its records are durable, with
    // its envelope and where its content lies. Unset: nobody is told.
    using durable_message = void (*)(void* ctx, uint64_t id, queue::envelope&& env,
                                     spool::recovered_message&& where) noexcept;
    void set_durable_message(durable_message fn, void* ctx) noexcept {
        _durable_fn = fn;
        _durable_ctx = ctx;
        if (!fn) _committed_msgs.clear();  // the spool keeps them; recovery hands them over
    }
    // A message made here (a DSN): appended like a received one, handed to
    // delivery once durable. Returns its id.
    core::result<uint64_t> submit(queue::envelope env, std::string_view content);

    // Group commit, driven by the host once per loop turn: if records wait
    // for durability and no fdatasync is in flight (or one is, and at least
    // second_sync_min_waiters messages came since it started), returns the
    // fd to sync and remembers the sequence number it will cover; else -1.
    int sync_to_start() noexcept;
    // `seq` is what sync_to_start covered: sync_seq() right after it.
    void sync_finished(uint64_t seq, int result) noexcept;  // 0 or -errno
    uint64_t sync_seq() const noexcept { return _sync_seq; }
    // Answers every waiter whose records are durable (also with durability none).
    void complete_durable() noexcept;
    bool sync_in_flight() const noexcept { return _syncs_in_flight > 0; }

    uint64_t messages_committed() const noexcept { return _committed; }
    void set_metrics(shard_metrics* m) noexcept { _metrics = m; }

private:
    struct waiter {
        uint64_t seq;
        uint64_t token;
    };
    void fill_iov(std::span<const core::slice> s);

    spool::shard_spool& _spool;
    uint64_t _shard_bits;
    uint64_t _counter;
    std::unordered_map<uint64_t, std::vector<spool::location>> _fragments;  // big messages only
    std::deque<waiter> _waiters;
    struct committed {
        uint64_t seq;
        uint64_t id;
        queue::envelope env;
        spool::recovered_message where;
    };
    std::deque<committed> _committed_msgs;  // waiting for durability, for delivery
    durable_message _durable_fn = nullptr;
    shard_metrics* _metrics = nullptr;
    void* _durable_ctx = nullptr;
    std::vector<iovec> _iov;        // reused per append
    std::string _envelope_bytes;    // reused per commit
    waiter_done _done = nullptr;
    void* _done_ctx = nullptr;
    int _syncs_in_flight = 0;
    uint32_t _parked_since_sync = 0;
    uint64_t _sync_seq = 0;
    uint64_t _committed = 0;
};

}  // namespace posthorn::app
