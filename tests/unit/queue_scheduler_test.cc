// The two-stage queue: scheduled -> ready per destination, pop's three
// answers, and the connection budget's additive increase / halving.
#include "posthorn/queue/scheduler.hh"

#include <gtest/gtest.h>

using namespace posthorn;
using queue::next_step;

TEST(queue_scheduler, an_empty_scheduler_says_empty) {
    queue::scheduler s;
    std::vector<queue::destination_id> start;
    next_step n = s.pop(1000, start);
    EXPECT_EQ(n.what, next_step::kind::empty);
    EXPECT_TRUE(start.empty());
}

TEST(queue_scheduler, a_future_item_makes_pop_say_sleep_until_it_is_due) {
    queue::scheduler s;
    auto d = s.destination("mx:example.org");
    s.schedule(7, d, 5000);
    std::vector<queue::destination_id> start;
    next_step n = s.pop(1000, start);
    EXPECT_EQ(n.what, next_step::kind::sleep);
    EXPECT_EQ(n.sleep_ms, 4000u);
    EXPECT_EQ(s.at(d).waiting(), 0u);

    n = s.pop(5000, start);
    EXPECT_EQ(n.what, next_step::kind::items);
    ASSERT_EQ(start.size(), 1u);
    EXPECT_EQ(start[0], d);
    EXPECT_EQ(s.at(d).waiting(), 1u);
    EXPECT_EQ(s.at(d).take(), std::optional<queue::item_id>(7));
}

TEST(queue_scheduler, due_items_reach_their_own_destination_in_due_then_schedule_order) {
    queue::scheduler s;
    auto a = s.destination("local");
    auto b = s.destination("[127.0.0.1]:2626");
    EXPECT_EQ(s.destination("local"), a) << "names map to one destination";
    s.schedule(1, a, 30);
    s.schedule(2, b, 10);
    s.schedule(3, a, 10);
    s.schedule(4, a, 10);
    std::vector<queue::destination_id> start;
    EXPECT_EQ(s.pop(100, start).what, next_step::kind::items);
    EXPECT_EQ(start, (std::vector<queue::destination_id>{a, b}));
    EXPECT_EQ(s.at(a).take(), std::optional<queue::item_id>(3));
    EXPECT_EQ(s.at(a).take(), std::optional<queue::item_id>(4));
    EXPECT_EQ(s.at(a).take(), std::optional<queue::item_id>(1));
    EXPECT_EQ(s.at(a).take(), std::nullopt);
    EXPECT_EQ(s.at(b).take(), std::optional<queue::item_id>(2));
}

TEST(queue_scheduler, a_destination_at_its_budget_is_not_startable_and_pop_sleeps_or_says_empty) {
    queue::scheduler s(queue::destination_limits{4, 2});
    auto d = s.destination("mx:busy.test");
    for (queue::item_id i = 0; i < 5; ++i) s.schedule(i, d, 0);
    std::vector<queue::destination_id> start;
    ASSERT_EQ(s.pop(0, start).what, next_step::kind::items);
    s.at(d).connection_opened();
    s.at(d).connection_opened();
    EXPECT_EQ(s.pop(0, start).what, next_step::kind::empty) << "items wait, but both connections are busy";
    EXPECT_TRUE(start.empty());
    s.schedule(9, d, 50);
    EXPECT_EQ(s.pop(0, start).what, next_step::kind::sleep);
    s.at(d).connection_closed();
    EXPECT_EQ(s.pop(0, start).what, next_step::kind::items) << "a connection freed up";
}

TEST(queue_scheduler, make_all_due_brings_every_scheduled_item_forward_in_order) {
    queue::scheduler s;
    auto d = s.destination("mx:later.test");
    s.schedule(1, d, 90'000);
    s.schedule(2, d, 30'000);
    std::vector<queue::destination_id> start;
    EXPECT_EQ(s.pop(1000, start).what, next_step::kind::sleep);
    EXPECT_EQ(s.make_all_due(1000), 2u);
    EXPECT_EQ(s.pop(1000, start).what, next_step::kind::items);
    EXPECT_EQ(s.at(d).take(), std::optional<queue::item_id>(1)) << "schedule order among equals";
    EXPECT_EQ(s.at(d).take(), std::optional<queue::item_id>(2));
}

TEST(queue_scheduler, next_due_is_known_while_other_items_are_ready) {
    queue::scheduler s;
    auto d = s.destination("mx:both.test");
    EXPECT_EQ(s.next_due_ms(), queue::scheduler::no_due);
    s.schedule(1, d, 0);
    s.schedule(2, d, 7000);
    std::vector<queue::destination_id> start;
    EXPECT_EQ(s.pop(100, start).what, next_step::kind::items);
    EXPECT_EQ(s.next_due_ms(), 7000u) << "the deferred item still needs a wake-up";
}

TEST(queue_ready_queue, budget_grows_by_one_after_budget_successes_and_halves_on_failure) {
    queue::ready_queue q("mx:x.test", queue::destination_limits{20, 5});
    EXPECT_EQ(q.budget(), 5u);
    for (int i = 0; i < 4; ++i) q.on_success();
    EXPECT_EQ(q.budget(), 5u);
    q.on_success();
    EXPECT_EQ(q.budget(), 6u);
    for (int i = 0; i < 6; ++i) q.on_success();
    EXPECT_EQ(q.budget(), 7u);
    q.on_transient_failure();
    EXPECT_EQ(q.budget(), 3u);
    q.on_transient_failure();
    q.on_transient_failure();
    q.on_transient_failure();
    EXPECT_EQ(q.budget(), 1u) << "never below one";
}

TEST(queue_ready_queue, budget_never_passes_the_destination_cap) {
    queue::ready_queue q("mx:x.test", queue::destination_limits{3, 10});
    EXPECT_EQ(q.budget(), 3u) << "the initial budget is capped too";
    for (int i = 0; i < 100; ++i) q.on_success();
    EXPECT_EQ(q.budget(), 3u);
}

TEST(queue_ready_queue, drain_moves_every_waiting_item_out_in_order) {
    queue::ready_queue q("mx:dead.test", {});
    q.push(1, 0);
    q.push(2, 5);
    EXPECT_EQ(q.oldest_ready_ms(), 0u);
    std::vector<queue::item_id> out;
    q.drain(out);
    EXPECT_EQ(out, (std::vector<queue::item_id>{1, 2}));
    EXPECT_EQ(q.waiting(), 0u);
    EXPECT_FALSE(q.can_open());
}
