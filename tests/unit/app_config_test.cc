#include "posthorn/app/config.hh"

#include <gtest/gtest.h>

using namespace posthorn::app;

TEST(app_config, the_embedded_demo_config_parses) {
    config c;
    std::string msg;
    ASSERT_TRUE(load_config("", c, msg)) << msg;
    EXPECT_EQ(c.hostname, "mx.example.test");
    ASSERT_EQ(c.listen_smtp.size(), 1u);
    EXPECT_EQ(c.listen_smtp[0], "127.0.0.1:2525");
    ASSERT_EQ(c.listen_metrics.size(), 1u);
    EXPECT_EQ(c.listen_metrics[0], "127.0.0.1:9025");
    ASSERT_EQ(c.listen_ldap.size(), 1u);
    EXPECT_EQ(c.listen_ldap[0], "127.0.0.1:3890");
    EXPECT_EQ(c.users.size(), 5u);
    EXPECT_EQ(c.local_domains.front(), "example.test");
    EXPECT_EQ(c.retry_ms.front(), 60'000u);
    EXPECT_EQ(c.lifetime_ms, 5ull * 86'400'000);
}

TEST(app_config, a_bad_value_names_its_key) {
    config c;
    std::string msg;
    EXPECT_FALSE(parse_config("[domains]\nlocal=[\"a.test\"]\n[server]\nio = \"kqueue\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("server.io"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config("[domains]\nlocal=[\"a.test\"]\n[server]\nlog_level = \"eror\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("server.log_level"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config("[domains]\nlocal=[\"a.test\"]\n[spool]\nzero_ahead_bytes = \"lots\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("spool.zero_ahead_bytes"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config("[server\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("t.toml:1"), std::string::npos) << msg;
}

TEST(app_config, the_ldap_section_parses_with_slapd_like_defaults_and_bad_values_name_their_key) {
    const std::string base = "[domains]\nlocal=[\"a.test\"]\n";
    config c;
    std::string msg;
    ASSERT_TRUE(parse_config(base, "t.toml", c, msg)) << msg;
    EXPECT_EQ(c.ldap_base, "");
    EXPECT_TRUE(c.ldap_anonymous);
    EXPECT_EQ(c.ldap_size_limit, 500u);
    EXPECT_EQ(c.ldap_time_limit_ms, 3'600'000u);
    ASSERT_TRUE(parse_config(base + "[ldap]\nbase = \"o=Example\"\nanonymous = false\nsize_limit = 20\n"
                                    "time_limit = \"30s\"\ntimeout = \"2m\"\n",
                             "t.toml", c, msg))
        << msg;
    EXPECT_EQ(c.ldap_base, "o=Example");
    EXPECT_FALSE(c.ldap_anonymous);
    EXPECT_EQ(c.ldap_size_limit, 20u);
    EXPECT_EQ(c.ldap_time_limit_ms, 30'000u);
    EXPECT_EQ(c.ldap_timeout_ms, 120'000u);
    EXPECT_FALSE(parse_config(base + "[ldap]\nanonymous = \"yes\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("ldap.anonymous"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[ldap]\nsize_limit = -1\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("ldap.size_limit"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[ldap]\ntimeout = \"10ms\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("ldap.timeout"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[ldap]\nbase = \"example.test\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("ldap.base"), std::string::npos) << msg;
}

TEST(app_config, dns_servers_and_the_mx_port_parse_and_bad_ones_name_their_key) {
    const std::string base = "[domains]\nlocal=[\"a.test\"]\n";
    config c;
    std::string msg;
    ASSERT_TRUE(parse_config(base, "t.toml", c, msg)) << msg;
    EXPECT_TRUE(c.dns_servers.empty());  // /etc/resolv.conf
    EXPECT_EQ(c.mx_port, 25);
    ASSERT_TRUE(parse_config(base + "[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\", \"10.0.0.1\"]\n"
                                    "timeout = \"2s\"\nattempts = 2\n[queue]\nmx_port = 2525\n",
                             "t.toml", c, msg))
        << msg;
    EXPECT_EQ(c.dns_servers, (std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "10.0.0.1"}));
    EXPECT_EQ(c.dns_timeout_ms, 2000u);
    EXPECT_EQ(c.dns_attempts, 2u);
    EXPECT_EQ(c.mx_port, 2525);
    config d;
    EXPECT_FALSE(parse_config(base + "[dns]\nservers = [\"ns.example.test:53\"]\n", "t.toml", d, msg));
    EXPECT_NE(msg.find("dns.servers"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[dns]\nservers = \"127.0.0.1\"\n", "t.toml", d, msg));
    EXPECT_NE(msg.find("dns.servers"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[queue]\nmx_port = 70000\n", "t.toml", d, msg));
    EXPECT_NE(msg.find("queue.mx_port"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[queue]\nmx_port = 0\n", "t.toml", d, msg));
    EXPECT_NE(msg.find("queue.mx_port"), std::string::npos) << msg;
}

TEST(app_config, durations_take_units) {
    uint64_t ms = 0;
    EXPECT_TRUE(parse_duration_ms("250ms", ms));
    EXPECT_EQ(ms, 250u);
    EXPECT_TRUE(parse_duration_ms("5m", ms));
    EXPECT_EQ(ms, 300'000u);
    EXPECT_TRUE(parse_duration_ms("2", ms));
    EXPECT_EQ(ms, 2'000u);
    EXPECT_FALSE(parse_duration_ms("5 weeks", ms));
}

TEST(app_config, trusted_networks_match_by_prefix) {
    cidr c;
    ASSERT_TRUE(parse_cidr("127.0.0.0/8", c));
    uint8_t inside[4] = {127, 1, 2, 3}, outside[4] = {128, 0, 0, 1};
    EXPECT_TRUE(c.contains(inside, false));
    EXPECT_FALSE(c.contains(outside, false));
    EXPECT_FALSE(parse_cidr("10.0.0.0/33", c));
    ASSERT_TRUE(parse_cidr("::1/128", c));
    uint8_t v6[16] = {};
    v6[15] = 1;
    EXPECT_TRUE(c.contains(v6, true));
}

TEST(app_config, groups_and_address_book_attributes_parse_and_unknown_members_are_refused) {
    const std::string base =
        "[domains]\nlocal=[\"a.test\"]\n"
        "[[users]]\nname=\"ann\"\npassword=\"{PLAIN}x\"\ngiven_name=\"Ann\"\nsurname=\"Lee\"\ntitle=\"Boss\"\n"
        "department=\"Ops\"\ntelephone=\"+1 555 0100\"\n"
        "[[users]]\nname=\"bob\"\npassword=\"{PLAIN}y\"\n";
    config c;
    std::string msg;
    ASSERT_TRUE(parse_config(base + "[[groups]]\nname=\"staff\"\ndescription=\"All\"\nmembers=[\"Ann\",\"bob\"]\n",
                             "t.toml", c, msg))
        << msg;
    ASSERT_EQ(c.users.size(), 2u);
    EXPECT_EQ(c.users[0].given_name, "Ann");
    EXPECT_EQ(c.users[0].surname, "Lee");
    EXPECT_EQ(c.users[0].title, "Boss");
    EXPECT_EQ(c.users[0].department, "Ops");
    EXPECT_EQ(c.users[0].telephone, "+1 555 0100");
    ASSERT_EQ(c.groups.size(), 1u);
    EXPECT_EQ(c.groups[0].description, "All");
    EXPECT_EQ(c.groups[0].members, (std::vector<std::string>{"Ann", "bob"}));

    EXPECT_FALSE(parse_config(base + "[[groups]]\nname=\"staff\"\nmembers=[\"carol\"]\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("groups.members"), std::string::npos) << msg;
    EXPECT_NE(msg.find("carol"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[[groups]]\nname=\"s\"\n[[groups]]\nname=\"S\"\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("groups.name"), std::string::npos) << msg;
    EXPECT_FALSE(parse_config(base + "[[groups]]\nmembers=[\"ann\"]\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("groups.name"), std::string::npos) << msg;
}

TEST(app_config, idle_poll_defaults_to_fifty_microseconds_and_is_bounded) {
    const std::string base = "[domains]\nlocal=[\"a.test\"]\n";
    config c;
    std::string msg;
    ASSERT_TRUE(parse_config(base, "t.toml", c, msg)) << msg;
    EXPECT_EQ(c.idle_poll_us, 50u);
    ASSERT_TRUE(parse_config(base + "[server]\nidle_poll_us = 0\n", "t.toml", c, msg)) << msg;
    EXPECT_EQ(c.idle_poll_us, 0u);
    EXPECT_FALSE(parse_config(base + "[server]\nidle_poll_us = 2000000\n", "t.toml", c, msg));
    EXPECT_NE(msg.find("server.idle_poll_us"), std::string::npos) << msg;
}
