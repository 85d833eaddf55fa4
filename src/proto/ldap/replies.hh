// Every LDAP result code the session sends (RFC 4511 §4.1.9, Appendix A),
// and its fixed diagnostic texts, in one table (STYLE.md): what clients see
// and tests compare. The reason is what the log line says.
#pragma once

#include <cstdint>
#include <string_view>

namespace posthorn::proto::ldap::replies {

enum code : uint8_t {
    success = 0,
    operations_error = 1,
    protocol_error = 2,
    time_limit_exceeded = 3,
    size_limit_exceeded = 4,
    compare_false = 5,
    compare_true = 6,
    auth_method_not_supported = 7,
    unavailable_critical_extension = 12,
    no_such_attribute = 16,
    undefined_attribute_type = 17,
    inappropriate_matching = 18,
    no_such_object = 32,
    invalid_dn_syntax = 34,
    inappropriate_authentication = 48,
    invalid_credentials = 49,
    insufficient_access_rights = 50,
    unwilling_to_perform = 53,
};

struct error {
    code rc;
    std::string_view text;     // diagnosticMessage
    std::string_view reason;   // logged
};

inline constexpr error version_unsupported{protocol_error, "only LDAPv3 is supported", "version"};
inline constexpr error sasl_unsupported{auth_method_not_supported, "SASL is not supported; use a simple bind",
                                        "sasl"};
inline constexpr error unauthenticated_bind{unwilling_to_perform, "unauthenticated bind (DN with no password) disallowed",
                                            "unauthenticated_bind"};
inline constexpr error bad_credentials{invalid_credentials, "", "invalid_credentials"};
inline constexpr error read_only{unwilling_to_perform, "the directory is read-only over LDAP", "read_only"};
inline constexpr error unknown_extended{protocol_error, "unsupported extended operation", "unknown_extended"};
inline constexpr error critical_control{unavailable_critical_extension, "critical control is not supported",
                                        "critical_control"};
inline constexpr error bad_scope{protocol_error, "invalid scope", "scope"};
inline constexpr error bad_base{invalid_dn_syntax, "invalid DN", "invalid_dn"};
inline constexpr error no_object{no_such_object, "", "no_such_object"};
inline constexpr error anonymous_search{insufficient_access_rights, "anonymous access is not allowed: bind first",
                                        "anonymous_search"};
inline constexpr error size_limit{size_limit_exceeded, "", "size_limit"};
inline constexpr error time_limit{time_limit_exceeded, "", "time_limit"};
inline constexpr error bad_cookie{unwilling_to_perform, "paged results cookie is invalid", "paged_cookie"};
inline constexpr error bad_paging{protocol_error, "paged results control value is malformed", "paged_control"};
inline constexpr error compare_unknown_type{undefined_attribute_type, "", "compare_unknown_type"};
inline constexpr error compare_no_rule{inappropriate_matching, "", "compare_no_equality_rule"};
inline constexpr error compare_no_attribute{no_such_attribute, "", "compare_no_attribute"};

}  // namespace posthorn::proto::ldap::replies
