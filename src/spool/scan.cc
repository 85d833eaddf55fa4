// Segment scan (rules in scan.hh).
#include "spool/scan.hh"

namespace posthorn::spool {
namespace {

// The header at `at` parses and its whole record lies inside the buffer.
bool sane_header(std::string_view b, uint64_t at, record_header& h, const char** why) {
    if (at + header_bytes > b.size()) {
        *why = "header cut short";
        return false;
    }
    if (!decode_header(b.data() + at, h, why)) return false;
    if (at + record_bytes(h.payload_bytes) > b.size()) {
        *why = "record runs past the end of the segment";
        return false;
    }
    return true;
}

bool valid_record_at(std::string_view b, uint64_t at) {
    record_header h;
    const char* why;
    return sane_header(b, at, h, &why) && verify_record(b.data() + at, h.payload_bytes);
}

// One past the last non-zero byte in [from, size), or `from` when none.
uint64_t nonzero_end(std::string_view b, uint64_t from) {
    uint64_t end = b.size();
    // Backwards in blocks: a preallocated tail is mostly zeros.
    constexpr uint64_t block = 4096;
    while (end > from) {
        uint64_t start = end - from > block ? end - block : from;
        if (!all_zero(b.data() + start, end - start)) {
            while (end > start && b[end - 1] == 0) --end;
            return end;
        }
        end = start;
    }
    return from;
}

void measure_torn_tail(std::string_view b, segment_scan& s) {
    s.torn_end = nonzero_end(b, s.end);
    s.torn_bytes = s.torn_end - s.end;
    if (s.torn_bytes == 0) return;
    // Count what is there: records whose headers still parse, then one for
    // whatever is left.
    uint64_t at = s.end;
    while (at < s.torn_end) {
        ++s.torn_records;
        record_header h;
        const char* why;
        if (at + header_bytes > b.size() || !decode_header(b.data() + at, h, &why)) break;
        at += record_bytes(h.payload_bytes);
    }
}

}  // namespace

segment_scan scan_segment(std::string_view b, bool is_last, scan_sink& sink) {
    segment_scan s;
    uint64_t at = 0;
    while (at + header_bytes <= b.size()) {
        const char* h_at = b.data() + at;
        if (all_zero(h_at, header_bytes)) break;  // end of data
        record_header h;
        const char* why = "";
        if (!sane_header(b, at, h, &why)) {
            if (is_last) break;  // torn tail
            ++s.corrupt_records;
            sink.on_corrupt(at, 0, why);
            s.end = at;
            return s;  // a damaged header: nothing after it can be trusted
        }
        uint64_t total = record_bytes(h.payload_bytes);
        if (!verify_record(h_at, h.payload_bytes)) {
            if (is_last && !valid_record_at(b, at + total)) break;  // torn tail
            ++s.corrupt_records;
            sink.on_corrupt(at, h.id, "checksum mismatch");
            at += total;
            s.end = at;
            continue;
        }
        sink.on_record(record_view{h.type, h.id, at, b.substr(at + header_bytes, h.payload_bytes)});
        ++s.records;
        at += total;
        s.end = at;
    }
    s.end = at;
    if (is_last) {
        measure_torn_tail(b, s);
    } else if (nonzero_end(b, at) != at) {
        ++s.corrupt_records;
        sink.on_corrupt(at, 0, "non-zero bytes after the end of data");
    }
    return s;
}

}  // namespace posthorn::spool
