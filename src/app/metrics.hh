// metrics: counters, gauges and histograms of every shard, and the
// Prometheus text exposition served at GET /metrics on [listen] metrics.
//
// Threading: the one departure from shared-nothing, for observability
// only: each shard writes its own shard_metrics (relaxed atomics, its own
// cache lines); whichever shard answers a scrape reads all of them. The
// per-destination queue table is published by its shard once a second under
// a mutex that only that shard and the scraper take.
// Limits: 256 shards (the config's maximum); an HTTP request of 8 KiB; one
// request per connection (Connection: close).
#pragma once

#include "posthorn/net.hh"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace posthorn::app {

// Cumulative buckets, upper bounds in microseconds (the last is +Inf).
struct histogram {
    static constexpr std::array<uint64_t, 14> bounds_us{100,     250,     500,       1'000,     2'500,     5'000,     10'000,
                                                        25'000,  50'000,  100'000,   250'000,   1'000'000, 10'000'000, 60'000'000};
    std::array<std::atomic<uint64_t>, bounds_us.size() + 1> counts{};
    std::atomic<uint64_t> sum_us{0};
    void observe(uint64_t us) noexcept;
};

struct destination_row {
    std::string name;
    uint64_t waiting = 0;
    uint64_t oldest_age_ms = 0;
    uint32_t connections = 0;
};

struct alignas(64) shard_metrics {
    std::atomic<bool> active{false};
    std::atomic<uint64_t> messages_received{0};   // 250 sent after the fsync
    std::atomic<uint64_t> rcpts_delivered{0};     // relayed (2xx from the next hop) or stored locally
    std::atomic<uint64_t> local_deliveries{0};    // made durable in a mailbox (counted by the owner shard)
    std::atomic<uint64_t> rcpts_bounced{0};
    std::atomic<uint64_t> rcpts_deferred{0};
    std::atomic<uint64_t> dsns_sent{0};
    std::atomic<int64_t> smtp_connections{0};     // inbound, open now
    std::atomic<int64_t> relay_connections{0};    // outbound, open now
    std::atomic<int64_t> queue_messages{0};       // in the delivery queue now
    std::atomic<uint64_t> directory_generation{0};  // the directory this shard reads (1 at start, +1 per reload)
    std::atomic<uint64_t> reloads_ok{0};          // shard 0's reloader: reloads applied
    std::atomic<uint64_t> reloads_failed{0};      //   and refused (the file did not parse or validate)
    histogram fsync_latency;                      // group-commit fdatasync
    histogram delivery_latency;                   // arrival -> 2xx from the next hop
    mutable std::mutex destinations_lock;  // the scraper locks it through a const registry
    std::vector<destination_row> destinations;    // published about once a second
};

class metrics_registry {
public:
    shard_metrics& shard(uint32_t id) noexcept;
    std::string render() const;

private:
    std::array<shard_metrics, 256> _shards;
};

// GET /metrics -> 200 text/plain (Prometheus 0.0.4); anything else -> 404
// or 400; then close.
class metrics_node final : public net::handler {
public:
    explicit metrics_node(const metrics_registry& m) : _metrics(m) {}
    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_close(net::connection& c) noexcept override;

private:
    const metrics_registry& _metrics;
};

}  // namespace posthorn::app
