#include "posthorn/queue.hh"

#include <gtest/gtest.h>

using namespace posthorn;

TEST(queue_envelope, encode_then_decode_gives_the_same_envelope) {
    queue::envelope e;
    e.mail_from = "user1@example.test";
    e.rcpts.push_back({"user2@example.test", "rfc822;user2@example.test", queue::notify_failure});
    e.rcpts.push_back({"x@relay.test", "", 0});
    e.helo = "client.test";
    e.client_address = "127.0.0.1";
    e.declared_size = 1234;
    e.body = queue::body_type::eight_bit_mime;
    e.smtputf8 = true;
    e.ret = queue::dsn_ret::headers;
    e.envid = "abc";
    e.received_unix_ms = 1700000000123;
    std::string bytes;
    queue::encode(e, bytes);
    auto d = queue::decode(bytes);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->mail_from, e.mail_from);
    ASSERT_EQ(d->rcpts.size(), 2u);
    EXPECT_EQ(d->rcpts[0].orcpt, "rfc822;user2@example.test");
    EXPECT_EQ(d->rcpts[0].notify, queue::notify_failure);
    EXPECT_EQ(d->rcpts[1].address, "x@relay.test");
    EXPECT_EQ(d->helo, "client.test");
    EXPECT_EQ(d->declared_size, 1234u);
    EXPECT_EQ(d->body, queue::body_type::eight_bit_mime);
    EXPECT_TRUE(d->smtputf8);
    EXPECT_EQ(d->ret, queue::dsn_ret::headers);
    EXPECT_EQ(d->envid, "abc");
    EXPECT_EQ(d->received_unix_ms, 1700000000123);
}

TEST(queue_envelope, a_truncated_or_padded_encoding_is_corrupt) {
    queue::envelope e;
    e.mail_from = "a@b";
    e.rcpts.push_back({"c@d", "", 0});
    std::string bytes;
    queue::encode(e, bytes);
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(queue::decode(std::string_view(bytes).substr(0, n)).ok()) << n;
    EXPECT_FALSE(queue::decode(bytes + "x").ok());
}

TEST(queue_envelope, queue_ids_print_as_sixteen_hex_digits) {
    EXPECT_EQ(queue::format_queue_id(0x01000000000000ABull), "01000000000000AB");
}
