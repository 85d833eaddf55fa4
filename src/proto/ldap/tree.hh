// proto/ldap/tree: the directory as LDAP entries (ldap_session.hh says what
// the tree holds). Built once from a directory::snapshot, immutable after:
// shards share one read-only; a reload builds a new tree from the new
// snapshot. Every entry keeps its DN, its values raw and normalized
// (schema.hh matching), and its attributes already BER-encoded as
// PartialAttributes, so a search result is headers plus memcpy.
//
// Layout: entries[0] is the base, [1] ou=people, [2] ou=groups, then the
// people, then the groups, then the rootDSE and cn=Subschema (outside the
// base's subtree). Children and descendants are contiguous index ranges,
// so scopes are ranges and every traversal runs in ascending index order
// (what paging cookies rely on).
//
// Indexes: for mail, uid, cn, sn, givenName and displayName, a sorted vector
// of (normalized value, entry) pairs: equality is an equal_range, a
// substring's initial piece a prefix range.
//
// Threading: immutable after build; any thread may read it. It holds
// nothing of the snapshot it was built from, so a reload may free that.
#pragma once

#include "posthorn/core/text.hh"
#include "posthorn/directory.hh"
#include "proto/ldap/schema.hh"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthorn::proto::ldap {

struct value {
    std::string raw;
    std::string norm;
};

struct attribute {
    attr type;
    uint32_t first_value = 0;   // into entry::values
    uint32_t value_count = 0;
    uint32_t ber_offset = 0;    // its PartialAttribute in entry::ber
    uint32_t ber_length = 0;
};

struct entry {
    std::string dn;
    std::string dn_norm;
    static constexpr uint32_t npos = UINT32_MAX;
    uint32_t parent = npos;
    uint32_t child_begin = 0, child_end = 0;   // direct children
    uint32_t desc_begin = 0, desc_end = 0;     // all descendants
    std::string user;                          // people: the user's name ("" for others); the tree
                                               // keeps no pointer into the snapshot it was built from
    std::vector<attribute> attrs;
    std::vector<value> values;
    std::string ber;

    const attribute* find(attr a) const noexcept {
        for (const auto& x : attrs)
            if (x.type == a) return &x;
        return nullptr;
    }
};

class tree {
public:
    struct index_key {
        std::string_view norm;
        uint32_t entry;
    };
    using index = std::vector<index_key>;

    std::string base;
    std::string base_norm;
    std::vector<entry> entries;
    uint32_t root_dse = 0;
    uint32_t subschema = 0;
    core::string_map<uint32_t> by_dn;           // normalized DN -> entry
    std::array<index, a_count> indexes;         // empty for unindexed types
    uint64_t user_attrs_mask = 0;               // what "*" selects
    uint64_t operational_mask = 0;              // what "+" selects
    uint64_t generation = 0;                    // mixed into paging cookies

    bool indexed(attr a) const noexcept { return a == a_mail || a == a_uid || a == a_cn || a == a_sn ||
                                                 a == a_given_name || a == a_display_name; }
    const entry* find_dn(std::string_view norm) const noexcept {
        auto it = by_dn.find(norm);
        return it == by_dn.end() ? nullptr : &entries[it->second];
    }
};

}  // namespace posthorn::proto::ldap
