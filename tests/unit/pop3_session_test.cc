// The POP3 session against a real shard_store in a temp directory and a
// directory snapshot: the Lab 3 transcript at every cut, USER/PASS and AUTH
// PLAIN, CAPA, LIST/UIDL/TOP/RETR (dot-stuffed, streamed in windows), DELE
// with RSET and UPDATE, the maildrop lock, limits on lines and errors.
#include "posthorn/proto/pop3_session.hh"
#include "proto/pop3/sasl_plain.hh"

#include <gtest/gtest.h>

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

using namespace posthorn;
using proto::pop3::session;

namespace {

struct set_locks : proto::pop3::maildrop_locks {
    std::set<std::string, std::less<>> held;
    bool try_lock(std::string_view user) override { return held.emplace(user).second; }
    void unlock(std::string_view user) noexcept override { held.erase(std::string(user)); }
};

directory::snapshot make_directory() {
    std::vector<directory::user> users;
    users.push_back({"user1", "{PLAIN}USER1", "User One", {"user1@example.test"}});
    users.push_back({"user2", "{PLAIN}user2", "User Two", {"user2@example.test"}});
    return directory::snapshot({"example.test"}, std::move(users), {});
}

// RFC 1939 §3 stuffing, line by line, as a reference for the streamed form.
std::string stuffed(const std::string& content) {
    std::string out;
    bool line_start = true;
    for (char c : content) {
        if (line_start && c == '.') out.push_back('.');
        out.push_back(c);
        line_start = c == '\n';
    }
    return out + ".\r\n";
}

const std::string k_msg1 = "From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n";

class Pop3Test : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/posthorn-pop3-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        store::options o;
        o.dir = root + "/store";
        o.durability = spool::durability::none;
        auto s = store::shard_store::open(o);
        ASSERT_TRUE(s) << s.err().reason();
        st = std::move(s.value());
    }
    void TearDown() override {
        st.reset();
        std::filesystem::remove_all(root);
    }
    void add(const std::string& user, const std::string& content) {
        ASSERT_TRUE(st->ensure_inbox(user));
        iovec v{const_cast<char*>(content.data()), content.size()};
        ASSERT_TRUE(st->append(user, store::inbox, std::span<const iovec>(&v, 1), 0, 1700000000));
    }
    std::unique_ptr<session> open_session(std::string id = "t1") {
        auto s = std::make_unique<session>(cfg, dir, *st, locks, std::move(id));
        s->start();
        return s;
    }
    // Feeds `input` in pieces of `cut` bytes, refeeding what a streaming
    // session left, pulling windows of `window` bytes; returns all output.
    std::string converse(session& s, std::string_view input, size_t cut = SIZE_MAX, size_t window = 65536) {
        std::string got;
        auto drain = [&] {
            check_login(s);
            got += s.output();
            s.output().clear();
            while (s.streaming()) {
                s.next_output(window);
                got += s.output();
                s.output().clear();
            }
        };
        drain();
        size_t i = 0;
        while (i < input.size() && !s.wants_close()) {
            size_t n = std::min(cut, input.size() - i);
            i += s.feed(input.substr(i, n));
            drain();
        }
        return got;
    }
    // The host's half of login.hh, done inline.
    void check_login(session& s) {
        const proto::login_request* req = s.pending_login();
        if (!req) return;
        const directory::user* u = dir.current().find_login(req->user);
        bool ok = u && directory::verify_password(*u, req->password);
        s.login_checked(ok, ok ? u->name : "");
    }
    std::string login_user1(session& s) { return converse(s, "USER user1\r\nPASS USER1\r\n"); }
    size_t inbox_count(const std::string& user) { return st->find_folder(user, store::inbox)->messages.size(); }

    std::string root;
    std::unique_ptr<store::shard_store> st;
    directory::handle dir{make_directory()};
    set_locks locks;
    proto::pop3::session_config cfg;
};

TEST_F(Pop3Test, lab3_transcript_works_in_either_case_at_every_cut) {
    add("user1", k_msg1);
    const std::string n = std::to_string(k_msg1.size());
    const std::string want = "+OK posthorn POP3 ready\r\n"
                             "+OK send PASS\r\n"
                             "+OK maildrop has 1 messages (" + n + " octets)\r\n"
                             "+OK 1 " + n + "\r\n"
                             "+OK 1 " + n + "\r\n"
                             "+OK " + n + " octets\r\n" + k_msg1 + ".\r\n"
                             "+OK posthorn POP3 signing off (0 messages deleted)\r\n";
    for (std::string input : {"USER USER1\r\nPASS USER1\r\nSTAT\r\nLIST 1\r\nRETR 1\r\nQUIT\r\n",
                              "user user1\r\npass USER1\r\nstat\r\nlist 1\r\nretr 1\r\nquit\r\n"}) {
        for (size_t cut : {size_t(1), size_t(2), size_t(5), size_t(10), size_t(100), SIZE_MAX}) {
            auto s = open_session();
            EXPECT_EQ(converse(*s, input, cut), want) << "cut " << cut;
            EXPECT_TRUE(s->wants_close());
            EXPECT_TRUE(locks.held.empty());
        }
    }
    EXPECT_EQ(inbox_count("user1"), 1u);
}

TEST_F(Pop3Test, login_by_address_and_bare_lf_lines_work) {
    auto s = open_session();
    EXPECT_EQ(converse(*s, "USER User1@Example.Test\nPASS USER1\n"),
              "+OK posthorn POP3 ready\r\n+OK send PASS\r\n+OK maildrop has 0 messages (0 octets)\r\n");
    EXPECT_TRUE(s->authenticated());
}

TEST_F(Pop3Test, auth_plain_with_initial_response_and_continuation) {
    auto s = open_session();
    EXPECT_EQ(converse(*s, "AUTH PLAIN AHVzZXIxAFVTRVIx\r\n"),
              "+OK posthorn POP3 ready\r\n+OK maildrop has 0 messages (0 octets)\r\n");
    s.reset();
    s = open_session();
    EXPECT_EQ(converse(*s, "auth plain\r\ndXNlcjFAZXhhbXBsZS50ZXN0AFVTRVIxAFVTRVIx\r\n", 3),
              "+OK posthorn POP3 ready\r\n+ \r\n+OK maildrop has 0 messages (0 octets)\r\n");
    EXPECT_TRUE(s->authenticated());
}

TEST_F(Pop3Test, auth_plain_cancel_bad_base64_and_foreign_authzid_are_refused) {
    auto s = open_session();
    EXPECT_EQ(converse(*s, "AUTH PLAIN\r\n*\r\nAUTH PLAIN AHVzZX!x\r\n"
                           "AUTH PLAIN dXNlcjIAdXNlcjEAVVNFUjE=\r\nAUTH CRAM-MD5\r\nAUTH\r\n"),
              "+OK posthorn POP3 ready\r\n+ \r\n-ERR authentication cancelled\r\n"
              "-ERR [AUTH] malformed SASL response\r\n-ERR [AUTH] authentication failed\r\n"
              "-ERR unsupported SASL mechanism\r\n+OK\r\nPLAIN\r\n.\r\n");
    EXPECT_FALSE(s->authenticated());
    EXPECT_EQ(s->auth_failures(), 1u);
}

TEST_F(Pop3Test, wrong_password_and_unknown_user_get_the_same_reply) {
    auto s = open_session();
    EXPECT_EQ(converse(*s, "USER user1\r\nPASS user1\r\nUSER nobody\r\nPASS USER1\r\nAUTH PLAIN AHVzZXIxAHdyb25n\r\n"),
              "+OK posthorn POP3 ready\r\n+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n"
              "+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n-ERR [AUTH] authentication failed\r\n");
    EXPECT_EQ(s->auth_failures(), 3u);
    EXPECT_EQ(s->last_error(), "auth_failed");
    EXPECT_FALSE(s->authenticated());
    EXPECT_TRUE(locks.held.empty());
}

TEST_F(Pop3Test, capa_lists_the_extensions_in_both_states) {
    const std::string capa = "+OK capability list follows\r\nUSER\r\nUIDL\r\nTOP\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
                             "PIPELINING\r\nSASL PLAIN\r\nIMPLEMENTATION posthorn\r\n.\r\n";
    auto s = open_session();
    EXPECT_EQ(converse(*s, "CAPA\r\n"), "+OK posthorn POP3 ready\r\n" + capa);
    login_user1(*s);
    EXPECT_EQ(converse(*s, "capa\r\n"), capa);
}

TEST_F(Pop3Test, commands_before_login_are_refused_and_apop_is_off) {
    auto s = open_session();
    EXPECT_EQ(converse(*s, "STAT\r\nRETR 1\r\nPASS x\r\nAPOP user1 abc\r\nXYZZY\r\nQUIT\r\n"),
              "+OK posthorn POP3 ready\r\n-ERR not logged in\r\n-ERR not logged in\r\n-ERR send USER first\r\n"
              "-ERR APOP not supported\r\n-ERR unknown command\r\n+OK posthorn POP3 signing off\r\n");
    EXPECT_TRUE(s->wants_close());
    EXPECT_EQ(s->error_count(), 5u);
}

TEST_F(Pop3Test, list_and_uidl_name_every_message_with_a_stable_id) {
    add("user1", k_msg1);
    add("user1", "Subject: two\r\n\r\nsecond\r\n");
    uint32_t v = st->find_folder("user1", store::inbox)->uidvalidity;
    auto s = open_session();
    login_user1(*s);
    const std::string a = std::to_string(k_msg1.size()), b = std::to_string(24);
    EXPECT_EQ(converse(*s, "LIST\r\nUIDL\r\nUIDL 2\r\nLIST 3\r\nLIST x\r\nLIST 0\r\n"),
              "+OK 2 messages (" + std::to_string(k_msg1.size() + 24) + " octets)\r\n1 " + a + "\r\n2 " + b +
                  "\r\n.\r\n" + "+OK 2 messages (" + std::to_string(k_msg1.size() + 24) + " octets)\r\n1 " +
                  std::to_string(v) + ".1\r\n2 " + std::to_string(v) + ".2\r\n.\r\n+OK 2 " + std::to_string(v) +
                  ".2\r\n-ERR no such message\r\n-ERR syntax error in arguments\r\n-ERR no such message\r\n");
}

TEST_F(Pop3Test, top_sends_the_header_the_blank_line_and_k_body_lines) {
    const std::string header = "From: a@example.test\r\nSubject: top\r\n";
    const std::string msg = header + "\r\nline 1\r\n.line 2\r\nline 3\r\n";
    add("user1", msg);
    auto s = open_session();
    login_user1(*s);
    EXPECT_EQ(converse(*s, "TOP 1 0\r\n"), "+OK\r\n" + header + "\r\n.\r\n");
    EXPECT_EQ(converse(*s, "TOP 1 2\r\n"), "+OK\r\n" + header + "\r\nline 1\r\n..line 2\r\n.\r\n");
    EXPECT_EQ(converse(*s, "TOP 1 99\r\n"), "+OK\r\n" + stuffed(msg));
    EXPECT_EQ(converse(*s, "TOP 1\r\nTOP 1 -1\r\n"), "-ERR syntax error in arguments\r\n-ERR syntax error in arguments\r\n");
}

TEST_F(Pop3Test, top_finds_the_header_end_across_windows) {
    std::string header;
    for (int i = 0; header.size() < 3000; ++i) header += "X-Filler-" + std::to_string(i) + ": some header text\r\n";
    std::string body;
    for (int i = 0; i < 200; ++i) {
        if (i % 7 == 0) body += '.';
        body.append("body line ").append(std::to_string(i)).append("\r\n");
    }
    add("user1", header + "\r\n" + body);
    auto s = open_session();
    login_user1(*s);
    // The 3 body lines, found with windows that cut lines (and CR from LF).
    std::string want_body = body.substr(0, body.find("body line 3\r\n"));
    for (size_t window : {size_t(512), size_t(513), size_t(777), size_t(65536)})
        EXPECT_EQ(converse(*s, "TOP 1 3\r\n", SIZE_MAX, window), "+OK\r\n" + stuffed(header + "\r\n" + want_body))
            << "window " << window;
}

TEST_F(Pop3Test, retr_dot_stuffs_lines_that_start_with_a_dot) {
    const std::string msg = "Subject: dots\r\n\r\n.\r\n..two\r\n.hidden\r\nend.\r\n.";
    add("user1", msg);
    auto s = open_session();
    login_user1(*s);
    EXPECT_EQ(converse(*s, "RETR 1\r\n"), "+OK " + std::to_string(msg.size()) +
                                              " octets\r\nSubject: dots\r\n\r\n..\r\n...two\r\n..hidden\r\nend.\r\n..\r\n.\r\n");
}

TEST_F(Pop3Test, big_message_is_streamed_in_bounded_windows_byte_exact) {
    std::string msg = "Subject: big\r\n\r\n";
    for (int i = 0; msg.size() < 300 * 1024; ++i)
        msg.append(i % 5 == 0 ? ".dot " : "line ").append(std::to_string(i)).append(" of the body\r\n");
    add("user1", msg);
    auto s = open_session();
    login_user1(*s);
    ASSERT_EQ(s->feed("RETR 1\r\nNOOP\r\n"), 8u);  // NOOP waits for the message
    std::string got = s->output();
    s->output().clear();
    size_t pieces = 0;
    while (s->streaming()) {
        s->next_output(4096);
        EXPECT_LE(s->output().size(), 2 * 4096 + 5);
        got += s->output();
        s->output().clear();
        ++pieces;
    }
    EXPECT_GE(pieces, msg.size() / 4096);
    EXPECT_EQ(got, "+OK " + std::to_string(msg.size()) + " octets\r\n" + stuffed(msg));
    EXPECT_EQ(s->feed("NOOP\r\n"), 6u);
    EXPECT_EQ(s->output(), "+OK\r\n");
}

TEST_F(Pop3Test, pipelined_commands_answer_in_order) {
    add("user1", k_msg1);
    add("user1", "Subject: two\r\n\r\nsecond\r\n");
    auto s = open_session();
    EXPECT_EQ(converse(*s, "USER user1\r\nPASS USER1\r\nRETR 1\r\nRETR 2\r\nSTAT\r\n"),
              "+OK posthorn POP3 ready\r\n+OK send PASS\r\n+OK maildrop has 2 messages (" +
                  std::to_string(k_msg1.size() + 24) + " octets)\r\n+OK " + std::to_string(k_msg1.size()) +
                  " octets\r\n" + k_msg1 + ".\r\n+OK 24 octets\r\nSubject: two\r\n\r\nsecond\r\n.\r\n+OK 2 " +
                  std::to_string(k_msg1.size() + 24) + "\r\n");
}

TEST_F(Pop3Test, dele_then_rset_then_quit_keeps_the_message) {
    add("user1", k_msg1);
    auto s = open_session();
    login_user1(*s);
    EXPECT_EQ(converse(*s, "DELE 1\r\nRETR 1\r\nDELE 1\r\nSTAT\r\nRSET\r\nSTAT\r\nQUIT\r\n"),
              "+OK message 1 deleted\r\n-ERR message is deleted\r\n-ERR message is deleted\r\n+OK 0 0\r\n"
              "+OK maildrop has 1 messages (" + std::to_string(k_msg1.size()) + " octets)\r\n+OK 1 " +
                  std::to_string(k_msg1.size()) + "\r\n+OK posthorn POP3 signing off (0 messages deleted)\r\n");
    EXPECT_EQ(inbox_count("user1"), 1u);
}

TEST_F(Pop3Test, dele_then_quit_expunges_from_the_store) {
    add("user1", k_msg1);
    add("user1", "Subject: two\r\n\r\nsecond\r\n");
    auto s = open_session();
    login_user1(*s);
    EXPECT_EQ(converse(*s, "DELE 1\r\nLIST\r\nQUIT\r\n"),
              "+OK message 1 deleted\r\n+OK 1 messages (24 octets)\r\n2 24\r\n.\r\n"
              "+OK posthorn POP3 signing off (1 messages deleted)\r\n");
    const store::folder* f = st->find_folder("user1", store::inbox);
    ASSERT_EQ(f->messages.size(), 1u);
    EXPECT_EQ(f->messages[0].uid, 2u);
}

TEST_F(Pop3Test, disconnect_without_quit_expunges_nothing_and_unlocks) {
    add("user1", k_msg1);
    auto s = open_session();
    login_user1(*s);
    converse(*s, "DELE 1\r\n");
    EXPECT_EQ(locks.held.count("user1"), 1u);
    s->on_disconnect();
    EXPECT_TRUE(locks.held.empty());
    EXPECT_EQ(inbox_count("user1"), 1u);
}

TEST_F(Pop3Test, a_locked_maildrop_is_refused_with_in_use) {
    auto first = open_session("a");
    login_user1(*first);
    auto second = open_session("b");
    EXPECT_EQ(converse(*second, "USER user1\r\nPASS USER1\r\n"),
              "+OK posthorn POP3 ready\r\n+OK send PASS\r\n-ERR [IN-USE] maildrop already locked\r\n");
    EXPECT_FALSE(second->authenticated());
    EXPECT_EQ(second->auth_failures(), 0u);
    converse(*first, "QUIT\r\n");
    EXPECT_EQ(converse(*second, "USER user1\r\nPASS USER1\r\n"),
              "+OK send PASS\r\n+OK maildrop has 0 messages (0 octets)\r\n");
}

TEST_F(Pop3Test, a_long_line_is_answered_once_and_discarded) {
    const std::string input = std::string(2000, 'A') + "\r\nCAPA\r\nNOOP\r\n";
    for (size_t cut : {size_t(1), size_t(7), SIZE_MAX}) {
        auto s = open_session();
        std::string got = converse(*s, input, cut);
        EXPECT_EQ(got.substr(0, 45), "+OK posthorn POP3 ready\r\n-ERR line too long\r\n") << cut;
        EXPECT_NE(got.find("IMPLEMENTATION posthorn"), std::string::npos);
        EXPECT_TRUE(got.ends_with(".\r\n-ERR not logged in\r\n")) << got;
        EXPECT_EQ(s->error_count(), 2u);
    }
    // 512 bytes with the CRLF are fine.
    auto s = open_session();
    std::string ok_line = "USER " + std::string(505, 'u') + "\r\n";
    ASSERT_EQ(ok_line.size(), 512u);
    EXPECT_EQ(converse(*s, ok_line), "+OK posthorn POP3 ready\r\n+OK send PASS\r\n");
}

TEST_F(Pop3Test, ten_errors_close_the_session) {
    auto s = open_session();
    std::string garbage;
    for (int i = 0; i < 12; ++i) garbage += "junk\r\n";
    std::string got = converse(*s, garbage);
    EXPECT_TRUE(s->wants_close());
    EXPECT_EQ(s->error_count(), 10u);
    EXPECT_TRUE(got.ends_with("-ERR unknown command\r\n-ERR too many errors, closing\r\n")) << got;
}

TEST(pop3_sasl, base64_and_plain_fields_are_decoded_strictly) {
    using namespace proto::pop3;
    EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
    EXPECT_EQ(base64_decode("aGk="), "hi");
    EXPECT_EQ(base64_decode(""), "");
    EXPECT_FALSE(base64_decode("aGk"));
    EXPECT_FALSE(base64_decode("a=Gk"));
    EXPECT_FALSE(base64_decode("aG=k"));
    EXPECT_FALSE(base64_decode("aGk=aGk="));
    auto c = parse_sasl_plain("AHVzZXIxAHVzZXIx");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->authzid, "");
    EXPECT_EQ(c->authcid, "user1");
    EXPECT_EQ(c->password, "user1");
    EXPECT_FALSE(parse_sasl_plain("dXNlcjE="));  // no NULs
}

}  // namespace

TEST_F(Pop3Test, a_session_suspended_at_its_login_resumes_on_another_store_and_answers_there) {
    add("user1", k_msg1);
    auto s = open_session();
    EXPECT_EQ(converse(*s, "USER user1\r\n"), "+OK posthorn POP3 ready\r\n+OK send PASS\r\n");
    const std::string tail = "PASS USER1\r\nSTAT\r\n";
    size_t used = s->feed(tail);
    EXPECT_EQ(used, std::string("PASS USER1\r\n").size());  // stops at the login
    ASSERT_NE(s->pending_login(), nullptr);
    EXPECT_EQ(s->pending_login()->user, "user1");
    EXPECT_EQ(s->pending_login()->password, "USER1");
    EXPECT_EQ(s->feed("STAT\r\n"), 0u);                    // nothing while the host checks
    std::string blob = s->suspend();
    EXPECT_TRUE(s->wants_close());
    EXPECT_TRUE(s->output().empty());
    EXPECT_EQ(session::resume(cfg, dir, *st, locks, "t2", "garbage"), nullptr);
    auto r = session::resume(cfg, dir, *st, locks, "t2", blob);
    ASSERT_NE(r, nullptr);
    r->login_checked(true, "user1");
    const std::string n = std::to_string(k_msg1.size());
    EXPECT_EQ(converse(*r, tail.substr(used)),
              "+OK maildrop has 1 messages (" + n + " octets)\r\n+OK 1 " + n + "\r\n");
    EXPECT_TRUE(locks.held.count("user1"));
}

TEST_F(Pop3Test, without_plaintext_logins_capa_hides_them_and_user_pass_auth_are_refused) {
    cfg.plaintext_allowed = false;
    auto s = open_session();
    std::string got = converse(*s, "CAPA\r\nUSER user1\r\nPASS USER1\r\nAUTH PLAIN AHVzZXIxAFVTRVIx\r\nAUTH\r\n");
    EXPECT_EQ(got.find("USER\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("SASL"), std::string::npos) << got;
    EXPECT_NE(got.find("-ERR [AUTH] plaintext authentication disallowed"), std::string::npos) << got;
    EXPECT_TRUE(got.ends_with("+OK\r\n.\r\n")) << got;
    EXPECT_FALSE(s->authenticated());
}

namespace {
directory::snapshot only_user2() {
    std::vector<directory::user> users;
    users.push_back({"user2", "{PLAIN}user2", "User Two", {"user2@example.test"}});
    return directory::snapshot({"example.test"}, std::move(users), {});
}
}  // namespace

TEST_F(Pop3Test, a_logged_in_session_finishes_after_a_reload_removes_its_user_and_then_frees_the_old_snapshot) {
    add("user1", k_msg1);
    auto s = open_session();
    converse(*s, "USER user1\r\nPASS USER1\r\n");
    ASSERT_TRUE(s->authenticated());
    std::weak_ptr<const directory::snapshot> old = dir.share();
    dir.replace(std::make_shared<const directory::snapshot>(only_user2()));
    EXPECT_FALSE(old.expired()) << "the logged-in session keeps the snapshot its user lives in";
    EXPECT_EQ(converse(*s, "STAT\r\nRETR 1\r\nQUIT\r\n"),
              "+OK 1 " + std::to_string(k_msg1.size()) + "\r\n+OK " + std::to_string(k_msg1.size()) + " octets\r\n" +
                  stuffed(k_msg1) + "+OK posthorn POP3 signing off (0 messages deleted)\r\n");
    s.reset();
    EXPECT_TRUE(old.expired()) << "nothing refers to the old snapshot any more";
    // A new login of the removed user fails; the remaining user logs in.
    s = open_session("t2");
    EXPECT_EQ(converse(*s, "USER user1\r\nPASS USER1\r\n"),
              "+OK posthorn POP3 ready\r\n+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n");
    EXPECT_FALSE(s->authenticated());
    EXPECT_EQ(converse(*s, "USER user2\r\nPASS user2\r\n"), "+OK send PASS\r\n+OK maildrop has 0 messages (0 octets)\r\n");
}

TEST_F(Pop3Test, a_login_checked_before_a_reload_finds_its_user_in_the_snapshot_it_was_checked_in) {
    auto s = open_session();
    converse(*s, "USER user1\r\n");
    s->feed("PASS USER1\r\n");
    ASSERT_NE(s->pending_login(), nullptr);
    std::shared_ptr<const directory::snapshot> checked_in = dir.share();
    ASSERT_TRUE(directory::verify_password(*checked_in->find_login("user1"), "USER1"));
    dir.replace(std::make_shared<const directory::snapshot>(only_user2()));  // the reload lands meanwhile
    s->login_checked(true, "user1", checked_in);
    EXPECT_TRUE(s->authenticated());
    EXPECT_NE(s->output().find("+OK maildrop has 0 messages"), std::string::npos) << s->output();
}
