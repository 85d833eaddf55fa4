// shard_store's streamed APPEND (append_begin/write/commit/abort) and the
// in-memory \Recent claims: content written in pieces reads back whole,
// with its skeleton and after a reopen; other writes may interleave; a
// short, long, aborted or orphaned append never becomes a message. Also
// the store calls IMAP leans on: a refused RENAME changes nothing.
#include "posthorn/store.hh"

#include <gtest/gtest.h>

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

using namespace posthorn;

namespace {

class store_append : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/posthorn-store-append-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        opts.dir = root + "/store";
        opts.segment_bytes = 1 << 20;
        st = open();
        ASSERT_TRUE(st->ensure_inbox("u"));
    }
    void TearDown() override {
        st.reset();
        std::filesystem::remove_all(root);
    }
    std::unique_ptr<store::shard_store> open() {
        auto s = store::shard_store::open(opts);
        EXPECT_TRUE(s) << (s ? "" : s.err().reason());
        return s ? std::move(s.value()) : nullptr;
    }
    std::string content(const store::message& m) {
        std::string out;
        EXPECT_TRUE(st->read(m, 0, UINT64_MAX, out));
        return out;
    }
    void small_append(const std::string& bytes) {
        iovec v{const_cast<char*>(bytes.data()), bytes.size()};
        ASSERT_TRUE(st->append("u", store::inbox, std::span<const iovec>(&v, 1), 0, 1));
    }

    std::string root;
    store::options opts;
    std::unique_ptr<store::shard_store> st;
};

const std::string k_msg = "From: a@example.test\r\nSubject: streamed\r\n\r\nbody line\r\n";

}  // namespace

TEST_F(store_append, pieces_read_back_whole_with_a_skeleton_and_survive_a_reopen) {
    int appended = 0;
    st->watch("u", [&](const store::change& c) { appended += c.what == store::change::kind::appended; });
    auto id = st->append_begin("u", "inbox", k_msg.size(), store::flag_seen, 1234);
    ASSERT_TRUE(id);
    // Small messages gathered meanwhile sit after the reserved bytes.
    small_append("Subject: between\r\n\r\nx\r\n");
    for (size_t at = 0; at < k_msg.size(); at += 7)
        ASSERT_TRUE(st->append_write(*id, std::string_view(k_msg).substr(at, 7)));
    EXPECT_EQ(appended, 1);   // only the small one so far
    auto d = st->append_commit(*id);
    ASSERT_TRUE(d) << d.err().reason();
    EXPECT_EQ(appended, 2);
    const store::folder* f = st->find_folder("u", "INBOX");
    ASSERT_EQ(f->messages.size(), 2u);
    const store::message* m = f->find(d->uid);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->flags, store::flag_seen);
    EXPECT_EQ(m->internal_date, 1234);
    EXPECT_EQ(content(*m), k_msg);
    ASSERT_NE(m->skeleton, nullptr);
    EXPECT_TRUE(m->skeleton->field_contains(store::mime::skeleton::field::subject, "streamed"));
    EXPECT_EQ(content(f->messages[0]), "Subject: between\r\n\r\nx\r\n");
    ASSERT_TRUE(st->sync_now());
    st.reset();
    st = open();
    f = st->find_folder("u", "INBOX");
    ASSERT_EQ(f->messages.size(), 2u);
    EXPECT_EQ(content(*f->find(d->uid)), k_msg);
}

TEST_F(store_append, wrong_lengths_abort_and_missing_folders_make_no_message) {
    EXPECT_EQ(st->append_begin("u", "nope", 5, 0, 0).err().code, ENOENT);
    auto id = st->append_begin("u", "INBOX", 5, 0, 0);
    ASSERT_TRUE(id);
    EXPECT_EQ(st->append_write(*id, "toolong").err().code, EINVAL);
    ASSERT_TRUE(st->append_write(*id, "abc"));
    EXPECT_EQ(st->append_commit(*id).err().code, EINVAL);   // short: dropped
    EXPECT_EQ(st->append_commit(*id).err().code, EINVAL);   // and gone
    auto id2 = st->append_begin("u", "INBOX", 3, 0, 0);
    ASSERT_TRUE(id2);
    st->append_abort(*id2);
    EXPECT_EQ(st->append_write(*id2, "abc").err().code, EINVAL);
    ASSERT_TRUE(st->create_folder("u", "tmp"));
    auto id3 = st->append_begin("u", "tmp", 3, 0, 0);
    ASSERT_TRUE(id3);
    ASSERT_TRUE(st->append_write(*id3, "abc"));
    ASSERT_TRUE(st->delete_folder("u", "tmp"));
    EXPECT_EQ(st->append_commit(*id3).err().code, ENOENT);
    EXPECT_TRUE(st->find_folder("u", "INBOX")->messages.empty());
}

TEST_F(store_append, a_message_bigger_than_a_mail_file_gets_its_own) {
    std::string big(3 << 20, 'z');
    auto id = st->append_begin("u", "INBOX", big.size(), 0, 0);
    ASSERT_TRUE(id);
    for (size_t at = 0; at < big.size(); at += 65536)
        ASSERT_TRUE(st->append_write(*id, std::string_view(big).substr(at, 65536)));
    auto d = st->append_commit(*id);
    ASSERT_TRUE(d);
    EXPECT_EQ(content(*st->find_folder("u", "INBOX")->find(d->uid)), big);
}

TEST_F(store_append, recent_goes_to_the_first_claim_and_the_mark_survives_a_reopen) {
    small_append("a\r\n");
    small_append("b\r\n");
    const store::folder* f = st->find_folder("u", "INBOX");
    EXPECT_EQ(st->claim_recent("u", f->id), 1u);   // [1, 3)
    EXPECT_EQ(st->claim_recent("u", f->id), 3u);   // nothing new: [3, 3)
    small_append("c\r\n");
    EXPECT_EQ(st->claim_recent("u", f->id), 3u);   // [3, 4)
    EXPECT_EQ(st->claim_recent("u", 999), 0u);
    // The mark survives a restart: only what came after the last claim is
    // recent to the first session then.
    small_append("d\r\n");
    ASSERT_TRUE(st->sync_now());
    st.reset();
    st = open();
    ASSERT_TRUE(st);
    f = st->find_folder("u", "INBOX");
    EXPECT_EQ(f->recent_uid, 4u);
    EXPECT_EQ(st->claim_recent("u", f->id), 4u);   // [4, 5): d alone
    EXPECT_EQ(st->report().corrupt_records, 0u);
}

// RENAME checks every new name first: a refused one changes nothing.
TEST_F(store_append, a_refused_rename_changes_nothing) {
    ASSERT_TRUE(st->create_folder("u", "A"));
    ASSERT_TRUE(st->create_folder("u", "A/x"));
    ASSERT_TRUE(st->create_folder("u", "B"));
    ASSERT_TRUE(st->create_folder("u", "B/x"));
    ASSERT_TRUE(st->delete_folder("u", "B"));   // B/x stays
    EXPECT_EQ(st->rename_folder("u", "A", "B").err().code, EEXIST);
    ASSERT_TRUE(st->create_folder("u", "C"));
    ASSERT_TRUE(st->create_folder("u", "C/" + std::string(250, 'y')));
    EXPECT_EQ(st->rename_folder("u", "C", "CCCCCCCCCC").err().code, EINVAL);
    EXPECT_EQ(st->rename_folder("u", "A", "A/y").err().code, EINVAL);
    EXPECT_NE(st->find_folder("u", "A"), nullptr);
    EXPECT_NE(st->find_folder("u", "A/x"), nullptr);
    EXPECT_NE(st->find_folder("u", "C"), nullptr);
    EXPECT_EQ(st->find_folder("u", "B"), nullptr);
    EXPECT_EQ(st->find_folder("u", "CCCCCCCCCC"), nullptr);
    ASSERT_TRUE(st->rename_folder("u", "A", "D"));
    EXPECT_NE(st->find_folder("u", "D/x"), nullptr);
}
