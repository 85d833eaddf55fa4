#include "posthorn/core/spsc_ring.hh"

#include <gtest/gtest.h>

#include <thread>

using posthorn::core::spsc_ring;

TEST(spsc_ring, values_come_out_in_the_order_they_went_in) {
    spsc_ring<int> q(8);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(q.try_push(i));
    int v = -1;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(q.try_pop(v));
        EXPECT_EQ(v, i);
    }
    EXPECT_FALSE(q.try_pop(v));
}

TEST(spsc_ring, a_full_ring_refuses_until_the_consumer_takes_one) {
    spsc_ring<int> q(5);  // rounded up to 8
    EXPECT_EQ(q.capacity(), 8u);
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(q.try_push(i));
    EXPECT_FALSE(q.try_push(99));
    EXPECT_EQ(q.size_approx(), 8u);
    int v;
    ASSERT_TRUE(q.try_pop(v));
    EXPECT_EQ(v, 0);
    EXPECT_TRUE(q.try_push(8));
    EXPECT_FALSE(q.try_push(9));
}

TEST(spsc_ring, two_threads_pass_many_values_in_order) {
    spsc_ring<uint64_t> q(64);
    constexpr uint64_t n = 200'000;
    std::thread producer([&] {
        for (uint64_t i = 0; i < n;)
            if (q.try_push(i)) ++i;
    });
    uint64_t expected = 0;
    bool in_order = true;
    while (expected < n) {
        uint64_t v;
        if (!q.try_pop(v)) continue;
        in_order &= v == expected;
        ++expected;
    }
    producer.join();
    EXPECT_TRUE(in_order);
    EXPECT_EQ(q.size_approx(), 0u);
}
