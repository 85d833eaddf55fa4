// The DATA/BDAT body scanner alone: unstuffing in place, the end marker,
// bare CR/LF rules, size limit, BDAT counting, at every cut of the input.
#include "proto/smtp/data_scanner.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace posthorn;
using namespace posthorn::proto::smtp;
using proto::smtp::testing::make_slice;

namespace {

struct run_result {
    std::string content;
    size_t consumed = 0;
    bool done = false;
    data_scanner::failure failed = data_scanner::failure::none;
    size_t pieces = 0;
};

// Feeds `input` to a DATA scanner cut into `piece`-byte receives.
run_result scan_dot(std::string_view input, size_t piece, newline_rule rule = newline_rule::reject,
                    uint64_t max = 1 << 20) {
    core::chunk_pool pool(4096, 4096);
    data_scanner s;
    s.start_dot(rule, max);
    std::vector<core::slice> out;
    run_result r;
    while (r.consumed < input.size() && !s.done()) {
        size_t n = std::min(piece, input.size() - r.consumed);
        core::slice in = make_slice(pool, input.substr(r.consumed, n));
        size_t used = 0;
        while (used < n && !s.done()) used += s.scan(in.suffix_from(static_cast<uint32_t>(used)), out, SIZE_MAX);
        r.consumed += used;
    }
    for (const auto& sl : out) r.content.append(sl.view());
    r.done = s.done();
    r.failed = s.failed();
    r.pieces = out.size();
    return r;
}

// A BDAT message: each chunk scanned in `piece`-byte receives.
run_result scan_counted(const std::vector<std::string>& chunks, size_t piece, newline_rule rule,
                        uint64_t max = 1 << 20) {
    core::chunk_pool pool(4096, 4096);
    data_scanner s;
    s.start_counted(rule, max);
    std::vector<core::slice> out;
    run_result r;
    for (const auto& c : chunks) {
        s.next_chunk(c.size());
        size_t at = 0;
        while (at < c.size()) {
            size_t n = std::min(piece, c.size() - at);
            core::slice in = make_slice(pool, std::string_view(c).substr(at, n));
            at += s.scan(in, out, SIZE_MAX);
        }
        EXPECT_TRUE(s.done());
        r.consumed += at;
    }
    s.finish_counted(out);
    for (const auto& sl : out) r.content.append(sl.view());
    r.failed = s.failed();
    return r;
}

const size_t k_cuts[] = {1, 2, 3, 5, 10, 100, 1 << 20};

}  // namespace

TEST(smtp_data_scanner, leading_dots_are_removed_and_the_body_ends_at_crlf_dot_crlf) {
    std::string in = "..hidden\r\n.x\r\n...\r\nplain\r\n\r\n.\r\nQUIT\r\n";
    for (size_t cut : k_cuts) {
        auto r = scan_dot(in, cut);
        SCOPED_TRACE(cut);
        EXPECT_TRUE(r.done);
        EXPECT_EQ(r.content, ".hidden\r\nx\r\n..\r\nplain\r\n\r\n");
        EXPECT_EQ(r.consumed, in.size() - 6);  // QUIT is left for the session
        EXPECT_EQ(r.failed, data_scanner::failure::none);
    }
}

TEST(smtp_data_scanner, an_empty_body_is_just_the_end_marker) {
    auto r = scan_dot(".\r\n", 1 << 20);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.content, "");
    EXPECT_EQ(r.consumed, 3u);
}

TEST(smtp_data_scanner, content_is_compacted_in_place_in_one_piece_per_receive) {
    core::chunk_pool pool(4096, 4);
    data_scanner s;
    s.start_dot(newline_rule::reject, 1 << 20);
    std::vector<core::slice> out;
    core::slice in = make_slice(pool, "a\r\n..b\r\n..c\r\nd\r\n.\r\n");
    EXPECT_EQ(s.scan(in, out, SIZE_MAX), in.length);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].owner.get(), in.owner.get());
    EXPECT_EQ(out[0].offset, in.offset);
    EXPECT_EQ(out[0].view(), "a\r\n.b\r\n.c\r\nd\r\n");
}

TEST(smtp_data_scanner, smuggling_endings_never_end_the_body) {
    const std::string endings[] = {
        "\n.\n", "\r.\r", "\r.\n", "\n.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r",
        std::string("\r\n\0.\r\n", 6), std::string("\n\0.\r\n", 5), std::string("\r\n.\0\r\n", 6),
    };
    for (const auto& e : endings) {
        std::string in = "body" + e + "MAIL FROM:<x@y>\r\n";
        for (size_t cut : k_cuts) {
            SCOPED_TRACE(::testing::PrintToString(e) + " cut " + std::to_string(cut));
            for (auto rule : {newline_rule::reject, newline_rule::normalize}) {
                auto r = scan_dot(in, cut, rule);
                EXPECT_FALSE(r.done);
                EXPECT_EQ(r.consumed, in.size());
            }
        }
    }
}

TEST(smtp_data_scanner, bare_newlines_are_rejected_but_the_end_is_still_found) {
    for (std::string bad : {"a\nb", "a\rb", "a\r", ".\n", ".\rx"}) {
        std::string in = "x\r\n" + bad + "\r\nmore\r\n.\r\nNEXT";
        for (size_t cut : k_cuts) {
            SCOPED_TRACE(::testing::PrintToString(bad) + " cut " + std::to_string(cut));
            auto r = scan_dot(in, cut, newline_rule::reject);
            EXPECT_TRUE(r.done);
            EXPECT_EQ(r.failed, data_scanner::failure::bare_newline);
            EXPECT_EQ(r.consumed, in.size() - 4);
        }
    }
}

TEST(smtp_data_scanner, normalize_turns_bare_cr_and_lf_into_crlf) {
    std::string in = "a\nb\rc\r\r\n\n.\n..d\r\n.\re\r\n.\r\n";
    for (size_t cut : k_cuts) {
        SCOPED_TRACE(cut);
        auto r = scan_dot(in, cut, newline_rule::normalize);
        EXPECT_TRUE(r.done);
        EXPECT_EQ(r.failed, data_scanner::failure::none);
        // A bare newline starts no line: ".." after it keeps both dots.
        EXPECT_EQ(r.content, "a\r\nb\r\nc\r\n\r\n\r\n.\r\n..d\r\n.\r\ne\r\n");
    }
}

TEST(smtp_data_scanner, content_over_the_limit_fails_but_the_end_is_still_found) {
    std::string ok = "0123456\r\n.\r\n";   // 9 content bytes
    std::string big = "01234567\r\n.\r\n"; // 10
    for (size_t cut : k_cuts) {
        SCOPED_TRACE(cut);
        auto a = scan_dot(ok, cut, newline_rule::reject, 9);
        EXPECT_EQ(a.failed, data_scanner::failure::none);
        EXPECT_EQ(a.content, "0123456\r\n");
        auto b = scan_dot(big, cut, newline_rule::reject, 9);
        EXPECT_TRUE(b.done);
        EXPECT_EQ(b.failed, data_scanner::failure::too_big);
        EXPECT_EQ(b.consumed, big.size());
    }
}

TEST(smtp_data_scanner, bdat_counts_octets_and_carries_cr_across_chunks) {
    for (size_t cut : k_cuts) {
        SCOPED_TRACE(cut);
        auto r = scan_counted({"hello\r", "\nworld.\r\n", ".\r\n"}, cut, newline_rule::reject);
        EXPECT_EQ(r.failed, data_scanner::failure::none);
        EXPECT_EQ(r.content, "hello\r\nworld.\r\n.\r\n");  // no unstuffing, no end marker
        auto bare = scan_counted({"a\r", "b"}, cut, newline_rule::reject);
        EXPECT_EQ(bare.failed, data_scanner::failure::bare_newline);
        auto tail = scan_counted({"a\r\n", "b\r"}, cut, newline_rule::normalize);
        EXPECT_EQ(tail.content, "a\r\nb\r\n");
        auto lf = scan_counted({"a\nb\n"}, cut, newline_rule::normalize);
        EXPECT_EQ(lf.content, "a\r\nb\r\n");
        auto bin = scan_counted({std::string("\0\n\r\r", 4), "x"}, cut, newline_rule::keep);
        EXPECT_EQ(bin.content, std::string("\0\n\r\rx", 5));
        EXPECT_EQ(bin.failed, data_scanner::failure::none);
    }
}

TEST(smtp_data_scanner, bdat_stops_at_the_end_of_its_chunk) {
    core::chunk_pool pool(4096, 4);
    data_scanner s;
    s.start_counted(newline_rule::reject, 1000);
    s.next_chunk(4);
    std::vector<core::slice> out;
    core::slice in = make_slice(pool, "abcdBDAT 1 LAST\r\n");
    EXPECT_EQ(s.scan(in, out, SIZE_MAX), 4u);
    EXPECT_TRUE(s.done());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].view(), "abcd");
}

TEST(smtp_data_scanner, a_full_piece_vector_stops_the_scan_for_a_spill) {
    core::chunk_pool pool(4096, 4);
    data_scanner s;
    s.start_dot(newline_rule::normalize, 1 << 20);
    std::vector<core::slice> out;
    std::string body(100, '\n');
    body += "\r\n.\r\n";
    core::slice in = make_slice(pool, body);
    size_t used = s.scan(in, out, 8);
    EXPECT_LT(used, in.length);
    EXPECT_LE(out.size(), 10u);
    std::string content;
    for (auto& p : out) content.append(p.view());
    out.clear();
    while (!s.done()) {
        used += s.scan(in.suffix_from(static_cast<uint32_t>(used)), out, 8);
        for (auto& p : out) content.append(p.view());
        out.clear();
    }
    EXPECT_EQ(used, in.length);
    std::string expect;
    for (int i = 0; i < 100; ++i) expect += "\r\n";
    EXPECT_EQ(content, expect + "\r\n");
}

TEST(smtp_data_scanner, every_call_consumes_a_byte_even_when_out_is_full) {
    core::chunk_pool pool(4096, 4);
    data_scanner s;
    s.start_counted(newline_rule::normalize, 1000);
    s.next_chunk(3);
    std::vector<core::slice> out;
    EXPECT_EQ(s.scan(make_slice(pool, "a\r"), out, 1), 2u);
    out.clear();
    // The bare CR's "\n" fills `out`; the scan still takes the "4".
    EXPECT_EQ(s.scan(make_slice(pool, "4"), out, 1), 1u);
    EXPECT_TRUE(s.done());
}

TEST(smtp_data_scanner, size_and_bare_newline_failures_come_in_byte_order_at_every_cut) {
    for (size_t cut : k_cuts) {
        SCOPED_TRACE(cut);
        EXPECT_EQ(scan_dot(std::string(20, 'x') + "\n\r\n.\r\n", cut, newline_rule::reject, 10).failed,
                  data_scanner::failure::too_big);
        EXPECT_EQ(scan_dot("x\n" + std::string(20, 'x') + "\r\n.\r\n", cut, newline_rule::reject, 10).failed,
                  data_scanner::failure::bare_newline);
        EXPECT_EQ(scan_counted({std::string(20, 'x') + "\r\r"}, cut, newline_rule::reject, 10).failed,
                  data_scanner::failure::too_big);
    }
}
