// DN parsing and normalization (dn.hh).
#include "proto/ldap/dn.hh"

#include "posthorn/core/text.hh"
#include "proto/ldap/schema.hh"

#include <algorithm>

namespace posthorn::proto::ldap {
namespace {

int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

struct dn_parser {
    std::string_view s;
    size_t i = 0;

    void spaces() noexcept {
        while (i < s.size() && s[i] == ' ') ++i;
    }

    bool type(std::string& out) {
        // "oid.2.5.4.3" (RFC 2253 allowed the prefix)
        if (s.size() - i > 4 && core::iequals(s.substr(i, 4), "oid.") && is_digit(s[i + 4])) i += 4;
        size_t start = i;
        if (i < s.size() && is_alpha(s[i])) {
            while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-')) ++i;
        } else if (i < s.size() && is_digit(s[i])) {
            while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
            if (s[i - 1] == '.') return false;
        } else {
            return false;
        }
        out.assign(s.substr(start, i - start));
        return true;
    }

    bool value(std::string& out) {
        if (i < s.size() && s[i] == '#') {   // hexstring: the BER encoding of the value
            ++i;
            std::string raw;
            while (i + 1 < s.size() && hex(s[i]) >= 0 && hex(s[i + 1]) >= 0) {
                raw.push_back(static_cast<char>(hex(s[i]) * 16 + hex(s[i + 1])));
                i += 2;
            }
            // A string type's encoding: take the content.
            if (raw.size() < 2 || static_cast<uint8_t>(raw[1]) >= 0x80 ||
                static_cast<size_t>(static_cast<uint8_t>(raw[1])) != raw.size() - 2)
                return false;
            out.assign(raw.substr(2));
            return true;
        }
        size_t kept = 0;   // out's length up to the last significant byte
        while (i < s.size()) {
            char c = s[i];
            if (c == ',' || c == '+' || c == ';') break;
            if (c == '\\') {
                if (i + 1 >= s.size()) return false;
                char n = s[i + 1];
                if (i + 2 < s.size() && hex(n) >= 0 && hex(s[i + 2]) >= 0) {
                    out.push_back(static_cast<char>(hex(n) * 16 + hex(s[i + 2])));
                    i += 3;
                } else if (std::string_view(" \"#+,;<=>\\").find(n) != std::string_view::npos) {
                    out.push_back(n);
                    i += 2;
                } else {
                    return false;
                }
                kept = out.size();
                continue;
            }
            if (c == '"') return false;   // quoted values are RFC 1779, not 4514
            out.push_back(c);
            ++i;
            if (c != ' ') kept = out.size();
        }
        out.resize(kept);
        return true;
    }
};

}  // namespace

std::optional<std::vector<rdn>> parse_dn(std::string_view dn) {
    std::vector<rdn> out;
    dn_parser p{dn};
    p.spaces();
    if (p.i == dn.size()) return out;
    for (;;) {
        rdn r;
        for (;;) {
            ava a;
            p.spaces();
            if (!p.type(a.type)) return std::nullopt;
            p.spaces();
            if (p.i >= dn.size() || dn[p.i] != '=') return std::nullopt;
            ++p.i;
            p.spaces();
            if (!p.value(a.value)) return std::nullopt;
            p.spaces();
            r.push_back(std::move(a));
            if (p.i < dn.size() && dn[p.i] == '+') {
                ++p.i;
                continue;
            }
            break;
        }
        out.push_back(std::move(r));
        if (p.i == dn.size()) return out;
        if (dn[p.i] != ',' && dn[p.i] != ';') return std::nullopt;
        ++p.i;
    }
}

void append_escaped_value(std::string& out, std::string_view v) {
    for (size_t k = 0; k < v.size(); ++k) {
        char c = v[k];
        bool special = c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == '=';
        bool edge = (k == 0 && (c == ' ' || c == '#')) || (k + 1 == v.size() && c == ' ');
        if (c == '\0') {
            out.append("\\00");
            continue;
        }
        if (special || edge) out.push_back('\\');
        out.push_back(c);
    }
}

std::optional<std::string> normalize_dn(std::string_view dn) {
    auto parsed = parse_dn(dn);
    if (!parsed) return std::nullopt;
    std::string out;
    std::vector<std::string> parts;
    std::string value;
    for (size_t r = 0; r < parsed->size(); ++r) {
        if (r) out.push_back(',');
        parts.clear();
        for (const ava& a : (*parsed)[r]) {
            std::string part;
            auto t = find_attribute(a.type);
            if (t) {
                for (char c : type_of(*t).name) part.push_back(core::ascii_lower(c));
            } else {
                for (char c : a.type) part.push_back(core::ascii_lower(c));
            }
            part.push_back('=');
            value.clear();
            // DN-valued types inside an RDN are compared as text (no recursion).
            attr rule = t && type_of(*t).match != matching::dn ? *t : a_cn;
            if (!normalize_value(rule, a.value, value)) return std::nullopt;
            append_escaped_value(part, value);
            parts.push_back(std::move(part));
        }
        std::sort(parts.begin(), parts.end());
        for (size_t k = 0; k < parts.size(); ++k) {
            if (k) out.push_back('+');
            out.append(parts[k]);
        }
    }
    return out;
}

}  // namespace posthorn::proto::ldap
