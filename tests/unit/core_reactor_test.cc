// The reactor on both backends: timers, cancel, deadlines, tasks, turn
// hooks, fdatasync, cross-thread wake-up and stop, backend selection.
#include "posthorn/core/reactor.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace posthorn;
using posthorn::test::uring_available;
using core::io_mode;

namespace {

class reactor_test : public ::testing::TestWithParam<io_mode> {
protected:
    void SetUp() override {
        POSTHORN_SKIP_WITHOUT(GetParam());
        reactor = test::make_reactor(pool, GetParam());
        ASSERT_TRUE(reactor);
        ASSERT_EQ(reactor->mode(), GetParam());
        guard.arm(*reactor, 5000);
    }
    void TearDown() override {
        if (!reactor) return;
        guard.disarm();
    }

    core::chunk_pool pool{4096, 64};
    std::unique_ptr<core::reactor> reactor;
    test::hang_guard guard;
};

}  // namespace

TEST_P(reactor_test, timers_fire_in_deadline_order) {
    std::vector<int> fired;
    const uint64_t delays[] = {30, 5, 20, 1, 10};
    for (int i = 0; i < 5; ++i)
        reactor->schedule_after(delays[i], [this, &fired, i]() noexcept {
            fired.push_back(i);
            if (fired.size() == 5) reactor->stop();
        });
    reactor->run();
    EXPECT_EQ(fired, (std::vector<int>{3, 1, 4, 2, 0}));
}

TEST_P(reactor_test, a_cancelled_timer_never_fires) {
    bool cancelled_fired = false;
    core::timer_id id = reactor->schedule_after(5, [&]() noexcept { cancelled_fired = true; });
    reactor->schedule_after(20, [this]() noexcept { reactor->stop(); });
    EXPECT_TRUE(reactor->cancel(id));
    reactor->run();
    EXPECT_FALSE(cancelled_fired);
}

TEST_P(reactor_test, an_earlier_timer_added_while_the_loop_waits_for_a_later_one_fires_first) {
    // The loop sleeps with the kernel timeout set for a far timer; a wake-up
    // lets a poller add a near one, which must then fire without waiting for
    // the far one (io_uring: the armed timeout is moved earlier). A broken
    // update would show as the far timer firing first.
    struct state {
        core::reactor* r;
        std::vector<int> fired;
        std::atomic<bool> flag{false};
        bool added = false;
        bool poll() noexcept {
            if (added || !flag.load()) return false;
            added = true;
            r->schedule_after(1, [this]() noexcept { fired.push_back(1); r->stop(); });
            return true;
        }
    } st{reactor.get()};
    auto& fired = st.fired;
    auto& flag = st.flag;
    reactor->schedule_after(3000, [&st]() noexcept { st.fired.push_back(2); st.r->stop(); });
    reactor->add_poller([&st]() noexcept { return st.poll(); });
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the loop fall asleep
        flag.store(true);
        reactor->wake();
    });
    reactor->run();
    t.join();
    EXPECT_EQ(fired, (std::vector<int>{1}));
}

TEST_P(reactor_test, a_deadline_pushed_back_fires_once_at_its_last_value) {
    struct state {
        core::reactor* r;
        int expired = 0;
    } st{reactor.get()};
    core::deadline_timer d(
        *reactor,
        [](void* ctx) noexcept {
            auto* s = static_cast<state*>(ctx);
            ++s->expired;
            s->r->stop();
        },
        &st);
    int& expired = st.expired;
    d.set_after(5);
    for (int i = 0; i < 3; ++i) {
        reactor->run_once(false);
        d.set_after(15);  // a store: the heap entry moves only when it fires
    }
    uint64_t wanted = d.at_ms();
    reactor->run();
    EXPECT_EQ(expired, 1);
    EXPECT_GE(reactor->now_ms(), wanted);
}

TEST_P(reactor_test, a_cleared_deadline_does_not_expire) {
    int expired = 0;
    core::deadline_timer d(*reactor, [](void* ctx) noexcept { ++*static_cast<int*>(ctx); }, &expired);
    d.set_after(2);
    d.clear();
    reactor->schedule_after(20, [this]() noexcept { reactor->stop(); });
    reactor->run();
    EXPECT_EQ(expired, 0);
}

TEST_P(reactor_test, turn_hooks_run_every_turn_after_posted_tasks) {
    std::vector<char> order;
    core::task t([](void* ctx) noexcept { static_cast<std::vector<char>*>(ctx)->push_back('t'); }, &order);
    auto hook = reactor->add_turn_hook([&]() noexcept { order.push_back('h'); });
    reactor->post(t);
    reactor->post(t);  // queued once
    reactor->run_once(false);
    reactor->remove_turn_hook(hook);
    reactor->run_once(false);
    EXPECT_EQ(order, (std::vector<char>{'t', 'h'}));
}

// A task posted by a task runs after the first hook pass; the hooks must
// still see its work in the same turn, or the loop sleeps on it.
TEST_P(reactor_test, work_posted_by_a_task_still_meets_the_hooks_before_the_turn_ends) {
    struct state {
        core::reactor* r;
        core::task second;
        bool second_ran = false;
        bool hook_saw_second = false;
    } st{reactor.get(), {}, false, false};
    st.second.set([](void* ctx) noexcept { static_cast<state*>(ctx)->second_ran = true; }, &st);
    core::task first([](void* ctx) noexcept {
        auto* s = static_cast<state*>(ctx);
        s->r->post(s->second);
    }, &st);
    auto hook = reactor->add_turn_hook([&st]() noexcept { st.hook_saw_second |= st.second_ran; });
    reactor->post(first);
    reactor->run_once(false);
    reactor->remove_turn_hook(hook);
    EXPECT_TRUE(st.second_ran);
    EXPECT_TRUE(st.hook_saw_second);
}

TEST_P(reactor_test, fdatasync_completes_with_success_on_a_file) {
    char path[] = "/tmp/posthorn-fsync-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    ASSERT_EQ(::write(fd, "record", 6), 6);
    bool done = false;
    bool called_inline = true;
    reactor->fdatasync(fd, [&](core::result<void> r) noexcept {
        EXPECT_TRUE(r.ok()) << r.err().reason();
        done = true;
        reactor->stop();
    });
    called_inline = done;
    reactor->run();
    ::close(fd);
    EXPECT_FALSE(called_inline);
    EXPECT_TRUE(done);
}

TEST_P(reactor_test, fdatasync_on_a_bad_descriptor_reports_the_error) {
    int err = 0;
    reactor->fdatasync(987654, [&](core::result<void> r) noexcept {
        err = r.ok() ? 0 : r.err().code;
        reactor->stop();
    });
    reactor->run();
    EXPECT_EQ(err, EBADF);
}

TEST_P(reactor_test, another_thread_wakes_a_sleeping_loop) {
    std::atomic<bool> flag{false};
    reactor->add_poller([&]() noexcept {
        if (!flag.load()) return false;
        reactor->stop();
        return true;
    });
    // Whether the loop is asleep or about to be, it must see the flag: the
    // wake-up, or its last poll before sleeping.
    std::thread t([&] {
        flag.store(true);
        reactor->wake();
    });
    reactor->run();
    t.join();
    EXPECT_TRUE(flag.load());
}

TEST_P(reactor_test, stop_from_another_thread_ends_run) {
    std::thread t([&] { reactor->stop(); });
    reactor->run();
    t.join();
    EXPECT_TRUE(reactor->stopping());
}

// After a turn with completions the loop polls instead of sleeping; what
// arrives meanwhile (here another thread's wake-up) is caught by the poll.
// Ping-pong rounds: the thread wakes the loop only after the loop saw its
// previous round, so a wake-up lands while the loop either sleeps or polls.
// Whether one round's wake-up folds into the previous one's (two eventfd
// writes read at once) depends on scheduling, so the rounds go on until a
// poll has caught one; with the poll off none ever does.
TEST_P(reactor_test, an_idle_poll_after_activity_catches_what_arrives_meanwhile) {
    core::chunk_pool own_pool{4096, 64};  // the fixture's reactor holds the other pool's chunks
    auto polling = test::make_reactor(own_pool, GetParam(), 3'000'000);
    ASSERT_TRUE(polling);
    constexpr int k_rounds_max = 200;
    struct rounds {
        core::reactor* r;
        std::atomic<int> sent{0};
        std::atomic<int> seen{0};
        std::atomic<bool> done{false};
        bool poll() noexcept {
            int s = sent.load();
            if (s == seen.load()) return false;
            seen.store(s);
            if (r->stats().idle_polls_caught == 0 && s < k_rounds_max) return false;
            done.store(true);
            r->stop();
            return true;
        }
    } st{polling.get()};
    auto& sent = st.sent;
    auto& seen = st.seen;
    auto& done = st.done;
    polling->add_poller([&st]() noexcept { return st.poll(); });
    std::thread t([&] {
        for (int k = 1; k <= k_rounds_max && !done.load(); ++k) {
            while (seen.load() != k - 1 && !done.load()) std::this_thread::yield();
            if (done.load()) break;
            sent.store(k);
            polling->wake();
        }
    });
    polling->run();
    t.join();
    EXPECT_GE(polling->stats().idle_polls_caught, 1u);
}

// The poll is bounded: with nothing arriving the loop goes back to sleep,
// and its timers still fire.
TEST_P(reactor_test, an_idle_poll_that_finds_nothing_still_lets_timers_fire) {
    core::chunk_pool own_pool{4096, 64};
    auto polling = test::make_reactor(own_pool, GetParam(), 1000);
    ASSERT_TRUE(polling);
    int fired = 0;
    polling->schedule_after(5, [&]() noexcept { ++fired; });
    polling->schedule_after(40, [&]() noexcept {
        ++fired;
        polling->stop();
    });
    polling->run();
    EXPECT_EQ(fired, 2);
}

INSTANTIATE_TEST_SUITE_P(backends, reactor_test, POSTHORN_BOTH_BACKENDS);

TEST(reactor_selection, forced_epoll_is_epoll) {
    auto c = core::choose_io(io_mode::epoll);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->mode, io_mode::epoll);
    core::chunk_pool pool(4096, 4);
    core::reactor_config cfg;
    cfg.mode = io_mode::epoll;
    auto r = core::reactor::create(pool, cfg);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value()->mode(), io_mode::epoll);
}

TEST(reactor_selection, auto_picks_io_uring_when_the_kernel_allows_it_and_epoll_otherwise) {
    core::chunk_pool pool(4096, 4);
    auto r = core::reactor::create(pool, core::reactor_config{});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value()->mode(), uring_available() ? io_mode::io_uring : io_mode::epoll);
}

TEST(reactor_selection, forced_io_uring_either_works_or_is_an_error) {
    core::chunk_pool pool(4096, 4);
    core::reactor_config cfg;
    cfg.mode = io_mode::io_uring;
    auto r = core::reactor::create(pool, cfg);
    EXPECT_EQ(r.ok(), uring_available());
    if (r.ok()) {
        EXPECT_EQ(r.value()->mode(), io_mode::io_uring);
    }
}

TEST(reactor_selection, io_mode_names_parse_and_print) {
    EXPECT_EQ(core::parse_io_mode("auto").value(), io_mode::auto_detect);
    EXPECT_EQ(core::parse_io_mode("io_uring").value(), io_mode::io_uring);
    EXPECT_EQ(core::parse_io_mode("epoll").value(), io_mode::epoll);
    EXPECT_FALSE(core::parse_io_mode("kqueue").ok());
    EXPECT_STREQ(core::to_string(io_mode::io_uring), "io_uring");
}
