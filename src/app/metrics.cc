// Prometheus text exposition of the shards' metrics, and the tiny HTTP
// server in front of it.
#include "metrics.hh"

#include "posthorn/core/log.hh"

#include <fmt/format.h>

#include <map>

namespace posthorn::app {

void histogram::observe(uint64_t us) noexcept {
    size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i]) ++i;
    counts[i].fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(us, std::memory_order_relaxed);
}

shard_metrics& metrics_registry::shard(uint32_t id) noexcept {
    shard_metrics& m = _shards[id % _shards.size()];
    m.active.store(true, std::memory_order_relaxed);
    return m;
}

namespace {
template <typename F>
uint64_t sum_of(const std::array<shard_metrics, 256>& shards, F field) {
    uint64_t total = 0;
    for (const auto& s : shards)
        if (s.active.load(std::memory_order_relaxed)) total += static_cast<uint64_t>(field(s).load(std::memory_order_relaxed));
    return total;
}

void counter(std::string& out, const char* name, const char* help, const char* type, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
}

void render_histogram(std::string& out, const std::array<shard_metrics, 256>& shards, const char* name,
                      const char* help, const histogram shard_metrics::*which) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    uint64_t cumulative = 0, sum_us = 0;
    std::array<uint64_t, histogram::bounds_us.size() + 1> counts{};
    for (const auto& s : shards) {
        if (!s.active.load(std::memory_order_relaxed)) continue;
        const histogram& h = s.*which;
        for (size_t i = 0; i < counts.size(); ++i) counts[i] += h.counts[i].load(std::memory_order_relaxed);
        sum_us += h.sum_us.load(std::memory_order_relaxed);
    }
    for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        if (i < histogram::bounds_us.size())
            out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, static_cast<double>(histogram::bounds_us[i]) / 1e6,
                               cumulative);
        else
            out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    }
    out += fmt::format("{}_sum {}\n{}_count {}\n", name, static_cast<double>(sum_us) / 1e6, name, cumulative);
}
}  // namespace

std::string metrics_registry::render() const {
    std::string out;
    out.reserve(4096);
    auto field = [](auto member) { return [member](const shard_metrics& s) -> decltype(auto) { return s.*member; }; };
    counter(out, "posthorn_messages_received_total", "Messages accepted (250 after fdatasync).", "counter",
            sum_of(_shards, field(&shard_metrics::messages_received)));
    counter(out, "posthorn_recipients_delivered_total", "Recipients handed to the next hop (2xx) or stored locally.",
            "counter", sum_of(_shards, field(&shard_metrics::rcpts_delivered)));
    counter(out, "posthorn_local_deliveries_total", "Recipients made durable in a local mailbox.", "counter",
            sum_of(_shards, field(&shard_metrics::local_deliveries)));
    counter(out, "posthorn_recipients_bounced_total", "Recipients bounced (5xx or expired).", "counter",
            sum_of(_shards, field(&shard_metrics::rcpts_bounced)));
    counter(out, "posthorn_recipients_deferred_total", "Delivery attempts deferred (4xx, refused, timeout).", "counter",
            sum_of(_shards, field(&shard_metrics::rcpts_deferred)));
    counter(out, "posthorn_dsns_total", "Delivery status notifications queued.", "counter",
            sum_of(_shards, field(&shard_metrics::dsns_sent)));
    counter(out, "posthorn_queue_messages", "Messages in the delivery queue (MX ones wait in the spool).",
            "gauge", sum_of(_shards, field(&shard_metrics::queue_messages)));
    out += "# HELP posthorn_connections Open connections by protocol and direction.\n# TYPE posthorn_connections gauge\n";
    out += fmt::format("posthorn_connections{{proto=\"smtp\",direction=\"in\"}} {}\n",
                       sum_of(_shards, field(&shard_metrics::smtp_connections)));
    out += fmt::format("posthorn_connections{{proto=\"smtp\",direction=\"out\"}} {}\n",
                       sum_of(_shards, field(&shard_metrics::relay_connections)));
    out += "# HELP posthorn_directory_generation The directory generation each shard reads (1 at start, +1 per "
           "reload).\n# TYPE posthorn_directory_generation gauge\n";
    for (size_t i = 0; i < _shards.size(); ++i)
        if (_shards[i].active.load(std::memory_order_relaxed))
            out += fmt::format("posthorn_directory_generation{{shard=\"{}\"}} {}\n", i,
                               _shards[i].directory_generation.load(std::memory_order_relaxed));
    out += "# HELP posthorn_directory_reloads_total Directory reloads (SIGHUP, posthorn reload) by outcome.\n"
           "# TYPE posthorn_directory_reloads_total counter\n";
    out += fmt::format("posthorn_directory_reloads_total{{result=\"ok\"}} {}\n",
                       sum_of(_shards, field(&shard_metrics::reloads_ok)));
    out += fmt::format("posthorn_directory_reloads_total{{result=\"failed\"}} {}\n",
                       sum_of(_shards, field(&shard_metrics::reloads_failed)));
    render_histogram(out, _shards, "posthorn_fsync_seconds", "Group-commit fdatasync latency.",
                     &shard_metrics::fsync_latency);
    render_histogram(out, _shards, "posthorn_delivery_seconds", "From arrival to the next hop's 2xx.",
                     &shard_metrics::delivery_latency);

    // Per destination, summed over shards (each shard queues on its own).
    std::map<std::string, destination_row> rows;
    for (const auto& s : _shards) {
        if (!s.active.load(std::memory_order_relaxed)) continue;
        std::lock_guard<std::mutex> g(s.destinations_lock);
        for (const auto& r : s.destinations) {
            destination_row& t = rows[r.name];
            t.waiting += r.waiting;
            t.connections += r.connections;
            t.oldest_age_ms = std::max(t.oldest_age_ms, r.oldest_age_ms);
        }
    }
    out += "# HELP posthorn_destination_queue Items waiting per next hop.\n# TYPE posthorn_destination_queue gauge\n";
    for (const auto& [name, r] : rows) out += fmt::format("posthorn_destination_queue{{destination=\"{}\"}} {}\n", name, r.waiting);
    out += "# HELP posthorn_destination_oldest_seconds Age of the oldest waiting item per next hop.\n"
           "# TYPE posthorn_destination_oldest_seconds gauge\n";
    for (const auto& [name, r] : rows)
        out += fmt::format("posthorn_destination_oldest_seconds{{destination=\"{}\"}} {}\n", name,
                           static_cast<double>(r.oldest_age_ms) / 1000);
    out += "# HELP posthorn_destination_connections Open connections per next hop.\n"
           "# TYPE posthorn_destination_connections gauge\n";
    for (const auto& [name, r] : rows)
        out += fmt::format("posthorn_destination_connections{{destination=\"{}\"}} {}\n", name, r.connections);
    return out;
}

void metrics_node::on_open(net::connection& c) noexcept {
    c.set_idle_timeout_ms(10'000);
    c.set_context(new std::string());  // the request so far
}

size_t metrics_node::on_data(net::connection& c, const core::slice& bytes) noexcept {
    auto* req = static_cast<std::string*>(c.context());
    if (c.closing() || !req) return bytes.length;
    req->append(bytes.view());
    size_t end = req->find("\r\n\r\n");
    if (end == std::string::npos) {
        if (req->size() > 8192) {
            c.write("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            c.close();
        }
        return bytes.length;
    }
    std::string_view line = std::string_view(*req).substr(0, req->find("\r\n"));
    if (line.rfind("GET /metrics ", 0) == 0 || line.rfind("GET /metrics?", 0) == 0) {
        std::string body = _metrics.render();
        c.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                            "Content-Length: {}\r\nConnection: close\r\n\r\n",
                            body.size()));
        c.write(body);
    } else if (line.rfind("GET ", 0) == 0) {
        c.write("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n");
    } else {
        core::log::info("event=metrics_bad_request line=\"{}\"", line.substr(0, 80));
        c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    c.close();
    return bytes.length;
}

void metrics_node::on_close(net::connection& c) noexcept {
    delete static_cast<std::string*>(c.context());
    c.set_context(nullptr);
}

}  // namespace posthorn::app
