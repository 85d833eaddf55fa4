// The store's streamed APPEND (store.hh append_begin/write/commit/abort)
// and the in-memory \Recent claims. A streamed message gets its place in
// the mail file up front, its bytes go there with pwrite as they arrive
// (never held whole; hashed and MIME-parsed on the way), and its index
// records (skeleton, append) are logged only at commit, so a crash or an
// abort leaves unused bytes, never a message.
//
// Threading: shard-local, like the rest of shard_store.
// Limits: the size is fixed at begin (an IMAP literal announces it).
// Errors: ENOENT (no folder), EINVAL (bad id, too many or too few bytes),
// write failures fail the store (as any mail file write does).
#include "posthorn/store.hh"

#include "store/index_codec.hh"
#include "store/store_internal.hh"

#include <algorithm>
#include <cerrno>

namespace posthorn::store {

core::result<shard_store::append_id> shard_store::append_begin(std::string_view user, std::string_view folder_name,
                                                               uint64_t size, uint32_t flags, int64_t internal_date) {
    if (auto r = check_writable(); !r) return r.err();
    const folder* f = find_folder(user, folder_name);
    if (!f) return core::error{ENOENT, "no such folder"};
    // Gathered small messages assume they sit back to back at the tail:
    // write them out before a region is set aside between them.
    if (auto r = flush_gathered(); !r) return r.err();
    auto at = reserve(size);
    if (!at) return at.err();
    auto p = std::make_unique<pending_append>();
    p->user = std::string(user);
    p->folder_id = f->id;
    p->flags = flags;  // add_message keeps the bits the folder has
    p->internal_date = internal_date;
    p->segment = _current;
    p->offset = *at;
    p->size = size;
    p->hasher.reset();
    append_id id = _next_append++;
    _appending.emplace(id, std::move(p));
    return id;
}

core::result<void> shard_store::append_write(append_id id, std::string_view bytes) {
    auto it = _appending.find(id);
    if (it == _appending.end()) return core::error{EINVAL, "no such append"};
    pending_append& p = *it->second;
    if (bytes.size() > p.size - p.written) return core::error{EINVAL, "append longer than announced"};
    if (auto r = check_writable(); !r) return r.err();
    auto fd = fd_of(p.segment);
    if (!fd) return fd.err();
    if (auto r = detail::pwrite_all(*fd, bytes.data(), bytes.size(), p.offset + p.written); !r) return fail(r.err());
    p.hasher.update(bytes);
    p.parser.feed(bytes);
    p.written += bytes.size();
    _counters.appended_bytes += bytes.size();
    return core::ok();
}

core::result<shard_store::delivered> shard_store::append_commit(append_id id) {
    auto it = _appending.find(id);
    if (it == _appending.end()) return core::error{EINVAL, "no such append"};
    std::unique_ptr<pending_append> p = std::move(it->second);
    _appending.erase(it);
    if (p->written != p->size) return core::error{EINVAL, "append shorter than announced"};
    if (auto r = check_writable(); !r) return r.err();
    mailbox* b = find_box(p->user);
    folder* f = b ? folder_id(*b, p->folder_id) : nullptr;
    if (!f) return core::error{ENOENT, "no such folder"};
    // Only the newest mail file has its contents checked at open: bytes
    // that landed in an older one must be durable before their record.
    if (p->segment != _current && _opts.durability == spool::durability::fsync) {
        auto fd = fd_of(p->segment);
        if (!fd) return fd.err();
        if (auto r = spool::data_sync(*fd); !r) return fail(r.err());
    }
    return add_message(*b, *f, p->segment, p->offset, p->size, p->hasher.digest(), p->flags, p->internal_date, 0,
                       std::make_shared<const mime::skeleton>(p->parser.finish()), true);
}

void shard_store::append_abort(append_id id) noexcept { _appending.erase(id); }

uint32_t shard_store::claim_recent(std::string_view user, uint32_t fid) noexcept {
    mailbox* b = find_box(user);
    folder* f = b ? folder_id(*b, fid) : nullptr;
    if (!f) return 0;
    uint32_t first = std::max(f->recent_uid, uint32_t{1});
    if (f->uidnext > f->recent_uid && check_writable()) {
        // Logged, so a restart does not make every message recent again
        // (Dovecot keeps its first_recent_uid likewise). Not fatal when it
        // cannot be: the claim holds in memory.
        index_writer(_scratch).u32(f->id).u32(f->uidnext).str(b->user);
        (void)log_record(static_cast<uint8_t>(index_type::recent), _scratch);
    }
    f->recent_uid = f->uidnext;
    return first;
}

}  // namespace posthorn::store
