// Segment scan: walks the bytes of one segment record by record, verifies
// every checksum, and decides where its data ends. Pure: reads a buffer (a
// mapping of the file), calls the sink, changes nothing.
//
// Rules (DESIGN.md "Recovery"):
// - A zero header ends the data. Any non-zero byte after it is, in a sealed
//   segment, one corrupt region; in the last segment, a torn tail.
// - Sealed segment, bad record: a sane header (magic, header check, type,
//   length within the file) is skipped by its length and counted corrupt;
//   an insane one stops the scan of that segment and is counted.
// - Last segment, bad record: torn tail from there, unless its header is sane
//   and a whole valid record follows it (damage in the middle, not a cut):
//   then it is skipped and counted corrupt like in a sealed segment.
//
// Threading: stateless. Limits: none beyond the record format's.
// Returns the counts and the end of good data; problems go to the sink.
#pragma once

#include "spool/codec.hh"

#include <cstdint>
#include <string_view>

namespace posthorn::spool {

struct record_view {
    record_type type = record_type::body;
    uint64_t id = 0;
    uint64_t offset = 0;            // of the record header in the file
    std::string_view payload;       // inside the scanned buffer
};

class scan_sink {
public:
    virtual void on_record(const record_view& r) = 0;
    // id: from the header when it is sane, else 0.
    virtual void on_corrupt(uint64_t offset, uint64_t id, const char* what) = 0;

protected:
    ~scan_sink() = default;
};

struct segment_scan {
    uint64_t records = 0;           // good records passed to the sink
    uint64_t corrupt_records = 0;
    uint64_t end = 0;               // end of the last good record: appends go here
    // Last segment only: the torn tail is [end, torn_end); its non-zero bytes
    // are torn_bytes (= torn_end - end), in about torn_records records.
    uint64_t torn_end = 0;
    uint64_t torn_bytes = 0;
    uint64_t torn_records = 0;
};

segment_scan scan_segment(std::string_view bytes, bool is_last, scan_sink& sink);

}  // namespace posthorn::spool
