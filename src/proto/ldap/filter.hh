// proto/ldap/filter: search filters (RFC 4511 §4.5.1.7): decoded from BER
// into a flat pre-order array that owns its (normalized) assertion values,
// evaluated against entries with three-valued logic (TRUE, FALSE,
// Undefined: an unknown attribute type, a type with no rule for the test,
// a value that is not valid for its syntax), and turned into index
// candidates where it can (tree.hh: equality and initial substrings on the
// indexed types; AND takes its smallest indexed child, OR the union when
// every child is indexed; anything else scans).
//
// Limits: depth_max levels of and/or/not, nodes_max nodes; over either, or
// any BER fault, decode() fails with a reason and the session disconnects.
// Threading: a filter belongs to one search; the tree is read-only.
#pragma once

#include "proto/ldap/ber.hh"
#include "proto/ldap/schema.hh"
#include "proto/ldap/tree.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::ldap {

enum class tri : uint8_t { false_, true_, undefined };

enum class fkind : uint8_t {
    and_, or_, not_, equal, substrings, greater_or_equal, less_or_equal, present, approx,
    piece_initial, piece_any, piece_final,   // children of substrings
    constant,                                // a test decided at decode time (unknown type...)
};

struct filter_node {
    fkind kind;
    attr type = a_object_class;
    tri constant = tri::undefined;   // for fkind::constant
    uint32_t end = 0;                // index past this node's subtree
    uint32_t value_offset = 0, value_length = 0;   // into filter::arena
};

class filter {
public:
    std::vector<filter_node> nodes;
    std::string arena;

    // Decodes one Filter element from `r`. False with `reason` on a fault.
    bool decode(ber::reader& r, uint32_t depth_max, uint32_t nodes_max, const char*& reason);
    tri evaluate(const entry& e) const noexcept { return eval(0, e); }
    // Candidate entries (ascending, unique) from the indexes; false when
    // the filter needs a scan.
    bool candidates(const tree& t, std::vector<uint32_t>& out) const;

    std::string_view value(const filter_node& n) const noexcept { return {arena.data() + n.value_offset, n.value_length}; }

private:
    bool decode_node(ber::reader& r, uint32_t depth, uint32_t depth_max, uint32_t nodes_max, const char*& reason);
    tri eval(uint32_t i, const entry& e) const noexcept;
    bool candidates_of(const tree& t, uint32_t i, std::vector<uint32_t>& out) const;
};

// The three-valued test of one assertion against an entry (Compare uses it).
tri equality(const entry& e, attr a, std::string_view norm) noexcept;

}  // namespace posthorn::proto::ldap
