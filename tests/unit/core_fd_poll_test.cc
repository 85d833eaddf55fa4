// reactor::poll_arm / poll_cancel on both backends: one-shot readiness,
// re-arming, cancellation (never reported from inside the call, always as
// -ECANCELED, also when the wait was ready in the same batch), and a closed
// and reused descriptor number that an old poll must not see.
#include "posthorn/core/reactor.hh"

#include <gtest/gtest.h>

#include "io_backends.hh"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

using namespace posthorn;
using core::io_mode;

namespace {

// Records every on_poll() result; optionally runs a hook from inside it.
struct recorder final : core::poll_handler {
    core::fd_poll poll;
    std::vector<int> results;
    core::reactor* stop_on_poll = nullptr;
    void (*hook)(recorder&) = nullptr;
    void* ctx = nullptr;
    void on_poll(int events) noexcept override {
        results.push_back(events);
        if (hook) hook(*this);
        if (stop_on_poll) stop_on_poll->stop();
    }
};

struct pipe_fds {
    int r = -1, w = -1;
    pipe_fds() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            r = fds[0];
            w = fds[1];
        }
    }
    ~pipe_fds() { close_both(); }
    void close_both() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
        r = w = -1;
    }
    void put() const { ASSERT_EQ(::write(w, "x", 1), 1); }
    void take() const {
        char c;
        ASSERT_EQ(::read(r, &c, 1), 1);
    }
};

class fd_poll_test : public ::testing::TestWithParam<io_mode> {
protected:
    void SetUp() override {
        POSTHORN_SKIP_WITHOUT(GetParam());
        reactor = test::make_reactor(pool, GetParam());
        ASSERT_TRUE(reactor);
        guard.arm(*reactor, 5000);
    }
    void TearDown() override {
        if (!reactor) return;
        guard.disarm();
        reactor->run_until_idle();
    }
    // Turns until `done` (bounded by the guard's timeout). A turn that
    // handled the awaited completion may go on to sleep: a short timer
    // bounds each turn's wait so `done` is checked again.
    template <typename F>
    void run_until(F done) {
        while (!done() && !guard.expired()) {
            core::timer_id tick = reactor->schedule(core::reactor::clock_ms() + 2, []() noexcept {});  // now_ms() is the turn start: stale here
            reactor->run_once(true);
            reactor->cancel(tick);
        }
    }

    core::chunk_pool pool{4096, 64};
    std::unique_ptr<core::reactor> reactor;
    test::hang_guard guard;
};

}  // namespace

TEST_P(fd_poll_test, a_poll_reports_readable_once_data_arrives_and_not_before) {
    pipe_fds p;
    recorder rec;
    reactor->poll_arm(rec.poll, p.r, POLLIN, rec);
    EXPECT_TRUE(rec.poll.busy());
    for (int i = 0; i < 3; ++i) reactor->run_once(false);
    EXPECT_TRUE(rec.results.empty()) << "reported before any data";
    reactor->schedule_after(5, [&p]() noexcept { p.put(); });
    run_until([&] { return !rec.results.empty(); });
    ASSERT_EQ(rec.results.size(), 1u);
    EXPECT_TRUE(rec.results[0] & POLLIN);
    EXPECT_FALSE(rec.poll.busy());
}

TEST_P(fd_poll_test, a_connected_socket_is_reported_writable) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    recorder rec;
    reactor->poll_arm(rec.poll, sv[0], POLLOUT, rec);
    run_until([&] { return !rec.results.empty(); });
    ASSERT_EQ(rec.results.size(), 1u);
    EXPECT_TRUE(rec.results[0] & POLLOUT);
    EXPECT_FALSE(rec.results[0] & POLLIN);
    reactor->poll_cancel(rec.poll);  // idle: forgets the fd, reports nothing
    ::close(sv[0]);
    ::close(sv[1]);
    for (int i = 0; i < 3; ++i) reactor->run_once(false);
    EXPECT_EQ(rec.results.size(), 1u);
}

TEST_P(fd_poll_test, a_poll_armed_again_after_it_fired_fires_again) {
    pipe_fds p;
    recorder rec;
    for (int round = 0; round < 3; ++round) {
        reactor->poll_arm(rec.poll, p.r, POLLIN, rec);
        p.put();
        run_until([&] { return rec.results.size() == static_cast<size_t>(round + 1); });
        ASSERT_EQ(rec.results.size(), static_cast<size_t>(round + 1));
        EXPECT_TRUE(rec.results.back() & POLLIN);
        p.take();
    }
    reactor->poll_cancel(rec.poll);
}

TEST_P(fd_poll_test, one_shot_a_ready_fd_not_rearmed_is_not_reported_again) {
    pipe_fds p;
    recorder rec;
    reactor->poll_arm(rec.poll, p.r, POLLIN, rec);
    p.put();  // left unread: still readable
    run_until([&] { return !rec.results.empty(); });
    for (int i = 0; i < 5; ++i) reactor->run_once(false);
    EXPECT_EQ(rec.results.size(), 1u);
    reactor->poll_cancel(rec.poll);
}

TEST_P(fd_poll_test, a_cancelled_poll_ends_with_ecanceled_later_from_the_loop) {
    pipe_fds p;
    recorder rec;
    reactor->poll_arm(rec.poll, p.r, POLLIN, rec);
    reactor->run_once(false);  // io_uring: the wait is in the kernel now
    reactor->poll_cancel(rec.poll);
    EXPECT_TRUE(rec.results.empty()) << "on_poll ran inside poll_cancel";
    EXPECT_TRUE(rec.poll.busy());
    p.close_both();  // allowed right after the cancel
    run_until([&] { return !rec.results.empty(); });
    ASSERT_EQ(rec.results.size(), 1u);
    EXPECT_EQ(rec.results[0], -ECANCELED);
    EXPECT_FALSE(rec.poll.busy());
}

TEST_P(fd_poll_test, a_poll_cancelled_while_its_event_is_in_the_same_batch_reports_only_the_cancel) {
    // Two ready pipes; whichever handler runs first cancels the other, whose
    // readiness may already sit in this turn's batch.
    pipe_fds a, b;
    recorder ra, rb;
    ra.ctx = &rb;
    rb.ctx = &ra;
    static struct {
        core::reactor* r = nullptr;
        recorder* first = nullptr;
    } cx;
    cx = {reactor.get(), nullptr};
    auto hook = [](recorder& self) {
        if (cx.first) return;
        cx.first = &self;
        cx.r->poll_cancel(static_cast<recorder*>(self.ctx)->poll);
    };
    ra.hook = hook;
    rb.hook = hook;
    reactor->poll_arm(ra.poll, a.r, POLLIN, ra);
    reactor->poll_arm(rb.poll, b.r, POLLIN, rb);
    reactor->run_once(false);
    a.put();
    b.put();
    run_until([&] { return !ra.results.empty() && !rb.results.empty(); });
    ASSERT_NE(cx.first, nullptr);
    recorder* second = cx.first == &ra ? &rb : &ra;
    ASSERT_EQ(cx.first->results.size(), 1u);
    EXPECT_TRUE(cx.first->results[0] & POLLIN);
    ASSERT_EQ(second->results.size(), 1u);
    EXPECT_EQ(second->results[0], -ECANCELED);
}

TEST_P(fd_poll_test, an_old_poll_never_reports_for_a_new_file_with_the_same_number) {
    recorder old_rec, new_rec;
    pipe_fds first;
    const int number = first.r;
    reactor->poll_arm(old_rec.poll, first.r, POLLIN, old_rec);
    reactor->run_once(false);
    reactor->poll_cancel(old_rec.poll);
    first.close_both();
    pipe_fds second;  // lowest free numbers: the same as before
    ASSERT_EQ(second.r, number);
    reactor->poll_arm(new_rec.poll, second.r, POLLIN, new_rec);
    second.put();
    run_until([&] { return !old_rec.results.empty() && !new_rec.results.empty(); });
    ASSERT_EQ(old_rec.results.size(), 1u);
    EXPECT_EQ(old_rec.results[0], -ECANCELED);
    ASSERT_EQ(new_rec.results.size(), 1u);
    EXPECT_TRUE(new_rec.results[0] & POLLIN);
}

TEST_P(fd_poll_test, run_until_idle_waits_for_a_cancelled_poll_to_end) {
    pipe_fds p;
    recorder rec;
    reactor->poll_arm(rec.poll, p.r, POLLIN, rec);
    reactor->run_once(false);
    reactor->poll_cancel(rec.poll);
    reactor->run_until_idle();
    EXPECT_FALSE(rec.poll.busy());
    ASSERT_EQ(rec.results.size(), 1u);
    EXPECT_EQ(rec.results[0], -ECANCELED);
}

INSTANTIATE_TEST_SUITE_P(backends, fd_poll_test, POSTHORN_BOTH_BACKENDS);
