// Search filters: decode, evaluate, index candidates (filter.hh).
#include "proto/ldap/filter.hh"

#include <algorithm>

namespace posthorn::proto::ldap {
namespace {

constexpr uint8_t f_and = ber::context(0, true), f_or = ber::context(1, true), f_not = ber::context(2, true),
                  f_equal = ber::context(3, true), f_substrings = ber::context(4, true),
                  f_ge = ber::context(5, true), f_le = ber::context(6, true), f_present = ber::context(7, false),
                  f_approx = ber::context(8, true), f_extensible = ber::context(9, true);

bool alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || static_cast<uint8_t>(c) >= 0x80; }

// approxMatch: equal once everything but letters and digits is dropped.
bool approx_equal(std::string_view a, std::string_view b) noexcept {
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a.size() && !alnum(a[i])) ++i;
        while (j < b.size() && !alnum(b[j])) ++j;
        if (i == a.size() || j == b.size()) return i == a.size() && j == b.size();
        if (a[i++] != b[j++]) return false;
    }
}

}  // namespace

bool filter::decode(ber::reader& r, uint32_t depth_max, uint32_t nodes_max, const char*& reason) {
    nodes.clear();
    arena.clear();
    return decode_node(r, 0, depth_max, nodes_max, reason);
}

bool filter::decode_node(ber::reader& r, uint32_t depth, uint32_t depth_max, uint32_t nodes_max, const char*& reason) {
    auto bad = [&](const char* why) {
        reason = why;
        return false;
    };
    if (nodes.size() >= nodes_max) return bad("filter_too_many_nodes");
    if (depth > depth_max) return bad("filter_nesting_too_deep");
    uint8_t tag = 0;
    std::string_view body;
    if (!r.any(tag, body)) return bad(r.reason());
    const uint32_t me = static_cast<uint32_t>(nodes.size());
    nodes.push_back({});
    auto set_value = [&](attr a, std::string_view raw, bool piece) {
        filter_node& n = nodes.back();
        n.value_offset = static_cast<uint32_t>(arena.size());
        if (piece) normalize_piece(a, raw, arena);
        else if (!normalize_value(a, raw, arena)) {
            n.kind = fkind::constant;   // not a valid value of the syntax: Undefined
            n.constant = tri::undefined;
        }
        n.value_length = static_cast<uint32_t>(arena.size() - n.value_offset);
    };
    switch (tag) {
    case f_and:
    case f_or: {
        nodes[me].kind = tag == f_and ? fkind::and_ : fkind::or_;
        ber::reader set(body);
        while (!set.empty())
            if (!decode_node(set, depth + 1, depth_max, nodes_max, reason)) return false;
        break;
    }
    case f_not: {
        nodes[me].kind = fkind::not_;
        ber::reader inner(body);
        if (!decode_node(inner, depth + 1, depth_max, nodes_max, reason)) return false;
        if (!inner.empty()) return bad("not_with_two_filters");
        break;
    }
    case f_equal:
    case f_ge:
    case f_le:
    case f_approx: {
        ber::reader ava(body);
        std::string_view desc, raw;
        if (!ava.element(ber::t_octets, desc) || !ava.element(ber::t_octets, raw)) return bad(ava.reason());
        if (!ava.empty()) return bad("assertion_trailing_bytes");
        auto type = find_attribute(desc);
        filter_node& n = nodes[me];
        n.kind = tag == f_equal ? fkind::equal : tag == f_ge ? fkind::greater_or_equal
                 : tag == f_le ? fkind::less_or_equal : fkind::approx;
        if (!type) {
            n.kind = fkind::constant;
            n.constant = tri::undefined;
            break;
        }
        n.type = *type;
        set_value(*type, raw, false);
        break;
    }
    case f_present: {
        auto type = find_attribute(body);
        filter_node& n = nodes[me];
        n.kind = type ? fkind::present : fkind::constant;
        n.constant = tri::false_;
        if (type) n.type = *type;
        break;
    }
    case f_substrings: {
        ber::reader sf(body), pieces(std::string_view{});
        std::string_view desc;
        if (!sf.element(ber::t_octets, desc) || !sf.enter(ber::t_sequence, pieces)) return bad(sf.reason());
        if (!sf.empty()) return bad("substrings_trailing_bytes");
        if (pieces.empty()) return bad("substrings_without_pieces");
        auto type = find_attribute(desc);
        nodes[me].kind = fkind::substrings;
        if (type) nodes[me].type = *type;
        bool first = true;
        while (!pieces.empty()) {
            uint8_t ptag = 0;
            std::string_view raw;
            if (!pieces.any(ptag, raw)) return bad(pieces.reason());
            fkind k = ptag == ber::context(0, false)   ? fkind::piece_initial
                      : ptag == ber::context(1, false) ? fkind::piece_any
                      : ptag == ber::context(2, false) ? fkind::piece_final
                                                       : fkind::constant;
            if (k == fkind::constant) return bad("substrings_bad_piece");
            if (k == fkind::piece_initial && !first) return bad("substrings_initial_not_first");
            if (k == fkind::piece_final && !pieces.empty()) return bad("substrings_final_not_last");
            if (nodes.size() >= nodes_max) return bad("filter_too_many_nodes");
            nodes.push_back({});
            nodes.back().kind = k;
            nodes.back().end = static_cast<uint32_t>(nodes.size());
            set_value(type ? *type : a_cn, raw, true);
            first = false;
        }
        if (!type || type_of(*type).substr.empty()) {
            nodes.resize(me + 1);
            nodes[me].kind = fkind::constant;
            nodes[me].constant = tri::undefined;
        }
        break;
    }
    case f_extensible: {
        // MatchingRuleAssertion: [1] matchingRule, [2] type, [3] matchValue,
        // [4] dnAttributes. Only "type:=value" (no rule) means something
        // here: equality. Anything else is Undefined.
        ber::reader m(body);
        std::string_view rule, desc, raw;
        bool has_rule = false, has_type = false, has_value = false;
        while (!m.empty()) {
            uint8_t t = 0;
            std::string_view c;
            if (!m.any(t, c)) return bad(m.reason());
            if (t == ber::context(1, false)) has_rule = true, rule = c;
            else if (t == ber::context(2, false)) has_type = true, desc = c;
            else if (t == ber::context(3, false)) has_value = true, raw = c;
            else if (t != ber::context(4, false)) return bad("extensible_bad_element");
        }
        if (!has_value) return bad("extensible_without_value");
        auto type = has_type ? find_attribute(desc) : std::nullopt;
        filter_node& n = nodes[me];
        if (has_rule || !type) {
            n.kind = fkind::constant;
            n.constant = tri::undefined;
            break;
        }
        n.kind = fkind::equal;
        n.type = *type;
        set_value(*type, raw, false);
        break;
    }
    default:
        return bad("filter_unknown_choice");
    }
    nodes[me].end = static_cast<uint32_t>(nodes.size());
    return true;
}

tri equality(const entry& e, attr a, std::string_view norm) noexcept {
    if (type_of(a).equality.empty()) return tri::undefined;
    const attribute* x = e.find(a);
    if (!x) return tri::false_;
    for (uint32_t v = 0; v < x->value_count; ++v)
        if (e.values[x->first_value + v].norm == norm) return tri::true_;
    return tri::false_;
}

tri filter::eval(uint32_t i, const entry& e) const noexcept {
    const filter_node& n = nodes[i];
    switch (n.kind) {
    case fkind::and_:
    case fkind::or_: {
        const tri decisive = n.kind == fkind::and_ ? tri::false_ : tri::true_;
        bool undefined = false;
        for (uint32_t c = i + 1; c < n.end; c = nodes[c].end) {
            tri r = eval(c, e);
            if (r == decisive) return decisive;
            undefined = undefined || r == tri::undefined;
        }
        if (undefined) return tri::undefined;
        return n.kind == fkind::and_ ? tri::true_ : tri::false_;
    }
    case fkind::not_: {
        tri r = eval(i + 1, e);
        return r == tri::undefined ? r : r == tri::true_ ? tri::false_ : tri::true_;
    }
    case fkind::equal:
        return equality(e, n.type, value(n));
    case fkind::approx: {
        if (type_of(n.type).equality.empty()) return tri::undefined;
        const attribute* x = e.find(n.type);
        if (!x) return tri::false_;
        for (uint32_t v = 0; v < x->value_count; ++v)
            if (approx_equal(e.values[x->first_value + v].norm, value(n))) return tri::true_;
        return tri::false_;
    }
    case fkind::greater_or_equal:
    case fkind::less_or_equal: {
        if (type_of(n.type).ordering.empty()) return tri::undefined;
        const attribute* x = e.find(n.type);
        if (!x) return tri::false_;
        for (uint32_t v = 0; v < x->value_count; ++v) {
            std::string_view have = e.values[x->first_value + v].norm;
            if (n.kind == fkind::greater_or_equal ? have >= value(n) : have <= value(n)) return tri::true_;
        }
        return tri::false_;
    }
    case fkind::present:
        return e.find(n.type) ? tri::true_ : tri::false_;
    case fkind::substrings: {
        const attribute* x = e.find(n.type);
        if (!x) return tri::false_;
        for (uint32_t v = 0; v < x->value_count; ++v) {
            std::string_view s = e.values[x->first_value + v].norm;
            bool ok = true;
            size_t pos = 0, limit = s.size();
            for (uint32_t c = i + 1; c < n.end && ok; ++c) {
                std::string_view p = value(nodes[c]);
                switch (nodes[c].kind) {
                case fkind::piece_initial:
                    ok = s.starts_with(p);
                    pos = p.size();
                    break;
                case fkind::piece_final:
                    ok = limit - pos >= p.size() && s.substr(limit - p.size()) == p;
                    break;
                default: {
                    size_t at = s.substr(0, limit).find(p, pos);
                    ok = at != std::string_view::npos;
                    if (ok) pos = at + p.size();
                    break;
                }
                }
            }
            if (ok) return tri::true_;
        }
        return tri::false_;
    }
    case fkind::constant:
        return n.constant;
    default:
        return tri::undefined;
    }
}

bool filter::candidates(const tree& t, std::vector<uint32_t>& out) const {
    out.clear();
    if (!candidates_of(t, 0, out)) return false;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return true;
}

bool filter::candidates_of(const tree& t, uint32_t i, std::vector<uint32_t>& out) const {
    const filter_node& n = nodes[i];
    switch (n.kind) {
    case fkind::equal: {
        if (!t.indexed(n.type)) return false;
        const auto& idx = t.indexes[n.type];
        auto lo = std::lower_bound(idx.begin(), idx.end(), value(n),
                                   [](const tree::index_key& k, std::string_view v) { return k.norm < v; });
        for (; lo != idx.end() && lo->norm == value(n); ++lo) out.push_back(lo->entry);
        return true;
    }
    case fkind::substrings: {
        if (!t.indexed(n.type) || i + 1 >= n.end || nodes[i + 1].kind != fkind::piece_initial) return false;
        std::string_view prefix = value(nodes[i + 1]);
        const auto& idx = t.indexes[n.type];
        auto lo = std::lower_bound(idx.begin(), idx.end(), prefix,
                                   [](const tree::index_key& k, std::string_view v) { return k.norm < v; });
        for (; lo != idx.end() && lo->norm.starts_with(prefix); ++lo) out.push_back(lo->entry);
        return true;
    }
    case fkind::constant:
        return n.constant != tri::true_;   // matches nothing: no candidates
    case fkind::and_: {
        // The smallest indexed child bounds the result.
        std::vector<uint32_t> best, mine;
        bool found = false;
        for (uint32_t c = i + 1; c < n.end; c = nodes[c].end) {
            mine.clear();
            if (!candidates_of(t, c, mine)) continue;
            if (!found || mine.size() < best.size()) best.swap(mine);
            found = true;
        }
        if (found) out.insert(out.end(), best.begin(), best.end());
        return found;
    }
    case fkind::or_: {
        const size_t start = out.size();
        for (uint32_t c = i + 1; c < n.end; c = nodes[c].end)
            if (!candidates_of(t, c, out)) {
                out.resize(start);
                return false;
            }
        return true;
    }
    default:
        return false;
    }
}

}  // namespace posthorn::proto::ldap
