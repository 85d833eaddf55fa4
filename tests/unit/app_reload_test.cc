// Directory reloads without the daemon (src/app/directory_reload.hh): a
// generation built from a parsed config, the keys a reload cannot apply, a
// shard's switch (handle first, then its listeners), and an SMTP session
// that sees a reload between two commands.
#include "app/directory_reload.hh"

#include "posthorn/core/chunk.hh"
#include "posthorn/core/log.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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
