// The LDAP session over a tree built from a small directory: a transcript
// at every cut (1, 2, 5, 10, 100 bytes and whole) gives the same replies;
// binds (anonymous, simple, wrong password, unknown DN, DN without
// password, SASL, version 2); every filter type, scopes, attribute
// selection, typesOnly, size and time limits, paging cookies, streaming in
// windows, abandon, compare, whoami, writes refused, unknown controls and
// extended operations; malformed PDUs get the Notice of Disconnection.
#include "ldap_test_client.hh"

#include "posthorn/proto/ldap_session.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

using namespace posthorn;
using namespace ldap_test;
using proto::ldap::session;

namespace {

directory::snapshot make_directory(size_t extra_users = 0) {
    std::vector<directory::user> users;
    users.push_back({"user1", "{PLAIN}secret1", "User One", {"user1@example.test", "one@example.test"}, "User", "One",
                     "Engineer", "R&D", "+1 555 0101"});
    users.push_back({"user2", "{PLAIN}secret2", "User Two", {"user2@example.test"}, "User", "Two", "Manager", "Sales"});
    users.push_back({"user3", "{PLAIN}secret3", "Abigail Brown", {"abby@example.test"}, "Abigail", "Brown"});
    users.push_back({"user4", "{PLAIN}secret4", "", {"user4@example.test"}});
    users.push_back({"user5", "{PLAIN}secret5", "Zed Zulu", {"zed@example.test"}, "", "Zulu"});
    for (size_t i = 0; i < extra_users; ++i) {
        std::string n = "bulk" + std::to_string(i);
        users.push_back({n, "{PLAIN}x", "Bulk User " + std::to_string(i), {n + "@example.test"}});
    }
    std::vector<directory::group> groups;
    groups.push_back({"staff", "Everyone", {"user1", "user2", "user3"}});
    groups.push_back({"ops", "Operations", {"user4"}});
    return directory::snapshot({"example.test"}, std::move(users), {}, std::move(groups));
}

int64_t g_now_ms = 0;
int64_t fake_clock() noexcept { return g_now_ms; }

class LdapTest : public ::testing::Test {
protected:
    void build(size_t extra = 0) {
        dir = std::make_unique<directory::snapshot>(make_directory(extra));
        std::string why;
        t = proto::ldap::build_tree(*dir, "", why);
        ASSERT_TRUE(t) << why;
    }
    void SetUp() override { build(); }
    std::unique_ptr<session> open() {
        auto s = std::make_unique<session>(cfg, t, "t1");
        s->start();
        return s;
    }
    // Feeds `input` in pieces of `cut` bytes the way access_node does:
    // checks binds against the directory, pulls windows while streaming,
    // refeeds what the session left.
    std::string converse(session& s, std::string_view input, size_t cut = SIZE_MAX, size_t window = 65536) {
        std::string got, held;
        auto run = [&] {
            for (;;) {
                size_t n = held.empty() ? 0 : s.feed(held);
                held.erase(0, n);
                got += s.output();
                s.output().clear();
                if (s.wants_close()) return;
                if (auto* req = s.pending_login()) {
                    const directory::user* u = dir->find_login(req->user);
                    bool ok = u && directory::verify_password(*u, req->password);
                    s.login_checked(ok, ok ? u->name : "");
                    continue;
                }
                if (s.streaming()) {
                    s.next_output(window);
                    continue;
                }
                if (n == 0) return;
            }
        };
        for (size_t i = 0; i < input.size(); i += cut) {
            held.append(input.substr(i, std::min(cut, input.size() - i)));
            run();
            if (s.wants_close()) break;
        }
        return got;
    }
    std::vector<response> talk(std::string_view input, session* s = nullptr) {
        std::unique_ptr<session> own;
        if (!s) {
            own = open();
            s = own.get();
        }
        std::vector<response> got;
        EXPECT_TRUE(parse(converse(*s, input), got));
        return got;
    }
    std::vector<std::string> dns_of(std::string filter, int scope = 2, std::string base = "dc=example,dc=test") {
        search_args a;
        a.filter = std::move(filter);
        a.scope = scope;
        a.base = std::move(base);
        a.attrs = {"1.1"};
        auto got = talk(search(2, a));
        std::vector<std::string> dns;
        EXPECT_FALSE(got.empty());
        for (auto& r : got)
            if (r.op == ber::application(4, true)) dns.push_back(r.dn);
        if (!got.empty()) {
            EXPECT_EQ(got.back().code, 0) << got.back().diagnostic;
        }
        return dns;
    }
    static std::string uid(std::string_view n) { return "uid=" + std::string(n) + ",ou=people,dc=example,dc=test"; }

    std::unique_ptr<directory::snapshot> dir;
    std::shared_ptr<const proto::ldap::tree> t;
    proto::ldap::session_config cfg;
};

constexpr uint8_t k_entry = ber::application(4, true), k_done = ber::application(5, true),
                  k_bind_response = ber::application(1, true), k_extended_response = ber::application(24, true);

}  // namespace

TEST_F(LdapTest, a_transcript_gets_the_same_replies_at_every_cut) {
    search_args by_mail;
    by_mail.filter = f_eq("mail", "USER2@example.test");
    search_args by_prefix;
    by_prefix.filter = f_sub("cn", "user", {}, {});
    by_prefix.attrs = {"cn", "mail"};
    const std::string input = bind(1, "", "") + search(2, by_mail) + bind(3, uid("user1"), "secret1") +
                              search(4, by_prefix) + whoami(5) + compare(6, uid("user2"), "sn", "two") +
                              add(7, "cn=x,dc=example,dc=test") + bind(8, uid("user1"), "wrong") + unbind(9);
    auto whole = open();
    const std::string expected = converse(*whole, input);
    std::vector<response> got;
    ASSERT_TRUE(parse(expected, got));
    ASSERT_EQ(got.size(), 12u);
    EXPECT_EQ(got[0].code, 0);
    EXPECT_EQ(got[1].dn, uid("user2"));
    EXPECT_EQ(got[2].code, 0);
    EXPECT_EQ(got[3].code, 0);
    EXPECT_EQ(got[4].dn, uid("user1"));
    EXPECT_EQ(got[5].dn, uid("user2"));
    EXPECT_EQ(got[6].dn, uid("user4"));   // no display name: cn is the name
    EXPECT_EQ(got[7].op, k_done);
    EXPECT_EQ(got[8].extended_value, "dn:" + uid("user1"));
    EXPECT_EQ(got[9].code, 6);     // compareTrue
    EXPECT_EQ(got[10].code, 53);   // add: read-only
    EXPECT_EQ(got[11].code, 49);
    EXPECT_TRUE(whole->wants_close());
    for (size_t cut : {1, 2, 5, 10, 100}) {
        auto s = open();
        EXPECT_EQ(converse(*s, input, cut), expected) << "cut " << cut;
        EXPECT_TRUE(s->wants_close()) << "cut " << cut;
    }
}

TEST_F(LdapTest, message_ids_are_echoed_and_pipelined_requests_answered_in_order) {
    auto got = talk(whoami(7) + whoami(3) + whoami(2147483647));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].id, 7);
    EXPECT_EQ(got[1].id, 3);
    EXPECT_EQ(got[2].id, 2147483647);
    EXPECT_TRUE(got[0].has_extended_value);
    EXPECT_EQ(got[0].extended_value, "");   // anonymous
}

TEST_F(LdapTest, a_wrong_password_and_an_unknown_dn_both_get_49_with_the_same_text) {
    auto s = open();
    auto wrong = talk(bind(1, uid("user1"), "nope"), s.get());
    auto unknown = talk(bind(2, uid("nobody"), "nope"), s.get());
    auto outside = talk(bind(3, "cn=admin,dc=example,dc=test", "nope"), s.get());
    ASSERT_EQ(wrong.size(), 1u);
    ASSERT_EQ(unknown.size(), 1u);
    ASSERT_EQ(outside.size(), 1u);
    EXPECT_EQ(wrong[0].op, k_bind_response);
    EXPECT_EQ(wrong[0].code, 49);
    EXPECT_EQ(unknown[0].code, 49);
    EXPECT_EQ(outside[0].code, 49);
    EXPECT_EQ(wrong[0].diagnostic, unknown[0].diagnostic);
    EXPECT_EQ(wrong[0].body.substr(3), unknown[0].body.substr(3));
    EXPECT_EQ(s->auth_failures(), 3u);
    EXPECT_EQ(s->bound_dn(), "");
}

TEST_F(LdapTest, a_bind_dn_is_compared_case_insensitively_with_spaces) {
    auto s = open();
    auto got = talk(bind(1, "UID=User1 , OU=People,DC=Example, dc=TEST", "secret1") + whoami(2), s.get());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].code, 0);
    EXPECT_EQ(got[1].extended_value, "dn:" + uid("user1"));
}

TEST_F(LdapTest, a_dn_with_an_empty_password_is_unwilling_to_perform) {
    auto got = talk(bind(1, uid("user1"), ""));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].code, 53);
}

TEST_F(LdapTest, sasl_and_ldap_version_2_are_refused_with_their_codes) {
    std::string sasl = message(1, ber::application(0, true),
                               integer(3) + octets("") + tlv(ber::context(3, true), octets("EXTERNAL")));
    auto got = talk(sasl + bind(2, uid("user1"), "secret1", 2));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].code, 7);
    EXPECT_EQ(got[1].code, 2);
}

TEST_F(LdapTest, with_anonymous_off_an_anonymous_client_reads_only_the_root_dse) {
    cfg.anonymous_allowed = false;
    search_args root;
    root.base = "";
    root.scope = 0;
    auto got = talk(bind(1, "", "") + search(2, root) + search(3, search_args{}) + bind(4, uid("user2"), "secret2") +
                    search(5, search_args{}));
    ASSERT_GE(got.size(), 5u);
    EXPECT_EQ(got[0].code, 0);
    EXPECT_EQ(got[1].dn, "");
    EXPECT_EQ(got[2].code, 0);
    EXPECT_EQ(got[3].code, 50);
    EXPECT_EQ(got[4].code, 0);
    EXPECT_EQ(got.back().code, 0);
    EXPECT_EQ(got.size(), 5u + 1 + 5 + 2 + 2 + 1);   // base, 2 ous, 5 people, 2 groups, done
}

TEST_F(LdapTest, each_filter_type_selects_what_it_should) {
    using v = std::vector<std::string>;
    EXPECT_EQ(dns_of(f_eq("mail", "ONE@example.test")), v{uid("user1")});
    EXPECT_EQ(dns_of(f_eq("2.5.4.4", "brown")), v{uid("user3")});   // sn by OID
    EXPECT_EQ(dns_of(f_sub("cn", "user", {}, {})), (v{uid("user1"), uid("user2"), uid("user4")}));
    EXPECT_EQ(dns_of(f_sub("mail", "", {"example"}, ".test")).size(), 5u);   // every user, once
    EXPECT_EQ(dns_of(f_sub("cn", "", {}, "ulu")), v{uid("user5")});
    EXPECT_EQ(dns_of(f_sub("displayName", "a", {"ga", "br"}, "wn")), v{uid("user3")});
    EXPECT_EQ(dns_of(f_sub("displayName", "a", {"br", "ga"}, "")), v{});   // pieces in order
    EXPECT_EQ(dns_of(f_ge("sn", "two")), (v{uid("user2"), uid("user4"), uid("user5")}));   // user4's sn: "user4"
    EXPECT_EQ(dns_of(f_le("sn", "brown")), v{uid("user3")});
    EXPECT_EQ(dns_of(f_present("telephoneNumber")), v{uid("user1")});
    EXPECT_EQ(dns_of(f_approx("cn", "userone")), v{uid("user1")});
    EXPECT_EQ(dns_of(f_and({f_eq("objectClass", "inetOrgPerson"), f_eq("givenName", "user")})),
              (v{uid("user1"), uid("user2")}));
    EXPECT_EQ(dns_of(f_or({f_eq("uid", "user4"), f_eq("mail", "zed@example.test")})), (v{uid("user4"), uid("user5")}));
    EXPECT_EQ(dns_of(f_and({f_eq("objectClass", "person"), f_not(f_present("givenName"))})),
              (v{uid("user4"), uid("user5")}));
    EXPECT_EQ(dns_of(f_eq("telephoneNumber", "+15550101")), v{uid("user1")});
    EXPECT_EQ(dns_of(f_eq("objectClass", "2.5.6.9")).size(), 2u);   // groupOfNames by OID
    // Undefined: an unknown type, or no rule; not(Undefined) is Undefined.
    EXPECT_EQ(dns_of(f_eq("shoeSize", "42")), v{});
    EXPECT_EQ(dns_of(f_not(f_eq("shoeSize", "42"))), v{});
    EXPECT_EQ(dns_of(f_not(f_present("shoeSize"))).size(), 10u);
    EXPECT_EQ(dns_of(f_and({})).size(), 10u);   // (&) is TRUE (RFC 4526)
    EXPECT_EQ(dns_of(f_or({})).size(), 0u);     // (|) is FALSE
}

TEST_F(LdapTest, case_folding_covers_latin_greek_and_cyrillic_letters) {
    std::vector<directory::user> users;
    // Élodie Łuczak, department Продажи
    users.push_back({"elodie", "{PLAIN}x", "\xc3\x89lodie \xc5\x81uczak", {"elodie@example.test"}, "", "", "",
                     "\xd0\x9f\xd1\x80\xd0\xbe\xd0\xb4\xd0\xb0\xd0\xb6\xd0\xb8"});
    users.push_back({"other", "{PLAIN}x", "Other", {"other@example.test"}});
    dir = std::make_unique<directory::snapshot>(std::vector<std::string>{"example.test"}, std::move(users),
                                                std::unordered_map<std::string, std::vector<std::string>>{});
    std::string why;
    t = proto::ldap::build_tree(*dir, "", why);
    ASSERT_TRUE(t) << why;
    using v = std::vector<std::string>;
    EXPECT_EQ(dns_of(f_sub("cn", "\xc3\xa9lodie \xc5\x82", {}, {})), v{uid("elodie")});   // "élodie ł*"
    EXPECT_EQ(dns_of(f_eq("ou", "\xd0\xbf\xd0\xa0\xd0\x9e\xd0\xb4\xd0\xb0\xd0\xb6\xd0\xb8")),   // "пРОдажи"
              v{uid("elodie")});
    EXPECT_EQ(dns_of(f_eq("cn", "\xc3\xa9lodie")), v{});
}

TEST_F(LdapTest, groups_have_members_and_people_have_member_of) {
    using v = std::vector<std::string>;
    EXPECT_EQ(dns_of(f_eq("member", "UID=user4, ou=people,dc=example,dc=test"), 1, "ou=groups,dc=example,dc=test"),
              v{"cn=ops,ou=groups,dc=example,dc=test"});
    EXPECT_EQ(dns_of(f_eq("memberOf", "cn=STAFF,ou=groups,dc=example,dc=test")),
              (v{uid("user1"), uid("user2"), uid("user3")}));
    search_args a;
    a.filter = f_eq("uid", "user1");
    a.attrs = {"memberOf"};
    auto got = talk(search(1, a));
    ASSERT_EQ(got.size(), 2u);
    ASSERT_EQ(got[0].attrs.size(), 1u);
    EXPECT_EQ(got[0].attrs[0].first, "memberOf");
    EXPECT_EQ(got[0].attrs[0].second, v{"cn=staff,ou=groups,dc=example,dc=test"});
}

TEST_F(LdapTest, scopes_base_one_and_sub) {
    EXPECT_EQ(dns_of(f_present("objectClass"), 0).size(), 1u);
    EXPECT_EQ(dns_of(f_present("objectClass"), 1).size(), 2u);
    EXPECT_EQ(dns_of(f_present("objectClass"), 2).size(), 10u);
    EXPECT_EQ(dns_of(f_present("objectClass"), 1, "ou=people,dc=example,dc=test").size(), 5u);
    EXPECT_EQ(dns_of(f_present("objectClass"), 2, "ou=groups,dc=example,dc=test").size(), 3u);
    EXPECT_EQ(dns_of(f_eq("mail", "zed@example.test"), 1, "ou=groups,dc=example,dc=test").size(), 0u);
    search_args missing;
    missing.base = "uid=ghost,ou=people,dc=example,dc=test";
    auto got = talk(search(1, missing));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].code, 32);
    missing.base = "not a dn";
    got = talk(search(2, missing));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].code, 34);
}

TEST_F(LdapTest, attribute_selection_star_plus_one_one_and_types_only) {
    search_args a;
    a.filter = f_eq("uid", "user2");
    auto names = [&](std::vector<std::string> attrs, bool types_only = false) {
        a.attrs = std::move(attrs);
        a.types_only = types_only;
        auto got = talk(search(1, a));
        std::vector<std::string> out;
        EXPECT_EQ(got.size(), 2u);
        for (auto& [n, vals] : got[0].attrs) {
            out.push_back(n);
            if (types_only) {
                EXPECT_TRUE(vals.empty()) << n;
            }
        }
        return out;
    };
    using v = std::vector<std::string>;
    EXPECT_EQ(names({}), (v{"objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "title", "ou"}));
    EXPECT_EQ(names({"*"}), names({}));
    EXPECT_EQ(names({"1.1"}), v{});
    EXPECT_EQ(names({"CN", "commonName", "Mail"}), (v{"cn", "mail"}));
    EXPECT_EQ(names({"+"}), (v{"memberOf", "entryDN", "structuralObjectClass", "subschemaSubentry", "hasSubordinates"}));
    EXPECT_EQ(names({"mail", "+"}).size(), 6u);
    EXPECT_EQ(names({"sn"}, true), v{"sn"});
}

TEST_F(LdapTest, the_root_dse_and_the_subschema_say_what_is_supported) {
    search_args a;
    a.base = "";
    a.scope = 0;
    a.attrs = {"+"};
    auto got = talk(search(1, a));
    ASSERT_EQ(got.size(), 2u);
    std::map<std::string, std::vector<std::string>> attrs(got[0].attrs.begin(), got[0].attrs.end());
    EXPECT_EQ(attrs["namingContexts"], std::vector<std::string>{"dc=example,dc=test"});
    EXPECT_EQ(attrs["supportedLDAPVersion"], std::vector<std::string>{"3"});
    EXPECT_EQ(attrs["subschemaSubentry"], std::vector<std::string>{"cn=Subschema"});
    EXPECT_NE(std::find(attrs["supportedControl"].begin(), attrs["supportedControl"].end(), "1.2.840.113556.1.4.319"),
              attrs["supportedControl"].end());
    a.base = "cn=subschema";
    a.attrs = {"attributeTypes", "objectClasses"};
    a.filter = f_eq("objectClass", "subschema");
    got = talk(search(2, a));
    ASSERT_EQ(got.size(), 2u);
    ASSERT_EQ(got[0].attrs.size(), 2u);
    bool has_mail = false, has_person = false;
    for (auto& d : got[0].attrs[0].second) has_mail = has_mail || d.find("NAME ( 'mail' 'rfc822Mailbox' )") != d.npos;
    for (auto& d : got[0].attrs[1].second)
        has_person = has_person || d == "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( "
                                        "telephoneNumber $ description ) )";
    EXPECT_TRUE(has_mail);
    EXPECT_TRUE(has_person);
}

TEST_F(LdapTest, a_size_limit_returns_entries_up_to_it_then_code_4) {
    search_args a;
    a.filter = f_eq("objectClass", "inetOrgPerson");
    a.size_limit = 3;
    auto got = talk(search(1, a));
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[3].code, 4);
    a.size_limit = 5;   // exactly as many as there are: success
    got = talk(search(2, a));
    ASSERT_EQ(got.size(), 6u);
    EXPECT_EQ(got[5].code, 0);
    cfg.size_limit = 2;   // the server's limit wins when smaller
    a.size_limit = 0;
    got = talk(search(3, a));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2].code, 4);
}

TEST_F(LdapTest, a_time_limit_gives_code_3) {
    build(3000);
    g_now_ms = 1000;
    cfg.clock_ms = &fake_clock;
    cfg.search_window_bytes = 4096;
    cfg.size_limit = 0;
    auto s = open();
    search_args a;
    a.time_limit = 1;
    s->feed(search(1, a));
    ASSERT_TRUE(s->streaming());
    g_now_ms += 5000;
    while (s->streaming()) s->next_output(4096);
    std::vector<response> got;
    ASSERT_TRUE(parse(s->output(), got));
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().op, k_done);
    EXPECT_EQ(got.back().code, 3);
    EXPECT_LT(got.size(), 3000u);
}

TEST_F(LdapTest, paged_results_walk_the_whole_result_with_cookies) {
    search_args a;
    a.filter = f_eq("objectClass", "inetOrgPerson");
    a.attrs = {"1.1"};
    std::vector<std::string> seen;
    std::string cookie;
    int pages = 0;
    do {
        a.controls = paged(2, cookie);
        auto got = talk(search(++pages, a));
        ASSERT_FALSE(got.empty());
        ASSERT_EQ(got.back().code, 0) << got.back().diagnostic;
        for (auto& r : got)
            if (r.op == k_entry) seen.push_back(r.dn);
        EXPECT_LE(got.size(), 3u);
        cookie = paged_cookie(got.back());
    } while (!cookie.empty() && pages < 10);
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(seen, (std::vector<std::string>{uid("user1"), uid("user2"), uid("user3"), uid("user4"), uid("user5")}));
}

TEST_F(LdapTest, a_paging_cookie_from_another_search_is_refused_and_size_0_ends_paging) {
    search_args a;
    a.controls = paged(2, "");
    auto got = talk(search(1, a));
    std::string cookie = paged_cookie(got.back());
    ASSERT_FALSE(cookie.empty());
    search_args other = a;
    other.filter = f_present("mail");
    other.controls = paged(2, cookie);
    got = talk(search(2, other));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].code, 53);
    other.controls = paged(2, "garbage");
    got = talk(search(3, other));
    EXPECT_EQ(got.back().code, 53);
    a.controls = paged(0, cookie);
    got = talk(search(4, a));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].code, 0);
    EXPECT_EQ(paged_cookie(got[0]), "");
}

TEST_F(LdapTest, a_large_search_streams_one_window_at_a_time) {
    build(2000);
    cfg.size_limit = 0;
    cfg.search_window_bytes = 4096;
    auto s = open();
    search_args a;
    a.filter = f_sub("cn", "bulk", {}, {});
    EXPECT_EQ(s->feed(search(1, a)), search(1, a).size());
    EXPECT_TRUE(s->streaming());
    size_t entries = 0, windows = 0;
    for (;;) {
        EXPECT_LT(s->output().size(), 4096u + 1024u);   // one window plus at most one entry
        std::vector<response> got;
        ASSERT_TRUE(parse(s->output(), got));
        for (auto& r : got) entries += r.op == k_entry;
        s->output().clear();
        if (!s->streaming()) break;
        s->next_output(4096);
        ++windows;
    }
    EXPECT_EQ(entries, 2000u);
    EXPECT_GT(windows, 20u);
}

TEST_F(LdapTest, abandon_stops_a_streaming_search_without_a_result_and_the_next_request_waits) {
    build(2000);
    cfg.size_limit = 0;
    cfg.search_window_bytes = 4096;
    auto s = open();
    const std::string input = search(5, search_args{}) + whoami(6) + abandon(7, 5);
    size_t used = s->feed(input);
    EXPECT_TRUE(s->streaming());
    EXPECT_EQ(used, search(5, search_args{}).size());   // the WhoAmI waits for the search
    s->output().clear();
    // An Abandon right behind the search is taken while it streams; the
    // search ends without a result and the next request is answered.
    auto s2 = open();
    const std::string input2 = search(5, search_args{}) + abandon(6, 5) + whoami(7);
    EXPECT_EQ(s2->feed(input2), input2.size());
    EXPECT_FALSE(s2->streaming());
    std::vector<response> got;
    ASSERT_TRUE(parse(s2->output(), got));
    ASSERT_GT(got.size(), 1u);
    for (auto& r : got) EXPECT_NE(r.op, k_done);
    EXPECT_LT(got.size(), 2000u);
    EXPECT_EQ(got.back().id, 7);
    EXPECT_EQ(got.back().op, k_extended_response);
}

TEST_F(LdapTest, compare_answers_true_false_and_errors) {
    auto got = talk(compare(1, uid("user1"), "mail", "ONE@example.test") + compare(2, uid("user1"), "sn", "Two") +
                    compare(3, uid("ghost"), "sn", "x") + compare(4, uid("user1"), "shoeSize", "9") +
                    compare(5, uid("user4"), "title", "x"));
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0].code, 6);
    EXPECT_EQ(got[1].code, 5);
    EXPECT_EQ(got[2].code, 32);
    EXPECT_EQ(got[3].code, 17);
    EXPECT_EQ(got[4].code, 16);
}

TEST_F(LdapTest, writes_are_refused_and_unknown_extensions_and_critical_controls_get_their_codes) {
    const std::string modify = message(1, ber::application(6, true), octets(uid("user1")) + seq(""));
    const std::string del = message(2, ber::application(10, false), uid("user1"));
    const std::string moddn = message(3, ber::application(12, true), octets(uid("user1")) + octets("uid=x") +
                                                                         tlv(ber::t_boolean, "\xff"));
    search_args critical;
    critical.controls = control("1.2.3.4.5", true);
    search_args harmless;
    harmless.controls = control("1.2.3.4.5", false);
    harmless.filter = f_eq("uid", "user1");
    auto got = talk(modify + del + moddn + add(4, "cn=x,dc=example,dc=test") + extended(5, "1.3.6.1.4.1.1466.20037") +
                    search(6, critical) + search(7, harmless));
    ASSERT_EQ(got.size(), 8u);
    EXPECT_EQ(got[0].op, ber::application(7, true));
    EXPECT_EQ(got[0].code, 53);
    EXPECT_EQ(got[1].op, ber::application(11, true));
    EXPECT_EQ(got[1].code, 53);
    EXPECT_EQ(got[2].op, ber::application(13, true));
    EXPECT_EQ(got[3].op, ber::application(9, true));
    EXPECT_EQ(got[3].code, 53);
    EXPECT_EQ(got[4].op, k_extended_response);
    EXPECT_EQ(got[4].code, 2);
    EXPECT_EQ(got[5].code, 12);
    EXPECT_EQ(got[6].dn, uid("user1"));
    EXPECT_EQ(got[7].code, 0);
}

// --- malformed input: the Notice of Disconnection, then close.

namespace {
void expect_notice(const std::string& out) {
    std::vector<response> got;
    ASSERT_TRUE(parse(out, got)) << "output does not parse";
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().id, 0);
    EXPECT_EQ(got.back().op, ber::application(24, true));
    EXPECT_EQ(got.back().code, 2);
    EXPECT_EQ(got.back().extended_name, "1.3.6.1.4.1.1466.20036");
}
}  // namespace

TEST_F(LdapTest, malformed_pdus_get_the_notice_of_disconnection_and_close) {
    std::string nested;   // 40 levels of (!(...)): over filter_depth_max
    nested = f_present("cn");
    for (int i = 0; i < 40; ++i) nested = f_not(nested);
    search_args deep;
    deep.filter = nested;
    const std::string cases[] = {
        std::string("\x30\x80\x02\x01\x01\x42\x00\x00\x00", 9),               // indefinite length
        std::string("\x30\x85\x00\x00\x00\x00\x05", 7),                      // 5 length bytes
        std::string("\x30\x84\x40\x00\x00\x00", 6),                          // 1 GiB
        std::string("\x04\x03" "abc"),                                        // not a SEQUENCE
        std::string("\x30\x05\x02\x01\x01\x99\x00", 7),                       // unknown operation
        std::string("\x30\x06\x02\x01\x01\x42\x05\x00", 8),                   // inner length past the parent
        std::string("\x30\x03\x02\x01\x01", 5),                               // no operation
        std::string("\x30\x05\x02\x01\xff\x42\x00", 7),                       // negative message ID
        std::string("\x3f\x05\x02\x01\x01\x42\x00", 7),                       // multi-byte tag
        search(1, deep),
        message(1, ber::application(3, true), octets("dc=example,dc=test")),  // truncated search
        "GET / HTTP/1.1\r\n\r\n",
    };
    for (const auto& bad : cases) {
        for (size_t cut : {size_t{1}, SIZE_MAX}) {
            auto s = open();
            std::string out = converse(*s, whoami(1) + bad + whoami(2), cut);
            expect_notice(out);
            std::vector<response> got;
            ASSERT_TRUE(parse(out, got));
            ASSERT_EQ(got.size(), 2u) << "the WhoAmI before is answered, the one after is not";
            EXPECT_EQ(got[0].id, 1);
            EXPECT_TRUE(s->wants_close());
            EXPECT_NE(s->last_error(), "");
        }
    }
}

TEST_F(LdapTest, a_1_gib_length_is_refused_from_its_header_alone) {
    auto s = open();
    EXPECT_EQ(s->feed(std::string("\x30\x84\x40", 3)), 3u);
    EXPECT_FALSE(s->wants_close());   // the length is not all there yet
    EXPECT_EQ(s->feed(std::string("\x00\x00\x00", 3)), 3u);
    EXPECT_TRUE(s->wants_close());
    EXPECT_EQ(s->last_error(), "pdu_too_big");
    expect_notice(s->output());
}

TEST_F(LdapTest, the_tree_base_follows_the_primary_domain_or_the_config) {
    EXPECT_EQ(proto::ldap::tree_base(*t), "dc=example,dc=test");
    std::string why;
    auto other = proto::ldap::build_tree(*dir, "o=Example Corp", why);
    ASSERT_TRUE(other) << why;
    EXPECT_EQ(proto::ldap::tree_base(*other), "o=Example Corp");
    EXPECT_FALSE(proto::ldap::build_tree(*dir, "no dn here", why));
    EXPECT_NE(why, "");
}

TEST_F(LdapTest, after_the_host_swaps_the_tree_the_next_request_reads_the_new_one_and_a_streaming_search_the_old) {
    build(2000);
    cfg.size_limit = 0;
    cfg.search_window_bytes = 4096;
    std::shared_ptr<const proto::ldap::tree> current = t;
    session s(cfg, current, "t1");
    search_args all;
    all.attrs = {"1.1"};
    s.feed(search(1, all));
    ASSERT_TRUE(s.streaming());
    // A reload: a directory without the bulk users and with user9.
    std::vector<directory::user> users;
    users.push_back({"user9", "{PLAIN}nine", "User Nine", {"user9@example.test"}});
    auto next_dir = std::make_unique<directory::snapshot>(std::vector<std::string>{"example.test"}, std::move(users),
                                                          std::unordered_map<std::string, std::vector<std::string>>{});
    std::string why;
    current = proto::ldap::build_tree(*next_dir, "", why);
    next_dir.reset();   // the tree keeps nothing of its snapshot
    t.reset();          // the session's share keeps the old tree alive
    while (s.streaming()) s.next_output(4096);
    std::vector<response> got;
    ASSERT_TRUE(parse(s.output(), got));
    EXPECT_EQ(got.size(), 3u + 2005 + 2 + 1);   // base, 2 ous, the old people, 2 groups, done
    s.output().clear();
    search_args nine;
    nine.filter = f_eq("mail", "user9@example.test");
    s.feed(search(2, nine) + bind(3, uid("user9"), "nine"));
    got.clear();
    ASSERT_TRUE(parse(s.output(), got));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].dn, uid("user9"));
    ASSERT_NE(s.pending_login(), nullptr);
    EXPECT_EQ(s.pending_login()->user, "user9");
}
