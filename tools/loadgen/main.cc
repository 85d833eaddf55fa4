// posthorn-loadgen: an SMTP load generator. main parses options, resolves the
// server address, raises the fd limit, starts the worker threads, merges their
// results and prints one key=value summary line on stdout; unexpected replies
// go to stderr, counted. Exit: 0 if errors=0, 1 if not, 2 on bad usage/setup.
//
// --idle mode opens the sessions, EHLOs each, prints
// "idle_ready sessions=N ready=R failed=F secs=S" and holds them until --hold seconds
// pass or SIGINT/SIGTERM arrives (for measuring a server's memory per session).
#include "message.hh"
#include "options.hh"
#include "worker.hh"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <netdb.h>
#include <sys/resource.h>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_signalled{false};

extern "C" void on_signal(int) { g_signalled.store(true); }

bool resolve(const posthorn::loadgen::options& o, posthorn::loadgen::run_state& rs) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(o.port);
    int rc = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
        std::fprintf(stderr, "posthorn-loadgen: cannot resolve %s: %s\n", o.host.c_str(),
                     gai_strerror(rc));
        return false;
    }
    std::memcpy(&rs.addr, res->ai_addr, res->ai_addrlen);
    rs.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

void raise_fd_limit(uint32_t sessions) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < rlim_t{sessions} + 64)
        std::fprintf(stderr, "posthorn-loadgen: warning: fd limit %llu is below sessions=%u\n",
                     static_cast<unsigned long long>(rl.rlim_cur), sessions);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace posthorn::loadgen;
    options o;
    if (!parse_options(argc, argv, o)) return 2;
    run_state rs;
    rs.opts = &o;
    if (!resolve(o, rs)) return 2;
    raise_fd_limit(o.sessions);
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    message_source src(o.size_bytes, o.from, o.rcpt);
    rs.source = &src;

    std::vector<worker_result> results(o.threads);
    std::vector<std::thread> threads;
    auto t0 = std::chrono::steady_clock::now();
    for (uint32_t t = 0; t < o.threads; ++t) {
        uint32_t count = o.sessions / o.threads + (t < o.sessions % o.threads ? 1 : 0);
        threads.emplace_back([&rs, &results, t, count] { results[t] = run_worker(rs, t, count); });
    }

    if (o.idle) {
        while (rs.idle_settled.load() < o.sessions && !g_signalled.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        uint32_t ready = rs.idle_ready.load();
        std::printf("idle_ready sessions=%u ready=%u failed=%u secs=%.3f\n", o.sessions, ready,
                    rs.idle_settled.load() - ready,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::fflush(stdout);
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(o.hold_s);
        while (!g_signalled.load() && (o.hold_s == 0 || std::chrono::steady_clock::now() < until))
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        rs.stop.store(true);
    }
    for (std::thread& th : threads) th.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    worker_result all;
    for (worker_result& r : results) {
        all.latency.merge(r.latency);
        all.msgs_ok += r.msgs_ok;
        all.msg_errors += r.msg_errors;
        all.session_errors += r.session_errors;
        all.message_bytes += r.message_bytes;
        all.connects += r.connects;
        all.connect_retries += r.connect_retries;
        all.late_closes += r.late_closes;
        all.idle_ready += r.idle_ready;
        all.pipelining_seen = all.pipelining_seen || r.pipelining_seen;
        for (auto& [k, v] : r.unexpected) all.unexpected[k] += v;
    }
    uint64_t errors = all.msg_errors + all.session_errors;
    uint64_t not_started = o.idle ? 0 : o.messages - rs.claimed.load();
    if (not_started > 0)
        std::fprintf(stderr, "posthorn-loadgen: gave up after %llu errors: %llu message(s) not sent\n",
                     static_cast<unsigned long long>(errors),
                     static_cast<unsigned long long>(not_started));
    if (all.late_closes > 0)
        std::fprintf(stderr,
                     "posthorn-loadgen: warning: %llu connection(s) still open 1 s after 221 "
                     "(the server should close after QUIT; each cost this session 1 s)\n",
                     static_cast<unsigned long long>(all.late_closes));
    for (auto& [k, v] : all.unexpected)
        std::fprintf(stderr, "posthorn-loadgen: unexpected count=%llu %s\n",
                     static_cast<unsigned long long>(v), k.c_str());

    if (o.idle) {
        std::printf("idle_done sessions=%u ready=%u errors=%llu\n", o.sessions, all.idle_ready,
                    static_cast<unsigned long long>(errors));
        return errors == 0 ? 0 : 1;
    }
    double per_s = secs > 0 ? static_cast<double>(all.msgs_ok) / secs : 0;
    double mb_s = secs > 0 ? static_cast<double>(all.msgs_ok) * static_cast<double>(o.size_bytes) /
                                 1e6 / secs
                           : 0;
    double wire_mb_s = secs > 0 ? static_cast<double>(all.message_bytes) / 1e6 / secs : 0;
    std::printf(
        "msgs=%llu secs=%.3f msgs_per_s=%.1f mb_per_s=%.3f errors=%llu p50_us=%llu p99_us=%llu "
        "p999_us=%llu max_us=%llu sessions=%u size=%llu reuse=%d pipelining=%d connects=%llu "
        "connect_retries=%llu late_closes=%llu message_mb_per_s=%.3f\n",
        static_cast<unsigned long long>(all.msgs_ok), secs, per_s, mb_s,
        static_cast<unsigned long long>(errors),
        static_cast<unsigned long long>(all.latency.quantile_us(0.50)),
        static_cast<unsigned long long>(all.latency.quantile_us(0.99)),
        static_cast<unsigned long long>(all.latency.quantile_us(0.999)),
        static_cast<unsigned long long>(all.latency.max_us()), o.sessions,
        static_cast<unsigned long long>(o.size_bytes), o.reuse ? 1 : 0,
        (o.pipelining && all.pipelining_seen) ? 1 : 0,
        static_cast<unsigned long long>(all.connects),
        static_cast<unsigned long long>(all.connect_retries),
        static_cast<unsigned long long>(all.late_closes), wire_mb_s);
    return errors == 0 ? 0 : 1;
}
