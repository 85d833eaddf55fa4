// Recovery: torn tails cut at every byte, corrupt records in the middle of
// sealed and current segments, fragments that went bad, and the state it
// rebuilds for cleaning. Each test works in its own directory under /tmp.
#include "posthorn/spool.hh"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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
    std::string segment(uint64_t seq) const {
        char name[32];
        std::snprintf(name, sizeof name, "/%08llu.seg", static_cast<unsigned long long>(seq));
        return spool() + name;
    }
};

iovec iov(std::string_view s) { return iovec{const_cast<char*>(s.data()), s.size()}; }

std::string bytes_of(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 61));
    return s;
}

std::unique_ptr<spool::shard_spool> open(const std::string& dir, uint64_t segment_bytes = 4096) {
    spool::options o;
    o.dir = dir;
    o.segment_bytes = segment_bytes;
    auto r = spool::shard_spool::open(o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().what);
    return r.ok() ? std::move(r.value()) : nullptr;
}

spool::appended put(spool::shard_spool& s, uint64_t id, std::string_view tail) {
    iovec t = iov(tail);
    spool::message_parts p;
    p.envelope = "env";
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

void flip_byte(const std::string& path, uint64_t offset) {
    std::string b = read_file(path);
    ASSERT_LT(offset, b.size());
    b[offset] = static_cast<char>(b[offset] ^ 0x5a);
    write_file(path, b);
}

std::vector<uint64_t> ids_of(const std::vector<spool::recovered_message>& v) {
    std::vector<uint64_t> ids;
    for (const auto& m : v) ids.push_back(m.id);
    return ids;
}

constexpr uint64_t header_bytes = 24;

}  // namespace

TEST(spool_recovery, a_record_cut_at_any_byte_is_a_torn_tail) {
    temp_dir t;
    uint64_t start = 0, length = 0;
    std::string body2 = bytes_of(300, 'm');
    {
        auto s = open(t.spool(), 1 << 16);
        put(*s, 1, "first message\r\n");
        std::string frag = bytes_of(200, 'f');
        iovec v = iov(frag);
        auto f = s->append_body(2, {&v, 1});
        ASSERT_TRUE(f.ok());
        iovec tail = iov(body2);
        spool::message_parts p;
        p.envelope = "env";
        p.fragments = {&f->payload, 1};
        p.tail = {&tail, 1};
        ASSERT_TRUE(s->append_message(2, p).ok());
        auto last = put(*s, 3, "the last one\r\n");
        start = last.payload.offset - header_bytes;
        length = s->stats().bytes_appended;  // up to the end of the last record
        length -= start;
        ASSERT_TRUE(s->sync_now().ok());
    }
    const std::string seg = t.segment(1);
    const std::string original = read_file(seg);
    ASSERT_GT(length, 0u);

    for (int mode = 0; mode < 3; ++mode) {  // 0: zeros after the cut, 1: file ends at the cut, 2: garbage
        for (uint64_t k = 0; k < length; ++k) {
            SCOPED_TRACE(::testing::Message() << "mode " << mode << " cut at byte " << k);
            std::string b = original;
            if (mode == 0) {
                std::fill(b.begin() + static_cast<long>(start + k), b.begin() + static_cast<long>(start + length), '\0');
            } else if (mode == 1) {
                b.resize(start + k);
            } else {
                for (uint64_t i = start + k; i < start + length + 16; ++i) b[i] = static_cast<char>(0xa5 ^ i);
            }
            write_file(seg, b);
            {
                auto s = open(t.spool(), 1 << 16);
                ASSERT_TRUE(s);
                auto rec = s->recover();
                ASSERT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1, 2}));
                EXPECT_EQ(rec.report.corrupt_records, 0u);
                uint64_t cut_bytes = mode == 2 ? length + 16 : k;
                EXPECT_LE(rec.report.torn_tail_bytes, cut_bytes);
                if (k > 0 || mode == 2) {
                    EXPECT_GT(rec.report.torn_tail_bytes, 0u);
                    EXPECT_GE(rec.report.torn_records, 1u);
                }
                std::string got;
                ASSERT_TRUE(s->read_content(rec.messages[1], got).ok());
                EXPECT_EQ(got, bytes_of(200, 'f') + body2);
                // The tail is zeroed on disk.
                std::string after = read_file(seg);
                EXPECT_EQ(after.size(), original.size());
                EXPECT_EQ(after.find_first_not_of('\0', start), std::string::npos);
                put(*s, 4, "written after recovery\r\n");
                ASSERT_TRUE(s->sync_now().ok());
            }
            auto s = open(t.spool(), 1 << 16);
            auto rec = s->recover();
            ASSERT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1, 2, 4}));
            EXPECT_EQ(rec.report.torn_tail_bytes, 0u);
            EXPECT_EQ(rec.report.corrupt_records, 0u);
            std::string got;
            ASSERT_TRUE(s->read_content(rec.messages[2], got).ok());
            EXPECT_EQ(got, "written after recovery\r\n");
        }
    }
}

TEST(spool_recovery, a_missing_record_before_a_written_one_cuts_both) {
    // Writes after the last fdatasync may land in any order: a record that
    // made it behind one that did not is not trusted either.
    temp_dir t;
    uint64_t second_start = 0, end = 0;
    {
        auto s = open(t.spool(), 1 << 16);
        put(*s, 1, "one");
        auto b = put(*s, 2, "two");
        put(*s, 3, "three");
        second_start = b.payload.offset - header_bytes;
        end = s->stats().bytes_appended;
        ASSERT_TRUE(s->sync_now().ok());
    }
    std::string b = read_file(t.segment(1));
    std::string third = b.substr(end - 48, 48);
    std::fill(b.begin() + static_cast<long>(second_start), b.begin() + static_cast<long>(end), '\0');
    b.replace(end - 48, 48, third);  // the third record's tail bytes only
    write_file(t.segment(1), b);
    auto s = open(t.spool(), 1 << 16);
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1}));
    EXPECT_GT(rec.report.torn_tail_bytes, 0u);
    EXPECT_EQ(read_file(t.segment(1)).find_first_not_of('\0', second_start), std::string::npos);
}

TEST(spool_recovery, a_corrupted_byte_in_a_middle_record_is_counted_and_the_rest_recovered) {
    temp_dir t;
    std::vector<spool::appended> at;
    {
        auto s = open(t.spool());
        for (uint64_t id = 1; id <= 9; ++id) at.push_back(put(*s, id, bytes_of(600, static_cast<char>(id))));
        ASSERT_TRUE(s->sync_now().ok());
    }
    ASSERT_EQ(at[1].payload.segment, 1u);
    ASSERT_EQ(at[6].payload.segment, at[7].payload.segment) << "7 and 8 share the current segment";
    ASSERT_EQ(at[7].payload.segment, at[8].payload.segment);
    // A payload byte of message 2 (sealed segment) and of message 8 (current
    // segment, followed by message 9).
    flip_byte(t.segment(1), at[1].payload.offset + 100);
    flip_byte(t.segment(at[7].payload.segment), at[7].payload.offset + 10);
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1, 3, 4, 5, 6, 7, 9}));
    EXPECT_EQ(rec.report.corrupt_records, 2u);
    EXPECT_EQ(rec.report.torn_tail_bytes, 0u);
    for (const auto& m : rec.messages) {
        std::string got;
        ASSERT_TRUE(s->read_content(m, got).ok());
        EXPECT_EQ(got, bytes_of(600, static_cast<char>(m.id)));
    }
    // Appends continue after message 9, not after the damaged record.
    put(*s, 10, "ten");
    ASSERT_TRUE(s->sync_now().ok());
    s.reset();
    s = open(t.spool());
    EXPECT_EQ(ids_of(s->recover().messages), (std::vector<uint64_t>{1, 3, 4, 5, 6, 7, 9, 10}));
}

TEST(spool_recovery, a_damaged_header_in_a_sealed_segment_stops_that_segment_only) {
    temp_dir t;
    std::vector<spool::appended> at;
    {
        auto s = open(t.spool());
        for (uint64_t id = 1; id <= 9; ++id) at.push_back(put(*s, id, bytes_of(600, 'h')));
        ASSERT_TRUE(s->sync_now().ok());
    }
    // The length field of message 2's header.
    flip_byte(t.segment(1), at[1].payload.offset - header_bytes + 9);
    auto s = open(t.spool());
    auto rec = s->recover();
    std::vector<uint64_t> want{1};
    for (uint64_t id = 1; id <= 9; ++id)
        if (at[id - 1].payload.segment > 1) want.push_back(id);
    EXPECT_EQ(ids_of(rec.messages), want);
    EXPECT_EQ(rec.report.corrupt_records, 1u);
}

TEST(spool_recovery, a_message_whose_fragment_went_bad_is_dropped_and_counted) {
    temp_dir t;
    spool::location frag{};
    {
        auto s = open(t.spool());
        std::string f = bytes_of(3000, 'g');
        iovec v = iov(f);
        auto r = s->append_body(1, {&v, 1});
        ASSERT_TRUE(r.ok());
        frag = r->payload;
        std::string tail_bytes = bytes_of(2000, 't');
        iovec tail = iov(tail_bytes);
        spool::message_parts p;
        p.envelope = "env";
        p.fragments = {&frag, 1};
        p.tail = {&tail, 1};
        ASSERT_EQ(s->append_message(1, p)->payload.segment, 2u);
        put(*s, 2, "fine");
        ASSERT_TRUE(s->sync_now().ok());
    }
    flip_byte(t.segment(1), frag.offset + 5);
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{2}));
    EXPECT_EQ(rec.report.corrupt_records, 2u) << "the body record, and the message that needs it";
}

TEST(spool_recovery, a_done_message_whose_fragments_were_cleaned_is_not_corrupt) {
    temp_dir t;
    {
        auto s = open(t.spool());
        std::string f = bytes_of(3000, 'k');
        iovec v = iov(f);
        auto frag = s->append_body(1, {&v, 1});  // segment 1
        ASSERT_TRUE(frag.ok());
        std::string tail_bytes = bytes_of(1500, 'l');
        iovec tail = iov(tail_bytes);
        spool::message_parts p;
        p.envelope = "env";
        p.fragments = {&frag->payload, 1};
        p.tail = {&tail, 1};
        ASSERT_EQ(s->append_message(1, p)->payload.segment, 2u);
        put(*s, 2, "long lived, keeps segment 2");
        ASSERT_EQ(put(*s, 3, bytes_of(3000, 'n')).payload.segment, 3u);
        ASSERT_TRUE(s->append_message_done(1).ok());
        EXPECT_FALSE(std::filesystem::exists(t.segment(1)));
        EXPECT_TRUE(std::filesystem::exists(t.segment(2)));
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(rec.report.corrupt_records, 0u);
}

TEST(spool_recovery, recovered_messages_keep_their_segments_until_done) {
    temp_dir t;
    {
        auto s = open(t.spool());
        for (uint64_t id = 1; id <= 8; ++id) put(*s, id, bytes_of(900, 'r'));
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    ASSERT_EQ(rec.messages.size(), 8u);
    EXPECT_EQ(rec.report.segments_unlinked, 0u);
    for (const auto& m : rec.messages) {
        if (m.content[0].segment != 1) continue;
        ASSERT_TRUE(std::filesystem::exists(t.segment(1)));
        ASSERT_TRUE(s->append_message_done(m.id).ok());
    }
    EXPECT_FALSE(std::filesystem::exists(t.segment(1)));
    EXPECT_EQ(s->stats().segments_unlinked, 1u);
}

TEST(spool_recovery, an_empty_segment_left_by_a_crash_becomes_current) {
    temp_dir t;
    {
        auto s = open(t.spool());
        put(*s, 1, "one");
        ASSERT_TRUE(s->sync_now().ok());
    }
    write_file(t.segment(2), "");  // created, never preallocated
    {
        auto s = open(t.spool());
        auto rec = s->recover();
        EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1}));
        EXPECT_EQ(s->current_segment(), 2u);
        EXPECT_EQ(put(*s, 2, "two").payload.segment, 2u);
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    EXPECT_EQ(ids_of(s->recover().messages), (std::vector<uint64_t>{1, 2}));
}
