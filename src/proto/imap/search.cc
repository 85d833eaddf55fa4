// IMAP SEARCH programs; see search.hh.
#include "proto/imap/search.hh"

#include "posthorn/core/text.hh"
#include "proto/imap/dates.hh"

namespace posthorn::proto::imap {
namespace {

using field = store::mime::skeleton::field;

struct flag_key {
    std::string_view name;
    uint32_t bits;
    bool set;
};
constexpr flag_key k_flag_keys[] = {
    {"ANSWERED", store::flag_answered, true}, {"DELETED", store::flag_deleted, true},
    {"DRAFT", store::flag_draft, true},       {"FLAGGED", store::flag_flagged, true},
    {"SEEN", store::flag_seen, true},         {"UNANSWERED", store::flag_answered, false},
    {"UNDELETED", store::flag_deleted, false}, {"UNDRAFT", store::flag_draft, false},
    {"UNFLAGGED", store::flag_flagged, false}, {"UNSEEN", store::flag_seen, false},
};

struct field_key {
    std::string_view name;
    field f;
};
constexpr field_key k_field_keys[] = {
    {"FROM", field::from}, {"TO", field::to}, {"CC", field::cc}, {"BCC", field::bcc}, {"SUBJECT", field::subject},
};

std::optional<std::string_view> lower_copy(std::string_view s, std::deque<std::string>& arena) {
    std::string& l = arena.emplace_back(s);
    for (char& c : l) c = core::ascii_lower(c);
    return std::string_view(l);
}

}  // namespace

search_program::parse_error search_program::parse(cursor& c, uint32_t depth_max, std::deque<std::string>& arena,
                                                   const store::folder* folder) {
    _folder = folder;
    _nodes.clear();
    _kids.clear();
    _sets.clear();
    _arena = &arena;
    _depth_max = depth_max;
    _too_deep = false;
    if (c.skip_word("CHARSET")) {
        if (!c.sp()) return parse_error::syntax;
        auto cs = c.astring();
        if (!cs || !c.sp()) return parse_error::syntax;
        if (!core::iequals(*cs, "US-ASCII") && !core::iequals(*cs, "UTF-8")) return parse_error::charset;
    }
    std::vector<uint32_t> top;
    for (;;) {
        int k = key(c, 0);
        if (k < 0) return k == -2 ? parse_error::too_deep : parse_error::syntax;
        top.push_back(static_cast<uint32_t>(k));
        if (c.at_end()) break;
        if (!c.sp()) return parse_error::syntax;
    }
    node n{op::and_list, static_cast<uint32_t>(_kids.size()), static_cast<uint32_t>(top.size())};
    _kids.insert(_kids.end(), top.begin(), top.end());
    _nodes.push_back(n);
    _root = static_cast<uint32_t>(_nodes.size() - 1);
    return parse_error::none;
}

int search_program::key(cursor& c, uint32_t depth) {
    if (depth >= _depth_max) return -2;
    auto add = [this](node n) {
        _nodes.push_back(n);
        return static_cast<int>(_nodes.size() - 1);
    };
    auto astr = [&](std::string_view& out, bool lower) {
        if (!c.sp()) return false;
        auto s = c.astring();
        if (!s) return false;
        out = lower ? *lower_copy(*s, *_arena) : *s;
        return true;
    };
    auto date = [&](int64_t& day) {
        if (!c.sp()) return false;
        std::optional<std::string_view> s = c.peek() == '"' ? c.quoted() : c.atom();
        if (!s) return false;
        auto d = parse_date(*s);
        if (!d) return false;
        day = *d;
        return true;
    };
    if (c.skip('(')) {
        std::vector<uint32_t> kids;
        for (;;) {
            int k = key(c, depth + 1);
            if (k < 0) return k;
            kids.push_back(static_cast<uint32_t>(k));
            if (c.skip(')')) break;
            if (!c.sp()) return -1;
        }
        node n{op::and_list, static_cast<uint32_t>(_kids.size()), static_cast<uint32_t>(kids.size())};
        _kids.insert(_kids.end(), kids.begin(), kids.end());
        return add(n);
    }
    char p = c.peek();
    if ((p >= '0' && p <= '9') || p == '*') {
        auto t = c.sequence_text();
        seqset s;
        if (!t || !s.parse(*t)) return -1;
        _sets.push_back(std::move(s));
        return add({op::seq, static_cast<uint32_t>(_sets.size() - 1)});
    }
    auto w = c.atom();
    if (!w) return -1;
    for (const flag_key& f : k_flag_keys)
        if (core::iequals(*w, f.name)) return add({f.set ? op::flags_set : op::flags_clear, f.bits});
    for (const field_key& f : k_field_keys)
        if (core::iequals(*w, f.name)) {
            node n{op::field, static_cast<uint32_t>(f.f)};
            if (!astr(n.s2, true)) return -1;
            return add(n);
        }
    auto is = [&](std::string_view k) { return core::iequals(*w, k); };
    node n;
    if (is("ALL")) return add({op::all});
    if (is("RECENT")) return add({op::recent});
    if (is("NEW")) return add({op::new_});
    if (is("OLD")) return add({op::old});
    if (is("KEYWORD") || is("UNKEYWORD")) {
        const bool set = is("KEYWORD");
        if (!c.sp()) return -1;
        auto k = c.atom();
        if (!k) return -1;
        int slot = _folder ? _folder->keyword_slot(*k) : -1;
        if (slot < 0) return add({set ? op::never : op::all});
        return add({set ? op::flags_set : op::flags_clear, store::keyword_bit(static_cast<uint32_t>(slot))});
    }
    if (is("LARGER") || is("SMALLER")) {
        n.what = is("LARGER") ? op::larger : op::smaller;
        if (!c.sp()) return -1;
        auto v = c.number64();
        if (!v) return -1;
        n.n = static_cast<int64_t>(*v);
        return add(n);
    }
    struct date_key {
        std::string_view name;
        op what;
    };
    static constexpr date_key dates[] = {
        {"BEFORE", op::before},           {"ON", op::on},           {"SINCE", op::since},
        {"SENTBEFORE", op::sent_before}, {"SENTON", op::sent_on}, {"SENTSINCE", op::sent_since},
    };
    for (const date_key& d : dates)
        if (is(d.name)) {
            n.what = d.what;
            if (!date(n.n)) return -1;
            return add(n);
        }
    if (is("HEADER")) {
        n.what = op::header;
        if (!astr(n.s1, false) || !astr(n.s2, true)) return -1;
        return add(n);
    }
    if (is("BODY") || is("TEXT")) {
        n.what = is("BODY") ? op::body : op::text;
        if (!astr(n.s2, true)) return -1;
        return add(n);
    }
    if (is("UID")) {
        if (!c.sp()) return -1;
        auto t = c.sequence_text();
        seqset s;
        if (!t || !s.parse(*t)) return -1;
        _sets.push_back(std::move(s));
        return add({op::uid, static_cast<uint32_t>(_sets.size() - 1)});
    }
    if (is("NOT")) {
        if (!c.sp()) return -1;
        int k = key(c, depth + 1);
        if (k < 0) return k;
        return add({op::not_, static_cast<uint32_t>(k)});
    }
    if (is("OR")) {
        if (!c.sp()) return -1;
        int k1 = key(c, depth + 1);
        if (k1 < 0) return k1;
        if (!c.sp()) return -1;
        int k2 = key(c, depth + 1);
        if (k2 < 0) return k2;
        return add({op::or_, static_cast<uint32_t>(k1), static_cast<uint32_t>(k2)});
    }
    return -1;
}

bool search_program::matches(const message_ctx& m, message_parts& parts) const {
    parts.reset(*m.msg);
    return eval(_root, m, parts);
}

bool search_program::eval(uint32_t i, const message_ctx& m, message_parts& parts) const {
    const node& n = _nodes[i];
    const store::message& msg = *m.msg;
    switch (n.what) {
    case op::all: return true;
    case op::never: return false;
    case op::and_list:
        for (uint32_t k = 0; k < n.b; ++k)
            if (!eval(_kids[n.a + k], m, parts)) return false;
        return true;
    case op::or_: return eval(n.a, m, parts) || eval(n.b, m, parts);
    case op::not_: return !eval(n.a, m, parts);
    case op::flags_set: return (msg.flags & n.a) != 0;
    case op::flags_clear: return (msg.flags & n.a) == 0;
    case op::recent: return m.recent;
    case op::new_: return m.recent && !(msg.flags & store::flag_seen);
    case op::old: return !m.recent;
    case op::larger: return msg.size > static_cast<uint64_t>(n.n);
    case op::smaller: return msg.size < static_cast<uint64_t>(n.n);
    case op::before: return day_of(msg.internal_date) < n.n;
    case op::on: return day_of(msg.internal_date) == n.n;
    case op::since: return day_of(msg.internal_date) >= n.n;
    case op::sent_before:
    case op::sent_on:
    case op::sent_since: {
        // No usable Date: header: the internal date stands in (as Dovecot does).
        int64_t day = day_of(parts.sent_date().value_or(msg.internal_date));
        return n.what == op::sent_before ? day < n.n : n.what == op::sent_on ? day == n.n : day >= n.n;
    }
    case op::field: return parts.field_contains(static_cast<field>(n.a), n.s2);
    case op::header: return parts.header_contains(n.s1, n.s2);
    case op::body: return parts.text_contains(n.s2, false);
    case op::text: return parts.text_contains(n.s2, true);
    case op::seq: return _sets[n.a].contains(m.seq, m.seq_max);
    case op::uid: return _sets[n.a].contains(m.uid, m.uid_max);
    }
    return false;
}

}  // namespace posthorn::proto::imap
