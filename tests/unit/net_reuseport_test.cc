// Two shards bind the same port with SO_REUSEPORT and the kernel spreads
// connections over both; then a stop takes both down cleanly. Both backends.
#include "posthorn/core/shard.hh"
#include "posthorn/net.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

using namespace posthorn;
using core::io_mode;

namespace {

// Greets with the id of the shard that accepted the connection.
struct shard_greeter final : net::handler {
    std::atomic<int> accepted[2] = {0, 0};
    std::atomic<int> closed_by_shutdown{0};
    void on_open(net::connection& c) noexcept override {
        int shard = static_cast<int>(c.id() >> 40);
        ++accepted[shard];
        c.write("220 shard " + std::to_string(shard) + "\r\n");
    }
    size_t on_data(net::connection&, const core::slice& b) noexcept override { return b.length; }
    void on_close(net::connection& c) noexcept override {
        if (c.reason() == net::close_reason::shutdown) ++closed_by_shutdown;
    }
};

class reuseport_test : public ::testing::TestWithParam<io_mode> {};

}  // namespace

TEST_P(reuseport_test, two_shards_bound_to_one_port_both_accept_connections) {
    POSTHORN_SKIP_WITHOUT(GetParam());
    // Reserve a port: bound with SO_REUSEPORT, never listening, so it takes
    // no connections itself.
    auto any = net::parse_endpoint("127.0.0.1:0");
    ASSERT_TRUE(any.ok());
    int reserve = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(reserve, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    ::setsockopt(reserve, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ASSERT_EQ(::bind(reserve, any->sa(), any->length), 0);
    auto ep = net::local_endpoint(reserve);
    ASSERT_TRUE(ep.ok());

    core::shard_config cfg;
    cfg.shards = 2;
    cfg.io = GetParam();
    cfg.chunk_bytes = 4096;
    cfg.chunk_count = 32;
    cfg.handle_signals = false;
    core::shard_set set(cfg);
    shard_greeter app;
    std::atomic<int> listening{0};
    std::atomic<int> greetings_from[2] = {0, 0};
    std::atomic<bool> open_at_stop{false};

    std::thread client([&] {
        while (listening.load() < 2) std::this_thread::yield();
        int fds[32];
        for (int& fd : fds) {
            fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            timeval tv{3, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (::connect(fd, ep->sa(), ep->length) < 0) continue;
            char buf[64];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            std::string line(buf, n > 0 ? static_cast<size_t>(n) : 0);
            if (line == "220 shard 0\r\n") ++greetings_from[0];
            if (line == "220 shard 1\r\n") ++greetings_from[1];
        }
        open_at_stop.store(true);
        set.stop();  // connections still open: shards close them at shutdown
        for (int fd : fds) {
            char c;
            ::recv(fd, &c, 1, 0);  // EOF once the shard closed it
            ::close(fd);
        }
    });

    auto r = set.run([&](core::shard& s) noexcept {
        net::registry reg(s.io(), {}, s.id());
        auto l = reg.listen(*ep, app);
        EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.err().what);
        ++listening;
        s.io().run();
        reg.close_all(true);
        s.io().run_until_idle();
        EXPECT_TRUE(reg.idle());
    });
    client.join();
    ::close(reserve);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(greetings_from[0].load() + greetings_from[1].load(), 32);
    EXPECT_GT(greetings_from[0].load(), 0);
    EXPECT_GT(greetings_from[1].load(), 0);
    EXPECT_EQ(app.accepted[0].load() + app.accepted[1].load(), 32);
    EXPECT_EQ(app.closed_by_shutdown.load(), 32);
}

INSTANTIATE_TEST_SUITE_P(backends, reuseport_test, POSTHORN_BOTH_BACKENDS);
