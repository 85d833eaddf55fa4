// proto/ldap/dn: distinguished names as strings (RFC 4514): parsing with
// escapes (\, \2C) and hex values (#04...), and the normalized form used to
// compare them: RDNs joined by ",", each AVA "type=value" with the type's
// canonical lower-case name (cn for CN, commonName or 2.5.4.3), the value
// normalized by its type's matching rule (schema.hh; caseIgnore for types
// we do not know) and re-escaped; multi-valued RDNs sorted. Spaces around
// types, values and separators are ignored, ";" is taken for "," (RFC 4514
// §3 asks that of implementations reading older DNs).
//
// Threading: stateless. Limits: the input's own length (a PDU's).
// Returns nullopt for a string that is no DN; never throws on peer input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::ldap {

struct ava {
    std::string type;    // as written
    std::string value;   // escapes decoded
};
using rdn = std::vector<ava>;

// The RDNs of `dn`, most specific first; an empty DN has none.
std::optional<std::vector<rdn>> parse_dn(std::string_view dn);
std::optional<std::string> normalize_dn(std::string_view dn);
// RFC 4514 §2.4: escapes what must be escaped in an attribute value.
void append_escaped_value(std::string& out, std::string_view value);

}  // namespace posthorn::proto::ldap
