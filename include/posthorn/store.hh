// store: the mailboxes of the users one shard owns (DESIGN.md "Mailbox
// store"): per user a set of folders, per folder UIDVALIDITY, UIDNEXT and
// its messages (UID, flags, internal date, size, where the bytes are).
// Keywords (IMAP user flags) are flag bits too: each folder numbers the
// keywords it has seen, up to keyword_slots_max, and logs each name once.
//
// Owns: data_dir/store/<shard>/ — `index.log`, an append-only log of
// checksummed records (folder create/rename/delete, subscribe, append,
// flags, expunge, mime, keyword) replayed into memory at open, and `mail/<seq>.seg`,
// append-only files holding message contents back to back (each message in
// one piece, in one file). A message's index record carries the xxh3-64 of
// its content, so after a crash a record whose content did not reach the
// disk (the two files are synced together, in no order) is told apart and
// dropped; only records pointing into the newest mail file need the check,
// since a file is fdatasync'ed before the next one is started.
//
// Durability: every mutation returns a commit sequence number; it is on
// stable storage once durable_seq() reaches it. The host drives the group
// commit as for the spool: prepare_sync() writes what is pending, the host
// fdatasyncs sync_fds() (through the reactor), then calls synced(seq).
// Readers see a mutation at once (before it is durable), as a mail server
// that answers a client from memory does.
//
// MIME skeletons (store/mime.hh): every message gets one when it enters
// (deliver, append: parsed in the same pass that hashes the content), held
// in a shared heap object that COPY and MOVE share, and kept in index.log
// as a `mime` record written just before the content's first append
// record; replay attaches it to every append record with that content.
// Messages from an index written before skeletons existed have none until
// skeleton_of() parses them (see store_load.cc for why not at open).
//
// Local delivery: deliver() copies a message from spool extents into the
// mail file in the kernel (copy_file_range), after a prefix the caller
// builds (Return-Path, Delivered-To). Small messages are gathered in memory
// and written together in one pwrite at the next prepare_sync (or read);
// their bytes are read once anyway, for the content hash.
//
// Not built yet: reclaiming the space of expunged messages (mail files are
// never rewritten), index compaction in the background (the log is
// compacted at open when it is mostly dead records).
//
// Threading: shard_store is shard-local and not thread-safe.
// Limits: a folder name 1..255 bytes, a user name 1..255 bytes; 2^32-1 UIDs
// per folder (then UIDVALIDITY changes, RFC 3501 §2.3.1.1 — not built:
// append fails with EOVERFLOW).
// Errors: environment failures return core::error; after a failed write or
// fdatasync the store refuses further mutations (e_closed) until restart.
// Corrupt index records are logged and counted, never fatal.
#pragma once

#include "posthorn/core/result.hh"
#include "posthorn/core/text.hh"
#include "posthorn/spool.hh"
#include "posthorn/store/mime.hh"

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace posthorn::store {

// System flags (RFC 3501 §2.3.2) as bits; \Recent is per session, not stored.
enum flag : uint32_t {
    flag_seen = 1,
    flag_answered = 2,
    flag_flagged = 4,
    flag_deleted = 8,
    flag_draft = 16,
};
inline constexpr uint32_t flag_mask = 31;

// Keywords take the bits above the system flags: slot i is bit 5 + i. A
// folder's slots are never reused (no keyword is ever undefined), so the
// bits in its messages stay meaningful; COPY maps them by name.
inline constexpr uint32_t keyword_slots_max = 27;
inline constexpr size_t keyword_bytes_max = 128;
inline constexpr uint32_t keyword_bit(uint32_t slot) { return 1u << (5 + slot); }

inline constexpr std::string_view inbox = "INBOX";

struct options {
    std::string dir;                                   // created if missing
    uint64_t segment_bytes = 64ull << 20;              // per mail file
    spool::durability durability = spool::durability::fsync;
    // Messages up to this size are gathered in memory and written at the
    // next prepare_sync.
    uint32_t gather_bytes_max = 64 * 1024;
    // For `posthorn mailbox` while the daemon runs: no lock, nothing cut,
    // compacted or created; every mutation fails. A tail being written may
    // look torn (and is then left out).
    bool read_only = false;
};

struct message {
    uint32_t uid = 0;
    uint32_t flags = 0;
    int64_t internal_date = 0;   // unix seconds
    uint64_t size = 0;           // octets, CRLF line ends (RFC822.SIZE)
    uint64_t segment = 0;        // where the content is
    uint64_t offset = 0;
    uint64_t hash = 0;           // xxh3-64 of the content
    // Shared by every copy of the same content; null only for messages
    // indexed before skeletons existed, until skeleton_of() fills it in
    // (mutable: a cache, not a change of the message).
    mutable std::shared_ptr<const mime::skeleton> skeleton;
};

// A folder's UIDs in ascending order: message i's UID at i, as IMAP
// numbers them (sequence number i + 1). shard_store::uids_of shares one
// immutable list among every session whose view is the folder's.
using uid_list = std::vector<uint32_t>;

struct folder {
    uint32_t id = 0;             // stable within a user; never reused
    std::string name;
    uint32_t uidvalidity = 0;
    uint32_t uidnext = 1;
    std::vector<message> messages;  // ascending UID
    uint32_t recent_uid = 0;        // claim_recent's mark (kept in the index)
    std::vector<std::string> keywords;  // by slot, as first spelled
    // Bumped by every change of `messages` (append, expunge, COPY or MOVE
    // in or out), not by flag changes.
    uint64_t changes = 0;
    // uids_of's cache: the UIDs as they were when `changes` was uids_cached_at
    // (mutable: a cache, not a change of the folder).
    mutable std::shared_ptr<const uid_list> uids_cached;
    mutable uint64_t uids_cached_at = 0;

    const message* find(uint32_t uid) const noexcept;
    uint64_t bytes() const noexcept;
    uint32_t count_without(uint32_t flag_bits) const noexcept;
    // The system flags and the bits of the keywords defined here.
    uint32_t flag_bits() const noexcept;
    // The slot of a keyword (case-insensitive, as IMAP compares them), or -1.
    int keyword_slot(std::string_view name) const noexcept;
};

struct open_report {
    uint64_t index_records = 0;
    uint64_t corrupt_records = 0;      // bad checksum or shape, skipped
    uint64_t torn_tail_bytes = 0;      // cut from index.log
    uint64_t dropped_messages = 0;     // content did not reach the disk
    uint64_t users = 0;
    uint64_t messages = 0;
    bool compacted = false;
};

// What changed in a folder, for sessions that watch it (IMAP IDLE, POP3
// does not care). Called synchronously from the mutating call.
struct change {
    enum class kind : uint8_t { appended, flags, expunged, folder_deleted, folder_renamed };
    kind what;
    std::string_view user;
    uint32_t folder_id;
    uint32_t uid;   // 0 for folder events
};
using watcher = std::function<void(const change&)>;
using watch_id = uint64_t;

struct counters {
    uint64_t delivered = 0;            // deliver() calls that succeeded
    uint64_t appended_bytes = 0;
    uint64_t index_bytes = 0;
    uint64_t copy_file_range_bytes = 0;
};

class shard_store {
public:
    static core::result<std::unique_ptr<shard_store>> open(const options& o);
    ~shard_store();
    shard_store(const shard_store&) = delete;
    shard_store& operator=(const shard_store&) = delete;

    const open_report& report() const noexcept { return _report; }

    // --- mutations. Each returns the commit sequence number of its records.
    struct delivered {
        uint64_t seq = 0;
        uint32_t uid = 0;
    };
    // Appends a message to `folder` (created if missing; INBOX normally):
    // prefix, then the extents' bytes, copied in the kernel. `origin` is
    // the spool message id (kept in the index, for the logs).
    core::result<delivered> deliver(std::string_view user, std::string_view folder, std::string_view prefix,
                                    std::span<const spool::extent> content, int64_t internal_date,
                                    uint64_t origin);
    // IMAP APPEND: the content is in memory. ENOENT: no such folder.
    // `flags` here and in append_begin: system flags and keyword bits of
    // the folder (keyword_bits()); other bits are dropped.
    core::result<delivered> append(std::string_view user, std::string_view folder, std::span<const iovec> content,
                                   uint32_t flags, int64_t internal_date);
    // IMAP APPEND of a literal too big to hold (store_append.cc): begin
    // reserves `size` bytes in the mail file (ENOENT: no such folder),
    // write puts the next bytes there as they arrive (hashing them; more
    // than `size` in all is EINVAL), commit adds the message once all
    // `size` bytes are in (EINVAL before; ENOENT if the folder went away
    // meanwhile), abort forgets it (the reserved bytes stay unused). Other
    // mutations may run between the calls. An id is good until commit or
    // abort; the message is invisible (no watcher call) until commit.
    using append_id = uint64_t;
    core::result<append_id> append_begin(std::string_view user, std::string_view folder, uint64_t size,
                                         uint32_t flags, int64_t internal_date);
    core::result<void> append_write(append_id id, std::string_view bytes);
    core::result<delivered> append_commit(append_id id);
    void append_abort(append_id id) noexcept;
    // IMAP \Recent (RFC 3501 §2.3.2): the first session to ask gets the
    // UIDs from the last claim up to UIDNEXT. The mark is logged (with a
    // flag change's durability), so a restart keeps it.
    // Returns the first UID of the claim ([first, uidnext) are recent to
    // the caller; empty when first == uidnext). 0 for no such folder.
    uint32_t claim_recent(std::string_view user, uint32_t folder_id) noexcept;
    // ENOENT for no such folder; EEXIST for a name in use; INBOX cannot be
    // deleted (EPERM); renaming INBOX is not built (EPERM).
    core::result<uint64_t> create_folder(std::string_view user, std::string_view name);
    core::result<uint64_t> rename_folder(std::string_view user, std::string_view from, std::string_view to);
    core::result<uint64_t> delete_folder(std::string_view user, std::string_view name);
    core::result<uint64_t> set_subscribed(std::string_view user, std::string_view name, bool on);
    // The flag bits of keywords in a folder. With `define`, a name the
    // folder lacks gets the next slot (logged; ENOSPC once all
    // keyword_slots_max are taken, EINVAL for an empty or over-long name;
    // no slot is taken then); without, such names are left out. ENOENT: no
    // such folder.
    core::result<uint32_t> keyword_bits(std::string_view user, uint32_t folder_id,
                                        std::span<const std::string_view> names, bool define);
    // Replaces the flags of one message (system flags and the folder's
    // keyword bits; other bits are dropped). ENOENT: no such folder or UID.
    core::result<uint64_t> set_flags(std::string_view user, uint32_t folder_id, uint32_t uid, uint32_t flags);
    core::result<uint64_t> expunge(std::string_view user, uint32_t folder_id, std::span<const uint32_t> uids);
    // COPY: new UIDs in `to` for the same bytes (no copy on disk). Returns
    // the new UIDs in the order of `uids` (missing UIDs are skipped).
    core::result<uint64_t> copy(std::string_view user, uint32_t from_id, std::span<const uint32_t> uids,
                                std::string_view to, std::vector<uint32_t>& new_uids);
    // MOVE (RFC 6851): copy, then expunge the originals. The index log is
    // replayed in order, so a crash may leave the originals (with some of
    // the copies) but never expunges them without their copies.
    core::result<uint64_t> move(std::string_view user, uint32_t from_id, std::span<const uint32_t> uids,
                                std::string_view to, std::vector<uint32_t>& new_uids);

    // --- reads: what is in memory (every mutation made so far).
    // Folders of a user, INBOX first then by name; empty for a user that
    // never got mail (INBOX is created by the first delivery or login).
    std::vector<const folder*> folders(std::string_view user) const;
    const folder* find_folder(std::string_view user, std::string_view name) const;
    const folder* folder_by_id(std::string_view user, uint32_t id) const;
    std::vector<std::string> subscriptions(std::string_view user) const;
    // The folder's UIDs now, shared: the same list for every caller until
    // the folder changes (folder::changes), then a new one, built at the
    // first call after the change (from the last one when messages were
    // only appended). Holders keep theirs as long as they like.
    std::shared_ptr<const uid_list> uids_of(const folder& f) const;
    // Makes INBOX exist (a login does this). Returns its seq like a mutation.
    core::result<uint64_t> ensure_inbox(std::string_view user);
    // Bytes [offset, offset + length) of a message (clamped to its size).
    core::result<void> read(const message& m, uint64_t offset, uint64_t length, std::string& out);
    // The same bytes appended to `out`, read straight into its tail (a
    // FETCH literal goes from the page cache into the output once).
    // On failure `out` is as it was.
    core::result<void> read_append(const message& m, uint64_t offset, uint64_t length, std::string& out);
    // Where a message's bytes are, to send with sendfile/splice. Writes
    // pending in memory are flushed first.
    core::result<spool::extent> extent_of(const message& m);
    // The message's MIME skeleton: m.skeleton, or (for a message indexed
    // before skeletons existed) parsed from its bytes now and kept in
    // m.skeleton. Errors: reading the content failed.
    core::result<std::shared_ptr<const mime::skeleton>> skeleton_of(const message& m);

    // --- watchers.
    watch_id watch(std::string_view user, watcher w);
    void unwatch(watch_id id) noexcept;

    // --- group commit.
    uint64_t appended_seq() const noexcept { return _appended_seq; }
    // The last mutation other than a flag change. A host may answer a
    // flag change once its record is written (prepare_sync(), no
    // fdatasync): it then survives the process dying, not the machine, as
    // with Dovecot's mail_fsync = optimized; everything else waits for
    // durable_seq().
    uint64_t important_seq() const noexcept { return _important_seq; }
    uint64_t durable_seq() const noexcept { return _durable_seq; }
    bool needs_sync() const noexcept { return _durable_seq < _appended_seq; }
    // Writes what is gathered in memory; returns the seq a sync started now
    // covers. With durability none, marks it durable at once.
    core::result<uint64_t> prepare_sync();
    // The files to fdatasync after prepare_sync (the mail file, the index).
    std::vector<int> sync_fds() const;
    void synced(uint64_t seq) noexcept;
    void sync_failed(int err) noexcept;
    core::result<void> sync_now();    // prepare_sync + fdatasync, synchronously
    bool failed() const noexcept { return _failed != 0; }

    const counters& stats() const noexcept { return _counters; }
    const std::string& dir() const noexcept { return _opts.dir; }

private:
    struct mailbox {
        std::string user;
        std::vector<std::unique_ptr<folder>> folders;
        std::vector<std::string> subscribed;
        uint32_t next_folder_id = 1;
        uint32_t last_uidvalidity = 0;
    };
    struct mail_file {
        int fd = -1;
        uint64_t bytes = 0;   // allocated
        uint64_t tail = 0;    // next write (gathered bytes not counted)
    };
    shard_store();
    core::result<void> load();
    void apply(uint8_t type, std::string_view payload, uint64_t at);
    mailbox& box(std::string_view user);
    mailbox* find_box(std::string_view user) const;
    folder* folder_named(mailbox& b, std::string_view name);
    folder* folder_id(mailbox& b, uint32_t id);
    core::result<void> check_writable() const;
    core::result<uint64_t> log_record(uint8_t type, std::string_view payload);
    core::result<folder*> create_in(mailbox& b, std::string_view name, uint64_t& seq);
    core::result<uint32_t> define_keyword(mailbox& b, folder& f, std::string_view name);
    // `flags` of a message in `from` as bits of `to` (COPY): keywords by
    // name, defined in `to` as needed (those that do not fit are dropped).
    core::result<uint32_t> carry_flags(mailbox& b, const folder& from, folder& to, uint32_t flags);
    // Room for `bytes` of content in the current mail file (a new file when
    // it does not fit): returns the offset where they go.
    core::result<uint64_t> reserve(uint64_t bytes);
    core::result<void> flush_gathered();
    core::result<void> write_index();
    core::result<int> fd_of(uint64_t segment) const;
    // `fresh`: new content (deliver, append), whose skeleton is logged in
    // a mime record; a copy shares the record of its original.
    core::result<delivered> add_message(mailbox& b, folder& f, uint64_t segment, uint64_t offset, uint64_t size,
                                        uint64_t hash, uint32_t flags, int64_t date, uint64_t origin,
                                        std::shared_ptr<const mime::skeleton> skeleton, bool fresh);
    void notify(const change& c);
    struct pending_append;
    core::error fail(core::error e) noexcept;

    options _opts;
    int _dir_fd = -1;
    int _mail_dir_fd = -1;
    int _index_fd = -1;
    uint64_t _index_tail = 0;      // bytes of index.log in use
    uint64_t _index_bytes = 0;     // allocated
    std::string _index_pending;    // records not written yet
    std::unordered_map<uint64_t, mail_file> _mail;  // by seq
    uint64_t _current = 0;         // seq of the mail file appends go to
    std::string _gathered;         // content for the current file, not written yet
    uint64_t _gathered_at = 0;     // its file offset
    core::string_map<std::unique_ptr<mailbox>> _boxes;
    std::unordered_map<watch_id, std::pair<std::string, watcher>> _watchers;
    core::string_map<std::vector<watch_id>> _watchers_by_user;   // the same, by user
    std::unordered_map<append_id, std::unique_ptr<pending_append>> _appending;
    append_id _next_append = 1;
    watch_id _next_watch = 1;
    std::string _scratch;
    std::string _window;           // reused: content read for hashing
    // During load() only: skeletons of the mime records replayed so far,
    // by (segment, offset) of their content.
    std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<const mime::skeleton>> _replayed_skeletons;
    uint64_t _appended_seq = 0;
    uint64_t _important_seq = 0;
    uint64_t _durable_seq = 0;
    int _failed = 0;
    open_report _report;
    counters _counters;
};

}  // namespace posthorn::store
