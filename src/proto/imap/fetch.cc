// IMAP FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2): the attribute list
// parsed once per command, then a resumable walk over the messages that
// writes each answer straight into output(). A section literal up to
// cfg.fetch_inline_bytes_max is read whole (one reused buffer); a bigger
// one is announced `{n}` and streamed by next_output() in windows; the
// walk also pauses once output() holds cfg.output_bytes_max, so a FETCH
// of every message never builds its whole answer in memory.
//
// Fetching BODY[...] / RFC822 / RFC822.TEXT (not .PEEK) sets \Seen in a
// read-write mailbox and answers FLAGS with it (§6.4.5).
//
// Threading: shard-local. Errors: a store read failure mid-answer closes
// the session (a literal's length is out, there is no way back) and logs.
#include "proto/imap/session_impl.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/text.hh"
#include "proto/imap/dates.hh"

#include <algorithm>
#include <charconv>

namespace posthorn::proto::imap {
namespace {

using kind = fetch_att::kind;
using section_kind = store::mime::section::kind;

constexpr size_t k_window_bytes_min = 512;

void number(std::string& out, uint64_t n) { core::append_number(out, n); }

bool sets_seen(const fetch_att& f) noexcept {
    return (f.what == kind::section && !f.peek) || f.what == kind::rfc822 || f.what == kind::rfc822_text;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The section spec after '[' (RFC 3501 §9 section-spec), up to ']'.
bool parse_section(cursor& a, fetch_att& f) {
    const std::string_view all = a.rest();
    const size_t start = a.pos();
    f.section.path.clear();
    f.section.what = section_kind::all;
    bool text_part = true;
    while (is_digit(a.peek())) {
        auto n = a.number();
        if (!n || *n == 0) return false;
        f.section.path.push_back(*n);
        text_part = false;
        if (!a.skip('.')) break;
        if (!is_digit(a.peek())) {
            text_part = true;
            break;
        }
    }
    if (text_part && a.peek() != ']') {
        auto w = a.atom();
        if (!w) return false;
        if (core::iequals(*w, "HEADER")) f.section.what = section_kind::header;
        else if (core::iequals(*w, "TEXT")) f.section.what = section_kind::text;
        else if (core::iequals(*w, "MIME") && !f.section.path.empty()) f.section.what = section_kind::mime;
        else if (core::iequals(*w, "HEADER.FIELDS")) f.section.what = section_kind::header_fields;
        else if (core::iequals(*w, "HEADER.FIELDS.NOT")) f.section.what = section_kind::header_fields_not;
        else return false;
        if (f.section.what == section_kind::header_fields || f.section.what == section_kind::header_fields_not) {
            if (!a.sp() || !a.skip('(')) return false;
            f.fields.clear();
            for (;;) {
                auto name = a.astring();
                if (!name) return false;
                f.fields.push_back(*name);
                if (a.skip(')')) break;
                if (!a.sp()) return false;
            }
        }
    }
    f.spec = all.substr(0, a.pos() - start);
    if (!a.skip(']')) return false;
    if (a.skip('<')) {
        auto off = a.number();
        if (!off || !a.skip('.')) return false;
        auto len = a.number();
        if (!len || *len == 0 || !a.skip('>')) return false;
        f.partial = true;
        f.partial_offset = *off;
        f.partial_length = *len;
    }
    return true;
}

bool parse_att(cursor& a, fetch_att& f) {
    f = fetch_att{};
    size_t b = a.pos();
    while (!a.at_end() && (cursor::atom_char(a.peek()) && a.peek() != '[')) a.seek(a.pos() + 1);
    std::string_view name = std::string_view(a.rest().data() - (a.pos() - b), a.pos() - b);
    auto is = [&](std::string_view w) { return core::iequals(name, w); };
    if (is("BODY") || is("BODY.PEEK")) {
        f.peek = is("BODY.PEEK");
        if (!a.skip('[')) {
            if (f.peek) return false;
            f.what = kind::body;
            return true;
        }
        f.what = kind::section;
        return parse_section(a, f);
    }
    if (is("UID")) f.what = kind::uid;
    else if (is("FLAGS")) f.what = kind::flags;
    else if (is("INTERNALDATE")) f.what = kind::internaldate;
    else if (is("RFC822.SIZE")) f.what = kind::rfc822_size;
    else if (is("ENVELOPE")) f.what = kind::envelope;
    else if (is("BODYSTRUCTURE")) f.what = kind::bodystructure;
    else if (is("RFC822")) f.what = kind::rfc822;
    else if (is("RFC822.HEADER")) f.what = kind::rfc822_header, f.peek = true;
    else if (is("RFC822.TEXT")) f.what = kind::rfc822_text;
    else return false;
    return true;
}

}  // namespace

bool session::impl::parse_fetch_atts(cursor& a, std::vector<fetch_att>& atts) {
    atts.clear();
    auto macro = [&](std::initializer_list<kind> ks) {
        for (kind k : ks) atts.emplace_back().what = k;
        return true;
    };
    if (a.skip_word("ALL")) return macro({kind::flags, kind::internaldate, kind::rfc822_size, kind::envelope});
    if (a.skip_word("FAST")) return macro({kind::flags, kind::internaldate, kind::rfc822_size});
    if (a.skip_word("FULL"))
        return macro({kind::flags, kind::internaldate, kind::rfc822_size, kind::envelope, kind::body});
    if (!a.skip('(')) return parse_att(a, atts.emplace_back());
    for (;;) {
        if (!parse_att(a, atts.emplace_back())) return false;
        if (a.skip(')')) return true;
        if (!a.sp()) return false;
    }
}

void session::impl::on_fetch(cursor& a) {
    hold_expunge = true;
    fetch_cmd(a, false);
}

void session::impl::fetch_cmd(cursor& args, bool uid) {
    // The attributes keep views of the command: give the job its own copy,
    // since the framing buffer moves on while the answer streams.
    job.text.assign(args.rest());
    cursor a(job.text, arena);
    if (!set_arg(a, uid, job.ranges) || !a.sp()) return fail(set_error());
    if (!parse_fetch_atts(a, job.atts) || !a.at_end()) return fail(replies::syntax);
    if (uid && std::none_of(job.atts.begin(), job.atts.end(), [](const fetch_att& f) { return f.what == kind::uid; }))
        job.atts.insert(job.atts.begin(), fetch_att{});   // §6.4.8: UID FETCH answers UID
    job.uid_command = uid;
    job.range_i = 0;
    job.seq = 0;
    job.att_i = 0;
    job.missing = false;
    job.lit_left = 0;
    waiting = wait::fetch;
    run_fetch();
}

void session::impl::run_fetch() {
    const store::folder* f = folder();
    while (waiting == wait::fetch) {
        if (job.lit_left) return;
        if (job.seq == 0) {
            if (job.range_i >= job.ranges.size() || !f) break;
            job.seq = job.ranges[job.range_i].lo;
            job.att_i = 0;
        }
        if (!fetch_message(f)) return;   // a literal streams
        if (job.seq >= job.ranges[job.range_i].hi) {
            ++job.range_i;
            job.seq = 0;
        } else {
            ++job.seq;
        }
        job.att_i = 0;
        if (out.size() >= cfg.output_bytes_max) return;   // the host sends, then next_output()
    }
    if (st == state::closed) return;
    waiting = wait::none;
    if (job.missing) {
        report(!hold_expunge);
        return fail(replies::some_expunged);
    }
    tagged_ok("FETCH completed");
}

// One message's answer, from attribute att_i on; false when paused. `box`
// is the selected folder, looked up once per run (stable meanwhile: only
// this call runs on the shard).
bool session::impl::fetch_message(const store::folder* box) {
    job.box = box;
    if (job.att_i == 0) {
        const uint32_t u = sel->uids[job.seq - 1];
        const store::message* m = box ? message_at(box, job.seq) : nullptr;
        if (!m) {
            job.missing = true;
            return true;
        }
        job.msg = *m;
        parts.reset(job.msg);
        job.flags_added = false;
        if (!sel->read_only && !(m->flags & store::flag_seen) &&
            std::any_of(job.atts.begin(), job.atts.end(), sets_seen)) {
            self_change = true;
            auto r = store.set_flags(user, sel->folder_id, u, m->flags | store::flag_seen);
            self_change = false;
            if (r) {
                job.msg.flags |= store::flag_seen;
                job.flags_added = std::none_of(job.atts.begin(), job.atts.end(),
                                               [](const fetch_att& a) { return a.what == kind::flags; });
            }
        }
        out.append("* ");
        number(out, job.seq);
        out.append(" FETCH (");
        job.first_item = true;
    }
    while (job.att_i < job.atts.size()) {
        const fetch_att& f = job.atts[job.att_i++];
        if (!fetch_att_out(f)) return false;
        if (st == state::closed) return false;
    }
    if (job.flags_added) {
        out.append(" FLAGS ");
        write_flags(box, job.msg.flags, sel->is_recent(job.msg.uid));
    }
    out.append(")\r\n");
    return true;
}

bool session::impl::fetch_att_out(const fetch_att& f) {
    if (!job.first_item) out.push_back(' ');
    job.first_item = false;
    const store::message& m = job.msg;
    std::optional<store::mime::range> r;
    bool header_filter = false;
    switch (f.what) {
    case kind::uid:
        out.append("UID ");
        number(out, m.uid);
        return true;
    case kind::flags:
        out.append("FLAGS ");
        write_flags(job.box, m.flags, sel->is_recent(m.uid));
        return true;
    case kind::internaldate:
        out.append("INTERNALDATE ");
        write_date_time(out, m.internal_date);
        return true;
    case kind::rfc822_size:
        out.append("RFC822.SIZE ");
        number(out, m.size);
        return true;
    case kind::envelope:
        out.append("ENVELOPE ");
        parts.write_envelope(out);
        return true;
    case kind::body:
    case kind::bodystructure:
        out.append(f.what == kind::body ? "BODY " : "BODYSTRUCTURE ");
        parts.write_body_structure(out, f.what == kind::bodystructure);
        return true;
    case kind::rfc822:
        out.append("RFC822 ");
        r = store::mime::range{0, m.size};
        break;
    case kind::rfc822_header:
        out.append("RFC822.HEADER ");
        r = parts.header();
        break;
    case kind::rfc822_text:
        out.append("RFC822.TEXT ");
        r = parts.body();
        break;
    case kind::section:
        out.append("BODY[").append(f.spec).append("]");
        if (f.partial) {
            out.push_back('<');
            number(out, f.partial_offset);
            out.push_back('>');
        }
        out.push_back(' ');
        r = parts.locate(f.section);
        header_filter = f.section.what == section_kind::header_fields ||
                        f.section.what == section_kind::header_fields_not;
        break;
    }
    if (parts.failed()) {
        core::log::warn("imap session={} event=store_error op=fetch_read uid={}", id, m.uid);
        bye("Internal error reading a message");
        return false;
    }
    if (!r) r = store::mime::range{0, 0};   // no such part: an empty string (§6.4.5)
    uint64_t off = 0, len = r->length;
    std::string_view bytes;
    if (header_filter) {
        if (auto rd = store.read(m, r->offset, r->length, scratch); !rd) {
            core::log::warn("imap session={} event=store_error op=fetch_read uid={}", id, m.uid);
            bye("Internal error reading a message");
            return false;
        }
        scratch2.clear();
        store::mime::filter_header_fields(scratch, f.fields, f.section.what == section_kind::header_fields_not,
                                          scratch2);
        bytes = scratch2;
        len = bytes.size();
    }
    if (f.partial) {
        off = std::min<uint64_t>(f.partial_offset, len);
        len = std::min<uint64_t>(f.partial_length, len - off);
    }
    out.push_back('{');
    number(out, len);
    out.append("}\r\n");
    if (header_filter) {
        out.append(bytes.substr(off, len));
        return true;
    }
    if (len > cfg.fetch_inline_bytes_max) {
        job.lit_offset = r->offset + off;
        job.lit_left = len;
        return false;
    }
    if (len == 0) return true;
    const size_t at = out.size();
    if (auto rd = store.read_append(m, r->offset + off, len, out); !rd || out.size() - at != len) {
        core::log::warn("imap session={} event=store_error op=fetch_read uid={}", id, m.uid);
        bye("Internal error reading a message");
        return false;
    }
    return true;
}

void session::impl::next_output(size_t window_bytes) {
    if (waiting != wait::fetch) return;
    window_bytes = std::max(window_bytes, k_window_bytes_min);
    if (job.lit_left) {
        uint64_t n = std::min<uint64_t>(window_bytes, job.lit_left);
        const size_t at = out.size();
        if (auto r = store.read_append(job.msg, job.lit_offset, n, out); !r || out.size() - at != n) {
            // The literal's length is out: the only way to stop is to close.
            core::log::warn("imap session={} event=store_error op=fetch_stream uid={}", id, job.msg.uid);
            last_error = replies::server_error.reason;
            return close();
        }
        job.lit_offset += n;
        job.lit_left -= n;
        if (job.lit_left) return;
        // The rest of this message's answer, then the next messages.
        if (!fetch_message(folder())) return;
        if (job.seq >= job.ranges[job.range_i].hi) {
            ++job.range_i;
            job.seq = 0;
        } else {
            ++job.seq;
        }
        job.att_i = 0;
        if (out.size() >= cfg.output_bytes_max) return;
    }
    run_fetch();
}

}  // namespace posthorn::proto::imap
