// A tiny LDAP client for the unit tests and the fuzz target: builds request
// PDUs with the codec's writer and splits the session's output into
// messages with its reader. Test-only; not strict about what it sends.
#pragma once

#include "posthorn/proto/ldap_session.hh"
#include "proto/ldap/ber.hh"

#include <string>
#include <string_view>
#include <vector>

namespace ldap_test {

namespace ber = posthorn::proto::ldap::ber;

inline std::string tlv(uint8_t tag, std::string_view content) {
    std::string out;
    ber::writer(out).octets(tag, content);
    return out;
}
inline std::string octets(std::string_view s) { return tlv(ber::t_octets, s); }
inline std::string integer(int64_t v, uint8_t tag = ber::t_integer) {
    std::string out;
    ber::writer(out).integer(tag, v);
    return out;
}
inline std::string seq(std::string_view content) { return tlv(ber::t_sequence, content); }

inline std::string message(int64_t id, uint8_t op, std::string_view body, std::string_view controls = {}) {
    std::string c = integer(id) + tlv(op, body);
    if (!controls.empty()) c += tlv(ber::context(0, true), controls);
    return seq(c);
}
inline std::string control(std::string_view oid, bool critical, std::string_view value = {}, bool has_value = false) {
    std::string c = octets(oid);
    if (critical) c += tlv(ber::t_boolean, "\xff");
    if (has_value) c += octets(value);
    return seq(c);
}
inline std::string paged(uint32_t size, std::string_view cookie) {
    return control("1.2.840.113556.1.4.319", false, seq(integer(size) + octets(cookie)), true);
}

inline std::string bind(int64_t id, std::string_view dn, std::string_view pw, int64_t version = 3) {
    return message(id, ber::application(0, true), integer(version) + octets(dn) + tlv(ber::context(0, false), pw));
}
inline std::string unbind(int64_t id) { return message(id, ber::application(2, false), ""); }
inline std::string abandon(int64_t id, int64_t target) {
    std::string i = integer(target);
    return message(id, ber::application(16, false), i.substr(2));
}
inline std::string whoami(int64_t id) {
    return message(id, ber::application(23, true), tlv(ber::context(0, false), "1.3.6.1.4.1.4203.1.11.3"));
}
inline std::string extended(int64_t id, std::string_view oid) {
    return message(id, ber::application(23, true), tlv(ber::context(0, false), oid));
}
inline std::string compare(int64_t id, std::string_view dn, std::string_view type, std::string_view value) {
    return message(id, ber::application(14, true), octets(dn) + seq(octets(type) + octets(value)));
}
inline std::string add(int64_t id, std::string_view dn) {
    return message(id, ber::application(8, true), octets(dn) + seq(""));
}

// Filters (RFC 4511 §4.5.1.7).
inline std::string f_and(std::initializer_list<std::string> fs) {
    std::string c;
    for (auto& f : fs) c += f;
    return tlv(ber::context(0, true), c);
}
inline std::string f_or(std::initializer_list<std::string> fs) {
    std::string c;
    for (auto& f : fs) c += f;
    return tlv(ber::context(1, true), c);
}
inline std::string f_not(const std::string& f) { return tlv(ber::context(2, true), f); }
inline std::string f_eq(std::string_view a, std::string_view v) { return tlv(ber::context(3, true), octets(a) + octets(v)); }
inline std::string f_ge(std::string_view a, std::string_view v) { return tlv(ber::context(5, true), octets(a) + octets(v)); }
inline std::string f_le(std::string_view a, std::string_view v) { return tlv(ber::context(6, true), octets(a) + octets(v)); }
inline std::string f_approx(std::string_view a, std::string_view v) {
    return tlv(ber::context(8, true), octets(a) + octets(v));
}
inline std::string f_present(std::string_view a) { return tlv(ber::context(7, false), a); }
inline std::string f_sub(std::string_view a, std::string_view initial, std::vector<std::string> any = {},
                         std::string_view final_ = {}) {
    std::string p;
    if (!initial.empty()) p += tlv(ber::context(0, false), initial);
    for (auto& x : any) p += tlv(ber::context(1, false), x);
    if (!final_.empty()) p += tlv(ber::context(2, false), final_);
    return tlv(ber::context(4, true), octets(a) + seq(p));
}

struct search_args {
    std::string base = "dc=example,dc=test";
    int scope = 2;
    std::string filter = f_present("objectClass");
    std::vector<std::string> attrs;
    int64_t size_limit = 0;
    int64_t time_limit = 0;
    bool types_only = false;
    std::string controls;
};
inline std::string search(int64_t id, const search_args& a) {
    std::string attrs;
    for (auto& x : a.attrs) attrs += octets(x);
    std::string body = octets(a.base) + integer(a.scope, ber::t_enumerated) + integer(0, ber::t_enumerated) +
                       integer(a.size_limit) + integer(a.time_limit) +
                       tlv(ber::t_boolean, a.types_only ? "\xff" : std::string_view("\0", 1)) + a.filter + seq(attrs);
    return message(id, ber::application(3, true), body, a.controls);
}

// A response, decoded loosely.
struct response {
    int64_t id = -1;
    uint8_t op = 0;
    std::string body;
    std::string controls;
    int code = -1;            // LDAPResult resultCode, -1 for entries
    std::string dn;           // entries: objectName
    std::vector<std::pair<std::string, std::vector<std::string>>> attrs;   // entries
    std::string diagnostic;
    std::string extended_name, extended_value;
    bool has_extended_value = false;
};

inline bool parse(std::string_view out, std::vector<response>& got) {
    ber::reader all(out);
    while (!all.empty()) {
        ber::reader m(std::string_view{});
        if (!all.enter(ber::t_sequence, m)) return false;
        response r;
        std::string_view body;
        if (!m.integer(ber::t_integer, r.id) || !m.any(r.op, body)) return false;
        r.body.assign(body);
        if (!m.empty()) {
            std::string_view c;
            if (!m.element(ber::context(0, true), c)) return false;
            r.controls.assign(c);
        }
        ber::reader b(body);
        if (r.op == ber::application(4, true)) {
            std::string_view dn;
            ber::reader attrs(std::string_view{});
            if (!b.element(ber::t_octets, dn) || !b.enter(ber::t_sequence, attrs)) return false;
            r.dn.assign(dn);
            while (!attrs.empty()) {
                ber::reader pa(std::string_view{}), vals(std::string_view{});
                std::string_view type;
                if (!attrs.enter(ber::t_sequence, pa) || !pa.element(ber::t_octets, type) || !pa.enter(ber::t_set, vals))
                    return false;
                std::vector<std::string> vs;
                while (!vals.empty()) {
                    std::string_view v;
                    if (!vals.element(ber::t_octets, v)) return false;
                    vs.emplace_back(v);
                }
                r.attrs.push_back({std::string(type), std::move(vs)});
            }
        } else {
            int64_t code = 0;
            std::string_view matched, diag;
            if (!b.integer(ber::t_enumerated, code) || !b.element(ber::t_octets, matched) ||
                !b.element(ber::t_octets, diag))
                return false;
            r.code = static_cast<int>(code);
            r.diagnostic.assign(diag);
            std::string_view x;
            if (b.peek() == ber::context(10, false) && b.element(ber::context(10, false), x)) r.extended_name.assign(x);
            if (b.peek() == ber::context(11, false) && b.element(ber::context(11, false), x)) {
                r.extended_value.assign(x);
                r.has_extended_value = true;
            }
        }
        got.push_back(std::move(r));
    }
    return true;
}

// The cookie of a searchResultDone's paged results control ("" for none).
inline std::string paged_cookie(const response& r) {
    ber::reader list(r.controls), c(std::string_view{}), v(std::string_view{});
    std::string_view oid, value;
    if (!list.enter(ber::t_sequence, c) || !c.element(ber::t_octets, oid) || !c.element(ber::t_octets, value))
        return {};
    ber::reader vr(value);
    int64_t size = 0;
    std::string_view cookie;
    if (!vr.enter(ber::t_sequence, v) || !v.integer(ber::t_integer, size) || !v.element(ber::t_octets, cookie))
        return {};
    return std::string(cookie);
}

}  // namespace ldap_test
