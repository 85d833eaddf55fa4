// slice_queue: received slices a connection keeps because the protocol has
// not consumed them yet (it paused, waiting for a commit). FIFO; two slices
// inline, more spill to a vector that is freed as soon as it drains, so an
// idle connection holds nothing here.
//
// Threading: shard-local, not thread-safe.
#pragma once

#include "posthorn/core/chunk.hh"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace posthorn::net {

class slice_queue {
public:
    bool empty() const noexcept { return _count == 0; }
    uint32_t bytes() const noexcept { return _bytes; }
    uint32_t size() const noexcept { return _count; }

    void push(core::slice&& s) {
        _bytes += s.length;
        ++_count;
        if (_spill_head < _spill.size() || _inline_count == inline_max) {
            _spill.push_back(std::move(s));
            return;
        }
        _inline[(_inline_head + _inline_count) % inline_max] = std::move(s);
        ++_inline_count;
    }

    core::slice& front() noexcept { return _inline_count ? _inline[_inline_head] : _spill[_spill_head]; }

    // Drops the first n bytes of the front slice (n < its length).
    void consume_front(uint32_t n) noexcept {
        core::slice& f = front();
        f.offset += n;
        f.length -= n;
        _bytes -= n;
    }

    void pop() noexcept {
        core::slice& f = front();
        _bytes -= f.length;
        f = core::slice{};
        --_count;
        if (_inline_count) {
            _inline_head = static_cast<uint8_t>((_inline_head + 1) % inline_max);
            --_inline_count;
            return;
        }
        if (++_spill_head == _spill.size()) {
            std::vector<core::slice>().swap(_spill);
            _spill_head = 0;
        }
    }

    void clear() noexcept {
        while (!empty()) pop();
    }

private:
    static constexpr uint8_t inline_max = 2;
    core::slice _inline[inline_max];
    std::vector<core::slice> _spill;
    uint32_t _spill_head = 0;
    uint32_t _count = 0;
    uint32_t _bytes = 0;  // kept input is bounded by the protocol's limits, far below 4 GiB
    uint8_t _inline_head = 0;
    uint8_t _inline_count = 0;
};

}  // namespace posthorn::net
