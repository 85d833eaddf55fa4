// Builds the LDAP tree from a directory snapshot (tree.hh, ldap_session.hh):
// entries, their encoded attributes, the DN map and the indexes.
#include "posthorn/proto/ldap_session.hh"

#include "proto/ldap/ber.hh"
#include "proto/ldap/dn.hh"
#include "proto/ldap/tree.hh"

#include <algorithm>
#include <atomic>

namespace posthorn::proto::ldap {
namespace {

std::atomic<uint64_t> g_generation{1};

struct entry_builder {
    entry e;
    std::vector<std::pair<attr, std::vector<std::string>>> pending;

    void add(attr a, std::string_view v) {
        if (v.empty() && a != a_entry_dn) return;
        for (auto& [t, vals] : pending)
            if (t == a) {
                vals.emplace_back(v);
                return;
            }
        pending.push_back({a, {std::string(v)}});
    }

    // Encodes user attributes first, then operational ones, each a
    // PartialAttribute: SEQUENCE { type, SET OF value }.
    entry finish() {
        std::stable_sort(pending.begin(), pending.end(), [](const auto& x, const auto& y) {
            return type_of(x.first).operational < type_of(y.first).operational;
        });
        ber::writer w(e.ber);
        for (auto& [t, vals] : pending) {
            attribute a;
            a.type = t;
            a.first_value = static_cast<uint32_t>(e.values.size());
            a.value_count = static_cast<uint32_t>(vals.size());
            a.ber_offset = static_cast<uint32_t>(e.ber.size());
            const std::string_view name = type_of(t).name;
            size_t set_len = 0;
            for (auto& v : vals) set_len += ber::header_bytes(v.size()) + v.size();
            const size_t seq_len = ber::header_bytes(name.size()) + name.size() + ber::header_bytes(set_len) + set_len;
            w.header(ber::t_sequence, seq_len);
            w.octets(ber::t_octets, name);
            w.header(ber::t_set, set_len);
            for (auto& v : vals) {
                w.octets(ber::t_octets, v);
                value x;
                x.raw = std::move(v);
                if (!normalize_value(t, x.raw, x.norm)) x.norm = x.raw;
                e.values.push_back(std::move(x));
            }
            a.ber_length = static_cast<uint32_t>(e.ber.size() - a.ber_offset);
            e.attrs.push_back(a);
        }
        return std::move(e);
    }
};

std::string rdn_dn(std::string_view type, std::string_view value, std::string_view parent) {
    std::string dn(type);
    dn.push_back('=');
    append_escaped_value(dn, value);
    if (!parent.empty()) dn.append(",").append(parent);
    return dn;
}

std::string_view last_word(std::string_view s) {
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    size_t sp = s.rfind(' ');
    return sp == std::string_view::npos ? s : s.substr(sp + 1);
}

}  // namespace

std::shared_ptr<const tree> build_tree(const directory::snapshot& dir, std::string_view base_text, std::string& error) {
    auto t = std::make_shared<tree>();
    std::string base(base_text);
    if (base.empty()) {
        std::string_view d = dir.primary_domain();
        while (!d.empty()) {
            size_t dot = d.find('.');
            if (!base.empty()) base.push_back(',');
            base.append("dc=");
            append_escaped_value(base, d.substr(0, dot));
            d = dot == std::string_view::npos ? std::string_view() : d.substr(dot + 1);
        }
    }
    auto parsed = parse_dn(base);
    auto base_norm = normalize_dn(base);
    if (!parsed || !base_norm || parsed->empty()) {
        error = "\"" + base + "\" is not a distinguished name";
        return nullptr;
    }
    t->base = base;
    t->base_norm = *base_norm;
    t->generation = g_generation.fetch_add(1);
    const std::string schema_dn = "cn=Subschema";
    const std::string people = "ou=people," + base, groups = "ou=groups," + base;

    auto operational = [&](entry_builder& b, std::string_view structural, bool has_children) {
        b.add(a_entry_dn, b.e.dn);
        b.add(a_structural_object_class, structural);
        b.add(a_subschema_subentry, schema_dn);
        b.add(a_has_subordinates, has_children ? "TRUE" : "FALSE");
    };

    // The base: its class follows its first RDN's type.
    {
        entry_builder b;
        b.e.dn = base;
        const ava& first = (*parsed)[0][0];
        auto type = find_attribute(first.type);
        b.add(a_object_class, "top");
        std::string_view structural = "extensibleObject";
        if (type == a_dc) structural = "domain";
        else if (type == a_o) structural = "organization";
        else if (type == a_ou) structural = "organizationalUnit";
        b.add(a_object_class, structural);
        if (type) b.add(*type, first.value);
        operational(b, structural, true);
        t->entries.push_back(b.finish());
    }
    for (const std::string* ou : {&people, &groups}) {
        entry_builder b;
        b.e.dn = *ou;
        b.add(a_object_class, "top");
        b.add(a_object_class, "organizationalUnit");
        b.add(a_ou, ou == &people ? "people" : "groups");
        operational(b, "organizationalUnit", ou == &people ? !dir.users().empty() : !dir.groups().empty());
        t->entries.push_back(b.finish());
    }
    std::vector<std::string> group_dns;
    for (const auto& g : dir.groups()) group_dns.push_back(rdn_dn("cn", g.name, groups));
    std::vector<std::string> user_dns;
    for (const auto& u : dir.users()) {
        entry_builder b;
        b.e.dn = rdn_dn("uid", u.name, people);
        b.e.user = u.name;
        user_dns.push_back(b.e.dn);
        for (auto oc : {"top", "person", "organizationalPerson", "inetOrgPerson"}) b.add(a_object_class, oc);
        b.add(a_uid, u.name);
        b.add(a_cn, u.display_name.empty() ? std::string_view(u.name) : std::string_view(u.display_name));
        // sn is a MUST of person: the surname, or else the display name's
        // last word, or else the name.
        std::string_view sn = u.surname;
        if (sn.empty()) sn = last_word(u.display_name);
        if (sn.empty()) sn = u.name;
        b.add(a_sn, sn);
        b.add(a_given_name, u.given_name);
        b.add(a_display_name, u.display_name);
        for (const auto& a : u.addresses) b.add(a_mail, a);
        b.add(a_title, u.title);
        b.add(a_ou, u.department);
        b.add(a_telephone_number, u.telephone);
        for (size_t g : dir.groups_of(u)) b.add(a_member_of, group_dns[g]);
        operational(b, "inetOrgPerson", false);
        t->entries.push_back(b.finish());
    }
    for (size_t gi = 0; gi < dir.groups().size(); ++gi) {
        const auto& g = dir.groups()[gi];
        entry_builder b;
        b.e.dn = group_dns[gi];
        b.add(a_object_class, "top");
        b.add(a_object_class, "groupOfNames");
        b.add(a_cn, g.name);
        b.add(a_description, g.description);
        for (const auto& m : g.members)
            if (const directory::user* u = dir.find_user(m))
                b.add(a_member, user_dns[static_cast<size_t>(u - dir.users().data())]);
        operational(b, "groupOfNames", false);
        t->entries.push_back(b.finish());
    }
    const uint32_t n_tree = static_cast<uint32_t>(t->entries.size());
    const uint32_t n_users = static_cast<uint32_t>(dir.users().size());
    {
        entry_builder b;   // the rootDSE: "" (RFC 4512 §5.1)
        b.e.dn = "";
        b.add(a_object_class, "top");
        b.add(a_object_class, "extensibleObject");
        b.add(a_naming_contexts, base);
        b.add(a_subschema_subentry, schema_dn);
        b.add(a_supported_ldap_version, "3");
        b.add(a_supported_extension, k_oid_whoami);
        b.add(a_supported_control, k_oid_paged_results);
        b.add(a_supported_control, "2.16.840.1.113730.3.4.2");   // ManageDsaIT: there are no referrals
        b.add(a_supported_features, "1.3.6.1.4.1.4203.1.5.1");   // RFC 3673: "+"
        b.add(a_vendor_name, "posthorn");
        b.add(a_vendor_version, "0.1.0");
        b.add(a_entry_dn, "");
        t->entries.push_back(b.finish());
    }
    {
        entry_builder b;   // the subschema subentry (RFC 4512 §4.2)
        b.e.dn = schema_dn;
        for (auto oc : {"top", "subentry", "subschema"}) b.add(a_object_class, oc);
        b.add(a_cn, "Subschema");
        for (size_t i = 0; i < a_count; ++i) b.add(a_attribute_types, describe(type_of(static_cast<attr>(i))));
        size_t n = 0;
        const object_class* oc = object_classes(n);
        for (size_t i = 0; i < n; ++i) b.add(a_object_classes, describe(oc[i]));
        operational(b, "subentry", false);
        t->entries.push_back(b.finish());
    }
    t->root_dse = n_tree;
    t->subschema = n_tree + 1;

    // Structure: contiguous child and descendant ranges.
    auto& E = t->entries;
    for (auto& e : E) e.child_begin = e.child_end = e.desc_begin = e.desc_end = 0;
    E[0].child_begin = 1;
    E[0].child_end = 3;
    E[0].desc_begin = 1;
    E[0].desc_end = n_tree;
    E[1].parent = E[2].parent = 0;
    E[1].child_begin = E[1].desc_begin = 3;
    E[1].child_end = E[1].desc_end = 3 + n_users;
    E[2].child_begin = E[2].desc_begin = 3 + n_users;
    E[2].child_end = E[2].desc_end = n_tree;
    for (uint32_t i = 3; i < n_tree; ++i) E[i].parent = i < 3 + n_users ? 1 : 2;

    for (uint32_t i = 0; i < E.size(); ++i) {
        E[i].dn_norm = normalize_dn(E[i].dn).value_or(E[i].dn);
        t->by_dn.emplace(E[i].dn_norm, i);
    }
    for (size_t a = 0; a < a_count; ++a) {
        const attr type = static_cast<attr>(a);
        if (type_of(type).operational) t->operational_mask |= uint64_t{1} << a;
        else t->user_attrs_mask |= uint64_t{1} << a;
        if (!t->indexed(type)) continue;
        auto& idx = t->indexes[a];
        for (uint32_t i = 0; i < E.size(); ++i)
            if (const attribute* x = E[i].find(type))
                for (uint32_t v = 0; v < x->value_count; ++v) idx.push_back({E[i].values[x->first_value + v].norm, i});
        std::sort(idx.begin(), idx.end(), [](const tree::index_key& l, const tree::index_key& r) {
            return l.norm != r.norm ? l.norm < r.norm : l.entry < r.entry;
        });
    }
    return t;
}

const std::string& tree_base(const tree& t) noexcept { return t.base; }
bool is_distinguished_name(std::string_view text) {
    auto d = parse_dn(text);
    return d && !d->empty();
}
size_t tree_entries(const tree& t) noexcept { return t.entries.size(); }

}  // namespace posthorn::proto::ldap
