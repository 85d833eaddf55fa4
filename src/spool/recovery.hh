// Recovery: scans every segment of a spool directory in seq order and
// rebuilds the live set — messages with a valid `message` record, every
// fragment it refers to intact, and no message_done/abort — with the
// recipients already done. Fragments without a message record, and those of
// aborted messages, are dead. Used by shard_spool::open (which then repairs
// the tail and unlinks dead segments) and by the offline inspector.
//
// Reads only: never writes, truncates or unlinks.
// Threading: a plain function over its own state.
// Limits: every file is mapped read-only while it is scanned; a body index
// of 24 bytes per body record is kept until the rebuild ends.
// Returns: an error only when the directory or a file cannot be read;
// corrupt records are counted and listed as problems (the caller logs them).
#pragma once

#include "posthorn/spool.hh"
#include "spool/liveness.hh"
#include "spool/scan.hh"
#include "spool/segment.hh"

#include <array>
#include <vector>

namespace posthorn::spool {

struct found_segment {
    uint64_t seq = 0;
    unique_fd fd;
    uint64_t file_bytes = 0;
    segment_scan scan;
};

struct loaded_spool {
    std::vector<found_segment> segments;      // ascending seq; the last one is current
    std::vector<recovered_message> messages;  // live, in commit order
    std::vector<problem> problems;
    std::array<uint64_t, record_type_count> records_by_type{};
    recovery_report report;                   // segments_unlinked left at 0
    liveness live;
};

core::result<loaded_spool> load_spool(int dir_fd, bool writable);

}  // namespace posthorn::spool
