// Offline inspector: stats, verify (read-only, reports torn tails and
// corrupt records) and reading content by directory.
#include "posthorn/spool.hh"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace posthorn;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char t[] = "/tmp/posthorn_spool_test_XXXXXX";
        path = ::mkdtemp(t);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string spool() const { return path + "/spool/0"; }
};

iovec iov(std::string_view s) { return iovec{const_cast<char*>(s.data()), s.size()}; }

std::unique_ptr<spool::shard_spool> open(const std::string& dir) {
    spool::options o;
    o.dir = dir;
    o.segment_bytes = 4096;
    auto r = spool::shard_spool::open(o);
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::move(r.value()) : nullptr;
}

spool::appended put(spool::shard_spool& s, uint64_t id, std::string_view tail) {
    iovec h = iov("Received: x\r\n"), t = iov(tail);
    spool::message_parts p;
    p.envelope = "env";
    p.header = {&h, 1};
    p.tail = {&t, 1};
    auto r = s.append_message(id, p);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : spool::appended{};
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, std::string_view bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

size_t idx(spool::record_type t) { return static_cast<size_t>(t); }

}  // namespace

TEST(spool_inspect, stats_count_records_by_type_and_live_messages) {
    temp_dir t;
    {
        auto s = open(t.spool());
        std::string f(500, 'f');
        iovec v = iov(f);
        auto frag = s->append_body(1, {&v, 1});
        ASSERT_TRUE(frag.ok());
        iovec tail = iov("end");
        spool::message_parts p;
        p.envelope = "env";
        p.fragments = {&frag->payload, 1};
        p.tail = {&tail, 1};
        ASSERT_TRUE(s->append_message(1, p).ok());
        put(*s, 2, "two");
        put(*s, 3, "three");
        ASSERT_TRUE(s->append_rcpt_done(2, 0, spool::rcpt_status::delivered).ok());
        ASSERT_TRUE(s->append_message_done(3).ok());
        ASSERT_TRUE(s->append_abort(4).ok());
        ASSERT_TRUE(s->sync_now().ok());

        // The daemon may be running: inspect works beside an open writer.
        std::vector<spool::recovered_message> live;
        auto st = spool::inspect(t.spool(), &live);
        ASSERT_TRUE(st.ok());
        EXPECT_EQ(st->segments, 1u);
        EXPECT_EQ(st->allocated_bytes, 4096u);
        EXPECT_EQ(st->bytes, s->stats().bytes_appended);
        EXPECT_EQ(st->records_by_type[idx(spool::record_type::body)], 1u);
        EXPECT_EQ(st->records_by_type[idx(spool::record_type::message)], 3u);
        EXPECT_EQ(st->records_by_type[idx(spool::record_type::rcpt_done)], 1u);
        EXPECT_EQ(st->records_by_type[idx(spool::record_type::message_done)], 1u);
        EXPECT_EQ(st->records_by_type[idx(spool::record_type::abort)], 1u);
        EXPECT_EQ(st->live_messages, 2u);
        EXPECT_EQ(st->live_content_bytes, 503u + 16u);
        EXPECT_EQ(st->corrupt_records, 0u);
        EXPECT_EQ(st->torn_tail_bytes, 0u);
        ASSERT_EQ(st->segment_list.size(), 1u);
        EXPECT_EQ(st->segment_list[0].path, t.spool() + "/00000001.seg");
        EXPECT_EQ(st->segment_list[0].used, st->bytes);
        EXPECT_EQ(st->segment_list[0].records, 7u);
        EXPECT_FALSE(st->segment_list[0].sealed);
        ASSERT_EQ(live.size(), 2u);
        EXPECT_EQ(live[1].done_rcpts, (std::vector<uint32_t>{0}));

        std::string content;
        ASSERT_TRUE(spool::read_content(t.spool(), live[0], content).ok());
        EXPECT_EQ(content, f + "end");
    }
}

TEST(spool_inspect, verify_reads_only_and_reports_a_torn_tail) {
    temp_dir t;
    uint64_t end = 0;
    {
        auto s = open(t.spool());
        put(*s, 1, "one");
        put(*s, 2, "two");
        end = s->stats().bytes_appended;
        ASSERT_TRUE(s->sync_now().ok());
    }
    std::string seg = t.spool() + "/00000001.seg";
    std::string b = read_file(seg);
    b.replace(end - 10, 10, "0123456789");  // damage the last record's hash
    write_file(seg, b);

    auto v = spool::verify(t.spool());
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->torn_tail);
    EXPECT_FALSE(v->clean());
    EXPECT_GT(v->torn_tail_bytes, 0u);
    EXPECT_EQ(v->torn_records, 1u);
    EXPECT_EQ(v->records, 1u);
    ASSERT_FALSE(v->problems.empty());
    EXPECT_EQ(v->problems.back().segment, 1u);
    EXPECT_EQ(read_file(seg), b) << "verify never writes";
    auto st = spool::inspect(t.spool());
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->live_messages, 1u);
    EXPECT_GT(st->torn_tail_bytes, 0u);

    open(t.spool()).reset();  // recovery repairs the tail
    v = spool::verify(t.spool());
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->clean());
}

TEST(spool_inspect, verify_lists_a_corrupt_record_with_its_segment_and_offset) {
    temp_dir t;
    spool::appended second{};
    {
        auto s = open(t.spool());
        put(*s, 1, std::string(1500, 'a'));
        second = put(*s, 2, std::string(1500, 'b'));
        put(*s, 3, std::string(1500, 'c'));  // in segment 2: segment 1 is sealed
        ASSERT_TRUE(s->sync_now().ok());
    }
    std::string seg = t.spool() + "/00000001.seg";
    std::string b = read_file(seg);
    b[second.payload.offset + 40] ^= 1;
    write_file(seg, b);
    auto v = spool::verify(t.spool());
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->torn_tail);
    EXPECT_EQ(v->corrupt_records, 1u);
    ASSERT_EQ(v->problems.size(), 1u);
    EXPECT_EQ(v->problems[0].segment, 1u);
    EXPECT_EQ(v->problems[0].offset, second.payload.offset - 24);
    EXPECT_STREQ(v->problems[0].what, "checksum mismatch");
}

TEST(spool_inspect, a_missing_directory_is_an_error_not_an_empty_spool) {
    auto st = spool::inspect("/tmp/posthorn-no-such-spool-dir");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.err().code, ENOENT);
}
