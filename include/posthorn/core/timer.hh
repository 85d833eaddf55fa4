// Timers: a binary min-heap of deadlines (monotonic milliseconds) owned by
// one reactor, and deadline_timer, a per-connection deadline that is cheap to
// push back on every read.
//
// Why a heap and not a wheel: timers fire in exact (deadline, schedule order)
// order, and the per-connection deadlines, the only timers reset at high
// rates, never touch the heap when pushed back (deadline_timer stores the new
// time and moves its heap entry only when the old one fires). So the wheel's
// O(1) insert buys nothing here.
//
// Threading: shard-local, not thread-safe.
// Limits: node storage grows with the number of live timers and is reused;
// a timer_id is invalid once its timer fired or was cancelled (generation).
#pragma once

#include "posthorn/core/callback.hh"

#include <cstdint>
#include <vector>

namespace posthorn::core {

class reactor;

inline constexpr uint64_t no_deadline = UINT64_MAX;

struct timer_id {
    uint32_t index = 0;
    uint32_t generation = 0;  // 0: no timer
    explicit operator bool() const noexcept { return generation != 0; }
};

class timer_heap {
public:
    timer_id schedule(uint64_t deadline_ms, callback<void()> fn);
    // True when the timer was pending and will not fire.
    bool cancel(timer_id id) noexcept;
    uint64_t next_deadline() const noexcept;  // no_deadline when empty
    size_t size() const noexcept { return _heap.size(); }
    // Fires, in order, every timer due at now_ms that was scheduled before
    // this call; timers scheduled by the callbacks wait for the next call.
    size_t fire_due(uint64_t now_ms) noexcept;

private:
    struct node {
        uint64_t deadline_ms = 0;
        uint64_t seq = 0;
        callback<void()> fn;
        uint32_t heap_pos = 0;
        uint32_t generation = 1;
    };
    bool less(uint32_t a, uint32_t b) const noexcept;
    void sift_up(uint32_t pos) noexcept;
    void sift_down(uint32_t pos) noexcept;
    void remove_at(uint32_t pos) noexcept;
    void place(uint32_t pos, uint32_t index) noexcept;

    std::vector<node> _nodes;
    std::vector<uint32_t> _free;
    std::vector<uint32_t> _heap;  // node indexes
    uint64_t _seq = 0;
};

// A deadline owned by a connection or session. set_at() is a store when the
// deadline moves later (the common case: reset on every read); the heap entry
// is moved only when it fires before the current deadline, or when the
// deadline moves earlier. on_expire runs once per expiry, from the reactor.
class deadline_timer {
public:
    using function = void (*)(void* ctx) noexcept;
    deadline_timer(reactor& r, function on_expire, void* ctx) noexcept : _r(&r), _on_expire(on_expire), _ctx(ctx) {}
    ~deadline_timer();
    deadline_timer(const deadline_timer&) = delete;
    deadline_timer& operator=(const deadline_timer&) = delete;

    void set_at(uint64_t at_ms) noexcept;  // absolute, on reactor::now_ms()'s clock
    void set_after(uint64_t delay_ms) noexcept;
    void clear() noexcept { _at_ms = 0; }  // lazy: the heap entry, if any, fires into nothing
    uint64_t at_ms() const noexcept { return _at_ms; }  // 0: none

private:
    void on_timer() noexcept;

    reactor* _r;
    function _on_expire;  // a plain pointer pair: this sits in every connection
    void* _ctx;
    uint64_t _at_ms = 0;         // the deadline the owner wants (0: none)
    uint64_t _scheduled_ms = 0;  // when the heap entry fires (0: none)
    timer_id _id{};
};

}  // namespace posthorn::core
