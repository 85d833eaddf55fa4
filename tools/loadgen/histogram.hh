// A log-linear latency histogram in microseconds: exact below 128 µs, then 64
// buckets per power of two (relative error under 1/64, about 1.6 %). Fixed
// size (a few KiB), no allocation per sample. One per worker thread, merged at
// the end; not thread-safe.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace posthorn::loadgen {

class histogram {
public:
    void record(uint64_t value_us) noexcept {
        ++_buckets[index_of(value_us)];
        ++_count;
        if (value_us > _max_us) _max_us = value_us;
    }

    void merge(const histogram& other) noexcept {
        for (std::size_t i = 0; i < _buckets.size(); ++i) _buckets[i] += other._buckets[i];
        _count += other._count;
        if (other._max_us > _max_us) _max_us = other._max_us;
    }

    uint64_t count() const noexcept { return _count; }
    uint64_t max_us() const noexcept { return _max_us; }

    // The value at quantile q (0..1): the upper edge of the bucket holding the
    // ceil(q * count)-th sample, capped at the largest value seen.
    uint64_t quantile_us(double q) const noexcept {
        if (_count == 0) return 0;
        auto rank = static_cast<uint64_t>(q * static_cast<double>(_count) + 0.999999);
        if (rank < 1) rank = 1;
        if (rank > _count) rank = _count;
        uint64_t seen = 0;
        for (std::size_t i = 0; i < _buckets.size(); ++i) {
            seen += _buckets[i];
            if (seen >= rank) {
                uint64_t v = upper_edge(i);
                return v < _max_us ? v : _max_us;
            }
        }
        return _max_us;
    }

private:
    static constexpr unsigned k_sub_bits = 6;                      // 64 buckets per octave
    static constexpr unsigned k_exact = 2u << k_sub_bits;          // 0..127 exact
    static constexpr std::size_t k_buckets = (64 - k_sub_bits) * (1u << k_sub_bits) + k_exact;

    static std::size_t index_of(uint64_t v) noexcept {
        if (v < k_exact) return static_cast<std::size_t>(v);
        unsigned shift = static_cast<unsigned>(std::bit_width(v)) - (k_sub_bits + 1);
        return static_cast<std::size_t>(shift) * (1u << k_sub_bits) + static_cast<std::size_t>(v >> shift);
    }

    static uint64_t upper_edge(std::size_t i) noexcept {
        if (i < k_exact) return i;
        std::size_t shift = (i - (1u << k_sub_bits)) >> k_sub_bits;  // inverse of index_of
        uint64_t mantissa = i - shift * (1u << k_sub_bits);
        return ((mantissa + 1) << shift) - 1;
    }

    std::array<uint64_t, k_buckets> _buckets{};
    uint64_t _count = 0;
    uint64_t _max_us = 0;
};

}  // namespace posthorn::loadgen
