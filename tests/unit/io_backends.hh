// What the unit tests that run on both io backends share: whether io_uring
// works here (a container may forbid it: the io_uring cases skip, epoll
// still runs), the test-name suffix, and a guard that turns a hung loop
// into a failing test instead of a hanging suite (never a timing check).
#pragma once

#include "posthorn/core/reactor.hh"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace posthorn::test {

inline bool uring_available() {
    static const bool ok = core::choose_io(core::io_mode::io_uring, false).ok();
    return ok;
}

inline std::string io_name(const ::testing::TestParamInfo<core::io_mode>& p) { return core::to_string(p.param); }

// A reactor on `mode`, or null with the test failed (check HasFatalFailure
// or the pointer). Call after skipping io_uring where it is unavailable.
inline std::unique_ptr<core::reactor> make_reactor(core::chunk_pool& pool, core::io_mode mode,
                                                   uint32_t idle_poll_us = 0) {
    core::reactor_config cfg;
    cfg.mode = mode;
    cfg.idle_poll_us = idle_poll_us;
    auto r = core::reactor::create(pool, cfg);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().what);
    return r.ok() ? std::move(r.value()) : nullptr;
}

#define POSTHORN_SKIP_WITHOUT(mode)                                                         \
    if ((mode) == ::posthorn::core::io_mode::io_uring && !::posthorn::test::uring_available()) \
    GTEST_SKIP() << "io_uring unavailable here"

#define POSTHORN_BOTH_BACKENDS ::testing::Values(core::io_mode::io_uring, core::io_mode::epoll), ::posthorn::test::io_name

// Fails the test and stops the loop if it still runs `ms` from now.
class hang_guard {
public:
    void arm(core::reactor& r, uint64_t ms) {
        _reactor = &r;
        at_ms = r.now_ms() + ms;
        _timer = r.schedule(at_ms, [this]() noexcept {
            ADD_FAILURE() << "test timed out";
            _reactor->stop();
        });
    }
    // Cancels the timer; a loop that slept through a wake-up was only woken
    // by it: a hang, even when the test's own checks passed.
    void disarm() {
        if (!_reactor) return;
        _reactor->cancel(_timer);
        _reactor = nullptr;
        EXPECT_LT(core::reactor::clock_ms(), at_ms) << "the loop hung until the guard";
    }
    bool expired() const { return core::reactor::clock_ms() >= at_ms; }

    uint64_t at_ms = 0;

private:
    core::reactor* _reactor = nullptr;
    core::timer_id _timer;
};

}  // namespace posthorn::test
