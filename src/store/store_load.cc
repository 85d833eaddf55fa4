// Opening a shard's mailbox store (see store.hh): the mail files, then
// index.log replayed over them into memory — a torn tail cut, messages whose
// content never reached the disk dropped, MIME skeletons decoded from their
// mime records and shared by the copies of their content, the log compacted
// when mostly dead.
#include "posthorn/store.hh"

#include "posthorn/core/log.hh"
#include "spool/codec.hh"
#include "spool/segment.hh"
#include "store/index_codec.hh"
#include "store/store_internal.hh"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace posthorn::store {

using detail::compact_min_bytes;
using detail::hash_window_bytes;
using detail::pwrite_all;

core::result<void> shard_store::load() {
    auto seqs = spool::list_segments(_mail_dir_fd);
    if (!seqs) return seqs.err();
    for (uint64_t seq : *seqs) {
        const bool newest = seq == seqs->back();
        auto fd = spool::open_segment_file(_mail_dir_fd, seq, newest && !_opts.read_only);
        if (!fd) return fd.err();
        auto bytes = spool::file_bytes(fd->get());
        if (!bytes) return bytes.err();
        _mail[seq] = mail_file{fd->release(), *bytes, newest ? 0 : *bytes};
    }
    if (!seqs->empty()) _current = seqs->back();

    int fd = _opts.read_only ? ::openat(_dir_fd, "index.log", O_RDONLY | O_CLOEXEC)
                             : ::openat(_dir_fd, "index.log", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 && _opts.read_only && errno == ENOENT) return core::ok();
    if (fd < 0) return core::errno_error("open index.log");
    _index_fd = fd;
    auto bytes = spool::file_bytes(fd);
    if (!bytes) return bytes.err();
    uint64_t good_end = 0;
    uint64_t live_records = 0;
    {
        auto map = spool::mapped_file::map(fd, *bytes);
        if (!map) return map.err();
        const char* p = map->data();
        uint64_t at = 0;
        const uint64_t n = map->bytes();
        while (at < n) {
            uint8_t type = 0;
            std::string_view payload;
            uint64_t rec = 0;
            if (!decode_index_record(p + at, n - at, type, payload, rec)) break;
            apply(type, payload, at);
            ++_report.index_records;
            at += rec;
        }
        _replayed_skeletons.clear();
        good_end = at;
        if (at < n && !spool::all_zero(p + at, n - at)) {
            // A record cut by a crash (or damage): everything after it is
            // unreachable, since only the tail is ever written.
            uint64_t nonzero = 0;
            for (uint64_t i = at; i < n; ++i) nonzero += p[i] != 0;
            _report.torn_tail_bytes = nonzero;
        }
    }
    if (_opts.read_only) return core::ok();
    if (_report.torn_tail_bytes) {
        if (::ftruncate(fd, static_cast<off_t>(good_end)) != 0) return core::errno_error("cut index.log");
        if (auto r = spool::data_sync(fd); !r) return r.err();
    }
    _index_tail = good_end;
    _index_bytes = std::max(*bytes, good_end);
    if (_report.torn_tail_bytes) _index_bytes = good_end;

    for (auto& [user, b] : _boxes) {
        ++_report.users;
        for (auto& f : b->folders) {
            _report.messages += f->messages.size();
            live_records += 1 + f->messages.size() + f->keywords.size() + (f->recent_uid > 0);
            for (const message& m : f->messages) live_records += m.skeleton != nullptr;  // its mime record
        }
        live_records += b->subscribed.size();
    }
    if (good_end > compact_min_bytes && live_records * 2 < _report.index_records) {
        std::string snap;
        std::string payload;
        std::set<std::pair<uint64_t, uint64_t>> skeletons_written;  // content shared by copies: one record
        for (auto& [user, b] : _boxes) {
            for (auto& f : b->folders) {
                index_writer(payload).u32(f->id).u32(f->uidvalidity).str(user).str(f->name);
                append_index_record(snap, index_type::folder_create, payload);
                for (uint32_t i = 0; i < f->keywords.size(); ++i) {
                    index_writer(payload).u32(f->id).u8(static_cast<uint8_t>(i)).str(user).str(f->keywords[i]);
                    append_index_record(snap, index_type::keyword, payload);
                }
                if (f->recent_uid > 0) {
                    index_writer(payload).u32(f->id).u32(f->recent_uid).str(user);
                    append_index_record(snap, index_type::recent, payload);
                }
                for (const message& m : f->messages) {
                    if (m.skeleton && skeletons_written.emplace(m.segment, m.offset).second) {
                        index_writer(payload).u64(m.segment).u64(m.offset);
                        payload += m.skeleton->encode();
                        if (payload.size() <= index_payload_max) append_index_record(snap, index_type::mime, payload);
                    }
                    index_writer(payload).u32(f->id).u32(m.uid).u32(m.flags).u64(static_cast<uint64_t>(m.internal_date))
                        .u64(m.segment).u64(m.offset).u64(m.size).u64(m.hash).u64(0).str(user);
                    append_index_record(snap, index_type::append, payload);
                }
            }
            for (const auto& s : b->subscribed) {
                index_writer(payload).u8(1).str(user).str(s);
                append_index_record(snap, index_type::subscribe, payload);
            }
        }
        // UIDNEXT survives only through appends: a folder whose last
        // messages were expunged would lose it, so keep those uncompacted.
        bool uidnext_kept = true;
        for (auto& [user, b] : _boxes)
            for (auto& f : b->folders)
                if ((f->messages.empty() ? 1u : f->messages.back().uid + 1) != f->uidnext) uidnext_kept = false;
        if (uidnext_kept) {
            int tmp = ::openat(_dir_fd, "index.log.new", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
            if (tmp < 0) return core::errno_error("create index.log.new");
            spool::unique_fd t(tmp);
            if (auto r = pwrite_all(tmp, snap.data(), snap.size(), 0); !r) return r.err();
            if (auto r = spool::data_sync(tmp); !r) return r.err();
            if (::renameat(_dir_fd, "index.log.new", _dir_fd, "index.log") != 0)
                return core::errno_error("rename index.log.new");
            if (auto r = spool::full_sync(_dir_fd); !r) return r.err();
            ::close(_index_fd);
            _index_fd = t.release();
            _index_tail = _index_bytes = snap.size();
            _report.compacted = true;
        }
    }

    core::log::info("event=store_open dir={} users={} messages={} index_records={} corrupt_records={} "
                    "torn_tail_bytes={} dropped_messages={} compacted={}",
                    _opts.dir, _report.users, _report.messages, _report.index_records, _report.corrupt_records,
                    _report.torn_tail_bytes, _report.dropped_messages, _report.compacted ? "yes" : "no");
    return core::ok();
}

// Replays one index record into memory. Records that do not fit what came
// before (an unknown folder, say) are counted as corrupt and skipped.
void shard_store::apply(uint8_t type, std::string_view payload, uint64_t at) {
    index_reader r(payload);
    std::string_view user, name;
    uint32_t fid = 0;
    bool ok = false;
    switch (static_cast<index_type>(type)) {
    case index_type::folder_create: {
        uint32_t validity = 0;
        if (!(r.u32(fid) && r.u32(validity) && r.str(user) && r.str(name) && r.done())) break;
        mailbox& b = box(user);
        if (folder_id(b, fid) || folder_named(b, name)) break;
        auto f = std::make_unique<folder>();
        f->id = fid;
        f->name = std::string(name);
        f->uidvalidity = validity;
        b.folders.push_back(std::move(f));
        b.next_folder_id = std::max(b.next_folder_id, fid + 1);
        b.last_uidvalidity = std::max(b.last_uidvalidity, validity);
        ok = true;
        break;
    }
    case index_type::folder_rename: {
        if (!(r.u32(fid) && r.str(user) && r.str(name) && r.done())) break;
        mailbox& b = box(user);
        if (folder* f = folder_id(b, fid)) {
            f->name = std::string(name);
            ok = true;
        }
        break;
    }
    case index_type::folder_delete: {
        if (!(r.u32(fid) && r.str(user) && r.done())) break;
        mailbox& b = box(user);
        auto it = std::find_if(b.folders.begin(), b.folders.end(), [&](auto& f) { return f->id == fid; });
        if (it != b.folders.end()) {
            b.folders.erase(it);
            ok = true;
        }
        break;
    }
    case index_type::subscribe: {
        uint8_t on = 0;
        if (!(r.u8(on) && r.str(user) && r.str(name) && r.done())) break;
        mailbox& b = box(user);
        auto it = std::find(b.subscribed.begin(), b.subscribed.end(), name);
        if (on && it == b.subscribed.end()) b.subscribed.emplace_back(name);
        if (!on && it != b.subscribed.end()) b.subscribed.erase(it);
        ok = true;
        break;
    }
    case index_type::append: {
        message m;
        uint64_t date = 0, origin = 0;
        if (!(r.u32(fid) && r.u32(m.uid) && r.u32(m.flags) && r.u64(date) && r.u64(m.segment) && r.u64(m.offset) &&
              r.u64(m.size) && r.u64(m.hash) && r.u64(origin) && r.str(user) && r.done()))
            break;
        m.internal_date = static_cast<int64_t>(date);
        mailbox& b = box(user);
        folder* f = folder_id(b, fid);
        auto mf = _mail.find(m.segment);
        if (!f || mf == _mail.end() || m.offset + m.size > mf->second.bytes) break;
        ok = true;
        f->uidnext = std::max(f->uidnext, m.uid + 1);  // even if dropped: a client may have seen it
        if (m.segment == _current) {
            // The newest file was not sealed: its content may not have
            // reached the disk although this record did.
            _window.resize(static_cast<size_t>(std::min<uint64_t>(m.size, hash_window_bytes)));
            content_hasher h;
            uint64_t done = 0;
            bool read_ok = true;
            while (done < m.size) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(m.size - done, _window.size()));
                if (!spool::read_all(mf->second.fd, _window.data(), n, m.offset + done)) {
                    read_ok = false;
                    break;
                }
                h.update(std::string_view(_window.data(), n));
                done += n;
            }
            if (!read_ok || h.digest() != m.hash) {
                ++_report.dropped_messages;
                core::log::warn("event=store_message_dropped user={} folder_id={} uid={} at={} "
                                "note=\"its content did not reach the disk before a crash\"",
                                user, fid, m.uid, at);
                break;
            }
            mf->second.tail = std::max(mf->second.tail, m.offset + m.size);
        }
        if (!f->messages.empty() && f->messages.back().uid >= m.uid) break;  // not ascending: ignore
        // The skeleton its content's mime record gave, shared with every
        // copy. None for a message indexed before skeletons existed: it is
        // not parsed here, which would read every such message of every
        // user at open where only the newest mail file is read now;
        // skeleton_of() parses those a client asks about, once.
        if (auto sk = _replayed_skeletons.find({m.segment, m.offset}); sk != _replayed_skeletons.end())
            m.skeleton = sk->second;
        f->messages.push_back(std::move(m));
        ++f->changes;
        break;
    }
    case index_type::mime: {
        uint64_t segment = 0, offset = 0;
        if (!(r.u64(segment) && r.u64(offset))) break;
        auto sk = mime::skeleton::decode(payload.substr(16));
        if (!sk) break;
        _replayed_skeletons[{segment, offset}] = std::make_shared<const mime::skeleton>(std::move(sk.value()));
        ok = true;
        break;
    }
    case index_type::flags: {
        uint32_t uid = 0, flags = 0;
        if (!(r.u32(fid) && r.u32(uid) && r.u32(flags) && r.str(user) && r.done())) break;
        folder* f = folder_id(box(user), fid);
        if (!f) break;
        ok = true;
        if (const message* m = f->find(uid)) const_cast<message*>(m)->flags = flags & f->flag_bits();
        break;
    }
    case index_type::recent: {
        uint32_t uid = 0;
        if (!(r.u32(fid) && r.u32(uid) && r.str(user) && r.done())) break;
        folder* f = folder_id(box(user), fid);
        if (!f) break;
        f->recent_uid = std::max(f->recent_uid, uid);
        ok = true;
        break;
    }
    case index_type::keyword: {
        uint8_t slot = 0;
        if (!(r.u32(fid) && r.u8(slot) && r.str(user) && r.str(name) && r.done())) break;
        folder* f = folder_id(box(user), fid);
        // Slots are logged in order; one out of order is not ours.
        if (!f || slot != f->keywords.size() || slot >= keyword_slots_max || f->keyword_slot(name) >= 0) break;
        f->keywords.emplace_back(name);
        ok = true;
        break;
    }
    case index_type::expunge: {
        uint32_t count = 0;
        if (!(r.u32(fid) && r.u32(count)) || count > payload.size() / 4) break;
        std::vector<uint32_t> uids(count);
        bool read_ok = true;
        for (auto& u : uids) read_ok &= r.u32(u);
        if (!(read_ok && r.str(user) && r.done())) break;
        folder* f = folder_id(box(user), fid);
        if (!f) break;
        ok = true;
        std::sort(uids.begin(), uids.end());
        std::erase_if(f->messages, [&](const message& m) { return std::binary_search(uids.begin(), uids.end(), m.uid); });
        ++f->changes;
        break;
    }
    }
    if (!ok && static_cast<index_type>(type) != index_type::append) {
        ++_report.corrupt_records;
        core::log::warn("event=store_index_record_skipped type={} at={}", type, at);
    }
}

}  // namespace posthorn::store
