// The IMAP session's parts on their own: command framing (reader), the
// argument cursor, sequence sets, dates, LIST pattern matching.
#include "proto/imap/cursor.hh"
#include "proto/imap/dates.hh"
#include "proto/imap/mailbox_names.hh"
#include "proto/imap/reader.hh"
#include "proto/imap/seqset.hh"

#include <gtest/gtest.h>

using namespace posthorn::proto::imap;

TEST(imap_reader, frames_lines_and_literals_at_any_cut) {
    const std::string in = "a LOGIN {3}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n";
    for (size_t cut = 1; cut <= in.size(); ++cut) {
        command_reader r(1024);
        std::vector<std::string> cmds;
        for (size_t at = 0; at < in.size(); at += cut) {
            std::string_view piece = std::string_view(in).substr(at, cut);
            size_t pos = 0;
            for (;;) {
                auto ev = r.next(piece, pos);
                if (ev == command_reader::event::more) break;
                if (ev == command_reader::event::literal) r.take_literal();
                if (ev == command_reader::event::command) cmds.emplace_back(r.text());
            }
        }
        ASSERT_EQ(cmds.size(), 2u) << cut;
        EXPECT_EQ(cmds[0], "a LOGIN {3}\r\nabc {2+}\r\nxy");
        EXPECT_EQ(cmds[1], "b NOOP");
    }
}

TEST(imap_reader, a_literal_ending_in_cr_keeps_it) {
    command_reader r(1024);
    std::string in = "a X {2+}\r\nx\r\n";
    size_t pos = 0;
    ASSERT_EQ(r.next(in, pos), command_reader::event::literal);
    r.take_literal();
    ASSERT_EQ(r.next(in, pos), command_reader::event::command);
    EXPECT_EQ(r.text(), "a X {2+}\r\nx\r");
}

TEST(imap_cursor, strings_atoms_literals) {
    std::deque<std::string> arena;
    std::string t = "\"a \\\"q\\\" b\" atom {3}\r\nx y NIL";
    cursor c(t, arena);
    EXPECT_EQ(c.astring(), "a \"q\" b");
    EXPECT_TRUE(c.sp());
    EXPECT_EQ(c.astring(), "atom");
    EXPECT_TRUE(c.sp());
    EXPECT_EQ(c.astring(), "x y");
    EXPECT_TRUE(c.sp());
    EXPECT_TRUE(c.skip_word("nil"));
    EXPECT_TRUE(c.at_end());
}

TEST(imap_seqset, parse_contains_resolve_write) {
    seqset s;
    EXPECT_TRUE(s.parse("1,3:5,7:*"));
    EXPECT_TRUE(s.contains(4, 10));
    EXPECT_FALSE(s.contains(6, 10));
    EXPECT_TRUE(s.contains(10, 10));
    std::vector<seq_range> r;
    s.resolve(8, r);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[2].lo, 7u);
    EXPECT_EQ(r[2].hi, 8u);
    EXPECT_FALSE(s.parse("0"));
    EXPECT_FALSE(s.parse("1,"));
    EXPECT_FALSE(s.parse("a"));
    EXPECT_FALSE(s.parse("99999999999"));
    std::string out;
    write_set(out, {1, 2, 3, 5, 7, 8});
    EXPECT_EQ(out, "1:3,5,7:8");
}

TEST(imap_dates, parse_and_write) {
    EXPECT_EQ(parse_date("1-Jan-1970"), 0);
    EXPECT_EQ(parse_date("01-Feb-1970"), 31);
    EXPECT_FALSE(parse_date("1-Foo-1970"));
    EXPECT_EQ(parse_date_time("07-Feb-1994 21:52:25 -0800"), 760686745);
    EXPECT_EQ(parse_date_time(" 7-Feb-1994 21:52:25 -0800"), 760686745);
    std::string out;
    write_date_time(out, 760686745);
    EXPECT_EQ(out, "\"08-Feb-1994 05:52:25 +0000\"");
}

TEST(imap_names, list_patterns) {
    EXPECT_TRUE(list_match("*", "a/b/c"));
    EXPECT_TRUE(list_match("%", "a"));
    EXPECT_FALSE(list_match("%", "a/b"));
    EXPECT_TRUE(list_match("a/%", "a/b"));
    EXPECT_TRUE(list_match("inbox", "INBOX"));
    EXPECT_TRUE(list_match("Inbox/%", "INBOX/x"));
    EXPECT_FALSE(list_match("sent", "Sent"));
    EXPECT_TRUE(list_match("*b*", "abc"));
    EXPECT_EQ(special_use("Trash"), "\\Trash");
    std::string out;
    write_astring(out, "My Box");
    EXPECT_EQ(out, "\"My Box\"");
}
