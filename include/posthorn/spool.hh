// spool: a shard's append-only segment files, where every accepted message,
// recipient outcome and tombstone is made durable (DESIGN.md "Spool:
// append-only segments").
//
// Owns: one directory per shard (data_dir/spool/<shard>/) of `<seq>.seg`
// files (seq zero-padded to 8 digits), each preallocated, written only at its
// end, sealed (fdatasync) when the next record would not fit. A record is a
// checksummed header + payload (src/spool/codec.hh); `message` records point
// at earlier `body` records, so a big message streams to disk through a
// bounded window and is committed by one small record.
//
// Threading: shard_spool is shard-local and not thread-safe. The offline
// functions (inspect, verify, read_content by directory) only read and may run
// in another process while the daemon writes (its tail may then look torn).
//
// Limits: payload_bytes_max per record; segment_bytes (default 64 MiB) per
// segment, except a record bigger than that gets a segment sized for it.
// One writer per directory (flock); a second open fails with EWOULDBLOCK.
//
// Errors: environment failures return core::result errors. After a failed
// write or fdatasync the spool refuses further appends (e_closed): what the
// kernel kept is unknown, so the shard must restart and recover. Corrupt data
// on disk is logged (key=value) and counted, never fatal. Broken caller
// invariants (a fragment ref the spool never wrote) panic.
#pragma once

#include "posthorn/core/result.hh"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::spool {

class liveness;  // src/spool/liveness.hh
class hasher;    // src/spool/codec.hh

// fsync: appends become durable when the caller's fdatasync completes.
// none: benchmarks only; nothing is synced, every append counts as durable at
// once, and open() logs a loud warning.
enum class durability : uint8_t { fsync, none };

enum class record_type : uint8_t {
    body = 1,          // a fragment of a message body, written before its message
    message = 2,       // commit point: envelope + fragment refs + inline header and tail
    rcpt_done = 3,     // recipient index delivered or bounced
    message_done = 4,  // tombstone: every recipient is done
    abort = 5,         // the message never becomes visible; its fragments are dead
};
inline constexpr size_t record_type_count = 6;  // indexes 1..5 are used
const char* record_type_name(record_type t) noexcept;

enum class rcpt_status : uint8_t { delivered = 1, bounced = 2 };

inline constexpr uint64_t segment_bytes_default = 64ull << 20;
inline constexpr uint64_t segment_bytes_min = 4096;
inline constexpr uint32_t payload_bytes_max = 1u << 30;

struct options {
    std::string dir;                       // created (with parents) if missing
    uint64_t segment_bytes = segment_bytes_default;  // rounded up to 4 KiB
    spool::durability durability = spool::durability::fsync;
    // With fsync durability, zeros are written this far ahead of the appends
    // and their writeback started at once, so that an fdatasync finds its
    // blocks already written: on ext4 and XFS, the first write into a
    // preallocated (unwritten) extent costs a journal commit in the
    // fdatasync that makes it durable. Records over 16 KiB do not refill the
    // window. 0 turns it off (copy-on-write file systems gain nothing).
    uint64_t zero_ahead_bytes = 2ull << 20;
};

// Bytes inside a segment file: which segment, where in the file, how many.
struct location {
    uint64_t segment = 0;
    uint64_t offset = 0;
    uint32_t length = 0;

    bool operator==(const location&) const = default;
};

// What an append returns: its commit sequence number (durable once
// durable_seq() >= it) and where its payload landed. For append_body the
// payload location is the fragment ref to pass to append_message later.
struct appended {
    uint64_t commit_seq = 0;
    location payload;
};

// A message's content is, in this order: header, then fragments, then tail.
// header and tail are written inline in the message record (typically the
// Received: line, and the body bytes that arrived after the last fragment);
// fragments are body records appended earlier with the same id.
struct message_parts {
    std::string_view envelope;             // opaque (queue::encode)
    std::span<const iovec> header;
    std::span<const location> fragments;   // from append_body, in content order
    std::span<const iovec> tail;
};

// A live message: committed, no tombstone. content lists where its bytes are
// (header, fragments, tail; empty pieces left out).
struct recovered_message {
    uint64_t id = 0;
    std::string envelope;
    std::vector<location> content;
    uint64_t content_bytes = 0;
    std::vector<uint32_t> done_rcpts;      // sorted, unique
};

struct recovery_report {
    uint64_t segments = 0;
    uint64_t records = 0;                  // good records scanned
    uint64_t live_messages = 0;
    uint64_t corrupt_records = 0;
    uint64_t torn_tail_bytes = 0;          // non-zero bytes cut from the last segment
    uint64_t torn_records = 0;
    uint64_t segments_unlinked = 0;        // sealed segments found dead and removed
};

struct recovery {
    recovery_report report;
    std::vector<recovered_message> messages;  // in commit order
};

// A piece of content to copy in the kernel (copy_file_range, sendfile). The
// fd belongs to the spool and stays valid while the message is live.
struct extent {
    int fd = -1;
    uint64_t offset = 0;
    uint64_t length = 0;
};

struct counters {
    uint64_t records_appended = 0;
    uint64_t bytes_appended = 0;
    uint64_t segments_created = 0;
    uint64_t segments_sealed = 0;
    uint64_t segments_unlinked = 0;
};

class shard_spool {
public:
    // Opens (creating if needed) and recovers the directory: scans every
    // segment, cuts and zeroes a torn tail, rebuilds the live set and unlinks
    // dead sealed segments. Appends continue at the end of the last segment.
    static core::result<std::unique_ptr<shard_spool>> open(const options& o);
    ~shard_spool();
    shard_spool(const shard_spool&) = delete;
    shard_spool& operator=(const shard_spool&) = delete;

    // What open() found. Moves the messages out: call once.
    recovery recover();

    // --- appends: one pwritev each (split at IOV_MAX), no heap allocation.
    core::result<appended> append_body(uint64_t id, std::span<const iovec> bytes);
    // `stored`, when given, is filled as recover() would describe the message.
    core::result<appended> append_message(uint64_t id, const message_parts& parts,
                                          recovered_message* stored = nullptr);
    core::result<appended> append_rcpt_done(uint64_t id, uint32_t rcpt_index, rcpt_status status);
    core::result<appended> append_message_done(uint64_t id);
    core::result<appended> append_abort(uint64_t id);

    // --- group commit. The caller runs fdatasync(sync_fd()) (e.g. through
    // io_uring) after taking seq = appended_seq(), then calls synced(seq).
    // Take sync_fd() right before submitting: a seal changes it. Sealed
    // segments were synced by the seal, so only the current fd needs it.
    bool needs_sync() const noexcept;
    int sync_fd() const noexcept;
    uint64_t appended_seq() const noexcept { return _appended_seq; }
    uint64_t durable_seq() const noexcept { return _durable_seq; }
    void synced(uint64_t seq) noexcept;
    // An asynchronous fdatasync failed: the spool stops accepting appends.
    void sync_failed(int err) noexcept;
    // Synchronous fdatasync of the current segment (CLI, tests, epoll backend).
    core::result<void> sync_now();

    // --- reading a live message (recovered or just appended).
    // At most max_bytes of the content (its beginning) when given.
    core::result<void> read_content(const recovered_message& m, std::string& out,
                                    uint64_t max_bytes = UINT64_MAX) const;
    core::result<void> content_extents(const recovered_message& m, std::vector<extent>& out) const;

    const counters& stats() const noexcept { return _counters; }
    size_t segment_count() const noexcept { return _segments.size(); }
    uint64_t current_segment() const noexcept;
    bool failed() const noexcept { return _failed != 0; }
    // A message committed here (or recovered) and not yet done.
    bool is_live(uint64_t id) const noexcept;
    const std::string& dir() const noexcept { return _opts.dir; }

private:
    struct segment_file {
        int fd = -1;
        uint64_t bytes = 0;   // allocated size: records fit below this
        uint64_t tail = 0;    // end of the last record: the next append goes here
        uint64_t zeroed = 0;  // [tail, zeroed) holds written zeros (zero_ahead)
    };

    shard_spool();
    core::result<appended> append_record(record_type t, uint64_t id, uint32_t payload_bytes);
    core::result<void> make_room(uint64_t record_bytes);
    void zero_ahead(segment_file& s) noexcept;
    core::result<void> create_segment(uint64_t seq, uint64_t bytes);
    core::result<void> sync_dir();
    void remove_dead_segments();
    core::error fail(core::error e) noexcept;
    core::result<int> fd_for(uint64_t segment) const;

    options _opts;
    int _dir_fd = -1;
    bool _dir_dirty = false;  // an unlink not yet made durable by fsync(dir)
    std::map<uint64_t, segment_file> _segments;
    std::unique_ptr<liveness> _live;
    std::unique_ptr<hasher> _hash;
    std::vector<iovec> _iov;        // reused: header, payload pieces, trailer
    std::string _scratch;           // reused: encoded fragment refs
    std::vector<uint64_t> _dead;    // reused by remove_dead_segments
    std::vector<bool> _dead_barrier;
    uint64_t _appended_seq = 0;
    uint64_t _durable_seq = 0;
    int _failed = 0;                // errno-style code of the failure, 0 = fine
    counters _counters;
    recovery _recovered;
};

// --- offline: read-only views for `posthorn spool stat|verify` and
// `posthorn queue list|show`. They never truncate, zero or unlink.

struct problem {
    uint64_t segment = 0;
    uint64_t offset = 0;       // of the record (or region) in the segment file
    uint64_t id = 0;           // message id when known, else 0
    const char* what = "";     // static text
};

struct segment_stat {
    uint64_t seq = 0;
    std::string path;
    uint64_t used = 0;                     // end of data
    uint64_t allocated = 0;                // file size
    uint64_t records = 0;
    uint64_t corrupt_records = 0;
    bool sealed = false;                   // every segment but the newest
};

struct stats {
    uint64_t segments = 0;
    uint64_t bytes = 0;                    // up to each segment's end of data
    uint64_t allocated_bytes = 0;          // file sizes
    std::array<uint64_t, record_type_count> records_by_type{};  // index: record_type
    uint64_t live_messages = 0;
    uint64_t live_content_bytes = 0;
    uint64_t corrupt_records = 0;
    uint64_t torn_tail_bytes = 0;
    uint64_t dead_segments = 0;            // sealed segments the next open unlinks
    std::vector<segment_stat> segment_list;  // ascending seq
};

struct verify_report {
    uint64_t segments = 0;
    uint64_t records = 0;
    uint64_t corrupt_records = 0;
    bool torn_tail = false;
    uint64_t torn_tail_bytes = 0;
    uint64_t torn_records = 0;
    std::vector<problem> problems;

    bool clean() const noexcept { return corrupt_records == 0 && !torn_tail; }
};

// `live`, when given, receives the live messages in commit order.
core::result<stats> inspect(const std::string& dir, std::vector<recovered_message>* live = nullptr);
core::result<verify_report> verify(const std::string& dir);
core::result<void> read_content(const std::string& dir, const recovered_message& m, std::string& out);

}  // namespace posthorn::spool
