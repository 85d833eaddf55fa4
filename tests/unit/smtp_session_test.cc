// The SMTP server session driven directly: lab forms, ordering, limits,
// DATA/BDAT content, smuggling, pipelining, commits, memory reuse.
#include "posthorn/core/log.hh"
#include "posthorn/proto/smtp_session.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

using namespace posthorn;
using namespace posthorn::proto::smtp;
using proto::smtp::testing::feed_all;
using proto::smtp::testing::recording_sink;

// Allocation counter for the no-allocation-on-the-hot-path test.
namespace {
std::atomic<size_t> g_allocations{0};
}
// GCC cannot see that these replace the global pair, and takes free() of
// what operator new returned for a mismatch.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

int64_t fixed_clock() noexcept { return 1732610400000; }  // Tue, 26 Nov 2024 08:40:00 UTC

directory::snapshot demo_directory() {
    std::vector<directory::user> users;
    for (int i = 1; i <= 5; ++i) {
        std::string n = "user" + std::to_string(i);
        users.push_back({n, "{PLAIN}" + n, "User " + std::to_string(i), {n + "@example.test"}});
    }
    return directory::snapshot({"example.test", "localhost"}, std::move(users),
                               {{"postmaster@example.test", {"user1@example.test"}},
                                {"staff@example.test", {"user1@example.test", "user2@example.test"}}});
}

const char* const k_ehlo_reply =
    "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250 HELP\r\n";

class smtp_server : public ::testing::Test {
protected:
    smtp_server() {
        core::log::set_level(core::log::level::error);
        cfg.hostname = "mx.example.test";
        cfg.clock_unix_ms = fixed_clock;
    }

    void open(bool input_pending = false) {
        s = std::make_unique<session>(cfg, dir, sink, peer, "s1");
        s->start(input_pending);
    }
    std::string take() {
        std::string o;
        o.swap(s->output());
        return o;
    }
    // One receive (or several when larger than a chunk); commits acknowledged.
    std::string send(std::string_view bytes, size_t piece = SIZE_MAX) {
        feed_all(*s, pool, bytes, piece, true);
        return take();
    }
    // An open session after EHLO (or HELO).
    void greeted(bool ehlo = true) {
        open();
        take();
        send(ehlo ? "EHLO client.test\r\n" : "HELO client.test\r\n");
    }
    // DATA, then the content in a later receive (as a client waits for 354).
    std::string message(std::string_view stuffed) {
        EXPECT_EQ(send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
        return send(stuffed);
    }
    void to_data(std::string_view rcpt = "<user2@example.test>") {
        greeted();
        EXPECT_EQ(send("MAIL FROM:<user1@example.test>\r\n"), "250 2.1.0 Ok\r\n");
        EXPECT_EQ(send("RCPT TO:" + std::string(rcpt) + "\r\n"), "250 2.1.5 Ok\r\n");
        EXPECT_EQ(send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    }

    session_config cfg;
    directory::handle dir{demo_directory()};
    recording_sink sink;
    core::chunk_pool pool{64 * 1024, 512};
    peer_info peer{"192.0.2.10", false};
    std::unique_ptr<session> s;
};

}  // namespace

// ---- greeting, lab 2, command list

TEST_F(smtp_server, greets_with_220_and_the_hostname) {
    open();
    EXPECT_EQ(take(), "220 mx.example.test ESMTP posthorn ready\r\n");
    EXPECT_FALSE(s->wants_close());
}

TEST_F(smtp_server, lab2_works_by_hand_line_by_line) {
    open();
    EXPECT_EQ(take(), "220 mx.example.test ESMTP posthorn ready\r\n");
    EXPECT_EQ(send("HELP\r\n"),
              "214-2.0.0 Commands supported:\r\n"
              "214 2.0.0 HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN\r\n");
    EXPECT_EQ(send("HELO example.test\r\n"), "250 mx.example.test\r\n");
    EXPECT_EQ(send("MAIL FROM:USER1\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(send("RCPT TO:USER2\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(send("Subject: lab 2\r\n"), "");
    EXPECT_EQ(send("\r\n"), "");
    EXPECT_EQ(send("Hello from the lab.\r\n"), "");
    EXPECT_EQ(send(".\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    EXPECT_EQ(send("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    EXPECT_TRUE(s->wants_close());

    ASSERT_EQ(sink.committed_count(), 1u);
    const auto& m = *sink.last_committed();
    EXPECT_EQ(m.env.mail_from, "USER1@example.test");
    ASSERT_EQ(m.env.rcpts.size(), 1u);
    EXPECT_EQ(m.env.rcpts[0].address, "USER2@example.test");
    EXPECT_EQ(m.env.helo, "example.test");
    EXPECT_EQ(m.env.client_address, "192.0.2.10");
    EXPECT_EQ(m.env.received_unix_ms, fixed_clock());
    EXPECT_EQ(m.content, "Subject: lab 2\r\n\r\nHello from the lab.\r\n");
    EXPECT_EQ(m.received_header,
              "Received: from example.test ([192.0.2.10])\r\n"
              "\tby mx.example.test (posthorn) with SMTP id 0100000000000001\r\n"
              "\tfor <USER2@example.test>; Tue, 26 Nov 2024 08:40:00 +0000\r\n");
}

TEST_F(smtp_server, lab_forms_accept_any_case_spaces_and_localhost) {
    greeted(false);
    EXPECT_EQ(send("mail from: user1\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(send("rcpt to:user2@localhost\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(send("Rcpt To: <User3@Example.Test>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(send("data\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(send("x\r\n.\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    const auto& m = *sink.last_committed();
    EXPECT_EQ(m.env.mail_from, "user1@example.test");
    EXPECT_EQ(m.env.rcpts[0].address, "user2@localhost");
    EXPECT_EQ(m.env.rcpts[1].address, "User3@example.test");
    // Two recipients: no `for` clause.
    EXPECT_EQ(m.received_header,
              "Received: from client.test ([192.0.2.10])\r\n"
              "\tby mx.example.test (posthorn) with SMTP id 0100000000000001;\r\n"
              "\tTue, 26 Nov 2024 08:40:00 +0000\r\n");
}

TEST_F(smtp_server, ehlo_lists_the_extensions) {
    open();
    take();
    EXPECT_EQ(send("EHLO client.test\r\n"), k_ehlo_reply);
    cfg.expn_enabled = true;
    EXPECT_EQ(send("ehlo client.test\r\n"),
              "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
              "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n"
              "250-EXPN\r\n250 HELP\r\n");
}

TEST_F(smtp_server, helo_needs_one_printable_argument) {
    open();
    take();
    EXPECT_EQ(send("HELO\r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
    EXPECT_EQ(send("EHLO two words\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

TEST_F(smtp_server, helo_and_ehlo_reset_the_transaction) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    send("RCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("EHLO again.test\r\n"), k_ehlo_reply);
    EXPECT_EQ(send("RCPT TO:<user2@example.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(smtp_server, help_with_a_verb_gives_its_syntax) {
    open();
    take();
    EXPECT_EQ(send("HELP bdat\r\n"), "214 2.0.0 BDAT size [LAST]\r\n");
}

// ---- command order and syntax

TEST_F(smtp_server, rcpt_before_mail_gets_503) {
    greeted();
    EXPECT_EQ(send("RCPT TO:<user2@example.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(smtp_server, data_without_recipients_gets_503_or_554) {
    greeted();
    EXPECT_EQ(send("DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:<nobody@example.test>\r\n"),
              "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown\r\n");
    EXPECT_EQ(send("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
    EXPECT_TRUE(sink.messages.empty());
}

TEST_F(smtp_server, nested_mail_gets_503) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
}

TEST_F(smtp_server, unknown_verbs_and_bad_syntax_get_500_and_501) {
    greeted();
    EXPECT_EQ(send("FOO bar\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(send("\r\n"), "500 5.5.2 Error: bad syntax\r\n");
    EXPECT_EQ(send("MAIL TO:<a@b>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
    send("MAIL FROM:<>\r\n");
    EXPECT_EQ(send("RCPT TO:<>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
    EXPECT_EQ(send("RCPT TO:<user2@example.test> FOO=1\r\n"), "555 5.5.4 Unsupported option: FOO\r\n");
    EXPECT_EQ(send("RCPT TO:<user2@example.test> NOTIFY=MAYBE\r\n"), "501 5.5.4 Bad NOTIFY parameter syntax\r\n");
    EXPECT_EQ(send("RSET now\r\n"), "501 5.5.4 Syntax: RSET\r\n");
    EXPECT_EQ(s->error_count(), 8u);
}

TEST_F(smtp_server, replies_never_echo_control_bytes) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send(std::string("RCPT TO:<user2@example.test> X\x01\x7f=1\r\n")),
              "555 5.5.4 Unsupported option: X??\r\n");
}

TEST_F(smtp_server, mail_and_rcpt_parameters_reach_the_envelope) {
    greeted();
    EXPECT_EQ(send("MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=abc+2B1 SMTPUTF8\r\n"),
              "250 2.1.0 Ok\r\n");
    EXPECT_EQ(send("RCPT TO:<user2@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;user2@example.test\r\n"),
              "250 2.1.5 Ok\r\n");
    send("DATA\r\n");
    send("hi\r\n.\r\n");
    const auto& e = sink.last_committed()->env;
    EXPECT_EQ(e.declared_size, 1000u);
    EXPECT_EQ(e.body, queue::body_type::eight_bit_mime);
    EXPECT_EQ(e.ret, queue::dsn_ret::headers);
    EXPECT_EQ(e.envid, "abc+2B1");
    EXPECT_TRUE(e.smtputf8);
    EXPECT_EQ(e.rcpts[0].notify, queue::notify_success | queue::notify_delay);
    EXPECT_EQ(e.rcpts[0].orcpt, "rfc822;user2@example.test");
    EXPECT_NE(sink.last_committed()->received_header.find("with UTF8SMTP id"), std::string::npos);
}

TEST_F(smtp_server, non_ascii_addresses_need_smtputf8) {
    greeted();
    EXPECT_EQ(send("MAIL FROM:<j\xc3\xb8rn@b.c>\r\n"), "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
    EXPECT_EQ(send("MAIL FROM:<j\xc3\xb8rn@b.c> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
}

// ---- recipients: users, relay, postmaster, limits

TEST_F(smtp_server, unknown_local_user_gets_550_5_1_1) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:<user9@example.test>\r\n"),
              "550 5.1.1 <user9@example.test>: Recipient address rejected: User unknown\r\n");
    EXPECT_EQ(send("RCPT TO:user9\r\n"),
              "550 5.1.1 <user9@example.test>: Recipient address rejected: User unknown\r\n");
    EXPECT_EQ(send("RCPT TO:<staff@example.test>\r\n"), "250 2.1.5 Ok\r\n");  // an alias
}

TEST_F(smtp_server, foreign_domains_are_denied_to_untrusted_peers) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:<someone@relay.test>\r\n"), "554 5.7.1 <someone@relay.test>: Relay access denied\r\n");
}

TEST_F(smtp_server, trusted_peers_may_relay) {
    peer.trusted = true;
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:<someone@Relay.Test>\r\n"), "250 2.1.5 Ok\r\n");
    message("x\r\n.\r\n");
    EXPECT_EQ(sink.last_committed()->env.rcpts[0].address, "someone@relay.test");
    // Trust governs relaying only: unknown local users are still refused.
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:<ghost@example.test>\r\n"),
              "550 5.1.1 <ghost@example.test>: Recipient address rejected: User unknown\r\n");
}

TEST_F(smtp_server, postmaster_is_always_accepted) {
    dir.replace(std::make_shared<const directory::snapshot>(std::vector<std::string>{"example.test"},
                                                            std::vector<directory::user>{},
                                                            std::unordered_map<std::string, std::vector<std::string>>{}));  // no users, no aliases
    greeted();
    send("MAIL FROM:<>\r\n");
    EXPECT_EQ(send("RCPT TO:<postmaster>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(send("RCPT TO:<PostMaster@example.test>\r\n"), "250 2.1.5 Ok\r\n");
    message("x\r\n.\r\n");
    const auto& e = sink.last_committed()->env;
    EXPECT_EQ(e.mail_from, "");
    EXPECT_EQ(e.rcpts[0].address, "postmaster@example.test");
}

TEST_F(smtp_server, recipients_past_the_limit_get_452) {
    cfg.max_recipients = 2;
    greeted();
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("RCPT TO:user1\r\nRCPT TO:user2\r\nRCPT TO:user3\r\n"),
              "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Error: too many recipients\r\n");
    message("x\r\n.\r\n");
    EXPECT_EQ(sink.last_committed()->env.rcpts.size(), 2u);
    EXPECT_EQ(s->error_count(), 0u);
}

// ---- pipelining

TEST_F(smtp_server, pipelined_mail_rcpt_rcpt_data_get_their_replies_in_one_output) {
    greeted();
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user1@example.test>\r\nRCPT TO:<user2@example.test>\r\nDATA\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(send("body\r\n.\r\nQUIT\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n221 2.0.0 Bye\r\n");
}

TEST_F(smtp_server, pipelining_past_data_is_refused_and_closes) {
    greeted();
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.5.0 Error: improper command pipelining after DATA\r\n");
    EXPECT_TRUE(s->wants_close());
    EXPECT_EQ(sink.committed_count(), 0u);
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "");
}

TEST_F(smtp_server, pipelining_past_data_is_allowed_when_not_forbidden) {
    cfg.forbid_unauth_pipelining = false;
    greeted();
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\nDATA\r\nhi\r\n.\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
              "250 2.0.0 Ok: queued as 0100000000000001\r\n");
}

TEST_F(smtp_server, ehlo_must_end_a_pipelined_group) {
    open();
    take();
    EXPECT_EQ(send("EHLO c.test\r\nMAIL FROM:<a@b.c>\r\n"),
              "554 5.5.0 Error: improper command pipelining after EHLO\r\n");
    EXPECT_TRUE(s->wants_close());
}

TEST_F(smtp_server, talking_before_the_greeting_is_refused) {
    open(true);
    EXPECT_EQ(take(), "554 5.5.1 Error: SMTP protocol synchronization\r\n");
    EXPECT_TRUE(s->wants_close());
    cfg.forbid_unauth_pipelining = false;
    open(true);
    EXPECT_EQ(take(), "220 mx.example.test ESMTP posthorn ready\r\n");
}

// ---- DATA content

TEST_F(smtp_server, dot_unstuffing_round_trips_byte_exact) {
    const std::string content =
        ".leading dot\r\n..two dots\r\n.\r\n.. \r\n \r\n.x.\r\nend . \r\n.\r.\n\r\n";  // a lone "." line too
    std::string stuffed;
    bool bol = true;
    for (size_t i = 0; i < content.size(); ++i) {
        if (bol && content[i] == '.') stuffed += '.';
        stuffed += content[i];
        bol = content[i] == '\n' && i > 0 && content[i - 1] == '\r';
    }
    stuffed += ".\r\n";
    cfg.bare_newlines = bare_newline_policy::normalize;
    for (size_t piece : {size_t(1), size_t(3), size_t(7), SIZE_MAX}) {
        SCOPED_TRACE(piece);
        to_data();
        EXPECT_EQ(send(stuffed, piece), "250 2.0.0 Ok: queued as " +
                                            queue::format_queue_id(sink.messages.back().id) + "\r\n");
        EXPECT_EQ(sink.last_committed()->content, ".leading dot\r\n..two dots\r\n.\r\n.. \r\n \r\n.x.\r\nend . \r\n"
                                                  ".\r\n.\r\n\r\n");
    }
}

TEST_F(smtp_server, smuggling_endings_never_start_a_second_transaction) {
    const std::string endings[] = {
        "\n.\n", "\r.\r", "\r.\n", "\n.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r",
        std::string("\r\n\0.\r\n", 6), std::string("\n\0.\r\n", 5),
    };
    const std::string smuggled =
        "MAIL FROM:<evil@relay.test>\r\nRCPT TO:<user3@example.test>\r\nDATA\r\nsmuggled\r\n";
    for (auto policy : {bare_newline_policy::reject, bare_newline_policy::normalize}) {
        cfg.bare_newlines = policy;
        cfg.forbid_unauth_pipelining = false;
        for (const auto& e : endings) {
            for (size_t piece : {size_t(1), size_t(4), SIZE_MAX}) {
                SCOPED_TRACE(::testing::PrintToString(e) + (policy == bare_newline_policy::reject ? " reject " : " normalize ") +
                             std::to_string(piece));
                sink.messages.clear();
                to_data();
                std::string out = send("Subject: x\r\n\r\nhello" + e + smuggled + ".\r\nQUIT\r\n", piece);
                // One reply for the one message, then QUIT: nothing was taken as commands.
                EXPECT_EQ(out.find("250 2.1.0"), std::string::npos);
                EXPECT_EQ(out.find("354"), std::string::npos);
                ASSERT_EQ(sink.messages.size(), 1u);
                bool has_bare = e.find_first_of("\r\n") != std::string::npos &&
                                e != std::string("\r\n\0.\r\n", 6);
                if (policy == bare_newline_policy::reject && has_bare) {
                    EXPECT_TRUE(out.starts_with("550 5.5.2 Message contains bare CR or LF"));
                    EXPECT_TRUE(sink.messages[0].aborted);
                    EXPECT_EQ(sink.committed_count(), 0u);
                } else {
                    EXPECT_TRUE(out.starts_with("250 2.0.0 Ok: queued as"));
                    ASSERT_EQ(sink.committed_count(), 1u);
                    EXPECT_NE(sink.messages[0].content.find("MAIL FROM:<evil@relay.test>"), std::string::npos);
                    EXPECT_NE(sink.messages[0].content.find("smuggled\r\n"), std::string::npos);
                }
                EXPECT_TRUE(out.ends_with("221 2.0.0 Bye\r\n"));
            }
        }
    }
}

TEST_F(smtp_server, bare_lf_is_rejected_after_the_real_end) {
    to_data();
    EXPECT_EQ(send("line one\nline two\r\n"), "");
    EXPECT_EQ(send(".\r\n"), "550 5.5.2 Message contains bare CR or LF (see RFC 5321 section 2.3.8)\r\n");
    ASSERT_EQ(sink.messages.size(), 1u);
    EXPECT_TRUE(sink.messages[0].aborted);
    EXPECT_FALSE(sink.messages[0].committed);
    // The session carries on.
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(smtp_server, bare_cr_and_lf_are_normalized_when_configured) {
    cfg.bare_newlines = bare_newline_policy::normalize;
    to_data();
    EXPECT_EQ(send("a\nb\rc\r\n.\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    EXPECT_EQ(sink.last_committed()->content, "a\r\nb\r\nc\r\n");
}

TEST_F(smtp_server, a_declared_size_over_the_limit_gets_552) {
    cfg.max_message_size = 100;
    greeted();
    EXPECT_EQ(send("MAIL FROM:<a@b.c> SIZE=101\r\n"), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b.c> SIZE=100\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(smtp_server, content_over_the_limit_is_read_to_the_end_then_552) {
    cfg.max_message_size = 100;
    cfg.body_window_bytes = 16;
    to_data();
    std::string big(200, 'x');
    EXPECT_EQ(send(big + "\r\n"), "");
    EXPECT_EQ(send("MAIL FROM:<x@y>\r\n"), "");  // still content
    EXPECT_EQ(send(".\r\n"), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    ASSERT_EQ(sink.messages.size(), 1u);
    EXPECT_TRUE(sink.messages[0].aborted);
    EXPECT_EQ(sink.committed_count(), 0u);
    // Exactly at the limit is fine.
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:user2\r\n");
    send("DATA\r\n");
    EXPECT_EQ(send(std::string(98, 'y') + "\r\n.\r\n"), "250 2.0.0 Ok: queued as 0100000000000002\r\n");
}

TEST_F(smtp_server, a_full_window_spills_to_write_body_and_the_content_is_exact) {
    cfg.body_window_bytes = 1024;
    to_data();
    std::string content;
    for (int i = 0; i < 400; ++i) content += "line " + std::to_string(i) + (i % 7 == 0 ? "\r\n.dot\r\n" : "\r\n");
    std::string stuffed;
    for (size_t i = 0; i < content.size(); ++i) {
        if (content[i] == '.' && i > 0 && content[i - 1] == '\n') stuffed += '.';
        stuffed += content[i];
    }
    for (size_t at = 0; at < stuffed.size(); at += 100) send(std::string_view(stuffed).substr(at, 100));
    EXPECT_EQ(send(".\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    const auto& m = *sink.last_committed();
    EXPECT_GT(m.write_body_calls, 2u);
    EXPECT_EQ(m.content, content);
}

TEST_F(smtp_server, fragmented_normalized_content_spills_by_slice_count) {
    cfg.bare_newlines = bare_newline_policy::normalize;
    to_data();
    std::string body(5000, '\n');
    EXPECT_EQ(send(body + "\r\n.\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    const auto& m = *sink.last_committed();
    EXPECT_GT(m.write_body_calls, 10u);
    EXPECT_EQ(m.content.size(), 10002u);
}

TEST_F(smtp_server, normalized_bare_cr_at_every_receive_boundary_keeps_making_progress) {
    cfg.bare_newlines = bare_newline_policy::normalize;
    to_data();
    std::string body, expect;
    for (int i = 0; i < 100; ++i) {
        body += "ab\rc";
        expect += "ab\r\nc";
    }
    EXPECT_EQ(send(body + "\r\n.\r\n", 1), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    EXPECT_EQ(sink.last_committed()->content, expect + "\r\n");
}

// ---- BDAT

TEST_F(smtp_server, bdat_chunks_then_last_commit_the_message) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("BDAT 7\r\nhello\r\n"), "250 2.0.0 Ok: 7 octets received\r\n");
    EXPECT_EQ(send("BDAT 9\r\n.dotted\r\n"), "250 2.0.0 Ok: 9 octets received\r\n");
    EXPECT_EQ(send("BDAT 0 LAST\r\n"), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    EXPECT_EQ(sink.last_committed()->content, "hello\r\n.dotted\r\n");
    // Pipelined, with the octets split across receives.
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("BDAT 3\r\nab\rBDAT 5 LAST\r\n\ncd\r\nNOOP\r\n", 2),
              "250 2.0.0 Ok: 3 octets received\r\n250 2.0.0 Ok: queued as 0100000000000002\r\n"
              "250 2.0.0 Ok\r\n");
    EXPECT_EQ(sink.last_committed()->content, "ab\r\ncd\r\n");
    EXPECT_NE(sink.last_committed()->received_header.find("with ESMTP id"), std::string::npos);
}

TEST_F(smtp_server, bdat_without_recipients_skips_its_octets) {
    greeted();
    EXPECT_EQ(send("BDAT 6\r\nQUIT\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
    EXPECT_FALSE(s->wants_close());
    send("MAIL FROM:<a@b.c>\r\n");
    EXPECT_EQ(send("BDAT 6 LAST\r\nRSET\r\nNOOP\r\n"), "554 5.5.1 Error: no valid recipients\r\n250 2.0.0 Ok\r\n");
    EXPECT_TRUE(sink.messages.empty());
}

TEST_F(smtp_server, bdat_and_data_do_not_mix) {
    greeted();
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\n");
    send("BDAT 3\r\nab\n");
    EXPECT_EQ(send("DATA\r\n"), "503 5.5.1 Error: DATA cannot follow BDAT\r\n");
}

TEST_F(smtp_server, binarymime_needs_bdat_and_keeps_bare_newlines) {
    greeted();
    send("MAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("DATA\r\n"), "503 5.5.1 Error: BODY=BINARYMIME requires BDAT\r\n");
    EXPECT_EQ(send(std::string("BDAT 5 LAST\r\n\0\n\r.\n", 18)), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    EXPECT_EQ(sink.last_committed()->content, std::string("\0\n\r.\n", 5));
}

TEST_F(smtp_server, bdat_bare_newlines_and_size_fail_the_whole_message) {
    cfg.max_message_size = 10;
    greeted();
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("BDAT 8\r\n12345678"), "250 2.0.0 Ok: 8 octets received\r\n");
    EXPECT_EQ(send("BDAT 8\r\n12345678"), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_TRUE(sink.messages[0].aborted);
    EXPECT_EQ(send("BDAT 2 LAST\r\nab"), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(s->error_count(), 1u);
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:<user2@example.test>\r\n");
    EXPECT_EQ(send("BDAT 3 LAST\r\na\nb"), "550 5.5.2 Message contains bare CR or LF (see RFC 5321 section 2.3.8)\r\n");
    EXPECT_EQ(sink.committed_count(), 0u);
}

// ---- limits

TEST_F(smtp_server, a_line_too_long_gets_500_and_is_discarded) {
    greeted();
    std::string longline(600, 'A');
    EXPECT_EQ(send(longline + "\r\nNOOP\r\n"), "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
    EXPECT_EQ(send(longline + "\r\nNOOP\r\n", 1), "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
    // 510 characters + CRLF = 512: allowed.
    EXPECT_EQ(send("NOOP " + std::string(505, 'x') + "\r\n"), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(send("NOOP " + std::string(506, 'x') + "\r\n"), "500 5.5.2 Error: line too long\r\n");
}

TEST_F(smtp_server, an_endless_line_gets_one_reply_and_no_growth) {
    greeted();
    std::string chunk(60000, 'Z');
    EXPECT_EQ(send(chunk), "500 5.5.2 Error: line too long\r\n");
    for (int i = 0; i < 20; ++i) EXPECT_EQ(send(chunk), "");
    EXPECT_EQ(send("\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(smtp_server, too_many_errors_get_421_and_close) {
    cfg.errors_max = 3;
    greeted();
    EXPECT_EQ(send("X\r\nY\r\n"), "500 5.5.2 Error: command not recognized\r\n500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(send("Z\r\nNOOP\r\n"),
              "500 5.5.2 Error: command not recognized\r\n421 4.7.0 mx.example.test Error: too many errors\r\n");
    EXPECT_TRUE(s->wants_close());
}

TEST_F(smtp_server, nul_and_garbage_get_replies_not_crashes) {
    cfg.forbid_unauth_pipelining = false;
    cfg.errors_max = 1000000;
    greeted();
    std::string junk;
    uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) {
        x = x * 1103515245 + 12345;
        junk.push_back(static_cast<char>(x >> 24));
    }
    std::string out = send(junk, 997);
    EXPECT_FALSE(out.empty());
    send("\r\n");  // ends a too-long line the junk may have left open
    EXPECT_EQ(send(std::string("\0\0\0\r\n", 5)), "500 5.5.2 Error: command not recognized\r\n");
}

TEST_F(smtp_server, timeout_gets_421_and_aborts_the_open_message) {
    to_data();
    send("partial body\r\n");
    EXPECT_TRUE(s->in_data());
    s->on_timeout();
    EXPECT_EQ(take(), "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
    EXPECT_TRUE(s->wants_close());
    EXPECT_TRUE(sink.messages[0].aborted);
}

TEST_F(smtp_server, disconnect_aborts_the_open_message) {
    to_data();
    send("partial body\r\n");
    s->on_disconnect();
    EXPECT_TRUE(s->wants_close());
    EXPECT_TRUE(sink.messages[0].aborted);
}

// ---- commits

TEST_F(smtp_server, feed_stops_while_the_commit_is_pending) {
    to_data();
    core::slice in = proto::smtp::testing::make_slice(pool, "body\r\n.\r\nNOOP\r\nQUIT\r\n");
    size_t used = s->feed(in);
    EXPECT_EQ(used, 9u);
    EXPECT_TRUE(s->waiting_for_commit());
    EXPECT_EQ(take(), "");
    EXPECT_EQ(s->feed(in.suffix_from(static_cast<uint32_t>(used))), 0u);
    s->on_committed(true);
    EXPECT_FALSE(s->waiting_for_commit());
    EXPECT_EQ(take(), "250 2.0.0 Ok: queued as 0100000000000001\r\n");
    cfg.forbid_unauth_pipelining = false;
    EXPECT_EQ(s->feed(in.suffix_from(static_cast<uint32_t>(used))), in.length - used);
    EXPECT_EQ(take(), "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
}

TEST_F(smtp_server, a_failed_commit_gets_451) {
    to_data();
    core::slice in = proto::smtp::testing::make_slice(pool, "body\r\n.\r\n");
    s->feed(in);
    s->on_committed(false);
    EXPECT_EQ(take(), "451 4.3.0 Error: queue file write error\r\n");
    sink.fail_commit = true;
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:user2\r\n");
    send("DATA\r\n");
    EXPECT_EQ(send("x\r\n.\r\n"), "451 4.3.0 Error: queue file write error\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@b.c>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(smtp_server, a_sink_may_acknowledge_inside_commit) {
    to_data();
    sink.ack_inside_commit = s.get();
    core::slice in = proto::smtp::testing::make_slice(pool, "body\r\n.\r\nRSET\r\n");
    EXPECT_EQ(s->feed(in), in.length);
    EXPECT_EQ(take(), "250 2.0.0 Ok: queued as 0100000000000001\r\n250 2.0.0 Ok\r\n");
}

TEST_F(smtp_server, queue_failures_get_451) {
    greeted();
    sink.fail_begin = true;
    send("MAIL FROM:<a@b.c>\r\nRCPT TO:user2\r\n");
    EXPECT_EQ(send("DATA\r\n"), "451 4.3.0 Error: queue file write error\r\n");
    sink.fail_begin = false;
    sink.fail_write = true;
    cfg.body_window_bytes = 8;
    EXPECT_EQ(send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(send("a long enough body\r\n.\r\n"), "451 4.3.0 Error: queue file write error\r\n");
    EXPECT_TRUE(sink.messages.back().aborted);
}

// ---- VRFY / EXPN

TEST_F(smtp_server, vrfy_follows_its_policy) {
    greeted();
    EXPECT_EQ(send("VRFY user1\r\n"), "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
    cfg.vrfy = vrfy_policy::verify;
    EXPECT_EQ(send("VRFY user1\r\n"), "250 2.1.5 User 1 <user1@example.test>\r\n");
    EXPECT_EQ(send("VRFY <ghost@example.test>\r\n"),
              "550 5.1.1 <ghost@example.test>: Recipient address rejected: User unknown\r\n");
    cfg.vrfy = vrfy_policy::disabled;
    EXPECT_EQ(send("VRFY user1\r\n"), "502 5.5.1 VRFY command is disabled\r\n");
}

TEST_F(smtp_server, expn_is_disabled_unless_enabled) {
    greeted();
    EXPECT_EQ(send("EXPN staff\r\n"), "502 5.5.1 EXPN command is disabled\r\n");
    cfg.expn_enabled = true;
    EXPECT_EQ(send("EXPN staff\r\n"), "250-2.1.5 <user1@example.test>\r\n250 2.1.5 <user2@example.test>\r\n");
    EXPECT_EQ(send("EXPN nobody@relay.test\r\n"), "550 5.1.2 <nobody@relay.test>: Not a local address\r\n");
}

// ---- memory

TEST_F(smtp_server, steady_state_commands_do_not_allocate) {
    greeted();
    s->output().reserve(4096);
    auto run = [&] {
        core::slice in = proto::smtp::testing::make_slice(
            pool, "MAIL FROM:<someone.with.a.long.name@example.test> SIZE=100\r\nRSET\r\nNOOP\r\nEHLO c.test\r\n");
        s->feed(in);
        s->output().clear();
    };
    cfg.forbid_unauth_pipelining = false;
    run();  // warm up: strings reach their capacity
    size_t before = g_allocations.load();
    for (int i = 0; i < 100; ++i) run();
    EXPECT_EQ(g_allocations.load() - before, 0u);
}

TEST_F(smtp_server, recipient_storage_is_reused_across_transactions) {
    cfg.forbid_unauth_pipelining = false;
    peer.trusted = true;  // foreign recipients: no directory allocation on resolve's fast path
    greeted();
    auto txn = [&] {
        core::slice in = proto::smtp::testing::make_slice(
            pool, "MAIL FROM:<a@b.c>\r\nRCPT TO:<a.long.remote.recipient@relay.test>\r\nRSET\r\n");
        s->feed(in);
        s->output().clear();
    };
    txn();
    size_t before = g_allocations.load();
    for (int i = 0; i < 50; ++i) txn();
    // Only the directory look-up allocates (its lower-casing), not the session.
    EXPECT_LE(g_allocations.load() - before, 50u * 2);
}
