// IMAP message commands on the selected mailbox (RFC 3501 §6.4.3-8; RFC
// 4315 UIDPLUS: UID EXPUNGE, COPYUID; RFC 6851 MOVE): EXPUNGE, SEARCH,
// STORE, COPY, MOVE and the UID forms (UID FETCH is in fetch.cc). Sets
// name messages of this session's view; a message another session
// expunged but not yet reported is skipped (and STORE/COPY answer NO).
//
// Threading: shard-local. Limits: a set is bounded by the command's size.
#include "proto/imap/session_impl.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/text.hh"
#include "proto/imap/mailbox_names.hh"
#include "proto/imap/search.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace posthorn::proto::imap {
namespace {

void number(std::string& out, uint64_t n) { core::append_number(out, n); }

}  // namespace

bool parse_flag(cursor& a, uint32_t& flags, std::vector<std::string_view>& keywords) {
    if (a.skip('\\')) {
        auto f = a.atom();
        if (!f) return false;
        if (core::iequals(*f, "Seen")) flags |= store::flag_seen;
        else if (core::iequals(*f, "Answered")) flags |= store::flag_answered;
        else if (core::iequals(*f, "Flagged")) flags |= store::flag_flagged;
        else if (core::iequals(*f, "Deleted")) flags |= store::flag_deleted;
        else if (core::iequals(*f, "Draft")) flags |= store::flag_draft;
        else if (core::iequals(*f, "Recent")) return false;   // not settable (§2.3.2)
        // Other \-flags are extension flags: kept nowhere.
        return true;
    }
    auto k = a.atom();
    if (!k) return false;
    keywords.push_back(*k);
    return true;
}

bool parse_flag_list(cursor& a, uint32_t& flags, std::vector<std::string_view>& keywords) {
    if (!a.skip('(')) return false;
    if (a.skip(')')) return true;
    for (;;) {
        if (!parse_flag(a, flags, keywords)) return false;
        if (a.skip(')')) return true;
        if (!a.sp()) return false;
    }
}

// False (BAD) for a malformed set or a sequence number past EXISTS.
bool session::impl::set_arg(cursor& a, bool uid, std::vector<seq_range>& out_ranges) {
    auto t = a.sequence_text();
    seqset s;
    if (!t || !s.parse(*t)) return false;
    const auto& u = sel->uids;
    const uint32_t n = static_cast<uint32_t>(u.size());
    set_past_exists = false;
    if (!uid) {
        if (!s.within(n)) return set_past_exists = true, false;
        s.resolve(n, out_ranges);
        size_t w = 0;
        for (auto r : out_ranges) {
            if (r.lo > n) continue;
            r.hi = std::min(r.hi, n);
            out_ranges[w++] = r;
        }
        out_ranges.resize(w);
        return true;
    }
    // UIDs: each range becomes the sequence numbers of the UIDs in it.
    std::vector<seq_range>& uid_ranges = uid_ranges_tmp;
    s.resolve(u.empty() ? 0 : u.back(), uid_ranges);
    out_ranges.clear();
    for (const auto& r : uid_ranges) {
        auto lo = std::lower_bound(u.begin(), u.end(), r.lo);
        auto hi = std::upper_bound(lo, u.end(), r.hi);
        if (lo < hi) out_ranges.push_back({static_cast<uint32_t>(lo - u.begin() + 1), static_cast<uint32_t>(hi - u.begin())});
    }
    return true;
}

// --- EXPUNGE, UID EXPUNGE.

void session::impl::on_expunge(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    expunge_cmd(a, nullptr);
}

void session::impl::expunge_cmd(cursor&, const seqset* uid_set) {
    if (sel->read_only) return fail(replies::read_only);
    const store::folder* f = folder();
    if (!f) return tagged_ok("EXPUNGE completed");
    uids_tmp.clear();
    const uint32_t uid_max = sel->uids.empty() ? 0 : sel->uids.back();
    for (uint32_t u : sel->uids) {
        const store::message* m = f->find(u);
        if (!m || !(m->flags & store::flag_deleted)) continue;
        if (uid_set && !uid_set->contains(u, uid_max)) continue;
        uids_tmp.push_back(u);
    }
    if (!uids_tmp.empty())
        if (auto r = store.expunge(user, sel->folder_id, uids_tmp); !r) return store_error("expunge", r.err());
    // The EXPUNGE responses come from report(), with any other session's.
    tagged_ok("EXPUNGE completed");
}

// --- STORE.

void session::impl::on_store(cursor& a) {
    hold_expunge = true;
    store_cmd(a, false);
}

void session::impl::store_cmd(cursor& a, bool uid) {
    if (!set_arg(a, uid, ranges) || !a.sp()) return fail(set_error());
    auto item = a.atom();
    if (!item || !a.sp()) return fail(replies::syntax);
    std::string_view it = *item;
    int mode = 0;   // 0 replace, 1 add, -1 remove
    if (!it.empty() && (it[0] == '+' || it[0] == '-')) {
        mode = it[0] == '+' ? 1 : -1;
        it.remove_prefix(1);
    }
    bool silent = false;
    if (core::iequals(it, "FLAGS.SILENT")) silent = true;
    else if (!core::iequals(it, "FLAGS")) return fail(replies::syntax);
    uint32_t flags = 0;
    keywords_tmp.clear();
    if (a.peek() == '(') {
        if (!parse_flag_list(a, flags, keywords_tmp)) return fail(replies::syntax);
    } else {
        for (;;) {
            if (!parse_flag(a, flags, keywords_tmp)) return fail(replies::syntax);
            if (!a.sp()) break;
        }
    }
    if (!a.at_end()) return fail(replies::syntax);
    if (sel->read_only) return fail(replies::read_only);
    const store::folder* f = folder();
    if (f && !keywords_tmp.empty()) {
        // Setting a keyword the folder lacks defines it; removing one it
        // lacks changes nothing.
        auto bits = store.keyword_bits(user, sel->folder_id, keywords_tmp, mode >= 0);
        if (!bits) return fail(keyword_refusal(bits.err()));
        flags |= *bits;
        if (f->keywords.size() != sel->keywords_shown) write_flag_lines(*f);
    }
    bool missing = false;
    self_change = true;
    for (const seq_range& r : ranges) {
        for (uint32_t seq = r.lo; seq <= r.hi && f; ++seq) {
            const uint32_t u = sel->uids[seq - 1];
            const store::message* m = message_at(f, seq);
            if (!m) {
                missing = true;
                continue;
            }
            uint32_t now = mode == 0 ? flags : mode > 0 ? (m->flags | flags) : (m->flags & ~flags);
            if (now != m->flags) {
                if (auto res = store.set_flags(user, sel->folder_id, u, now); !res) {
                    self_change = false;
                    return store_error("set_flags", res.err());
                }
            }
            if (silent) continue;
            out.append("* ");
            number(out, seq);
            out.append(" FETCH (FLAGS ");
            write_flags(f, m->flags, sel->is_recent(u));
            if (uid) {
                out.append(" UID ");
                number(out, u);
            }
            out.append(")\r\n");
        }
    }
    self_change = false;
    if (missing) {
        if (sel) report(false);
        return fail(replies::some_expunged);
    }
    tagged_ok("STORE completed");
}

const replies::error& session::impl::keyword_refusal(const core::error& e) {
    if (e.code == ENOSPC) return replies::keyword_limit;
    if (e.code == EINVAL) return replies::keyword_invalid;
    core::log::warn("imap session={} event=store_error op=keyword_bits error={}", id, e.reason());
    return replies::server_error;
}

// --- COPY, MOVE.

void session::impl::on_copy(cursor& a) { copy_cmd(a, false, false); }
void session::impl::on_move(cursor& a) { copy_cmd(a, false, true); }

void session::impl::copy_cmd(cursor& a, bool uid, bool move) {
    if (!set_arg(a, uid, ranges) || !a.sp()) return fail(set_error());
    auto name = a.astring();
    if (!name || !a.at_end()) return fail(replies::syntax);
    if (move && sel->read_only) return fail(replies::read_only);
    std::string_view dest_name = canonical_mailbox(*name);
    const store::folder* dest = store.find_folder(user, dest_name);
    if (!dest) return fail(replies::try_create);
    if (move && dest->id == sel->folder_id) return fail(replies::same_mailbox);
    const store::folder* f = folder();
    uids_tmp.clear();
    bool missing = false;
    for (const seq_range& r : ranges)
        for (uint32_t seq = r.lo; seq <= r.hi; ++seq) {
            uint32_t u = sel->uids[seq - 1];
            if (f && f->find(u)) uids_tmp.push_back(u);
            else missing = true;
        }
    if (missing && !move) return fail(replies::some_expunged);
    const uint32_t dest_validity = dest->uidvalidity;
    std::string& code = scratch2;
    code.clear();
    if (!uids_tmp.empty()) {
        auto r = move ? store.move(user, sel->folder_id, uids_tmp, dest_name, uids_tmp2)
                      : store.copy(user, sel->folder_id, uids_tmp, dest_name, uids_tmp2);
        if (!r) {
            if (r.err().code == ENOENT) return fail(replies::try_create);
            if (r.err().code == EINVAL) return fail(replies::same_mailbox);
            return store_error(move ? "move" : "copy", r.err());
        }
        code.append("[COPYUID ");
        number(code, dest_validity);
        code.push_back(' ');
        write_set(code, uids_tmp);
        code.push_back(' ');
        write_set(code, uids_tmp2);
        code.append("] ");
    }
    if (move) {
        // RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs.
        if (!code.empty()) out.append("* OK ").append(code).append("Moved\r\n");
        return tagged_ok("MOVE completed");
    }
    code.append("COPY completed");
    tagged_ok(code);
}

// --- SEARCH.

void session::impl::on_search(cursor& a) {
    hold_expunge = true;
    search_cmd(a, false);
}

void session::impl::search_cmd(cursor& a, bool uid) {
    search_program prog;
    switch (prog.parse(a, cfg.search_depth_max, arena, folder())) {
    case search_program::parse_error::none: break;
    case search_program::parse_error::syntax: return fail(replies::syntax);
    case search_program::parse_error::too_deep: return fail(replies::too_deep);
    case search_program::parse_error::charset: return fail(replies::bad_charset);
    }
    const store::folder* f = folder();
    const auto& u = sel->uids;
    search_program::message_ctx ctx{};
    ctx.seq_max = static_cast<uint32_t>(u.size());
    ctx.uid_max = u.empty() ? 0 : u.back();
    out.append("* SEARCH");
    bool failed = false;
    for (size_t i = 0; i < u.size() && f; ++i) {
        const store::message* m = message_at(f, static_cast<uint32_t>(i + 1));
        if (!m) continue;
        ctx.seq = static_cast<uint32_t>(i + 1);
        ctx.uid = u[i];
        ctx.msg = m;
        ctx.recent = sel->is_recent(u[i]);
        if (prog.matches(ctx, parts)) {
            out.push_back(' ');
            number(out, uid ? u[i] : i + 1);
        }
        failed = failed || parts.failed();
    }
    out.append("\r\n");
    if (failed) core::log::warn("imap session={} event=store_error op=search_read", id);
    tagged_ok("SEARCH completed");
}

// --- UID.

void session::impl::on_uid(cursor& a) {
    auto sub = a.atom();
    if (!sub) return fail(replies::syntax);
    if (!a.at_end() && !a.sp()) return fail(replies::syntax);
    verb = *sub;
    // UID commands may report EXPUNGE (RFC 3501 §7.4.1 note).
    if (core::iequals(*sub, "FETCH")) return fetch_cmd(a, true);
    if (core::iequals(*sub, "STORE")) return store_cmd(a, true);
    if (core::iequals(*sub, "SEARCH")) return search_cmd(a, true);
    if (core::iequals(*sub, "COPY")) return copy_cmd(a, true, false);
    if (core::iequals(*sub, "MOVE")) return copy_cmd(a, true, true);
    if (core::iequals(*sub, "EXPUNGE")) {
        // RFC 4315 §2.1.
        auto t = a.sequence_text();
        seqset s;
        if (!t || !s.parse(*t) || !a.at_end()) return fail(replies::syntax);
        return expunge_cmd(a, &s);
    }
    fail(replies::unknown_command);
}

}  // namespace posthorn::proto::imap
