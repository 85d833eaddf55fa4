// BER encoder and LDAPMessage framing for posthorn-ldapload (see ber.hh).
// The encoder of the few, small bind and unbind messages writes each
// constructed element's contents first and then inserts its tag and length in
// front of them; encode_search, once per request, computes its sizes first and
// writes front to back.
#include "ber.hh"

#include <cstring>

namespace posthorn::ldapload {
namespace {

// Tag and definite length of `len` content bytes; up to 6 bytes.
size_t header(uint8_t* p, uint8_t tag, size_t len) {
    p[0] = tag;
    if (len < 0x80) {
        p[1] = static_cast<uint8_t>(len);
        return 2;
    }
    size_t n = 0;
    for (size_t v = len; v != 0; v >>= 8) ++n;
    p[1] = static_cast<uint8_t>(0x80 | n);
    for (size_t i = 0; i < n; ++i) p[2 + i] = static_cast<uint8_t>(len >> (8 * (n - 1 - i)));
    return 2 + n;
}

// Wraps out[start..] (the contents written so far) in tag + length.
void wrap(std::string& out, size_t start, uint8_t tag) {
    uint8_t h[8];
    const size_t n = header(h, tag, out.size() - start);
    out.insert(start, reinterpret_cast<const char*>(h), n);
}

void primitive(std::string& out, uint8_t tag, std::string_view v) {
    uint8_t h[8];
    const size_t n = header(h, tag, v.size());
    out.append(reinterpret_cast<const char*>(h), n);
    out.append(v);
}

// A non-negative INTEGER or ENUMERATED in its shortest two's complement form.
void integer(std::string& out, uint8_t tag, uint32_t v) {
    uint8_t b[5];
    size_t n = 0;
    do {
        b[n++] = static_cast<uint8_t>(v & 0xff);
        v >>= 8;
    } while (v != 0);
    if (b[n - 1] & 0x80) b[n++] = 0;  // keep it positive
    out.push_back(static_cast<char>(tag));
    out.push_back(static_cast<char>(n));
    while (n) out.push_back(static_cast<char>(b[--n]));
}

// Bytes of an element with n content bytes.
size_t tlv_size(size_t n) {
    size_t h = 2;
    if (n >= 0x80)
        for (size_t v = n; v != 0; v >>= 8) ++h;
    return h + n;
}

size_t integer_size(uint32_t v) {
    size_t n = 1;
    while (n < 4 && (v >> (8 * n)) != 0) ++n;
    if ((v >> (8 * n - 1)) & 1) ++n;  // a leading 0 keeps it positive
    return 2 + n;
}

void open_tag(std::string& out, uint8_t tag, size_t contents) {
    uint8_t h[8];
    out.append(reinterpret_cast<const char*>(h), header(h, tag, contents));
}

// Reads tag + length at data[0..]; header_bytes and content_bytes on success.
frame_status element(std::string_view data, uint8_t& tag, size_t& header_bytes, size_t& content_bytes) {
    if (data.size() < 2) return frame_status::need_more;
    tag = static_cast<uint8_t>(data[0]);
    const uint8_t l = static_cast<uint8_t>(data[1]);
    if (l < 0x80) {
        header_bytes = 2;
        content_bytes = l;
        return frame_status::complete;
    }
    const size_t n = l & 0x7f;
    if (n == 0 || n > 4) return frame_status::malformed;  // indefinite or absurd
    if (data.size() < 2 + n) return frame_status::need_more;
    size_t len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<uint8_t>(data[2 + i]);
    header_bytes = 2 + n;
    content_bytes = len;
    return frame_status::complete;
}

// The element at the start of data, whole; false if it is not all there.
bool take(std::string_view& data, uint8_t& tag, std::string_view& contents) {
    size_t h = 0, c = 0;
    if (element(data, tag, h, c) != frame_status::complete || data.size() - h < c) return false;
    contents = data.substr(h, c);
    data.remove_prefix(h + c);
    return true;
}

bool read_uint(std::string_view v, uint32_t& out) {
    if (v.empty() || v.size() > 5 || (static_cast<uint8_t>(v[0]) & 0x80)) return false;
    uint64_t x = 0;
    for (char c : v) x = (x << 8) | static_cast<uint8_t>(c);
    if (x > UINT32_MAX) return false;
    out = static_cast<uint32_t>(x);
    return true;
}

}  // namespace

void encode_bind(std::string& out, uint32_t message_id, std::string_view dn, std::string_view password) {
    const size_t msg = out.size();
    integer(out, 0x02, message_id);
    const size_t op = out.size();
    integer(out, 0x02, 3);            // version
    primitive(out, 0x04, dn);         // name
    primitive(out, 0x80, password);   // authentication: simple [0]
    wrap(out, op, op_bind_request);
    wrap(out, msg, 0x30);
}

void encode_search(std::string& out, uint32_t message_id, const search_spec& s) {
    // Sizes first, inside out, so that the message is written front to back
    // in one pass (this runs once per request sent).
    const size_t base = tlv_size(s.base.size());
    constexpr size_t fixed = 5 * 3;  // scope, derefAliases, sizeLimit, timeLimit, typesOnly
    const size_t attr = tlv_size(s.attr.size());
    const size_t value = tlv_size(s.value.size());
    const size_t filter_contents = attr + (s.kind == filter_kind::equality ? value : tlv_size(value));
    size_t attrs_contents = 0;
    if (s.attrs)
        for (const std::string& a : *s.attrs) attrs_contents += tlv_size(a.size());
    const size_t op_contents = base + fixed + tlv_size(filter_contents) + tlv_size(attrs_contents);
    const size_t msg_contents = integer_size(message_id) + tlv_size(op_contents);
    out.reserve(out.size() + tlv_size(msg_contents));

    open_tag(out, 0x30, msg_contents);
    integer(out, 0x02, message_id);
    open_tag(out, op_search_request, op_contents);
    primitive(out, 0x04, s.base);      // baseObject
    integer(out, 0x0a, 2);             // scope: wholeSubtree
    integer(out, 0x0a, 0);             // derefAliases: neverDerefAliases
    integer(out, 0x02, 0);             // sizeLimit: none from the client
    integer(out, 0x02, 0);             // timeLimit
    out.append("\x01\x01\x00", 3);     // typesOnly FALSE
    if (s.kind == filter_kind::equality) {
        open_tag(out, 0xa3, filter_contents);  // equalityMatch [3]
        primitive(out, 0x04, s.attr);
        primitive(out, 0x04, s.value);
    } else {
        open_tag(out, 0xa4, filter_contents);  // substrings [4]
        primitive(out, 0x04, s.attr);
        open_tag(out, 0x30, value);
        primitive(out, 0x80, s.value);         // initial [0]
    }
    open_tag(out, 0x30, attrs_contents);
    if (s.attrs)
        for (const std::string& a : *s.attrs) primitive(out, 0x04, a);
}

void encode_unbind(std::string& out, uint32_t message_id) {
    const size_t msg = out.size();
    integer(out, 0x02, message_id);
    out.push_back(static_cast<char>(op_unbind_request));
    out.push_back(0);
    wrap(out, msg, 0x30);
}

frame_status frame_message(std::string_view data, ldap_message& m) {
    uint8_t tag = 0;
    size_t h = 0, c = 0;
    frame_status st = element(data, tag, h, c);
    if (st != frame_status::complete) return st;
    if (tag != 0x30 || c > message_bytes_max) return frame_status::malformed;
    if (data.size() - h < c) return frame_status::need_more;
    std::string_view rest = data.substr(h, c);
    std::string_view id;
    if (!take(rest, tag, id) || tag != 0x02 || !read_uint(id, m.id)) return frame_status::malformed;
    std::string_view body;
    if (!take(rest, m.op, body)) return frame_status::malformed;
    m.body = body;
    m.size = h + c;  // controls, if any, follow the protocolOp and are ignored
    return frame_status::complete;
}

bool parse_result(std::string_view body, uint32_t& result_code, std::string_view& diagnostic) {
    uint8_t tag = 0;
    std::string_view v, matched;
    if (!take(body, tag, v) || tag != 0x0a || !read_uint(v, result_code)) return false;
    if (!take(body, tag, matched) || tag != 0x04) return false;
    if (!take(body, tag, diagnostic) || tag != 0x04) return false;
    return true;
}

bool entry_has_value(std::string_view entry_body, std::string_view value) {
    if (value.empty() || value.size() >= 0x80) return false;
    char needle[0x82];
    needle[0] = 0x04;
    needle[1] = static_cast<char>(value.size());
    std::memcpy(needle + 2, value.data(), value.size());
    return memmem(entry_body.data(), entry_body.size(), needle, value.size() + 2) != nullptr;
}

}  // namespace posthorn::ldapload
