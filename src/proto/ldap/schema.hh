// proto/ldap/schema: the attribute types and object classes the tree uses
// (RFC 4512 §4.1, RFC 4519, RFC 2798, RFC 4524), one table each; their
// matching (how a value is normalized before comparing) and the subschema
// entry's descriptions are made from the same rows, so they cannot disagree.
//
// Matching (RFC 4517). Case folding covers ASCII and the two-byte UTF-8
// letters of Latin-1, Latin Extended-A, Greek and Cyrillic (no Unicode
// normalization, no other scripts: those compare byte for byte):
//   case_ignore  caseIgnoreMatch / caseIgnoreIA5Match: leading and trailing
//                spaces dropped, inner runs of spaces one space, lower case.
//                Ordering (>=, <=) compares the normalized bytes: declared
//                as caseIgnoreOrderingMatch in the subschema (slapd's schema
//                has no ORDERING on cn/sn/...; we give one so >= and <= mean
//                something, as Active Directory does).
//   telephone    telephoneNumberMatch: spaces and hyphens dropped, lower case.
//   dn           distinguishedNameMatch: values compared as normalized DNs.
//   oid          objectIdentifierMatch: names case-insensitive, a known
//                numeric OID means its name.
//   boolean      booleanMatch: TRUE / FALSE.
//   integer      integerMatch (digits compared as numbers).
//   none         no equality rule: filters on it are Undefined.
// Threading: constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::proto::ldap {

enum class matching : uint8_t { case_ignore, telephone, dn, oid, boolean, integer, none };

enum attr : uint8_t {
    a_object_class,
    a_cn,
    a_sn,
    a_given_name,
    a_display_name,
    a_mail,
    a_uid,
    a_title,
    a_ou,
    a_telephone_number,
    a_description,
    a_member,
    a_dc,
    a_o,
    a_member_of,
    a_entry_dn,
    a_structural_object_class,
    a_subschema_subentry,
    a_has_subordinates,
    a_naming_contexts,
    a_supported_ldap_version,
    a_supported_extension,
    a_supported_control,
    a_supported_features,
    a_vendor_name,
    a_vendor_version,
    a_attribute_types,
    a_object_classes,
    a_count,
};
static_assert(a_count <= 64, "attribute selections are a 64-bit mask");

struct attribute_type {
    std::string_view name;    // the canonical name, as entries carry it
    std::string_view alias;   // a second name, or ""
    std::string_view oid;
    std::string_view syntax;  // syntax OID
    std::string_view equality, ordering, substr;  // rule names for the subschema ("" = none)
    matching match;
    bool operational;
    bool single_value;
    std::string_view usage;   // "" (userApplications), "directoryOperation", "dSAOperation"
};

const attribute_type& type_of(attr a) noexcept;
// An attribute description as a client writes it: a name, an alias or an
// OID, any case. Descriptions with options (cn;lang-en) name no type here.
std::optional<attr> find_attribute(std::string_view description) noexcept;

// Appends the normalized form of `value` under the type's matching rule.
// For DN values the DN is normalized (dn.hh); an unparsable one is kept as
// lower-cased text, so it matches nothing real. Returns false when the
// value is not valid for the syntax (a boolean that is not TRUE/FALSE).
bool normalize_value(attr a, std::string_view value, std::string& out);
// Normalizes a substring piece (initial/any/final): lower case, runs of
// spaces one space, no trimming.
void normalize_piece(attr a, std::string_view value, std::string& out);

struct object_class {
    std::string_view name;
    std::string_view oid;
    std::string_view sup;
    std::string_view kind;   // ABSTRACT, STRUCTURAL, AUXILIARY
    std::string_view must;   // "( a $ b )" or "a" or ""
    std::string_view may;
};
// Every object class the tree uses, for the subschema entry.
const object_class* object_classes(size_t& count) noexcept;
// The object class's name for a name or OID, any case; empty if unknown.
std::string_view object_class_name(std::string_view name_or_oid) noexcept;

// RFC 4512 §4.1.2 AttributeTypeDescription / §4.1.1 ObjectClassDescription.
std::string describe(const attribute_type& t);
std::string describe(const object_class& c);

}  // namespace posthorn::proto::ldap
