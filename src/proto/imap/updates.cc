// The selected mailbox's view and its news (RFC 3501 §5.2, §7.3.1,
// §7.4.1; RFC 2177 IDLE). The view is the UIDs this session has reported,
// in sequence-number order; the store's watcher only marks what changed,
// and report() reconciles at the points the RFC allows: EXPUNGE
// responses walk the view against the folder (both in UID order), new
// messages become EXISTS (and RECENT, claimed through the store), other
// sessions' flag changes become FETCH (FLAGS). During IDLE the news goes
// out at once (cfg.on_output tells the host).
//
// Threading: shard-local; the watcher runs inside the mutating call of
// whichever session or delivery changed the folder.
// Limits: pending flag changes are compacted once they outnumber the view.
// Memory: a view equal to its folder shares the store's UID list
// (uid_view.hh); only a session holding back an EXPUNGE while it reports
// new messages copies it, and shares again once it reports the expunge.
#include "proto/imap/session_impl.hh"

#include "posthorn/core/text.hh"

#include <algorithm>
#include <charconv>

namespace posthorn::proto::imap {
namespace {

void number(std::string& out, uint64_t n) { core::append_number(out, n); }

}  // namespace

uint32_t selected_view::recent_count() const noexcept {
    // The ranges are disjoint and the view ascending: count each range's UIDs.
    uint32_t n = 0;
    for (const auto& [first, end] : recent) {
        auto lo = std::lower_bound(uids.begin(), uids.end(), first);
        n += static_cast<uint32_t>(std::lower_bound(lo, uids.end(), end) - lo);
    }
    return n;
}

uint32_t selected_view::seq_of(uint32_t uid) const noexcept {
    auto it = std::lower_bound(uids.begin(), uids.end(), uid);
    return it != uids.end() && *it == uid ? static_cast<uint32_t>(it - uids.begin() + 1) : 0;
}

const store::folder* session::impl::folder() const {
    return sel ? store.folder_by_id(user, sel->folder_id) : nullptr;
}

const store::message* session::impl::message_at(const store::folder* f, uint32_t seq) const noexcept {
    const uint32_t u = sel->uids[seq - 1];
    // While nothing was expunged behind the view, sequence number n is the
    // folder's message n: no search.
    if (seq - 1 < f->messages.size() && f->messages[seq - 1].uid == u) return &f->messages[seq - 1];
    return f->find(u);
}

void session::impl::claim_recent() {
    const store::folder* f = folder();
    if (!f || sel->read_only) return;
    uint32_t first = store.claim_recent(user, f->id);
    if (!first || first >= f->uidnext) return;
    // Claims in a row (no other session claimed between) make one range.
    if (!sel->recent.empty() && sel->recent.back().second == first) sel->recent.back().second = f->uidnext;
    else sel->recent.emplace_back(first, f->uidnext);
}

void session::impl::on_change(const store::change& c) {
    if (!sel || c.folder_id != sel->folder_id) return;
    switch (c.what) {
    case store::change::kind::appended: sel->appended = true; break;
    case store::change::kind::expunged: sel->expunged = true; break;
    case store::change::kind::folder_deleted: sel->gone = true; break;
    case store::change::kind::folder_renamed: return;
    case store::change::kind::flags:
        if (self_change) return;   // our STORE answers for itself
        sel->flag_uids.push_back(c.uid);
        if (sel->flag_uids.size() > sel->uids.size() + 64) {
            std::sort(sel->flag_uids.begin(), sel->flag_uids.end());
            sel->flag_uids.erase(std::unique(sel->flag_uids.begin(), sel->flag_uids.end()), sel->flag_uids.end());
        }
        break;
    }
    if (waiting == wait::idle) {
        report(true);
        signal_output();
    }
}

void session::impl::write_flags(const store::folder* f, uint32_t flags, bool recent) {
    out.push_back('(');
    const size_t start = out.size();
    auto add = [&](std::string_view name) {
        if (out.size() != start) out.push_back(' ');
        out.append(name);
    };
    if (flags & store::flag_seen) add("\\Seen");
    if (flags & store::flag_answered) add("\\Answered");
    if (flags & store::flag_flagged) add("\\Flagged");
    if (flags & store::flag_deleted) add("\\Deleted");
    if (flags & store::flag_draft) add("\\Draft");
    if (flags > store::flag_mask && f)
        for (uint32_t i = 0; i < f->keywords.size(); ++i)
            if (flags & store::keyword_bit(i)) add(f->keywords[i]);
    if (recent) add("\\Recent");
    out.push_back(')');
}

void session::impl::write_flag_lines(const store::folder& f) {
    write_flags_line(f);
    write_permanent_flags(f);
}

void session::impl::write_keywords(const store::folder& f) {
    for (const auto& k : f.keywords) {
        out.push_back(' ');
        out.append(k);
    }
}

void session::impl::write_flags_line(const store::folder& f) {
    out.append("* FLAGS (");
    out.append(replies::system_flags);
    write_keywords(f);
    out.append(")\r\n");
}

void session::impl::write_permanent_flags(const store::folder& f) {
    if (sel->read_only) {
        out.append(replies::permanent_flags_none);
    } else {
        out.append("* OK [PERMANENTFLAGS (");
        out.append(replies::system_flags);
        write_keywords(f);
        // \* : new keywords may be made, while the folder has slots left.
        out.append(f.keywords.size() < store::keyword_slots_max ? " \\*)] Flags permitted\r\n"
                                                                : ")] Flags permitted\r\n");
    }
    sel->keywords_shown = f.keywords.size();
}

void session::impl::report(bool allow_expunge) {
    if (!sel) return;
    selected_view& v = *sel;
    const store::folder* f = folder();
    if (v.gone || !f) {
        // The selected mailbox was deleted under us: nothing sane remains
        // to report (RFC 3501 leaves it open; Dovecot does the same).
        return bye("Selected mailbox was deleted, have to disconnect");
    }
    if (f->keywords.size() != v.keywords_shown) write_flag_lines(*f);
    const auto& msgs = f->messages;
    // UIDs only grow, so the folder's messages up to the view's last UID
    // are all in the view (those still there), and the ones after it are
    // new to the view.
    const uint32_t last = v.uids.empty() ? 0 : v.uids.back();
    const auto upto = std::upper_bound(msgs.begin(), msgs.end(), last,
                                       [](uint32_t u, const store::message& m) { return u < m.uid; });
    bool caught_up = false;   // every expunge is reported now
    if (allow_expunge && v.expunged) {
        v.expunged = false;
        caught_up = true;
        // As many of them as the view holds means none is gone (an expunge
        // of k messages notifies k times; one walk).
        if (static_cast<size_t>(upto - msgs.begin()) != v.uids.size()) {
            size_t j = 0, w = 0;
            for (uint32_t u : v.uids) {
                while (j < msgs.size() && msgs[j].uid < u) ++j;
                if (j < msgs.size() && msgs[j].uid == u) {
                    ++w;
                    continue;
                }
                out.append("* ");
                number(out, w + 1);
                out.append(" EXPUNGE\r\n");
            }
        }
    }
    v.appended = false;
    const bool added = upto != msgs.end();
    if (!v.expunged) {
        // No expunge left to report: the view is the folder's messages up
        // to `last` and the new ones, the folder's list. Shared again.
        if (caught_up || added) v.uids.share(store.uids_of(*f));
    } else if (added) {
        // An expunge not reported yet keeps its number while new messages
        // get theirs: this session's numbering is its own for a while.
        store::uid_list& mine = v.uids.own();
        for (auto it = upto; it != msgs.end(); ++it) mine.push_back(it->uid);
    }
    if (added) {
        claim_recent();
        out.append("* ");
        number(out, v.uids.size());
        out.append(" EXISTS\r\n* ");
        number(out, v.recent_count());
        out.append(" RECENT\r\n");
    }
    if (!v.flag_uids.empty()) {
        std::sort(v.flag_uids.begin(), v.flag_uids.end());
        v.flag_uids.erase(std::unique(v.flag_uids.begin(), v.flag_uids.end()), v.flag_uids.end());
        for (uint32_t u : v.flag_uids) {
            uint32_t seq = v.seq_of(u);
            const store::message* m = seq ? f->find(u) : nullptr;
            if (!m) continue;
            out.append("* ");
            number(out, seq);
            out.append(" FETCH (UID ");
            number(out, u);
            out.append(" FLAGS ");
            write_flags(f, m->flags, v.is_recent(u));
            out.append(")\r\n");
        }
        v.flag_uids.clear();
        if (v.flag_uids.capacity() > 1024) std::vector<uint32_t>().swap(v.flag_uids);
    }
}

}  // namespace posthorn::proto::imap
