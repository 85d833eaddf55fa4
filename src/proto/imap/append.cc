// IMAP APPEND (RFC 3501 §6.3.11; RFC 4315 APPENDUID; RFC 7888 literals):
// the message literal never sits in memory. It is announced at the end of
// the command line, checked (size, folder, flags, date) before the client
// sends it — a synchronizing literal is refused with no "+" at all — and
// streamed into the store (append_begin/write/commit) as it arrives; the
// tagged reply waits for the rest of the line.
//
// Threading: shard-local. Limits: a message at most cfg.append_bytes_max;
// one message per APPEND (MULTIAPPEND, RFC 3502, is not offered).
// Errors: a store failure mid-literal is remembered, the literal is still
// read to its end, then the command answers NO and the append is dropped.
#include "proto/imap/session_impl.hh"

#include "posthorn/core/log.hh"
#include "proto/imap/dates.hh"
#include "proto/imap/mailbox_names.hh"

#include <cerrno>
#include <ctime>

namespace posthorn::proto::imap {

// The command line so far ends with a literal: is it the message
// (mailbox [flags] [date-time] literal)? Then check and start streaming it.
bool session::impl::append_literal(cursor& a) {
    auto lit = reader.literal();
    auto name = a.astring();
    if (!name || !a.sp()) return false;
    uint32_t flags = 0;
    keywords_tmp.clear();
    if (a.peek() == '(') {
        if (!parse_flag_list(a, flags, keywords_tmp) || !a.sp()) return false;
    }
    std::optional<int64_t> date;
    if (a.peek() == '"') {
        auto d = a.quoted();
        if (!d || !a.sp()) return false;
        date = parse_date_time(*d);
        if (!date) return false;
    }
    // The rest must be just the announcement.
    if (a.peek() != '{' || a.rest().find("\r\n") + 2 != a.rest().size()) return false;
    std::string canonical(canonical_mailbox(*name));
    auto refuse = [&](const replies::error& e) {
        if (!lit.sync && lit.size > cfg.literal_discard_bytes_max) {
            fail(e);
            bye("Literal too big, closing");
            return true;
        }
        reader.drop_literal_and_command();
        fail(e);
        return true;
    };
    if (lit.size > cfg.append_bytes_max) return refuse(replies::append_too_big);
    const store::folder* dest = store.find_folder(user, canonical);
    if (!dest) return refuse(replies::try_create);
    if (!keywords_tmp.empty()) {
        auto bits = store.keyword_bits(user, dest->id, keywords_tmp, true);
        if (!bits) return refuse(keyword_refusal(bits.err()));
        flags |= *bits;
    }
    auto id = store.append_begin(user, canonical, lit.size, flags, date ? *date : std::time(nullptr));
    if (!id) {
        core::log::warn("imap session={} event=store_error op=append_begin error={}", this->id, id.err().reason());
        return refuse(replies::server_error);
    }
    append_id = *id;
    append_failed = false;
    append_mailbox = std::move(canonical);
    append_text_bytes = reader.text().size();
    waiting = wait::append;
    if (lit.sync) out.append(replies::continue_ready);
    reader.stream_literal();
    return true;
}

void session::impl::on_append_bytes(std::string_view bytes) {
    if (append_failed || !append_id) return;
    if (auto r = store.append_write(append_id, bytes); !r) {
        core::log::warn("imap session={} event=store_error op=append_write error={}", id, r.err().reason());
        append_failed = true;
    }
}

void session::impl::on_append_end(std::string_view text) {
    waiting = wait::none;
    store::shard_store::append_id a = append_id;
    append_id = 0;
    std::string_view rest = text.substr(std::min(append_text_bytes, text.size()));
    if (!rest.empty()) {
        // MULTIAPPEND (RFC 3502) is not offered: one message per APPEND.
        store.append_abort(a);
        return fail(replies::syntax);
    }
    if (append_failed) {
        store.append_abort(a);
        return fail(replies::server_error);
    }
    auto d = store.append_commit(a);
    if (!d) {
        if (d.err().code == ENOENT) return fail(replies::try_create);
        return store_error("append_commit", d.err());
    }
    const store::folder* f = store.find_folder(user, append_mailbox);
    std::string& text_ok = scratch2;
    text_ok.assign("[APPENDUID ");
    text_ok += std::to_string(f ? f->uidvalidity : 0);
    text_ok.push_back(' ');
    text_ok += std::to_string(d->uid);
    text_ok.append("] APPEND completed");
    tagged_ok(text_ok);
}

void session::impl::on_append(cursor& a) {
    // A whole APPEND line without a message literal (the literal path is
    // append_literal): a syntax error.
    (void)a;
    fail(replies::syntax);
}

}  // namespace posthorn::proto::imap
