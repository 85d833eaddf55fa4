// spsc_ring<T>: a bounded single-producer / single-consumer ring, the pipe
// between one ordered pair of shards (STYLE.md #8). Capacity is fixed at
// construction (rounded up to a power of two): try_push() fails when full,
// and that bound is the cap on messages in flight between the two shards.
//
// Threading: exactly one producer thread and one consumer thread. Head and
// tail sit on their own cache lines; each side caches the other's index so
// the common case touches no shared line. T must be trivially copyable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace posthorn::core {

template <typename T>
class spsc_ring {
    static_assert(std::is_trivially_copyable_v<T>, "spsc_ring carries plain values");

public:
    explicit spsc_ring(uint32_t capacity) {
        uint32_t cap = 2;
        while (cap < capacity) cap <<= 1;
        _mask = cap - 1;
        _slots.reset(new T[cap]);
    }
    spsc_ring(const spsc_ring&) = delete;
    spsc_ring& operator=(const spsc_ring&) = delete;

    uint32_t capacity() const noexcept { return _mask + 1; }

    // Producer side.
    bool try_push(const T& v) noexcept {
        const uint64_t tail = _tail.load(std::memory_order_relaxed);
        if (tail - _head_cache > _mask) {
            _head_cache = _head.load(std::memory_order_acquire);
            if (tail - _head_cache > _mask) return false;
        }
        _slots[tail & _mask] = v;
        _tail.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer side.
    bool try_pop(T& out) noexcept {
        const uint64_t head = _head.load(std::memory_order_relaxed);
        if (head == _tail_cache) {
            _tail_cache = _tail.load(std::memory_order_acquire);
            if (head == _tail_cache) return false;
        }
        out = _slots[head & _mask];
        _head.store(head + 1, std::memory_order_release);
        return true;
    }

    // Either side; exact only when the other side is idle.
    size_t size_approx() const noexcept {
        return static_cast<size_t>(_tail.load(std::memory_order_acquire) - _head.load(std::memory_order_acquire));
    }

private:
    alignas(64) std::atomic<uint64_t> _head{0};  // written by the consumer
    uint64_t _tail_cache = 0;                     // consumer's view of _tail
    alignas(64) std::atomic<uint64_t> _tail{0};  // written by the producer
    uint64_t _head_cache = 0;                     // producer's view of _head
    alignas(64) std::unique_ptr<T[]> _slots;
    uint32_t _mask = 0;
};

}  // namespace posthorn::core
