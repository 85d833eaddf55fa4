// The little BER that posthorn-ldapload needs (RFC 4511 §5.1, X.690 definite
// lengths): an encoder for the requests it sends (BindRequest with simple
// authentication, SearchRequest with an equality or an initial-substring
// filter and an attribute list, UnbindRequest) and a framing decoder for what
// comes back: it splits the byte stream into LDAPMessages (tag + length),
// reads each message's ID and protocolOp tag, and for LDAPResults the
// resultCode and diagnosticMessage. Nothing else is decoded: entries are
// counted and, when asked, searched for one attribute value's bytes.
//
// Pure functions, no I/O, no state: safe from any thread. Limits: a length
// takes at most 4 bytes (messages up to message_bytes_max); a longer or
// indefinite length is malformed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::ldapload {

// protocolOp tags ([APPLICATION n], constructed unless noted).
inline constexpr uint8_t op_bind_request = 0x60;
inline constexpr uint8_t op_bind_response = 0x61;
inline constexpr uint8_t op_unbind_request = 0x42;  // primitive, NULL
inline constexpr uint8_t op_search_request = 0x63;
inline constexpr uint8_t op_search_entry = 0x64;
inline constexpr uint8_t op_search_done = 0x65;
inline constexpr uint8_t op_search_reference = 0x73;
inline constexpr uint8_t op_extended_response = 0x78;

inline constexpr size_t message_bytes_max = 16u << 20;

enum class filter_kind : uint8_t { equality, substring_initial };

struct search_spec {
    std::string_view base;
    filter_kind kind = filter_kind::equality;
    std::string_view attr;   // the filter's attribute (mail, cn)
    std::string_view value;  // equality value, or the substring's initial part
    const std::vector<std::string>* attrs = nullptr;  // attributes to return; null or empty: all
};

// Each appends one whole LDAPMessage to out.
void encode_bind(std::string& out, uint32_t message_id, std::string_view dn, std::string_view password);
void encode_search(std::string& out, uint32_t message_id, const search_spec& s);
void encode_unbind(std::string& out, uint32_t message_id);

// One LDAPMessage as framed in a buffer.
struct ldap_message {
    uint32_t id = 0;
    uint8_t op = 0;           // the protocolOp's tag
    std::string_view body;    // the protocolOp's contents (after its tag and length)
    size_t size = 0;          // bytes of the whole message
};

enum class frame_status : uint8_t { complete, need_more, malformed };

// Frames the message at the start of data. On complete, m is filled and
// m.size bytes may be consumed.
frame_status frame_message(std::string_view data, ldap_message& m);

// resultCode and diagnosticMessage of an LDAPResult body (BindResponse,
// SearchResultDone, ExtendedResponse); false if it does not parse.
bool parse_result(std::string_view body, uint32_t& result_code, std::string_view& diagnostic);

// True if an entry body holds value as an OCTET STRING (an attribute value,
// or the DN) — a cheap "this is the entry asked for" check.
bool entry_has_value(std::string_view entry_body, std::string_view value);

}  // namespace posthorn::ldapload
