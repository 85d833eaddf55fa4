// The SMTP client session against scripted servers: greeting and EHLO/HELO,
// pipelined and lock-step transactions, every refusal path, 421, garbage,
// a lost connection, replies fed at every cut, and DATA dot-stuffing.
#include "posthorn/proto/smtp_client.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace posthorn::proto::smtp;

namespace {

const char* const ehlo_full =
    "250-mx.peer.test\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n";

struct harness {
    client c{client_config{"relay.example.test"}};
    std::string sent;  // everything the client sent

    client_event take(client_event e) {
        sent += c.output();
        c.output().clear();
        return e;
    }
    client_event feed(std::string_view s, size_t cut = 0) {
        if (cut == 0) return take(c.feed(s));
        client_event last = client_event::none;
        for (size_t i = 0; i < s.size(); i += cut) {
            client_event e = take(c.feed(s.substr(i, cut)));
            if (e != client_event::none) last = e;
        }
        return last;
    }
    // Greets with every extension and starts a transaction from
    // me@example.test to `to` (kept alive here: the client borrows it).
    void begin(std::initializer_list<std::string_view> to) {
        greet();
        for (auto a : to) _to.push_back(out_recipient{a, 0, {}});
        take(c.start(transaction{"me@example.test", _to}));
    }
    std::vector<out_recipient> _to;

    client_event greet(const char* ehlo = ehlo_full) {
        EXPECT_EQ(feed("220 mx.peer.test ESMTP\r\n"), client_event::none);
        EXPECT_EQ(sent, "EHLO relay.example.test\r\n");
        sent.clear();
        return feed(ehlo);
    }
};

std::vector<out_recipient> rcpts(std::initializer_list<std::string_view> a) {
    std::vector<out_recipient> v;
    for (auto s : a) v.push_back(out_recipient{s, 0, {}});
    return v;
}

}  // namespace

TEST(smtp_client, a_pipelined_transaction_sends_mail_rcpts_and_data_at_once_at_every_cut) {
    for (size_t cut : {0, 1, 2, 5, 10, 100}) {
        harness h;
        ASSERT_EQ(h.greet(), client_event::ready) << cut;
        EXPECT_TRUE(h.c.server().pipelining);
        EXPECT_EQ(h.c.server().size_max, 10485760u);
        auto r = rcpts({"a@peer.test", "b@peer.test"});
        transaction tx{"me@example.test", r, 1234};
        ASSERT_EQ(h.take(h.c.start(tx)), client_event::none);
        EXPECT_EQ(h.sent, "MAIL FROM:<me@example.test> SIZE=1234\r\nRCPT TO:<a@peer.test>\r\nRCPT TO:<b@peer.test>\r\nDATA\r\n");
        h.sent.clear();
        ASSERT_EQ(h.feed("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@peer.test>: unknown\r\n354 go\r\n", cut),
                  client_event::send_body) << cut;
        EXPECT_EQ(h.c.stage(), client_stage::body);
        ASSERT_EQ(h.take(h.c.body_sent()), client_event::none);
        EXPECT_EQ(h.sent, "");  // the host writes the terminator with the body (dot_stuffer::finish)
        ASSERT_EQ(h.feed("250 2.0.0 Ok: queued as 42\r\n", cut), client_event::done) << cut;
        const auto& out = h.c.rcpt_replies();
        ASSERT_EQ(out.size(), 2u);
        EXPECT_EQ(out[0].code, 250);
        EXPECT_EQ(out[0].text, "2.0.0 Ok: queued as 42");
        EXPECT_EQ(out[1].code, 550);
        EXPECT_TRUE(out[1].permanent());
        EXPECT_EQ(h.c.stage(), client_stage::idle);
    }
}

TEST(smtp_client, without_pipelining_each_command_waits_for_its_reply) {
    harness h;
    ASSERT_EQ(h.greet("250-mx.peer.test\r\n250 8BITMIME\r\n"), client_event::ready);
    auto r = rcpts({"a@peer.test", "b@peer.test"});
    transaction tx{"", r, 99, true};
    h.take(h.c.start(tx));
    EXPECT_EQ(h.sent, "MAIL FROM:<> BODY=8BITMIME\r\n") << "no SIZE= when SIZE is not offered; null sender";
    h.sent.clear();
    EXPECT_EQ(h.feed("250 ok\r\n"), client_event::none);
    EXPECT_EQ(h.sent, "RCPT TO:<a@peer.test>\r\n");
    h.sent.clear();
    EXPECT_EQ(h.feed("250 ok\r\n"), client_event::none);
    EXPECT_EQ(h.sent, "RCPT TO:<b@peer.test>\r\n");
    h.sent.clear();
    EXPECT_EQ(h.feed("250 ok\r\n"), client_event::none);
    EXPECT_EQ(h.sent, "DATA\r\n");
    EXPECT_EQ(h.feed("354 go\r\n"), client_event::send_body);
}

TEST(smtp_client, a_server_that_refuses_ehlo_gets_helo_and_no_extensions) {
    harness h;
    ASSERT_EQ(h.greet("502 5.5.1 no EHLO here\r\n"), client_event::none);
    EXPECT_EQ(h.sent, "HELO relay.example.test\r\n");
    EXPECT_EQ(h.feed("250 old.peer.test\r\n"), client_event::ready);
    EXPECT_FALSE(h.c.server().esmtp);
    EXPECT_FALSE(h.c.server().pipelining);
}

TEST(smtp_client, a_421_greeting_fails_at_once_and_a_554_greeting_gets_a_quit) {
    harness a;
    EXPECT_EQ(a.feed("421 4.3.2 busy\r\n"), client_event::failed);
    EXPECT_EQ(a.c.session_reply().code, 421);
    EXPECT_TRUE(a.c.session_reply().transient());
    EXPECT_EQ(a.sent, "");
    harness b;
    EXPECT_EQ(b.feed("554 5.7.1 go away\r\n"), client_event::failed);
    EXPECT_EQ(b.sent, "QUIT\r\n");
}

TEST(smtp_client, a_refused_mail_gives_every_recipient_its_reply_once_the_pipeline_drains) {
    harness h;
    h.begin({"a@peer.test", "b@peer.test"});
    EXPECT_EQ(h.feed("452 4.3.1 full\r\n503 5.5.1 need MAIL\r\n"), client_event::none);
    EXPECT_EQ(h.feed("503 5.5.1 need MAIL\r\n554 5.5.1 no recipients\r\n"), client_event::done);
    for (const auto& rep : h.c.rcpt_replies()) {
        EXPECT_EQ(rep.code, 452);
        EXPECT_TRUE(rep.transient());
    }
}

TEST(smtp_client, a_refused_data_is_every_accepted_recipients_outcome) {
    harness h;
    h.begin({"a@peer.test", "b@peer.test"});
    EXPECT_EQ(h.feed("250 ok\r\n250 ok\r\n550 5.1.1 nope\r\n451 4.3.0 try later\r\n"), client_event::done);
    EXPECT_EQ(h.c.rcpt_replies()[0].code, 451);
    EXPECT_EQ(h.c.rcpt_replies()[1].code, 550);
}

TEST(smtp_client, pipelined_data_accepted_with_no_valid_recipient_is_ended_empty) {
    harness h;
    h.begin({"a@peer.test"});
    h.sent.clear();
    EXPECT_EQ(h.feed("250 ok\r\n550 5.1.1 nope\r\n354 go\r\n"), client_event::none);
    EXPECT_EQ(h.sent, ".\r\n");
    EXPECT_EQ(h.feed("554 5.5.1 no valid recipients\r\n"), client_event::done);
    EXPECT_EQ(h.c.rcpt_replies()[0].code, 550);
}

TEST(smtp_client, one_connection_carries_several_transactions_then_quits) {
    harness h;
    h.greet();
    for (int i = 0; i < 3; ++i) {
        auto r = rcpts({"a@peer.test"});
        transaction tx{"me@example.test", r};
        ASSERT_EQ(h.take(h.c.start(tx)), client_event::none);
        ASSERT_EQ(h.feed("250 ok\r\n250 ok\r\n354 go\r\n"), client_event::send_body);
        h.take(h.c.body_sent());
        ASSERT_EQ(h.feed("250 queued\r\n"), client_event::done);
        EXPECT_TRUE(h.c.rcpt_replies()[0].ok());
    }
    EXPECT_EQ(h.c.transactions(), 3u);
    h.sent.clear();
    EXPECT_EQ(h.take(h.c.quit()), client_event::none);
    EXPECT_EQ(h.sent, "QUIT\r\n");
    EXPECT_EQ(h.feed("221 bye\r\n"), client_event::closed);
}

TEST(smtp_client, replies_that_arrive_before_body_sent_wait_for_it) {
    harness h;
    h.begin({"a@peer.test"});
    // A server that answers the end of data early is wrong, but the reply
    // must not be taken for anything else: it waits until body_sent().
    EXPECT_EQ(h.feed("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"), client_event::send_body);
    EXPECT_EQ(h.take(h.c.body_sent()), client_event::done);
    EXPECT_TRUE(h.c.rcpt_replies()[0].ok());
}

TEST(smtp_client, a_421_mid_transaction_makes_every_unfinished_recipient_transient) {
    harness h;
    h.begin({"a@peer.test", "b@peer.test"});
    EXPECT_EQ(h.feed("250 ok\r\n250 ok\r\n421 4.4.2 shutting down\r\n"), client_event::failed);
    EXPECT_EQ(h.c.rcpt_replies()[0].code, 421);
    EXPECT_EQ(h.c.rcpt_replies()[1].code, 421);
}

TEST(smtp_client, a_lost_connection_leaves_unknown_outcomes_at_code_zero) {
    harness h;
    h.begin({"a@peer.test"});
    h.feed("250 ok\r\n250 ok\r\n354 go\r\n");
    h.take(h.c.body_sent());
    EXPECT_EQ(h.c.connection_lost(), client_event::failed);
    EXPECT_EQ(h.c.rcpt_replies()[0].code, 0);
    EXPECT_TRUE(h.c.rcpt_replies()[0].transient()) << "in flight: retried, may repeat";
}

TEST(smtp_client, garbage_and_oversized_replies_fail_the_session) {
    for (std::string bad : {std::string("hello there\r\n"), std::string("99 short\r\n"), std::string("250-a\r\n251 b\r\n"),
                            std::string(5000, 'x') + "\r\n", std::string(5000, 'x')}) {
        harness h;
        EXPECT_EQ(h.feed(bad), client_event::failed) << bad.substr(0, 40);
    }
}

TEST(smtp_client, an_unsolicited_reply_is_not_taken_for_the_next_commands_reply) {
    harness h;
    ASSERT_EQ(h.feed("220 hi\r\n"), client_event::none);
    ASSERT_EQ(h.feed("250 mx\r\n250 2.0.0 unexpected\r\n"), client_event::ready);
    auto r = rcpts({"a@peer.test"});
    transaction tx{"me@example.test", r};
    EXPECT_EQ(h.take(h.c.start(tx)), client_event::failed);
    EXPECT_EQ(h.c.rcpt_replies()[0].code, 0) << "not delivered on a stray 250";
}

TEST(smtp_client, dsn_parameters_go_out_only_when_the_server_offers_dsn) {
    std::vector<out_recipient> r{{"a@peer.test", 2 | 4, "rfc822;a@peer.test"}};
    transaction tx{"me@example.test", r, 0, false, false, 2, "id+1"};
    harness with;
    with.greet();
    with.take(with.c.start(tx));
    EXPECT_EQ(with.sent, "MAIL FROM:<me@example.test> RET=HDRS ENVID=id+2B1\r\n"
                         "RCPT TO:<a@peer.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@peer.test\r\nDATA\r\n");
    harness without;
    without.greet("250-mx\r\n250 PIPELINING\r\n");
    without.take(without.c.start(tx));
    EXPECT_EQ(without.sent, "MAIL FROM:<me@example.test>\r\nRCPT TO:<a@peer.test>\r\nDATA\r\n");
}

TEST(smtp_dot_stuffer, leading_dots_are_doubled_at_every_cut_and_the_terminator_is_added) {
    const std::string body = ".starts\r\nmid.dle\r\n..two\r\n.\r\nend";
    const std::string expect = "..starts\r\nmid.dle\r\n...two\r\n..\r\nend\r\n.\r\n";
    for (size_t cut = 1; cut <= body.size(); ++cut) {
        dot_stuffer d;
        std::string out;
        for (size_t i = 0; i < body.size(); i += cut) d.stuff(std::string_view(body).substr(i, cut), out);
        d.finish(out);
        EXPECT_EQ(out, expect) << "cut " << cut;
    }
}

TEST(smtp_dot_stuffer, a_body_ending_in_crlf_gets_only_the_dot_and_an_empty_body_is_just_the_dot) {
    dot_stuffer d;
    std::string out;
    d.stuff("line\r\n", out);
    d.finish(out);
    EXPECT_EQ(out, "line\r\n.\r\n");
    dot_stuffer e;
    std::string none;
    e.finish(none);
    EXPECT_EQ(none, ".\r\n");
    dot_stuffer f;
    std::vector<size_t> at;
    f.dot_offsets("a\r\n.b\r\n", at);
    f.dot_offsets(".c\r\n", at);
    EXPECT_EQ(at, (std::vector<size_t>{3, 0}));
    EXPECT_EQ(f.terminator(), ".\r\n");
}
