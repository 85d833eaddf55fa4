// Connections over real loopback sockets, on both backends: echo with many
// connections and partial reads/writes, payloads that exhaust the receive
// buffers and recover, input kept while paused and fed again in order,
// deadlines, early talkers, caps, resets, big replies, idle memory.
// The reactor runs on the test thread; a client thread talks with blocking
// sockets and stops the reactor when it is done.
#include "posthorn/core/reactor.hh"
#include "posthorn/net.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace posthorn;
using core::io_mode;

namespace {

// --- blocking client helpers -------------------------------------------------

int connect_to(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (w <= 0) return false;
        data.remove_prefix(static_cast<size_t>(w));
    }
    return true;
}

// Reads until EOF (or error/timeout), `piece` bytes at a time at most.
std::string read_to_eof(int fd, size_t piece = 65536) {
    std::string out;
    std::vector<char> buf(piece);
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) return out;
        out.append(buf.data(), static_cast<size_t>(n));
    }
}

std::string read_line(int fd) {
    std::string out;
    char c;
    while (::recv(fd, &c, 1, 0) == 1) {
        out.push_back(c);
        if (c == '\n') break;
    }
    return out;
}

std::string pattern(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        s[i] = static_cast<char>('a' + (x >> 16) % 26);
    }
    return s;
}

// --- fixture -------------------------------------------------------------------

class net_test : public ::testing::TestWithParam<io_mode> {
protected:
    void start(uint32_t chunk_bytes = 4096, uint32_t chunk_count = 64, net::limits caps = {}) {
        POSTHORN_SKIP_WITHOUT(GetParam());
        pool = std::make_unique<core::chunk_pool>(chunk_bytes, chunk_count);
        core::reactor_config cfg;
        cfg.mode = GetParam();
        auto r = core::reactor::create(*pool, cfg);
        ASSERT_TRUE(r.ok()) << r.err().what;
        reactor = std::move(r.value());
        reg = std::make_unique<net::registry>(*reactor, caps);
    }

    uint16_t listen(net::handler& h) {
        auto l = reg->listen("127.0.0.1:0", h);
        EXPECT_TRUE(l.ok());
        return l.ok() ? l.value()->port() : 0;
    }

    // Runs the loop until the client returns (it then stops the loop).
    void run_with_client(const std::function<void()>& client) {
        test::hang_guard guard;
        guard.arm(*reactor, 8000);
        std::thread t([&] {
            client();
            reactor->stop();
        });
        reactor->run();
        t.join();
        guard.disarm();
        // Shut down while the test's handlers are still alive.
        reg->close_all();
        reactor->run_until_idle();
        EXPECT_TRUE(reg->idle());
    }

    // A producer writes 8 MiB in pieces, paced by on_drained().
    void pace_round(size_t piece, size_t low_water);

    void TearDown() override {
        if (reg) {
            EXPECT_TRUE(reg->idle());
        }
        reg.reset();
        reactor.reset();
        pool.reset();
    }

    std::unique_ptr<core::chunk_pool> pool;
    std::unique_ptr<core::reactor> reactor;
    std::unique_ptr<net::registry> reg;
};

struct echo final : net::handler {
    int opened = 0;
    int closed = 0;
    std::vector<net::close_reason> reasons;
    void on_open(net::connection&) noexcept override { ++opened; }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        c.write(b.view());
        return b.length;
    }
    void on_close(net::connection& c) noexcept override {
        ++closed;
        reasons.push_back(c.reason());
    }
};

}  // namespace

TEST_P(net_test, echo_serves_many_connections_with_partial_writes_and_reads) {
    start();
    echo app;
    uint16_t port = listen(app);
    constexpr int n = 40;
    std::vector<std::string> sent(n), got(n);
    run_with_client([&] {
        std::mt19937 rng(7);
        std::vector<int> fds(n);
        std::vector<size_t> offset(n, 0);
        for (int i = 0; i < n; ++i) {
            fds[i] = connect_to(port);
            sent[i] = pattern(1 + rng() % 65536, static_cast<uint32_t>(i));
        }
        // Round-robin small writes across every connection.
        for (bool more = true; more;) {
            more = false;
            for (int i = 0; i < n; ++i) {
                if (offset[i] == sent[i].size()) continue;
                size_t k = std::min<size_t>(1 + rng() % 3000, sent[i].size() - offset[i]);
                EXPECT_TRUE(write_all(fds[i], std::string_view(sent[i]).substr(offset[i], k)));
                offset[i] += k;
                if (offset[i] == sent[i].size())
                    ::shutdown(fds[i], SHUT_WR);
                else
                    more = true;
            }
        }
        for (int i = 0; i < n; ++i) {
            got[i] = read_to_eof(fds[i], 1 + rng() % 700);
            ::close(fds[i]);
        }
    });
    for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], sent[i]) << "connection " << i;
    EXPECT_EQ(app.opened, n);
    EXPECT_EQ(app.closed, n);
    for (auto r : app.reasons) EXPECT_EQ(r, net::close_reason::peer);
}

namespace {

// Holds every received slice until the reactor reports a receive that found
// no free buffer (or the connection's payload is complete), then echoes and
// drops them: the buffer ring / pool runs dry on purpose, again and again.
struct holder final : net::handler {
    core::reactor* r = nullptr;
    size_t expected = 0;
    uint64_t seen_starved = 0;
    int releases = 0;
    struct held {
        std::vector<core::slice> slices;
        size_t total = 0;
    };
    std::unordered_map<net::connection*, held> conns;

    void on_open(net::connection& c) noexcept override { conns[&c]; }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        held& h = conns[&c];
        h.slices.push_back(b);
        h.total += b.length;
        // All in: wait for the echo before the peer's EOF may close us (as
        // a session waiting for its commit).
        if (h.total == expected) c.pause_reading();
        return b.length;
    }
    void on_close(net::connection& c) noexcept override { conns.erase(&c); }
    void release(net::connection& c, held& h) noexcept {
        for (auto& s : h.slices) c.output().append(s.view());
        h.slices.clear();
        c.flush();
    }
    void on_turn() noexcept {
        bool starved = r->stats().recv_starved > seen_starved;
        seen_starved = r->stats().recv_starved;
        for (auto& [c, h] : conns) {
            if (h.slices.empty()) continue;
            if (starved || h.total == expected) {
                release(*c, h);
                ++releases;
                if (h.total == expected) c->resume_reading();
            }
        }
    }
};

}  // namespace

TEST_P(net_test, payloads_larger_than_the_buffer_pool_exhaust_it_and_recover) {
    start(4096, 8);  // 32 KiB of receive buffers for 2 x 256 KiB
    holder app;
    app.r = reactor.get();
    app.expected = 256 * 1024;
    auto hook = reactor->add_turn_hook([&app]() noexcept { app.on_turn(); });
    uint16_t port = listen(app);
    std::string sent[2] = {pattern(app.expected, 1), pattern(app.expected, 2)};
    std::string got[2];
    run_with_client([&] {
        std::thread second([&] {
            int fd = connect_to(port);
            EXPECT_TRUE(write_all(fd, sent[1]));
            ::shutdown(fd, SHUT_WR);
            got[1] = read_to_eof(fd);
            ::close(fd);
        });
        int fd = connect_to(port);
        EXPECT_TRUE(write_all(fd, sent[0]));
        ::shutdown(fd, SHUT_WR);
        got[0] = read_to_eof(fd);
        ::close(fd);
        second.join();
    });
    reactor->remove_turn_hook(hook);
    EXPECT_TRUE(got[0] == sent[0]);
    EXPECT_TRUE(got[1] == sent[1]);
    EXPECT_GT(reactor->stats().recv_starved, 0u);
    if (GetParam() == io_mode::io_uring) {
        EXPECT_GT(reactor->stats().recv_rearmed, 0u);
    }
    for (uint32_t i = 0; i < pool->chunk_count(); ++i) EXPECT_EQ(pool->at(i).refs, 0u);
}

namespace {

// A line protocol: "COMMIT" pauses until an fdatasync completes (as the
// SMTP session waits for its group commit), then answers and resumes. Lines
// after it, already received, must wait and then be fed in order.
struct committer final : net::handler {
    core::reactor* r = nullptr;
    int file = -1;
    std::string partial;
    int commits = 0;

    void on_open(net::connection& c) noexcept override { c.write("220 ready\r\n"); }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        std::string_view in = b.view();
        size_t used = 0;
        while (used < in.size()) {
            size_t nl = in.find('\n', used);
            if (nl == std::string_view::npos) {
                partial.append(in.substr(used));
                return in.size();
            }
            partial.append(in.substr(used, nl + 1 - used));
            used = nl + 1;
            std::string line = std::move(partial);
            partial.clear();
            if (line == "COMMIT\r\n") {
                r->fdatasync(file, [this, &c](core::result<void> res) noexcept {
                    ++commits;
                    c.write(res.ok() ? "250 committed\r\n" : "451 failed\r\n");
                    c.resume_reading();
                });
                return used;  // fewer than given: paused, the rest is kept
            }
            if (line == "QUIT\r\n") {
                c.write("221 bye\r\n");
                c.close();
                return used;
            }
            c.write("ok " + line);
        }
        return used;
    }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, input_received_while_paused_is_kept_and_fed_in_order_after_resume) {
    start(64, 64);  // tiny chunks: lines also split across slices
    char path[] = "/tmp/posthorn-commit-XXXXXX";
    int file = ::mkstemp(path);
    ASSERT_GE(file, 0);
    ::unlink(path);
    committer app;
    app.r = reactor.get();
    app.file = file;
    uint16_t port = listen(app);
    std::string reply;
    const std::string script =
        "A\r\nCOMMIT\r\nB with a longer line that spans more than one small chunk\r\n"
        "COMMIT\r\nCOMMIT\r\nC\r\nQUIT\r\nNEVER\r\n";
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_EQ(read_line(fd), "220 ready\r\n");
        EXPECT_TRUE(write_all(fd, script));  // everything pipelined in one go
        reply = read_to_eof(fd);
        ::close(fd);
    });
    ::close(file);
    EXPECT_EQ(reply,
              "ok A\r\n250 committed\r\nok B with a longer line that spans more than one small chunk\r\n"
              "250 committed\r\n250 committed\r\nok C\r\n221 bye\r\n");
    EXPECT_EQ(app.commits, 3);
}

namespace {

struct sleepy final : net::handler {
    int deadlines = 0;
    void on_open(net::connection& c) noexcept override { c.set_idle_timeout_ms(30); }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        c.write(b.view());
        return b.length;
    }
    void on_deadline(net::connection& c) noexcept override {
        ++deadlines;
        c.write("421 idle timeout\r\n");
        c.close();
    }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, an_idle_connection_gets_its_deadline_reply_and_is_closed) {
    start();
    sleepy app;
    uint16_t port = listen(app);
    std::string reply;
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_TRUE(write_all(fd, "hello\r\n"));
        reply = read_to_eof(fd);  // then nothing: the deadline closes it
        ::close(fd);
    });
    EXPECT_EQ(reply, "hello\r\n421 idle timeout\r\n");
    EXPECT_EQ(app.deadlines, 1);
}

namespace {

// postscreen-style greet pause: reading paused at open; after a pause the
// app asks whether the client already talked.
struct greeter final : net::handler {
    core::reactor* r = nullptr;
    int early = 0;
    int polite = 0;
    void on_open(net::connection& c) noexcept override {
        c.pause_reading();
        check_later(c);
    }
    void check_later(net::connection& c) noexcept {
        r->schedule_after(5, [this, &c]() noexcept { check(c); });
    }
    void check(net::connection& c) noexcept {
        if (c.has_early_input()) {
            ++early;
            c.write("554 you talked first\r\n");
            c.close();
            return;
        }
        ++polite;
        c.write("220 hello\r\n");
        c.resume_reading();
    }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        c.write(b.view());
        c.close();
        return b.length;
    }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, a_client_talking_before_the_greeting_is_detected_while_reading_is_paused) {
    start();
    greeter app;
    app.r = reactor.get();
    uint16_t port = listen(app);
    std::string early_reply, polite_reply;
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_TRUE(write_all(fd, "EHLO rude\r\n"));
        early_reply = read_to_eof(fd);
        ::close(fd);
        fd = connect_to(port);
        EXPECT_EQ(read_line(fd), "220 hello\r\n");  // waits for the greeting
        EXPECT_TRUE(write_all(fd, "EHLO nice\r\n"));
        polite_reply = read_to_eof(fd);
        ::close(fd);
    });
    EXPECT_EQ(early_reply, "554 you talked first\r\n");
    EXPECT_EQ(polite_reply, "EHLO nice\r\n");
    EXPECT_EQ(app.early, 1);
    EXPECT_EQ(app.polite, 1);
}

namespace {

struct capped final : net::handler {
    std::vector<uint32_t> from_peer;
    std::vector<net::limit_hit> hits;
    void on_open(net::connection& c) noexcept override {
        from_peer.push_back(c.connections_from_peer());
        hits.push_back(c.over_limit());
        if (c.over_limit() != net::limit_hit::none) {
            c.write("421 too many connections\r\n");
            c.close();
            return;
        }
        c.write("220 welcome\r\n");
    }
    size_t on_data(net::connection&, const core::slice& b) noexcept override { return b.length; }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, connections_over_the_per_ip_cap_are_flagged_for_the_app_to_refuse) {
    start(4096, 64, net::limits{.connections_max = 10, .connections_per_ip_max = 2});
    capped app;
    uint16_t port = listen(app);
    std::string replies[4];
    run_with_client([&] {
        int fds[3];
        for (int i = 0; i < 3; ++i) {
            fds[i] = connect_to(port);
            replies[i] = read_line(fds[i]);
        }
        ::close(fds[0]);
        replies[3] = read_to_eof(fds[2]);  // refused: closed after its reply
        // The server saw the first close only when it read EOF: wait for it
        // by opening connections until one is welcome again.
        for (;;) {
            int fd = connect_to(port);
            std::string line = read_line(fd);
            ::close(fd);
            if (line == "220 welcome\r\n" || line.empty()) break;
        }
        ::close(fds[1]);
        ::close(fds[2]);
    });
    EXPECT_EQ(replies[0], "220 welcome\r\n");
    EXPECT_EQ(replies[1], "220 welcome\r\n");
    EXPECT_EQ(replies[2], "421 too many connections\r\n");
    EXPECT_EQ(replies[3], "");
    ASSERT_GE(app.hits.size(), 4u);
    EXPECT_EQ(app.hits[0], net::limit_hit::none);
    EXPECT_EQ(app.hits[1], net::limit_hit::none);
    EXPECT_EQ(app.hits[2], net::limit_hit::per_ip);
    EXPECT_EQ(app.from_peer[0], 1u);
    EXPECT_EQ(app.from_peer[1], 2u);
    EXPECT_EQ(app.from_peer[2], 3u);
    EXPECT_EQ(app.hits.back(), net::limit_hit::none);
}

namespace {

struct reset_watcher final : net::handler {
    std::atomic<int> closed{0};
    net::close_reason reason = net::close_reason::local;
    int err = 0;
    void on_open(net::connection&) noexcept override {}
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        c.write(b.view());
        return b.length;
    }
    void on_close(net::connection& c) noexcept override {
        reason = c.reason();
        err = c.close_error();
        closed.store(1);
    }
};

}  // namespace

TEST_P(net_test, a_peer_reset_closes_the_connection_with_reason_error) {
    start();
    reset_watcher app;
    uint16_t port = listen(app);
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_TRUE(write_all(fd, "x\n"));
        EXPECT_EQ(read_line(fd), "x\n");  // opened and served
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);  // RST
        for (int i = 0; i < 3000 && !app.closed.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    EXPECT_EQ(app.closed.load(), 1);
    EXPECT_EQ(app.reason, net::close_reason::error);
    EXPECT_EQ(app.err, -ECONNRESET);
}

namespace {

// One big reply, then small ones written while it is still in flight: they
// collect in the second buffer and follow it in order.
struct talker final : net::handler {
    core::reactor* r = nullptr;
    std::string big;
    int ticks = 0;
    void on_open(net::connection& c) noexcept override {
        c.write(big);
        tick(c);
    }
    void tick(net::connection& c) noexcept {
        c.write("line " + std::to_string(ticks) + "\r\n");
        if (++ticks == 20) {
            c.close();
            return;
        }
        r->schedule_after(1, [this, &c]() noexcept { tick(c); });
    }
    size_t on_data(net::connection&, const core::slice& b) noexcept override { return b.length; }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, replies_written_while_a_send_is_in_flight_follow_it_in_order) {
    start();
    talker app;
    app.r = reactor.get();
    app.big = pattern(8 * 1024 * 1024, 9);
    uint16_t port = listen(app);
    std::string got;
    run_with_client([&] {
        int fd = connect_to(port);
        got = read_to_eof(fd, 4096);
        ::close(fd);
    });
    std::string expected = app.big;
    for (int i = 0; i < 20; ++i) expected += "line " + std::to_string(i) + "\r\n";
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
}

TEST_P(net_test, an_idle_connection_holds_no_receive_chunk) {
    start();
    echo app;
    uint16_t port = listen(app);
    struct probe {
        core::chunk_pool* pool;
        net::registry* reg;
        std::atomic<bool> replied{false};
        std::atomic<bool> checked{false};
        uint32_t chunks_held = 99;
        uint32_t open_connections = 0;
        bool poll() noexcept {
            if (!replied.load() || checked.load()) return false;
            chunks_held = 0;
            for (uint32_t i = 0; i < pool->chunk_count(); ++i) chunks_held += pool->at(i).refs ? 1 : 0;
            open_connections = reg->connections();
            checked.store(true);
            return true;
        }
    } p{pool.get(), reg.get()};
    auto& replied = p.replied;
    auto& checked = p.checked;
    auto& chunks_held = p.chunks_held;
    auto& open_connections = p.open_connections;
    reactor->add_poller([&p]() noexcept { return p.poll(); });
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_TRUE(write_all(fd, "NOOP\r\n"));
        EXPECT_EQ(read_line(fd), "NOOP\r\n");
        replied.store(true);
        reactor->wake();
        while (!checked.load()) std::this_thread::yield();
        ::close(fd);
    });
    EXPECT_EQ(chunks_held, 0u);
    EXPECT_EQ(open_connections, 1u);
    // The per-connection footprint, before the protocol session.
    EXPECT_LE(sizeof(net::connection), 512u);
}

INSTANTIATE_TEST_SUITE_P(backends, net_test, POSTHORN_BOTH_BACKENDS);

namespace {

// The client side of a server-speaks-first dialog over registry::connect.
struct dialer final : net::handler {
    std::string got;
    int opened = 0;
    std::atomic<int> closed{0};
    net::close_reason reason = net::close_reason::local;
    int err = 0;
    void on_open(net::connection& c) noexcept override {
        ++opened;
        EXPECT_TRUE(c.outbound());
        c.set_idle_timeout_ms(3000);
    }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        got.append(b.view());
        if (got == "220 hello\r\n") c.write("QUIT\r\n");
        return b.length;
    }
    void on_close(net::connection& c) noexcept override {
        reason = c.reason();
        err = c.close_error();
        closed.store(closed.load() + 1);
    }
};

// A blocking listener on a free loopback port.
int listening_socket(uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        return -1;
    }
    port = ntohs(a.sin_port);
    return fd;
}

}  // namespace

TEST_P(net_test, an_outbound_connection_waits_for_the_peer_to_speak_first) {
    start();
    uint16_t port = 0;
    int lfd = listening_socket(port);
    ASSERT_GE(lfd, 0);
    dialer app;
    auto ep = net::parse_endpoint("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(ep.ok());
    auto c = reg->connect(*ep, app);
    ASSERT_TRUE(c.ok()) << c.err().what;
    EXPECT_EQ(app.opened, 1);
    EXPECT_EQ(reg->connections(), 0u) << "outbound connections are not in the client counts";
    std::string server_got;
    run_with_client([&] {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(fd, 0);
        timeval tv{3, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // connected, silent: nothing may be sent yet
        EXPECT_TRUE(write_all(fd, "220 hello\r\n"));
        server_got = read_line(fd);
        ::close(fd);
        for (int i = 0; i < 3000 && !app.closed.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    ::close(lfd);
    EXPECT_EQ(server_got, "QUIT\r\n");
    EXPECT_EQ(app.got, "220 hello\r\n");
    EXPECT_EQ(app.closed.load(), 1);
    EXPECT_EQ(app.reason, net::close_reason::peer);
}

TEST_P(net_test, an_outbound_connection_to_a_closed_port_closes_with_econnrefused) {
    start();
    uint16_t port = 0;
    int lfd = listening_socket(port);
    ASSERT_GE(lfd, 0);
    ::close(lfd);  // the port is free now: nothing listens
    dialer app;
    auto ep = net::parse_endpoint("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(ep.ok());
    auto c = reg->connect(*ep, app);
    if (!c.ok()) {
        EXPECT_EQ(c.err().code, ECONNREFUSED) << "refused at once is fine too";
        return;
    }
    run_with_client([&] {
        for (int i = 0; i < 3000 && !app.closed.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    EXPECT_EQ(app.closed.load(), 1);
    EXPECT_EQ(app.reason, net::close_reason::error);
    EXPECT_EQ(app.err, -ECONNREFUSED);
    EXPECT_EQ(app.got, "");
}

namespace {

// Writes `total` bytes a piece at a time, the next piece only from
// on_drained(): what is queued never grows past a piece plus the low-water
// mark, however big the whole. A slow reader makes the sends partial.
struct producer final : net::handler {
    std::string data;
    size_t piece = 0;
    size_t low_water = 0;
    size_t at = 0;
    size_t pending_max = 0;
    int drained = 0;
    int inside_request = 0;  // on_drained() from inside notify_drained(): must stay 0
    bool requesting = false;
    void on_open(net::connection& c) noexcept override { next(c); }
    void next(net::connection& c) noexcept {
        size_t n = std::min(piece, data.size() - at);
        c.output().append(data, at, n);
        at += n;
        pending_max = std::max(pending_max, c.output_pending());
        c.flush();
        if (at == data.size()) {
            c.close();
            return;
        }
        requesting = true;
        c.notify_drained(low_water);
        requesting = false;
    }
    void on_drained(net::connection& c) noexcept override {
        inside_request += requesting;
        ++drained;
        EXPECT_LE(c.output_pending(), low_water);
        next(c);
    }
    size_t on_data(net::connection&, const core::slice& b) noexcept override { return b.length; }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

void net_test::pace_round(size_t piece, size_t low_water) {
    start();
    if (IsSkipped()) return;
    producer app;
    app.data = pattern(8 * 1024 * 1024 + 123, 11);
    app.piece = piece;
    app.low_water = low_water;
    uint16_t port = listen(app);
    std::string got;
    run_with_client([&] {
        int fd = connect_to(port);
        got = read_to_eof(fd, 4096);
        ::close(fd);
    });
    EXPECT_TRUE(got == app.data) << "got " << got.size() << " of " << app.data.size() << " bytes";
    EXPECT_EQ(app.drained, static_cast<int>((app.data.size() + app.piece - 1) / app.piece) - 1);
    EXPECT_LE(app.pending_max, app.piece + low_water);
    EXPECT_EQ(app.inside_request, 0);
}

// Rounds of one connection each: the reactor runs once per fixture.
TEST_P(net_test, on_drained_paces_a_big_output_a_piece_at_a_time) {
    pace_round(64 * 1024, 0);
}

TEST_P(net_test, on_drained_with_a_low_water_mark_keeps_a_piece_queued_behind_the_send) {
    pace_round(16 * 1024, 48 * 1024);
}

TEST_P(net_test, a_drain_request_with_nothing_pending_is_answered_from_the_loop) {
    start();
    producer app;
    app.data = "ab";
    app.piece = 1;
    app.low_water = 0;
    uint16_t port = listen(app);
    std::string got;
    run_with_client([&] {
        int fd = connect_to(port);
        got = read_to_eof(fd);
        ::close(fd);
    });
    EXPECT_EQ(got, "ab");
    EXPECT_EQ(app.drained, 1);
    EXPECT_EQ(app.inside_request, 0);
}

namespace {

// Hands every connection to a second registry after a "MOVE" line, as a
// shard hands a logged-in session to the shard that owns its mailbox.
struct mover final : net::handler {
    net::registry* next = nullptr;
    net::handler* next_handler = nullptr;
    std::string* unread_out = nullptr;
    std::vector<net::close_reason> reasons;
    int released = 0;
    void on_open(net::connection& c) noexcept override { c.write("hello\r\n"); }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        std::string_view v = b.view();
        size_t end = v.find("MOVE\r\n");
        if (end == std::string_view::npos) return b.length;
        c.write("moving\r\n");
        c.release();
        return end + 6;
    }
    void on_released(net::connection&, int fd, std::string&& unread) noexcept override {
        ++released;
        *unread_out = unread;
        auto adopted = next->adopt(fd, *next_handler);
        if (!adopted) ::close(fd);
    }
    void on_close(net::connection& c) noexcept override { reasons.push_back(c.reason()); }
};

// Writes what the first owner left unread, then echoes.
struct receiver final : net::handler {
    const std::string* unread = nullptr;
    void on_open(net::connection& c) noexcept override { c.write(*unread); }
    size_t on_data(net::connection& c, const core::slice& b) noexcept override {
        c.write(b.view());
        return b.length;
    }
    void on_close(net::connection&) noexcept override {}
};

}  // namespace

TEST_P(net_test, a_released_socket_keeps_its_unread_input_and_serves_on_from_its_new_registry) {
    start(64, 64);
    net::registry second(*reactor);
    std::string unread;
    receiver r;
    r.unread = &unread;
    mover m;
    m.next = &second;
    m.next_handler = &r;
    m.unread_out = &unread;
    uint16_t port = listen(m);
    std::string got;
    run_with_client([&] {
        int fd = connect_to(port);
        EXPECT_EQ(read_line(fd), "hello\r\n");
        // Pipelined past the MOVE: some of it is received by the first
        // registry, the rest waits in the socket; none may be lost.
        EXPECT_TRUE(write_all(fd, "MOVE\r\nAFTER1 " + pattern(300, 1) + "\r\n"));
        EXPECT_EQ(read_line(fd), "moving\r\n");
        got += read_line(fd);
        EXPECT_TRUE(write_all(fd, "AFTER2\r\n"));
        got += read_line(fd);
        ::close(fd);
    });
    second.close_all();
    reactor->run_until_idle();
    EXPECT_EQ(got, "AFTER1 " + pattern(300, 1) + "\r\nAFTER2\r\n");
    EXPECT_EQ(m.released, 1);
    ASSERT_EQ(m.reasons.size(), 1u);
    EXPECT_EQ(m.reasons[0], net::close_reason::released);
    EXPECT_TRUE(second.idle());
}
