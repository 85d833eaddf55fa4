// Liveness: which segments are still needed, so dead ones can be unlinked.
//
// Each tracked message (fragments written, or committed and not finished)
// holds a reference on every segment from the first to the last that holds
// one of its records (body, message, rcpt_done): a contiguous range, since a
// message writes forward in time. A segment with no references is dead —
// unless it holds the tombstone (message_done/abort) of a message whose
// `message` record sits in an older segment that still exists: unlinking the
// tombstone first would bring that message back at the next recovery and
// deliver it twice. Such a segment is "guarded" until the older one is gone.
//
// Threading: shard-local, not thread-safe.
// Limits: one map node per tracked message and per segment; a sweep walks all
// segments and runs only after a reference count reached zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

namespace posthorn::spool {

class liveness {
public:
    void add_segment(uint64_t seq);
    bool has_segment(uint64_t seq) const { return _segments.count(seq) != 0; }
    uint32_t refs(uint64_t seq) const;

    // A body record of `id` was written to segment `seq`.
    void on_body(uint64_t id, uint64_t seq);
    // The message record of `id` was written to segment `seq`.
    void on_message(uint64_t id, uint64_t seq);
    // A rcpt_done of `id` in `seq`; ignored unless `id` is committed.
    void on_rcpt_done(uint64_t id, uint64_t seq);
    // message_done or abort of `id` written to `seq`.
    void on_finish(uint64_t id, uint64_t seq);
    // Stops tracking `id` without a tombstone (recovery: a message that
    // cannot be used).
    void forget(uint64_t id);
    // Stops tracking every message that has no message record (recovery:
    // their sessions died with the process).
    void drop_uncommitted();

    // Segment `seq` stopped being the current one: it may be dead already.
    void on_sealed(uint64_t seq);

    bool tracks(uint64_t id) const { return _messages.count(id) != 0; }
    // Committed (a message record) and not finished.
    bool is_live_message(uint64_t id) const {
        auto it = _messages.find(id);
        return it != _messages.end() && it->second.message_seg != 0;
    }
    // `id` is tracked and its range covers segment `seq`.
    bool covers(uint64_t id, uint64_t seq) const;
    size_t tracked_messages() const { return _messages.size(); }

    // Dead segments older than `current`, in the order they may be unlinked;
    // they are forgotten here. `barrier[i]` says: make the unlinks before
    // dead[i] durable (fsync the directory) before unlinking it.
    void sweep(uint64_t current, std::vector<uint64_t>& dead, std::vector<bool>& barrier);

private:
    struct message {
        uint64_t first = 0;
        uint64_t last = 0;
        uint64_t message_seg = 0;  // 0 = not committed
    };
    struct segment {
        uint32_t refs = 0;
        std::vector<uint64_t> guards;  // older segments holding messages this one tombstones
        bool guarded = false;          // ever had guards
    };

    message& track(uint64_t id, uint64_t seq);
    void extend(message& m, uint64_t seq);
    void release(const message& m);

    std::map<uint64_t, segment> _segments;
    std::unordered_map<uint64_t, message> _messages;
    bool _maybe_dead = false;
};

}  // namespace posthorn::spool
