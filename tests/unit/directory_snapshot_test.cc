#include "posthorn/directory.hh"

#include <gtest/gtest.h>

using namespace posthorn::directory;

namespace {
snapshot demo() {
    std::vector<user> users;
    users.push_back({"user1", "{PLAIN}user1", "User One", {"user1@example.test"}});
    users.push_back({"User2", "{PLAIN}user2", "User Two", {"user2@example.test", "two@example.test"}});
    return snapshot({"Example.Test", "localhost"}, std::move(users),
                    {{"postmaster@example.test", {"user1@example.test"}}});
}
}  // namespace

TEST(directory_snapshot, addresses_resolve_case_insensitively) {
    auto d = demo();
    auto r = d.resolve("USER1@EXAMPLE.TEST");
    ASSERT_EQ(r.kind, address_kind::local_user);
    EXPECT_EQ(r.owner->name, "user1");
    EXPECT_EQ(d.resolve("two@example.test").owner->name, "user2");
}

TEST(directory_snapshot, user_names_resolve_in_every_local_domain) {
    auto d = demo();
    auto r = d.resolve("user2@localhost");
    ASSERT_EQ(r.kind, address_kind::local_user);
    EXPECT_EQ(r.owner->name, "user2");
}

TEST(directory_snapshot, unknown_local_foreign_and_alias_are_told_apart) {
    auto d = demo();
    EXPECT_EQ(d.resolve("nobody@example.test").kind, address_kind::unknown_local);
    EXPECT_EQ(d.resolve("user1@elsewhere.test").kind, address_kind::foreign);
    auto a = d.resolve("Postmaster@example.test");
    ASSERT_EQ(a.kind, address_kind::alias);
    EXPECT_EQ(a.targets->front(), "user1@example.test");
    EXPECT_EQ(d.primary_domain(), "example.test");
}

TEST(directory_snapshot, groups_know_their_members_and_users_their_groups) {
    std::vector<user> users;
    users.push_back({"user1", "{PLAIN}a", "User One", {"user1@example.test"}, "User", "One", "", "", ""});
    users.push_back({"user2", "{PLAIN}b", "User Two", {"user2@example.test"}, "", "", "", "", ""});
    users.push_back({"user3", "{PLAIN}c", "User Three", {}, "", "", "", "", ""});
    std::vector<group> groups;
    groups.push_back({"staff", "Everyone", {"USER1", "user2"}});
    groups.push_back({"admins", "", {"user2"}});
    snapshot d({"example.test"}, std::move(users), {}, std::move(groups));
    ASSERT_EQ(d.groups().size(), 2u);
    EXPECT_EQ(d.groups()[0].members[0], "user1");  // lower-cased, as user names are
    const user* u2 = d.find_user("user2");
    ASSERT_NE(u2, nullptr);
    EXPECT_EQ(d.groups_of(*u2), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(d.groups_of(*d.find_user("user1")), (std::vector<size_t>{0}));
    EXPECT_TRUE(d.groups_of(*d.find_user("user3")).empty());
}

TEST(directory_handle, replace_makes_the_next_lookup_see_the_new_snapshot) {
    handle h{demo()};
    EXPECT_EQ(h.generation(), 0u);
    EXPECT_EQ(h.current().resolve("user9@example.test").kind, address_kind::unknown_local);
    std::vector<user> users;
    users.push_back({"user9", "{PLAIN}user9", "User Nine", {"user9@example.test"}});
    h.replace(std::make_shared<const snapshot>(std::vector<std::string>{"example.test"}, std::move(users),
                                               std::unordered_map<std::string, std::vector<std::string>>{}));
    EXPECT_EQ(h.generation(), 1u);
    EXPECT_EQ(h.current().resolve("user9@example.test").kind, address_kind::local_user);
    EXPECT_EQ(h.current().resolve("user1@example.test").kind, address_kind::unknown_local);
}

TEST(directory_handle, a_shared_snapshot_outlives_its_replacement_and_is_freed_after_its_last_holder) {
    handle h{demo()};
    std::shared_ptr<const snapshot> kept = h.share();
    const user* u1 = kept->find_login("user1");
    ASSERT_NE(u1, nullptr);
    std::weak_ptr<const snapshot> old = kept;
    h.replace(std::make_shared<const snapshot>(demo()));
    ASSERT_FALSE(old.expired());
    EXPECT_EQ(u1->name, "user1");  // still readable: `kept` holds its snapshot
    EXPECT_NE(&h.current(), kept.get());
    kept.reset();
    EXPECT_TRUE(old.expired());
}
