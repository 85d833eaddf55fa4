#include "posthorn/core/timer.hh"

#include <gtest/gtest.h>

#include <vector>

using posthorn::core::no_deadline;
using posthorn::core::timer_heap;
using posthorn::core::timer_id;

TEST(timer_heap, timers_fire_in_deadline_order_then_schedule_order) {
    timer_heap h;
    std::vector<int> fired;
    const uint64_t deadlines[] = {50, 10, 30, 10, 40, 20, 30};
    for (int i = 0; i < 7; ++i) {
        h.schedule(deadlines[i], [&fired, i]() noexcept { fired.push_back(i); });
    }
    EXPECT_EQ(h.next_deadline(), 10u);
    EXPECT_EQ(h.fire_due(25), 3u);
    EXPECT_EQ(fired, (std::vector<int>{1, 3, 5}));
    EXPECT_EQ(h.fire_due(100), 4u);
    EXPECT_EQ(fired, (std::vector<int>{1, 3, 5, 2, 6, 4, 0}));
    EXPECT_EQ(h.next_deadline(), no_deadline);
}

TEST(timer_heap, a_cancelled_timer_does_not_fire_and_its_id_goes_stale) {
    timer_heap h;
    int fired = 0;
    timer_id a = h.schedule(10, [&fired]() noexcept { fired += 1; });
    timer_id b = h.schedule(20, [&fired]() noexcept { fired += 10; });
    EXPECT_TRUE(h.cancel(a));
    EXPECT_FALSE(h.cancel(a));
    EXPECT_EQ(h.fire_due(100), 1u);
    EXPECT_EQ(fired, 10);
    EXPECT_FALSE(h.cancel(b));  // already fired
    // The node is reused; the old id still does not cancel the new timer.
    timer_id c = h.schedule(5, [&fired]() noexcept { fired += 100; });
    EXPECT_FALSE(h.cancel(a));
    EXPECT_EQ(h.size(), 1u);
    EXPECT_TRUE(h.cancel(c));
}

TEST(timer_heap, a_timer_scheduled_while_firing_waits_for_the_next_pass) {
    timer_heap h;
    int fired = 0;
    h.schedule(10, [&]() noexcept {
        ++fired;
        h.schedule(0, [&fired]() noexcept { ++fired; });
    });
    EXPECT_EQ(h.fire_due(10), 1u);
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(h.fire_due(10), 1u);
    EXPECT_EQ(fired, 2);
}

TEST(timer_heap, cancelling_from_the_middle_keeps_the_order) {
    timer_heap h;
    std::vector<int> fired;
    std::vector<timer_id> ids;
    for (int i = 0; i < 64; ++i)
        ids.push_back(h.schedule(static_cast<uint64_t>((i * 37) % 64), [&fired, i]() noexcept { fired.push_back(i); }));
    for (int i = 0; i < 64; i += 3) EXPECT_TRUE(h.cancel(ids[static_cast<size_t>(i)]));
    h.fire_due(1000);
    uint64_t last = 0;
    for (int i : fired) {
        EXPECT_NE(i % 3, 0);
        uint64_t d = static_cast<uint64_t>((i * 37) % 64);
        EXPECT_GE(d, last);
        last = d;
    }
    EXPECT_EQ(fired.size(), 42u);
}
