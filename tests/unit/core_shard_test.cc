// shard_set: messages between shards in order with wake-ups and
// backpressure, stop by stop() and by SIGTERM, both backends.
#include "posthorn/core/shard.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace posthorn;
using core::io_mode;

namespace {

class shard_test : public ::testing::TestWithParam<io_mode> {
protected:
    void SetUp() override {
        POSTHORN_SKIP_WITHOUT(GetParam());
        config.shards = 2;
        config.io = GetParam();
        config.chunk_bytes = 4096;
        config.chunk_count = 16;
        config.queue_capacity = 8;
    }
    core::shard_config config;
};

// Stops a hung shard_set after 5 s and fails the test (never a timing
// assertion: a correct run ends in milliseconds).
class watchdog {
public:
    explicit watchdog(core::shard_set& set) {
        // Born with SIGINT/SIGTERM blocked, as every thread must be while a
        // shard_set owns them, or the kernel may deliver one here.
        sigset_t stop_signals, old;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
        _t = std::thread([this, &set] {
            std::unique_lock lk(_m);
            if (!_cv.wait_for(lk, std::chrono::seconds(5), [this] { return _done; })) {
                ADD_FAILURE() << "shard_set hung";
                set.stop();
            }
        });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    ~watchdog() {
        {
            std::lock_guard lk(_m);
            _done = true;
        }
        _cv.notify_one();
        _t.join();
    }

private:
    std::mutex _m;
    std::condition_variable _cv;
    bool _done = false;
    std::thread _t;
};

// Shard 0 sends `total` numbered messages to shard 1 through a ring of 8;
// shard 1 checks the order and, after each batch it drains, tells shard 0 to
// send more (so shard 0 sleeps whenever the ring is full).
struct ping_pong {
    static constexpr uint64_t total = 5000;
    uint64_t next_to_send = 0;        // shard 0 only
    uint64_t next_expected = 0;       // shard 1 only
    std::atomic<bool> in_order{true};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> refused{0};

    void pump(core::shard& s) noexcept {
        while (next_to_send < total) {
            auto* n = new uint64_t(next_to_send);
            core::shard_message m{&ping_pong::on_number, n};
            if (!s.send(1, m)) {
                delete n;  // still ours: a full ring sends nothing
                ++refused;
                return;
            }
            ++next_to_send;
        }
    }
    static void on_number(core::shard* here, void* payload) noexcept {
        std::unique_ptr<uint64_t> n(static_cast<uint64_t*>(payload));
        if (!here) return;
        auto& self = *instance;
        if (*n != self.next_expected) self.in_order = false;
        ++self.next_expected;
        ++self.received;
        if (self.next_expected == total)
            here->stop_all();
        else if (self.next_expected % 4 == 0)
            here->send(0, core::shard_message{&ping_pong::on_more, nullptr});
    }
    static void on_more(core::shard* here, void*) noexcept {
        if (here) instance->pump(*here);
    }
    static inline ping_pong* instance = nullptr;
};

}  // namespace

TEST_P(shard_test, messages_arrive_in_order_and_a_full_ring_pushes_back) {
    ping_pong pp;
    ping_pong::instance = &pp;
    core::shard_set set(config);
    watchdog dog(set);
    auto r = set.run([&pp](core::shard& s) noexcept {
        EXPECT_EQ(s.count(), 2u);
        if (s.id() == 0) pp.pump(s);
        s.io().run();
    });
    ASSERT_TRUE(r.ok()) << r.err().what;
    EXPECT_EQ(set.mode(), GetParam());
    EXPECT_TRUE(pp.in_order.load());
    EXPECT_EQ(pp.received.load(), ping_pong::total);
    EXPECT_GT(pp.refused.load(), 0u);
}

TEST_P(shard_test, a_message_to_the_same_shard_runs_on_its_loop) {
    std::atomic<int> ran{0};
    core::shard_set set(config);
    watchdog dog(set);
    auto r = set.run([&ran](core::shard& s) noexcept {
        if (s.id() == 1) {
            s.send(1, core::shard_message{[](core::shard* here, void* p) noexcept {
                                              if (!here) return;
                                              ++*static_cast<std::atomic<int>*>(p);
                                              here->stop_all();
                                          },
                                          &ran});
        }
        s.io().run();
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(ran.load(), 1);
}

TEST_P(shard_test, sigterm_stops_every_shard_and_run_returns) {
    std::atomic<int> finished{0};
    core::shard_set set(config);
    watchdog dog(set);
    auto r = set.run([&finished](core::shard& s) noexcept {
        if (s.id() == 0) ::kill(::getpid(), SIGTERM);  // blocked: only the signalfd sees it
        s.io().run();
        ++finished;
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(finished.load(), 2);
}

TEST_P(shard_test, undelivered_messages_are_freed_at_shutdown) {
    static std::atomic<int> freed{0};
    static std::atomic<int> ran{0};
    freed = 0;
    ran = 0;
    core::shard_set set(config);
    watchdog dog(set);
    auto r = set.run([](core::shard& s) noexcept {
        if (s.id() == 0) {
            for (int i = 0; i < 4; ++i)
                s.send(1, core::shard_message{[](core::shard* here, void*) noexcept { here ? ++ran : ++freed; },
                                              nullptr});
            s.stop_all();
            return;  // shard 1 may or may not run them before it stops
        }
        s.io().run();
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(freed.load() + ran.load(), 4);
}

INSTANTIATE_TEST_SUITE_P(backends, shard_test, POSTHORN_BOTH_BACKENDS);
