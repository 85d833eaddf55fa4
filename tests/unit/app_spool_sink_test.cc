// spool_sink group commit: waiters are answered only once an fdatasync that
// started after their records completes, with up to two syncs in flight
// finishing in any order, and all of them fail when a sync fails.
#include "app/spool_sink.hh"

#include <gtest/gtest.h>

#include "temp_spool.hh"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

using namespace posthorn;

namespace {

using test::temp_spool;

struct answers {
    std::vector<std::pair<uint64_t, bool>> got;
    static void on_done(void* ctx, uint64_t token, bool ok) noexcept {
        static_cast<answers*>(ctx)->got.emplace_back(token, ok);
    }
};

// Commits a one-line message and parks `token` for it.
void commit_one(app::spool_sink& sink, uint64_t token) {
    auto id = sink.begin_message();
    ASSERT_TRUE(id.ok());
    queue::envelope env;
    env.mail_from = "a@example.test";
    ASSERT_TRUE(sink.commit(*id, env, "Received: test\r\n", {}).ok());
    sink.park(token);
}

// Message 1 under a first sync, messages 2..n+1 under a second one.
std::pair<uint64_t, uint64_t> two_syncs_in_flight(app::spool_sink& sink) {
    commit_one(sink, 1);
    EXPECT_GE(sink.sync_to_start(), 0);
    uint64_t seq1 = sink.sync_seq();
    for (uint64_t token = 2; token <= app::spool_sink::second_sync_min_waiters + 1; ++token) commit_one(sink, token);
    EXPECT_GE(sink.sync_to_start(), 0);
    return {seq1, sink.sync_seq()};
}

class spool_sink_test : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(t.spool);
        sink.set_waiter_done(&answers::on_done, &a);
    }
    temp_spool t;
    app::spool_sink sink{*t.spool, 0, 1};
    answers a;
};

}  // namespace

TEST_F(spool_sink_test, a_waiter_is_answered_only_by_a_sync_started_after_its_commit) {

    commit_one(sink, 1);
    int fd1 = sink.sync_to_start();
    ASSERT_GE(fd1, 0);
    uint64_t seq1 = sink.sync_seq();
    EXPECT_LT(sink.sync_to_start(), 0) << "nothing new to sync";

    const uint64_t n = app::spool_sink::second_sync_min_waiters;
    for (uint64_t token = 2; token <= n; ++token) commit_one(sink, token);
    EXPECT_LT(sink.sync_to_start(), 0) << "too few new messages to pay for a second sync";
    commit_one(sink, n + 1);
    int fd2 = sink.sync_to_start();
    ASSERT_GE(fd2, 0) << "a second sync starts while the first runs";
    uint64_t seq2 = sink.sync_seq();
    for (uint64_t token = n + 2; token <= 2 * n + 2; ++token) commit_one(sink, token);
    EXPECT_LT(sink.sync_to_start(), 0) << "at most two syncs in flight";

    sink.sync_finished(seq1, 0);
    EXPECT_EQ(a.got, (std::vector<std::pair<uint64_t, bool>>{{1, true}}));

    sink.sync_finished(seq2, 0);
    EXPECT_EQ(a.got.size(), n + 1);
    EXPECT_EQ(a.got.back(), std::make_pair(n + 1, true));
    EXPECT_TRUE(t.spool->needs_sync()) << "later messages came after the second sync started";

    int fd3 = sink.sync_to_start();
    ASSERT_GE(fd3, 0);
    sink.sync_finished(sink.sync_seq(), 0);
    EXPECT_EQ(a.got.size(), 2 * n + 2);
    EXPECT_EQ(a.got.back(), std::make_pair(2 * n + 2, true));
    EXPECT_FALSE(sink.sync_in_flight());
}

TEST_F(spool_sink_test, a_later_sync_finishing_first_answers_the_earlier_waiters_too) {
    auto [seq1, seq2] = two_syncs_in_flight(sink);

    // fdatasync covers every write made before it began: the second sync
    // makes the first one's records durable as well.
    sink.sync_finished(seq2, 0);
    const size_t all = app::spool_sink::second_sync_min_waiters + 1;
    ASSERT_EQ(a.got.size(), all);
    for (size_t i = 0; i < all; ++i) EXPECT_EQ(a.got[i], std::make_pair(uint64_t{i + 1}, true));
    sink.sync_finished(seq1, 0);
    EXPECT_EQ(a.got.size(), all);
    EXPECT_FALSE(sink.sync_in_flight());
}

TEST_F(spool_sink_test, a_failed_sync_fails_every_waiter_and_refuses_new_messages) {
    auto [seq1, seq2] = two_syncs_in_flight(sink);

    sink.sync_finished(seq1, -EIO);
    const size_t all = app::spool_sink::second_sync_min_waiters + 1;
    ASSERT_EQ(a.got.size(), all);
    for (const auto& [token, ok] : a.got) EXPECT_FALSE(ok) << token;
    sink.sync_finished(seq2, 0);
    EXPECT_EQ(a.got.size(), all) << "a success after the failure changes nothing";
    EXPECT_FALSE(sink.begin_message().ok());
}
