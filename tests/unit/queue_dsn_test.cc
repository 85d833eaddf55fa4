// DSN policy (who gets one) and the RFC 3464 report's shape: the three
// parts, per-recipient fields, RET=HDRS and the size cap on the original.
#include "posthorn/queue/dsn.hh"

#include <gtest/gtest.h>

using namespace posthorn;
using queue::dsn_action;

namespace {
size_t count(std::string_view hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

const std::string original =
    "Received: from x\r\nFrom: a@example.test\r\nSubject: hello\r\nMessage-ID: <m1@example.test>\r\n\r\nbody line\r\n";

queue::dsn_request request(std::span<const queue::dsn_recipient> rcpts) {
    queue::dsn_request r;
    r.reporting_mta = "mx.example.test";
    r.sender = "a@example.test";
    r.envid = "env+2B1";
    r.arrival_unix_ms = 1'700'000'000'000;
    r.now_unix_ms = 1'700'000'060'000;
    r.original = original;
    r.unique = "0100000000000042";
    r.rcpts = rcpts;
    return r;
}
}  // namespace

TEST(queue_dsn, the_null_sender_and_notify_never_get_nothing_and_defaults_report_failures_only) {
    EXPECT_FALSE(queue::dsn_wanted("", 0, dsn_action::failed)) << "a bounce never bounces";
    EXPECT_FALSE(queue::dsn_wanted("a@x.test", queue::notify_never, dsn_action::failed));
    EXPECT_TRUE(queue::dsn_wanted("a@x.test", 0, dsn_action::failed));
    EXPECT_FALSE(queue::dsn_wanted("a@x.test", 0, dsn_action::delayed));
    EXPECT_FALSE(queue::dsn_wanted("a@x.test", 0, dsn_action::delivered));
    EXPECT_FALSE(queue::dsn_wanted("a@x.test", queue::notify_success, dsn_action::failed));
    EXPECT_TRUE(queue::dsn_wanted("a@x.test", queue::notify_success, dsn_action::delivered));
    EXPECT_TRUE(queue::dsn_wanted("a@x.test", queue::notify_delay | queue::notify_failure, dsn_action::delayed));
}

TEST(queue_dsn, a_failure_report_has_three_parts_and_a_field_group_per_recipient) {
    queue::dsn_recipient rc[2] = {
        {"b@peer.test", "rfc822;B@peer.test", 0, dsn_action::failed, "5.1.1", "mx.peer.test",
         "550 5.1.1 <b@peer.test>: unknown\r\n", 1'700'000'050'000},
        {"c@peer.test", "", 0, dsn_action::failed, "4.4.7", "", "delivery time expired", 0},
    };
    std::string m = queue::build_dsn(request(rc));
    EXPECT_NE(m.find("From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n"), std::string::npos);
    EXPECT_NE(m.find("To: <a@example.test>\r\n"), std::string::npos);
    EXPECT_NE(m.find("Subject: Undelivered Mail Returned to Sender\r\n"), std::string::npos);
    EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
    const std::string boundary = "0100000000000042/mx.example.test";
    EXPECT_EQ(count(m, "\r\n--" + boundary + "\r\n"), 3u);
    EXPECT_EQ(count(m, "\r\n--" + boundary + "--\r\n"), 1u);
    EXPECT_NE(m.find("Reporting-MTA: dns; mx.example.test\r\nOriginal-Envelope-Id: env+2B1\r\n"
                     "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"),
              std::string::npos);
    EXPECT_NE(m.find("\r\n\r\nOriginal-Recipient: rfc822;B@peer.test\r\nFinal-Recipient: rfc822; b@peer.test\r\n"
                     "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.peer.test\r\n"
                     "Diagnostic-Code: smtp; 550 5.1.1 <b@peer.test>: unknown  \r\n"),
              std::string::npos)
        << "CR/LF in the peer's reply never splits the field";
    EXPECT_NE(m.find("\r\n\r\nFinal-Recipient: rfc822; c@peer.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"), std::string::npos);
    EXPECT_NE(m.find("Content-Type: message/rfc822\r\n\r\n" + original), std::string::npos) << "the whole original";
    EXPECT_EQ(m.find("\n\n"), std::string::npos) << "CRLF line ends only";
    EXPECT_EQ(count(m, "\r") , count(m, "\n"));
}

TEST(queue_dsn, ret_hdrs_or_a_large_original_returns_only_its_header) {
    queue::dsn_recipient rc[1] = {{"b@peer.test", "", 0, dsn_action::failed, "5.1.1", "", "550 nope", 0}};
    auto r = request(rc);
    r.ret = queue::dsn_ret::headers;
    std::string hdrs = queue::build_dsn(r);
    EXPECT_NE(hdrs.find("Content-Type: text/rfc822-headers\r\n\r\nReceived: from x\r\n"), std::string::npos);
    EXPECT_EQ(hdrs.find("body line"), std::string::npos);

    r.ret = queue::dsn_ret::full;
    r.original_bytes_max = 10;
    std::string capped = queue::build_dsn(r);
    EXPECT_NE(capped.find("text/rfc822-headers"), std::string::npos);
    EXPECT_EQ(capped.find("body line"), std::string::npos);
}

TEST(queue_dsn, a_delay_report_says_so) {
    queue::dsn_recipient rc[1] = {{"b@peer.test", "", queue::notify_delay, dsn_action::delayed, "4.4.1", "", "", 0}};
    std::string m = queue::build_dsn(request(rc));
    EXPECT_NE(m.find("Subject: Delayed Mail (still being retried)\r\n"), std::string::npos);
    EXPECT_NE(m.find("Action: delayed\r\nStatus: 4.4.1\r\n"), std::string::npos);
}

TEST(queue_dsn, xtext_escapes_plus_equals_controls_and_non_ascii) {
    std::string out;
    queue::append_xtext(out, "a+b=c d\xc3\xa9");
    EXPECT_EQ(out, "a+2Bb+3Dc+20d+C3+A9");
}
