// shard_spool writer: round trips across segments, group commit
// bookkeeping, durability none, rcpt_done, tombstones, abort and cleaning.
// Each test works in its own directory under /tmp.
#include "posthorn/spool.hh"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

using namespace posthorn;

// Counts heap allocations of this thread, to hold the write path to its
// promise of none per record.
namespace {
thread_local size_t t_allocations = 0;
}  // namespace

void* operator new(size_t n) {
    ++t_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
// GCC sees free() of what operator new returned once both are inlined; they
// are a matched pair here (malloc/free).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

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

std::string bytes_of(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 61));
    return s;
}

std::unique_ptr<spool::shard_spool> open(const std::string& dir, uint64_t segment_bytes = 4096,
                                         spool::durability d = spool::durability::fsync,
                                         uint64_t zero_ahead_bytes = spool::options{}.zero_ahead_bytes) {
    spool::options o;
    o.dir = dir;
    o.segment_bytes = segment_bytes;
    o.durability = d;
    o.zero_ahead_bytes = zero_ahead_bytes;
    auto r = spool::shard_spool::open(o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().what);
    return r.ok() ? std::move(r.value()) : nullptr;
}

// Appends a message with no fragments: content = header + tail.
spool::appended put(spool::shard_spool& s, uint64_t id, std::string_view tail, std::string_view env = "env",
                    std::string_view header = "Received: test\r\n") {
    iovec h = iov(header), t = iov(tail);
    spool::message_parts p;
    p.envelope = env;
    p.header = {&h, header.empty() ? 0u : 1u};
    p.tail = {&t, 1};
    auto r = s.append_message(id, p);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : spool::appended{};
}

bool segment_exists(const std::string& dir, uint64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "/%08llu.seg", static_cast<unsigned long long>(seq));
    return std::filesystem::exists(dir + name);
}

std::vector<uint64_t> ids_of(const std::vector<spool::recovered_message>& v) {
    std::vector<uint64_t> ids;
    for (const auto& m : v) ids.push_back(m.id);
    return ids;
}

}  // namespace

TEST(spool_writer, a_message_with_header_fragments_and_tail_reads_back_across_segments) {
    temp_dir t;
    std::string expected_a = "Received: from a\r\n", expected_b;
    std::vector<spool::location> frags_a;
    {
        auto s = open(t.spool());
        ASSERT_TRUE(s);
        // Two sessions interleave their fragments in the same segments.
        for (int i = 0; i < 10; ++i) {
            std::string a = bytes_of(700, static_cast<char>('a' + i)), b = bytes_of(500, 'B');
            iovec va[2] = {iov(std::string_view(a).substr(0, 300)), iov(std::string_view(a).substr(300))};
            auto ra = s->append_body(1, va);
            ASSERT_TRUE(ra.ok());
            EXPECT_EQ(ra->payload.length, 700u);
            frags_a.push_back(ra->payload);
            expected_a += a;
            iovec vb = iov(b);
            ASSERT_TRUE(s->append_body(2, {&vb, 1}).ok());
        }
        EXPECT_GT(s->segment_count(), 3u);
        std::string tail1 = "tail one\r\n", tail2 = "tail two\r\n.";
        iovec head = iov("Received: from a\r\n");
        iovec tail[3] = {iov(tail1), iov(""), iov(tail2)};
        expected_a += tail1 + tail2;
        spool::message_parts p;
        p.envelope = "ENVELOPE-A";
        p.header = {&head, 1};
        p.fragments = frags_a;
        p.tail = tail;
        spool::recovered_message stored;
        ASSERT_TRUE(s->append_message(1, p, &stored).ok());
        EXPECT_EQ(stored.id, 1u);
        EXPECT_EQ(stored.envelope, "ENVELOPE-A");
        EXPECT_EQ(stored.content_bytes, expected_a.size());
        EXPECT_EQ(stored.content.size(), 12u);  // header, 10 fragments, tail
        std::string got;
        ASSERT_TRUE(s->read_content(stored, got).ok());
        EXPECT_EQ(got, expected_a);
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    ASSERT_TRUE(s);
    auto rec = s->recover();
    EXPECT_EQ(rec.report.corrupt_records, 0u);
    EXPECT_EQ(rec.report.torn_tail_bytes, 0u);
    ASSERT_EQ(rec.messages.size(), 1u) << "message 2 never committed: its fragments are dead";
    EXPECT_EQ(rec.messages[0].id, 1u);
    EXPECT_EQ(rec.messages[0].envelope, "ENVELOPE-A");
    std::string got;
    ASSERT_TRUE(s->read_content(rec.messages[0], got).ok());
    EXPECT_EQ(got, expected_a);

    std::vector<spool::extent> ext;
    ASSERT_TRUE(s->content_extents(rec.messages[0], ext).ok());
    std::string via_fd;
    for (const auto& e : ext) {
        std::string piece(e.length, '\0');
        ASSERT_EQ(::pread(e.fd, piece.data(), e.length, static_cast<off_t>(e.offset)), static_cast<ssize_t>(e.length));
        via_fd += piece;
    }
    EXPECT_EQ(via_fd, expected_a);
}

TEST(spool_writer, a_record_bigger_than_a_segment_gets_a_segment_sized_for_it) {
    temp_dir t;
    std::string big = bytes_of(10000, 'x');
    {
        auto s = open(t.spool());
        put(*s, 1, "small");
        auto r = put(*s, 2, big);
        EXPECT_EQ(r.payload.segment, 2u);
        put(*s, 3, "after");
        auto size = std::filesystem::file_size(t.spool() + "/00000002.seg");
        EXPECT_GE(size, 10000u);
        EXPECT_LT(size, 10000u + 4096u + 64u) << "sized for the record, rounded to a page";
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    ASSERT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{1, 2, 3}));
    std::string got;
    ASSERT_TRUE(s->read_content(rec.messages[1], got).ok());
    EXPECT_EQ(got, "Received: test\r\n" + big);
}

TEST(spool_writer, commit_seqs_grow_and_synced_moves_durable_seq) {
    temp_dir t;
    auto s = open(t.spool());
    EXPECT_FALSE(s->needs_sync());
    EXPECT_EQ(s->appended_seq(), 0u);
    auto a = put(*s, 1, "one");
    auto b = put(*s, 2, "two");
    EXPECT_EQ(a.commit_seq, 1u);
    EXPECT_EQ(b.commit_seq, 2u);
    EXPECT_EQ(s->appended_seq(), 2u);
    EXPECT_EQ(s->durable_seq(), 0u);
    EXPECT_TRUE(s->needs_sync());
    EXPECT_GE(s->sync_fd(), 0);

    // The caller's asynchronous fdatasync covered record 1 only.
    ASSERT_EQ(::fdatasync(s->sync_fd()), 0);
    s->synced(1);
    EXPECT_EQ(s->durable_seq(), 1u);
    EXPECT_TRUE(s->needs_sync());
    s->synced(0);  // a late completion never moves it back
    EXPECT_EQ(s->durable_seq(), 1u);
    ASSERT_TRUE(s->sync_now().ok());
    EXPECT_EQ(s->durable_seq(), 2u);
    EXPECT_FALSE(s->needs_sync());

    // A seal syncs the old segment: everything before the new record is durable.
    int fd_before = s->sync_fd();
    uint64_t seg = s->current_segment();
    std::string filler = bytes_of(900, 'f');
    spool::appended last{};
    for (uint64_t id = 10; s->current_segment() == seg; ++id) last = put(*s, id, filler);
    EXPECT_NE(s->sync_fd(), fd_before);
    EXPECT_EQ(s->durable_seq(), last.commit_seq - 1);
    EXPECT_TRUE(s->needs_sync());
    EXPECT_EQ(s->stats().segments_sealed, 1u);
}

TEST(spool_writer, durability_none_counts_every_append_durable_at_once) {
    temp_dir t;
    auto s = open(t.spool(), 4096, spool::durability::none);
    auto a = put(*s, 1, "one");
    EXPECT_EQ(s->durable_seq(), a.commit_seq);
    EXPECT_FALSE(s->needs_sync());
    ASSERT_TRUE(s->sync_now().ok());
    auto b = put(*s, 2, "two");
    EXPECT_EQ(s->durable_seq(), b.commit_seq);
    EXPECT_FALSE(s->needs_sync());
}

TEST(spool_writer, rcpt_done_is_reported_after_recovery) {
    temp_dir t;
    {
        auto s = open(t.spool());
        put(*s, 1, "one");
        put(*s, 2, "two");
        ASSERT_TRUE(s->append_rcpt_done(1, 2, spool::rcpt_status::delivered).ok());
        ASSERT_TRUE(s->append_rcpt_done(1, 0, spool::rcpt_status::bounced).ok());
        ASSERT_TRUE(s->append_rcpt_done(1, 2, spool::rcpt_status::delivered).ok());
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    ASSERT_EQ(rec.messages.size(), 2u);
    EXPECT_EQ(rec.messages[0].done_rcpts, (std::vector<uint32_t>{0, 2}));
    EXPECT_TRUE(rec.messages[1].done_rcpts.empty());
}

TEST(spool_writer, message_done_hides_a_message_and_unlinks_a_fully_dead_sealed_segment) {
    temp_dir t;
    std::string filler = bytes_of(900, 'f');
    {
        auto s = open(t.spool());
        uint64_t id = 1;
        while (s->current_segment() == 1) put(*s, id++, filler);
        // ids 1..id-2 sit in segment 1; id-1 opened segment 2.
        uint64_t last_in_first = id - 2;
        for (uint64_t i = 1; i < last_in_first; ++i) ASSERT_TRUE(s->append_message_done(i).ok());
        EXPECT_TRUE(segment_exists(t.spool(), 1)) << "one message still needs segment 1";
        ASSERT_TRUE(s->append_message_done(last_in_first).ok());
        EXPECT_FALSE(segment_exists(t.spool(), 1));
        EXPECT_EQ(s->stats().segments_unlinked, 1u);
        EXPECT_TRUE(segment_exists(t.spool(), 2)) << "the current segment is never unlinked";
        ASSERT_TRUE(s->append_message_done(id - 1).ok());
        EXPECT_TRUE(segment_exists(t.spool(), 2));
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_TRUE(rec.messages.empty());
    EXPECT_EQ(rec.report.corrupt_records, 0u);
}

TEST(spool_writer, a_tombstone_outlives_the_message_it_hides) {
    temp_dir t;
    {
        auto s = open(t.spool());
        put(*s, 1, bytes_of(1000, 'a'));                       // A, segment 1
        put(*s, 2, bytes_of(1000, 'b'));                       // B, segment 1, long lived
        ASSERT_EQ(put(*s, 3, bytes_of(2500, 'c')).payload.segment, 2u);  // C
        ASSERT_TRUE(s->append_message_done(1).ok());           // A's tombstone in 2
        ASSERT_TRUE(s->append_message_done(3).ok());
        ASSERT_EQ(put(*s, 4, bytes_of(3000, 'd')).payload.segment, 3u);  // D seals 2
        EXPECT_TRUE(segment_exists(t.spool(), 1));
        EXPECT_TRUE(segment_exists(t.spool(), 2)) << "unlinking it would bring A back";
        ASSERT_TRUE(s->sync_now().ok());
    }
    {
        auto s = open(t.spool());
        auto rec = s->recover();
        EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{2, 4}));
        EXPECT_TRUE(segment_exists(t.spool(), 2));
        ASSERT_TRUE(s->append_message_done(2).ok());
        EXPECT_FALSE(segment_exists(t.spool(), 1));
        EXPECT_FALSE(segment_exists(t.spool(), 2));
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    EXPECT_EQ(ids_of(s->recover().messages), (std::vector<uint64_t>{4}));
}

TEST(spool_writer, abort_makes_the_fragments_dead) {
    temp_dir t;
    {
        auto s = open(t.spool());
        std::string frag = bytes_of(1000, 'z');
        iovec v = iov(frag);
        for (int i = 0; i < 8; ++i) ASSERT_TRUE(s->append_body(7, {&v, 1}).ok());
        EXPECT_GE(s->current_segment(), 2u);
        uint64_t cur = s->current_segment();
        ASSERT_TRUE(s->append_abort(7).ok());
        for (uint64_t seq = 1; seq < cur; ++seq) EXPECT_FALSE(segment_exists(t.spool(), seq)) << seq;
        put(*s, 8, "kept");
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{8}));
    EXPECT_EQ(rec.report.corrupt_records, 0u);
}

TEST(spool_writer, fragments_of_a_message_never_committed_are_dead_after_recovery) {
    temp_dir t;
    {
        auto s = open(t.spool());
        std::string frag = bytes_of(1500, 'q');
        iovec v = iov(frag);
        for (int i = 0; i < 6; ++i) ASSERT_TRUE(s->append_body(5, {&v, 1}).ok());
        put(*s, 6, "other");
        ASSERT_TRUE(s->sync_now().ok());
    }  // the session died with the process
    auto s = open(t.spool());
    auto rec = s->recover();
    EXPECT_EQ(ids_of(rec.messages), (std::vector<uint64_t>{6}));
    EXPECT_GT(rec.report.segments_unlinked, 0u) << "sealed segments holding only dead fragments go";
}

TEST(spool_writer, thousands_of_iovecs_are_written_past_iov_max) {
    temp_dir t;
    std::vector<std::string> pieces;
    std::vector<iovec> v;
    std::string expected = "Received: test\r\n";
    for (int i = 0; i < 3000; ++i) pieces.push_back(std::to_string(i) + ",");
    for (const auto& p : pieces) {
        v.push_back(iov(p));
        expected += p;
    }
    {
        auto s = open(t.spool(), 1 << 20);
        iovec h = iov("Received: test\r\n");
        spool::message_parts p;
        p.envelope = "e";
        p.header = {&h, 1};
        p.tail = v;
        ASSERT_TRUE(s->append_message(1, p).ok());
        ASSERT_TRUE(s->sync_now().ok());
    }
    auto s = open(t.spool(), 1 << 20);
    auto rec = s->recover();
    ASSERT_EQ(rec.messages.size(), 1u);
    std::string got;
    ASSERT_TRUE(s->read_content(rec.messages[0], got).ok());
    EXPECT_EQ(got, expected);
}

TEST(spool_writer, a_second_writer_on_the_same_directory_is_refused) {
    temp_dir t;
    auto s = open(t.spool());
    ASSERT_TRUE(s);
    spool::options o;
    o.dir = t.spool();
    auto second = spool::shard_spool::open(o);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.err().code, EWOULDBLOCK);
}

TEST(spool_writer, segments_are_preallocated_and_named_in_order) {
    temp_dir t;
    auto s = open(t.spool(), 8192);
    EXPECT_EQ(std::filesystem::file_size(t.spool() + "/00000001.seg"), 8192u);
    struct stat st {};
    ASSERT_EQ(::stat((t.spool() + "/00000001.seg").c_str(), &st), 0);
    EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 8192u);
}

// Bytes of [offset, offset + length) of the file that sit in allocated but
// unwritten extents (FIEMAP); -1 when the file system cannot tell.
int64_t unwritten_bytes(const std::string& path, uint64_t offset, uint64_t length) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    constexpr unsigned max_extents = 256;
    std::vector<char> buf(sizeof(fiemap) + max_extents * sizeof(fiemap_extent));
    auto* fm = reinterpret_cast<fiemap*>(buf.data());
    fm->fm_start = offset;
    fm->fm_length = length;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = max_extents;
    int rc = ::ioctl(fd, FS_IOC_FIEMAP, fm);
    ::close(fd);
    if (rc != 0) return -1;
    int64_t sum = 0;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
        const fiemap_extent& e = fm->fm_extents[i];
        if (!(e.fe_flags & FIEMAP_EXTENT_UNWRITTEN)) continue;
        uint64_t from = std::max<uint64_t>(e.fe_logical, offset), to = std::min<uint64_t>(e.fe_logical + e.fe_length, offset + length);
        if (to > from) sum += static_cast<int64_t>(to - from);
    }
    return sum;
}

TEST(spool_writer, zero_ahead_leaves_no_unwritten_extent_ahead_of_the_tail) {
    constexpr uint64_t seg = 1 << 20, ahead = 256 << 10;
    for (uint64_t zero_ahead : {ahead, uint64_t{0}}) {
        temp_dir t;
        auto s = open(t.spool(), seg, spool::durability::fsync, zero_ahead);
        ASSERT_TRUE(s);
        std::string body = bytes_of(1000, 'z');
        uint64_t end = 0;
        for (uint64_t id = 1; id <= 40; ++id) end = put(*s, id, body).payload.offset + 1000;
        ASSERT_TRUE(s->sync_now().ok());
        std::string path = t.spool() + "/00000001.seg";
        int64_t unwritten = unwritten_bytes(path, end, ahead / 2);
        if (unwritten < 0 || (zero_ahead == 0 && unwritten == 0))
            GTEST_SKIP() << "file system without unwritten extents (or no FIEMAP)";
        if (zero_ahead)
            EXPECT_EQ(unwritten, 0) << "the window past the tail holds written zeros";
        else
            EXPECT_GT(unwritten, 0) << "without zero_ahead the preallocated space stays unwritten";
        s.reset();
        auto again = open(t.spool(), seg, spool::durability::fsync, zero_ahead);
        ASSERT_TRUE(again);
        auto rec = again->recover();
        EXPECT_EQ(rec.messages.size(), 40u);
        EXPECT_EQ(rec.report.torn_tail_bytes, 0u) << "zeros past the tail are not a torn tail";
    }
}

TEST(spool_writer, appends_allocate_nothing_once_warm) {
    temp_dir t;
    auto s = open(t.spool(), 1 << 20);
    std::string frag = bytes_of(2000, 'w'), tail = "tail";
    iovec v[2] = {iov(frag), iov(frag)};
    iovec tv = iov(tail);
    std::vector<spool::location> refs(4);
    auto round = [&](uint64_t id) {
        for (auto& r : refs) r = s->append_body(id, v)->payload;
        spool::message_parts p;
        p.envelope = "envelope";
        p.fragments = refs;
        p.tail = {&tv, 1};
        ASSERT_TRUE(s->append_message(id, p).ok());
        ASSERT_TRUE(s->append_rcpt_done(id, 0, spool::rcpt_status::delivered).ok());
    };
    round(1);  // warm: reused buffers grow once
    size_t before = t_allocations;
    for (int i = 0; i < 20; ++i) {
        auto r = s->append_body(1, v);
        ASSERT_TRUE(r.ok());
        ASSERT_TRUE(s->append_rcpt_done(1, 1, spool::rcpt_status::bounced).ok());
    }
    EXPECT_EQ(t_allocations, before) << "body and rcpt_done records of a tracked message";
    spool::message_parts p;
    p.envelope = "envelope";
    p.fragments = refs;
    p.tail = {&tv, 1};
    before = t_allocations;
    ASSERT_TRUE(s->append_message(1, p).ok());
    EXPECT_EQ(t_allocations, before) << "a message record";
}

TEST(spool_writer, after_a_failed_sync_appends_are_refused) {
    temp_dir t;
    auto s = open(t.spool());
    put(*s, 1, "one");
    s->sync_failed(EIO);
    EXPECT_TRUE(s->failed());
    EXPECT_FALSE(s->needs_sync());
    iovec v = iov("x");
    auto r = s->append_body(2, {&v, 1});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, core::e_closed);
    EXPECT_FALSE(s->sync_now().ok());
}

TEST(spool_writer, is_live_is_true_from_the_message_record_until_its_tombstone) {
    temp_dir t;
    auto s = open(t.spool(), 1 << 20);
    iovec v = iov("fragment");
    ASSERT_TRUE(s->append_body(7, {&v, 1}).ok());
    EXPECT_FALSE(s->is_live(7)) << "body records alone are not a message";
    put(*s, 7, "tail");
    EXPECT_TRUE(s->is_live(7));
    EXPECT_FALSE(s->is_live(8));
    ASSERT_TRUE(s->append_message_done(7).ok());
    EXPECT_FALSE(s->is_live(7));
}
