// reactor: one event loop per shard thread, over one of two io backends
// chosen at run time (io_uring, or epoll where io_uring is unavailable or
// forced off). Protocol code cannot tell them apart (DESIGN.md "Reactor",
// STYLE.md #7).
//
// One loop turn, in order:
//   1. completions from the kernel are handled (stream data, sends, accepts,
//      fdatasync) and their callbacks run;
//   2. due timers fire; pollers run (cross-shard rings);
//   3. posted tasks run, then the end-of-turn hooks (the spool's group commit
//      issues its fdatasync here); again while tasks remain (a few rounds),
//      so no task's work misses the hooks before the loop sleeps;
//   4. flush tasks run (the net layer starts this turn's sends);
//   5. one submission to the kernel, which waits only if no work is ready.
//
// Threading: create, run and use a reactor on one thread (the io_uring ring
// is single-issuer). Only stop() and wake() may be called from other threads.
// Callbacks are noexcept; errno becomes core::error or -errno at this edge.
// Errors: create() fails when the requested backend cannot be set up; with
// io_mode::auto_detect it falls back to epoll and logs why in one line.
#pragma once

#include "posthorn/core/callback.hh"
#include "posthorn/core/chunk.hh"
#include "posthorn/core/fd_poll.hh"
#include "posthorn/core/result.hh"
#include "posthorn/core/stream.hh"
#include "posthorn/core/task.hh"
#include "posthorn/core/timer.hh"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace posthorn::core {

enum class io_mode : uint8_t { auto_detect, io_uring, epoll };

const char* to_string(io_mode m) noexcept;
result<io_mode> parse_io_mode(std::string_view text);  // "auto" | "io_uring" | "epoll"

// What an io_mode resolves to on this kernel: io_uring or epoll, and why.
struct io_choice {
    io_mode mode = io_mode::epoll;
    const char* reason = "";  // static text, e.g. "forced", "io_uring_setup: EPERM"
};
// Probes the kernel once (ring setup, opcodes, multishot recv with a buffer
// ring). Forced io_uring that does not work is an error; auto never fails.
// Logs the fallback reason (auto) in one key=value line when log_fallback.
result<io_choice> choose_io(io_mode requested, bool log_fallback = true);

struct reactor_config {
    io_mode mode = io_mode::auto_detect;
    uint32_t sq_entries = 1024;
    // Chunks of the pool handed to the io_uring buffer ring for receives;
    // 0 = every free chunk (at most 32768). epoll acquires per read instead.
    uint32_t ring_chunks = 0;
    uint32_t epoll_events_max = 256;
    // After a turn that handled completions, poll without sleeping for up to
    // this long before blocking (0 = never). A ping-pong client (POP3 RETR
    // after RETR) then finds the loop awake: no sleep and wake-up per
    // command, which on a VM costs the waker an IPI and the sleeper the
    // scheduler's round trip. Bounded, so an idle shard still sleeps; the
    // poll yields the core to any other runnable thread, and is skipped
    // while an fdatasync is in the kernel (the SMTP clients wait for it).
    uint32_t idle_poll_us = 0;
};

struct reactor_stats {
    uint64_t turns = 0;
    uint64_t recv_starved = 0;  // a receive found no free buffer (ENOBUFS / pool empty)
    uint64_t recv_rearmed = 0;  // multishot receives armed again after ending
    uint64_t idle_polls_caught = 0;  // an idle poll found work before it ran out
};

class io_backend;

class reactor {
public:
    // The pool must outlive the reactor; it serves only this reactor.
    static result<std::unique_ptr<reactor>> create(chunk_pool& pool, const reactor_config& config);
    ~reactor();
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;

    io_mode mode() const noexcept;  // io_uring or epoll, never auto_detect
    chunk_pool& pool() noexcept { return *_pool; }
    const reactor_stats& stats() const noexcept { return _stats; }

    // --- loop -------------------------------------------------------------
    void run() noexcept;             // turns until stop(); stop() before run() returns at once
    void run_once(bool block) noexcept;
    // Turns until no kernel operation references caller memory (after closing
    // streams and acceptors at shutdown), at most max_turns.
    void run_until_idle(uint32_t max_turns = 10000) noexcept;
    void stop() noexcept;            // any thread; the current turn completes
    bool stopping() const noexcept { return _stop.load(std::memory_order_relaxed); }
    void wake() noexcept;            // any thread; cheap when the loop is awake
    void request_turn() noexcept { _turn_requested = true; }  // do not block in this turn's wait

    uint64_t now_ms() const noexcept { return _now_ms; }  // monotonic, read once per turn
    static uint64_t clock_ms() noexcept;                   // monotonic, read now

    // --- timers -----------------------------------------------------------
    timer_id schedule(uint64_t deadline_ms, callback<void()> fn) { return _timers.schedule(deadline_ms, fn); }
    timer_id schedule_after(uint64_t delay_ms, callback<void()> fn) { return schedule(_now_ms + delay_ms, fn); }
    bool cancel(timer_id id) noexcept { return _timers.cancel(id); }

    // --- work ---------------------------------------------------------------
    void post(task& t) noexcept { _tasks.push(t); }         // later this turn (or the next)
    void post_flush(task& t) noexcept { _flush.push(t); }   // at this turn's flush step
    struct hook_id { uint32_t index = UINT32_MAX; };
    hook_id add_turn_hook(callback<void()> fn);              // runs every turn, step 3
    void remove_turn_hook(hook_id id) noexcept;
    void add_poller(callback<bool()> fn);                    // every turn; true = found work

    // --- io -----------------------------------------------------------------
    // fdatasync(2): asynchronous under io_uring (IORING_FSYNC_DATASYNC),
    // synchronous under epoll; `done` always runs later, from the loop.
    void fdatasync(int fd, callback<void(result<void>)> done) noexcept;

    // Streams and acceptors (used by src/net; see core/stream.hh).
    void stream_open(stream& s, int fd, stream_handler& h) noexcept;
    void stream_recv(stream& s, bool on) noexcept;  // start / stop delivering data
    // Sends all n bytes; the buffer stays valid and untouched until
    // on_stream_sent(). One send at a time per stream.
    void stream_send(stream& s, const char* data, size_t n) noexcept;
    void stream_close(stream& s) noexcept;  // cancels, closes the fd; on_stream_closed() follows
    // As stream_close, but the fd stays open (s.fd keeps it) for another
    // owner, and data the kernel completes meanwhile still reaches
    // on_stream_data(); on_stream_closed() says nothing holds it any more.
    // Only with no stream_send() in progress.
    void stream_release(stream& s) noexcept;
    result<void> acceptor_open(acceptor& a, int fd, acceptor_handler& h) noexcept;
    void acceptor_close(acceptor& a) noexcept;

    // One-shot readiness of a descriptor the caller owns (core/fd_poll.hh):
    // on_poll() once when fd has one of `events` (POLLIN | POLLOUT), or an
    // error. Not while p.busy(). Cancel before closing fd: the reactor then
    // forgets it (io_uring: the wait holds the file until it ends).
    void poll_arm(fd_poll& p, int fd, uint32_t events, poll_handler& h) noexcept;
    void poll_cancel(fd_poll& p) noexcept;

private:
    friend class uring_backend;
    friend class epoll_backend;
    reactor(chunk_pool& pool, const reactor_config& config);
    void turn(bool may_block) noexcept;
    bool run_pollers() noexcept;
    bool idle_poll(uint64_t deadline_ms) noexcept;
    void run_tasks(task_queue& q) noexcept;
    void drain_wake_fd() noexcept;

    chunk_pool* _pool;
    reactor_config _config;
    std::unique_ptr<io_backend> _backend;
    timer_heap _timers;
    task_queue _tasks;
    task_queue _flush;
    std::vector<callback<void()>> _hooks;
    std::vector<callback<bool()>> _pollers;
    reactor_stats _stats;
    uint64_t _now_ms = 0;
    bool _turn_requested = false;
    bool _draining = false;  // inside run_until_idle()
    int _wake_fd = -1;
    std::atomic<bool> _stop{false};
    std::atomic<bool> _sleeping{false};
};

}  // namespace posthorn::core
