// The mailbox store of one shard (see store.hh): the in-memory model of
// every mailbox, its mutations and reads, and the files behind it. Opening
// (replaying index.log) is in store_load.cc.
#include "posthorn/store.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/text.hh"
#include "spool/codec.hh"
#include "spool/segment.hh"
#include "store/index_codec.hh"
#include "store/store_internal.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace posthorn::store {

namespace {

using detail::hash_window_bytes;
using detail::index_grow_bytes;
using detail::name_bytes_max;
using detail::pwrite_all;

// INBOX is case-insensitive (RFC 3501 §5.1); every other name is exact.
bool same_folder(std::string_view a, std::string_view b) noexcept {
    if (core::iequals(a, inbox) || core::iequals(b, inbox)) return core::iequals(a, b);
    return a == b;
}

bool valid_name(std::string_view n) noexcept {
    if (n.empty() || n.size() > name_bytes_max) return false;
    for (char c : n)
        if (c == '\0' || c == '\r' || c == '\n') return false;
    return n.front() != '/' && n.back() != '/';
}

uint32_t now_uidvalidity(uint32_t last) {
    auto now = static_cast<uint32_t>(std::time(nullptr));
    return std::max(now, last + 1);
}

core::result<void> copy_in_kernel(int from, uint64_t from_off, int to, uint64_t to_off, uint64_t n) {
    auto in = static_cast<loff_t>(from_off);
    auto out = static_cast<loff_t>(to_off);
    while (n > 0) {
        ssize_t r = ::copy_file_range(from, &in, to, &out, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return core::errno_error("copy_file_range into mail file");
        }
        if (r == 0) return core::error{core::e_corrupt, "spool content shorter than its extents"};
        n -= static_cast<uint64_t>(r);
    }
    return core::ok();
}

}  // namespace

const message* folder::find(uint32_t uid) const noexcept {
    auto it = std::lower_bound(messages.begin(), messages.end(), uid,
                               [](const message& m, uint32_t u) { return m.uid < u; });
    return it != messages.end() && it->uid == uid ? &*it : nullptr;
}

uint64_t folder::bytes() const noexcept {
    uint64_t n = 0;
    for (const auto& m : messages) n += m.size;
    return n;
}

uint32_t folder::count_without(uint32_t flag_bits) const noexcept {
    uint32_t n = 0;
    for (const auto& m : messages) n += (m.flags & flag_bits) == 0;
    return n;
}

uint32_t folder::flag_bits() const noexcept {
    uint32_t bits = flag_mask;
    for (uint32_t i = 0; i < keywords.size(); ++i) bits |= keyword_bit(i);
    return bits;
}

int folder::keyword_slot(std::string_view name) const noexcept {
    for (size_t i = 0; i < keywords.size(); ++i)
        if (core::iequals(keywords[i], name)) return static_cast<int>(i);
    return -1;
}

shard_store::shard_store() = default;

shard_store::~shard_store() {
    for (auto& [seq, f] : _mail)
        if (f.fd >= 0) ::close(f.fd);
    if (_index_fd >= 0) ::close(_index_fd);
    if (_mail_dir_fd >= 0) ::close(_mail_dir_fd);
    if (_dir_fd >= 0) ::close(_dir_fd);  // drops the flock
}

core::result<std::unique_ptr<shard_store>> shard_store::open(const options& o) {
    std::unique_ptr<shard_store> s(new shard_store());
    s->_opts = o;
    s->_opts.segment_bytes = std::max<uint64_t>((o.segment_bytes + 4095) & ~uint64_t{4095}, 4096);
    if (o.read_only) s->_failed = EROFS;  // refuses mutations, quietly
    auto dir = spool::open_dir(o.dir, !o.read_only);
    if (!dir) return dir.err();
    if (!o.read_only)
        if (auto r = spool::lock_dir(dir->get()); !r) return r.err();
    s->_dir_fd = dir->release();
    auto mail = spool::open_dir(o.dir + "/mail", !o.read_only);
    if (!mail) return mail.err();
    s->_mail_dir_fd = mail->release();
    if (auto r = s->load(); !r) return r.err();
    return s;
}

core::error shard_store::fail(core::error e) noexcept {
    if (!_failed) {
        _failed = e.code ? e.code : EIO;
        core::log::error("event=store_failed dir={} what=\"{}\" reason=\"{}\" note=\"no more mutations until restart\"",
                         _opts.dir, e.what, e.reason());
    }
    return e;
}

core::result<void> shard_store::check_writable() const {
    if (_failed) return core::error{core::e_closed, "mailbox store failed earlier"};
    return core::ok();
}

shard_store::mailbox& shard_store::box(std::string_view user) {
    auto it = _boxes.find(user);
    if (it != _boxes.end()) return *it->second;
    auto b = std::make_unique<mailbox>();
    b->user = std::string(user);
    return *_boxes.emplace(b->user, std::move(b)).first->second;
}

shard_store::mailbox* shard_store::find_box(std::string_view user) const {
    auto it = _boxes.find(user);
    return it == _boxes.end() ? nullptr : it->second.get();
}

folder* shard_store::folder_named(mailbox& b, std::string_view name) {
    for (auto& f : b.folders)
        if (same_folder(f->name, name)) return f.get();
    return nullptr;
}

folder* shard_store::folder_id(mailbox& b, uint32_t id) {
    for (auto& f : b.folders)
        if (f->id == id) return f.get();
    return nullptr;
}

// --- writing.

core::result<uint64_t> shard_store::log_record(uint8_t type, std::string_view payload) {
    append_index_record(_index_pending, static_cast<index_type>(type), payload);
    ++_appended_seq;
    // A keyword's record goes with the flag change that defined it: the
    // same (weaker) durability as that change; so does a \Recent claim.
    if (type != static_cast<uint8_t>(index_type::flags) && type != static_cast<uint8_t>(index_type::keyword) &&
        type != static_cast<uint8_t>(index_type::recent))
        _important_seq = _appended_seq;
    return _appended_seq;
}

core::result<folder*> shard_store::create_in(mailbox& b, std::string_view name, uint64_t& seq) {
    if (!valid_name(name)) return core::error{EINVAL, "bad folder name"};
    if (folder_named(b, name)) return core::error{EEXIST, "folder exists"};
    auto f = std::make_unique<folder>();
    f->id = b.next_folder_id++;
    f->name = core::iequals(name, inbox) ? std::string(inbox) : std::string(name);
    f->uidvalidity = b.last_uidvalidity = now_uidvalidity(b.last_uidvalidity);
    index_writer(_scratch).u32(f->id).u32(f->uidvalidity).str(b.user).str(f->name);
    auto s = log_record(static_cast<uint8_t>(index_type::folder_create), _scratch);
    if (!s) return s.err();
    seq = *s;
    b.folders.push_back(std::move(f));
    return b.folders.back().get();
}

core::result<int> shard_store::fd_of(uint64_t segment) const {
    auto it = _mail.find(segment);
    if (it == _mail.end()) return core::error{core::e_corrupt, "message in a mail file that does not exist"};
    return it->second.fd;
}

core::result<uint64_t> shard_store::reserve(uint64_t bytes) {
    auto cur = _mail.find(_current);
    if (cur == _mail.end() || cur->second.tail + bytes > cur->second.bytes) {
        // A new file. The old one is made durable first, so that only the
        // newest file ever needs its contents checked at open.
        if (auto r = flush_gathered(); !r) return r.err();
        if (cur != _mail.end() && _opts.durability == spool::durability::fsync)
            if (auto r = spool::data_sync(cur->second.fd); !r) return fail(r.err());
        uint64_t seq = _current + 1;
        uint64_t size = std::max(_opts.segment_bytes, (bytes + 4095) & ~uint64_t{4095});
        auto fd = spool::create_segment_file(_mail_dir_fd, seq, size);
        if (!fd) return fail(fd.err());
        if (auto r = spool::full_sync(_mail_dir_fd); !r) return fail(r.err());
        _mail[seq] = mail_file{fd->release(), size, 0};
        _current = seq;
        cur = _mail.find(seq);
    }
    uint64_t at = cur->second.tail;
    cur->second.tail += bytes;
    return at;
}

core::result<void> shard_store::flush_gathered() {
    if (_gathered.empty()) return core::ok();
    auto fd = fd_of(_current);
    if (!fd) return fd.err();
    if (auto r = pwrite_all(*fd, _gathered.data(), _gathered.size(), _gathered_at); !r) return fail(r.err());
    _counters.appended_bytes += _gathered.size();
    _gathered.clear();
    return core::ok();
}

core::result<void> shard_store::write_index() {
    if (_index_pending.empty()) return core::ok();
    const uint64_t end = _index_tail + _index_pending.size();
    if (end > _index_bytes) {
        uint64_t want = (end + index_grow_bytes) & ~(index_grow_bytes - 1);
        if (auto r = spool::preallocate(_index_fd, want); !r) return fail(r.err());
        _index_bytes = want;
    }
    if (auto r = pwrite_all(_index_fd, _index_pending.data(), _index_pending.size(), _index_tail); !r)
        return fail(r.err());
    _counters.index_bytes += _index_pending.size();
    _index_tail = end;
    _index_pending.clear();
    return core::ok();
}

core::result<shard_store::delivered> shard_store::add_message(mailbox& b, folder& f, uint64_t segment,
                                                                uint64_t offset, uint64_t size, uint64_t hash,
                                                                uint32_t flags, int64_t date, uint64_t origin,
                                                                std::shared_ptr<const mime::skeleton> skeleton,
                                                                bool fresh) {
    if (f.uidnext == UINT32_MAX) return core::error{EOVERFLOW, "folder ran out of UIDs"};
    if (fresh && skeleton) {
        // Before the append record, so replay has it when the append comes.
        // One past the payload limit (a pathological structure) is not
        // logged: after a restart skeleton_of() parses that message again.
        index_writer(_scratch).u64(segment).u64(offset);
        _scratch += skeleton->encode();
        if (_scratch.size() <= index_payload_max)
            if (auto s = log_record(static_cast<uint8_t>(index_type::mime), _scratch); !s) return s.err();
    }
    message m;
    m.uid = f.uidnext++;
    m.flags = flags & f.flag_bits();
    m.internal_date = date;
    m.size = size;
    m.segment = segment;
    m.offset = offset;
    m.hash = hash;
    m.skeleton = std::move(skeleton);
    index_writer(_scratch).u32(f.id).u32(m.uid).u32(m.flags).u64(static_cast<uint64_t>(date)).u64(segment)
        .u64(offset).u64(size).u64(hash).u64(origin).str(b.user);
    auto seq = log_record(static_cast<uint8_t>(index_type::append), _scratch);
    if (!seq) return seq.err();
    f.messages.push_back(std::move(m));
    ++f.changes;
    notify(change{change::kind::appended, b.user, f.id, m.uid});
    return delivered{*seq, m.uid};
}

core::result<shard_store::delivered> shard_store::deliver(std::string_view user, std::string_view folder_name,
                                                          std::string_view prefix,
                                                          std::span<const spool::extent> content,
                                                          int64_t internal_date, uint64_t origin) {
    if (auto r = check_writable(); !r) return r.err();
    if (user.empty() || user.size() > name_bytes_max) return core::error{EINVAL, "bad user name"};
    mailbox& b = box(user);
    folder* f = folder_named(b, folder_name);
    if (!f) {
        uint64_t s = 0;
        auto made = create_in(b, folder_name, s);
        if (!made) return made.err();
        f = *made;
    }
    uint64_t size = prefix.size();
    for (const auto& e : content) size += e.length;
    auto at = reserve(size);
    if (!at) return at.err();
    uint64_t hash = 0;
    std::shared_ptr<const mime::skeleton> skeleton;
    if (size <= _opts.gather_bytes_max) {
        if (_gathered.empty()) _gathered_at = *at;
        const size_t start = _gathered.size();
        _gathered.append(prefix);
        for (const auto& e : content) {
            const size_t off = _gathered.size();
            _gathered.resize(off + e.length);
            if (auto r = spool::read_all(e.fd, _gathered.data() + off, e.length, e.offset); !r) {
                _gathered.resize(start);
                return r.err();
            }
        }
        const std::string_view bytes = std::string_view(_gathered).substr(start);
        hash = content_hash(bytes);
        skeleton = std::make_shared<const mime::skeleton>(mime::parse(bytes));
    } else {
        if (auto r = flush_gathered(); !r) return r.err();
        auto fd = fd_of(_current);
        if (!fd) return fd.err();
        if (auto r = pwrite_all(*fd, prefix.data(), prefix.size(), *at); !r) return fail(r.err());
        content_hasher h;
        h.update(prefix);
        mime::parser p;
        p.feed(prefix);
        uint64_t to = *at + prefix.size();
        _window.resize(hash_window_bytes);
        for (const auto& e : content) {
            if (auto r = copy_in_kernel(e.fd, e.offset, *fd, to, e.length); !r) return fail(r.err());
            // The hash reads the bytes once, from the page cache the copy
            // just filled; it is what tells a torn file after a crash.
            for (uint64_t done = 0; done < e.length;) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(e.length - done, _window.size()));
                if (auto r = spool::read_all(*fd, _window.data(), n, to + done); !r) return r.err();
                h.update(std::string_view(_window.data(), n));
                p.feed(std::string_view(_window.data(), n));
                done += n;
            }
            to += e.length;
            _counters.copy_file_range_bytes += e.length;
        }
        _counters.appended_bytes += size;
        hash = h.digest();
        skeleton = std::make_shared<const mime::skeleton>(p.finish());
    }
    auto d = add_message(b, *f, _current, *at, size, hash, 0, internal_date, origin, std::move(skeleton), true);
    if (d) ++_counters.delivered;
    return d;
}

core::result<shard_store::delivered> shard_store::append(std::string_view user, std::string_view folder_name,
                                                         std::span<const iovec> content, uint32_t flags,
                                                         int64_t internal_date) {
    if (auto r = check_writable(); !r) return r.err();
    mailbox& b = box(user);
    folder* f = folder_named(b, folder_name);
    if (!f) return core::error{ENOENT, "no such folder"};
    uint64_t size = 0;
    for (const auto& v : content) size += v.iov_len;
    auto at = reserve(size);
    if (!at) return at.err();
    content_hasher h;
    mime::parser p;
    for (const auto& v : content) {
        const std::string_view bytes(static_cast<const char*>(v.iov_base), v.iov_len);
        h.update(bytes);
        p.feed(bytes);
    }
    if (size <= _opts.gather_bytes_max) {
        if (_gathered.empty()) _gathered_at = *at;
        for (const auto& v : content) _gathered.append(static_cast<const char*>(v.iov_base), v.iov_len);
    } else {
        if (auto r = flush_gathered(); !r) return r.err();
        auto fd = fd_of(_current);
        if (!fd) return fd.err();
        std::vector<iovec> iov(content.begin(), content.end());
        if (auto r = spool::write_all(*fd, iov.data(), iov.size(), *at); !r) return fail(r.err());
        _counters.appended_bytes += size;
    }
    return add_message(b, *f, _current, *at, size, h.digest(), flags, internal_date, 0,
                       std::make_shared<const mime::skeleton>(p.finish()), true);
}

core::result<uint64_t> shard_store::ensure_inbox(std::string_view user) {
    if (auto r = check_writable(); !r) return r.err();
    mailbox& b = box(user);
    if (folder_named(b, inbox)) return _appended_seq;
    uint64_t seq = 0;
    auto made = create_in(b, inbox, seq);
    if (!made) return made.err();
    return seq;
}

core::result<uint64_t> shard_store::create_folder(std::string_view user, std::string_view name) {
    if (auto r = check_writable(); !r) return r.err();
    uint64_t seq = 0;
    auto made = create_in(box(user), name, seq);
    if (!made) return made.err();
    return seq;
}

core::result<uint64_t> shard_store::rename_folder(std::string_view user, std::string_view from, std::string_view to) {
    if (auto r = check_writable(); !r) return r.err();
    mailbox& b = box(user);
    if (core::iequals(from, inbox)) return core::error{EPERM, "renaming INBOX is not supported"};
    if (!valid_name(to)) return core::error{EINVAL, "bad folder name"};
    folder* f = folder_named(b, from);
    if (!f) return core::error{ENOENT, "no such folder"};
    if (folder_named(b, to)) return core::error{EEXIST, "folder exists"};
    // Inferiors move with it (RFC 3501 §6.3.5): "a/b" becomes "to/b".
    const std::string old_prefix = std::string(from) + "/";
    if (to.starts_with(old_prefix)) return core::error{EINVAL, "cannot rename a folder under itself"};
    // Every new name is checked before anything is renamed, so a refused
    // rename changes nothing: none too long, none in use (an inferior's new
    // name may exist, as "to/x" does after "to" alone was deleted).
    for (auto& g : b.folders) {
        if (!g->name.starts_with(old_prefix)) continue;
        const std::string new_name = std::string(to) + "/" + g->name.substr(old_prefix.size());
        if (new_name.size() > name_bytes_max) return core::error{EINVAL, "folder name too long"};
        if (folder_named(b, new_name)) return core::error{EEXIST, "an inferior's new name is in use"};
    }
    uint64_t seq = 0;
    for (auto& g : b.folders) {
        std::string new_name;
        if (g.get() == f) new_name = std::string(to);
        else if (g->name.starts_with(old_prefix)) new_name = std::string(to) + "/" + g->name.substr(old_prefix.size());
        else continue;
        if (new_name.size() > name_bytes_max) return core::error{EINVAL, "folder name too long"};
        index_writer(_scratch).u32(g->id).str(b.user).str(new_name);
        auto s = log_record(static_cast<uint8_t>(index_type::folder_rename), _scratch);
        if (!s) return s.err();
        seq = *s;
        g->name = std::move(new_name);
        notify(change{change::kind::folder_renamed, b.user, g->id, 0});
    }
    return seq;
}

core::result<uint64_t> shard_store::delete_folder(std::string_view user, std::string_view name) {
    if (auto r = check_writable(); !r) return r.err();
    if (core::iequals(name, inbox)) return core::error{EPERM, "INBOX cannot be deleted"};
    mailbox& b = box(user);
    folder* f = folder_named(b, name);
    if (!f) return core::error{ENOENT, "no such folder"};
    const uint32_t id = f->id;
    index_writer(_scratch).u32(id).str(b.user);
    auto s = log_record(static_cast<uint8_t>(index_type::folder_delete), _scratch);
    if (!s) return s.err();
    std::erase_if(b.folders, [&](auto& g) { return g->id == id; });
    notify(change{change::kind::folder_deleted, b.user, id, 0});
    return *s;
}

core::result<uint64_t> shard_store::set_subscribed(std::string_view user, std::string_view name, bool on) {
    if (auto r = check_writable(); !r) return r.err();
    if (!valid_name(name)) return core::error{EINVAL, "bad folder name"};
    mailbox& b = box(user);
    auto it = std::find(b.subscribed.begin(), b.subscribed.end(), name);
    if (on == (it != b.subscribed.end())) return _appended_seq;
    index_writer(_scratch).u8(on ? 1 : 0).str(b.user).str(name);
    auto s = log_record(static_cast<uint8_t>(index_type::subscribe), _scratch);
    if (!s) return s.err();
    if (on) b.subscribed.emplace_back(name);
    else b.subscribed.erase(it);
    return *s;
}

core::result<uint32_t> shard_store::define_keyword(mailbox& b, folder& f, std::string_view name) {
    if (int slot = f.keyword_slot(name); slot >= 0) return keyword_bit(static_cast<uint32_t>(slot));
    if (name.empty() || name.size() > keyword_bytes_max) return core::error{EINVAL, "bad keyword"};
    if (f.keywords.size() >= keyword_slots_max) return core::error{ENOSPC, "folder has no keyword slot left"};
    const auto slot = static_cast<uint32_t>(f.keywords.size());
    index_writer(_scratch).u32(f.id).u8(static_cast<uint8_t>(slot)).str(b.user).str(name);
    if (auto s = log_record(static_cast<uint8_t>(index_type::keyword), _scratch); !s) return s.err();
    f.keywords.emplace_back(name);
    return keyword_bit(slot);
}

core::result<uint32_t> shard_store::keyword_bits(std::string_view user, uint32_t fid,
                                                 std::span<const std::string_view> names, bool define) {
    mailbox* b = find_box(user);
    folder* f = b ? folder_id(*b, fid) : nullptr;
    if (!f) return core::error{ENOENT, "no such folder"};
    uint32_t bits = 0;
    for (std::string_view n : names) {
        if (int slot = f->keyword_slot(n); slot >= 0) {
            bits |= keyword_bit(static_cast<uint32_t>(slot));
            continue;
        }
        if (!define) continue;
        if (auto r = check_writable(); !r) return r.err();
        auto bit = define_keyword(*b, *f, n);
        if (!bit) return bit.err();
        bits |= *bit;
    }
    return bits;
}

core::result<uint32_t> shard_store::carry_flags(mailbox& b, const folder& from, folder& to, uint32_t flags) {
    if (&from == &to) return flags & to.flag_bits();
    uint32_t out = flags & flag_mask;
    for (uint32_t i = 0; i < from.keywords.size(); ++i) {
        if (!(flags & keyword_bit(i))) continue;
        auto bit = define_keyword(b, to, from.keywords[i]);
        if (bit) out |= *bit;
        else if (bit.err().code != ENOSPC) return bit.err();
    }
    return out;
}

core::result<uint64_t> shard_store::set_flags(std::string_view user, uint32_t fid, uint32_t uid, uint32_t flags) {
    if (auto r = check_writable(); !r) return r.err();
    mailbox* b = find_box(user);
    folder* f = b ? folder_id(*b, fid) : nullptr;
    const message* m = f ? f->find(uid) : nullptr;
    if (!m) return core::error{ENOENT, "no such message"};
    flags &= f->flag_bits();
    if (m->flags == flags) return _appended_seq;
    index_writer(_scratch).u32(fid).u32(uid).u32(flags).str(b->user);
    auto s = log_record(static_cast<uint8_t>(index_type::flags), _scratch);
    if (!s) return s.err();
    const_cast<message*>(m)->flags = flags;
    notify(change{change::kind::flags, b->user, fid, uid});
    return *s;
}

core::result<uint64_t> shard_store::expunge(std::string_view user, uint32_t fid, std::span<const uint32_t> uids) {
    if (auto r = check_writable(); !r) return r.err();
    mailbox* b = find_box(user);
    folder* f = b ? folder_id(*b, fid) : nullptr;
    if (!f) return core::error{ENOENT, "no such folder"};
    std::vector<uint32_t> gone;
    for (uint32_t u : uids)
        if (f->find(u)) gone.push_back(u);
    if (gone.empty()) return _appended_seq;
    std::sort(gone.begin(), gone.end());
    gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
    index_writer w(_scratch);
    w.u32(fid).u32(static_cast<uint32_t>(gone.size()));
    for (uint32_t u : gone) w.u32(u);
    w.str(b->user);
    auto s = log_record(static_cast<uint8_t>(index_type::expunge), _scratch);
    if (!s) return s.err();
    std::erase_if(f->messages, [&](const message& m) { return std::binary_search(gone.begin(), gone.end(), m.uid); });
    ++f->changes;
    for (uint32_t u : gone) notify(change{change::kind::expunged, b->user, fid, u});
    return *s;
}

core::result<uint64_t> shard_store::copy(std::string_view user, uint32_t from_id, std::span<const uint32_t> uids,
                                         std::string_view to, std::vector<uint32_t>& new_uids) {
    if (auto r = check_writable(); !r) return r.err();
    new_uids.clear();
    mailbox* b = find_box(user);
    folder* from = b ? folder_id(*b, from_id) : nullptr;
    folder* dest = b ? folder_named(*b, to) : nullptr;
    if (!from || !dest) return core::error{ENOENT, "no such folder"};
    uint64_t seq = _appended_seq;
    for (uint32_t u : uids) {
        const message* m = from->find(u);
        if (!m) continue;
        const message src = *m;  // dest may be `from`: its vector can grow
        auto flags = carry_flags(*b, *from, *dest, src.flags);
        if (!flags) return flags.err();
        auto d = add_message(*b, *dest, src.segment, src.offset, src.size, src.hash, *flags, src.internal_date, 0,
                             src.skeleton, false);
        if (!d) return d.err();
        new_uids.push_back(d->uid);
        seq = d->seq;
    }
    return seq;
}

core::result<uint64_t> shard_store::move(std::string_view user, uint32_t from_id, std::span<const uint32_t> uids,
                                         std::string_view to, std::vector<uint32_t>& new_uids) {
    const folder* dest = find_folder(user, to);
    if (dest && dest->id == from_id) return core::error{EINVAL, "source and destination are the same folder"};
    auto copied = copy(user, from_id, uids, to, new_uids);
    if (!copied) return copied.err();
    return expunge(user, from_id, uids);
}

// --- reading.

std::vector<const folder*> shard_store::folders(std::string_view user) const {
    std::vector<const folder*> out;
    mailbox* b = find_box(user);
    if (!b) return out;
    for (auto& f : b->folders) out.push_back(f.get());
    std::sort(out.begin(), out.end(), [](const folder* a, const folder* c) {
        bool ai = a->name == inbox, ci = c->name == inbox;
        if (ai != ci) return ai;
        return a->name < c->name;
    });
    return out;
}

const folder* shard_store::find_folder(std::string_view user, std::string_view name) const {
    mailbox* b = find_box(user);
    return b ? const_cast<shard_store*>(this)->folder_named(*b, name) : nullptr;
}

const folder* shard_store::folder_by_id(std::string_view user, uint32_t id) const {
    mailbox* b = find_box(user);
    return b ? const_cast<shard_store*>(this)->folder_id(*b, id) : nullptr;
}

std::shared_ptr<const uid_list> shard_store::uids_of(const folder& f) const {
    if (f.uids_cached && f.uids_cached_at == f.changes) return f.uids_cached;
    auto fresh = std::make_shared<uid_list>();
    fresh->reserve(f.messages.size());
    // UIDs only grow: when the last list's last UID is still at its index,
    // nothing before it went away and the list is a prefix of the new one.
    const uid_list* last = f.uids_cached.get();
    size_t from = 0;
    if (last && !last->empty() && last->size() <= f.messages.size() &&
        f.messages[last->size() - 1].uid == last->back()) {
        fresh->assign(last->begin(), last->end());
        from = last->size();
    }
    for (size_t i = from; i < f.messages.size(); ++i) fresh->push_back(f.messages[i].uid);
    f.uids_cached = std::move(fresh);
    f.uids_cached_at = f.changes;
    return f.uids_cached;
}

std::vector<std::string> shard_store::subscriptions(std::string_view user) const {
    mailbox* b = find_box(user);
    return b ? b->subscribed : std::vector<std::string>{};
}

core::result<void> shard_store::read(const message& m, uint64_t offset, uint64_t length, std::string& out) {
    out.clear();
    return read_append(m, offset, length, out);
}

core::result<void> shard_store::read_append(const message& m, uint64_t offset, uint64_t length, std::string& out) {
    if (offset >= m.size) return core::ok();
    length = std::min(length, m.size - offset);
    if (m.segment == _current && !_gathered.empty() && m.offset >= _gathered_at) {
        out.append(_gathered, static_cast<size_t>(m.offset - _gathered_at + offset), static_cast<size_t>(length));
        return core::ok();
    }
    auto fd = fd_of(m.segment);
    if (!fd) return fd.err();
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(length));
    auto r = spool::read_all(*fd, out.data() + at, static_cast<size_t>(length), m.offset + offset);
    if (!r) out.resize(at);
    return r;
}

core::result<spool::extent> shard_store::extent_of(const message& m) {
    if (m.segment == _current)
        if (auto r = flush_gathered(); !r) return r.err();
    auto fd = fd_of(m.segment);
    if (!fd) return fd.err();
    return spool::extent{*fd, m.offset, m.size};
}

core::result<std::shared_ptr<const mime::skeleton>> shard_store::skeleton_of(const message& m) {
    if (m.skeleton) return m.skeleton;
    mime::parser p;
    std::string window;
    for (uint64_t done = 0; done < m.size;) {
        if (auto r = read(m, done, hash_window_bytes, window); !r) return r.err();
        if (window.empty()) break;
        p.feed(window);
        done += window.size();
    }
    m.skeleton = std::make_shared<const mime::skeleton>(p.finish());
    return m.skeleton;
}

// --- watchers.

watch_id shard_store::watch(std::string_view user, watcher w) {
    watch_id id = _next_watch++;
    auto [it, fresh] = _watchers.emplace(id, std::make_pair(std::string(user), std::move(w)));
    (void)fresh;
    auto by = _watchers_by_user.find(user);
    if (by == _watchers_by_user.end()) by = _watchers_by_user.emplace(it->second.first, std::vector<watch_id>{}).first;
    by->second.push_back(id);
    return id;
}

void shard_store::unwatch(watch_id id) noexcept {
    auto it = _watchers.find(id);
    if (it == _watchers.end()) return;
    if (auto by = _watchers_by_user.find(it->second.first); by != _watchers_by_user.end()) {
        std::erase(by->second, id);
        if (by->second.empty()) _watchers_by_user.erase(by);
    }
    _watchers.erase(it);
}

// Only the changed user's watchers are looked at: 1,000 idle IMAP sessions
// of other users cost a delivery nothing.
void shard_store::notify(const change& c) {
    auto by = _watchers_by_user.find(c.user);
    if (by == _watchers_by_user.end()) return;
    // A watcher may unwatch (itself or another) from inside the call.
    const std::vector<watch_id> ids = by->second;
    for (watch_id id : ids) {
        auto it = _watchers.find(id);
        if (it != _watchers.end()) it->second.second(c);
    }
}

// --- group commit.

core::result<uint64_t> shard_store::prepare_sync() {
    if (_failed) return core::error{core::e_closed, "mailbox store failed earlier"};
    if (auto r = flush_gathered(); !r) return r.err();
    if (auto r = write_index(); !r) return r.err();
    if (_opts.durability == spool::durability::none) _durable_seq = _appended_seq;
    return _appended_seq;
}

std::vector<int> shard_store::sync_fds() const {
    std::vector<int> fds;
    if (auto it = _mail.find(_current); it != _mail.end()) fds.push_back(it->second.fd);
    fds.push_back(_index_fd);
    return fds;
}

void shard_store::synced(uint64_t seq) noexcept { _durable_seq = std::max(_durable_seq, seq); }

void shard_store::sync_failed(int err) noexcept { (void)fail(core::error{err, "fdatasync mailbox store"}); }

core::result<void> shard_store::sync_now() {
    auto seq = prepare_sync();
    if (!seq) return seq.err();
    if (_opts.durability == spool::durability::fsync)
        for (int fd : sync_fds())
            if (auto r = spool::data_sync(fd); !r) return fail(r.err());
    synced(*seq);
    return core::ok();
}

}  // namespace posthorn::store
