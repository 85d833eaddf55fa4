// BER reader and writer for LDAP (ber.hh): the strict rules are here.
#include "proto/ldap/ber.hh"

namespace posthorn::proto::ldap::ber {

pdu_header read_header(std::string_view in) noexcept {
    pdu_header h;
    if (in.size() < 2) return h;
    h.tag = static_cast<uint8_t>(in[0]);
    if ((h.tag & 0x1f) == 0x1f) {
        h.status = header_status::bad;
        h.reason = "multi_byte_tag";
        return h;
    }
    const uint8_t first = static_cast<uint8_t>(in[1]);
    if (first < 0x80) {
        h.status = header_status::ok;
        h.header_bytes = 2;
        h.content_bytes = first;
        return h;
    }
    if (first == 0x80) {
        h.status = header_status::bad;
        h.reason = "indefinite_length";
        return h;
    }
    const size_t n = first & 0x7f;
    if (n > k_length_bytes_max) {
        h.status = header_status::bad;
        h.reason = "length_too_long";
        return h;
    }
    if (in.size() < 2 + n) return h;
    uint64_t len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<uint8_t>(in[2 + i]);
    h.status = header_status::ok;
    h.header_bytes = 2 + n;
    h.content_bytes = len;
    return h;
}

bool reader::any(uint8_t& tag, std::string_view& content) noexcept {
    if (_failed) return false;
    if (empty()) return fail("element_missing");
    pdu_header h = read_header(_in.substr(_pos));
    if (h.status == header_status::bad) return fail(h.reason);
    if (h.status == header_status::need_more) return fail("truncated_header");
    if (h.content_bytes > _in.size() - _pos - h.header_bytes) return fail("length_past_parent");
    tag = h.tag;
    content = _in.substr(_pos + h.header_bytes, static_cast<size_t>(h.content_bytes));
    _pos += h.header_bytes + static_cast<size_t>(h.content_bytes);
    return true;
}

bool reader::element(uint8_t want, std::string_view& content) noexcept {
    uint8_t tag = 0;
    if (_failed) return false;
    if (peek() != want) return fail(empty() ? "element_missing" : "unexpected_tag");
    return any(tag, content);
}

bool reader::enter(uint8_t want, reader& inner) noexcept {
    std::string_view content;
    if (!element(want, content)) return false;
    inner = reader(content);
    return true;
}

bool reader::integer(uint8_t want, int64_t& value) noexcept {
    std::string_view c;
    if (!element(want, c)) return false;
    if (c.empty()) return fail("empty_integer");
    if (c.size() > 5 || (c.size() == 5 && c[0] != 0)) return fail("integer_too_big");
    if (static_cast<uint8_t>(c[0]) & 0x80) return fail("negative_integer");
    int64_t v = 0;
    for (char ch : c) v = (v << 8) | static_cast<uint8_t>(ch);
    if (v > INT32_MAX) return fail("integer_too_big");
    value = v;
    return true;
}

bool reader::boolean(uint8_t want, bool& value) noexcept {
    std::string_view c;
    if (!element(want, c)) return false;
    if (c.size() != 1) return fail("bad_boolean");
    value = c[0] != 0;
    return true;
}

void writer::header(uint8_t tag, size_t length) {
    _out.push_back(static_cast<char>(tag));
    if (length < 0x80) {
        _out.push_back(static_cast<char>(length));
        return;
    }
    size_t n = length <= 0xff ? 1 : length <= 0xffff ? 2 : length <= 0xffffff ? 3 : 4;
    _out.push_back(static_cast<char>(0x80 | n));
    for (size_t i = n; i-- > 0;) _out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
}

size_t integer_bytes(int64_t v) noexcept {
    size_t n = 1;
    while (n < 8 && (v >= (int64_t{1} << (8 * n - 1)) || v < -(int64_t{1} << (8 * n - 1)))) ++n;
    return 2 + n;
}

void writer::integer(uint8_t tag, int64_t v) {
    const size_t n = integer_bytes(v) - 2;
    header(tag, n);
    for (size_t i = n; i-- > 0;) _out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}

void writer::end(size_t mark) {
    const size_t length = _out.size() - mark;
    if (length < 0x80) {
        _out[mark - 1] = static_cast<char>(length);
        return;
    }
    const size_t n = length <= 0xff ? 1 : length <= 0xffff ? 2 : length <= 0xffffff ? 3 : 4;
    _out.insert(mark, n, '\0');  // moves the content up by the extra length bytes
    _out[mark - 1] = static_cast<char>(0x80 | n);
    for (size_t i = 0; i < n; ++i) _out[mark + i] = static_cast<char>((length >> (8 * (n - 1 - i))) & 0xff);
}

}  // namespace posthorn::proto::ldap::ber
