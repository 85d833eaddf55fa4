// The schema tables (schema.hh) and value normalization per matching rule.
#include "proto/ldap/schema.hh"

#include "posthorn/core/text.hh"
#include "proto/ldap/dn.hh"

#include <array>

namespace posthorn::proto::ldap {
namespace {

constexpr std::string_view s_dstring = "1.3.6.1.4.1.1466.115.121.1.15";
constexpr std::string_view s_ia5 = "1.3.6.1.4.1.1466.115.121.1.26";
constexpr std::string_view s_oid = "1.3.6.1.4.1.1466.115.121.1.38";
constexpr std::string_view s_dn = "1.3.6.1.4.1.1466.115.121.1.12";
constexpr std::string_view s_bool = "1.3.6.1.4.1.1466.115.121.1.7";
constexpr std::string_view s_int = "1.3.6.1.4.1.1466.115.121.1.27";
constexpr std::string_view s_phone = "1.3.6.1.4.1.1466.115.121.1.50";
constexpr std::string_view s_atdesc = "1.3.6.1.4.1.1466.115.121.1.3";
constexpr std::string_view s_ocdesc = "1.3.6.1.4.1.1466.115.121.1.37";

constexpr std::string_view ci = "caseIgnoreMatch", cio = "caseIgnoreOrderingMatch", cis = "caseIgnoreSubstringsMatch";
constexpr std::string_view ia5 = "caseIgnoreIA5Match", ia5s = "caseIgnoreIA5SubstringsMatch";
constexpr std::string_view dnm = "distinguishedNameMatch";
constexpr std::string_view oidm = "objectIdentifierMatch";
constexpr std::string_view dop = "directoryOperation", dsa = "dSAOperation";

// One row per attribute type, in enum attr order.
constexpr std::array<attribute_type, a_count> k_types{{
    {"objectClass", "", "2.5.4.0", s_oid, oidm, "", "", matching::oid, false, false, ""},
    {"cn", "commonName", "2.5.4.3", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"sn", "surname", "2.5.4.4", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"givenName", "gn", "2.5.4.42", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"displayName", "", "2.16.840.1.113730.3.1.241", s_dstring, ci, cio, cis, matching::case_ignore, false, true, ""},
    {"mail", "rfc822Mailbox", "0.9.2342.19200300.100.1.3", s_ia5, ia5, cio, ia5s, matching::case_ignore, false, false, ""},
    {"uid", "userid", "0.9.2342.19200300.100.1.1", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"title", "", "2.5.4.12", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"ou", "organizationalUnitName", "2.5.4.11", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"telephoneNumber", "", "2.5.4.20", s_phone, "telephoneNumberMatch", "", "telephoneNumberSubstringsMatch",
     matching::telephone, false, false, ""},
    {"description", "", "2.5.4.13", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    {"member", "", "2.5.4.31", s_dn, dnm, "", "", matching::dn, false, false, ""},
    {"dc", "domainComponent", "0.9.2342.19200300.100.1.25", s_ia5, ia5, cio, ia5s, matching::case_ignore, false, true, ""},
    {"o", "organizationName", "2.5.4.10", s_dstring, ci, cio, cis, matching::case_ignore, false, false, ""},
    // As slapd's memberof overlay: operational, returned for "+" or by name.
    {"memberOf", "", "1.2.840.113556.1.2.102", s_dn, dnm, "", "", matching::dn, true, false, dsa},
    {"entryDN", "", "1.3.6.1.1.20", s_dn, dnm, "", "", matching::dn, true, true, dop},
    {"structuralObjectClass", "", "2.5.21.9", s_oid, oidm, "", "", matching::oid, true, true, dop},
    {"subschemaSubentry", "", "2.5.18.10", s_dn, dnm, "", "", matching::dn, true, true, dop},
    {"hasSubordinates", "", "2.5.18.9", s_bool, "booleanMatch", "", "", matching::boolean, true, true, dop},
    {"namingContexts", "", "1.3.6.1.4.1.1466.101.120.5", s_dn, "", "", "", matching::dn, true, false, dsa},
    {"supportedLDAPVersion", "", "1.3.6.1.4.1.1466.101.120.15", s_int, "integerMatch", "", "", matching::integer, true,
     false, dsa},
    {"supportedExtension", "", "1.3.6.1.4.1.1466.101.120.7", s_oid, oidm, "", "", matching::oid, true, false, dsa},
    {"supportedControl", "", "1.3.6.1.4.1.1466.101.120.13", s_oid, oidm, "", "", matching::oid, true, false, dsa},
    {"supportedFeatures", "", "1.3.6.1.4.1.4203.1.3.5", s_oid, oidm, "", "", matching::oid, true, false, dsa},
    {"vendorName", "", "1.3.6.1.1.4", s_dstring, ci, "", "", matching::case_ignore, true, true, dsa},
    {"vendorVersion", "", "1.3.6.1.1.5", s_dstring, ci, "", "", matching::case_ignore, true, true, dsa},
    {"attributeTypes", "", "2.5.21.5", s_atdesc, "objectIdentifierFirstComponentMatch", "", "", matching::none, true,
     false, dop},
    {"objectClasses", "", "2.5.21.6", s_ocdesc, "objectIdentifierFirstComponentMatch", "", "", matching::none, true,
     false, dop},
}};

constexpr std::array<object_class, 12> k_classes{{
    {"top", "2.5.6.0", "", "ABSTRACT", "objectClass", ""},
    {"person", "2.5.6.6", "top", "STRUCTURAL", "( sn $ cn )", "( telephoneNumber $ description )"},
    {"organizationalPerson", "2.5.6.7", "person", "STRUCTURAL", "", "( title $ ou $ telephoneNumber )"},
    {"inetOrgPerson", "2.16.840.1.113730.3.2.2", "organizationalPerson", "STRUCTURAL", "",
     "( displayName $ givenName $ mail $ uid )"},
    {"groupOfNames", "2.5.6.9", "top", "STRUCTURAL", "( member $ cn )", "( description $ ou $ o )"},
    {"organizationalUnit", "2.5.6.5", "top", "STRUCTURAL", "ou", "( description $ telephoneNumber )"},
    {"organization", "2.5.6.4", "top", "STRUCTURAL", "o", "( description $ telephoneNumber )"},
    {"domain", "0.9.2342.19200300.100.4.13", "top", "STRUCTURAL", "dc", "( o $ description )"},
    {"subentry", "2.5.17.0", "top", "STRUCTURAL", "cn", ""},
    {"subschema", "2.5.20.1", "", "AUXILIARY", "", "( objectClasses $ attributeTypes )"},
    {"extensibleObject", "1.3.6.1.4.1.1466.101.120.111", "top", "AUXILIARY", "", ""},
    {"dcObject", "1.3.6.1.4.1.1466.344", "top", "AUXILIARY", "dc", ""},
}};

using core::ascii_lower;
using core::iequals;

void append_lower(std::string& out, char c) { out.push_back(ascii_lower(c)); }

// The lower case of a two-byte UTF-8 letter, for the scripts names are
// mostly written in: Latin-1 and Latin Extended-A, Greek, Cyrillic. Every
// mapping stays two bytes long. Anything else is returned as it is.
uint32_t fold_two_byte(uint32_t cp) noexcept {
    if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 0x20;
    if (cp == 0x178) return 0xff;
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177)) return cp | 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) return (cp & 1) ? cp + 1 : cp;
    if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) return cp + 0x20;
    if (cp >= 0x410 && cp <= 0x42f) return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f) return cp + 0x50;
    return cp;
}

// Appends v[i..] lower-cased by one character; returns the bytes it took.
size_t append_folded(std::string& out, std::string_view v, size_t i) {
    const auto b0 = static_cast<uint8_t>(v[i]);
    if (b0 < 0x80 || (b0 & 0xe0) != 0xc0 || i + 1 >= v.size() || (static_cast<uint8_t>(v[i + 1]) & 0xc0) != 0x80) {
        out.push_back(ascii_lower(v[i]));
        return 1;
    }
    const uint32_t cp = fold_two_byte((uint32_t{b0} & 0x1f) << 6 | (static_cast<uint8_t>(v[i + 1]) & 0x3f));
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    return 2;
}

}  // namespace

const attribute_type& type_of(attr a) noexcept { return k_types[a]; }

std::optional<attr> find_attribute(std::string_view d) noexcept {
    for (size_t i = 0; i < k_types.size(); ++i) {
        const attribute_type& t = k_types[i];
        if (iequals(d, t.name) || (!t.alias.empty() && iequals(d, t.alias)) || d == t.oid)
            return static_cast<attr>(i);
    }
    return std::nullopt;
}

const object_class* object_classes(size_t& count) noexcept {
    count = k_classes.size();
    return k_classes.data();
}

std::string_view object_class_name(std::string_view s) noexcept {
    for (const auto& c : k_classes)
        if (iequals(s, c.name) || s == c.oid) return c.name;
    return {};
}

void normalize_piece(attr a, std::string_view v, std::string& out) {
    const matching m = type_of(a).match;
    bool space = false;
    for (size_t i = 0; i < v.size();) {
        const char c = v[i];
        if (m == matching::telephone && (c == ' ' || c == '-')) {
            ++i;
            continue;
        }
        if (c == ' ') {
            if (!space) out.push_back(' ');
            space = true;
            ++i;
            continue;
        }
        space = false;
        i += append_folded(out, v, i);
    }
}

bool normalize_value(attr a, std::string_view v, std::string& out) {
    switch (type_of(a).match) {
    case matching::case_ignore:
    case matching::none: {
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        normalize_piece(a, v, out);
        return true;
    }
    case matching::telephone:
        normalize_piece(a, v, out);
        return true;
    case matching::dn: {
        if (auto n = normalize_dn(v)) {
            out.append(*n);
            return true;
        }
        for (char c : v) append_lower(out, c);
        return true;
    }
    case matching::oid: {
        std::string_view name = object_class_name(v);
        if (name.empty())
            if (auto t = find_attribute(v)) name = type_of(*t).name;
        for (char c : name.empty() ? v : name) append_lower(out, c);
        return true;
    }
    case matching::boolean:
        if (iequals(v, "TRUE")) out.append("TRUE");
        else if (iequals(v, "FALSE")) out.append("FALSE");
        else return false;
        return true;
    case matching::integer: {
        if (v.empty()) return false;
        size_t i = v[0] == '-' ? 1 : 0;
        if (i == v.size()) return false;
        for (size_t j = i; j < v.size(); ++j)
            if (v[j] < '0' || v[j] > '9') return false;
        while (i + 1 < v.size() && v[i] == '0') ++i;
        if (v[0] == '-') out.push_back('-');
        out.append(v.substr(i));
        return true;
    }
    }
    return false;
}

std::string describe(const attribute_type& t) {
    std::string s = "( ";
    s.append(t.oid).append(" NAME ");
    if (t.alias.empty()) s.append("'").append(t.name).append("'");
    else s.append("( '").append(t.name).append("' '").append(t.alias).append("' )");
    if (!t.equality.empty()) s.append(" EQUALITY ").append(t.equality);
    if (!t.ordering.empty()) s.append(" ORDERING ").append(t.ordering);
    if (!t.substr.empty()) s.append(" SUBSTR ").append(t.substr);
    s.append(" SYNTAX ").append(t.syntax);
    if (t.single_value) s.append(" SINGLE-VALUE");
    if (t.operational) s.append(" NO-USER-MODIFICATION");
    if (!t.usage.empty()) s.append(" USAGE ").append(t.usage);
    s.append(" )");
    return s;
}

std::string describe(const object_class& c) {
    std::string s = "( ";
    s.append(c.oid).append(" NAME '").append(c.name).append("'");
    if (!c.sup.empty()) s.append(" SUP ").append(c.sup);
    s.append(" ").append(c.kind);
    if (!c.must.empty()) s.append(" MUST ").append(c.must);
    if (!c.may.empty()) s.append(" MAY ").append(c.may);
    s.append(" )");
    return s;
}

}  // namespace posthorn::proto::ldap
