// Liveness: segment references over message ranges, and the tombstone guard
// that keeps a message_done alive as long as the message it hides.
#include "spool/liveness.hh"

#include <gtest/gtest.h>

using namespace posthorn::spool;

namespace {
std::vector<uint64_t> sweep(liveness& l, uint64_t current) {
    std::vector<uint64_t> dead;
    std::vector<bool> barrier;
    l.sweep(current, dead, barrier);
    return dead;
}
}  // namespace

TEST(spool_liveness, a_message_holds_every_segment_its_records_span) {
    liveness l;
    for (uint64_t s = 1; s <= 4; ++s) l.add_segment(s);
    l.on_body(7, 1);
    l.on_body(7, 3);
    l.on_message(7, 4);
    EXPECT_EQ(l.refs(1), 1u);
    EXPECT_EQ(l.refs(2), 1u);  // conservative: inside the range
    EXPECT_EQ(l.refs(3), 1u);
    EXPECT_EQ(l.refs(4), 1u);
    EXPECT_TRUE(l.covers(7, 2));
    l.on_finish(7, 4);
    EXPECT_EQ(sweep(l, 4), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(spool_liveness, uncommitted_fragments_are_dropped_at_recovery) {
    liveness l;
    l.add_segment(1);
    l.add_segment(2);
    l.on_body(1, 1);
    l.on_message(2, 1);
    l.drop_uncommitted();
    EXPECT_FALSE(l.tracks(1));
    EXPECT_TRUE(l.tracks(2));
    EXPECT_EQ(l.refs(1), 1u);
}

TEST(spool_liveness, a_tombstone_segment_waits_for_the_segment_of_its_message) {
    liveness l;
    l.add_segment(1);
    l.on_message(1, 1);  // A
    l.on_message(2, 1);  // B, long lived
    l.add_segment(2);
    l.on_sealed(1);
    l.on_finish(1, 2);   // A's tombstone in 2
    l.add_segment(3);
    l.on_sealed(2);
    EXPECT_TRUE(sweep(l, 3).empty()) << "segment 2 hides A, which segment 1 still holds";
    l.on_finish(2, 3);
    std::vector<uint64_t> dead;
    std::vector<bool> barrier;
    l.sweep(3, dead, barrier);
    EXPECT_EQ(dead, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(barrier, (std::vector<bool>{false, true}));
}

TEST(spool_liveness, rcpt_done_extends_a_committed_message_only) {
    liveness l;
    l.add_segment(1);
    l.add_segment(2);
    l.on_message(5, 1);
    l.on_rcpt_done(5, 2);
    EXPECT_EQ(l.refs(2), 1u);
    l.on_rcpt_done(6, 2);  // unknown id: ignored
    EXPECT_FALSE(l.tracks(6));
    EXPECT_EQ(l.refs(2), 1u);
}
