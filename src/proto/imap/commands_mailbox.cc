// IMAP mailbox commands (RFC 3501 §6.3, §6.4.1-2; RFC 3691 UNSELECT; RFC
// 6154 SPECIAL-USE and RFC 3348 CHILDREN attributes in LIST): SELECT,
// EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
// STATUS, CHECK, CLOSE, UNSELECT. APPEND is in append.cc.
//
// Threading: shard-local. Limits: LIST answers one line per folder (and
// per implied superior).
#include "proto/imap/session_impl.hh"

#include "posthorn/core/text.hh"
#include "proto/imap/mailbox_names.hh"

#include <algorithm>
#include <cerrno>

namespace posthorn::proto::imap {
namespace {

void append_number(std::string& out, uint64_t n) { out.append(std::to_string(n)); }

}  // namespace

// --- SELECT / EXAMINE.

void session::impl::on_select(cursor& a) { select(a, false); }
void session::impl::on_examine(cursor& a) { select(a, true); }

void session::impl::select(cursor& a, bool read_only) {
    auto name = a.astring();
    if (!name || !a.at_end()) return fail(replies::syntax);
    // A SELECT first leaves the selected mailbox, even when it fails
    // (RFC 3501 §6.3.1), without expunging it.
    sel.reset();
    st = state::authenticated;
    const store::folder* f = store.find_folder(user, canonical_mailbox(*name));
    if (!f) return fail(replies::no_mailbox);
    selected_view& v = sel.emplace();
    v.folder_id = f->id;
    v.uidvalidity = f->uidvalidity;
    v.read_only = read_only;
    v.uids.share(store.uids_of(*f));
    // \Recent: a read-write SELECT takes them; EXAMINE only looks.
    uint32_t first = read_only ? std::max(f->recent_uid, uint32_t{1}) : store.claim_recent(user, f->id);
    if (first && first < f->uidnext) v.recent.emplace_back(first, f->uidnext);
    st = state::selected;
    uint32_t unseen = 0;
    for (size_t i = 0; i < f->messages.size(); ++i)
        if (!(f->messages[i].flags & store::flag_seen)) {
            unseen = static_cast<uint32_t>(i + 1);
            break;
        }
    write_flags_line(*f);
    out.append("* ");
    append_number(out, v.uids.size());
    out.append(" EXISTS\r\n* ");
    append_number(out, v.recent_count());
    out.append(" RECENT\r\n");
    write_permanent_flags(*f);
    if (unseen) {
        out.append("* OK [UNSEEN ");
        append_number(out, unseen);
        out.append("] First unseen\r\n");
    }
    out.append("* OK [UIDVALIDITY ");
    append_number(out, f->uidvalidity);
    out.append("] UIDs valid\r\n* OK [UIDNEXT ");
    append_number(out, f->uidnext);
    out.append("] Predicted next UID\r\n");
    tagged_ok(read_only ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
}

// --- CREATE / DELETE / RENAME / SUBSCRIBE / UNSUBSCRIBE.

void session::impl::on_create(cursor& a) {
    auto arg = a.astring();
    if (!arg || !a.at_end()) return fail(replies::syntax);
    std::string_view name = canonical_mailbox(*arg);
    // A trailing delimiter only says more names will go under it (§6.3.3).
    if (name.size() > 1 && name.back() == k_delimiter) name.remove_suffix(1);
    if (name.empty() || name.front() == k_delimiter) return fail(replies::bad_name);
    if (store.find_folder(user, name)) return fail(replies::mailbox_exists);
    // Superiors that are missing are created too (§6.3.3 SHOULD).
    for (size_t p = name.find(k_delimiter); p != std::string_view::npos; p = name.find(k_delimiter, p + 1)) {
        std::string_view parent = name.substr(0, p);
        if (parent.empty() || store.find_folder(user, parent)) continue;
        if (auto r = store.create_folder(user, parent); !r)
            return r.err().code == EINVAL ? fail(replies::bad_name) : store_error("create", r.err());
    }
    auto r = store.create_folder(user, name);
    if (!r) {
        if (r.err().code == EEXIST) return fail(replies::mailbox_exists);
        if (r.err().code == EINVAL) return fail(replies::bad_name);
        return store_error("create", r.err());
    }
    tagged_ok("CREATE completed");
}

void session::impl::on_delete(cursor& a) {
    auto arg = a.astring();
    if (!arg || !a.at_end()) return fail(replies::syntax);
    std::string_view name = canonical_mailbox(*arg);
    if (name == store::inbox) return fail(replies::inbox_delete);
    // Deleting the selected mailbox leaves it first (another session's
    // DELETE makes this one say BYE, updates.cc).
    const store::folder* f = store.find_folder(user, name);
    if (f && sel && sel->folder_id == f->id) {
        sel.reset();
        st = state::authenticated;
    }
    auto r = store.delete_folder(user, name);
    if (!r) return r.err().code == ENOENT ? fail(replies::no_mailbox) : store_error("delete", r.err());
    tagged_ok("DELETE completed");
}

void session::impl::on_rename(cursor& a) {
    auto from = a.astring();
    if (!from || !a.sp()) return fail(replies::syntax);
    std::string from_name(canonical_mailbox(*from));
    auto to = a.astring();
    if (!to || !a.at_end()) return fail(replies::syntax);
    std::string_view to_name = canonical_mailbox(*to);
    if (from_name == store::inbox) return rename_inbox(to_name);
    auto r = store.rename_folder(user, from_name, to_name);
    if (!r) {
        switch (r.err().code) {
        case ENOENT: return fail(replies::no_mailbox);
        case EEXIST: return fail(replies::mailbox_exists);
        case EINVAL: return fail(replies::bad_name);
        default: return store_error("rename", r.err());
        }
    }
    tagged_ok("RENAME completed");
}

// RFC 3501 §6.3.5: renaming INBOX moves its messages to the new name and
// leaves INBOX empty (its inferiors stay).
void session::impl::rename_inbox(std::string_view to) {
    if (to == store::inbox) return fail(replies::mailbox_exists);
    if (store.find_folder(user, to)) return fail(replies::mailbox_exists);
    if (auto r = store.create_folder(user, to); !r)
        return r.err().code == EINVAL ? fail(replies::bad_name) : store_error("create", r.err());
    const store::folder* inbox = store.find_folder(user, store::inbox);
    if (inbox && !inbox->messages.empty()) {
        uids_tmp.clear();
        for (const auto& m : inbox->messages) uids_tmp.push_back(m.uid);
        if (auto r = store.move(user, inbox->id, uids_tmp, to, uids_tmp2); !r) return store_error("move", r.err());
    }
    tagged_ok("RENAME completed");
}

void session::impl::on_subscribe(cursor& a) {
    auto arg = a.astring();
    if (!arg || !a.at_end()) return fail(replies::syntax);
    auto r = store.set_subscribed(user, canonical_mailbox(*arg), true);
    if (!r) return r.err().code == EINVAL ? fail(replies::bad_name) : store_error("subscribe", r.err());
    tagged_ok("SUBSCRIBE completed");
}

void session::impl::on_unsubscribe(cursor& a) {
    auto arg = a.astring();
    if (!arg || !a.at_end()) return fail(replies::syntax);
    auto r = store.set_subscribed(user, canonical_mailbox(*arg), false);
    if (!r) return r.err().code == EINVAL ? fail(replies::bad_name) : store_error("unsubscribe", r.err());
    tagged_ok("UNSUBSCRIBE completed");
}

// --- LIST / LSUB.

void session::impl::on_list(cursor& a) {
    auto ref = a.astring();
    if (!ref || !a.sp()) return fail(replies::syntax);
    auto pat = a.list_mailbox();
    if (!pat || !a.at_end()) return fail(replies::syntax);
    if (pat->empty()) {
        // §6.3.8: the delimiter and the root of the reference.
        out.append("* LIST (\\Noselect) \"/\" \"\"\r\n");
        return tagged_ok("LIST completed");
    }
    std::string& pattern = scratch;
    pattern.assign(*ref).append(*pat);
    // Every folder, and every superior of one that is not a folder itself
    // (shown \Noselect, as a hierarchy level).
    auto folders = store.folders(user);
    std::vector<std::pair<std::string_view, bool>> names;   // name, is a folder
    names.reserve(folders.size() * 2);
    for (const store::folder* f : folders) {
        std::string_view n = f->name;
        names.emplace_back(n, true);
        for (size_t p = n.find(k_delimiter); p != std::string_view::npos; p = n.find(k_delimiter, p + 1))
            names.emplace_back(n.substr(0, p), false);
    }
    std::sort(names.begin(), names.end(), [](const auto& x, const auto& y) {
        if (x.first != y.first) return x.first < y.first;
        return x.second > y.second;
    });
    names.erase(std::unique(names.begin(), names.end(), [](const auto& x, const auto& y) { return x.first == y.first; }),
                names.end());
    // INBOX first, as clients expect.
    std::stable_partition(names.begin(), names.end(), [](const auto& x) { return x.first == store::inbox; });
    for (size_t i = 0; i < names.size(); ++i) {
        std::string_view n = names[i].first;
        if (!list_match(pattern, n)) continue;
        bool children = false;
        for (const auto& other : names)
            if (other.first.size() > n.size() + 1 && other.first.starts_with(n) && other.first[n.size()] == k_delimiter) {
                children = true;
                break;
            }
        out.append("* LIST (");
        if (!names[i].second) out.append("\\Noselect ");
        out.append(children ? "\\HasChildren" : "\\HasNoChildren");
        if (auto su = special_use(n); !su.empty()) out.append(" ").append(su);
        out.append(") \"/\" ");
        write_astring(out, n);
        out.append("\r\n");
    }
    tagged_ok("LIST completed");
}

void session::impl::on_lsub(cursor& a) {
    auto ref = a.astring();
    if (!ref || !a.sp()) return fail(replies::syntax);
    auto pat = a.list_mailbox();
    if (!pat || !a.at_end()) return fail(replies::syntax);
    if (pat->empty()) {
        out.append("* LSUB (\\Noselect) \"/\" \"\"\r\n");
        return tagged_ok("LSUB completed");
    }
    std::string& pattern = scratch;
    pattern.assign(*ref).append(*pat);
    for (const std::string& n : store.subscriptions(user)) {
        if (!list_match(pattern, n)) continue;
        out.append(store.find_folder(user, n) ? "* LSUB () \"/\" " : "* LSUB (\\Noselect) \"/\" ");
        write_astring(out, n);
        out.append("\r\n");
    }
    tagged_ok("LSUB completed");
}

// --- STATUS.

void session::impl::on_status(cursor& a) {
    auto name = a.astring();
    if (!name || !a.sp() || !a.skip('(')) return fail(replies::syntax);
    const store::folder* f = store.find_folder(user, canonical_mailbox(*name));
    std::string& items = scratch2;
    items.clear();
    for (bool first = true; !a.skip(')'); first = false) {
        if (!first && !a.sp()) return fail(replies::syntax);
        auto item = a.atom();
        if (!item) return fail(replies::syntax);
        if (!first) items.push_back(' ');
        uint64_t v = 0;
        if (core::iequals(*item, "MESSAGES")) {
            items.append("MESSAGES ");
            v = f ? f->messages.size() : 0;
        } else if (core::iequals(*item, "RECENT")) {
            items.append("RECENT ");
            if (f)
                for (const auto& m : f->messages) v += m.uid >= f->recent_uid;
        } else if (core::iequals(*item, "UIDNEXT")) {
            items.append("UIDNEXT ");
            v = f ? f->uidnext : 0;
        } else if (core::iequals(*item, "UIDVALIDITY")) {
            items.append("UIDVALIDITY ");
            v = f ? f->uidvalidity : 0;
        } else if (core::iequals(*item, "UNSEEN")) {
            items.append("UNSEEN ");
            v = f ? f->count_without(store::flag_seen) : 0;
        } else {
            return fail(replies::syntax);
        }
        append_number(items, v);
    }
    if (!a.at_end()) return fail(replies::syntax);
    if (!f) return fail(replies::no_mailbox);
    out.append("* STATUS ");
    write_astring(out, f->name);
    out.append(" (").append(items).append(")\r\n");
    tagged_ok("STATUS completed");
}

// --- CHECK / CLOSE / UNSELECT.

void session::impl::on_check(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    tagged_ok("CHECK completed");
}

void session::impl::on_close(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    // §6.4.2: \Deleted messages go, silently (no EXPUNGE responses).
    if (!sel->read_only) {
        if (const store::folder* f = folder()) {
            uids_tmp.clear();
            for (const auto& m : f->messages)
                if (m.flags & store::flag_deleted) uids_tmp.push_back(m.uid);
            if (!uids_tmp.empty())
                if (auto r = store.expunge(user, sel->folder_id, uids_tmp); !r) return store_error("expunge", r.err());
        }
    }
    sel.reset();
    st = state::authenticated;
    tagged_ok("CLOSE completed");
}

void session::impl::on_unselect(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    sel.reset();
    st = state::authenticated;
    tagged_ok("UNSELECT completed");
}

}  // namespace posthorn::proto::imap
