// The reactor's loop turn, timers, tasks, hooks, pollers and the cross-thread
// wake-up (an eventfd the backend keeps a read armed on). See core/reactor.hh.
// Shard-local except stop() and wake(). Logs nothing per turn.
#include "posthorn/core/reactor.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include "core/io_backend.hh"

#include <algorithm>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

namespace posthorn::core {

const char* to_string(io_mode m) noexcept {
    switch (m) {
    case io_mode::auto_detect: return "auto";
    case io_mode::io_uring: return "io_uring";
    case io_mode::epoll: return "epoll";
    }
    return "?";
}

result<io_mode> parse_io_mode(std::string_view text) {
    if (text == "auto") return io_mode::auto_detect;
    if (text == "io_uring") return io_mode::io_uring;
    if (text == "epoll") return io_mode::epoll;
    return error{EINVAL, "io mode: expected auto, io_uring or epoll"};
}

uint64_t reactor::clock_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

reactor::reactor(chunk_pool& pool, const reactor_config& config) : _pool(&pool), _config(config) {
    _now_ms = clock_ms();
}

reactor::~reactor() {
    _backend.reset();  // before the wake fd: the backend may have a read on it
    if (_wake_fd >= 0) ::close(_wake_fd);
}

result<std::unique_ptr<reactor>> reactor::create(chunk_pool& pool, const reactor_config& config) {
    auto choice = choose_io(config.mode);
    if (!choice) return choice.err();
    std::unique_ptr<reactor> r(new reactor(pool, config));
    // Blocking on purpose: io_uring reads it (an O_NONBLOCK read would fail
    // with EAGAIN instead of waiting); epoll reads it only when readable.
    r->_wake_fd = ::eventfd(0, EFD_CLOEXEC);
    if (r->_wake_fd < 0) return errno_error("eventfd");
    auto backend = choice->mode == io_mode::io_uring ? make_uring_backend(*r, config)
                                                     : make_epoll_backend(*r, config);
    if (!backend) return backend.err();
    r->_backend = std::move(backend.value());
    return r;
}

io_mode reactor::mode() const noexcept { return _backend->mode(); }

void reactor::run() noexcept {
    while (!_stop.load(std::memory_order_acquire)) turn(true);
}

void reactor::run_once(bool block) noexcept { turn(block); }

void reactor::run_until_idle(uint32_t max_turns) noexcept {
    const uint64_t give_up_ms = clock_ms() + 2000;
    timer_id bound = schedule(give_up_ms, []() noexcept {});
    _draining = true;
    for (uint32_t i = 0; i < max_turns; ++i) {
        if (_backend->inflight() == 0 && _tasks.empty() && _flush.empty()) break;
        if (clock_ms() >= give_up_ms) {
            log::warn("msg=\"reactor still busy at shutdown\" inflight={}", _backend->inflight());
            break;
        }
        turn(true);
    }
    _draining = false;
    cancel(bound);
}

void reactor::stop() noexcept {
    _stop.store(true, std::memory_order_release);
    uint64_t one = 1;
    ssize_t w = ::write(_wake_fd, &one, sizeof one);
    (void)w;
}

void reactor::wake() noexcept {
    // Pairs with the fence in turn(): either we see the loop asleep, or the
    // loop's last poll before sleeping sees what we published.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!_sleeping.exchange(false, std::memory_order_acq_rel)) return;
    uint64_t one = 1;
    ssize_t w = ::write(_wake_fd, &one, sizeof one);
    (void)w;
}

void reactor::drain_wake_fd() noexcept {
    uint64_t n = 0;
    ssize_t r = ::read(_wake_fd, &n, sizeof n);
    (void)r;
}

reactor::hook_id reactor::add_turn_hook(callback<void()> fn) {
    for (uint32_t i = 0; i < _hooks.size(); ++i) {
        if (!_hooks[i]) {
            _hooks[i] = fn;
            return hook_id{i};
        }
    }
    _hooks.push_back(fn);
    return hook_id{static_cast<uint32_t>(_hooks.size() - 1)};
}

void reactor::remove_turn_hook(hook_id id) noexcept {
    if (id.index < _hooks.size()) _hooks[id.index] = {};
}

void reactor::add_poller(callback<bool()> fn) { _pollers.push_back(fn); }

bool reactor::run_pollers() noexcept {
    bool found = false;
    for (size_t i = 0; i < _pollers.size(); ++i) found |= _pollers[i]();
    return found;
}

void reactor::run_tasks(task_queue& q) noexcept {
    // Only the tasks queued now: a task that posts itself again waits for
    // the next pass, so a busy task cannot starve the kernel.
    task_queue batch;
    batch.splice(q);
    while (task* t = batch.pop()) t->run();
}

namespace {
constexpr int k_hook_rounds_max = 8;
}  // namespace

void reactor::turn(bool may_block) noexcept {
    _now_ms = clock_ms();
    ++_stats.turns;
    const bool active = _backend->has_completions();
    _backend->dispatch();
    _timers.fire_due(_now_ms);
    run_pollers();
    // Tasks and hooks alternate until the tasks settle: work a task does
    // after a hook ran (a session refed from its kept input appends a
    // message) must still meet the hooks (the group commit) before the loop
    // may sleep, or it would wait for an unrelated event. Bounded: what is
    // left after the last round makes this turn non-blocking instead.
    for (int round = 0; round < k_hook_rounds_max; ++round) {
        run_tasks(_tasks);
        for (size_t i = 0; i < _hooks.size(); ++i) {
            if (_hooks[i]) _hooks[i]();
        }
        if (_tasks.empty()) break;
    }
    run_tasks(_flush);

    bool block = may_block && !_turn_requested && _tasks.empty() && _flush.empty() && !_backend->has_ready();
    if (_draining && _backend->inflight() == 0) block = false;  // run_until_idle() is done
    _turn_requested = false;
    if (block) {
        _sleeping.store(true, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        // A stop() from this thread may have had its wake-up read consumed
        // in this very turn; run_until_idle() after a stop still sleeps.
        bool stopping = _stop.load(std::memory_order_acquire) && !_draining;
        if (run_pollers() || !_tasks.empty() || !_flush.empty() || stopping) block = false;
    }
    // Not while a disk flush is out: that takes milliseconds, and the
    // clients that matter wait for its answer rather than send more.
    if (block && active && _config.idle_poll_us > 0 && _backend->syncs_inflight() == 0 &&
        idle_poll(_timers.next_deadline()))
        ++_stats.idle_polls_caught;
    else
        _backend->submit_and_wait(block, _timers.next_deadline());
    _sleeping.store(false, std::memory_order_relaxed);
}

// Non-blocking submissions until a completion arrives, a poller finds work,
// or the window (or the next timer) runs out. Called with _sleeping set, so
// a wake() from another thread lands as a completion too.
bool reactor::idle_poll(uint64_t deadline_ms) noexcept {
    auto clock_us = [] {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
    };
    uint64_t end_us = clock_us() + _config.idle_poll_us;
    if (deadline_ms != no_deadline) end_us = std::min(end_us, deadline_ms * 1000);
    for (;;) {
        _backend->submit_and_wait(false, no_deadline);
        if (_backend->has_completions() || run_pollers() || !_tasks.empty()) return true;
        if (clock_us() >= end_us) return false;
        sched_yield();
    }
}

void reactor::fdatasync(int fd, callback<void(result<void>)> done) noexcept { _backend->fdatasync(fd, done); }

void reactor::stream_open(stream& s, int fd, stream_handler& h) noexcept {
    PH_ASSERT(fd >= 0);
    s.fd = fd;
    s.handler = &h;
    s.flags = 0;
    s.inflight = 0;
    s.send_ptr = nullptr;
    s.send_left = 0;
    s.send_err = 0;
    _backend->stream_open(s);
}

void reactor::stream_recv(stream& s, bool on) noexcept { _backend->stream_recv(s, on); }

void reactor::stream_send(stream& s, const char* data, size_t n) noexcept {
    PH_ASSERT(!(s.flags & sf_sending) && n > 0);
    s.send_ptr = data;
    s.send_left = n;
    s.send_err = 0;
    _backend->stream_send(s);
}

void reactor::stream_close(stream& s) noexcept { _backend->stream_close(s); }

void reactor::stream_release(stream& s) noexcept {
    s.flags |= sf_release;
    _backend->stream_close(s);
}

result<void> reactor::acceptor_open(acceptor& a, int fd, acceptor_handler& h) noexcept {
    a.fd = fd;
    a.handler = &h;
    a.flags = 0;
    a.inflight = 0;
    return _backend->acceptor_open(a);
}

void reactor::acceptor_close(acceptor& a) noexcept { _backend->acceptor_close(a); }

void reactor::poll_arm(fd_poll& p, int fd, uint32_t events, poll_handler& h) noexcept {
    PH_ASSERT(fd >= 0 && !p.busy() && events != 0);
    // A poll keeps its epoll registration between waits on the same fd;
    // another fd needs a poll_cancel() first.
    PH_ASSERT(p.fd == fd || !(p.flags & pf_registered));
    p.fd = fd;
    p.handler = &h;
    p.events = events;
    p.result = 0;
    _backend->poll_arm(p);
}

void reactor::poll_cancel(fd_poll& p) noexcept { _backend->poll_cancel(p); }

}  // namespace posthorn::core
