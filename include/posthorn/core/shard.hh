// Shards (DESIGN.md "Process model"): shard_set starts one thread per shard,
// pins it to its core, and gives it its own chunk_pool and reactor; shards
// talk only through bounded SPSC rings, one per ordered pair, each message
// followed by a wake-up of the target when it sleeps (STYLE.md #8).
//
// Threading: a shard is used only on its own thread; send() is the one way to
// reach another shard. shard_set::run() blocks the calling thread (the main
// thread), which owns SIGINT/SIGTERM through a signalfd and, on either or on
// stop(), asks every reactor to stop: each finishes its turn and returns from
// run(); the body then closes its listeners and drains (see the example in
// net.hh). Any other thread of the process must block SIGINT/SIGTERM (start
// it with them blocked), or the kernel may deliver them there instead.
// Limits: queue_capacity messages in flight per ordered pair; send() returns
// false beyond it and the sender keeps the message (backpressure).
// Logs: pinning failures (tolerated) and the stop signal, one line each.
#pragma once

#include "posthorn/core/callback.hh"
#include "posthorn/core/chunk.hh"
#include "posthorn/core/reactor.hh"
#include "posthorn/core/result.hh"
#include "posthorn/core/spsc_ring.hh"

#include <atomic>
#include <cstdint>
#include <latch>
#include <memory>
#include <vector>

namespace posthorn::core {

class shard;
class shard_set;

// A message owns its payload. `run` is called on the target shard's thread
// and takes the payload; at shutdown, for a message that was never
// delivered, it is called with here == nullptr and must only free the payload.
struct shard_message {
    void (*run)(shard* here, void* payload) noexcept = nullptr;
    void* payload = nullptr;
};

struct shard_config {
    uint32_t shards = 0;               // 0: one per CPU this process may run on
    io_mode io = io_mode::auto_detect;
    uint32_t chunk_bytes = 16384;
    uint32_t chunk_count = 1024;       // per shard
    uint32_t ring_chunks = 0;          // see reactor_config
    uint32_t sq_entries = 1024;
    uint32_t idle_poll_us = 0;         // see reactor_config
    uint32_t queue_capacity = 256;     // per ordered pair of shards
    uint32_t messages_per_turn_max = 256;  // per inbound ring
    bool pin = true;
    bool handle_signals = true;        // SIGINT / SIGTERM stop the set
};

class shard {
public:
    uint32_t id() const noexcept { return _id; }
    uint32_t count() const noexcept;
    reactor& io() noexcept { return *_reactor; }
    chunk_pool& pool() noexcept { return *_pool; }
    shard_set& set() noexcept { return *_set; }

    // Queues m for shard `to` (this shard too). False when the ring to `to`
    // is full: nothing was sent and the caller still owns the payload.
    bool send(uint32_t to, shard_message m) noexcept;
    void stop_all() noexcept;  // asks every shard to stop

private:
    friend class shard_set;
    bool drain_inbound() noexcept;

    uint32_t _id = 0;
    shard_set* _set = nullptr;
    std::unique_ptr<chunk_pool> _pool;
    std::unique_ptr<reactor> _reactor;
    std::vector<shard_message> _local;  // messages to itself
    std::vector<shard_message> _local_running;
};

class shard_set {
public:
    explicit shard_set(const shard_config& config);
    ~shard_set();
    shard_set(const shard_set&) = delete;
    shard_set& operator=(const shard_set&) = delete;

    // Runs body(shard&) on every shard thread once its reactor exists; the
    // body runs the loop (s.io().run()). A body that returns stops the whole
    // set. Returns when every thread has ended: an error when a shard could
    // not be set up (then no body runs).
    result<void> run(callback<void(shard&)> body);
    void stop() noexcept;  // any thread, any time during run()

    uint32_t size() const noexcept { return static_cast<uint32_t>(_shards.size()); }
    io_mode mode() const noexcept { return _mode; }
    shard& at(uint32_t i) noexcept { return *_shards[i]; }

private:
    friend class shard;
    spsc_ring<shard_message>& ring(uint32_t from, uint32_t to) noexcept { return *_rings[from * size() + to]; }
    void thread_main(uint32_t index, int cpu, callback<void(shard&)> body) noexcept;
    void wait_for_stop() noexcept;

    shard_config _config;
    io_mode _mode = io_mode::epoll;
    std::vector<std::unique_ptr<shard>> _shards;
    std::vector<std::unique_ptr<spsc_ring<shard_message>>> _rings;  // [from * n + to]
    int _stop_fd = -1;
    int _signal_fd = -1;
    bool _ran = false;
    std::atomic<bool> _setup_failed{false};
    error _setup_error{};                 // written by the first failing shard
    std::atomic<bool> _error_claimed{false};
    std::unique_ptr<std::latch> _ready;   // every shard set up (or failed)
    std::unique_ptr<std::latch> _go;      // the main thread looked at the result
    std::unique_ptr<std::latch> _done;    // every body returned: no more sends
    std::unique_ptr<std::latch> _released;  // the main thread stopped every reactor
};

}  // namespace posthorn::core
