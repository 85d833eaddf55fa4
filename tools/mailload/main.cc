// posthorn-mailload: an IMAP and POP3 load generator for
// bench/compare/mailbox_vs_dovecot.sh. One blocking client per thread: the
// clients connect and log in (and, for IMAP, SELECT INBOX), wait for each
// other, then repeat their operation until --seconds have passed; main merges
// their counts and prints one key=value line on stdout:
//
//   mode=imap-fetch-body clients=16 ops=81234 secs=5.001 ops_per_s=16243.6
//   mb_per_s=402.1 errors=0 p50_us=812 p99_us=3100 exists=10000 client_cpu_s=2.10
//
// secs runs from the common start to the end of the last operation that
// finished; an operation still running at the deadline is completed and
// counted. mb_per_s counts every byte received in that time (responses,
// literals, protocol). Every response is checked cheaply (see check_* below);
// a failed check, a NO/BAD/-ERR or a broken connection is an error: it is
// printed on stderr and that client stops. Exit: 0 if errors=0, 1 if not,
// 2 on bad usage or setup.
//
// imap-idle opens the sessions from --threads threads, prints
// "idle_ready sessions=N ready=R failed=F secs=S" and holds them until --hold
// seconds pass or SIGINT/SIGTERM arrives.
#include "imap.hh"
#include "options.hh"
#include "pop3.hh"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <vector>

namespace posthorn::mailload {
namespace {

std::atomic<bool> g_signalled{false};
extern "C" void on_signal(int) { g_signalled.store(true); }

uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

std::mutex g_err_mutex;
void report_error(uint32_t client, const std::string& what) {
    std::lock_guard<std::mutex> lock(g_err_mutex);
    std::fprintf(stderr, "posthorn-mailload: client %u: %s\n", client, what.c_str());
}

std::string user_for(const options& o, uint32_t client) {
    std::string u = o.user;
    size_t p = u.find("%d");
    if (p != std::string::npos) u.replace(p, 2, std::to_string(client + 1));
    return u;
}

struct client_result {
    uint64_t ops = 0;
    uint64_t bytes = 0;      // received during the measured phase
    uint64_t mailboxes = 0;  // pop3: complete RETR 1..N passes
    uint64_t in_use_retries = 0;
    uint64_t errors = 0;
    uint64_t end_ns = 0;     // end of the last operation
    int64_t exists = -1;     // messages seen in INBOX (SELECT EXISTS, or LIST)
    int64_t hits = -1;       // SEARCH matches
    std::vector<uint32_t> lat_us;
};

struct run {
    const options& o;
    endpoint ep;
    std::latch ready;
    std::latch go{1};
    std::atomic<uint64_t> start_ns{0};
    std::atomic<uint64_t> deadline_ns{0};
    run(const options& opts, const endpoint& e) : o(opts), ep(e), ready(static_cast<ptrdiff_t>(opts.clients)) {}
};

// Counts messages as SELECT reports them; -1 if no EXISTS came.
struct exists_counter {
    int64_t exists = -1;
    void operator()(const imap_response& r) {
        int64_t n = imap_numbered(r.text, "EXISTS");
        if (n >= 0) exists = n;
    }
};

bool check_count(const options& o, int64_t seen, int64_t& known, const char* what, std::string& err) {
    int64_t want = known;
    if (std::string_view(what) == "EXISTS" && o.expect_msgs >= 0) want = o.expect_msgs;
    if (std::string_view(what) == "SEARCH hits" && o.expect_hits >= 0) want = o.expect_hits;
    if (want >= 0 && seen != want) {
        err = std::string(what) + " " + std::to_string(seen) + ", expected " + std::to_string(want);
        return false;
    }
    known = seen;
    return true;
}

// ---- IMAP ------------------------------------------------------------------

// One client of an imap-* throughput mode.
void imap_client_main(run& rn, uint32_t id, client_result& res) {
    const options& o = rn.o;
    imap_client c(o.timeout_ms);
    std::string err;
    std::vector<uint64_t> sizes;  // fetch-body: RFC822.SIZE by sequence number - 1
    std::mt19937_64 rng(o.seed * 1000003u + id);
    bool ok = c.open(rn.ep) && c.login(user_for(o, id), o.password);
    if (ok && o.m != mode::imap_select) {
        exists_counter ec;
        ok = c.command("SELECT INBOX", ec);
        if (ok && !check_count(o, ec.exists, res.exists, "EXISTS", err)) ok = false;
    }
    if (ok && o.m == mode::imap_fetch_body && res.exists > 0) {
        sizes.assign(static_cast<size_t>(res.exists), UINT64_MAX);
        ok = c.command("FETCH 1:* (RFC822.SIZE)", [&](const imap_response& r) {
            int64_t n = imap_numbered(r.text, "FETCH");
            int64_t size = imap_number_after(r.text, "RFC822.SIZE");
            if (n >= 1 && n <= res.exists && size >= 0) sizes[static_cast<size_t>(n - 1)] = static_cast<uint64_t>(size);
        });
        if (ok && std::count(sizes.begin(), sizes.end(), UINT64_MAX) != 0) {
            err = "FETCH 1:* (RFC822.SIZE) left sizes out";
            ok = false;
        }
    }
    if (ok && o.m == mode::imap_fetch_body && res.exists <= 0) {
        err = "INBOX is empty";
        ok = false;
    }
    if (!ok) {
        report_error(id, "setup: " + (err.empty() ? c.error() : err));
        res.errors = 1;
        rn.ready.count_down();
        return;
    }
    rn.ready.count_down();
    rn.go.wait();
    const uint64_t deadline = rn.deadline_ns.load();
    const uint64_t bytes0 = c.bytes_in();
    const std::string search_cmd = "SEARCH FROM \"" + o.search + "\"";
    res.lat_us.reserve(1 << 16);
    uint64_t t = now_ns();
    while (t < deadline && !g_signalled.load(std::memory_order_relaxed)) {
        const uint64_t t0 = t;
        switch (o.m) {
        case mode::imap_select: {
            exists_counter ec;
            ok = c.command("SELECT INBOX", ec) && check_count(o, ec.exists, res.exists, "EXISTS", err);
            break;
        }
        case mode::imap_fetch_envelope: {
            // One FETCH response with an ENVELOPE per message, nothing less.
            int64_t got = 0;
            ok = c.command("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", [&](const imap_response& r) {
                if (imap_numbered(r.text, "FETCH") >= 1 && r.text.find("ENVELOPE (") != std::string::npos &&
                    imap_number_after(r.text, "RFC822.SIZE") >= 0)
                    ++got;
            });
            if (ok && got != res.exists) {
                err = "FETCH 1:* gave " + std::to_string(got) + " envelopes for " + std::to_string(res.exists) +
                      " messages";
                ok = false;
            }
            break;
        }
        case mode::imap_search_from: {
            int64_t hits = -1;
            ok = c.command(search_cmd, [&](const imap_response& r) {
                if (r.text.compare(0, 8, "* SEARCH") != 0) return;
                hits = 0;
                for (size_t i = 8; i < r.text.size(); ++i)
                    if (r.text[i] == ' ' && i + 1 < r.text.size() && std::isdigit(static_cast<unsigned char>(r.text[i + 1])))
                        ++hits;
            });
            if (ok && hits < 0) {
                err = "SEARCH: no * SEARCH response";
                ok = false;
            }
            ok = ok && check_count(o, hits, res.hits, "SEARCH hits", err);
            break;
        }
        case mode::imap_fetch_body: {
            const uint64_t n = rng() % sizes.size() + 1;
            int64_t body = -1;
            ok = c.command("FETCH " + std::to_string(n) + " BODY[]", [&](const imap_response& r) {
                if (imap_numbered(r.text, "FETCH") != static_cast<int64_t>(n)) return;
                for (const imap_literal& l : r.literals) {
                    size_t b = r.text.rfind("BODY[] {", l.at);
                    if (b != std::string::npos && l.at - b < 32) body = static_cast<int64_t>(l.size);
                }
            });
            if (ok && body != static_cast<int64_t>(sizes[n - 1])) {
                err = "FETCH " + std::to_string(n) + " BODY[]: literal of " + std::to_string(body) +
                      " bytes, RFC822.SIZE " + std::to_string(sizes[n - 1]);
                ok = false;
            }
            break;
        }
        default: ok = false; break;
        }
        t = now_ns();
        if (!ok) {
            report_error(id, err.empty() ? c.error() : err);
            res.errors = 1;
            break;
        }
        ++res.ops;
        res.lat_us.push_back(static_cast<uint32_t>(std::min<uint64_t>((t - t0) / 1000, UINT32_MAX)));
    }
    res.end_ns = t;
    res.bytes = c.bytes_in() - bytes0;
    if (ok) c.logout();
}

// ---- POP3 -------------------------------------------------------------------

// One client of pop3-retr-all: whole-mailbox passes on new connections until
// the deadline; ops = messages retrieved.
void pop3_client_main(run& rn, uint32_t id, client_result& res) {
    const options& o = rn.o;
    rn.ready.count_down();
    rn.go.wait();
    const uint64_t deadline = rn.deadline_ns.load();
    std::vector<uint64_t> sizes;
    std::string err;
    uint64_t t = now_ns();
    while (t < deadline && !g_signalled.load(std::memory_order_relaxed)) {
        pop3_client c(o.timeout_ms);
        bool ok = c.open(rn.ep);
        bool in_use = false;
        // RFC 1939 locks the maildrop per session: a server may still hold
        // the lock of this client's previous session for a moment.
        for (int tries = 0; ok; ++tries) {
            if (c.login(user_for(o, id), o.password, in_use)) break;
            if (!in_use || tries >= 200) {
                ok = false;
                break;
            }
            ++res.in_use_retries;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            ok = c.open(rn.ep);
        }
        ok = ok && c.list(sizes) && check_count(o, static_cast<int64_t>(sizes.size()), res.exists, "EXISTS", err);
        uint64_t n = 1;
        for (; ok && n <= sizes.size(); ++n) {
            const uint64_t t0 = now_ns();
            uint64_t size = 0;
            ok = c.retr(n, size);
            if (ok && size != sizes[n - 1]) {
                err = "RETR " + std::to_string(n) + ": " + std::to_string(size) + " bytes, LIST said " +
                      std::to_string(sizes[n - 1]);
                ok = false;
            }
            t = now_ns();
            if (!ok) break;
            ++res.ops;
            res.lat_us.push_back(static_cast<uint32_t>(std::min<uint64_t>((t - t0) / 1000, UINT32_MAX)));
            if (t >= deadline || g_signalled.load(std::memory_order_relaxed)) break;
        }
        if (ok && n > sizes.size()) ++res.mailboxes;
        ok = ok && c.quit();
        res.bytes += c.bytes_in();
        t = now_ns();
        if (!ok) {
            report_error(id, err.empty() ? c.error() : err);
            res.errors = 1;
            break;
        }
    }
    res.end_ns = t;
}

// ---- throughput modes: start, merge, print -----------------------------------

int run_throughput(const options& o, const endpoint& ep) {
    run rn(o, ep);
    std::vector<client_result> results(o.clients);
    std::vector<std::thread> threads;
    threads.reserve(o.clients);
    for (uint32_t i = 0; i < o.clients; ++i)
        threads.emplace_back(o.m == mode::pop3_retr_all ? pop3_client_main : imap_client_main, std::ref(rn), i,
                             std::ref(results[i]));
    rn.ready.wait();
    const uint64_t start = now_ns();
    rn.start_ns.store(start);
    rn.deadline_ns.store(start + static_cast<uint64_t>(o.seconds * 1e9));
    rn.go.count_down();
    for (auto& th : threads) th.join();

    client_result all;
    uint64_t end = start;
    std::vector<uint32_t> lat;
    for (const client_result& r : results) {
        all.ops += r.ops;
        all.bytes += r.bytes;
        all.mailboxes += r.mailboxes;
        all.in_use_retries += r.in_use_retries;
        all.errors += r.errors;
        end = std::max(end, r.end_ns);
        if (r.exists >= 0) {
            if (all.exists >= 0 && all.exists != r.exists) ++all.errors;  // clients disagree
            all.exists = r.exists;
        }
        if (r.hits >= 0) {
            if (all.hits >= 0 && all.hits != r.hits) ++all.errors;
            all.hits = r.hits;
        }
        lat.insert(lat.end(), r.lat_us.begin(), r.lat_us.end());
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) -> uint32_t {
        return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))];
    };
    const double secs = static_cast<double>(end - start) / 1e9;
    // This process's own CPU (setup included): a client near 100 % of a core
    // per thread, or of the machine, would be the bottleneck.
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("mode=%s clients=%u ops=%llu secs=%.3f ops_per_s=%.1f mb_per_s=%.2f errors=%llu p50_us=%u p99_us=%u "
                "exists=%lld client_cpu_s=%.2f",
                mode_name(o.m), o.clients, static_cast<unsigned long long>(all.ops), secs,
                secs > 0 ? static_cast<double>(all.ops) / secs : 0.0,
                secs > 0 ? static_cast<double>(all.bytes) / secs / 1e6 : 0.0,
                static_cast<unsigned long long>(all.errors), pct(0.5), pct(0.99), static_cast<long long>(all.exists), cpu_s);
    if (o.m == mode::imap_search_from) std::printf(" hits=%lld", static_cast<long long>(all.hits));
    if (o.m == mode::pop3_retr_all)
        std::printf(" mailboxes=%llu in_use_retries=%llu", static_cast<unsigned long long>(all.mailboxes),
                    static_cast<unsigned long long>(all.in_use_retries));
    std::printf("\n");
    std::fflush(stdout);
    return all.errors == 0 && all.ops > 0 ? 0 : 1;
}

// ---- imap-idle ------------------------------------------------------------------

int run_idle(const options& o, const endpoint& ep) {
    std::vector<std::unique_ptr<imap_client>> sessions(o.clients);
    std::atomic<uint32_t> ready{0}, failed{0};
    const uint64_t t0 = now_ns();
    std::vector<std::thread> threads;
    const uint32_t nthreads = std::min(o.threads, o.clients);
    for (uint32_t t = 0; t < nthreads; ++t)
        threads.emplace_back([&, t] {
            for (uint32_t i = t; i < o.clients && !g_signalled.load(); i += nthreads) {
                auto c = std::make_unique<imap_client>(o.timeout_ms);
                c->transport().set_buffer_bytes(4096);
                exists_counter ec;
                if (c->open(ep) && c->login(user_for(o, i), o.password) && c->command("SELECT INBOX", ec) &&
                    c->idle()) {
                    ready.fetch_add(1);
                    sessions[i] = std::move(c);
                } else {
                    if (failed.fetch_add(1) < 10) report_error(i, c->error());
                }
            }
        });
    for (auto& th : threads) th.join();
    std::printf("idle_ready sessions=%u ready=%u failed=%u secs=%.3f\n", o.clients, ready.load(), failed.load(),
                static_cast<double>(now_ns() - t0) / 1e9);
    std::fflush(stdout);
    const uint64_t until = o.hold_s > 0 ? now_ns() + uint64_t{o.hold_s} * 1'000'000'000u : UINT64_MAX;
    while (!g_signalled.load() && now_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Dropping the connections is enough: the server sees EOF in IDLE.
    return failed.load() == 0 ? 0 : 1;
}

bool resolve(const options& o, endpoint& ep) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
        std::fprintf(stderr, "posthorn-mailload: cannot resolve %s: %s\n", o.host.c_str(), gai_strerror(rc));
        return false;
    }
    std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
    ep.len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

void raise_fd_limit(uint32_t clients) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rlim_t{clients} + 64)
        std::fprintf(stderr, "posthorn-mailload: warning: fd limit %llu is below clients=%u\n",
                     static_cast<unsigned long long>(rl.rlim_cur), clients);
}

}  // namespace
}  // namespace posthorn::mailload

int main(int argc, char** argv) {
    using namespace posthorn::mailload;
    options o;
    if (!parse_options(argc, argv, o)) return 2;
    endpoint ep;
    if (!resolve(o, ep)) return 2;
    raise_fd_limit(o.clients);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    return o.m == mode::imap_idle ? run_idle(o, ep) : run_throughput(o, ep);
}
