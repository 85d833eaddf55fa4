// One worker thread: an epoll loop driving its share of the SMTP client
// sessions over non-blocking sockets. Workers share only run_state (atomics and
// read-only data); each keeps its own counters and histogram, read by main
// after join. A worker never throws out of run(); socket errors become counted,
// reported errors.
#pragma once

#include "histogram.hh"
#include "message.hh"
#include "options.hh"

#include <atomic>
#include <cstdint>
#include <map>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace posthorn::loadgen {

struct run_state {
    const options* opts = nullptr;
    const message_source* source = nullptr;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::atomic<uint64_t> claimed{0};         // messages handed to sessions so far
    std::atomic<uint32_t> idle_settled{0};    // idle mode: sessions ready or failed
    std::atomic<uint32_t> idle_ready{0};      // idle mode: sessions that got through EHLO
    std::atomic<bool> stop{false};            // idle mode: release the sessions
    std::atomic<uint64_t> errors{0};          // all threads; past max_errors nothing new starts

    bool claim() noexcept {
        if (opts->max_errors != 0 && errors.load(std::memory_order_relaxed) >= opts->max_errors)
            return false;
        uint64_t c = claimed.load(std::memory_order_relaxed);
        while (c < opts->messages) {
            if (claimed.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) return true;
        }
        return false;
    }
};

struct worker_result {
    histogram latency;            // end of DATA -> 250, µs
    uint64_t msgs_ok = 0;
    uint64_t msg_errors = 0;      // claimed messages that were not accepted
    uint64_t session_errors = 0;  // failures outside a transaction (QUIT, idle)
    uint64_t message_bytes = 0;   // header + body of accepted messages
    uint64_t connects = 0;
    uint64_t connect_retries = 0;
    uint64_t late_closes = 0;     // server kept the connection open 1 s after 221
    uint32_t idle_ready = 0;
    bool pipelining_seen = false;
    std::map<std::string, uint64_t> unexpected;  // "stage: reply or event" -> count
};

// Runs count sessions until all messages are claimed and done (or, idle, until
// run_state::stop). Returns its counters.
worker_result run_worker(run_state& rs, uint32_t thread_index, uint32_t count);

}  // namespace posthorn::loadgen
