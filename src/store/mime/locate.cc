// Sections (RFC 3501 §6.4.5): which bytes BODY[path.what] names, and the
// HEADER.FIELDS (NOT) filter over a header block.
//
// Part numbers: the parts of a multipart count from 1; a message/rfc822
// part's numbers go on into its embedded message; a non-multipart message
// (or embedded message) has one part, 1, its body. HEADER, HEADER.FIELDS
// (NOT) and TEXT follow a path only when it names a message/rfc822 part
// (then they are its embedded message's); MIME needs a path.
//
// Threading: reads the skeleton only. Errors: nullopt for a path that
// names no part, or a specifier that does not apply to it.
#include "posthorn/core/text.hh"
#include "store/mime/internal.hh"

namespace posthorn::store::mime {

std::optional<range> skeleton::locate(const section& s) const {
    const impl& m = *_impl;
    if (s.path.empty()) {
        const node& root = m.nodes[0];
        switch (s.what) {
        case section::kind::all: return range{0, root.body.offset + root.body.length};
        case section::kind::header:
        case section::kind::header_fields:
        case section::kind::header_fields_not: return root.header;
        case section::kind::text: return root.body;
        case section::kind::mime: return std::nullopt;
        }
        return std::nullopt;
    }
    uint32_t at = 0;  // the part named so far (the root: the message)
    for (size_t i = 0; i < s.path.size(); ++i) {
        const uint32_t number = s.path[i];
        if (number == 0) return std::nullopt;
        uint32_t container = at;
        if (i > 0) {
            if (m.nodes[at].kind == node_kind::message) container = at + 1;
            else if (m.nodes[at].kind != node_kind::multipart) return std::nullopt;
        }
        if (m.nodes[container].kind == node_kind::multipart) {
            uint32_t c = container + 1, k = 1;
            const uint32_t end = m.nodes[container].end;
            while (c < end && k < number) {
                c = m.nodes[c].end;
                ++k;
            }
            if (c >= end) return std::nullopt;
            at = c;
        } else {
            if (number != 1) return std::nullopt;
            at = container;  // a single-part message's part 1: its body
        }
    }
    const node& n = m.nodes[at];
    switch (s.what) {
    case section::kind::all: return n.body;
    case section::kind::mime: return n.header;
    case section::kind::header:
    case section::kind::header_fields:
    case section::kind::header_fields_not:
        if (n.kind != node_kind::message) return std::nullopt;
        return m.nodes[at + 1].header;
    case section::kind::text:
        if (n.kind != node_kind::message) return std::nullopt;
        return m.nodes[at + 1].body;
    }
    return std::nullopt;
}

void filter_header_fields(std::string_view block, std::span<const std::string_view> names, bool exclude,
                          std::string& out) {
    bool keep = false;
    size_t at = 0;
    while (at < block.size()) {
        size_t eol = block.find('\n', at);
        size_t next = eol == std::string_view::npos ? block.size() : eol + 1;
        std::string_view line = block.substr(at, next - at);
        at = next;
        std::string_view content = line;
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.remove_suffix(1);
        if (content.empty()) break;  // the blank line: the header ends
        if (line[0] != ' ' && line[0] != '\t') {
            size_t colon = content.find(':');
            std::string_view name = content.substr(0, colon == std::string_view::npos ? 0 : colon);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
            bool listed = false;
            if (colon != std::string_view::npos)
                for (std::string_view n : names) listed |= core::iequals(n, name);
            keep = listed != exclude;
        }
        if (keep) {
            out.append(content);
            out += "\r\n";
        }
    }
    out += "\r\n";
}

}  // namespace posthorn::store::mime
