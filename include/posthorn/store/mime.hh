// store/mime: the MIME skeleton of a stored message (RFC 2045-2049, RFC
// 5322), parsed once when the message enters the store and kept with its
// index record, so IMAP answers ENVELOPE, BODYSTRUCTURE, BODY[section] and
// SEARCH on addresses and subjects without reading or reparsing the message.
//
// Owns: the parse (incremental: fed the message in windows of any size, as
// local delivery reads them for the content hash), the compact encoding
// kept in the index, the IMAP renderings of ENVELOPE and BODY/BODYSTRUCTURE
// (RFC 3501 §7.4.2), and the byte ranges of sections (§6.4.5).
//
// Limits: at most max_parts parts and max_depth nesting of multiparts and
// message/rfc822; deeper or further structure is kept as one opaque leaf
// (text/plain when that is what it says, else its declared type), never an
// error. Header values kept for ENVELOPE/BODYSTRUCTURE are cut at
// value_bytes_max each. Memory while parsing: one header block at a time
// (cut at header_bytes_max), plus the boundary stack.
//
// Threading: values only; no shared state.
#pragma once

#include "posthorn/core/result.hh"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::store::mime {

inline constexpr uint32_t max_parts = 4096;
inline constexpr uint32_t max_depth = 64;
inline constexpr uint32_t value_bytes_max = 2048;
inline constexpr uint32_t header_bytes_max = 256 * 1024;

// A byte range of the message (offsets from its first byte).
struct range {
    uint64_t offset = 0;
    uint64_t length = 0;
};

// What FETCH BODY[...] names (RFC 3501 §6.4.5): a part path ("1.2" ->
// {1, 2}; empty for the whole message) and what of it.
struct section {
    enum class kind : uint8_t { all, header, header_fields, header_fields_not, text, mime };
    std::vector<uint32_t> path;
    kind what = kind::all;
};

class skeleton {
public:
    skeleton();
    ~skeleton();
    skeleton(skeleton&&) noexcept;
    skeleton& operator=(skeleton&&) noexcept;

    // The compact form kept in the index; decode() of it gives back an
    // equal skeleton. decode() of anything else is an error, never UB.
    std::string encode() const;
    static core::result<skeleton> decode(std::string_view bytes);

    // IMAP renderings, appended to `out`: the ENVELOPE list and the BODY
    // (extensible = false) or BODYSTRUCTURE (true) list.
    void write_envelope(std::string& out) const;
    void write_body_structure(std::string& out, bool extensible) const;

    // The bytes a section names, or nullopt when the path names no part
    // (RFC 3501: then the answer is an empty string). HEADER.FIELDS (NOT)
    // give the header block's range; the caller filters it with
    // filter_header_fields().
    std::optional<range> locate(const section& s) const;

    // SEARCH FROM/TO/CC/BCC/SUBJECT on the top-level header, decoded
    // (RFC 2047 encoded words), matched case-insensitively as substrings
    // (ASCII case folding; UTF-8 bytes as they are).
    enum class field : uint8_t { from, to, cc, bcc, subject };
    bool field_contains(field f, std::string_view needle) const;
    // Date: header as unix seconds (SENTBEFORE/SENTON/SENTSINCE), or
    // nullopt when missing or unparseable. The header's own wall-clock
    // time counted as UTC: RFC 3501 §6.4.4 compares the date "disregarding
    // time and timezone", so the zone is not applied.
    std::optional<int64_t> sent_date() const;
    // Top-level header block and body (SEARCH HEADER/TEXT/BODY read these).
    range header() const;
    range body() const;
    // What SEARCH BODY reads, in document order: the body of every text/*
    // leaf, with its transfer encoding and charset to decode it by
    // (store/text_decoder.hh), and the header of every embedded message
    // (raw: no encoding, no charset). Other leaves (attachments) are not
    // text. Views into this skeleton.
    struct text_span {
        range bytes;
        std::string_view encoding;
        std::string_view charset;
    };
    void text_spans(std::vector<text_span>& out) const;

    struct impl;
private:
    friend class parser;
    explicit skeleton(std::unique_ptr<impl> i) noexcept;  // parser, decode: no empty one built first
    std::unique_ptr<impl> _impl;
};

// Fed a message in order, in pieces of any size (CRLF or bare LF line
// ends); finish() gives the skeleton of what was fed.
class parser {
public:
    parser();
    ~parser();
    parser(const parser&) = delete;
    parser& operator=(const parser&) = delete;
    void feed(std::string_view bytes);
    skeleton finish();

    struct impl;
private:
    std::unique_ptr<impl> _impl;
};

skeleton parse(std::string_view message);

// HEADER.FIELDS (NOT): the lines of `header_block` (folded lines kept with
// their field) whose field name is (is not) one of `names`
// (case-insensitive), then the blank line, as RFC 3501 §6.4.5 asks.
void filter_header_fields(std::string_view header_block, std::span<const std::string_view> names, bool exclude,
                          std::string& out);

}  // namespace posthorn::store::mime
