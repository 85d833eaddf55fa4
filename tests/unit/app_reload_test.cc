// Directory reloads without the daemon (src/app/directory_reload.hh,
// reloader.hh): a generation built from a parsed config, the keys a reload
// cannot apply, a shard's switch (handle first, then its listeners), an SMTP
// session that sees a reload between two commands, and the reloader on a
// real shard set of three: answered only once every shard switched, a
// broken file changing nothing, requests during a reload served by the next.
#include "app/directory_reload.hh"
#include "app/reloader.hh"

#include "posthorn/core/chunk.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/shard.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace posthorn;
using namespace posthorn::app;

namespace {

const std::string k_base = R"(
[server]
hostname = "mx.example.test"
data_dir = "var"
[listen]
smtp = ["127.0.0.1:2525"]
[domains]
local = ["example.test"]
[[users]]
name = "user1"
password = "{PLAIN}user1"
addresses = ["user1@example.test"]
[[users]]
name = "user2"
password = "{PLAIN}user2"
[[groups]]
name = "staff"
members = ["user1", "user2"]
[aliases]
"postmaster@example.test" = ["user1@example.test"]
)";

config parsed(const std::string& text) {
    config c;
    std::string message;
    EXPECT_TRUE(parse_config(text, "test", c, message)) << message;
    return c;
}

std::shared_ptr<const directory_generation> with_users(uint64_t number, std::vector<std::string> names) {
    std::string text = "[domains]\nlocal = [\"example.test\"]\n";
    for (const auto& n : names) text += "[[users]]\nname = \"" + n + "\"\npassword = \"{PLAIN}" + n + "\"\n";
    return build_generation(parsed(text), number);
}

class quiet : public ::testing::Test {
protected:
    quiet() { core::log::set_level(core::log::level::error); }
};

class reload_generation : public quiet {};
class reload_restart_keys : public quiet {};
class reload_shard_directory : public quiet {};
class reload_smtp_session : public quiet {};

}  // namespace

TEST_F(reload_generation, holds_the_configs_users_groups_and_aliases_under_its_number) {
    auto g = build_generation(parsed(k_base), 7);
    EXPECT_EQ(g->number, 7u);
    ASSERT_TRUE(g->dir);
    EXPECT_EQ(g->dir->users().size(), 2u);
    EXPECT_EQ(g->dir->groups().size(), 1u);
    EXPECT_EQ(g->dir->alias_count(), 1u);
    EXPECT_EQ(g->dir->resolve("user2@example.test").kind, directory::address_kind::local_user);
}

TEST_F(reload_restart_keys, are_empty_when_only_the_directory_part_changed) {
    std::string next = k_base + "[[users]]\nname = \"user9\"\npassword = \"{PLAIN}user9\"\n";
    EXPECT_TRUE(restart_keys(parsed(k_base), parsed(next)).empty());
    EXPECT_TRUE(restart_keys(parsed(k_base), parsed(k_base)).empty());
}

TEST_F(reload_restart_keys, name_each_changed_key_outside_the_directory_part) {
    std::string next = k_base;
    next.replace(next.find("mx.example.test"), 15, "mx2.example.test");
    next.replace(next.find("127.0.0.1:2525"), 14, "127.0.0.1:2626");
    next += "[queue]\nretry = [\"1m\"]\n";
    EXPECT_EQ(restart_keys(parsed(k_base), parsed(next)),
              (std::vector<std::string>{"server.hostname", "listen.smtp", "queue.retry"}));
}

TEST_F(reload_generation, carries_an_ldap_tree_when_ldap_listens_built_from_its_own_snapshot) {
    EXPECT_EQ(build_generation(parsed(k_base), 1)->ldap, nullptr);
    std::string with_ldap = k_base;
    with_ldap.replace(with_ldap.find("[listen]\n"), 9, "[listen]\nldap = [\"127.0.0.1:3890\"]\n");
    auto g = build_generation(parsed(with_ldap + "[ldap]\nbase = \"o=Example\"\n"), 2);
    ASSERT_NE(g->ldap, nullptr);
    EXPECT_EQ(proto::ldap::tree_base(*g->ldap), "o=Example");
    EXPECT_EQ(proto::ldap::tree_entries(*g->ldap), 3 + g->dir->users().size() + g->dir->groups().size() + 2);
}

TEST_F(reload_restart_keys, name_the_ldap_session_policy_but_not_the_base_which_the_tree_takes) {
    std::string next = k_base + "[ldap]\nbase = \"o=Other\"\nsize_limit = 10\nanonymous = false\n";
    EXPECT_EQ(restart_keys(parsed(k_base), parsed(next)), (std::vector<std::string>{"ldap.anonymous", "ldap.size_limit"}));
}

TEST_F(reload_shard_directory, install_switches_the_handle_then_tells_every_listener_in_order) {
    shard_directory d(with_users(1, {"user1"}));
    const directory::handle& h = d.handle();
    std::vector<std::string> calls;
    d.subscribe([&](const directory_generation& g) {
        calls.push_back("first saw " + std::to_string(g.number) + " with user9 " +
                        (h.current().find_user("user9") ? "present" : "absent"));
    });
    uint64_t second = d.subscribe([&](const directory_generation& g) { calls.push_back("second saw " + std::to_string(g.number)); });
    EXPECT_EQ(h.current().find_user("user9"), nullptr);
    EXPECT_TRUE(d.install(with_users(2, {"user1", "user9"})));
    EXPECT_NE(h.current().find_user("user9"), nullptr);
    EXPECT_EQ(d.current().number, 2u);
    EXPECT_EQ(calls, (std::vector<std::string>{"first saw 2 with user9 present", "second saw 2"}));
    d.unsubscribe(second);
    EXPECT_TRUE(d.install(with_users(3, {"user1"})));
    EXPECT_EQ(calls.back(), "first saw 3 with user9 absent");
    EXPECT_EQ(calls.size(), 3u);
}

TEST_F(reload_shard_directory, ignores_a_generation_that_is_not_newer) {
    shard_directory d(with_users(5, {"user1"}));
    int called = 0;
    d.subscribe([&](const directory_generation&) { ++called; });
    EXPECT_FALSE(d.install(with_users(5, {"user9"})));
    EXPECT_FALSE(d.install(with_users(4, {"user9"})));
    EXPECT_EQ(d.handle().current().find_user("user9"), nullptr);
    EXPECT_EQ(called, 0);
}

TEST_F(reload_shard_directory, frees_an_old_generation_once_nothing_refers_to_it) {
    shard_directory d(with_users(1, {"user1"}));
    std::weak_ptr<const directory_generation> old_generation = d.share();
    std::shared_ptr<const directory::snapshot> held = d.handle().share();  // a logged-in session's
    std::weak_ptr<const directory::snapshot> old_snapshot = held;
    d.install(with_users(2, {"user2"}));
    EXPECT_TRUE(old_generation.expired());
    EXPECT_FALSE(old_snapshot.expired());
    held.reset();
    EXPECT_TRUE(old_snapshot.expired());
}

TEST_F(reload_smtp_session, sees_a_reload_between_two_rcpts_of_one_transaction) {
    shard_directory d(with_users(1, {"user1"}));
    proto::smtp::session_config cfg;
    cfg.hostname = "mx.example.test";
    proto::smtp::testing::recording_sink sink;
    core::chunk_pool pool{64 * 1024, 64};
    proto::smtp::session s(cfg, d.handle(), sink, {"192.0.2.1", false}, "r1");
    s.start(false);
    auto send = [&](std::string_view line) {
        s.output().clear();
        proto::smtp::testing::feed_all(s, pool, line, SIZE_MAX, true);
        return s.output();
    };
    send("EHLO client.test\r\n");
    EXPECT_EQ(send("MAIL FROM:<a@client.test>\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(send("RCPT TO:<user9@example.test>\r\n").substr(0, 10), "550 5.1.1 ");
    d.install(with_users(2, {"user1", "user9"}));
    EXPECT_EQ(send("RCPT TO:<user9@example.test>\r\n"), "250 2.1.5 Ok\r\n");
    d.install(with_users(3, {"user9"}));
    EXPECT_EQ(send("RCPT TO:<user1@example.test>\r\n").substr(0, 10), "550 5.1.1 ");
}

namespace {

// Three shards on epoll; shard 0 runs `script` with its reloader once the
// loops run; every shard records the generations its listener saw.
struct reload_rig {
    std::string dir;
    std::string path;
    config running;
    directory_table table{};
    std::atomic<uint64_t> seen[3] = {};     // the last generation each shard installed
    std::atomic<uint32_t> installs{0};

    reload_rig() {
        char tmpl[] = "/tmp/posthorn-reload-XXXXXX";
        EXPECT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/posthorn.toml";
        write(k_base);
        running = parsed(k_base);
    }
    ~reload_rig() { std::filesystem::remove_all(dir); }
    void write(const std::string& text) const { std::ofstream(path, std::ios::trunc) << text; }

    template <typename Script>
    void run(Script script) {
        core::shard_config sc;
        sc.shards = 3;
        sc.io = core::io_mode::epoll;
        sc.chunk_bytes = 4096;
        sc.chunk_count = 16;
        sc.pin = false;
        sc.handle_signals = false;
        core::shard_set set(sc);
        auto first = build_generation(running, 1);
        struct ctx_t {
            reload_rig* rig;
            std::shared_ptr<const directory_generation>* first;
            Script* script;
        } ctx{this, &first, &script};
        // A hung reload fails the test instead of hanging the suite (never
        // a timing assertion: a correct run ends in milliseconds).
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        std::thread watchdog([&] {
            std::unique_lock lk(m);
            if (!cv.wait_for(lk, std::chrono::seconds(10), [&] { return done; })) {
                ADD_FAILURE() << "the reload never answered";
                set.stop();
            }
        });
        auto res = set.run([c = &ctx](core::shard& sh) noexcept {
            shard_directory d(*c->first);
            c->rig->table[sh.id()] = &d;
            d.subscribe([rig = c->rig, id = sh.id()](const directory_generation& g) {
                rig->seen[id] = g.number;
                rig->installs.fetch_add(1);
            });
            std::unique_ptr<reloader> r;
            if (sh.id() == 0) {
                r = std::make_unique<reloader>(sh, c->rig->running, c->rig->path, c->rig->table);
                (*c->script)(sh, *r, d);
            }
            sh.io().run();
            if (r) r->stop();
            c->rig->table[sh.id()] = nullptr;
        });
        {
            std::lock_guard lk(m);
            done = true;
        }
        cv.notify_one();
        watchdog.join();
        ASSERT_TRUE(res.ok());
    }
};

class reload_on_shards : public quiet {};

}  // namespace

TEST_F(reload_on_shards, every_shard_has_switched_when_the_caller_is_answered) {
    reload_rig rig;
    rig.write(k_base + "[[users]]\nname = \"user9\"\npassword = \"{PLAIN}user9\"\n");
    reloader::outcome got;
    uint64_t seen_at_answer[3] = {};
    bool user9_on_shard0 = false;
    rig.run([&](core::shard& sh, reloader& r, shard_directory& d) {
        r.reload("test", [&, sh_ = &sh, d_ = &d](const reloader::outcome& out) {
            got = out;
            for (int i = 0; i < 3; ++i) seen_at_answer[i] = rig.seen[i];
            user9_on_shard0 = d_->handle().current().find_user("user9") != nullptr;
            sh_->stop_all();
        });
    });
    EXPECT_TRUE(got.ok) << got.text;
    EXPECT_EQ(got.text, "reloaded generation=2 users=3 groups=1 aliases=1");
    EXPECT_TRUE(got.restart_keys.empty());
    EXPECT_EQ(seen_at_answer[0], 2u);
    EXPECT_EQ(seen_at_answer[1], 2u);
    EXPECT_EQ(seen_at_answer[2], 2u);
    EXPECT_TRUE(user9_on_shard0);
    EXPECT_EQ(rig.installs.load(), 3u);
}

TEST_F(reload_on_shards, a_broken_file_is_refused_with_its_reason_and_no_shard_switches) {
    reload_rig rig;
    rig.write(k_base + "[[groups]]\nname = \"ops\"\nmembers = [\"nobody\"]\n");
    reloader::outcome got;
    rig.run([&](core::shard& sh, reloader& r, shard_directory&) {
        r.reload("test", [&, sh_ = &sh](const reloader::outcome& out) {
            got = out;
            sh_->stop_all();
        });
    });
    EXPECT_FALSE(got.ok);
    EXPECT_NE(got.text.find("groups.members"), std::string::npos) << got.text;
    EXPECT_NE(got.text.find("nobody"), std::string::npos) << got.text;
    EXPECT_EQ(rig.installs.load(), 0u);
}

TEST_F(reload_on_shards, requests_during_a_reload_are_answered_by_the_next_one_which_rereads_the_file) {
    reload_rig rig;
    rig.write(k_base + "[[users]]\nname = \"user9\"\npassword = \"{PLAIN}user9\"\n");
    std::vector<std::string> answers;
    rig.run([&](core::shard& sh, reloader& r, shard_directory& d) {
        // Two before the first starts: one reload answers both. The first
        // caller, answered, asks again: that joins the next reload too.
        r.reload("test", [&, r0 = &r, sh0 = &sh](const reloader::outcome& out) {
            answers.push_back("a: " + out.text);
            r0->reload("test", [&, sh1 = sh0](const reloader::outcome& o) {
                answers.push_back("e: " + o.text);
                sh1->stop_all();
            });
        });
        r.reload("test", [&](const reloader::outcome& out) { answers.push_back("b: " + out.text); });
        // Shard 0 switches while the other shards' answers are awaited: two
        // requests made then (the file changed again) wait for the next
        // reload, which reads the file as it is then.
        d.subscribe([&, r_ = &r](const directory_generation& g) {
            if (g.number != 2) return;
            rig.write(k_base);
            r_->reload("test", [&](const reloader::outcome& o) { answers.push_back("c: " + o.text); });
            r_->reload("test", [&](const reloader::outcome& o) { answers.push_back("d: " + o.text); });
        });
    });
    EXPECT_EQ(answers, (std::vector<std::string>{"a: reloaded generation=2 users=3 groups=1 aliases=1",
                                                 "b: reloaded generation=2 users=3 groups=1 aliases=1",
                                                 "c: reloaded generation=3 users=2 groups=1 aliases=1",
                                                 "d: reloaded generation=3 users=2 groups=1 aliases=1",
                                                 "e: reloaded generation=3 users=2 groups=1 aliases=1"}));
    EXPECT_EQ(rig.seen[1].load(), 3u);
    EXPECT_EQ(rig.installs.load(), 6u);
}
