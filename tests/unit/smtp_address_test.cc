// MAIL/RCPT path and ESMTP parameter parsing.
#include "proto/smtp/address.hh"

#include <gtest/gtest.h>

using namespace posthorn;
using namespace posthorn::proto::smtp;

namespace {
std::string qualified(std::string_view in) {
    path p;
    std::string_view params;
    if (!parse_path(in, p, params)) return "(syntax)";
    std::string out;
    qualify(p, "example.test", out);
    return p.null ? "<>" : out;
}
}  // namespace

TEST(smtp_address, bracketed_paths_keep_the_local_part_and_lower_case_the_domain) {
    EXPECT_EQ(qualified("<User1@Example.TEST>"), "User1@example.test");
    EXPECT_EQ(qualified(" <a.b+c@x.y>"), "a.b+c@x.y");
    EXPECT_EQ(qualified("<\"john doe\"@x.y>"), "\"john doe\"@x.y");
    EXPECT_EQ(qualified("<>"), "<>");
    EXPECT_EQ(qualified("<u@[192.0.2.1]>"), "u@[192.0.2.1]");
}

TEST(smtp_address, the_lab_forms_are_qualified_with_the_primary_domain) {
    EXPECT_EQ(qualified("USER1"), "USER1@example.test");
    EXPECT_EQ(qualified("  user2"), "user2@example.test");
    EXPECT_EQ(qualified("user3@Relay.Test"), "user3@relay.test");
    EXPECT_EQ(qualified("<postmaster>"), "postmaster@example.test");
}

TEST(smtp_address, source_routes_are_accepted_and_ignored) {
    EXPECT_EQ(qualified("<@hosta.int,@jkl.org:userc@d.bar.org>"), "userc@d.bar.org");
    EXPECT_EQ(qualified("<@bad host:u@x>"), "(syntax)");
}

TEST(smtp_address, malformed_paths_are_refused) {
    for (std::string_view bad : {"", "<", "<a@b", "<a@>", "<@>", "<a b@c>", "a<b>", "<a@b>x", "<a@b c>",
                                 "<a@b_c>", "<\"open@x>", "<a\x01@b>"}) {
        SCOPED_TRACE(std::string(bad));
        EXPECT_EQ(qualified(bad), "(syntax)");
    }
    EXPECT_EQ(qualified("<" + std::string(65, 'a') + "@x>"), "(syntax)");
    EXPECT_EQ(qualified("<a@" + std::string(256, 'b') + ">"), "(syntax)");
}

TEST(smtp_address, parameters_follow_the_path) {
    path p;
    std::string_view params;
    ASSERT_TRUE(parse_path("<a@b>  SIZE=10 BODY=8BITMIME", p, params));
    EXPECT_EQ(params, "SIZE=10 BODY=8BITMIME");
    ASSERT_TRUE(parse_path("USER1 SIZE=10", p, params));
    EXPECT_EQ(p.local, "USER1");
    EXPECT_EQ(params, "SIZE=10");
}

TEST(smtp_address, non_ascii_paths_are_flagged) {
    path p;
    std::string_view params;
    ASSERT_TRUE(parse_path("<j\xc3\xb8rn@b\xc3\xa6r.test>", p, params));
    EXPECT_TRUE(p.non_ascii);
    ASSERT_TRUE(parse_path("<jorn@baer.test>", p, params));
    EXPECT_FALSE(p.non_ascii);
}

TEST(smtp_address, mail_parameters_are_parsed_case_insensitively) {
    mail_params m;
    auto e = parse_mail_params("size=1000 Body=BinaryMIME SMTPUTF8 RET=hdrs ENVID=QQ314159+2B1", m);
    EXPECT_EQ(e.reply, reply_id::none);
    EXPECT_EQ(m.size, 1000u);
    EXPECT_EQ(m.body, queue::body_type::binary_mime);
    EXPECT_TRUE(m.smtputf8);
    EXPECT_EQ(m.ret, queue::dsn_ret::headers);
    EXPECT_EQ(m.envid, "QQ314159+2B1");
}

TEST(smtp_address, unknown_mail_parameters_get_555_and_bad_values_501) {
    mail_params m;
    auto e = parse_mail_params("SIZE=1 AUTH=<>", m);
    EXPECT_EQ(e.reply, reply_id::unsupported_param);
    EXPECT_EQ(e.keyword, "AUTH");
    for (std::string_view bad : {"SIZE=", "SIZE=12x", "SIZE=1 SIZE=2", "BODY=9BIT", "RET=ALL", "ENVID=a=b",
                                 "ENVID=+zz", "SMTPUTF8=yes", "SIZE=123456789012345678901"}) {
        SCOPED_TRACE(std::string(bad));
        EXPECT_EQ(parse_mail_params(bad, m).reply, reply_id::bad_parameter);
    }
}

TEST(smtp_address, a_twenty_digit_size_saturates_instead_of_failing) {
    mail_params m;
    EXPECT_EQ(parse_mail_params("SIZE=99999999999999999999", m).reply, reply_id::none);
    EXPECT_EQ(m.size, UINT64_MAX);
}

TEST(smtp_address, rcpt_parameters_carry_notify_and_orcpt) {
    rcpt_params r;
    EXPECT_EQ(parse_rcpt_params("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user1+40example.test", r).reply,
              reply_id::none);
    EXPECT_EQ(r.notify, queue::notify_success | queue::notify_failure);
    EXPECT_EQ(r.orcpt, "rfc822;user1+40example.test");
    EXPECT_EQ(parse_rcpt_params("notify=never", r).reply, reply_id::none);
    EXPECT_EQ(r.notify, queue::notify_never);
    for (std::string_view bad : {"NOTIFY=NEVER,DELAY", "NOTIFY=", "NOTIFY=SOMETIMES", "NOTIFY=DELAY,",
                                 "ORCPT=rfc822", "ORCPT=;x", "ORCPT=rfc822;", "ORCPT=rfc 822;x"}) {
        SCOPED_TRACE(std::string(bad));
        EXPECT_EQ(parse_rcpt_params(bad, r).reply, reply_id::bad_parameter);
    }
    EXPECT_EQ(parse_rcpt_params("FOO=1", r).reply, reply_id::unsupported_param);
}
