// shard_spool: the writer. Owns the shard's segment fds, the write position,
// commit sequence numbers and cleaning (see posthorn/spool.hh).
//
// Write path: header on the stack, payload straight from the caller's
// iovecs, hash + padding on the stack, one pwritev at the tail (split only
// past IOV_MAX). _iov and _scratch are reused, so a record costs no heap
// allocation once they have grown.
//
// Threading: shard-local, not thread-safe.
// Logs (event=spool_*): open summary (info), durability=none (warn), each corrupt record and
// a torn tail (warn), unlinked segments (info), write/sync failures (error).
#include "posthorn/spool.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"
#include "spool/codec.hh"
#include "spool/liveness.hh"
#include "spool/recovery.hh"
#include "spool/segment.hh"

#include <unistd.h>

#include <algorithm>

namespace posthorn::spool {

namespace {
constexpr uint64_t page_bytes = 4096;
constexpr uint64_t zero_ahead_record_max = 16 * 1024;
uint64_t round_page(uint64_t n) { return (n + page_bytes - 1) / page_bytes * page_bytes; }
iovec iov_of(const void* p, size_t n) { return iovec{const_cast<void*>(p), n}; }
}  // namespace

shard_spool::shard_spool() = default;

shard_spool::~shard_spool() {
    for (auto& [seq, s] : _segments) ::close(s.fd);
    if (_dir_fd >= 0) ::close(_dir_fd);  // drops the flock
}

core::result<std::unique_ptr<shard_spool>> shard_spool::open(const options& o) {
    std::unique_ptr<shard_spool> sp(new shard_spool());
    sp->_opts = o;
    sp->_opts.segment_bytes = round_page(std::max(o.segment_bytes, segment_bytes_min));
    sp->_live = std::make_unique<liveness>();
    sp->_hash = std::make_unique<hasher>();
    if (!sp->_hash->ok()) return core::error{ENOMEM, "allocate xxh3 state"};
    sp->_iov.reserve(64);

    auto dir = open_dir(o.dir, true);
    if (!dir) return dir.err();
    if (auto r = lock_dir(dir->get()); !r) return r.err();
    sp->_dir_fd = dir->release();

    auto loaded = load_spool(sp->_dir_fd, true);
    if (!loaded) return loaded.err();
    loaded_spool& l = loaded.value();
    for (const auto& p : l.problems)
        core::log::warn("event=spool_corrupt dir={} segment={} offset={} id={:016x} what=\"{}\"", o.dir, p.segment,
                        p.offset, p.id, p.what);

    for (auto& f : l.segments) sp->_segments[f.seq] = segment_file{f.fd.release(), f.file_bytes, f.scan.end};
    *sp->_live = std::move(l.live);

    if (l.segments.empty()) {
        if (auto r = sp->create_segment(1, sp->_opts.segment_bytes); !r) return r.err();
    } else {
        // The last segment becomes current again: cut its torn tail, make
        // sure it has its full size, and append after its last good record.
        const found_segment& last = l.segments.back();
        segment_file& cur = sp->_segments.rbegin()->second;
        if (last.scan.torn_bytes > 0) {
            core::log::warn("event=spool_torn_tail dir={} segment={} offset={} bytes={} records={}", o.dir, last.seq,
                            last.scan.end, last.scan.torn_bytes, last.scan.torn_records);
            if (auto r = zero_range(cur.fd, last.scan.end, last.scan.torn_end - last.scan.end); !r) return r.err();
        }
        if (cur.bytes < sp->_opts.segment_bytes || last.scan.torn_bytes > 0) {
            // Also after zeroing: a file system without ZERO_RANGE punched a hole.
            cur.bytes = std::max(cur.bytes, sp->_opts.segment_bytes);
            if (auto r = preallocate(cur.fd, cur.bytes); !r) return r.err();
        }
        if (last.scan.torn_bytes > 0) {
            if (auto r = data_sync(cur.fd); !r) return r.err();
        }
    }

    sp->_recovered.report = l.report;
    sp->_recovered.messages = std::move(l.messages);
    for (const auto& f : l.segments) sp->_live->on_sealed(f.seq);  // the sweep skips the current one
    sp->remove_dead_segments();
    sp->_recovered.report.segments_unlinked = sp->_counters.segments_unlinked;

    const auto& rep = sp->_recovered.report;
    core::log::info(
        "event=spool_open dir={} durability={} segments={} records={} live_messages={} corrupt_records={} "
        "torn_tail_bytes={} torn_records={} segments_unlinked={}",
        o.dir, o.durability == durability::none ? "none" : "fsync", rep.segments, rep.records, rep.live_messages,
        rep.corrupt_records, rep.torn_tail_bytes, rep.torn_records, rep.segments_unlinked);
    if (o.durability == durability::none)
        core::log::warn("event=spool_open dir={} durability=none msg=\"NOT DURABLE: benchmarks only; a crash loses "
                        "acknowledged mail\"", o.dir);
    return sp;
}

recovery shard_spool::recover() { return std::move(_recovered); }

uint64_t shard_spool::current_segment() const noexcept {
    return _segments.empty() ? 0 : _segments.rbegin()->first;
}

// ---------------------------------------------------------------- segments

core::result<void> shard_spool::sync_dir() {
    if (auto r = full_sync(_dir_fd); !r) return fail(r.err());
    _dir_dirty = false;
    return core::ok();
}

core::result<void> shard_spool::create_segment(uint64_t seq, uint64_t bytes) {
    auto fd = create_segment_file(_dir_fd, seq, bytes);
    if (!fd) return fd.err();
    _segments[seq] = segment_file{fd->release(), bytes, 0};
    _live->add_segment(seq);
    ++_counters.segments_created;
    return sync_dir();
}

// Makes the current segment able to take `need` more bytes: grows it when
// it is still empty, else creates the next one and seals this one.
core::result<void> shard_spool::make_room(uint64_t need) {
    auto cur = _segments.rbegin();
    segment_file& s = cur->second;
    if (s.tail + need <= s.bytes) return core::ok();
    if (s.tail == 0) {
        uint64_t bytes = round_page(need);
        if (auto r = preallocate(s.fd, bytes); !r) return r.err();
        s.bytes = bytes;
        return core::ok();
    }
    uint64_t old_seq = cur->first;
    int old_fd = s.fd;
    // Create the next segment first: if that fails (ENOSPC), this one stays
    // current and nothing is lost.
    if (auto r = create_segment(old_seq + 1, std::max(_opts.segment_bytes, round_page(need))); !r) return r;
    if (_opts.durability == durability::fsync) {
        if (auto r = data_sync(old_fd); !r) return fail(r.err());
    }
    // Every record so far is in a synced segment now.
    _durable_seq = _appended_seq;
    ++_counters.segments_sealed;
    _live->on_sealed(old_seq);
    remove_dead_segments();
    return core::ok();
}

void shard_spool::remove_dead_segments() {
    _live->sweep(current_segment(), _dead, _dead_barrier);
    for (size_t i = 0; i < _dead.size(); ++i) {
        uint64_t seq = _dead[i];
        // A segment holding tombstones goes only after the unlinks of the
        // segments it guards are durable.
        if (_dead_barrier[i] && _dir_dirty) {
            if (auto r = sync_dir(); !r) return;
        }
        auto it = _segments.find(seq);
        PH_ASSERT(it != _segments.end());
        if (auto r = unlink_segment_file(_dir_fd, seq); !r) {
            core::log::error("event=spool_unlink_failed dir={} segment={} error=\"{}\"", _opts.dir, seq, r.err().reason());
        } else {
            _dir_dirty = true;
            ++_counters.segments_unlinked;
            core::log::info("event=spool_segment_unlinked dir={} segment={}", _opts.dir, seq);
        }
        ::close(it->second.fd);
        _segments.erase(it);
    }
}

core::error shard_spool::fail(core::error e) noexcept {
    if (!_failed) {
        _failed = e.code ? e.code : EIO;
        core::log::error("event=spool_failed dir={} op=\"{}\" error=\"{}\" msg=\"appends refused until restart\"",
                         _opts.dir, e.what, e.reason());
    }
    return e;
}

// ---------------------------------------------------------------- appends

// _iov[1..] holds the payload pieces (payload_bytes in all); writes the
// record at the tail of the current segment.
core::result<appended> shard_spool::append_record(record_type t, uint64_t id, uint32_t payload_bytes) {
    if (_failed) return core::error{core::e_closed, "spool failed earlier; restart to recover"};
    uint64_t total = record_bytes(payload_bytes);
    if (auto r = make_room(total); !r) return r.err();
    if (_failed) return core::error{core::e_closed, "spool failed while sealing a segment"};
    auto cur = _segments.rbegin();
    segment_file& s = cur->second;

    char head[header_bytes];
    encode_header(record_header{t, 0, payload_bytes, id}, head);
    _iov[0] = iov_of(head, header_bytes);
    _hash->reset();
    for (const iovec& v : _iov) _hash->update(v.iov_base, v.iov_len);
    char trailer[8 + hash_bytes] = {};
    size_t pad = align8(payload_bytes) - payload_bytes;
    put_u64(trailer + pad, _hash->digest());
    _iov.push_back(iov_of(trailer, pad + hash_bytes));

    uint64_t offset = s.tail;
    if (auto r = write_all(s.fd, _iov.data(), _iov.size(), offset); !r) return fail(r.err());
    s.tail += total;
    if (total <= zero_ahead_record_max && s.zeroed < s.tail + _opts.zero_ahead_bytes / 2 && _opts.zero_ahead_bytes &&
        _opts.durability == durability::fsync)
        zero_ahead(s);
    ++_appended_seq;
    if (_opts.durability == durability::none) _durable_seq = _appended_seq;
    ++_counters.records_appended;
    _counters.bytes_appended += total;
    return appended{_appended_seq, location{cur->first, offset + header_bytes, payload_bytes}};
}

// Refills the written-zeros window ahead of the tail, in one step per half
// window, so this costs a syscall pair per zero_ahead_bytes / 2 appended.
// Only small records refill it: zeros pay where an fdatasync carries little
// data (its journal commit is most of its cost); under big records they
// only double the writes (measured: 100 KiB x 128 sessions fell from 7.4k
// to 2.8k msgs/s over three runs as dirty pages piled up).
// A failure here loses nothing (the bytes are past the tail): log it and
// stop zeroing.
void shard_spool::zero_ahead(segment_file& s) noexcept {
    uint64_t from = std::max(s.zeroed, s.tail);
    uint64_t to = std::min(s.bytes, s.tail + _opts.zero_ahead_bytes);
    s.zeroed = to;
    if (from >= to) return;
    auto r = write_zeros(s.fd, from, to - from);
    if (r) r = start_writeback(s.fd, from, to - from);
    if (!r) {
        core::log::warn("event=spool_zero_ahead_failed dir={} error=\"{}\" msg=\"zeroing ahead turned off\"", _opts.dir,
                        r.err().reason());
        _opts.zero_ahead_bytes = 0;
    }
}

namespace {
// Adds the non-empty pieces of `v` to `iov`; false when the sum passes the limit.
bool add_pieces(std::vector<iovec>& iov, std::span<const iovec> v, uint64_t& sum) {
    for (const iovec& p : v) {
        if (p.iov_len == 0) continue;
        sum += p.iov_len;
        iov.push_back(p);
    }
    return sum <= payload_bytes_max;
}
}  // namespace

core::result<appended> shard_spool::append_body(uint64_t id, std::span<const iovec> bytes) {
    _iov.clear();
    _iov.push_back({});
    uint64_t sum = 0;
    if (!add_pieces(_iov, bytes, sum)) return core::error{core::e_limit, "body fragment over the record limit"};
    auto r = append_record(record_type::body, id, static_cast<uint32_t>(sum));
    if (r) _live->on_body(id, r->payload.segment);
    return r;
}

core::result<appended> shard_spool::append_message(uint64_t id, const message_parts& parts,
                                                   recovered_message* stored) {
    // Fragments must be body records of this message that we wrote.
    for (const location& f : parts.fragments) {
        auto it = _segments.find(f.segment);
        PH_ASSERT(it != _segments.end() && f.offset + f.length <= it->second.tail);
        PH_ASSERT(_live->covers(id, f.segment));
    }
    _scratch.resize(message_prefix_bytes + parts.fragments.size() * fragment_ref_bytes);
    char* refs = _scratch.data() + message_prefix_bytes;
    for (size_t i = 0; i < parts.fragments.size(); ++i)
        encode_fragment_ref(parts.fragments[i], refs + i * fragment_ref_bytes);

    _iov.clear();
    _iov.push_back({});
    _iov.push_back(iov_of(_scratch.data(), message_prefix_bytes));
    uint64_t sum = message_prefix_bytes;
    uint64_t env = parts.envelope.size();
    if (env) _iov.push_back(iov_of(parts.envelope.data(), env));
    if (!parts.fragments.empty()) _iov.push_back(iov_of(refs, parts.fragments.size() * fragment_ref_bytes));
    sum += env + parts.fragments.size() * fragment_ref_bytes;
    uint64_t before_header = sum;
    bool fits = sum <= payload_bytes_max && add_pieces(_iov, parts.header, sum);
    uint64_t header = sum - before_header;
    fits = fits && add_pieces(_iov, parts.tail, sum);
    uint64_t tail = sum - before_header - header;
    if (!fits) return core::error{core::e_limit, "message record over the record limit"};
    encode_message_prefix(message_prefix{static_cast<uint32_t>(env), static_cast<uint32_t>(parts.fragments.size()),
                                         static_cast<uint32_t>(header), static_cast<uint32_t>(tail)},
                          _scratch.data());

    auto r = append_record(record_type::message, id, static_cast<uint32_t>(sum));
    if (!r) return r;
    _live->on_message(id, r->payload.segment);
    if (stored) {
        stored->id = id;
        stored->envelope.assign(parts.envelope);
        stored->content.clear();
        stored->content_bytes = 0;
        stored->done_rcpts.clear();
        auto add = [stored](const location& l) {
            if (l.length == 0) return;
            stored->content.push_back(l);
            stored->content_bytes += l.length;
        };
        const location& p = r->payload;
        add(location{p.segment, p.offset + before_header, static_cast<uint32_t>(header)});
        for (const location& f : parts.fragments) add(f);
        add(location{p.segment, p.offset + before_header + header, static_cast<uint32_t>(tail)});
    }
    return r;
}

core::result<appended> shard_spool::append_rcpt_done(uint64_t id, uint32_t rcpt_index, rcpt_status status) {
    char payload[rcpt_done_bytes];
    encode_rcpt_done(rcpt_index, status, payload);
    _iov.clear();
    _iov.push_back({});
    _iov.push_back(iov_of(payload, rcpt_done_bytes));
    auto r = append_record(record_type::rcpt_done, id, rcpt_done_bytes);
    if (r) _live->on_rcpt_done(id, r->payload.segment);
    return r;
}

core::result<appended> shard_spool::append_message_done(uint64_t id) {
    _iov.clear();
    _iov.push_back({});
    auto r = append_record(record_type::message_done, id, 0);
    if (r) {
        _live->on_finish(id, r->payload.segment);
        remove_dead_segments();
    }
    return r;
}

core::result<appended> shard_spool::append_abort(uint64_t id) {
    _iov.clear();
    _iov.push_back({});
    auto r = append_record(record_type::abort, id, 0);
    if (r) {
        _live->on_finish(id, r->payload.segment);
        remove_dead_segments();
    }
    return r;
}

// ---------------------------------------------------------------- group commit

bool shard_spool::is_live(uint64_t id) const noexcept { return _live->is_live_message(id); }

bool shard_spool::needs_sync() const noexcept {
    return _opts.durability == durability::fsync && !_failed && _durable_seq < _appended_seq;
}

int shard_spool::sync_fd() const noexcept { return _segments.rbegin()->second.fd; }

void shard_spool::synced(uint64_t seq) noexcept {
    PH_ASSERT(seq <= _appended_seq);
    if (_failed) return;
    _durable_seq = std::max(_durable_seq, seq);
}

void shard_spool::sync_failed(int err) noexcept {
    fail(core::error{err > 0 ? err : EIO, "asynchronous fdatasync"});
}

core::result<void> shard_spool::sync_now() {
    if (_failed) return core::error{core::e_closed, "spool failed earlier; restart to recover"};
    if (!needs_sync()) return core::ok();
    uint64_t seq = _appended_seq;
    if (auto r = data_sync(sync_fd()); !r) return fail(r.err());
    synced(seq);
    return core::ok();
}

// ---------------------------------------------------------------- reading

core::result<int> shard_spool::fd_for(uint64_t segment) const {
    auto it = _segments.find(segment);
    if (it == _segments.end()) return core::error{ENOENT, "segment of a live message is gone"};
    return it->second.fd;
}

core::result<void> shard_spool::read_content(const recovered_message& m, std::string& out, uint64_t max_bytes) const {
    out.resize(std::min(m.content_bytes, max_bytes));
    size_t at = 0;
    for (const location& l : m.content) {
        if (at == out.size()) break;
        auto fd = fd_for(l.segment);
        if (!fd) return fd.err();
        if (at + l.length > m.content_bytes) return core::error{core::e_corrupt, "content longer than content_bytes"};
        size_t n = std::min<size_t>(l.length, out.size() - at);
        if (auto r = read_all(fd.value(), out.data() + at, n, l.offset); !r) return r;
        at += n;
    }
    out.resize(at);
    return core::ok();
}

core::result<void> shard_spool::content_extents(const recovered_message& m, std::vector<extent>& out) const {
    out.clear();
    for (const location& l : m.content) {
        auto fd = fd_for(l.segment);
        if (!fd) return fd.err();
        out.push_back(extent{fd.value(), l.offset, l.length});
    }
    return core::ok();
}

}  // namespace posthorn::spool
