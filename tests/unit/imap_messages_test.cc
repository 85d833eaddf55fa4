// IMAP message commands against a real store: FETCH (every attribute,
// sections, partials, macros, \Seen, streamed literals bigger than the
// window), STORE, COPY/MOVE with UIDPLUS codes, EXPUNGE/UID EXPUNGE,
// APPEND (synchronizing, LITERAL+, limits, TRYCREATE) and SEARCH keys.
#include "imap_test_host.hh"

#include <gtest/gtest.h>

using namespace imap_test;

namespace {

class imap_messages : public host {
protected:
    std::unique_ptr<session> selected(const std::string& folder = "INBOX") {
        auto s = open();
        login(*s);
        converse(*s, "s0 SELECT " + folder + "\r\n");
        return s;
    }
};

const std::string k_msg2 =
    "From: Alice <alice@example.test>\r\n"
    "To: Bob <bob@example.test>\r\n"
    "Cc: carol@example.test\r\n"
    "Subject: Quarterly numbers\r\n"
    "X-Note: folded\r\n"
    " continuation here\r\n"
    "\r\n"
    "The numbers are up.\r\n"
    "Second line.\r\n";

}  // namespace

TEST_F(imap_messages, fetch_simple_attributes_and_macros) {
    add("user1", k_lab_msg, store::flag_seen, "INBOX", 760000000);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"),
              "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) INTERNALDATE \"31-Jan-1994 07:06:40 +0000\" RFC822.SIZE " +
                  std::to_string(k_lab_msg.size()) + ")\r\na OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "b FETCH 1 FAST\r\n"),
              "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \"31-Jan-1994 07:06:40 +0000\" RFC822.SIZE " +
                  std::to_string(k_lab_msg.size()) + ")\r\nb OK FETCH completed\r\n");
    std::string r = converse(*s, "c FETCH 1 ALL\r\n");
    EXPECT_NE(r.find("ENVELOPE ("), std::string::npos) << r;
    r = converse(*s, "d FETCH 1 FULL\r\n");
    EXPECT_NE(r.find(" BODY ("), std::string::npos) << r;
    r = converse(*s, "e FETCH 1 BODYSTRUCTURE\r\n");
    EXPECT_NE(r.find("* 1 FETCH (BODYSTRUCTURE ("), std::string::npos) << r;
    EXPECT_EQ(converse(*s, "f FETCH 1 (FLAGS\r\n"), "f BAD Syntax error in arguments\r\n");
    EXPECT_EQ(converse(*s, "g FETCH 1 BODY.PEEK\r\n"), "g BAD Syntax error in arguments\r\n");
    // RFC 3501 §9: a sequence number past EXISTS is BAD; a UID is not.
    EXPECT_EQ(converse(*s, "h FETCH 2 FLAGS\r\n"), "h BAD Message sequence number past the last message\r\n");
    EXPECT_EQ(converse(*s, "i UID FETCH 2 FLAGS\r\n"), "i OK FETCH completed\r\n");
}

TEST_F(imap_messages, fetch_sections_and_partials) {
    add("user1", k_msg2, store::flag_seen);
    auto s = selected();
    const std::string header = k_msg2.substr(0, k_msg2.find("\r\n\r\n") + 4);
    const std::string body = k_msg2.substr(header.size());
    auto lit = [](const std::string& b) { return "{" + std::to_string(b.size()) + "}\r\n" + b; };
    EXPECT_EQ(converse(*s, "a FETCH 1 BODY.PEEK[HEADER]\r\n"),
              "* 1 FETCH (BODY[HEADER] " + lit(header) + ")\r\na OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "b FETCH 1 BODY.PEEK[TEXT]<4.7>\r\n"),
              "* 1 FETCH (BODY[TEXT]<4> " + lit(body.substr(4, 7)) + ")\r\nb OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "c FETCH 1 BODY.PEEK[]<0.4>\r\n"),
              "* 1 FETCH (BODY[]<0> {4}\r\nFrom)\r\nc OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "d FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT x-note)]\r\n"),
              "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT x-note)] " +
                  lit("Subject: Quarterly numbers\r\nX-Note: folded\r\n continuation here\r\n\r\n") +
                  ")\r\nd OK FETCH completed\r\n");
    std::string r = converse(*s, "e FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Cc X-Note)]\r\n");
    EXPECT_NE(r.find(lit("Subject: Quarterly numbers\r\n\r\n")), std::string::npos) << r;
    EXPECT_EQ(converse(*s, "f FETCH 1 RFC822.HEADER\r\n"),
              "* 1 FETCH (RFC822.HEADER " + lit(header) + ")\r\nf OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "g FETCH 1 (RFC822.TEXT UID)\r\n"),
              "* 1 FETCH (RFC822.TEXT " + lit(body) + " UID 1)\r\ng OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "h FETCH 1 RFC822\r\n"),
              "* 1 FETCH (RFC822 " + lit(k_msg2) + ")\r\nh OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "i FETCH 1 BODY.PEEK[1]\r\n"),
              "* 1 FETCH (BODY[1] " + lit(body) + ")\r\ni OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "j FETCH 1 BODY.PEEK[7.3]\r\n"), "* 1 FETCH (BODY[7.3] {0}\r\n)\r\nj OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "k FETCH 1 BODY.PEEK[]<9999.10>\r\n"),
              "* 1 FETCH (BODY[]<9999> {0}\r\n)\r\nk OK FETCH completed\r\n");
}

TEST_F(imap_messages, fetch_body_without_peek_sets_seen_and_reports_flags) {
    add("user1", k_lab_msg);
    auto s = selected();
    std::string r = converse(*s, "a FETCH 1 BODY[]\r\n");
    EXPECT_NE(r.find(" FLAGS (\\Seen \\Recent))\r\na OK"), std::string::npos) << r;
    EXPECT_EQ(st->find_folder("user1", "INBOX")->messages[0].flags, store::flag_seen);
    // Already seen: no FLAGS added.
    r = converse(*s, "b FETCH 1 BODY[]\r\n");
    EXPECT_EQ(r.find("FLAGS"), std::string::npos) << r;
    // PEEK never sets it.
    add("user1", k_lab_msg);
    converse(*s, "c NOOP\r\n");
    converse(*s, "d FETCH 2 BODY.PEEK[]\r\n");
    EXPECT_EQ(st->find_folder("user1", "INBOX")->messages[1].flags, 0u);
}

TEST_F(imap_messages, streaming_fetch_of_a_message_bigger_than_the_window) {
    std::string big = "Subject: big\r\n\r\n";
    while (big.size() < 300000) big += "line " + std::to_string(big.size()) + " of a big message\r\n";
    add("user1", big, store::flag_seen);
    add("user1", k_lab_msg, store::flag_seen);
    cfg.fetch_inline_bytes_max = 4096;
    auto s = selected();
    s->output().clear();
    std::string in = "a FETCH 1:2 (BODY.PEEK[] UID)\r\nb NOOP\r\n";
    size_t used = s->feed(in);
    EXPECT_EQ(used, in.find("b NOOP"));
    EXPECT_TRUE(s->streaming());
    std::string got = s->output();
    s->output().clear();
    size_t max_piece = 0;
    while (s->streaming()) {
        s->next_output(8192);
        max_piece = std::max(max_piece, s->output().size());
        got += s->output();
        s->output().clear();
    }
    EXPECT_LE(max_piece, 8192u + 4096u + 200u);
    EXPECT_EQ(got, "* 1 FETCH (BODY[] {" + std::to_string(big.size()) + "}\r\n" + big + " UID 1)\r\n" +
                       "* 2 FETCH (BODY[] {" + std::to_string(k_lab_msg.size()) + "}\r\n" + k_lab_msg +
                       " UID 2)\r\na OK FETCH completed\r\n");
    EXPECT_EQ(s->feed(std::string_view(in).substr(used)), in.size() - used);
    EXPECT_EQ(s->output(), "b OK NOOP completed\r\n");
}

TEST_F(imap_messages, a_long_fetch_pauses_at_the_output_limit) {
    for (int i = 0; i < 200; ++i) add("user1", k_lab_msg, store::flag_seen);
    cfg.output_bytes_max = 1024;
    auto s = selected();
    s->output().clear();
    s->feed("a FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n");
    EXPECT_TRUE(s->streaming());
    EXPECT_LT(s->output().size(), 1200u);
    std::string got = converse(*s, "");
    EXPECT_NE(got.find("* 200 FETCH (UID 200 "), std::string::npos);
    EXPECT_NE(got.find("a OK FETCH completed"), std::string::npos);
}

TEST_F(imap_messages, uid_fetch_answers_uid_and_uses_uid_sets) {
    for (int i = 0; i < 5; ++i) add("user1", k_lab_msg, store::flag_seen);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a UID FETCH 2:3,5 FLAGS\r\n"),
              "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))\r\n* 3 FETCH (UID 3 FLAGS (\\Seen \\Recent))\r\n"
              "* 5 FETCH (UID 5 FLAGS (\\Seen \\Recent))\r\na OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "b UID FETCH 9:* UID\r\n"), "* 5 FETCH (UID 5)\r\nb OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "c FETCH 4:* UID\r\n"), "* 4 FETCH (UID 4)\r\n* 5 FETCH (UID 5)\r\nc OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "d FETCH 0 UID\r\n"), "d BAD Syntax error in arguments\r\n");
}

TEST_F(imap_messages, store_flags_add_remove_silent) {
    add("user1", k_lab_msg);
    add("user1", k_lab_msg);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a STORE 1:2 +FLAGS (\\Flagged \\Seen)\r\n"),
              "* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent))\r\n* 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent))\r\n"
              "a OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "b STORE 1 -FLAGS \\Seen\r\n"), "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\nb OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "c STORE 2 FLAGS.SILENT (\\Deleted $Junk)\r\n"),
              "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)\r\n"
              "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk \\*)] Flags permitted\r\n"
              "c OK STORE completed\r\n");
    EXPECT_EQ(st->find_folder("user1", "INBOX")->messages[1].flags, store::flag_deleted | store::keyword_bit(0));
    EXPECT_EQ(converse(*s, "d UID STORE 2 +FLAGS.SILENT (\\Answered)\r\n"), "d OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "e UID STORE 1 FLAGS (\\Draft)\r\n"),
              "* 1 FETCH (FLAGS (\\Draft \\Recent) UID 1)\r\ne OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "f STORE 1 FLAGS (\\Recent)\r\n"), "f BAD Syntax error in arguments\r\n");
    EXPECT_EQ(converse(*s, "g STORE 1 BOGUS (\\Seen)\r\n"), "g BAD Syntax error in arguments\r\n");
}

// Keywords (RFC 3501 §2.3.2): STORE defines them (a new FLAGS and
// PERMANENTFLAGS first), FETCH and SEARCH see them, -FLAGS of an unknown
// one changes nothing, COPY carries them, a full folder says LIMIT.
TEST_F(imap_messages, keywords_are_stored_fetched_searched_and_copied) {
    add("user1", k_lab_msg);
    add("user1", k_lab_msg);
    ASSERT_TRUE(st->create_folder("user1", "Archive"));
    auto s = selected();
    EXPECT_EQ(converse(*s, "a SEARCH KEYWORD Work\r\n"), "* SEARCH\r\na OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "b SEARCH UNKEYWORD Work\r\n"), "* SEARCH 1 2\r\nb OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "c STORE 1 +FLAGS (Work $label1 \\Seen)\r\n"),
              "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Work $label1)\r\n"
              "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Work $label1 \\*)] Flags permitted\r\n"
              "* 1 FETCH (FLAGS (\\Seen Work $label1 \\Recent))\r\nc OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "d STORE 2 +FLAGS (work)\r\n"), "* 2 FETCH (FLAGS (Work \\Recent))\r\nd OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "e SEARCH KEYWORD WORK\r\n"), "* SEARCH 1 2\r\ne OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "f SEARCH UNKEYWORD $label1\r\n"), "* SEARCH 2\r\nf OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "g STORE 2 -FLAGS (Work Never)\r\n"), "* 2 FETCH (FLAGS (\\Recent))\r\ng OK STORE completed\r\n");
    EXPECT_EQ(converse(*s, "h FETCH 1 FLAGS\r\n"), "* 1 FETCH (FLAGS (\\Seen Work $label1 \\Recent))\r\nh OK FETCH completed\r\n");
    EXPECT_NE(converse(*s, "i COPY 1 Archive\r\n").find("i OK [COPYUID "), std::string::npos);
    const store::folder* arch = st->find_folder("user1", "Archive");
    EXPECT_EQ(arch->keywords, (std::vector<std::string>{"Work", "$label1"}));
    EXPECT_EQ(arch->messages[0].flags, store::flag_seen | store::keyword_bit(0) | store::keyword_bit(1));
    std::string many = "j STORE 2 +FLAGS.SILENT (";
    for (uint32_t i = 2; i < store::keyword_slots_max; ++i) many += (i > 2 ? " k" : "k") + std::to_string(i);
    many += ")\r\n";
    std::string got = converse(*s, many);
    EXPECT_NE(got.find(")] Flags permitted\r\nj OK STORE completed"), std::string::npos) << got;  // no \\* left
    EXPECT_EQ(got.find("\\*)]"), std::string::npos) << got;
    EXPECT_EQ(converse(*s, "k STORE 2 +FLAGS (OneTooMany)\r\n"),
              "k NO [LIMIT] No room for another keyword in this mailbox\r\n");
    EXPECT_EQ(converse(*s, "l STORE 2 +FLAGS (" + std::string(store::keyword_bytes_max + 1, 'x') + ")\r\n"),
              "l NO [CANNOT] Invalid keyword\r\n");
}

TEST_F(imap_messages, expunge_and_uid_expunge) {
    for (int i = 0; i < 4; ++i) add("user1", k_lab_msg, store::flag_deleted);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a UID EXPUNGE 2:3\r\n"), "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\na OK EXPUNGE completed\r\n");
    EXPECT_EQ(converse(*s, "b FETCH 1:* UID\r\n"), "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 4)\r\nb OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "c EXPUNGE\r\n"), "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nc OK EXPUNGE completed\r\n");
    EXPECT_TRUE(st->find_folder("user1", "INBOX")->messages.empty());
}

TEST_F(imap_messages, close_expunges_silently) {
    add("user1", k_lab_msg, store::flag_deleted);
    add("user1", k_lab_msg);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a CLOSE\r\n"), "a OK CLOSE completed\r\n");
    EXPECT_EQ(st->find_folder("user1", "INBOX")->messages.size(), 1u);
}

TEST_F(imap_messages, copy_and_move_answer_copyuid_and_trycreate) {
    for (int i = 0; i < 3; ++i) add("user1", k_lab_msg);
    ASSERT_TRUE(st->create_folder("user1", "Archive"));
    const uint32_t av = st->find_folder("user1", "Archive")->uidvalidity;
    auto s = selected();
    EXPECT_EQ(converse(*s, "a COPY 1:2 Archive\r\n"),
              "a OK [COPYUID " + std::to_string(av) + " 1:2 1:2] COPY completed\r\n");
    EXPECT_EQ(converse(*s, "b COPY 1 Nowhere\r\n"), "b NO [TRYCREATE] Mailbox does not exist\r\n");
    EXPECT_EQ(converse(*s, "c UID MOVE 2:3 Archive\r\n"),
              "* OK [COPYUID " + std::to_string(av) + " 2:3 3:4] Moved\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n"
              "c OK MOVE completed\r\n");
    EXPECT_EQ(converse(*s, "d MOVE 1 INBOX\r\n"), "d NO [CANNOT] Source and destination are the same mailbox\r\n");
    EXPECT_EQ(converse(*s, "e MOVE 1 Archive\r\n"),
              "* OK [COPYUID " + std::to_string(av) + " 1 5] Moved\r\n* 1 EXPUNGE\r\ne OK MOVE completed\r\n");
    EXPECT_EQ(st->find_folder("user1", "Archive")->messages.size(), 5u);
    EXPECT_TRUE(st->find_folder("user1", "INBOX")->messages.empty());
}

TEST_F(imap_messages, uid_copy_into_the_selected_mailbox_reports_exists) {
    add("user1", k_lab_msg);
    add("user1", k_lab_msg);
    const uint32_t v = st->find_folder("user1", "INBOX")->uidvalidity;
    auto s = selected();
    EXPECT_EQ(converse(*s, "a UID COPY 2,1 INBOX\r\n"),
              "* 4 EXISTS\r\n* 4 RECENT\r\na OK [COPYUID " + std::to_string(v) + " 1:2 3:4] COPY completed\r\n");
    EXPECT_EQ(converse(*s, "b UID COPY 99 INBOX\r\n"), "b OK COPY completed\r\n");
}

TEST_F(imap_messages, partial_of_filtered_header_fields) {
    add("user1", k_msg2, store::flag_seen);
    auto s = selected();
    EXPECT_EQ(converse(*s, "a FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]<9.10>\r\n"),
              "* 1 FETCH (BODY[HEADER.FIELDS (Subject)]<9> {10}\r\nQuarterly )\r\na OK FETCH completed\r\n");
}

TEST_F(imap_messages, append_synchronizing_and_literal_plus_with_appenduid) {
    auto s = open();
    login(*s);
    const uint32_t v = st->find_folder("user1", "INBOX")->uidvalidity;
    EXPECT_EQ(converse(*s, "a APPEND INBOX (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {" +
                               std::to_string(k_lab_msg.size()) + "}\r\n" + k_lab_msg + "\r\n", 3),
              "+ Ready for literal data\r\na OK [APPENDUID " + std::to_string(v) + " 1] APPEND completed\r\n");
    EXPECT_EQ(converse(*s, "b APPEND inbox {" + std::to_string(k_msg2.size()) + "+}\r\n" + k_msg2 + "\r\n"),
              "b OK [APPENDUID " + std::to_string(v) + " 2] APPEND completed\r\n");
    const auto* f = st->find_folder("user1", "INBOX");
    ASSERT_EQ(f->messages.size(), 2u);
    EXPECT_EQ(f->messages[0].flags, store::flag_seen);
    EXPECT_EQ(f->messages[0].internal_date, 760686745);
    std::string back;
    ASSERT_TRUE(st->read(f->messages[1], 0, 1 << 20, back));
    EXPECT_EQ(back, k_msg2);
    EXPECT_EQ(converse(*s, "c APPEND Nowhere {5}\r\n"), "c NO [TRYCREATE] Mailbox does not exist\r\n");
    EXPECT_EQ(converse(*s, "d APPEND Nowhere {5+}\r\nhello\r\ne NOOP\r\n"),
              "d NO [TRYCREATE] Mailbox does not exist\r\ne OK NOOP completed\r\n");
    // A literal mailbox name, then the message.
    EXPECT_EQ(converse(*s, "f APPEND {5}\r\nINBOX {5}\r\nhello\r\n"),
              "+ Ready for literal data\r\n+ Ready for literal data\r\nf OK [APPENDUID " + std::to_string(v) +
                  " 3] APPEND completed\r\n");
}

TEST_F(imap_messages, append_over_the_limit_gets_toobig_and_a_big_one_streams) {
    cfg.append_bytes_max = 1 << 20;
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a APPEND INBOX {2000000}\r\nb NOOP\r\n"),
              "a NO [TOOBIG] Message too big\r\nb OK NOOP completed\r\n");
    // Over the limit, non-synchronizing and small enough to skip: skipped.
    EXPECT_EQ(converse(*s, "c APPEND INBOX {1048577+}\r\n" + std::string(1048577, 'x') + "\r\nd NOOP\r\n", 65536),
              "c NO [TOOBIG] Message too big\r\nd OK NOOP completed\r\n");
    std::string big = "Subject: big\r\n\r\n" + std::string(900000, 'y') + "\r\n";
    std::string r = converse(*s, "e APPEND INBOX {" + std::to_string(big.size()) + "+}\r\n" + big + "\r\n", 16384);
    EXPECT_NE(r.find("e OK [APPENDUID"), std::string::npos) << r;
    std::string back;
    ASSERT_TRUE(st->read(st->find_folder("user1", "INBOX")->messages[0], 0, 1 << 21, back));
    EXPECT_EQ(back, big);
}

TEST_F(imap_messages, append_to_the_selected_mailbox_reports_exists) {
    auto s = selected();
    std::string r = converse(*s, "a APPEND INBOX {5+}\r\nhello\r\n");
    EXPECT_NE(r.find("* 1 EXISTS\r\n* 1 RECENT\r\na OK [APPENDUID"), std::string::npos) << r;
}

TEST_F(imap_messages, search_keys) {
    add("user1", k_lab_msg, store::flag_seen | store::flag_answered, "INBOX", 760000000);   // 1994-01-31
    add("user1", k_msg2, store::flag_flagged, "INBOX", 1700000000);                          // 2023-11-14
    add("user1", "Subject: tiny\r\n\r\nx\r\n", store::flag_deleted | store::flag_draft, "INBOX", 1700000000);
    auto s = selected();
    auto search = [&](const std::string& q) {
        std::string r = converse(*s, "q SEARCH " + q + "\r\n");
        size_t e = r.find("\r\n");
        return r.substr(0, e);
    };
    EXPECT_EQ(search("ALL"), "* SEARCH 1 2 3");
    EXPECT_EQ(search("1,3"), "* SEARCH 1 3");
    EXPECT_EQ(search("2:*"), "* SEARCH 2 3");
    EXPECT_EQ(search("UID 2"), "* SEARCH 2");
    EXPECT_EQ(search("ANSWERED"), "* SEARCH 1");
    EXPECT_EQ(search("UNANSWERED"), "* SEARCH 2 3");
    EXPECT_EQ(search("DELETED"), "* SEARCH 3");
    EXPECT_EQ(search("UNDELETED"), "* SEARCH 1 2");
    EXPECT_EQ(search("DRAFT"), "* SEARCH 3");
    EXPECT_EQ(search("UNDRAFT"), "* SEARCH 1 2");
    EXPECT_EQ(search("FLAGGED"), "* SEARCH 2");
    EXPECT_EQ(search("UNFLAGGED"), "* SEARCH 1 3");
    EXPECT_EQ(search("SEEN"), "* SEARCH 1");
    EXPECT_EQ(search("UNSEEN"), "* SEARCH 2 3");
    EXPECT_EQ(search("RECENT"), "* SEARCH 1 2 3");
    EXPECT_EQ(search("NEW"), "* SEARCH 2 3");
    EXPECT_EQ(search("OLD"), "* SEARCH");
    EXPECT_EQ(search("KEYWORD $Junk"), "* SEARCH");
    EXPECT_EQ(search("UNKEYWORD $Junk"), "* SEARCH 1 2 3");
    EXPECT_EQ(search("LARGER 100"), "* SEARCH 1 2");
    EXPECT_EQ(search("SMALLER 100"), "* SEARCH 3");
    EXPECT_EQ(search("BEFORE 1-Jan-2000"), "* SEARCH 1");
    EXPECT_EQ(search("ON 31-Jan-1994"), "* SEARCH 1");
    EXPECT_EQ(search("SINCE \"14-Nov-2023\""), "* SEARCH 2 3");
    EXPECT_EQ(search("SENTBEFORE 1-Jan-2000"), "* SEARCH 1");
    EXPECT_EQ(search("SENTSINCE 1-Jan-2000"), "* SEARCH 2 3");
    EXPECT_EQ(search("FROM alice"), "* SEARCH 2");
    EXPECT_EQ(search("TO bob"), "* SEARCH 2");
    EXPECT_EQ(search("CC carol"), "* SEARCH 2");
    EXPECT_EQ(search("BCC carol"), "* SEARCH");
    EXPECT_EQ(search("SUBJECT QUARTERLY"), "* SEARCH 2");
    EXPECT_EQ(search("HEADER X-Note continuation"), "* SEARCH 2");
    EXPECT_EQ(search("HEADER X-Note \"\""), "* SEARCH 2");
    EXPECT_EQ(search("BODY \"numbers are\""), "* SEARCH 2");
    EXPECT_EQ(search("BODY Quarterly"), "* SEARCH");
    EXPECT_EQ(search("TEXT Quarterly"), "* SEARCH 2");
    EXPECT_EQ(search("NOT SEEN"), "* SEARCH 2 3");
    EXPECT_EQ(search("OR SEEN FLAGGED"), "* SEARCH 1 2");
    EXPECT_EQ(search("(OR SEEN FLAGGED) UNANSWERED"), "* SEARCH 2");
    EXPECT_EQ(search("CHARSET UTF-8 FROM alice"), "* SEARCH 2");
    EXPECT_EQ(search("CHARSET KOI8-R FROM alice"), "q NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
    EXPECT_EQ(search("FROM {5}\r\nalice"), "+ Ready for literal data");
    EXPECT_EQ(search("BOGUS"), "q BAD Syntax error in arguments");
    std::string r = converse(*s, "u UID SEARCH FLAGGED\r\n");
    EXPECT_EQ(r, "* SEARCH 2\r\nu OK SEARCH completed\r\n");
}

namespace {
const std::string k_multipart =
    "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.test>\r\n"
    "To: user1@example.test\r\n"
    "Subject: report attached\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "Message-ID: <m1@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "see attached\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf; name=\"r.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"r.pdf\"\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--XX--\r\n";
}  // namespace

TEST_F(imap_messages, envelope_bodystructure_and_mime_parts_from_the_skeleton) {
    add("user1", k_multipart, store::flag_seen);
    auto s = selected();
    std::string r = converse(*s, "a FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n");
    EXPECT_EQ(r.find("* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"report attached\" "), 0u) << r;
    EXPECT_NE(r.find("((NIL NIL \"user1\" \"example.test\")) NIL NIL NIL \"<m1@example.test>\")"),
              std::string::npos) << r;
    EXPECT_NE(r.find("BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\")"), std::string::npos) << r;
    EXPECT_NE(r.find("(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 12 NIL (\"ATTACHMENT\""),
              std::string::npos) << r;
    EXPECT_NE(r.find("\"MIXED\" (\"BOUNDARY\" \"XX\")"), std::string::npos) << r;
    r = converse(*s, "b FETCH 1 BODY\r\n");
    EXPECT_NE(r.find("\"BASE64\" 12) \"MIXED\"))\r\nb OK"), std::string::npos) << r;
    // Fetching an attachment alone (the lecture's "MIME attachments selectively").
    EXPECT_EQ(converse(*s, "c FETCH 1 (BODY.PEEK[1] BODY.PEEK[2])\r\n"),
              "* 1 FETCH (BODY[1] {12}\r\nsee attached BODY[2] {12}\r\nJVBERi0xLjQK)\r\nc OK FETCH completed\r\n");
    r = converse(*s, "d FETCH 1 BODY.PEEK[2.MIME]\r\n");
    EXPECT_NE(r.find("BODY[2.MIME] {133}\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n"), std::string::npos) << r;
    EXPECT_EQ(converse(*s, "e FETCH 1 BODY.PEEK[3]\r\n"), "* 1 FETCH (BODY[3] {0}\r\n)\r\ne OK FETCH completed\r\n");
    // SEARCH on the decoded From and on the Date: header (its own wall-clock day).
    EXPECT_EQ(converse(*s, "f SEARCH CHARSET UTF-8 FROM \"j\xc3\xb6rg\"\r\n"), "* SEARCH 1\r\nf OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "g SEARCH SENTON 7-Feb-1994\r\n"), "* SEARCH 1\r\ng OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "h SEARCH SENTON 8-Feb-1994\r\n"), "* SEARCH\r\nh OK SEARCH completed\r\n");
    // BODY reads the text parts, not the attachment's base64.
    EXPECT_EQ(converse(*s, "i SEARCH BODY JVBER\r\n"), "* SEARCH\r\ni OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "j SEARCH BODY \"SEE ATTACHED\"\r\n"), "* SEARCH 1\r\nj OK SEARCH completed\r\n");
}

// SEARCH BODY/TEXT find the decoded text (RFC 3501 §6.4.4 matches the
// text, not its transfer encoding): base64 in ISO-8859-1, quoted-printable
// with a word cut by a soft line break, an embedded message's header.
TEST_F(imap_messages, search_body_and_text_match_decoded_text_parts) {
    const std::string msg =
        "From: a@example.test\r\nSubject: decoded\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "R3L832UgYXVzIEv2bG4K\r\n"                                   // "Grüße aus Köln\n" in Latin-1
        "--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "<p>quarter=\r\nly numbers =E2=82=AC 5</p>\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "Subject: inner topic\r\n\r\ninner body\r\n"
        "--b--\r\n";
    add("user1", msg);
    add("user1", k_lab_msg);
    auto s = selected();
    auto search = [&](const std::string& keys) { return converse(*s, "t SEARCH " + keys + "\r\n"); };
    const std::string one = "* SEARCH 1\r\nt OK SEARCH completed\r\n";
    const std::string none = "* SEARCH\r\nt OK SEARCH completed\r\n";
    EXPECT_EQ(search("CHARSET UTF-8 BODY {9+}\r\naus k\xc3\xb6ln"), one);
    EXPECT_EQ(search("CHARSET UTF-8 BODY {6+}\r\ngr\xc3\xbc\xc3\x9f"), one);
    EXPECT_EQ(search("BODY R3L832"), none);           // the base64 itself is not the text
    EXPECT_EQ(search("BODY quarterly"), one);         // across the soft line break
    EXPECT_EQ(search("CHARSET UTF-8 BODY {5+}\r\n\xe2\x82\xac 5"), one);
    EXPECT_EQ(search("BODY =E2"), none);
    EXPECT_EQ(search("BODY \"inner topic\""), one);   // an embedded message's header is body
    EXPECT_EQ(search("BODY decoded"), none);          // the top-level header is not
    EXPECT_EQ(search("TEXT decoded"), one);
    EXPECT_EQ(search("TEXT \"inner body\""), one);
    EXPECT_EQ(search("TEXT lab"), "* SEARCH 2\r\nt OK SEARCH completed\r\n");
}
