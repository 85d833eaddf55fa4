// The IMAP session against a real shard_store: the Lab 4 transcript at
// every cut, login (LOGIN, AUTHENTICATE PLAIN, SASL-IR, LOGINDISABLED,
// suspend/resume), framing limits (line, literals, nesting, errors), and
// the mailbox commands. Message commands are in imap_messages_test.cc,
// untagged news and IDLE in imap_updates_test.cc.
#include "imap_test_host.hh"

#include <gtest/gtest.h>

using namespace imap_test;

namespace {

class imap_session : public host {};

std::string lab_expected(uint32_t uidvalidity) {
    std::string v = std::to_string(uidvalidity);
    return "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN "
           "UNSELECT AUTH=PLAIN] posthorn IMAP4rev1 ready\r\n"
           "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN "
           "UNSELECT] Logged in\r\n"
           "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
           "A02 OK LIST completed\r\n"
           "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
           "* 1 EXISTS\r\n"
           "* 1 RECENT\r\n"
           "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
           "* OK [UNSEEN 1] First unseen\r\n"
           "* OK [UIDVALIDITY " + v + "] UIDs valid\r\n"
           "* OK [UIDNEXT 2] Predicted next UID\r\n"
           "A03 OK [READ-WRITE] SELECT completed\r\n"
           "* SEARCH 1\r\n"
           "A04 OK SEARCH completed\r\n"
           "* 1 FETCH (BODY[TEXT] {20}\r\nHello from the lab\r\n FLAGS (\\Seen \\Recent))\r\n"
           "A05 OK FETCH completed\r\n"
           "* BYE posthorn IMAP4rev1 signing off\r\n"
           "A06 OK LOGOUT completed\r\n";
}

const std::string k_lab_input =
    "A01 LOGIN user1 user1\r\n"
    "A02 LIST \"\" *\r\n"
    "A03 SELECT INBOX\r\n"
    "A04 SEARCH FROM \"User One\"\r\n"
    "A05 FETCH 1 BODY[TEXT]\r\n"
    "A06 LOGOUT\r\n";

}  // namespace

TEST_F(imap_session, lab4_transcript_at_every_cut) {
    for (size_t cut : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{7}, size_t{10}, size_t{100}, SIZE_MAX}) {
        TearDown();
        SetUp();
        add("user1", k_lab_msg);
        const uint32_t v = st->find_folder("user1", "INBOX")->uidvalidity;
        auto s = open();
        EXPECT_EQ(converse(*s, k_lab_input, cut), lab_expected(v)) << "cut " << cut;
        EXPECT_TRUE(s->wants_close());
    }
}

TEST_F(imap_session, lab4_transcript_split_at_every_byte) {
    for (size_t at = 1; at < k_lab_input.size(); ++at) {
        TearDown();
        SetUp();
        add("user1", k_lab_msg);
        const uint32_t v = st->find_folder("user1", "INBOX")->uidvalidity;
        auto s = open();
        std::string got = converse(*s, k_lab_input.substr(0, at));
        got += converse(*s, std::string_view(k_lab_input).substr(at));
        ASSERT_EQ(got, lab_expected(v)) << "split at " << at;
    }
}

TEST_F(imap_session, search_from_finds_the_lab_message) {
    add("user1", "From: someone@else.test\r\nSubject: x\r\n\r\nbody\r\n");
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    converse(*s, "a SELECT inbox\r\n");
    EXPECT_EQ(converse(*s, "b SEARCH FROM \"User One\"\r\n"), "* SEARCH 2\r\nb OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "c SEARCH FROM user1@EXAMPLE.test\r\n"), "* SEARCH 2\r\nc OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "d SEARCH FROM nobody\r\n"), "* SEARCH\r\nd OK SEARCH completed\r\n");
}

TEST_F(imap_session, search_from_falls_back_to_return_path_for_a_hand_typed_message) {
    // Lab 2: "MAIL FROM:USER1", DATA with just a line of text; local
    // delivery put Return-Path and Delivered-To in front.
    add("user1", "Return-Path: <user1@example.test>\r\nDelivered-To: user1@example.test\r\n\r\nhello\r\n");
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    converse(*s, "a SELECT INBOX\r\n");
    EXPECT_EQ(converse(*s, "b SEARCH FROM user1\r\n"), "* SEARCH 1 2\r\nb OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "c SEARCH FROM \"User One\"\r\n"), "* SEARCH 2\r\nc OK SEARCH completed\r\n");
}

// Lab 2 then Lab 4: the text typed after DATA has no header and no blank
// line; the server put Return-Path, Delivered-To and Received in front.
// Its BODY[TEXT] is that text (the header ends at the first line that is
// no field), and SEARCH FROM finds it by its envelope sender.
TEST_F(imap_session, lab2_message_typed_without_header_reads_back_as_its_text) {
    const std::string header =
        "Return-Path: <USER1@example.test>\r\n"
        "Delivered-To: user1@example.test\r\n"
        "Received: from example.test ([127.0.0.1])\r\n"
        "\tby mx.example.test (posthorn) with SMTP id 010661313E7A3D24\r\n"
        "\tfor <USER1@example.test>; Thu, 26 Nov 2026 17:26:51 +0000\r\n";
    add("user1", header + "Hello from the lab\r\n");
    auto s = open();
    login(*s);
    converse(*s, "A03 SELECT INBOX\r\n");
    EXPECT_EQ(converse(*s, "A04 SEARCH FROM \"user1\"\r\n"), "* SEARCH 1\r\nA04 OK SEARCH completed\r\n");
    EXPECT_EQ(converse(*s, "A05 FETCH 1 BODY[TEXT]\r\n"),
              "* 1 FETCH (BODY[TEXT] {20}\r\nHello from the lab\r\n FLAGS (\\Seen \\Recent))\r\nA05 OK FETCH completed\r\n");
    EXPECT_EQ(converse(*s, "A06 FETCH 1 BODY.PEEK[HEADER]\r\n"),
              "* 1 FETCH (BODY[HEADER] {" + std::to_string(header.size()) + "}\r\n" + header +
                  ")\r\nA06 OK FETCH completed\r\n");
}

TEST_F(imap_session, lower_case_commands_and_inbox_in_any_case) {
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    std::string r = converse(*s, "a1 select InBoX\r\n");
    EXPECT_NE(r.find("a1 OK [READ-WRITE]"), std::string::npos) << r;
    EXPECT_EQ(converse(*s, "a2 noop\r\n"), "a2 OK NOOP completed\r\n");
}

// --- login.

TEST_F(imap_session, wrong_password_gets_authenticationfailed) {
    auto s = open();
    s->output().clear();
    EXPECT_EQ(converse(*s, "a LOGIN user1 wrong\r\n"), "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    EXPECT_EQ(converse(*s, "b LOGIN nobody user1\r\n"), "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    EXPECT_EQ(s->auth_failures(), 2u);
    EXPECT_FALSE(s->authenticated());
}

TEST_F(imap_session, login_stops_feeding_until_the_host_answers) {
    auto s = open();
    s->output().clear();
    std::string in = "a LOGIN user1 user1\r\nb NOOP\r\n";
    size_t used = s->feed(in);
    EXPECT_EQ(used, std::string("a LOGIN user1 user1\r\n").size());
    ASSERT_NE(s->pending_login(), nullptr);
    EXPECT_EQ(s->pending_login()->user, "user1");
    EXPECT_EQ(s->pending_login()->password, "user1");
    EXPECT_EQ(s->feed(std::string_view(in).substr(used)), 0u);
    EXPECT_EQ(s->output(), "");
    s->login_checked(true, "user1");
    EXPECT_EQ(s->pending_login(), nullptr);
    EXPECT_NE(s->output().find("a OK [CAPABILITY"), std::string::npos);
    s->output().clear();
    EXPECT_EQ(s->feed(std::string_view(in).substr(used)), in.size() - used);
    EXPECT_EQ(s->output(), "b OK NOOP completed\r\n");
}

TEST_F(imap_session, literal_password_login) {
    auto s = open();
    s->output().clear();
    EXPECT_EQ(converse(*s, "a LOGIN {5}\r\nuser1 {5+}\r\nuser1\r\n"),
              "+ Ready for literal data\r\na OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE "
              "UIDPLUS MOVE SPECIAL-USE CHILDREN UNSELECT] Logged in\r\n");
}

TEST_F(imap_session, authenticate_plain_with_continuation_and_with_initial_response) {
    // "\0user1\0user1" in base64.
    auto s = open();
    s->output().clear();
    std::string r = converse(*s, "a AUTHENTICATE PLAIN\r\nAHVzZXIxAHVzZXIx\r\n");
    EXPECT_EQ(r.substr(0, 4), "+ \r\n");
    EXPECT_NE(r.find("a OK [CAPABILITY"), std::string::npos) << r;
    auto s2 = open("t2");
    s2->output().clear();
    r = converse(*s2, "b AUTHENTICATE PLAIN AHVzZXIxAHVzZXIx\r\n");
    EXPECT_EQ(r.find("b OK [CAPABILITY"), 0u) << r;
    auto s3 = open("t3");
    s3->output().clear();
    EXPECT_EQ(converse(*s3, "c AUTHENTICATE PLAIN\r\n*\r\n"), "+ \r\nc BAD Authentication cancelled\r\n");
    EXPECT_EQ(converse(*s3, "d AUTHENTICATE PLAIN AHVzZXIxAHdyb25n\r\n"),
              "d NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    // authzid user2, authcid user1: acting as someone else is refused.
    EXPECT_EQ(converse(*s3, "e AUTHENTICATE PLAIN dXNlcjIAdXNlcjEAdXNlcjE=\r\n"),
              "e NO [AUTHORIZATIONFAILED] Cannot act as that user\r\n");
    EXPECT_EQ(converse(*s3, "f AUTHENTICATE CRAM-MD5\r\n"), "f NO Unsupported authentication mechanism\r\n");
}

TEST_F(imap_session, plaintext_disabled_shows_logindisabled_and_refuses) {
    cfg.plaintext_allowed = false;
    auto s = open();
    EXPECT_NE(s->output().find("LOGINDISABLED"), std::string::npos);
    EXPECT_EQ(s->output().find("AUTH=PLAIN"), std::string::npos);
    s->output().clear();
    std::string r = converse(*s, "a CAPABILITY\r\nb LOGIN user1 user1\r\nc AUTHENTICATE PLAIN AHVzZXIxAHVzZXIx\r\n");
    EXPECT_NE(r.find("* CAPABILITY IMAP4rev1 "), std::string::npos);
    EXPECT_NE(r.find("LOGINDISABLED\r\na OK"), std::string::npos) << r;
    EXPECT_NE(r.find("b NO [PRIVACYREQUIRED]"), std::string::npos) << r;
    EXPECT_NE(r.find("c NO [PRIVACYREQUIRED]"), std::string::npos) << r;
    EXPECT_EQ(s->pending_login(), nullptr);
}

TEST_F(imap_session, suspend_and_resume_round_trip) {
    add("user1", k_lab_msg);
    auto s = open();
    s->output().clear();
    EXPECT_EQ(s->suspend(), "");   // nothing to move yet
    EXPECT_FALSE(s->wants_close());
    std::string in = "x7 LOGIN user1 user1\r\ny SELECT INBOX\r\n";
    size_t used = s->feed(in);
    ASSERT_NE(s->pending_login(), nullptr);
    std::string blob = s->suspend();
    EXPECT_TRUE(s->wants_close());
    EXPECT_EQ(blob.find("user1\r"), std::string::npos);
    EXPECT_EQ(s->output(), "");
    auto r = session::resume(cfg, dir, *st, "t1-owner", blob);
    ASSERT_NE(r, nullptr);
    r->login_checked(true, "user1");
    EXPECT_EQ(r->output().find("x7 OK [CAPABILITY"), 0u) << r->output();
    r->output().clear();
    std::string out = converse(*r, std::string_view(in).substr(used));
    EXPECT_NE(out.find("* 1 EXISTS"), std::string::npos);
    EXPECT_NE(out.find("y OK [READ-WRITE]"), std::string::npos);
    EXPECT_EQ(session::resume(cfg, dir, *st, "t9", "garbage"), nullptr);
}

// --- framing and limits.

TEST_F(imap_session, missing_tag_and_unknown_command_get_bad) {
    auto s = open();
    s->output().clear();
    EXPECT_EQ(converse(*s, "\r\n"), "* BAD Missing or invalid tag\r\n");
    EXPECT_EQ(converse(*s, "NOOP\r\n"), "* BAD Missing or invalid tag\r\n");
    EXPECT_EQ(converse(*s, "a+b NOOP\r\n"), "* BAD Missing or invalid tag\r\n");
    EXPECT_EQ(converse(*s, "a FROB\r\n"), "a BAD Unknown command\r\n");
    EXPECT_EQ(s->last_error(), "unknown_command");
}

TEST_F(imap_session, commands_before_login_get_bad) {
    auto s = open();
    s->output().clear();
    EXPECT_EQ(converse(*s, "a SELECT INBOX\r\n"), "a BAD Log in first\r\n");
    EXPECT_EQ(converse(*s, "b FETCH 1 FLAGS\r\n"), "b BAD Log in first\r\n");
    EXPECT_EQ(s->last_error(), "command_before_login");
    login(*s);
    EXPECT_EQ(converse(*s, "c LOGIN user1 user1\r\n"), "c BAD Already logged in\r\n");
    EXPECT_EQ(converse(*s, "d FETCH 1 FLAGS\r\n"), "d BAD No mailbox selected\r\n");
}

TEST_F(imap_session, a_too_long_sasl_response_ends_the_authentication) {
    cfg.command_bytes_max = 256;
    auto s = open();
    s->output().clear();
    EXPECT_EQ(converse(*s, "a AUTHENTICATE PLAIN\r\n" + std::string(1000, 'A') + "\r\nb NOOP\r\n"),
              "+ \r\na BAD [TOOBIG] Command line too long\r\nb OK NOOP completed\r\n");
}

TEST_F(imap_session, too_many_errors_close_with_bye) {
    cfg.errors_max = 3;
    auto s = open();
    s->output().clear();
    std::string r = converse(*s, "a X\r\nb X\r\nc X\r\nd NOOP\r\n");
    EXPECT_EQ(r, "a BAD Unknown command\r\nb BAD Unknown command\r\nc BAD Unknown command\r\n* BYE Too many errors\r\n");
    EXPECT_TRUE(s->wants_close());
}

TEST_F(imap_session, a_long_line_gets_bad_and_the_next_command_works) {
    cfg.command_bytes_max = 1024;
    auto s = open();
    s->output().clear();
    std::string in = "a NOOP " + std::string(5000, 'x') + "\r\nb NOOP\r\n";
    EXPECT_EQ(converse(*s, in, 100), "a BAD [TOOBIG] Command line too long\r\nb OK NOOP completed\r\n");
}

TEST_F(imap_session, a_huge_synchronizing_literal_is_refused_without_allocation) {
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a LOGIN {999999999999}\r\nb NOOP\r\n"),
              "a BAD [TOOBIG] Literal too big\r\nb OK NOOP completed\r\n");
    EXPECT_EQ(converse(*s, "c APPEND INBOX {999999999999}\r\nd NOOP\r\n"),
              "c NO [TOOBIG] Message too big\r\nd OK NOOP completed\r\n");
}

TEST_F(imap_session, a_huge_non_synchronizing_literal_closes_the_connection) {
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a APPEND INBOX {999999999999+}\r\nxxxx"),
              "a NO [TOOBIG] Message too big\r\n* BYE Literal too big, closing\r\n");
    EXPECT_TRUE(s->wants_close());
}

TEST_F(imap_session, a_refused_small_non_synchronizing_literal_is_skipped) {
    cfg.literal_bytes_max = 10;
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a LIST {20+}\r\n01234567890123456789 {3+}\r\nabc\r\nb NOOP\r\n", 7),
              "a BAD [TOOBIG] Literal too big\r\nb OK NOOP completed\r\n");
}

TEST_F(imap_session, ten_thousand_nested_parentheses_get_bad) {
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    converse(*s, "s SELECT INBOX\r\n");
    std::string deep = "a SEARCH " + std::string(10000, '(') + "ALL" + std::string(10000, ')') + "\r\n";
    EXPECT_EQ(converse(*s, deep), "a BAD Too deeply nested\r\n");
    std::string nots = "b SEARCH ";
    for (int i = 0; i < 10000; ++i) nots += "NOT ";
    EXPECT_EQ(converse(*s, nots + "ALL\r\n"), "b BAD Too deeply nested\r\n");
    EXPECT_EQ(converse(*s, "c SEARCH ((ALL) (NOT DELETED))\r\n"), "* SEARCH 1\r\nc OK SEARCH completed\r\n");
}

// --- simple commands.

TEST_F(imap_session, capability_namespace_id_enable_noop) {
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a NAMESPACE\r\n"), "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na OK NAMESPACE completed\r\n");
    EXPECT_EQ(converse(*s, "b ID (\"name\" \"test\" \"version\" NIL)\r\n"),
              "* ID (\"name\" \"posthorn\" \"version\" \"0.1.0\")\r\nb OK ID completed\r\n");
    EXPECT_EQ(converse(*s, "c ID NIL\r\n").substr(0, 5), "* ID ");
    EXPECT_EQ(converse(*s, "d ENABLE CONDSTORE\r\n"), "* ENABLED\r\nd OK ENABLE completed\r\n");
    EXPECT_EQ(converse(*s, "e CAPABILITY\r\n"),
              "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN "
              "UNSELECT\r\ne OK CAPABILITY completed\r\n");
}

// --- mailboxes.

TEST_F(imap_session, create_list_rename_delete_with_children_and_special_use) {
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a CREATE Sent\r\n"), "a OK CREATE completed\r\n");
    EXPECT_EQ(converse(*s, "b CREATE work/projects/\r\n"), "b OK CREATE completed\r\n");
    EXPECT_EQ(converse(*s, "c CREATE \"My Trash\"\r\n"), "c OK CREATE completed\r\n");
    EXPECT_EQ(converse(*s, "d CREATE Sent\r\n"), "d NO [ALREADYEXISTS] Mailbox already exists\r\n");
    EXPECT_EQ(converse(*s, "e LIST \"\" *\r\n"),
              "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
              "* LIST (\\HasNoChildren) \"/\" \"My Trash\"\r\n"
              "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
              "* LIST (\\HasChildren) \"/\" work\r\n"
              "* LIST (\\HasNoChildren) \"/\" work/projects\r\n"
              "e OK LIST completed\r\n");
    EXPECT_EQ(converse(*s, "f LIST \"\" %\r\n").find("work/projects"), std::string::npos);
    EXPECT_EQ(converse(*s, "g LIST work/ %\r\n"),
              "* LIST (\\HasNoChildren) \"/\" work/projects\r\ng OK LIST completed\r\n");
    EXPECT_EQ(converse(*s, "h LIST \"\" \"\"\r\n"), "* LIST (\\Noselect) \"/\" \"\"\r\nh OK LIST completed\r\n");
    EXPECT_EQ(converse(*s, "i RENAME work job\r\n"), "i OK RENAME completed\r\n");
    EXPECT_EQ(converse(*s, "j LIST \"\" job*\r\n"),
              "* LIST (\\HasChildren) \"/\" job\r\n* LIST (\\HasNoChildren) \"/\" job/projects\r\nj OK LIST completed\r\n");
    EXPECT_EQ(converse(*s, "k DELETE job\r\n"), "k OK DELETE completed\r\n");
    EXPECT_EQ(converse(*s, "l LIST \"\" job*\r\n"),
              "* LIST (\\Noselect \\HasChildren) \"/\" job\r\n* LIST (\\HasNoChildren) \"/\" job/projects\r\n"
              "l OK LIST completed\r\n");
    EXPECT_EQ(converse(*s, "m DELETE INBOX\r\n"), "m NO [CANNOT] INBOX cannot be deleted\r\n");
    EXPECT_EQ(converse(*s, "n DELETE nothere\r\n"), "n NO [NONEXISTENT] Mailbox does not exist\r\n");
    EXPECT_EQ(converse(*s, "o RENAME nothere x\r\n"), "o NO [NONEXISTENT] Mailbox does not exist\r\n");
    EXPECT_EQ(converse(*s, "p SELECT nothere\r\n"), "p NO [NONEXISTENT] Mailbox does not exist\r\n");
}

TEST_F(imap_session, rename_inbox_moves_its_messages) {
    add("user1", k_lab_msg);
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a RENAME inbox Old\r\n"), "a OK RENAME completed\r\n");
    EXPECT_EQ(st->find_folder("user1", "Old")->messages.size(), 2u);
    EXPECT_TRUE(st->find_folder("user1", "INBOX")->messages.empty());
    EXPECT_EQ(converse(*s, "b RENAME INBOX Old\r\n"), "b NO [ALREADYEXISTS] Mailbox already exists\r\n");
}

TEST_F(imap_session, subscribe_lsub_status_examine) {
    add("user1", k_lab_msg);
    add("user1", k_lab_msg, store::flag_seen);
    auto s = open();
    login(*s);
    EXPECT_EQ(converse(*s, "a SUBSCRIBE INBOX\r\n"), "a OK SUBSCRIBE completed\r\n");
    EXPECT_EQ(converse(*s, "b SUBSCRIBE gone\r\n"), "b OK SUBSCRIBE completed\r\n");
    EXPECT_EQ(converse(*s, "c LSUB \"\" *\r\n"),
              "* LSUB () \"/\" INBOX\r\n* LSUB (\\Noselect) \"/\" gone\r\nc OK LSUB completed\r\n");
    EXPECT_EQ(converse(*s, "d UNSUBSCRIBE gone\r\n"), "d OK UNSUBSCRIBE completed\r\n");
    const auto* f = st->find_folder("user1", "INBOX");
    EXPECT_EQ(converse(*s, "e STATUS inbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)\r\n"),
              "* STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY " + std::to_string(f->uidvalidity) +
                  " UNSEEN 1)\r\ne OK STATUS completed\r\n");
    std::string r = converse(*s, "f EXAMINE INBOX\r\n");
    EXPECT_NE(r.find("* 2 EXISTS\r\n* 2 RECENT\r\n* OK [PERMANENTFLAGS ()]"), std::string::npos) << r;
    EXPECT_NE(r.find("f OK [READ-ONLY] EXAMINE completed"), std::string::npos);
    EXPECT_EQ(converse(*s, "g STORE 1 +FLAGS (\\Deleted)\r\n"), "g NO [READ-ONLY] Mailbox is read-only\r\n");
    EXPECT_EQ(converse(*s, "h EXPUNGE\r\n"), "h NO [READ-ONLY] Mailbox is read-only\r\n");
    // EXAMINE did not take \Recent: the first SELECT does.
    r = converse(*s, "i SELECT INBOX\r\n");
    EXPECT_NE(r.find("* 2 RECENT"), std::string::npos) << r;
    auto s2 = open("t2");
    login(*s2);
    r = converse(*s2, "j SELECT INBOX\r\n");
    EXPECT_NE(r.find("* 0 RECENT"), std::string::npos) << r;
    EXPECT_EQ(converse(*s, "k UNSELECT\r\n"), "k OK UNSELECT completed\r\n");
    EXPECT_EQ(converse(*s, "l FETCH 1 FLAGS\r\n"), "l BAD No mailbox selected\r\n");
}

// Not a fuzzer, but its cheap cousin: commands glued from IMAP tokens and
// random bytes, fed in random cuts, to sessions in every state. Nothing
// may crash, hang, or grow output without bound; run it under ASan (make
// asan) for the memory errors.
TEST_F(imap_session, random_token_soup_is_survived) {
    add("user1", k_lab_msg);
    add("user1", "From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\npart\r\n--x--\r\n");
    ASSERT_TRUE(st->create_folder("user1", "Other"));
    static const char* verbs[] = {
        "LOGIN user1 user1", "SELECT", "EXAMINE", "FETCH", "UID FETCH", "STORE", "UID STORE", "SEARCH",
        "UID SEARCH", "COPY", "UID COPY", "MOVE", "UID MOVE", "APPEND", "EXPUNGE", "UID EXPUNGE", "IDLE", "LIST",
        "LSUB", "STATUS", "NOOP", "CHECK", "CLOSE", "UNSELECT", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
        "AUTHENTICATE PLAIN", "ID", "ENABLE", "NAMESPACE", "CAPABILITY", "SELECT INBOX", "FETCH 1:*",
    };
    static const char* tokens[] = {
        "1", "1:*", "*", "2,1:3", "0", "4294967295", "(", ")", "[", "]", "<0.5>", "BODY[]", "BODY.PEEK[",
        "HEADER.FIELDS (From)", "TEXT", "MIME", "1.2", "1.MIME]", "ENVELOPE", "BODYSTRUCTURE", "FLAGS",
        "+FLAGS.SILENT", "-FLAGS", "(\\Seen \\Deleted)", "\\Recent", "OR", "NOT", "FROM", "HEADER", "x",
        "BEFORE 1-Jan-2000", "SINCE", "LARGER 10", "CHARSET", "\"q\\\"x\"", "\"", "{3}\r\nabc",
        "{2+}\r\nxy", "{99999999999}", "{5+}\r\n", "%", "INBOX", "\"\"", "Other", "NIL", "ALL", "FAST",
        "(UID FLAGS)", "RFC822", "RFC822.HEADER", "BODY[1]", "BODY[2.TEXT]<1.2>", "(MESSAGES UNSEEN)",
        "\"01-Jan-2000 00:00:00 +0000\"", "DONE", "AHVzZXIxAHVzZXIx",
    };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto rnd = [&seed](uint64_t n) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed % n;
    };
    cfg.errors_max = 1000;
    cfg.output_bytes_max = 4096;
    for (int round = 0; round < 300; ++round) {
        auto s = open("soup" + std::to_string(round));
        std::string in;
        if (round % 2) in = "x LOGIN user1 user1\r\ny SELECT INBOX\r\n";
        for (int i = 0; i < 40; ++i) {
            if (rnd(8)) {
                in += 't';
                in += std::to_string(i);
                in += ' ';
            }
            in += verbs[rnd(std::size(verbs))];
            for (uint64_t n = rnd(6); n > 0; --n) {
                in += rnd(6) ? " " : "";
                if (rnd(12) == 0) in.push_back(static_cast<char>(rnd(256)));
                else in += tokens[rnd(std::size(tokens))];
            }
            in += rnd(10) ? "\r\n" : "\n";
        }
        std::string out = converse(*s, in, 1 + rnd(40), 512 + rnd(4096));
        EXPECT_LT(out.size(), 2u << 20);
        s->on_disconnect();
    }
    // The store is still sound for a fresh session.
    auto s = open();
    login(*s);
    EXPECT_NE(converse(*s, "z SELECT INBOX\r\n").find("z OK"), std::string::npos);
}

TEST_F(imap_session, a_session_opened_before_a_reload_keeps_working_and_a_removed_user_cannot_log_in_after_it) {
    add("user1", k_lab_msg);
    auto s = open();
    login(*s);
    s->output().clear();
    EXPECT_NE(converse(*s, "a SELECT INBOX\r\n").find("a OK [READ-WRITE]"), std::string::npos);
    std::vector<directory::user> users;
    users.push_back({"user2", "{PLAIN}user2", "User Two", {"user2@example.test"}});
    dir.replace(std::make_shared<const directory::snapshot>(std::vector<std::string>{"example.test"}, std::move(users),
                                                            std::unordered_map<std::string, std::vector<std::string>>{}));
    EXPECT_EQ(converse(*s, "b NOOP\r\n"), "b OK NOOP completed\r\n");
    std::string fetched = converse(*s, "c FETCH 1 BODY[TEXT]\r\n");
    EXPECT_NE(fetched.find("Hello from the lab"), std::string::npos) << fetched;
    EXPECT_NE(fetched.find("c OK FETCH completed"), std::string::npos) << fetched;
    EXPECT_NE(converse(*s, "d LOGOUT\r\n").find("d OK LOGOUT completed"), std::string::npos);
    auto again = open("t2");
    again->output().clear();
    EXPECT_NE(login(*again).find("L1 NO"), std::string::npos);
    again->output().clear();
    EXPECT_NE(login(*again, "user2").find("L1 OK"), std::string::npos);
}
