// A test host for the IMAP session: a shard_store in a temp directory, a
// directory snapshot (user1/user2, passwords = names), and a converse()
// that feeds input in pieces of any size, answers logins as the real host
// does (password check, login_checked), re-feeds what the session left,
// and pulls streamed FETCH windows.
#pragma once

#include "posthorn/proto/imap_session.hh"

#include <gtest/gtest.h>

#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

namespace imap_test {

using namespace posthorn;
using proto::imap::session;

inline directory::snapshot make_directory() {
    std::vector<directory::user> users;
    users.push_back({"user1", "{PLAIN}user1", "User One", {"user1@example.test"}});
    users.push_back({"user2", "{PLAIN}user2", "User Two", {"user2@example.test"}});
    return directory::snapshot({"example.test"}, std::move(users), {});
}

inline const std::string k_lab_msg =
    "From: User One <user1@example.test>\r\n"
    "To: user2@example.test\r\n"
    "Subject: lab four\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "\r\n"
    "Hello from the lab\r\n";

class host : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/posthorn-imap-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        store::options o;
        o.dir = root + "/store";
        o.durability = spool::durability::none;
        auto s = store::shard_store::open(o);
        ASSERT_TRUE(s) << s.err().reason();
        st = std::move(s.value());
        cfg.plaintext_allowed = true;
    }
    void TearDown() override {
        st.reset();
        std::filesystem::remove_all(root);
    }
    uint32_t add(const std::string& user, const std::string& content, uint32_t flags = 0,
                 const std::string& folder = "INBOX", int64_t date = 1700000000) {
        EXPECT_TRUE(st->ensure_inbox(user));
        iovec v{const_cast<char*>(content.data()), content.size()};
        auto d = st->append(user, folder, std::span<const iovec>(&v, 1), flags, date);
        EXPECT_TRUE(d);
        return d ? d->uid : 0;
    }
    std::unique_ptr<session> open(std::string id = "t1") {
        auto s = std::make_unique<session>(cfg, dir, *st, std::move(id));
        s->start();
        return s;
    }
    // What the host does with a pending login.
    void check_login(session& s) {
        const proto::login_request* r = s.pending_login();
        if (!r) return;
        const directory::user* u = dir.current().find_login(r->user);
        bool ok = u && directory::verify_password(*u, r->password);
        s.login_checked(ok, ok ? std::string_view(u->name) : std::string_view());
    }
    std::string converse(session& s, std::string_view input, size_t cut = SIZE_MAX, size_t window = 65536) {
        std::string got;
        std::string pending;
        size_t at = 0;
        for (int guard = 0; guard < 10'000'000; ++guard) {
            got += s.output();
            s.output().clear();
            if (s.wants_close()) break;
            if (s.pending_login()) {
                check_login(s);
                continue;
            }
            if (s.streaming()) {
                s.next_output(window);
                continue;
            }
            if (pending.empty()) {
                if (at >= input.size()) break;
                size_t n = std::min(cut, input.size() - at);
                pending.assign(input.substr(at, n));
                at += n;
            }
            size_t used = s.feed(pending);
            pending.erase(0, used);
            if (used == 0 && !s.streaming() && !s.pending_login() && !s.wants_close()) {
                // The session wants more bytes than this piece: join the next one.
                if (at >= input.size()) break;
                size_t n = std::min(cut, input.size() - at);
                pending.append(input.substr(at, n));
                at += n;
            }
        }
        got += s.output();
        s.output().clear();
        return got;
    }
    std::string login(session& s, const std::string& user = "user1") {
        return converse(s, "L1 LOGIN " + user + " " + user + "\r\n");
    }

    std::string root;
    std::unique_ptr<store::shard_store> st;
    directory::handle dir{make_directory()};
    proto::imap::session_config cfg;
};

}  // namespace imap_test
