#include "posthorn/net/address.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <unistd.h>

using namespace posthorn;

TEST(net_address, ipv4_with_port_parses_and_prints_back) {
    auto ep = net::parse_endpoint("127.0.0.1:2525");
    ASSERT_TRUE(ep.ok());
    EXPECT_EQ(ep->family(), AF_INET);
    EXPECT_EQ(ep->port(), 2525);
    EXPECT_EQ(ep->text(), "127.0.0.1:2525");
}

TEST(net_address, bracketed_ipv6_parses_and_prints_with_brackets) {
    auto ep = net::parse_endpoint("[::1]:25");
    ASSERT_TRUE(ep.ok());
    EXPECT_EQ(ep->family(), AF_INET6);
    EXPECT_EQ(ep->port(), 25);
    EXPECT_EQ(ep->text(), "[::1]:25");
}

TEST(net_address, a_star_means_every_ipv4_address) {
    auto ep = net::parse_endpoint("*:143");
    ASSERT_TRUE(ep.ok());
    EXPECT_EQ(ep->text(), "0.0.0.0:143");
}

TEST(net_address, malformed_addresses_are_rejected_with_a_reason) {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:2x", "::1:25",
                            "[::1]25", "[::1", "mail.example.test:25", "[127.0.0.1]:25", "1.2.3.4.5:25"}) {
        auto ep = net::parse_endpoint(bad);
        EXPECT_FALSE(ep.ok()) << bad;
        if (!ep.ok()) {
            EXPECT_EQ(ep.err().code, EINVAL) << bad;
        }
    }
}

TEST(net_address, an_ipv4_mapped_peer_prints_as_ipv4_and_keys_like_ipv4) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    ASSERT_EQ(::inet_pton(AF_INET6, "::ffff:192.0.2.7", &v6.sin6_addr), 1);
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    ASSERT_EQ(::inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr), 1);
    char text[net::ip_text_max];
    size_t n = net::format_ip(reinterpret_cast<sockaddr*>(&v6), text);
    EXPECT_EQ(std::string(text, n), "192.0.2.7");
    EXPECT_EQ(net::key_of(reinterpret_cast<sockaddr*>(&v6)), net::key_of(reinterpret_cast<sockaddr*>(&v4)));
}

TEST(net_address, two_sockets_bind_the_same_port_with_reuseport) {
    auto ep = net::parse_endpoint("127.0.0.1:0");
    ASSERT_TRUE(ep.ok());
    auto a = net::bind_socket(*ep, net::transport::tcp);
    ASSERT_TRUE(a.ok()) << a.err().what;
    auto local = net::local_endpoint(*a);
    ASSERT_TRUE(local.ok());
    EXPECT_NE(local->port(), 0);
    auto b = net::bind_socket(*local, net::transport::tcp);
    ASSERT_TRUE(b.ok()) << b.err().what;
    auto u = net::bind_socket(*local, net::transport::udp);
    EXPECT_TRUE(u.ok());
    ::close(*a);
    ::close(*b);
    if (u.ok()) ::close(*u);
}
