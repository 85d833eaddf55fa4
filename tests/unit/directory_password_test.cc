// verify_password: {PLAIN} and crypt(3) hashes (yescrypt, SHA-512), wrong
// passwords, unusable hashes; find_login by name or address.
#include "posthorn/directory.hh"

#include <gtest/gtest.h>

#include <crypt.h>

using namespace posthorn::directory;

namespace {
user with_hash(std::string hash) { return user{"u", std::move(hash), "", {}}; }

std::string crypt_hash(const char* prefix, const char* password) {
    char* salt = crypt_gensalt_ra(prefix, 0, nullptr, 0);
    EXPECT_NE(salt, nullptr);
    crypt_data data{};
    std::string out = crypt_r(password, salt, &data);
    std::free(salt);
    return out;
}
}  // namespace

TEST(directory_password, plain_hash_matches_only_the_same_bytes) {
    auto u = with_hash("{PLAIN}secret");
    EXPECT_TRUE(verify_password(u, "secret"));
    EXPECT_FALSE(verify_password(u, "Secret"));
    EXPECT_FALSE(verify_password(u, "secre"));
    EXPECT_FALSE(verify_password(u, "secrets"));
    EXPECT_FALSE(verify_password(u, ""));
}

TEST(directory_password, yescrypt_hash_is_checked_through_crypt) {
    auto u = with_hash(crypt_hash("$y$", "s3cret pass"));
    ASSERT_EQ(u.password_hash.substr(0, 3), "$y$");
    EXPECT_TRUE(verify_password(u, "s3cret pass"));
    EXPECT_FALSE(verify_password(u, "s3cret pasS"));
    EXPECT_FALSE(verify_password(u, ""));
}

TEST(directory_password, sha512_hash_is_checked_through_crypt) {
    auto u = with_hash(crypt_hash("$6$", "hunter2"));
    ASSERT_EQ(u.password_hash.substr(0, 3), "$6$");
    EXPECT_TRUE(verify_password(u, "hunter2"));
    EXPECT_FALSE(verify_password(u, "hunter3"));
}

TEST(directory_password, empty_or_unusable_hash_never_matches) {
    EXPECT_FALSE(verify_password(with_hash(""), ""));
    EXPECT_FALSE(verify_password(with_hash("*"), "*"));
    EXPECT_FALSE(verify_password(with_hash("!locked"), "!locked"));
    EXPECT_FALSE(verify_password(with_hash("{PLAIN}a"), std::string_view("a\0", 2)));
}

TEST(directory_password, nobody_never_matches) {
    EXPECT_FALSE(verify_password_of_nobody("posthorn-nobody"));
    EXPECT_FALSE(verify_password_of_nobody(""));
}

TEST(directory_login, finds_users_by_name_or_address_in_any_case) {
    std::vector<user> users;
    users.push_back({"user1", "{PLAIN}user1", "User One", {"user1@example.test", "one@example.test"}});
    snapshot d({"example.test"}, std::move(users), {});
    ASSERT_NE(d.find_login("USER1"), nullptr);
    EXPECT_EQ(d.find_login("One@Example.Test")->name, "user1");
    EXPECT_EQ(d.find_login("user1@example.test")->name, "user1");
    EXPECT_EQ(d.find_login("nobody"), nullptr);
    EXPECT_EQ(d.find_login("one@other.test"), nullptr);
}

TEST(directory_password, the_demo_scheme_ignores_ascii_case_for_the_labs_upper_case_logins) {
    posthorn::directory::user u{"user1", "{DEMO}user1", "User One", {"user1@example.test"}};
    EXPECT_TRUE(posthorn::directory::verify_password(u, "user1"));
    EXPECT_TRUE(posthorn::directory::verify_password(u, "USER1"));
    EXPECT_FALSE(posthorn::directory::verify_password(u, "user2"));
    EXPECT_FALSE(posthorn::directory::verify_password(u, "user"));
    EXPECT_TRUE(posthorn::directory::password_check_is_cheap(&u));
    EXPECT_FALSE(posthorn::directory::password_check_is_cheap(nullptr));
}
