// The IMAP renderings of a skeleton, RFC 3501 §7.4.2: ENVELOPE, and BODY
// (non-extensible) / BODYSTRUCTURE (with extension data).
//
// Choices, after Dovecot and the RFC's examples: type, subtype, parameter
// names, disposition type and encoding upper-cased (they are
// case-insensitive; values are sent as written); text/* without a charset
// gets ("CHARSET" "US-ASCII") (RFC 2045 §5.2); no encoding is "7BIT"; a
// missing Sender or Reply-To is the From (§7.4.2); an empty address list is
// NIL; a present but empty Date/Subject/In-Reply-To/Message-ID is "". A
// string with '"', '\', CR, LF, NUL or 8-bit bytes goes as a literal.
// A multipart without parts (no delimiter found) shows one empty
// text/plain part, as the grammar needs one; a message/rfc822 kept opaque
// (past max_depth) shows an all-NIL envelope and that empty body.
//
// Threading: reads the skeleton only. Errors: none.
#include "posthorn/core/text.hh"
#include "store/mime/internal.hh"

namespace posthorn::store::mime {

namespace {

void write_string(std::string& out, std::string_view s) {
    bool literal = false;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\' || c == '\r' || c == '\n' || u == 0 || u >= 0x80) {
            literal = true;
            break;
        }
    }
    if (literal) {
        out += '{';
        out += std::to_string(s.size());
        out += "}\r\n";
        out += s;
    } else {
        out += '"';
        out += s;
        out += '"';
    }
}

void write_upper(std::string& out, std::string_view s) {
    std::string u(s);
    for (char& c : u)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    write_string(out, u);
}

void write_nstring(std::string& out, const skeleton::impl& m, text_ref r) {
    if (r.present()) write_string(out, m.str(r));
    else out += "NIL";
}

void write_addresses(std::string& out, const std::vector<address>& list) {
    if (list.empty()) {
        out += "NIL";
        return;
    }
    out += '(';
    for (const address& a : list) {
        out += '(';
        switch (a.what) {
        case address::kind::group_start:
            out += "NIL NIL ";
            write_string(out, a.mailbox);
            out += " NIL";
            break;
        case address::kind::group_end:
            out += "NIL NIL NIL NIL";
            break;
        case address::kind::mailbox:
            if (a.has_name) write_string(out, a.name);
            else out += "NIL";
            out += ' ';
            if (a.route.empty()) out += "NIL";
            else write_string(out, a.route);
            out += ' ';
            write_string(out, a.mailbox);
            out += ' ';
            write_string(out, a.host);
            break;
        }
        out += ')';
    }
    out += ')';
}

void write_envelope_of(std::string& out, const skeleton::impl& m, uint32_t index) {
    if (index == none) {
        out += "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
        return;
    }
    const envelope& e = m.envelopes[index];
    auto list = [&](int field) {
        const text_ref r = e.fields[field];
        return r.present() ? parse_addresses(m.str(r)) : std::vector<address>{};
    };
    out += '(';
    write_nstring(out, m, e.fields[envelope::date]);
    out += ' ';
    write_nstring(out, m, e.fields[envelope::subject]);
    const std::vector<address> from = list(envelope::from);
    out += ' ';
    write_addresses(out, from);
    for (int field : {envelope::sender, envelope::reply_to}) {
        std::vector<address> l = list(field);
        out += ' ';
        write_addresses(out, l.empty() ? from : l);
    }
    for (int field : {envelope::to, envelope::cc, envelope::bcc}) {
        out += ' ';
        write_addresses(out, list(field));
    }
    out += ' ';
    write_nstring(out, m, e.fields[envelope::in_reply_to]);
    out += ' ';
    write_nstring(out, m, e.fields[envelope::message_id]);
    out += ')';
}

void write_params(std::string& out, const skeleton::impl& m, uint32_t begin, uint32_t count, bool charset) {
    if (count == 0 && !charset) {
        out += "NIL";
        return;
    }
    out += '(';
    bool first = true;
    if (charset) {
        out += "\"CHARSET\" \"US-ASCII\"";
        first = false;
    }
    for (uint32_t i = begin; i < begin + count; ++i) {
        if (!first) out += ' ';
        first = false;
        write_upper(out, m.str(m.params[i].name));
        out += ' ';
        write_string(out, m.str(m.params[i].value));
    }
    out += ')';
}

void write_extension(std::string& out, const skeleton::impl& m, const node& n) {
    out += ' ';
    if (n.disposition.present()) {
        out += '(';
        write_upper(out, m.str(n.disposition));
        out += ' ';
        write_params(out, m, n.disp_params_begin, n.disp_params_count, false);
        out += ')';
    } else {
        out += "NIL";
    }
    out += ' ';
    const std::vector<std::string> langs =
        n.language.present() ? parse_language(m.str(n.language)) : std::vector<std::string>{};
    if (langs.empty()) {
        out += "NIL";
    } else if (langs.size() == 1) {
        write_string(out, langs[0]);
    } else {
        out += '(';
        for (size_t i = 0; i < langs.size(); ++i) {
            if (i) out += ' ';
            write_string(out, langs[i]);
        }
        out += ')';
    }
    out += ' ';
    write_nstring(out, m, n.location);
}

void write_empty_body(std::string& out, bool ext) {
    out += ext ? "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)"
               : "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)";
}

void write_part(std::string& out, const skeleton::impl& m, uint32_t i, bool ext) {
    const node& n = m.nodes[i];
    out += '(';
    if (n.kind == node_kind::multipart) {
        if (n.end == i + 1) write_empty_body(out, ext);
        for (uint32_t c = i + 1; c < n.end; c = m.nodes[c].end) write_part(out, m, c, ext);
        out += ' ';
        write_upper(out, m.str(n.subtype));
        if (ext) {
            out += ' ';
            write_params(out, m, n.params_begin, n.params_count, false);
            write_extension(out, m, n);
        }
        out += ')';
        return;
    }
    const bool text = core::iequals(m.str(n.type), "text");
    const bool rfc822 = core::iequals(m.str(n.type), "message") && core::iequals(m.str(n.subtype), "rfc822");
    bool has_charset = false;
    for (uint32_t p = n.params_begin; p < n.params_begin + n.params_count; ++p)
        has_charset |= core::iequals(m.str(m.params[p].name), "charset");
    write_upper(out, m.str(n.type));
    out += ' ';
    write_upper(out, m.str(n.subtype));
    out += ' ';
    write_params(out, m, n.params_begin, n.params_count, text && !has_charset);
    out += ' ';
    write_nstring(out, m, n.id);
    out += ' ';
    write_nstring(out, m, n.description);
    out += ' ';
    if (n.encoding.present()) write_upper(out, m.str(n.encoding));
    else out += "\"7BIT\"";
    out += ' ';
    out += std::to_string(n.body.length);
    if (rfc822) {
        out += ' ';
        if (n.kind == node_kind::message) {
            write_envelope_of(out, m, m.nodes[i + 1].envelope);
            out += ' ';
            write_part(out, m, i + 1, ext);
        } else {
            write_envelope_of(out, m, none);
            out += ' ';
            write_empty_body(out, ext);
        }
    }
    if (text || rfc822) {
        out += ' ';
        out += std::to_string(n.lines);
    }
    if (ext) {
        out += ' ';
        write_nstring(out, m, n.md5);
        write_extension(out, m, n);
    }
    out += ')';
}

}  // namespace

void skeleton::write_envelope(std::string& out) const { write_envelope_of(out, *_impl, _impl->nodes[0].envelope); }

void skeleton::write_body_structure(std::string& out, bool extensible) const { write_part(out, *_impl, 0, extensible); }

}  // namespace posthorn::store::mime
