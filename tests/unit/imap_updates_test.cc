// Untagged news between sessions on one store (RFC 3501 §7.4.1, RFC 2177
// IDLE): two sessions see each other's flags and expunges at the points
// the RFC allows, EXPUNGE is held during FETCH/STORE/SEARCH, IDLE is woken
// by a delivery, and sequence numbers stay consistent per session.
#include "imap_test_host.hh"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <malloc.h>

using namespace imap_test;

namespace {

class imap_updates : public host {
protected:
    std::unique_ptr<session> selected(std::string id) {
        auto s = open(std::move(id));
        login(*s);
        converse(*s, "s0 SELECT INBOX\r\n");
        return s;
    }
};

}  // namespace

TEST_F(imap_updates, two_sessions_see_each_others_flags_and_expunges) {
    for (int i = 0; i < 3; ++i) add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    EXPECT_EQ(converse(*a, "a1 STORE 2 +FLAGS (\\Deleted)\r\n"),
              "* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\na1 OK STORE completed\r\n");
    // b learns of it at its next command, with the UID; a's own STORE is not repeated.
    EXPECT_EQ(converse(*b, "b1 NOOP\r\n"), "* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\nb1 OK NOOP completed\r\n");
    EXPECT_EQ(converse(*a, "a2 NOOP\r\n"), "a2 OK NOOP completed\r\n");
    EXPECT_EQ(converse(*a, "a3 EXPUNGE\r\n"), "* 2 EXPUNGE\r\na3 OK EXPUNGE completed\r\n");
    // b: FETCH holds the EXPUNGE, and the expunged message is still number 2 but gone.
    EXPECT_EQ(converse(*b, "b2 FETCH 3 UID\r\n"), "* 3 FETCH (UID 3)\r\nb2 OK FETCH completed\r\n");
    EXPECT_EQ(converse(*b, "b3 FETCH 2 UID\r\n"), "b3 NO Some of the requested messages no longer exist\r\n");
    EXPECT_EQ(converse(*b, "b4 SEARCH ALL\r\n"), "* SEARCH 1 3\r\nb4 OK SEARCH completed\r\n");
    // A UID command may report it (§7.4.1), as does NOOP.
    EXPECT_EQ(converse(*b, "b5 UID SEARCH ALL\r\n"), "* SEARCH 1 3\r\n* 2 EXPUNGE\r\nb5 OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*b, "b6 FETCH 2 UID\r\n"), "* 2 FETCH (UID 3)\r\nb6 OK FETCH completed\r\n");
}

// A keyword another session defined reaches this one as a new FLAGS list
// (and PERMANENTFLAGS) before the FETCH that carries it.
TEST_F(imap_updates, a_keyword_another_session_defined_comes_with_a_new_flags_list) {
    add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    EXPECT_NE(converse(*a, "a1 STORE 1 +FLAGS.SILENT (Junk)\r\n").find("a1 OK STORE completed"), std::string::npos);
    EXPECT_EQ(converse(*b, "b1 NOOP\r\n"),
              "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Junk)\r\n"
              "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Junk \\*)] Flags permitted\r\n"
              "* 1 FETCH (UID 1 FLAGS (Junk))\r\nb1 OK NOOP completed\r\n");
    EXPECT_EQ(converse(*b, "b2 NOOP\r\n"), "b2 OK NOOP completed\r\n");
}

TEST_F(imap_updates, new_mail_becomes_exists_and_recent_for_one_session_only) {
    add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    add("user1", k_lab_msg);   // a delivery
    // a took message 1's \Recent at SELECT and now takes message 2's.
    EXPECT_EQ(converse(*a, "a1 NOOP\r\n"), "* 2 EXISTS\r\n* 2 RECENT\r\na1 OK NOOP completed\r\n");
    EXPECT_EQ(converse(*b, "b1 CHECK\r\n"), "* 2 EXISTS\r\n* 0 RECENT\r\nb1 OK CHECK completed\r\n");
    // FETCH may report EXISTS (not EXPUNGE).
    add("user1", k_lab_msg);
    EXPECT_EQ(converse(*b, "b2 FETCH 1 UID\r\n"),
              "* 1 FETCH (UID 1)\r\n* 3 EXISTS\r\n* 1 RECENT\r\nb2 OK FETCH completed\r\n");
    EXPECT_EQ(converse(*b, "b3 FETCH 3 FLAGS\r\n"), "* 3 FETCH (FLAGS (\\Recent))\r\nb3 OK FETCH completed\r\n");
}

TEST_F(imap_updates, idle_is_woken_by_a_delivery) {
    add("user1", k_lab_msg);
    int woken = 0;
    cfg.on_output = [&woken] { ++woken; };
    auto a = selected("a");
    EXPECT_EQ(converse(*a, "i1 IDLE\r\n"), "+ idling\r\n");
    EXPECT_TRUE(a->idling());
    // A local delivery, as the local agent makes it: spool extents copied in
    // the kernel after a Return-Path prefix.
    const std::string spooled = root + "/spooled";
    int fd = ::open(spooled.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, k_lab_msg.data(), k_lab_msg.size()), static_cast<ssize_t>(k_lab_msg.size()));
    spool::extent e{fd, 0, k_lab_msg.size()};
    ASSERT_TRUE(st->deliver("user1", "INBOX", "Return-Path: <x@example.test>\r\n", std::span(&e, 1), 1700000000, 7));
    ::close(fd);
    EXPECT_EQ(woken, 1);
    EXPECT_EQ(a->output(), "* 2 EXISTS\r\n* 2 RECENT\r\n");
    a->output().clear();
    // Another session's flag change and expunge, at once too.
    auto b = selected("b");
    converse(*b, "b1 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    EXPECT_EQ(a->output(), "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))\r\n");
    a->output().clear();
    converse(*b, "b2 EXPUNGE\r\n");
    EXPECT_EQ(a->output(), "* 1 EXPUNGE\r\n");
    a->output().clear();
    EXPECT_EQ(converse(*a, "DONE\r\n"), "i1 OK IDLE terminated\r\n");
    EXPECT_FALSE(a->idling());
    EXPECT_EQ(converse(*a, "i2 IDLE\r\nnope\r\n"), "+ idling\r\ni2 BAD Expected DONE\r\n");
}

TEST_F(imap_updates, idle_at_every_cut) {
    auto a = selected("a");
    for (size_t cut : {size_t{1}, size_t{3}, SIZE_MAX})
        EXPECT_EQ(converse(*a, "i IDLE\r\nDONE\r\nn NOOP\r\n", cut), "+ idling\r\ni OK IDLE terminated\r\nn OK NOOP completed\r\n");
}

TEST_F(imap_updates, deleting_the_selected_mailbox_says_bye) {
    ASSERT_TRUE(st->ensure_inbox("user1"));
    ASSERT_TRUE(st->create_folder("user1", "box"));
    auto a = open("a");
    login(*a);
    converse(*a, "s SELECT box\r\n");
    auto b = open("b");
    login(*b);
    converse(*b, "d DELETE box\r\n");
    EXPECT_EQ(converse(*a, "n NOOP\r\n"), "* BYE Selected mailbox was deleted, have to disconnect\r\n");
    EXPECT_TRUE(a->wants_close());
    // Its own DELETE of the selected mailbox just leaves it.
    ASSERT_TRUE(st->create_folder("user1", "box2"));
    converse(*b, "s SELECT box2\r\n");
    EXPECT_EQ(converse(*b, "d DELETE box2\r\n"), "d OK DELETE completed\r\n");
    EXPECT_EQ(converse(*b, "f FETCH 1 FLAGS\r\n"), "f BAD No mailbox selected\r\n");
}

TEST_F(imap_updates, an_unselected_session_and_other_folders_hear_nothing) {
    ASSERT_TRUE(st->ensure_inbox("user1"));
    ASSERT_TRUE(st->create_folder("user1", "other"));
    auto a = selected("a");
    add("user1", k_lab_msg, 0, "other");
    EXPECT_EQ(converse(*a, "n NOOP\r\n"), "n OK NOOP completed\r\n");
    auto c = open("c");
    login(*c);
    add("user1", k_lab_msg);
    EXPECT_EQ(converse(*c, "n NOOP\r\n"), "n OK NOOP completed\r\n");
}

// 1,000 idle logged-in sessions (INBOX selected, in IDLE) must fit in
// 32 KiB each; the heap they hold is the part the session controls.
TEST_F(imap_updates, a_thousand_idle_sessions_hold_little_heap) {
    for (int i = 0; i < 20; ++i) add("user1", k_lab_msg);
    auto heap = [] { return ::mallinfo2().uordblks; };
    std::vector<std::unique_ptr<session>> many;
    many.reserve(1000);
    const size_t before = heap();
    for (int i = 0; i < 1000; ++i) {
        auto s = open("m" + std::to_string(i));
        converse(*s, "a LOGIN user1 user1\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS UID)\r\nd IDLE\r\n");
        ASSERT_TRUE(s->idling());
        many.push_back(std::move(s));
    }
    const size_t per_session = (heap() - before) / 1000;
    std::printf("heap per idle session: %zu bytes\n", per_session);
    EXPECT_LT(per_session, 8u * 1024);
    add("user1", k_lab_msg);   // every one of them hears it
    size_t recent = 0;
    for (auto& s : many) {
        EXPECT_EQ(s->output().substr(0, 13), "* 21 EXISTS\r\n");
        recent += s->output().find("* 1 RECENT") != std::string::npos || s->output().find("* 21 RECENT") != std::string::npos;
    }
    EXPECT_EQ(recent, 1u);   // one session took the new message's \Recent
}

// An expunge of k messages notifies k times; an idling session walks its
// view once and says EXPUNGE k times, lowest first.
TEST_F(imap_updates, a_big_expunge_seen_in_idle) {
    for (int i = 0; i < 3000; ++i) add("user1", k_lab_msg, i % 2 ? uint32_t{store::flag_deleted} : 0u);
    auto a = selected("a");
    converse(*a, "i IDLE\r\n");
    auto b = selected("b");
    std::string r = converse(*b, "e UID EXPUNGE 1:*\r\n");
    EXPECT_TRUE(r.ends_with("* 1501 EXPUNGE\r\ne OK EXPUNGE completed\r\n")) << r.substr(r.size() - 100);
    std::string expected;
    for (int i = 0; i < 1500; ++i) expected += "* " + std::to_string(i + 2) + " EXPUNGE\r\n";
    EXPECT_EQ(a->output(), expected);
}

// Sessions whose view is the folder share the store's UID list
// (shard_store::uids_of) instead of holding a copy each.
TEST_F(imap_updates, two_sessions_on_one_folder_share_one_uid_array) {
    for (int i = 0; i < 3; ++i) add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    ASSERT_NE(a->view_uids(), nullptr);
    EXPECT_EQ(a->view_uids(), b->view_uids());
    EXPECT_EQ(a->view_uids(), st->uids_of(*st->find_folder("user1", "INBOX")).get());
    EXPECT_EQ(*a->view_uids(), (store::uid_list{1, 2, 3}));
    converse(*a, "u UNSELECT\r\n");
    EXPECT_EQ(a->view_uids(), nullptr);
}

TEST_F(imap_updates, a_delivery_then_noop_in_each_session_makes_them_share_the_new_array) {
    for (int i = 0; i < 3; ++i) add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    const store::uid_list* before = a->view_uids();
    add("user1", k_lab_msg);
    EXPECT_EQ(converse(*a, "a1 NOOP\r\n"), "* 4 EXISTS\r\n* 4 RECENT\r\na1 OK NOOP completed\r\n");
    EXPECT_NE(a->view_uids(), b->view_uids());
    EXPECT_EQ(b->view_uids(), before);   // b has not reported it: its numbering is the old one
    EXPECT_EQ(*b->view_uids(), (store::uid_list{1, 2, 3}));
    EXPECT_EQ(converse(*b, "b1 NOOP\r\n"), "* 4 EXISTS\r\n* 0 RECENT\r\nb1 OK NOOP completed\r\n");
    EXPECT_EQ(a->view_uids(), b->view_uids());
    EXPECT_EQ(*a->view_uids(), (store::uid_list{1, 2, 3, 4}));
}

// b holds back an EXPUNGE (FETCH may not report it, RFC 3501 §7.4.1) while
// new mail arrives: its numbering differs from the folder's, so it gets
// its own list, and shares again once it reports the expunge.
TEST_F(imap_updates, an_expunge_reported_by_one_session_only_keeps_the_others_numbering) {
    for (int i = 0; i < 3; ++i) add("user1", k_lab_msg);
    auto a = selected("a");
    auto b = selected("b");
    converse(*a, "a1 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
    EXPECT_EQ(converse(*a, "a2 EXPUNGE\r\n"), "* 2 EXPUNGE\r\na2 OK EXPUNGE completed\r\n");
    EXPECT_EQ(*a->view_uids(), (store::uid_list{1, 3}));
    EXPECT_EQ(*b->view_uids(), (store::uid_list{1, 2, 3}));
    add("user1", k_lab_msg);   // UID 4
    EXPECT_EQ(converse(*b, "b1 FETCH 3 UID\r\n"),
              "* 3 FETCH (UID 3)\r\n* 4 EXISTS\r\n* 1 RECENT\r\nb1 OK FETCH completed\r\n");
    EXPECT_EQ(*b->view_uids(), (store::uid_list{1, 2, 3, 4}));
    EXPECT_NE(b->view_uids(), st->uids_of(*st->find_folder("user1", "INBOX")).get());
    EXPECT_EQ(converse(*b, "b2 FETCH 2 UID\r\n"), "b2 NO Some of the requested messages no longer exist\r\n");
    EXPECT_EQ(converse(*b, "b3 FETCH 4 UID\r\n"), "* 4 FETCH (UID 4)\r\nb3 OK FETCH completed\r\n");
    EXPECT_EQ(converse(*b, "b4 SEARCH ALL\r\n"), "* SEARCH 1 3 4\r\nb4 OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*b, "b5 UID SEARCH ALL\r\n"), "* SEARCH 1 3 4\r\n* 2 EXPUNGE\r\nb5 OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*b, "b6 FETCH 3 UID\r\n"), "* 3 FETCH (UID 4)\r\nb6 OK FETCH completed\r\n");
    EXPECT_EQ(converse(*a, "a3 NOOP\r\n"), "* 3 EXISTS\r\n* 2 RECENT\r\na3 OK NOOP completed\r\n");
    EXPECT_EQ(a->view_uids(), b->view_uids());
    EXPECT_EQ(*b->view_uids(), (store::uid_list{1, 3, 4}));
}

// The views of 1,000 idle sessions on a 10,000-message INBOX are one
// array (the store's), before and after a delivery they all report; the
// heap a session holds does not grow with the folder.
TEST_F(imap_updates, a_thousand_sessions_on_ten_thousand_messages_hold_one_uid_array) {
    constexpr size_t messages = 10000;
    for (size_t i = 0; i < messages; ++i) add("user1", k_lab_msg, store::flag_seen);
    auto array_bytes = [](const std::vector<std::unique_ptr<session>>& all) {
        std::vector<const store::uid_list*> lists;
        for (auto& s : all) lists.push_back(s->view_uids());
        std::sort(lists.begin(), lists.end());
        lists.erase(std::unique(lists.begin(), lists.end()), lists.end());
        size_t bytes = 0;
        for (auto* l : lists) bytes += l ? l->capacity() * sizeof(uint32_t) : 0;
        return std::pair{lists.size(), bytes};
    };
    ASSERT_TRUE(st->uids_of(*st->find_folder("user1", "INBOX")));   // built before the count starts
    auto heap = [] { return ::mallinfo2().uordblks; };
    std::vector<std::unique_ptr<session>> many;
    many.reserve(1000);
    const size_t before = heap();
    for (int i = 0; i < 1000; ++i) {
        auto s = open("m" + std::to_string(i));
        converse(*s, "a LOGIN user1 user1\r\nb SELECT INBOX\r\nd IDLE\r\n");
        ASSERT_TRUE(s->idling());
        many.push_back(std::move(s));
    }
    const size_t per_session = (heap() - before) / 1000;
    std::printf("heap per idle session on %zu messages: %zu bytes\n", messages, per_session);
    EXPECT_LT(per_session, 8u * 1024);   // a private view alone would be 40,000 bytes
    const size_t one_array = messages * sizeof(uint32_t);
    auto [lists, bytes] = array_bytes(many);
    EXPECT_EQ(lists, 1u);
    EXPECT_EQ(bytes, one_array);
    add("user1", k_lab_msg);   // every one of them reports it at once
    for (auto& s : many) EXPECT_EQ(s->output().substr(0, 16), "* 10001 EXISTS\r\n");
    std::tie(lists, bytes) = array_bytes(many);
    EXPECT_EQ(lists, 1u);
    EXPECT_LE(bytes, one_array + 64);
}
