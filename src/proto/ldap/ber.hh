// proto/ldap/ber: the subset of BER (X.690) that LDAPv3 uses (RFC 4511 §5.1),
// strict on input and direct on output.
//
// reader: walks one element at a time over bytes it does not own. It takes
// single-byte tags only (LDAP has no tag above 30), definite lengths only
// (0x80, indefinite, is refused), long-form lengths of at most 4 bytes
// (BER allows leading zeros there, and OpenLDAP's liblber sends 0x84 forms,
// so those are accepted), and no element may run past its parent. Every
// failure is a plain `false`/nullopt plus a reason a session logs; nothing
// here allocates or throws.
//
// pdu_header(): how long the next whole LDAPMessage is, read from its first
// bytes alone, so a session refuses a PDU over its limit (a 1 GiB length
// prefix) before buffering any of it.
//
// writer: appends to a std::string it is given. Elements of known length get
// their header at once; constructed ones reserve one length byte and are
// closed with end(), which writes the minimal length (moving the content up
// when the length needs more bytes). No temporaries per element.
//
// Threading: stateless apart from the object; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::proto::ldap::ber {

// Universal and LDAP tags (RFC 4511 §4, §5.1).
enum tag : uint8_t {
    t_boolean = 0x01,
    t_integer = 0x02,
    t_octets = 0x04,
    t_null = 0x05,
    t_enumerated = 0x0a,
    t_sequence = 0x30,
    t_set = 0x31,
};
constexpr uint8_t application(uint8_t n, bool constructed) noexcept {
    return static_cast<uint8_t>(0x40 | (constructed ? 0x20 : 0) | n);
}
constexpr uint8_t context(uint8_t n, bool constructed) noexcept {
    return static_cast<uint8_t>(0x80 | (constructed ? 0x20 : 0) | n);
}

constexpr size_t k_length_bytes_max = 4;   // long form: 0x81..0x84

enum class header_status : uint8_t { need_more, ok, bad };
struct pdu_header {
    header_status status = header_status::need_more;
    uint8_t tag = 0;
    size_t header_bytes = 0;    // tag + length octets
    uint64_t content_bytes = 0;
    const char* reason = "";    // for bad
};
// Reads the tag and length at the front of `in` (which may be short).
pdu_header read_header(std::string_view in) noexcept;

class reader {
public:
    explicit reader(std::string_view bytes) noexcept : _in(bytes) {}

    bool empty() const noexcept { return _pos >= _in.size(); }
    size_t remaining() const noexcept { return _in.size() - _pos; }
    bool failed() const noexcept { return _failed; }
    const char* reason() const noexcept { return _reason; }
    // The tag of the next element, or 0 at the end.
    uint8_t peek() const noexcept { return empty() ? 0 : static_cast<uint8_t>(_in[_pos]); }

    // The next element, whatever its tag: its tag and content.
    bool any(uint8_t& tag, std::string_view& content) noexcept;
    // The next element, which must have tag `want`.
    bool element(uint8_t want, std::string_view& content) noexcept;
    // A nested reader over the next element's content (tag `want`).
    bool enter(uint8_t want, reader& inner) noexcept;
    // INTEGER / ENUMERATED into 0..INT32_MAX (what LDAP uses: messageID,
    // limits, version, scope); negative or longer values are refused.
    bool integer(uint8_t want, int64_t& value) noexcept;
    bool boolean(uint8_t want, bool& value) noexcept;
    bool fail(const char* why) noexcept {
        if (!_failed) _reason = why;
        _failed = true;
        return false;
    }

private:
    std::string_view _in;
    size_t _pos = 0;
    bool _failed = false;
    const char* _reason = "";
};

class writer {
public:
    explicit writer(std::string& out) noexcept : _out(out) {}

    // A header for content of a known length.
    void header(uint8_t tag, size_t length);
    void octets(uint8_t tag, std::string_view s) {
        header(tag, s.size());
        _out.append(s);
    }
    void integer(uint8_t tag, int64_t v);
    void boolean(uint8_t tag, bool v) {
        header(tag, 1);
        _out.push_back(v ? '\xff' : '\0');
    }
    // Constructed element of unknown length: begin() returns a mark for end().
    size_t begin(uint8_t tag) {
        _out.push_back(static_cast<char>(tag));
        _out.push_back('\0');
        return _out.size();
    }
    void end(size_t mark);
    std::string& out() noexcept { return _out; }

private:
    std::string& _out;
};

// Bytes a header for `length` takes (tag included).
constexpr size_t header_bytes(size_t length) noexcept {
    return length < 0x80 ? 2 : length <= 0xff ? 3 : length <= 0xffff ? 4 : length <= 0xffffff ? 5 : 6;
}
// Bytes an INTEGER element with value v takes.
size_t integer_bytes(int64_t v) noexcept;

}  // namespace posthorn::proto::ldap::ber
