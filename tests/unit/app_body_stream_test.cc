// body_stream: a message's content read back from a real spool a window at a
// time and dot-stuffed, byte-exact against a one-shot reference, for every
// window size from 1 byte up: dots at window boundaries (first byte of a
// window, right after a CRLF that ended the previous one), across fragment
// boundaries, and the terminator for content ending in CRLF, CR, neither,
// or empty. A read past what the spool holds is an error, not a cut message.
#include "app/body_stream.hh"

#include <gtest/gtest.h>

#include "temp_spool.hh"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace posthorn;

namespace {

struct temp_spool : test::temp_spool {
    temp_spool() : test::temp_spool(spool::durability::none) {}

    // Stores content as header (inline) + fragments (body records) + tail,
    // cut at the given points, the way the receiving side does.
    spool::recovered_message store(uint64_t id, const std::string& content, std::vector<size_t> cuts) {
        cuts.insert(cuts.begin(), 0);
        cuts.push_back(content.size());
        std::vector<spool::location> frags;
        auto piece = [&](size_t i) {
            return iovec{const_cast<char*>(content.data() + cuts[i]), cuts[i + 1] - cuts[i]};
        };
        for (size_t i = 1; i + 2 < cuts.size(); ++i) {
            iovec v = piece(i);
            auto a = spool->append_body(id, {&v, 1});
            EXPECT_TRUE(a.ok());
            if (a.ok()) frags.push_back(a->payload);
        }
        iovec head = piece(0);
        iovec tail = piece(cuts.size() - 2);
        spool::message_parts parts;
        parts.envelope = "env";
        parts.header = {&head, head.iov_len ? 1u : 0u};
        parts.fragments = frags;
        parts.tail = {&tail, cuts.size() > 2 && tail.iov_len ? 1u : 0u};
        spool::recovered_message m;
        auto r = spool->append_message(id, parts, &m);
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(m.content_bytes, content.size());
        return m;
    }
};

// RFC 5321 §4.5.2, byte by byte: the reference the windows must match.
std::string reference(const std::string& content) {
    std::string out;
    bool line_start = true;
    for (char c : content) {
        if (line_start && c == '.') out.push_back('.');
        out.push_back(c);
        line_start = c == '\n';
    }
    if (content.empty() || content.ends_with("\r\n"))
        out += ".\r\n";
    else if (content.ends_with('\r'))
        out += "\n.\r\n";
    else
        out += "\r\n.\r\n";
    return out;
}

// Streams m with a window of `window` bytes; fills counts the calls.
std::string stream(const spool::shard_spool& sp, const spool::recovered_message& m, size_t window, int* fills = nullptr) {
    app::body_stream b;
    std::vector<char> scratch(window);
    std::string out;
    b.start();
    int n = 0;
    for (;;) {
        auto r = b.fill(sp, m, scratch, out);
        EXPECT_TRUE(r.ok());
        ++n;
        if (!r.ok() || *r || n > 1'000'000) break;
        EXPECT_TRUE(b.active());
    }
    EXPECT_FALSE(b.active());
    if (fills) *fills = n;
    return out;
}

}  // namespace

TEST(app_body_stream, every_window_size_stuffs_like_one_pass_across_window_and_fragment_boundaries) {
    temp_spool t;
    ASSERT_TRUE(t.spool);
    const std::string content =
        "Received: x\r\n.hdr\r\n\r\n.\r\n..\r\n.a.b\r\nx.\r\n.\r\n\r\n.end\r\nno dot\r\n.\r\n.last";
    auto m = t.store(1, content, {5, 13, 14, 20, 21, 33});
    const std::string want = reference(content);
    for (size_t window = 1; window <= content.size() + 1; ++window)
        EXPECT_EQ(stream(*t.spool, m, window), want) << "window " << window;
}

TEST(app_body_stream, a_dot_exactly_at_a_window_start_after_a_crlf_is_doubled_and_a_mid_line_one_is_not) {
    temp_spool t;
    ASSERT_TRUE(t.spool);
    // Windows of 8: ".x" starts window 2 after a CRLF; "y.z" has its dot
    // at the start of window 3, mid-line.
    const std::string content = "abcdef\r\n.xyz\r\ny" ".z\r\n";
    auto m = t.store(2, content, {});
    int fills = 0;
    EXPECT_EQ(stream(*t.spool, m, 8, &fills), "abcdef\r\n..xyz\r\ny.z\r\n.\r\n");
    EXPECT_EQ(fills, 3);
}

TEST(app_body_stream, the_terminator_follows_crlf_cr_or_neither_and_an_empty_body_is_just_the_dot) {
    temp_spool t;
    ASSERT_TRUE(t.spool);
    uint64_t id = 10;
    for (std::string content : {"a\r\n", "a\r", "a", "", ".", "\r\n"}) {
        auto m = t.store(id++, content, {});
        for (size_t window : {1, 2, 4096}) EXPECT_EQ(stream(*t.spool, m, window), reference(content)) << content;
    }
}

TEST(app_body_stream, a_big_content_goes_in_bounded_windows) {
    temp_spool t;
    ASSERT_TRUE(t.spool);
    std::string content;
    for (int i = 0; content.size() < 3 * 1024 * 1024; ++i) {
        if (i % 7 == 0) content.push_back('.');
        content.append(40 + i % 90, static_cast<char>('a' + i % 26));
        content.append("\r\n");
    }
    std::vector<size_t> cuts;
    for (size_t at = 100000; at < content.size(); at += 250000) cuts.push_back(at);
    auto m = t.store(3, content, cuts);
    app::body_stream b;
    std::vector<char> scratch(app::body_stream::window_bytes);
    std::string all, out;
    b.start();
    for (;;) {
        out.clear();
        auto r = b.fill(*t.spool, m, scratch, out);
        ASSERT_TRUE(r.ok());
        EXPECT_LE(out.size(), 2 * scratch.size() + 5);
        all += out;
        if (*r) break;
    }
    EXPECT_TRUE(all == reference(content));
}

TEST(app_body_stream, content_the_spool_does_not_hold_is_an_error) {
    temp_spool t;
    ASSERT_TRUE(t.spool);
    auto m = t.store(4, "hello\r\n", {});
    m.content_bytes += 10;  // claims more than its pieces hold
    app::body_stream b;
    std::vector<char> scratch(4096);
    std::string out;
    b.start();
    auto r = b.fill(*t.spool, m, scratch, out);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(b.active());
}
