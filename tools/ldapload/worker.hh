// One epoll loop of posthorn-ldapload and the connections it drives. Each
// connection keeps `depth` SearchRequests outstanding: the loop reads what
// came in, frames it into LDAPMessages (ber.hh), counts SearchResultEntry per
// outstanding request, and on its SearchResultDone checks the request
// (resultCode 0, the expected entries, for eq-mail the address among the
// entry's values), records its latency and sends the next one. All requests
// of one loop turn go out in one write per connection.
//
// Threading: a worker and its connections belong to one thread; they share
// only the run (read-only options, the start and deadline, an atomic error
// count) with the others. Limits: a response message up to
// message_bytes_max; a connection with searches outstanding that sees no
// byte for timeout_ms is an error and is dropped. Failures are counted in the
// result and the first few are printed on stderr, never thrown.
#pragma once

#include "options.hh"

#include <atomic>
#include <cstdint>
#include <latch>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace posthorn::ldapload {

struct run_state {
    const options& o;
    const std::vector<std::string>& mails;  // eq-mail's addresses
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::latch ready;                        // every worker connected (and bound)
    std::latch go{1};
    std::atomic<uint64_t> deadline_ns{0};
    std::atomic<uint64_t> errors{0};         // all workers: --max-errors stops new searches
    std::atomic<bool> setup_failed{false};
    run_state(const options& opts, const std::vector<std::string>& m, uint32_t workers)
        : o(opts), mails(m), ready(static_cast<ptrdiff_t>(workers)) {}
};

struct worker_result {
    uint64_t searches = 0;   // completed and checked, without error
    uint64_t entries = 0;    // entries of those searches
    uint64_t bytes_in = 0;   // during the measured phase
    uint64_t errors = 0;
    uint64_t end_ns = 0;     // the last completion
    std::vector<uint32_t> lat_us;
};

uint64_t now_ns() noexcept;

// Thread body: connects (and binds) connections [first, first + count),
// counts down run.ready, waits for run.go, runs until the deadline and until
// its outstanding searches are answered, then unbinds and closes.
void worker_main(run_state& run, uint32_t first, uint32_t count, worker_result& out);

}  // namespace posthorn::ldapload
