// Record codec: header round trip, every damaged header bit caught, the
// trailing hash over header + payload, strict payload decoders.
#include "spool/codec.hh"

#include <gtest/gtest.h>

#include <string>

using namespace posthorn;
using namespace posthorn::spool;

namespace {
// A whole record as the writer lays it out.
std::string make_record(record_type t, uint64_t id, std::string_view payload) {
    std::string r(record_bytes(static_cast<uint32_t>(payload.size())), '\0');
    encode_header(record_header{t, 0, static_cast<uint32_t>(payload.size()), id}, r.data());
    std::memcpy(r.data() + header_bytes, payload.data(), payload.size());
    hasher h;
    h.reset();
    h.update(r.data(), header_bytes);
    h.update(payload.data(), payload.size());
    put_u64(r.data() + r.size() - hash_bytes, h.digest());
    return r;
}
}  // namespace

TEST(spool_codec, a_header_round_trips) {
    char b[header_bytes];
    encode_header(record_header{record_type::rcpt_done, 0, 12345, 0x0102030405060708ull}, b);
    record_header h;
    const char* why = "";
    ASSERT_TRUE(decode_header(b, h, &why)) << why;
    EXPECT_EQ(h.type, record_type::rcpt_done);
    EXPECT_EQ(h.payload_bytes, 12345u);
    EXPECT_EQ(h.id, 0x0102030405060708ull);
}

TEST(spool_codec, every_single_bit_flip_in_a_header_is_caught) {
    char b[header_bytes];
    encode_header(record_header{record_type::message, 0, 777, 42}, b);
    for (size_t bit = 0; bit < header_bytes * 8; ++bit) {
        char c[header_bytes];
        std::memcpy(c, b, sizeof c);
        c[bit / 8] = static_cast<char>(c[bit / 8] ^ (1 << (bit % 8)));
        record_header h;
        const char* why = "";
        EXPECT_FALSE(decode_header(c, h, &why)) << "bit " << bit;
    }
}

TEST(spool_codec, records_are_eight_byte_aligned) {
    for (uint32_t n = 0; n < 40; ++n) {
        EXPECT_EQ(record_bytes(n) % 8, 0u);
        EXPECT_GE(record_bytes(n), header_bytes + n + hash_bytes);
        EXPECT_LT(record_bytes(n), header_bytes + n + hash_bytes + 8);
    }
}

TEST(spool_codec, the_hash_covers_header_and_payload_and_padding_must_be_zero) {
    std::string r = make_record(record_type::body, 9, "hello, spool");
    EXPECT_TRUE(verify_record(r.data(), 12));
    for (size_t i = 0; i < r.size(); ++i) {
        std::string c = r;
        c[i] = static_cast<char>(c[i] ^ 0x10);
        EXPECT_FALSE(verify_record(c.data(), 12)) << "byte " << i;
    }
}

TEST(spool_codec, a_message_payload_decodes_into_its_parts) {
    std::string env = "ENV";
    location frags[2] = {{3, 100, 50}, {4, 24, 7}};
    std::string head = "Received: x\r\n", tail = "body\r\n";
    std::string p(message_prefix_bytes, '\0');
    encode_message_prefix(message_prefix{3, 2, static_cast<uint32_t>(head.size()), static_cast<uint32_t>(tail.size())},
                          p.data());
    p += env;
    for (auto& f : frags) {
        char b[fragment_ref_bytes];
        encode_fragment_ref(f, b);
        p.append(b, sizeof b);
    }
    p += head;
    p += tail;
    message_view v;
    const char* why = "";
    ASSERT_TRUE(decode_message(p, v, &why)) << why;
    EXPECT_EQ(v.envelope, "ENV");
    ASSERT_EQ(v.fragments.size(), 2u);
    EXPECT_EQ(v.fragments[0], frags[0]);
    EXPECT_EQ(v.fragments[1], frags[1]);
    EXPECT_EQ(p.substr(v.header_offset, v.header_bytes), head);
    EXPECT_EQ(p.substr(v.tail_offset, v.tail_bytes), tail);

    EXPECT_FALSE(decode_message(p + "x", v, &why));
    EXPECT_FALSE(decode_message(p.substr(0, p.size() - 1), v, &why));
    EXPECT_FALSE(decode_message(p.substr(0, 10), v, &why));
}

TEST(spool_codec, rcpt_done_payloads_are_strict) {
    char b[rcpt_done_bytes];
    encode_rcpt_done(7, rcpt_status::bounced, b);
    uint32_t index = 0;
    rcpt_status s{};
    ASSERT_TRUE(decode_rcpt_done({b, sizeof b}, index, s));
    EXPECT_EQ(index, 7u);
    EXPECT_EQ(s, rcpt_status::bounced);
    b[4] = 9;
    EXPECT_FALSE(decode_rcpt_done({b, sizeof b}, index, s));
    encode_rcpt_done(7, rcpt_status::delivered, b);
    b[6] = 1;
    EXPECT_FALSE(decode_rcpt_done({b, sizeof b}, index, s));
    EXPECT_FALSE(decode_rcpt_done({b, 4}, index, s));
}
