// net::resolver on both backends, against a small DNS server on a loopback
// UDP port (a thread answering from a fixed table): MX order and addresses,
// implicit MX, null MX, NXDOMAIN, SERVFAIL, timeouts, exchangers without
// addresses, the cache, callbacks only from the loop, and shutdown with
// lookups in flight.
#include "posthorn/core/reactor.hh"
#include "posthorn/net/resolver.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace posthorn;
using core::io_mode;

namespace {

constexpr uint16_t t_a = 1, t_mx = 15, t_aaaa = 28;

struct rr {
    uint16_t type;
    uint32_t ttl;
    std::string rdata;  // wire bytes
};

struct zone_entry {
    uint8_t rcode = 0;  // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
    std::vector<rr> answers;
    bool drop = false;  // never answer
};

std::string wire_name(const std::string& name) {
    std::string out;
    size_t pos = 0;
    while (pos < name.size()) {
        size_t dot = name.find('.', pos);
        if (dot == std::string::npos) dot = name.size();
        out += static_cast<char>(dot - pos);
        out += name.substr(pos, dot - pos);
        pos = dot + 1;
    }
    out += '\0';
    return out;
}

rr mx(uint16_t pref, const std::string& host, uint32_t ttl = 300) {
    std::string d;
    d += static_cast<char>(pref >> 8);
    d += static_cast<char>(pref & 0xff);
    d += host == "." ? std::string(1, '\0') : wire_name(host);
    return rr{t_mx, ttl, d};
}

rr a(const char* ip, uint32_t ttl = 300) {
    in_addr x{};
    inet_pton(AF_INET, ip, &x);
    return rr{t_a, ttl, std::string(reinterpret_cast<const char*>(&x), 4)};
}

rr aaaa(const char* ip, uint32_t ttl = 300) {
    in6_addr x{};
    inet_pton(AF_INET6, ip, &x);
    return rr{t_aaaa, ttl, std::string(reinterpret_cast<const char*>(&x), 16)};
}

// Answers questions from `zone` keyed "name/type"; unknown names NXDOMAIN,
// known names without the type NODATA.
class fake_dns {
public:
    std::map<std::string, zone_entry> zone;

    void start() {
        _fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(_fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
        socklen_t len = sizeof sin;
        ::getsockname(_fd, reinterpret_cast<sockaddr*>(&sin), &len);
        port = ntohs(sin.sin_port);
        _thread = std::thread([this] { loop(); });
    }
    ~fake_dns() {
        _stop = true;
        if (_thread.joinable()) _thread.join();
        if (_fd >= 0) ::close(_fd);
    }
    int queries(const std::string& key) {
        std::lock_guard g(_lock);
        return _counts[key];
    }
    uint16_t port = 0;

private:
    void loop() {
        while (!_stop) {
            pollfd p{_fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            unsigned char q[512];
            sockaddr_in from{};
            socklen_t flen = sizeof from;
            ssize_t n = ::recvfrom(_fd, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &flen);
            if (n < 17) continue;
            std::string name;
            size_t off = 12;
            while (off < static_cast<size_t>(n) && q[off] != 0) {
                if (!name.empty()) name += '.';
                name.append(reinterpret_cast<const char*>(q + off + 1), q[off]);
                off += 1 + q[off];
            }
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            off += 1;
            if (off + 4 > static_cast<size_t>(n)) continue;
            uint16_t type = static_cast<uint16_t>((q[off] << 8) | q[off + 1]);
            size_t question_end = off + 4;
            std::string key = name + "/" + std::to_string(type);
            {
                std::lock_guard g(_lock);
                ++_counts[key];
            }
            zone_entry e;
            if (auto it = zone.find(key); it != zone.end()) {
                e = it->second;
            } else {
                bool known = false;
                for (const auto& [k, v] : zone) known |= k.rfind(name + "/", 0) == 0;
                e.rcode = known ? 0 : 3;
            }
            if (e.drop) continue;
            std::string out(reinterpret_cast<const char*>(q), question_end);
            out[2] = static_cast<char>(0x81);  // QR, RD
            out[3] = static_cast<char>(0x80 | e.rcode);  // RA
            out[6] = 0;
            out[7] = static_cast<char>(e.answers.size());
            out[8] = out[9] = out[10] = out[11] = 0;
            for (const rr& r : e.answers) {
                out += "\xc0\x0c";  // the question's name
                out += static_cast<char>(r.type >> 8);
                out += static_cast<char>(r.type & 0xff);
                out += std::string("\x00\x01", 2);
                for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((r.ttl >> s) & 0xff);
                out += static_cast<char>(r.rdata.size() >> 8);
                out += static_cast<char>(r.rdata.size() & 0xff);
                out += r.rdata;
            }
            ::sendto(_fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
    }

    int _fd = -1;
    std::atomic<bool> _stop{false};
    std::thread _thread;
    std::mutex _lock;
    std::map<std::string, int> _counts;
};

class resolver_test : public ::testing::TestWithParam<io_mode> {
protected:
    void SetUp() override {
        POSTHORN_SKIP_WITHOUT(GetParam());
        reactor = test::make_reactor(pool, GetParam());
        ASSERT_TRUE(reactor);
        guard.arm(*reactor, 10000);
    }
    void TearDown() override {
        if (!reactor) return;
        if (dns) dns->shutdown();
        reactor->run_until_idle();
        dns.reset();
        guard.disarm();
    }
    void start(uint32_t timeout_ms = 500, uint32_t tries = 2) {
        server.start();
        net::resolver_options o;
        o.servers = {"127.0.0.1:" + std::to_string(server.port)};
        o.timeout_ms = timeout_ms;
        o.tries = tries;
        auto r = net::resolver::create(*reactor, o);
        ASSERT_TRUE(r.ok()) << r.err().what;
        dns = std::move(r.value());
    }
    // Runs one lookup to its end.
    net::dns_answer mx_of(const std::string& domain, uint16_t port = 25) {
        std::optional<net::dns_answer> got;
        core::reactor* r = reactor.get();
        dns->resolve_mx(domain, port, [&got, r](const net::dns_answer& ans) noexcept {
            got = ans;
            r->request_turn();  // this turn must not sleep: the loop below checks `got`
        });
        EXPECT_FALSE(got) << "called back from inside resolve_mx";
        while (!got && !guard.expired()) {
            core::timer_id tick = reactor->schedule(core::reactor::clock_ms() + 5, []() noexcept {});  // now_ms() is the turn start: stale here
            reactor->run_once(true);
            reactor->cancel(tick);
        }
        return got.value_or(net::dns_answer{});
    }
    static std::vector<std::string> texts(const net::mail_exchanger& m) {
        std::vector<std::string> out;
        for (const auto& ep : m.addresses) out.push_back(ep.text());
        return out;
    }

    core::chunk_pool pool{4096, 64};
    std::unique_ptr<core::reactor> reactor;
    test::hang_guard guard;
    fake_dns server;
    std::unique_ptr<net::resolver> dns;
};

}  // namespace

TEST_P(resolver_test, mx_records_come_back_in_preference_order_with_their_addresses) {
    server.zone["mx.test/15"] = {0, {mx(20, "b.mx.test"), mx(10, "a.mx.test")}};
    server.zone["a.mx.test/1"] = {0, {a("127.0.0.2")}};
    server.zone["b.mx.test/1"] = {0, {a("127.0.0.3")}};
    server.zone["b.mx.test/28"] = {0, {aaaa("::1")}};
    start();
    net::dns_answer ans = mx_of("mx.test", 2525);
    ASSERT_EQ(ans.outcome, net::dns_outcome::ok) << ans.text;
    ASSERT_EQ(ans.hosts.size(), 2u);
    EXPECT_EQ(ans.hosts[0].host, "a.mx.test");
    EXPECT_EQ(ans.hosts[0].preference, 10);
    EXPECT_EQ(texts(ans.hosts[0]), (std::vector<std::string>{"127.0.0.2:2525"}));
    EXPECT_EQ(ans.hosts[1].host, "b.mx.test");
    EXPECT_EQ(texts(ans.hosts[1]), (std::vector<std::string>{"127.0.0.3:2525", "[::1]:2525"}));
}

TEST_P(resolver_test, a_domain_without_mx_records_is_its_own_exchanger) {
    server.zone["plain.test/1"] = {0, {a("127.0.0.4")}};
    start();
    net::dns_answer ans = mx_of("plain.test");
    ASSERT_EQ(ans.outcome, net::dns_outcome::ok) << ans.text;
    ASSERT_EQ(ans.hosts.size(), 1u);
    EXPECT_EQ(ans.hosts[0].host, "plain.test");
    EXPECT_EQ(texts(ans.hosts[0]), (std::vector<std::string>{"127.0.0.4:25"}));
}

TEST_P(resolver_test, a_null_mx_fails_permanently_with_556_5_1_10_and_looks_up_no_address) {
    server.zone["nullmx.test/15"] = {0, {mx(0, ".")}};
    server.zone["nullmx.test/1"] = {0, {a("127.0.0.5")}};
    start();
    net::dns_answer ans = mx_of("nullmx.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::permanent);
    EXPECT_EQ(ans.code, 556);
    EXPECT_EQ(ans.text.rfind("5.1.10 ", 0), 0u) << ans.text;
    EXPECT_TRUE(ans.hosts.empty());
    EXPECT_EQ(server.queries("nullmx.test/1"), 0);
}

TEST_P(resolver_test, nxdomain_fails_permanently_with_550_5_1_2) {
    start();
    net::dns_answer ans = mx_of("nowhere.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::permanent);
    EXPECT_EQ(ans.code, 550);
    EXPECT_EQ(ans.text.rfind("5.1.2 ", 0), 0u) << ans.text;
}

TEST_P(resolver_test, servfail_is_temporary_4_4_3) {
    server.zone["broken.test/15"] = {2, {}};
    start();
    net::dns_answer ans = mx_of("broken.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::temporary);
    EXPECT_EQ(ans.code, 451);
    EXPECT_EQ(ans.text.rfind("4.4.3 ", 0), 0u) << ans.text;
}

TEST_P(resolver_test, a_server_that_never_answers_is_a_temporary_failure_after_the_timeout) {
    server.zone["silent.test/15"] = {0, {}, true};
    start(100, 1);
    net::dns_answer ans = mx_of("silent.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::temporary);
    EXPECT_EQ(ans.text.rfind("4.4.3 ", 0), 0u) << ans.text;
}

TEST_P(resolver_test, exchangers_without_addresses_are_skipped) {
    server.zone["half.test/15"] = {0, {mx(10, "gone.half.test"), mx(20, "up.half.test")}};
    server.zone["up.half.test/1"] = {0, {a("127.0.0.6")}};
    start();
    net::dns_answer ans = mx_of("half.test");
    ASSERT_EQ(ans.outcome, net::dns_outcome::ok) << ans.text;
    ASSERT_EQ(ans.hosts.size(), 1u);
    EXPECT_EQ(ans.hosts[0].host, "up.half.test");
}

TEST_P(resolver_test, exchangers_that_all_lack_addresses_fail_permanently_with_5_4_4) {
    server.zone["empty.test/15"] = {0, {mx(10, "gone.empty.test")}};
    start();
    net::dns_answer ans = mx_of("empty.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::permanent);
    EXPECT_EQ(ans.text.rfind("5.4.4 ", 0), 0u) << ans.text;
}

TEST_P(resolver_test, an_address_lookup_that_fails_for_a_while_makes_the_answer_temporary) {
    server.zone["flaky.test/15"] = {0, {mx(10, "mx.flaky.test")}};
    server.zone["mx.flaky.test/1"] = {2, {}};
    start();
    net::dns_answer ans = mx_of("flaky.test");
    EXPECT_EQ(ans.outcome, net::dns_outcome::temporary);
    EXPECT_EQ(ans.text.rfind("4.4.3 ", 0), 0u) << ans.text;
}

TEST_P(resolver_test, an_answer_is_cached_for_its_ttl_and_the_callback_still_comes_from_the_loop) {
    server.zone["cached.test/15"] = {0, {mx(10, "mx.cached.test", 600)}};
    server.zone["mx.cached.test/1"] = {0, {a("127.0.0.7", 600)}};
    start();
    ASSERT_EQ(mx_of("cached.test").outcome, net::dns_outcome::ok);
    net::dns_answer again = mx_of("cached.test", 2526);  // mx_of checks "not from inside"
    ASSERT_EQ(again.outcome, net::dns_outcome::ok);
    EXPECT_EQ(texts(again.hosts[0]), (std::vector<std::string>{"127.0.0.7:2526"}));
    EXPECT_EQ(server.queries("cached.test/15"), 1);
    EXPECT_EQ(dns->cache_entries(), 1u);
    EXPECT_GT(again.expires_ms, reactor->now_ms() + 500 * 1000);
}

TEST_P(resolver_test, a_host_lookup_asks_for_addresses_only_and_takes_ip_literals_as_they_are) {
    server.zone["relay.host.test/1"] = {0, {a("127.0.0.8")}};
    start();
    std::optional<net::dns_answer> got, lit;
    dns->resolve_host("relay.host.test", 2600, [&got](const net::dns_answer& x) noexcept { got = x; });
    dns->resolve_host("127.0.0.9", 2601, [&lit](const net::dns_answer& x) noexcept { lit = x; });
    while ((!got || !lit) && !guard.expired()) {
        core::timer_id tick = reactor->schedule(core::reactor::clock_ms() + 5, []() noexcept {});  // now_ms() is the turn start: stale here
        reactor->run_once(true);
        reactor->cancel(tick);
    }
    ASSERT_TRUE(got && lit);
    ASSERT_EQ(got->outcome, net::dns_outcome::ok) << got->text;
    EXPECT_EQ(texts(got->hosts[0]), (std::vector<std::string>{"127.0.0.8:2600"}));
    EXPECT_EQ(server.queries("relay.host.test/15"), 0);
    ASSERT_EQ(lit->outcome, net::dns_outcome::ok);
    EXPECT_EQ(texts(lit->hosts[0]), (std::vector<std::string>{"127.0.0.9:2601"}));
}

TEST_P(resolver_test, an_address_literal_domain_is_delivered_to_that_address_without_dns) {
    start();
    net::dns_answer v4 = mx_of("[127.0.0.10]", 2602);
    ASSERT_EQ(v4.outcome, net::dns_outcome::ok) << v4.text;
    EXPECT_EQ(texts(v4.hosts[0]), (std::vector<std::string>{"127.0.0.10:2602"}));
    net::dns_answer v6 = mx_of("[IPv6:::1]", 2603);
    ASSERT_EQ(v6.outcome, net::dns_outcome::ok) << v6.text;
    EXPECT_EQ(texts(v6.hosts[0]), (std::vector<std::string>{"[::1]:2603"}));
    EXPECT_EQ(server.queries("[127.0.0.10]/15"), 0);
}

TEST_P(resolver_test, shutdown_with_lookups_in_flight_calls_nobody_and_frees_everything) {
    server.zone["silent.test/15"] = {0, {}, true};
    start(2000, 1);
    bool called = false;
    dns->resolve_mx("silent.test", 25, [&called](const net::dns_answer&) noexcept { called = true; });
    for (int i = 0; i < 5; ++i) reactor->run_once(false);  // the query is out, its socket watched
    EXPECT_EQ(dns->lookups_running(), 1u);
    dns->shutdown();
    reactor->run_until_idle();
    dns.reset();
    for (int i = 0; i < 3; ++i) reactor->run_once(false);
    EXPECT_FALSE(called);
}

INSTANTIATE_TEST_SUITE_P(backends, resolver_test, POSTHORN_BOTH_BACKENDS);

TEST(dns_servers_csv, literal_addresses_with_or_without_ports) {
    auto csv = net::dns_servers_csv({"127.0.0.1:5353", "10.0.0.1", "[::1]:53", "::2"});
    ASSERT_TRUE(csv.ok()) << csv.err().what;
    EXPECT_EQ(*csv, "127.0.0.1:5353,10.0.0.1:53,[::1]:53,[::2]:53");
    EXPECT_FALSE(net::dns_servers_csv({"dns.example.test:53"}).ok());
    EXPECT_FALSE(net::dns_servers_csv({"127.0.0.1:99999"}).ok());
}
