// The BER codec's strictness (lengths, tags, integers) and the writer's
// minimal lengths; DN parsing and normalization (RFC 4514).
#include "proto/ldap/ber.hh"
#include "proto/ldap/dn.hh"

#include <gtest/gtest.h>

using namespace posthorn::proto::ldap;

TEST(ldap_ber, an_indefinite_length_is_refused) {
    auto h = ber::read_header(std::string_view("\x30\x80", 2));
    EXPECT_EQ(h.status, ber::header_status::bad);
    EXPECT_STREQ(h.reason, "indefinite_length");
}

TEST(ldap_ber, a_length_of_more_than_four_bytes_is_refused) {
    auto h = ber::read_header(std::string_view("\x30\x85\x00\x00\x00\x00\x01", 7));
    EXPECT_EQ(h.status, ber::header_status::bad);
    EXPECT_STREQ(h.reason, "length_too_long");
}

TEST(ldap_ber, a_long_form_with_leading_zeros_is_accepted_as_liblber_sends_it) {
    auto h = ber::read_header(std::string_view("\x30\x84\x00\x00\x00\x05", 6));
    EXPECT_EQ(h.status, ber::header_status::ok);
    EXPECT_EQ(h.header_bytes, 6u);
    EXPECT_EQ(h.content_bytes, 5u);
}

TEST(ldap_ber, a_1_gib_length_is_read_from_the_header_without_the_content) {
    auto h = ber::read_header(std::string_view("\x30\x84\x40\x00\x00\x00", 6));
    EXPECT_EQ(h.status, ber::header_status::ok);
    EXPECT_EQ(h.content_bytes, 1ull << 30);
    EXPECT_EQ(ber::read_header(std::string_view("\x30\x84\x40", 3)).status, ber::header_status::need_more);
}

TEST(ldap_ber, a_multi_byte_tag_is_refused) {
    EXPECT_EQ(ber::read_header(std::string_view("\x1f\x81\x01", 3)).status, ber::header_status::bad);
}

TEST(ldap_ber, an_element_longer_than_its_parent_is_refused) {
    ber::reader r(std::string_view("\x04\x05" "abc", 5));
    std::string_view c;
    EXPECT_FALSE(r.element(ber::t_octets, c));
    EXPECT_STREQ(r.reason(), "length_past_parent");
}

TEST(ldap_ber, integers_must_be_non_negative_and_fit_31_bits) {
    int64_t v = 0;
    ber::reader neg(std::string_view("\x02\x01\xff", 3));
    EXPECT_FALSE(neg.integer(ber::t_integer, v));
    ber::reader big(std::string_view("\x02\x05\x01\x00\x00\x00\x00", 7));
    EXPECT_FALSE(big.integer(ber::t_integer, v));
    ber::reader empty(std::string_view("\x02\x00", 2));
    EXPECT_FALSE(empty.integer(ber::t_integer, v));
    ber::reader ok(std::string_view("\x02\x04\x7f\xff\xff\xff", 6));
    ASSERT_TRUE(ok.integer(ber::t_integer, v));
    EXPECT_EQ(v, 2147483647);
    ber::reader bad_bool(std::string_view("\x01\x02\x00\x00", 4));
    bool b = false;
    EXPECT_FALSE(bad_bool.boolean(ber::t_boolean, b));
}

TEST(ldap_ber, the_writer_patches_minimal_lengths_and_the_reader_reads_them_back) {
    for (size_t n : {0, 1, 127, 128, 255, 256, 65535, 65536, 70000}) {
        std::string out;
        ber::writer w(out);
        size_t mark = w.begin(ber::t_sequence);
        w.octets(ber::t_octets, std::string(n, 'x'));
        w.end(mark);
        const size_t inner = ber::header_bytes(n) + n;
        EXPECT_EQ(out.size(), ber::header_bytes(inner) + inner) << n;
        ber::reader r(out), seq(std::string_view{});
        std::string_view c;
        ASSERT_TRUE(r.enter(ber::t_sequence, seq)) << n;
        ASSERT_TRUE(seq.element(ber::t_octets, c)) << n;
        EXPECT_EQ(c.size(), n);
        EXPECT_TRUE(r.empty() && seq.empty());
    }
    for (int64_t v : {0, 1, 127, 128, 255, 256, 32767, 32768, 2147483647}) {
        std::string out;
        ber::writer(out).integer(ber::t_integer, v);
        EXPECT_EQ(out.size(), ber::integer_bytes(v));
        ber::reader r(out);
        int64_t back = -1;
        ASSERT_TRUE(r.integer(ber::t_integer, back));
        EXPECT_EQ(back, v);
    }
}

TEST(ldap_dn, types_and_values_compare_without_case_or_extra_spaces) {
    EXPECT_EQ(normalize_dn("UID=User1 , OU=People,  dc=Example,DC=test"), "uid=user1,ou=people,dc=example,dc=test");
    EXPECT_EQ(normalize_dn("commonName=Jane   Doe,o=X"), "cn=jane doe,o=x");
    EXPECT_EQ(normalize_dn("2.5.4.3=Jane,o=X"), "cn=jane,o=x");
    EXPECT_EQ(normalize_dn("oid.2.5.4.3=Jane,o=X"), "cn=jane,o=x");
    EXPECT_EQ(normalize_dn(""), "");
    EXPECT_EQ(normalize_dn("cn=a;o=b"), "cn=a,o=b");
}

TEST(ldap_dn, escapes_and_hex_values_are_decoded) {
    auto d = parse_dn("cn=Smith\\, John+uid=js,o=a\\2Cb,ou=\\23x,cn=#04024869");
    ASSERT_TRUE(d);
    ASSERT_EQ(d->size(), 4u);
    ASSERT_EQ((*d)[0].size(), 2u);
    EXPECT_EQ((*d)[0][0].value, "Smith, John");
    EXPECT_EQ((*d)[0][1].type, "uid");
    EXPECT_EQ((*d)[1][0].value, "a,b");
    EXPECT_EQ((*d)[2][0].value, "#x");
    EXPECT_EQ((*d)[3][0].value, "Hi");
    EXPECT_EQ(normalize_dn("uid=js+cn=Smith\\, John,o=X"), "cn=smith\\, john+uid=js,o=x");   // sorted RDN
    EXPECT_EQ(normalize_dn("cn=a\\ ,o=x"), "cn=a,o=x");
}

TEST(ldap_dn, strings_that_are_no_dn_are_refused) {
    for (std::string_view bad : {"cn", "=x", "cn=a,", "cn=a\\", "cn=a\\zz", "1.=x", "cn=\"quoted\"", "cn=a,,o=b", "c n=x"})
        EXPECT_FALSE(parse_dn(bad)) << bad;
}
