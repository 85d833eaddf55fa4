// Next-hop selection and the [routes] / smarthost syntax; retry schedule and
// durations.
#include "posthorn/queue/retry.hh"
#include "posthorn/queue/routing.hh"

#include <gtest/gtest.h>

using namespace posthorn;
using queue::next_hop;

TEST(queue_routing, host_port_forms_parse_and_bad_ones_are_refused) {
    auto a = queue::parse_host_port("Relay.Test:2626");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "relay.test");
    EXPECT_EQ(a->port, 2626);
    auto b = queue::parse_host_port("mx.example.org");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->port, 25);
    auto c = queue::parse_host_port("[::1]:2525");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->port, 2525);
    for (const char* bad : {"", ":25", "host:", "host:0", "host:65536", "host:2x", "::1:25", "[::1", "[]:25", "a b:25"})
        EXPECT_FALSE(queue::parse_host_port(bad).ok()) << bad;
}

TEST(queue_routing, local_domains_go_local_before_any_route) {
    queue::route_table t;
    ASSERT_TRUE(t.add("example.test", "127.0.0.1:2626").ok());
    ASSERT_TRUE(t.set_smarthost("smart.test:587").ok());
    next_hop h = t.route("example.test", true);
    EXPECT_EQ(h.how, next_hop::kind::local);
    EXPECT_EQ(h.key(), "local");
}

TEST(queue_routing, exact_route_then_parent_route_then_smarthost_then_mx) {
    queue::route_table t;
    ASSERT_TRUE(t.add("relay.test", "127.0.0.1:2626").ok());
    ASSERT_TRUE(t.add(".corp.test", "10.0.0.1").ok());
    next_hop exact = t.route("relay.test", false);
    EXPECT_EQ(exact.how, next_hop::kind::host);
    EXPECT_EQ(exact.key(), "[127.0.0.1]:2626");
    EXPECT_EQ(t.route("a.b.corp.test", false).key(), "[10.0.0.1]:25");
    EXPECT_EQ(t.route("corp.test", false).how, next_hop::kind::mx) << ".parent matches subdomains only";
    EXPECT_EQ(t.route("sub.relay.test", false).how, next_hop::kind::mx) << "an exact route is not a parent";
    next_hop mx = t.route("example.org", false);
    EXPECT_EQ(mx.how, next_hop::kind::mx);
    EXPECT_EQ(mx.key(), "mx:example.org");

    ASSERT_TRUE(t.set_smarthost("[::1]:2525").ok());
    EXPECT_EQ(t.route("example.org", false).key(), "[::1]:2525");
    EXPECT_EQ(t.route("relay.test", false).key(), "[127.0.0.1]:2626") << "routes win over the smarthost";
}

TEST(queue_retry, durations_parse_with_units_and_bad_ones_are_refused) {
    EXPECT_EQ(queue::parse_duration_ms("250ms").value(), 250u);
    EXPECT_EQ(queue::parse_duration_ms("90s").value(), 90'000u);
    EXPECT_EQ(queue::parse_duration_ms("90").value(), 90'000u);
    EXPECT_EQ(queue::parse_duration_ms("5m").value(), 300'000u);
    EXPECT_EQ(queue::parse_duration_ms("2h").value(), 7'200'000u);
    EXPECT_EQ(queue::parse_duration_ms("5d").value(), 432'000'000u);
    for (const char* bad : {"", "m", "5x", "-1s", "1.5h", "5 m"})
        EXPECT_FALSE(queue::parse_duration_ms(bad).ok()) << bad;
}

TEST(queue_retry, delays_follow_the_list_then_repeat_the_last_and_stop_at_the_lifetime) {
    queue::retry_policy p;
    p.delays_ms = {1000, 5000};
    p.lifetime_ms = 20'000;
    auto d1 = p.after_failure(1, 0, 0);
    EXPECT_FALSE(d1.expired);
    EXPECT_EQ(d1.retry_at_ms, 1000u);
    EXPECT_EQ(p.after_failure(2, 0, 1000).retry_at_ms, 6000u);
    EXPECT_EQ(p.after_failure(3, 0, 6000).retry_at_ms, 11'000u) << "the last delay repeats";
    EXPECT_EQ(p.after_failure(5, 0, 18'000).retry_at_ms, 20'000u) << "one last try at the end of the lifetime";
    EXPECT_TRUE(p.after_failure(6, 0, 20'000).expired);
}
