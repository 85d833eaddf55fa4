// store/mime internals shared by its files: the skeleton's in-memory form
// (skeleton::impl) and the header, address, encoded-word and date helpers
// the parser, the renderings and SEARCH are built from.
//
// The form: the message's parts as a flat vector in document order (a node
// is followed by its subtree; `end` is one past the subtree), every string
// in one text arena addressed by (offset, length), so a simple message
// costs a few hundred bytes and copying the skeleton copies four buffers.
//
// Threading: values only. Errors: the helpers never fail; malformed input
// gives what could be read (the renderings then say NIL).
#pragma once

#include "posthorn/store/mime.hh"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthorn::store::mime {

inline constexpr uint32_t none = UINT32_MAX;

// A string in impl::text; absent (IMAP NIL) when off == none.
struct text_ref {
    uint32_t off = none;
    uint32_t len = 0;
    bool present() const noexcept { return off != none; }
};

struct param {
    text_ref name, value;
};

// leaf: a body of its own. multipart: children are its parts. message: a
// message/rfc822 part; its one child is the embedded message (whose header
// is the embedded header and whose type is the embedded Content-Type).
enum class node_kind : uint8_t { leaf = 0, multipart = 1, message = 2 };

// Raw header values (unfolded, trimmed, cut at value_bytes_max); addresses
// are parsed when rendered, which keeps the stored form small.
struct envelope {
    text_ref fields[10];
    enum index : uint8_t { date, subject, from, sender, reply_to, to, cc, bcc, in_reply_to, message_id };
};

struct node {
    range header;                 // MIME header (a message node: its header), blank line included
    range body;
    uint32_t lines = 0;           // LFs in the body, as IMAP counts text/* and message/rfc822
    uint32_t end = 0;             // one past the last node of this subtree
    uint32_t envelope = none;     // message nodes (the root, the child of a message/rfc822)
    uint32_t params_begin = 0, params_count = 0;            // Content-Type parameters
    uint32_t disp_params_begin = 0, disp_params_count = 0;  // Content-Disposition parameters
    text_ref type, subtype;       // always present (defaults filled in by the parser)
    text_ref id, description, encoding, md5, disposition, language, location;
    node_kind kind = node_kind::leaf;
};

struct skeleton::impl {
    std::vector<node> nodes;      // nodes[0] is the message itself
    std::vector<envelope> envelopes;
    std::vector<param> params;
    std::string text;

    std::string_view str(text_ref r) const noexcept {
        return r.present() ? std::string_view(text).substr(r.off, r.len) : std::string_view();
    }
    text_ref add(std::string_view s) {
        if (s.size() > value_bytes_max) s = s.substr(0, value_bytes_max);
        text_ref r{static_cast<uint32_t>(text.size()), static_cast<uint32_t>(s.size())};
        text.append(s);
        return r;
    }
    // The node a part number path starts from inside `n`: a message/rfc822
    // node's embedded message; else n itself.
    uint32_t inner(uint32_t n) const noexcept { return nodes[n].kind == node_kind::message ? n + 1 : n; }
};

// --- header_parse.cc

// Calls f(name, value) for each field of a header block, in order; value
// unfolded (line breaks removed) and trimmed of surrounding whitespace.
// Lines that are no field (no colon) are skipped.
void for_each_field(std::string_view block, void (*f)(void*, std::string_view, std::string_view), void* ctx);
template <typename F>
void for_each_field(std::string_view block, F&& f) {
    for_each_field(
        block, [](void* c, std::string_view n, std::string_view v) { (*static_cast<F*>(c))(n, v); }, &f);
}

using param_list = std::vector<std::pair<std::string, std::string>>;
// RFC 2045 §5.1 Content-Type: type "/" subtype *(";" attribute "=" value),
// values tokens or quoted strings, comments anywhere. RFC 2231
// continuations (name*0, name*1*) are joined; an extended value keeps its
// charset'language' prefix under the name "name*". False when no
// type/subtype could be read (the caller then uses the default).
bool parse_content_type(std::string_view v, std::string& type, std::string& subtype, param_list& params);
// Content-Disposition (RFC 2183): a token then the same parameters.
bool parse_disposition(std::string_view v, std::string& type, param_list& params);
// Content-Language (RFC 3282): the language tags of a comma list.
std::vector<std::string> parse_language(std::string_view v);

// --- address_parse.cc

// One ENVELOPE address (RFC 3501 §7.4.2): a group start has mailbox = the
// group name and no host; a group end has neither.
struct address {
    enum class kind : uint8_t { mailbox, group_start, group_end };
    kind what = kind::mailbox;
    std::string name, route, mailbox, host;
    bool has_name = false;
};
inline constexpr size_t addresses_max = 512;
// RFC 5322 §3.4 address-list, with §4.4 obsolete forms (routes, empty
// list elements) tolerated: groups, display names (unquoted), quoted local
// parts (kept quoted), comments (the last one names an address that has
// no display name). At most addresses_max entries.
std::vector<address> parse_addresses(std::string_view v);

// --- encoded_words.cc

// RFC 2047 encoded words (B and Q) decoded to UTF-8 for utf-8, us-ascii
// and iso-8859-1 (latin1); words in other charsets, and malformed ones,
// are left as they are. Whitespace between adjacent encoded words goes.
std::string decode_encoded_words(std::string_view v);

// --- date_parse.cc

// RFC 5322 §3.3 date-time (obsolete zone names tolerated) as the seconds
// of its wall-clock time read as UTC (the zone is disregarded, as SEARCH
// SENT* wants), or nullopt.
std::optional<int64_t> parse_date(std::string_view v);

}  // namespace posthorn::store::mime
