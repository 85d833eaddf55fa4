// shard_store: delivery from spool extents (gathered and copied in the
// kernel), reading back, folders, flags, expunge, copy, watchers, and what
// a reopen finds — including after a torn index tail and a mail file whose
// content never reached the disk — and the MIME skeletons messages keep.
// Each test works in its own directory.
#include "posthorn/store.hh"
#include "store/index_codec.hh"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace posthorn;

namespace {

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/posthorn-store-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        opts.dir = root + "/store";
        opts.segment_bytes = 1 << 20;
        src_path = root + "/source";
        src_fd = ::open(src_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(src_fd, 0);
    }
    void TearDown() override {
        ::close(src_fd);
        std::filesystem::remove_all(root);
    }
    // Bytes written to the "spool" file; returns their extent.
    spool::extent source(const std::string& bytes) {
        off_t at = ::lseek(src_fd, 0, SEEK_END);
        EXPECT_EQ(::pwrite(src_fd, bytes.data(), bytes.size(), at), static_cast<ssize_t>(bytes.size()));
        return spool::extent{src_fd, static_cast<uint64_t>(at), bytes.size()};
    }
    std::unique_ptr<store::shard_store> open() {
        auto s = store::shard_store::open(opts);
        EXPECT_TRUE(s) << (s ? "" : s.err().reason());
        return s ? std::move(s.value()) : nullptr;
    }
    std::string content(store::shard_store& s, const store::message& m) {
        std::string out;
        EXPECT_TRUE(s.read(m, 0, UINT64_MAX, out));
        return out;
    }

    std::string root, src_path;
    int src_fd = -1;
    store::options opts;
};

std::string big_message(size_t bytes) {
    std::string s = "Subject: big\r\n\r\n";
    while (s.size() < bytes) s += "line of the body, numbered " + std::to_string(s.size()) + "\r\n";
    return s;
}

TEST_F(StoreTest, DeliversAndReadsBackSmallAndBigMessages) {
    auto s = open();
    ASSERT_TRUE(s);
    const std::string small = "Subject: hi\r\n\r\nhello\r\n";
    const std::string big = big_message(300 * 1024);  // over gather_bytes_max: copied in the kernel
    std::vector<spool::extent> e1{source(small)};
    std::vector<spool::extent> e2{source(big.substr(0, 1000)), source(big.substr(1000))};
    auto d1 = s->deliver("user1", store::inbox, "Return-Path: <a@b>\r\n", e1, 1700000000, 7);
    auto d2 = s->deliver("user1", store::inbox, "Return-Path: <a@b>\r\n", e2, 1700000001, 8);
    ASSERT_TRUE(d1);
    ASSERT_TRUE(d2);
    EXPECT_EQ(d1->uid, 1u);
    EXPECT_EQ(d2->uid, 2u);
    EXPECT_GT(d2->seq, d1->seq);
    EXPECT_EQ(s->stats().copy_file_range_bytes, big.size());

    const store::folder* in = s->find_folder("user1", "inbox");  // INBOX in any case
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->name, "INBOX");
    ASSERT_EQ(in->messages.size(), 2u);
    EXPECT_EQ(in->uidnext, 3u);
    EXPECT_EQ(content(*s, in->messages[0]), "Return-Path: <a@b>\r\n" + small);  // still gathered in memory
    EXPECT_EQ(content(*s, in->messages[1]), "Return-Path: <a@b>\r\n" + big);
    std::string part;
    ASSERT_TRUE(s->read(in->messages[0], 20, 11, part));
    EXPECT_EQ(part, "Subject: hi");
    EXPECT_EQ(in->messages[1].size, 20 + big.size());
    EXPECT_EQ(in->messages[1].internal_date, 1700000001);

    EXPECT_TRUE(s->needs_sync());
    ASSERT_TRUE(s->sync_now());
    EXPECT_FALSE(s->needs_sync());
    EXPECT_EQ(s->durable_seq(), d2->seq);
    EXPECT_EQ(content(*s, in->messages[0]), "Return-Path: <a@b>\r\n" + small);  // from the file now

    uint32_t validity = in->uidvalidity;
    s.reset();
    s = open();
    ASSERT_TRUE(s);
    in = s->find_folder("user1", store::inbox);
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->uidvalidity, validity);
    ASSERT_EQ(in->messages.size(), 2u);
    EXPECT_EQ(content(*s, in->messages[1]), "Return-Path: <a@b>\r\n" + big);
    EXPECT_EQ(s->report().dropped_messages, 0u);
    EXPECT_EQ(s->find_folder("user2", store::inbox), nullptr);
}

TEST_F(StoreTest, FlagsExpungeCopyAndFoldersSurviveReopen) {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<spool::extent> e{source("Subject: x\r\n\r\nx\r\n")};
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_TRUE(s->set_flags("u", in->id, 2, store::flag_seen | store::flag_flagged));
    std::vector<uint32_t> gone{1, 3, 99};
    ASSERT_TRUE(s->expunge("u", in->id, gone));
    ASSERT_TRUE(s->create_folder("u", "Archive"));
    ASSERT_TRUE(s->create_folder("u", "Archive/2026"));
    EXPECT_EQ(s->create_folder("u", "Archive").err().code, EEXIST);
    EXPECT_EQ(s->create_folder("u", "INBOX").err().code, EEXIST);
    std::vector<uint32_t> uids{2, 4}, fresh;
    ASSERT_TRUE(s->copy("u", in->id, uids, "Archive", fresh));
    EXPECT_EQ(fresh, (std::vector<uint32_t>{1, 2}));
    ASSERT_TRUE(s->rename_folder("u", "Archive", "Old"));
    EXPECT_EQ(s->rename_folder("u", "INBOX", "X").err().code, EPERM);
    ASSERT_TRUE(s->set_subscribed("u", "Old", true));
    ASSERT_TRUE(s->create_folder("u", "Trash"));
    ASSERT_TRUE(s->delete_folder("u", "Trash"));
    EXPECT_EQ(s->delete_folder("u", "INBOX").err().code, EPERM);
    ASSERT_TRUE(s->sync_now());

    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        in = s->find_folder("u", store::inbox);
        ASSERT_NE(in, nullptr);
        ASSERT_EQ(in->messages.size(), 2u);
        EXPECT_EQ(in->messages[0].uid, 2u);
        EXPECT_EQ(in->messages[0].flags, store::flag_seen | store::flag_flagged);
        EXPECT_EQ(in->messages[1].uid, 4u);
        EXPECT_EQ(in->uidnext, 5u);
        const store::folder* old = s->find_folder("u", "Old");
        ASSERT_NE(old, nullptr);
        ASSERT_EQ(old->messages.size(), 2u);
        EXPECT_EQ(old->messages[0].flags, store::flag_seen | store::flag_flagged);
        EXPECT_EQ(content(*s, old->messages[1]), "Subject: x\r\n\r\nx\r\n");
        EXPECT_NE(s->find_folder("u", "Old/2026"), nullptr);  // inferiors move along
        EXPECT_EQ(s->find_folder("u", "Archive"), nullptr);
        EXPECT_EQ(s->find_folder("u", "Trash"), nullptr);
        auto names = s->folders("u");
        ASSERT_EQ(names.size(), 3u);
        EXPECT_EQ(names[0]->name, "INBOX");
        EXPECT_EQ(names[1]->name, "Old");
        EXPECT_EQ(s->subscriptions("u"), (std::vector<std::string>{"Old"}));
        s.reset();
        s = open();
        ASSERT_TRUE(s);
    }
}

TEST_F(StoreTest, MoveCopiesThenExpungesTheOriginals) {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<spool::extent> e{source("Subject: m\r\n\r\nm\r\n")};
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
    ASSERT_TRUE(s->create_folder("u", "Done"));
    const uint32_t in_id = s->find_folder("u", store::inbox)->id;
    std::vector<uint32_t> uids{1, 3}, fresh;
    ASSERT_TRUE(s->move("u", in_id, uids, "Done", fresh));
    EXPECT_EQ(fresh, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(s->move("u", in_id, uids, "INBOX", fresh).err().code, EINVAL);
    ASSERT_TRUE(s->sync_now());
    s.reset();
    s = open();
    ASSERT_TRUE(s);
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_EQ(in->messages.size(), 1u);
    EXPECT_EQ(in->messages[0].uid, 2u);
    const store::folder* done = s->find_folder("u", "Done");
    ASSERT_EQ(done->messages.size(), 2u);
    EXPECT_EQ(content(*s, done->messages[1]), "Subject: m\r\n\r\nm\r\n");
}

// uids_of: one shared list per folder state; flag changes keep it, any
// change of the messages (append, expunge, copy or move in or out) makes
// the next call build a new one, while holders keep the old one unchanged.
TEST_F(StoreTest, UidsOfIsSharedUntilTheMessagesChange) {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<spool::extent> e{source("Subject: u\r\n\r\nu\r\n")};
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
    ASSERT_TRUE(s->create_folder("u", "Other"));
    const store::folder* in = s->find_folder("u", store::inbox);
    auto first = s->uids_of(*in);
    EXPECT_EQ(*first, (store::uid_list{1, 2, 3}));
    EXPECT_EQ(s->uids_of(*in), first);
    ASSERT_TRUE(s->set_flags("u", in->id, 2, store::flag_seen));
    EXPECT_EQ(s->uids_of(*in), first);
    ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
    auto second = s->uids_of(*in);
    EXPECT_NE(second, first);
    EXPECT_EQ(*second, (store::uid_list{1, 2, 3, 4}));
    EXPECT_EQ(*first, (store::uid_list{1, 2, 3}));   // a holder's list never changes
    std::vector<uint32_t> gone{2}, fresh;
    ASSERT_TRUE(s->expunge("u", in->id, gone));
    EXPECT_EQ(*s->uids_of(*in), (store::uid_list{1, 3, 4}));
    ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));   // after an expunge, a list built afresh
    EXPECT_EQ(*s->uids_of(*in), (store::uid_list{1, 3, 4, 5}));
    std::vector<uint32_t> some{1, 5};
    ASSERT_TRUE(s->move("u", in->id, some, "Other", fresh));
    EXPECT_EQ(*s->uids_of(*in), (store::uid_list{3, 4}));
    EXPECT_EQ(*s->uids_of(*s->find_folder("u", "Other")), (store::uid_list{1, 2}));
    ASSERT_TRUE(s->copy("u", in->id, std::vector<uint32_t>{3}, "INBOX", fresh));
    EXPECT_EQ(*s->uids_of(*in), (store::uid_list{3, 4, 6}));
    EXPECT_EQ(*second, (store::uid_list{1, 2, 3, 4}));
}

TEST_F(StoreTest, WatchersSeeChangesOfTheirUserOnly) {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<std::string> seen;
    auto id = s->watch("a", [&](const store::change& c) {
        seen.push_back(std::to_string(static_cast<int>(c.what)) + ":" + std::to_string(c.uid));
    });
    std::vector<spool::extent> e{source("x\r\n")};
    ASSERT_TRUE(s->deliver("a", store::inbox, "", e, 1, 0));
    ASSERT_TRUE(s->deliver("b", store::inbox, "", e, 1, 0));
    const store::folder* in = s->find_folder("a", store::inbox);
    ASSERT_TRUE(s->set_flags("a", in->id, 1, store::flag_deleted));
    std::vector<uint32_t> one{1};
    ASSERT_TRUE(s->expunge("a", in->id, one));
    s->unwatch(id);
    ASSERT_TRUE(s->deliver("a", store::inbox, "", e, 1, 0));
    EXPECT_EQ(seen, (std::vector<std::string>{"0:1", "1:1", "2:1"}));
}

TEST_F(StoreTest, TornIndexTailIsCutAndCounted) {
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source("x\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
    }
    // Half a record of garbage at the end, as a crash mid-write leaves.
    std::string path = opts.dir + "/index.log";
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    off_t end = ::lseek(fd, 0, SEEK_END);
    ASSERT_EQ(::pwrite(fd, "PHIX\x05garbage", 12, end), 12);
    ::close(fd);
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_GT(s->report().torn_tail_bytes, 0u);
    ASSERT_EQ(s->find_folder("u", store::inbox)->messages.size(), 1u);
    std::vector<spool::extent> e{source("y\r\n")};
    auto d = s->deliver("u", store::inbox, "", e, 1, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->uid, 2u);
    ASSERT_TRUE(s->sync_now());
    s.reset();
    s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->report().torn_tail_bytes, 0u);
    EXPECT_EQ(s->find_folder("u", store::inbox)->messages.size(), 2u);
}

TEST_F(StoreTest, IndexRecordWhoseContentNeverReachedTheDiskIsDropped) {
    uint64_t offset = 0;
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source("Subject: lost\r\n\r\nbody\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
        offset = s->find_folder("u", store::inbox)->messages[1].offset;
    }
    // The index record made it, the second message's bytes did not.
    std::string path = opts.dir + "/mail/00000001.seg";
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    std::string zeros(10, '\0');
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offset)), 10);
    ::close(fd);
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->report().dropped_messages, 1u);
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_EQ(in->messages.size(), 1u);
    EXPECT_EQ(in->uidnext, 3u);  // the dropped UID is never handed out again
    std::vector<spool::extent> e{source("again\r\n")};
    auto d = s->deliver("u", store::inbox, "", e, 1, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->uid, 3u);
    EXPECT_EQ(content(*s, s->find_folder("u", store::inbox)->messages[1]), "again\r\n");
}

TEST_F(StoreTest, NewMailFileWhenFullAndOlderFilesStayReadable) {
    opts.segment_bytes = 4096;
    auto s = open();
    ASSERT_TRUE(s);
    std::string body(1500, 'a');
    body += "\r\n";
    std::vector<spool::extent> e{source(body)};
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
    std::vector<spool::extent> big{source(big_message(10000))};
    ASSERT_TRUE(s->deliver("u", store::inbox, "", big, 1, 0));  // bigger than a file
    ASSERT_TRUE(s->sync_now());
    s.reset();
    s = open();
    ASSERT_TRUE(s);
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_EQ(in->messages.size(), 7u);
    EXPECT_GT(in->messages.back().segment, 2u);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(content(*s, in->messages[i]), body);
    EXPECT_EQ(content(*s, in->messages[6]), big_message(10000));
}

TEST_F(StoreTest, AppendFromMemoryNeedsAnExistingFolder) {
    auto s = open();
    ASSERT_TRUE(s);
    std::string a = "Subject: drafted\r\n\r\n", b = "text\r\n";
    iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    EXPECT_EQ(s->append("u", "Drafts", v, store::flag_draft, 5).err().code, ENOENT);
    ASSERT_TRUE(s->ensure_inbox("u"));
    ASSERT_TRUE(s->create_folder("u", "Drafts"));
    auto d = s->append("u", "Drafts", v, store::flag_draft | store::flag_seen, 5);
    ASSERT_TRUE(d);
    const store::folder* f = s->find_folder("u", "Drafts");
    EXPECT_EQ(f->messages[0].flags, store::flag_draft | store::flag_seen);
    EXPECT_EQ(content(*s, f->messages[0]), a + b);
}

TEST_F(StoreTest, IndexIsCompactedAtOpenWhenMostlyDead) {
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source("x\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        const store::folder* in = s->find_folder("u", store::inbox);
        uint32_t id = in->id;
        // 40k flag records of 40 bytes: well over the 1 MiB threshold.
        for (int i = 0; i < 40000; ++i) ASSERT_TRUE(s->set_flags("u", id, 1, i % 2 ? uint32_t{store::flag_seen} : 0u));
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
    }
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->report().compacted);
    struct stat st{};
    ASSERT_EQ(::stat((opts.dir + "/index.log").c_str(), &st), 0);
    EXPECT_LT(st.st_size, 4096);
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_EQ(in->messages.size(), 2u);
    EXPECT_EQ(in->messages[0].flags, store::flag_seen);  // the last of the flag records
    EXPECT_NE(in->messages[0].skeleton, nullptr);         // its mime record was kept
    EXPECT_EQ(in->uidnext, 3u);
    s.reset();
    s = open();
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->report().compacted);
    EXPECT_EQ(s->find_folder("u", store::inbox)->messages.size(), 2u);
}

// Keywords: a slot per name per folder, the bits kept in the messages'
// flags, the names logged once; COPY maps them by name into the other
// folder's slots; the table survives a reopen and a compaction.
TEST_F(StoreTest, KeywordsGetSlotsPerFolderAndSurviveCopyReopenAndCompaction) {
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source("Subject: k\r\n\r\nk\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        const store::folder* in = s->find_folder("u", store::inbox);
        const uint32_t id = in->id;
        std::vector<std::string_view> names{"$Junk", "Work"};
        auto bits = s->keyword_bits("u", id, names, false);
        ASSERT_TRUE(bits);
        EXPECT_EQ(*bits, 0u);           // not defined: left out
        EXPECT_TRUE(in->keywords.empty());
        bits = s->keyword_bits("u", id, names, true);
        ASSERT_TRUE(bits);
        EXPECT_EQ(*bits, store::keyword_bit(0) | store::keyword_bit(1));
        std::vector<std::string_view> again{"work"};  // case-insensitive: the same slot
        EXPECT_EQ(s->keyword_bits("u", id, again, true).value(), store::keyword_bit(1));
        EXPECT_EQ(in->keywords, (std::vector<std::string>{"$Junk", "Work"}));
        ASSERT_TRUE(s->set_flags("u", id, 2, store::flag_seen | store::keyword_bit(1) | store::keyword_bit(7)));
        EXPECT_EQ(in->messages[1].flags, store::flag_seen | store::keyword_bit(1));  // slot 7 is not defined
        // COPY into a folder whose slot 0 is already another keyword.
        ASSERT_TRUE(s->create_folder("u", "Archive"));
        const uint32_t arch = s->find_folder("u", "Archive")->id;
        std::vector<std::string_view> other{"Personal"};
        ASSERT_TRUE(s->keyword_bits("u", arch, other, true));
        std::vector<uint32_t> uids{2}, fresh;
        ASSERT_TRUE(s->copy("u", id, uids, "Archive", fresh));
        // A full folder refuses a new name and takes no slot.
        std::string name;
        for (uint32_t i = 2; i < store::keyword_slots_max; ++i) {
            name = "k" + std::to_string(i);
            std::vector<std::string_view> one{name};
            ASSERT_TRUE(s->keyword_bits("u", id, one, true)) << i;
        }
        std::vector<std::string_view> extra{"OneTooMany"};
        EXPECT_EQ(s->keyword_bits("u", id, extra, true).err().code, ENOSPC);
        std::string long_name(store::keyword_bytes_max + 1, 'x');
        std::vector<std::string_view> too_long{long_name};
        EXPECT_EQ(s->keyword_bits("u", arch, too_long, true).err().code, EINVAL);
        // Enough dead flag records that the next open compacts the log.
        for (int i = 0; i < 40000; ++i)
            ASSERT_TRUE(s->set_flags("u", id, 1, i % 2 ? store::keyword_bit(0) : uint32_t{store::flag_seen}));
        ASSERT_TRUE(s->sync_now());
    }
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        auto s = open();
        ASSERT_TRUE(s);
        EXPECT_EQ(s->report().compacted, round == 0);
        EXPECT_EQ(s->report().corrupt_records, 0u);
        const store::folder* in = s->find_folder("u", store::inbox);
        ASSERT_EQ(in->keywords.size(), store::keyword_slots_max);
        EXPECT_EQ(in->keywords[0], "$Junk");
        EXPECT_EQ(in->keywords[1], "Work");
        EXPECT_EQ(in->messages[0].flags, store::keyword_bit(0));   // the last flag record
        EXPECT_EQ(in->messages[1].flags, store::flag_seen | store::keyword_bit(1));
        const store::folder* arch = s->find_folder("u", "Archive");
        EXPECT_EQ(arch->keywords, (std::vector<std::string>{"Personal", "Work"}));
        ASSERT_EQ(arch->messages.size(), 1u);
        EXPECT_EQ(arch->messages[0].flags, store::flag_seen | store::keyword_bit(1));
    }
}

std::string body_structure(const store::mime::skeleton& k) {
    std::string out;
    k.write_body_structure(out, true);
    return out;
}

std::string multipart_message(size_t attachment_bytes) {
    std::string m = "From: a@b.example\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=xx\r\n\r\n"
                    "--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                    "--xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    while (attachment_bytes > 0) {
        size_t n = std::min<size_t>(attachment_bytes, 76);
        m += std::string(n, 'Q') + "\r\n";
        attachment_bytes -= n;
    }
    return m + "--xx--\r\n";
}

TEST_F(StoreTest, DeliveredAppendedAndCopiedMessagesKeepTheirSkeletonsAcrossReopen) {
    const std::string prefix = "Return-Path: <a@b.example>\r\n";
    const std::string small = multipart_message(100);
    const std::string big = multipart_message(200 * 1024);  // copied in the kernel, parsed in the hash pass
    const std::string drafted = "Subject: drafted\r\n\r\ntext\r\n";
    std::vector<std::string> want(3);
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e1{source(small)};
        std::vector<spool::extent> e2{source(big.substr(0, 5000)), source(big.substr(5000))};
        ASSERT_TRUE(s->deliver("u", store::inbox, prefix, e1, 1, 0));
        ASSERT_TRUE(s->deliver("u", store::inbox, prefix, e2, 1, 0));
        std::string a = drafted.substr(0, 7), b = drafted.substr(7);
        iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
        ASSERT_TRUE(s->create_folder("u", "Drafts"));
        ASSERT_TRUE(s->append("u", "Drafts", v, 0, 1));
        const store::folder* in = s->find_folder("u", store::inbox);
        std::vector<uint32_t> uids{1, 2}, fresh;
        ASSERT_TRUE(s->copy("u", in->id, uids, "Drafts", fresh));
        const store::folder* drafts = s->find_folder("u", "Drafts");
        ASSERT_EQ(drafts->messages.size(), 3u);
        // The skeleton is the parse of the stored bytes, prefix included.
        want[0] = body_structure(store::mime::parse(prefix + small));
        want[1] = body_structure(store::mime::parse(prefix + big));
        want[2] = body_structure(store::mime::parse(drafted));
        ASSERT_NE(in->messages[0].skeleton, nullptr);
        ASSERT_NE(in->messages[1].skeleton, nullptr);
        EXPECT_EQ(body_structure(*in->messages[0].skeleton), want[0]);
        EXPECT_EQ(body_structure(*in->messages[1].skeleton), want[1]);
        EXPECT_EQ(body_structure(*drafts->messages[0].skeleton), want[2]);
        EXPECT_NE(want[1].find("\"BASE64\" "), std::string::npos);
        // A copy shares its original's skeleton, not a copy of it.
        EXPECT_EQ(drafts->messages[1].skeleton.get(), in->messages[0].skeleton.get());
        EXPECT_EQ(drafts->messages[2].skeleton.get(), in->messages[1].skeleton.get());
        ASSERT_TRUE(s->sync_now());
    }
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->report().corrupt_records, 0u);
    const store::folder* in = s->find_folder("u", store::inbox);
    const store::folder* drafts = s->find_folder("u", "Drafts");
    ASSERT_EQ(in->messages.size(), 2u);
    ASSERT_EQ(drafts->messages.size(), 3u);
    for (int i = 0; i < 2; ++i) {
        ASSERT_NE(in->messages[i].skeleton, nullptr);
        EXPECT_EQ(body_structure(*in->messages[i].skeleton), want[i]);
        EXPECT_EQ(drafts->messages[i + 1].skeleton.get(), in->messages[i].skeleton.get());
    }
    ASSERT_NE(drafts->messages[0].skeleton, nullptr);
    EXPECT_EQ(body_structure(*drafts->messages[0].skeleton), want[2]);
    auto k = s->skeleton_of(in->messages[1]);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->get(), in->messages[1].skeleton.get());
    // BODY[2] of the big one, read back through the skeleton.
    auto r = (*k)->locate(store::mime::section{{2}, store::mime::section::kind::all});
    ASSERT_TRUE(r);
    std::string got;
    ASSERT_TRUE(s->read(in->messages[1], r->offset, r->length, got));
    EXPECT_EQ(got.size(), 200u * 1024 + (200u * 1024 + 75) / 76 * 2 - 2);
    EXPECT_TRUE(got.starts_with("QQQQ"));
    EXPECT_TRUE(got.ends_with("QQ"));
}

TEST_F(StoreTest, MessagesIndexedBeforeSkeletonsExistedAreParsedOnFirstUse) {
    const std::string m = multipart_message(10);
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source(m)};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
    }
    // Rewrite index.log without its mime records, as an older version wrote it.
    const std::string path = opts.dir + "/index.log";
    std::string log, old;
    {
        int fd = ::open(path.c_str(), O_RDONLY);
        ASSERT_GE(fd, 0);
        char buf[4096];
        for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) log.append(buf, static_cast<size_t>(n));
        ::close(fd);
    }
    int mime_records = 0;
    for (uint64_t at = 0; at < log.size();) {
        uint8_t type = 0;
        std::string_view payload;
        uint64_t bytes = 0;
        if (!store::decode_index_record(log.data() + at, log.size() - at, type, payload, bytes)) break;
        if (type == static_cast<uint8_t>(store::index_type::mime)) ++mime_records;
        else store::append_index_record(old, static_cast<store::index_type>(type), payload);
        at += bytes;
    }
    ASSERT_EQ(mime_records, 1);
    {
        int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, old.data(), old.size()), static_cast<ssize_t>(old.size()));
        ::close(fd);
    }
    auto s = open();
    ASSERT_TRUE(s);
    const store::folder* in = s->find_folder("u", store::inbox);
    ASSERT_EQ(in->messages.size(), 1u);
    EXPECT_EQ(in->messages[0].skeleton, nullptr);
    auto k = s->skeleton_of(in->messages[0]);
    ASSERT_TRUE(k);
    EXPECT_EQ(body_structure(**k), body_structure(store::mime::parse(m)));
    EXPECT_EQ(in->messages[0].skeleton.get(), k->get());  // kept: parsed once
}

TEST_F(StoreTest, RecordOfATypeFromANewerVersionIsSkippedNotTakenForATornTail) {
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<spool::extent> e{source("x\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
    }
    std::string unknown;
    store::append_index_record(unknown, static_cast<store::index_type>(200), "future");
    const std::string path = opts.dir + "/index.log";
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    struct stat st{};
    ASSERT_EQ(::fstat(fd, &st), 0);
    // After the last record (the file is preallocated: find its end).
    std::string log(static_cast<size_t>(st.st_size), '\0');
    ASSERT_EQ(::pread(fd, log.data(), log.size(), 0), st.st_size);
    uint64_t end = 0;
    for (uint8_t type = 0; end < log.size();) {
        std::string_view payload;
        uint64_t bytes = 0;
        if (!store::decode_index_record(log.data() + end, log.size() - end, type, payload, bytes)) break;
        end += bytes;
    }
    ASSERT_EQ(::pwrite(fd, unknown.data(), unknown.size(), static_cast<off_t>(end)), static_cast<ssize_t>(unknown.size()));
    ::close(fd);
    {
        auto s = open();
        ASSERT_TRUE(s);
        EXPECT_EQ(s->report().torn_tail_bytes, 0u);
        EXPECT_EQ(s->report().corrupt_records, 1u);
        std::vector<spool::extent> e{source("y\r\n")};
        ASSERT_TRUE(s->deliver("u", store::inbox, "", e, 1, 0));
        ASSERT_TRUE(s->sync_now());
    }
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->find_folder("u", store::inbox)->messages.size(), 2u);  // the record after it applies
}

}  // namespace
