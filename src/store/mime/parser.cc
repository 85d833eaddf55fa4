// The incremental MIME parse (RFC 2045/2046, RFC 5322): fed the message in
// pieces of any size, line by line, it builds the skeleton — the header and
// body range of every part, types and fields, envelopes of the message and
// of each embedded message/rfc822, and IMAP line counts.
//
// How: a stack of open parts, innermost last. Each line is first checked
// against the boundaries of the open multiparts (innermost first; an outer
// one closes the inner parts too, RFC 2046 §5.1.2), then belongs to the
// innermost part: to its header until the blank line, else to its body.
// The line break before a delimiter line belongs to the delimiter
// (§5.1.1), so it is neither in the part's size nor in its line count.
// Tolerated: bare LF line ends, a missing close delimiter, a part that ends
// inside its header, transport padding after a delimiter, a header that
// ends at a line that is no field (no blank line before the body).
//
// Limits (mime.hh): max_parts nodes (later delimiters of the multiparts
// are then body text of the last part), max_depth nested multiparts and
// message/rfc822 (deeper ones are leaves of their declared type); a header
// block is kept up to header_bytes_max; of a body line only its first
// line_keep_bytes are kept (a delimiter is at most 70 + 4 bytes).
// Threading: one parser, one thread. Never fails.
#include "posthorn/core/text.hh"
#include "store/mime/internal.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::store::mime {

namespace {

constexpr size_t line_keep_bytes = 1024;

enum class state : uint8_t {
    header,    // reading the part's header block
    body,      // a leaf's body, or a message/rfc822 whose child is open
    parts,     // a multipart before its close delimiter (preamble, between parts)
    epilogue,  // a multipart after its close delimiter
};

struct frame {
    uint32_t node = 0;
    state st = state::header;
    bool message = false;         // the root or an embedded message: has an envelope
    bool default_rfc822 = false;  // a part of a multipart/digest (RFC 2046 §5.1.5)
    bool digest = false;          // this is a multipart/digest
    std::string delimiter;        // "--" boundary, for multiparts
    uint64_t lf_at_body = 0;      // LFs before the body
};

// RFC 2045 §6.1: 7bit, 8bit and binary leave the bytes as they are.
bool identity_encoding(std::string_view e) noexcept {
    return e.empty() || core::iequals(e, "7bit") || core::iequals(e, "8bit") || core::iequals(e, "binary");
}

bool only_padding(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

struct parser::impl {
    skeleton::impl sk;
    std::vector<frame> stack;
    std::string line;             // the current line (a prefix of it in a body)
    std::string header;           // the innermost part's header block so far
    uint64_t pos = 0;             // bytes fed
    uint64_t line_start = 0;
    uint64_t lf = 0;              // LFs before line_start
    uint8_t prev_eol = 0;         // line break length of the previous line
    char last = 0;                // the last byte fed

    impl() {
        sk.nodes.emplace_back();
        stack.push_back(frame{0, state::header, true, false, false, {}, 0});
    }

    void feed(std::string_view b) {
        while (!b.empty()) {
            const void* nl = std::memchr(b.data(), '\n', b.size());
            const size_t n = nl ? static_cast<size_t>(static_cast<const char*>(nl) - b.data()) + 1 : b.size();
            // A header line is kept whole; of a body line only what a
            // delimiter check reads, and nothing once it cannot be one.
            const bool in_header = stack.back().st == state::header;
            const size_t keep = in_header ? header_bytes_max : line_keep_bytes;
            const bool maybe_delimiter = line.empty() || (line[0] == '-' && (line.size() < 2 || line[1] == '-'));
            if (line.size() < keep && (in_header || maybe_delimiter))
                line.append(b.substr(0, std::min(n, keep - line.size())));
            const uint64_t length = pos + n - line_start;  // the whole line so far
            const char before = n >= 2 ? b[n - 2] : last;
            pos += n;
            last = b[n - 1];
            b.remove_prefix(n);
            if (!nl) continue;
            const uint8_t eol = length >= 2 && before == '\r' ? 2 : 1;
            end_line(length, eol);
        }
    }

    void end_line(uint64_t length, uint8_t eol) {
        const uint64_t content = length - eol;
        on_line(std::string_view(line).substr(0, std::min<uint64_t>(line.size(), content)), line_start + length, eol);
        line.clear();
        line_start = pos;
        lf += eol > 0;
        prev_eol = eol;
    }

    uint32_t depth() const noexcept {
        uint32_t d = 0;
        for (const frame& f : stack) d += sk.nodes[f.node].kind != node_kind::leaf;
        return d;
    }

    void on_line(std::string_view content, uint64_t next, uint8_t eol) {
        if (content.size() >= 2 && content[0] == '-' && content[1] == '-') {
            for (size_t k = stack.size(); k-- > 0;) {
                const frame& f = stack[k];
                if (f.st != state::parts || !content.starts_with(f.delimiter)) continue;
                std::string_view rest = content.substr(f.delimiter.size());
                const bool close = rest.starts_with("--");
                if (close) rest.remove_prefix(2);
                if (!only_padding(rest)) continue;
                if (!close && sk.nodes.size() >= max_parts) break;  // body text of the last part
                on_delimiter(k, close, next);
                return;
            }
        }
        frame& top = stack.back();
        if (top.st != state::header) return;
        if (content.empty()) {
            end_header(next, eol);
            return;
        }
        if (!field_or_continuation(content)) {
            // A line that is no header field ends the header without a
            // blank line, and starts the body (as Postfix's cleanup reads
            // it): text typed right after DATA, under the Received: and
            // Return-Path: lines the server put in front, is the body.
            end_header(line_start, 0);
            on_line(content, next, eol);   // now a body (or a child's header) line
            return;
        }
        if (header.size() + line.size() <= header_bytes_max) header += line;
    }

    // RFC 5322 §2.2: a field starts with a name of printable characters
    // up to a colon (obsolete syntax allows blanks before it, §4.5.3); a
    // continuation line starts with a blank.
    static bool field_or_continuation(std::string_view l) noexcept {
        if (l[0] == ' ' || l[0] == '\t') return true;
        size_t i = 0;
        while (i < l.size() && l[i] > ' ' && l[i] < 127 && l[i] != ':') ++i;
        if (i == 0) return false;
        while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
        return i < l.size() && l[i] == ':';
    }

    void on_delimiter(size_t k, bool close, uint64_t next) {
        const uint64_t end = line_start >= prev_eol ? line_start - prev_eol : 0;
        const uint64_t lf_end = lf - (prev_eol > 0 ? 1 : 0);
        while (stack.size() > k + 1) {
            close_top(end, lf_end);
        }
        frame& f = stack[k];
        if (close) {
            f.st = state::epilogue;
            return;
        }
        const bool rfc822 = f.digest;
        const auto id = static_cast<uint32_t>(sk.nodes.size());
        sk.nodes.emplace_back().header.offset = next;
        stack.push_back(frame{id, state::header, false, rfc822, false, {}, 0});
    }

    void end_header(uint64_t next, uint8_t eol) {
        frame& f = stack.back();
        const uint32_t id = f.node;
        sk.nodes[id].header.length = next - sk.nodes[id].header.offset;
        sk.nodes[id].body.offset = next;
        f.lf_at_body = lf + (eol > 0);
        std::string boundary;
        read_header(f, boundary);
        header.clear();
        node& n = sk.nodes[id];
        const std::string_view type = sk.str(n.type), subtype = sk.str(n.subtype);
        const bool room = depth() < max_depth && sk.nodes.size() < max_parts;
        if (core::iequals(type, "multipart") && !boundary.empty() && room) {
            n.kind = node_kind::multipart;
            f.st = state::parts;
            f.delimiter = "--" + boundary;
            f.digest = core::iequals(subtype, "digest");
        } else if (core::iequals(type, "message") && core::iequals(subtype, "rfc822") && room &&
                   identity_encoding(sk.str(n.encoding))) {
            // (A base64 or quoted-printable message/rfc822, which RFC 2046
            // §5.2.1 forbids but mailers send, is kept opaque: its bytes
            // are no message until decoded.)
            n.kind = node_kind::message;
            f.st = state::body;
            const auto child = static_cast<uint32_t>(sk.nodes.size());
            sk.nodes.emplace_back().header.offset = next;
            stack.push_back(frame{child, state::header, true, false, false, {}, 0});
        } else {
            f.st = state::body;
        }
    }

    // Ends the innermost open part at `end` (its body's last byte + 1).
    void close_top(uint64_t end, uint64_t lf_end) {
        frame& f = stack.back();
        node& n = sk.nodes[f.node];
        end = std::max(end, n.header.offset);
        if (f.st == state::header) {
            // The part ended inside its header: all header, an empty body.
            n.header.length = end - n.header.offset;
            n.body = range{end, 0};
            std::string boundary;
            read_header(f, boundary);
            header.clear();
        } else {
            end = std::max(end, n.body.offset);
            n.body.length = end - n.body.offset;
            n.lines = static_cast<uint32_t>(std::min<uint64_t>(lf_end > f.lf_at_body ? lf_end - f.lf_at_body : 0, UINT32_MAX));
        }
        n.end = static_cast<uint32_t>(sk.nodes.size());
        stack.pop_back();
    }

    // The fields of the innermost part's header block into its node (and
    // its envelope, for a message).
    void read_header(const frame& f, std::string& boundary) {
        struct seen {
            std::string_view content_type, encoding, id, description, md5, disposition, language, location;
            std::string_view env[10];
            bool has_env[10] = {};
            bool has[8] = {};
        } s;
        static constexpr std::string_view env_names[10] = {"date", "subject", "from", "sender", "reply-to",
                                                            "to",   "cc",      "bcc",  "in-reply-to", "message-id"};
        std::vector<std::string> values;  // storage: for_each_field's value dies after the call
        values.reserve(32);
        auto keep = [&](std::string_view v) -> std::string_view {
            values.emplace_back(v.substr(0, std::min<size_t>(v.size(), value_bytes_max)));
            return values.back();
        };
        auto take = [&](std::string_view name, std::string_view want, int slot, std::string_view value,
                        std::string_view& into) {
            if (s.has[slot] || !core::iequals(name, want)) return false;
            s.has[slot] = true;
            into = keep(value);
            return true;
        };
        for_each_field(header, [&](std::string_view name, std::string_view value) {
            if (values.size() >= 30) return;  // more distinct fields than we keep
            if (take(name, "content-type", 0, value, s.content_type) ||
                take(name, "content-transfer-encoding", 1, value, s.encoding) ||
                take(name, "content-id", 2, value, s.id) ||
                take(name, "content-description", 3, value, s.description) ||
                take(name, "content-md5", 4, value, s.md5) ||
                take(name, "content-disposition", 5, value, s.disposition) ||
                take(name, "content-language", 6, value, s.language) ||
                take(name, "content-location", 7, value, s.location))
                return;
            if (!f.message) return;
            for (int i = 0; i < 10; ++i) {
                if (!s.has_env[i] && core::iequals(name, env_names[i])) {
                    s.has_env[i] = true;
                    s.env[i] = keep(value);
                    return;
                }
            }
        });
        node& n = sk.nodes[f.node];
        std::string type, subtype;
        param_list params;
        if (!(s.has[0] && parse_content_type(s.content_type, type, subtype, params))) {
            type = f.default_rfc822 ? "message" : "text";
            subtype = f.default_rfc822 ? "rfc822" : "plain";
            params.clear();
        }
        n.type = sk.add(type);
        n.subtype = sk.add(subtype);
        n.params_begin = static_cast<uint32_t>(sk.params.size());
        for (auto& [name, value] : params) {
            if (name == "boundary") boundary = value;
            sk.params.push_back(param{sk.add(name), sk.add(value)});
        }
        n.params_count = static_cast<uint32_t>(sk.params.size()) - n.params_begin;
        auto field = [&](int slot, std::string_view v) { return s.has[slot] && !v.empty() ? sk.add(v) : text_ref{}; };
        if (s.has[1]) {
            // The mechanism is a token (RFC 2045 §6.1): cut at junk.
            std::string_view e = s.encoding;
            e = e.substr(0, std::min(e.size(), e.find_first_of(" \t;(")));
            n.encoding = field(1, e);
        }
        n.id = field(2, s.id);
        n.description = field(3, s.description);
        n.md5 = field(4, s.md5);
        n.language = field(6, s.language);
        n.location = field(7, s.location);
        n.disp_params_begin = static_cast<uint32_t>(sk.params.size());
        if (s.has[5]) {
            std::string disposition;
            if (parse_disposition(s.disposition, disposition, params)) {
                n.disposition = sk.add(disposition);
                for (auto& [name, value] : params) sk.params.push_back(param{sk.add(name), sk.add(value)});
            }
        }
        n.disp_params_count = static_cast<uint32_t>(sk.params.size()) - n.disp_params_begin;
        if (f.message) {
            envelope e;
            for (int i = 0; i < 10; ++i)
                if (s.has_env[i]) e.fields[i] = sk.add(s.env[i]);
            n.envelope = static_cast<uint32_t>(sk.envelopes.size());
            sk.envelopes.push_back(e);
        }
    }

    void finish() {
        if (pos > line_start) {
            const uint64_t length = pos - line_start;
            on_line(std::string_view(line).substr(0, std::min<uint64_t>(line.size(), length)), pos, 0);
            line.clear();
            line_start = pos;
            prev_eol = 0;
        }
        while (!stack.empty()) close_top(pos, lf);
        sk.nodes.shrink_to_fit();
        sk.envelopes.shrink_to_fit();
        sk.params.shrink_to_fit();
        sk.text.shrink_to_fit();
    }
};

parser::parser() : _impl(std::make_unique<impl>()) {}
parser::~parser() = default;

void parser::feed(std::string_view bytes) { _impl->feed(bytes); }

skeleton parser::finish() {
    _impl->finish();
    skeleton s(std::make_unique<skeleton::impl>(std::move(_impl->sk)));
    _impl = std::make_unique<impl>();  // the parser can be used again
    return s;
}

skeleton parse(std::string_view message) {
    parser p;
    p.feed(message);
    return p.finish();
}

}  // namespace posthorn::store::mime
