// shard_set: threads, pinning, per-shard pool + reactor, the SPSC rings
// between shards, and the stop path (signalfd + an eventfd for stop()) owned
// by the thread that calls run(). See core/shard.hh.
// Logs: one line per pinning failure, one for the stop signal, one per shard
// that fails to set up.
#include "posthorn/core/shard.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace posthorn::core {

uint32_t shard::count() const noexcept { return _set->size(); }

void shard::stop_all() noexcept { _set->stop(); }

bool shard::send(uint32_t to, shard_message m) noexcept {
    PH_ASSERT(to < _set->size() && m.run);
    if (to == _id) {
        _local.push_back(m);
        return true;
    }
    if (!_set->ring(_id, to).try_push(m)) return false;
    _set->at(to).io().wake();  // a syscall only when the target sleeps
    return true;
}

bool shard::drain_inbound() noexcept {
    bool found = false;
    const uint32_t n = _set->size();
    const uint32_t budget = _set->_config.messages_per_turn_max;
    for (uint32_t from = 0; from < n; ++from) {
        if (from == _id) continue;
        auto& q = _set->ring(from, _id);
        shard_message m;
        uint32_t taken = 0;
        while (taken < budget && q.try_pop(m)) {
            ++taken;
            m.run(this, m.payload);
        }
        if (taken) found = true;
        if (taken == budget) _reactor->request_turn();
    }
    if (!_local.empty()) {
        found = true;
        _local_running.swap(_local);
        for (const shard_message& m : _local_running) m.run(this, m.payload);
        _local_running.clear();
    }
    return found;
}

shard_set::shard_set(const shard_config& config) : _config(config) {}

shard_set::~shard_set() {
    if (_stop_fd >= 0) ::close(_stop_fd);
    if (_signal_fd >= 0) ::close(_signal_fd);
}

void shard_set::stop() noexcept {
    uint64_t one = 1;
    ssize_t w = ::write(_stop_fd, &one, sizeof one);
    (void)w;
}

namespace {

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
    if (cpus.empty()) {
        unsigned n = std::thread::hardware_concurrency();
        for (unsigned c = 0; c < (n ? n : 1); ++c) cpus.push_back(static_cast<int>(c));
    }
    return cpus;
}

}  // namespace

result<void> shard_set::run(callback<void(shard&)> body) {
    PH_ASSERT(!_ran);
    _ran = true;
    std::vector<int> cpus = allowed_cpus();
    const uint32_t n = _config.shards ? _config.shards : static_cast<uint32_t>(cpus.size());

    auto choice = choose_io(_config.io);
    if (!choice) return choice.err();
    _mode = choice->mode;

    _stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (_stop_fd < 0) return errno_error("eventfd");

    _shards.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        auto s = std::unique_ptr<shard>(new shard());
        s->_id = i;
        s->_set = this;
        _shards.push_back(std::move(s));
    }
    _rings.resize(static_cast<size_t>(n) * n);
    for (uint32_t from = 0; from < n; ++from)
        for (uint32_t to = 0; to < n; ++to)
            if (from != to)
                _rings[from * n + to] = std::make_unique<spsc_ring<shard_message>>(_config.queue_capacity);

    // Shard threads inherit the blocked mask: only the signalfd sees
    // SIGINT/SIGTERM.
    sigset_t stop_signals, old_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (_config.handle_signals) {
        pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
        _signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
        if (_signal_fd < 0) {
            auto e = errno_error("signalfd");
            pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
            return e;
        }
    }

    _ready = std::make_unique<std::latch>(n);
    _go = std::make_unique<std::latch>(1);
    _done = std::make_unique<std::latch>(n);
    _released = std::make_unique<std::latch>(1);
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        int cpu = _config.pin ? cpus[i % cpus.size()] : -1;
        threads.emplace_back([this, i, cpu, body] { thread_main(i, cpu, body); });
    }

    _ready->wait();
    const bool failed = _setup_failed.load(std::memory_order_acquire);
    _go->count_down();
    if (!failed) {
        log::info("msg=\"shards running\" shards={} io={} io_reason=\"{}\"", n, to_string(_mode), choice->reason);
        wait_for_stop();
    }
    // Reactors live until _released: stopping them here is safe even when
    // every body has already returned.
    for (auto& s : _shards)
        if (s->_reactor) s->_reactor->stop();
    _released->count_down();
    for (auto& t : threads) t.join();

    if (_config.handle_signals) {
        ::close(_signal_fd);
        _signal_fd = -1;
        pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    }
    if (failed) return _setup_error;
    return ok();
}

void shard_set::wait_for_stop() noexcept {
    pollfd fds[2] = {{_stop_fd, POLLIN, 0}, {_signal_fd, POLLIN, 0}};
    const nfds_t nfds = _signal_fd >= 0 ? 2 : 1;
    for (;;) {
        int rc = ::poll(fds, nfds, -1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) {
            log::error("msg=\"poll on stop fds failed\" errno={}", errno);
            return;
        }
        if (nfds == 2 && (fds[1].revents & POLLIN)) {
            signalfd_siginfo si{};
            ssize_t r = ::read(_signal_fd, &si, sizeof si);
            if (r == static_cast<ssize_t>(sizeof si))
                log::info("msg=\"stopping\" signal={}", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (fds[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = ::read(_stop_fd, &v, sizeof v);
            (void)r;
            return;
        }
    }
}

void shard_set::thread_main(uint32_t index, int cpu, callback<void(shard&)> body) noexcept {
    log::set_thread_shard(static_cast<int>(index));
    shard& s = *_shards[index];
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (rc != 0) log::warn("msg=\"cannot pin shard\" cpu={} errno={}", cpu, rc);
    }
    s._pool = std::make_unique<chunk_pool>(_config.chunk_bytes, _config.chunk_count);
    reactor_config rc{};
    rc.mode = _mode;
    rc.sq_entries = _config.sq_entries;
    rc.ring_chunks = _config.ring_chunks;
    rc.idle_poll_us = _config.idle_poll_us;
    auto r = reactor::create(*s._pool, rc);
    if (!r) {
        log::error("msg=\"shard setup failed\" what=\"{}\" errno={}", r.err().what, r.err().code);
        if (!_error_claimed.exchange(true)) _setup_error = r.err();
        _setup_failed.store(true, std::memory_order_release);
    } else {
        s._reactor = std::move(r.value());
        s._reactor->add_poller([&s]() noexcept { return s.drain_inbound(); });
    }
    _ready->count_down();
    _go->wait();
    if (!_setup_failed.load(std::memory_order_acquire)) body(s);
    stop();  // a shard whose body ends takes the set down with it
    // No more sends once every body is done; reactors stay alive until the
    // main thread has stopped them all.
    _done->arrive_and_wait();
    _released->wait();
    // Messages never delivered: their payloads are freed, not run.
    for (uint32_t from = 0; from < size(); ++from) {
        if (from == index) continue;
        shard_message m;
        while (ring(from, index).try_pop(m)) m.run(nullptr, m.payload);
    }
    for (const shard_message& m : s._local) m.run(nullptr, m.payload);
    s._local.clear();
    s._reactor.reset();
    s._pool.reset();
}

}  // namespace posthorn::core
