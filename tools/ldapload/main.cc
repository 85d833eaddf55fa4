// posthorn-ldapload: an LDAP search load generator for
// bench/compare/ldap_vs_slapd.sh. --conns connections, dealt out among
// --threads epoll loops (worker.cc), each connection with --depth
// SearchRequests outstanding; the connections are opened (and bound) first,
// then all start together and run for --seconds; searches outstanding at the
// deadline are answered and counted. main merges the workers' counts and
// prints one key=value line on stdout:
//
//   mode=eq-mail conns=16 depth=8 threads=1 searches=81234 secs=5.002
//   searches_per_s=16240.3 entries=81234 entries_per_s=16240.3 mb_per_s=3.10
//   errors=0 p50_us=812 p99_us=3100 client_cpu_s=0.90 client_cpu_pct=18.0
//
// secs runs from the common start to the last completion. client_cpu_* is
// this process's user+system CPU from the start to the end of the run: a
// client near 100 % of a core per thread would be what limits the rate.
// Exit: 0 if errors=0 and at least one search completed, 1 if not, 2 on bad
// usage or setup (no address list, unresolvable host).
#include "options.hh"
#include "worker.hh"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <netdb.h>
#include <sys/resource.h>
#include <thread>

namespace posthorn::ldapload {
namespace {

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool load_mails(const std::string& path, std::vector<std::string>& out) {
    std::ifstream f(path);
    if (!f) {
        std::fprintf(stderr, "posthorn-ldapload: cannot read %s\n", path.c_str());
        return false;
    }
    std::string line;
    while (std::getline(f, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty()) continue;
        if (line.size() >= 0x80) {
            std::fprintf(stderr, "posthorn-ldapload: %s: address too long: %s\n", path.c_str(), line.c_str());
            return false;
        }
        out.push_back(line);
    }
    if (out.empty()) {
        std::fprintf(stderr, "posthorn-ldapload: %s holds no address\n", path.c_str());
        return false;
    }
    return true;
}

bool resolve(const options& o, run_state& run) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
        std::fprintf(stderr, "posthorn-ldapload: cannot resolve %s: %s\n", o.host.c_str(), gai_strerror(rc));
        return false;
    }
    std::memcpy(&run.addr, res->ai_addr, res->ai_addrlen);
    run.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

void raise_fd_limit(uint32_t conns) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rlim_t{conns} + 64)
        std::fprintf(stderr, "posthorn-ldapload: warning: fd limit %llu is below conns=%u\n",
                     static_cast<unsigned long long>(rl.rlim_cur), conns);
}

int run_load(const options& o) {
    std::vector<std::string> mails;
    if (o.m == mode::eq_mail && !load_mails(o.mails_file, mails)) return 2;
    run_state run(o, mails, o.threads);
    if (!resolve(o, run)) return 2;
    raise_fd_limit(o.conns);

    std::vector<worker_result> results(o.threads);
    std::vector<std::thread> threads;
    uint32_t first = 0;
    for (uint32_t t = 0; t < o.threads; ++t) {
        const uint32_t count = o.conns / o.threads + (t < o.conns % o.threads ? 1 : 0);
        threads.emplace_back(worker_main, std::ref(run), first, count, std::ref(results[t]));
        first += count;
    }
    run.ready.wait();
    const double cpu0 = cpu_seconds();
    const uint64_t start = now_ns();
    run.deadline_ns.store(start + static_cast<uint64_t>(o.seconds * 1e9));
    run.go.count_down();
    for (auto& th : threads) th.join();
    const double cpu_s = cpu_seconds() - cpu0;

    worker_result all;
    uint64_t end = start;
    std::vector<uint32_t> lat;
    for (const worker_result& r : results) {
        all.searches += r.searches;
        all.entries += r.entries;
        all.bytes_in += r.bytes_in;
        all.errors += r.errors;
        end = std::max(end, r.end_ns);
        lat.insert(lat.end(), r.lat_us.begin(), r.lat_us.end());
    }
    if (run.setup_failed.load()) {
        std::fprintf(stderr, "posthorn-ldapload: setup failed (see above): nothing measured\n");
        return 1;
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) -> uint32_t {
        return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))];
    };
    const double secs = static_cast<double>(end - start) / 1e9;
    const double per_s = secs > 0 ? 1.0 / secs : 0.0;
    std::printf("mode=%s conns=%u depth=%u threads=%u searches=%llu secs=%.3f searches_per_s=%.1f entries=%llu "
                "entries_per_s=%.1f mb_per_s=%.2f errors=%llu p50_us=%u p99_us=%u client_cpu_s=%.2f "
                "client_cpu_pct=%.1f\n",
                mode_name(o.m), o.conns, o.depth, o.threads, static_cast<unsigned long long>(all.searches), secs,
                static_cast<double>(all.searches) * per_s, static_cast<unsigned long long>(all.entries),
                static_cast<double>(all.entries) * per_s, static_cast<double>(all.bytes_in) * per_s / 1e6,
                static_cast<unsigned long long>(all.errors), pct(0.5), pct(0.99), cpu_s,
                secs > 0 ? cpu_s * 100.0 / secs : 0.0);
    std::fflush(stdout);
    return all.errors == 0 && all.searches > 0 ? 0 : 1;
}

}  // namespace
}  // namespace posthorn::ldapload

int main(int argc, char** argv) {
    using namespace posthorn::ldapload;
    options o;
    if (!parse_options(argc, argv, o)) return 2;
    std::signal(SIGPIPE, SIG_IGN);
    return run_load(o);
}
