// Offline inspector for `posthorn spool stat|verify` and `posthorn queue
// list|show`: the same scan and rebuild as recovery, opened read-only. Never
// truncates, zeroes, unlinks or locks, so it may run beside the daemon (whose
// in-flight tail record can then look torn).
//
// Threading: plain functions. Logs nothing: the caller prints the results.
#include "posthorn/spool.hh"

#include "spool/recovery.hh"
#include "spool/segment.hh"

#include <cerrno>

namespace posthorn::spool {

core::result<stats> inspect(const std::string& dir, std::vector<recovered_message>* live) {
    auto d = open_dir(dir, false);
    if (!d) return d.err();
    auto loaded = load_spool(d->get(), false);
    if (!loaded) return loaded.err();
    loaded_spool& l = loaded.value();
    stats s;
    s.segments = l.segments.size();
    for (const auto& f : l.segments) {
        s.bytes += f.scan.end;
        s.allocated_bytes += f.file_bytes;
        s.segment_list.push_back(segment_stat{f.seq, dir + "/" + segment_name(f.seq), f.scan.end, f.file_bytes,
                                              f.scan.records, f.scan.corrupt_records,
                                              f.seq != l.segments.back().seq});
    }
    s.records_by_type = l.records_by_type;
    s.live_messages = l.messages.size();
    for (const auto& m : l.messages) s.live_content_bytes += m.content_bytes;
    s.corrupt_records = l.report.corrupt_records;
    s.torn_tail_bytes = l.report.torn_tail_bytes;
    std::vector<uint64_t> dead;
    std::vector<bool> barrier;
    if (!l.segments.empty()) {
        // Sealed segments left dead (open() would unlink them).
        for (const auto& f : l.segments) l.live.on_sealed(f.seq);
        l.live.sweep(l.segments.back().seq, dead, barrier);
    }
    s.dead_segments = dead.size();
    if (live) *live = std::move(l.messages);
    return s;
}

core::result<verify_report> verify(const std::string& dir) {
    auto d = open_dir(dir, false);
    if (!d) return d.err();
    auto loaded = load_spool(d->get(), false);
    if (!loaded) return loaded.err();
    loaded_spool& l = loaded.value();
    verify_report v;
    v.segments = l.report.segments;
    v.records = l.report.records;
    v.corrupt_records = l.report.corrupt_records;
    v.torn_tail_bytes = l.report.torn_tail_bytes;
    v.torn_records = l.report.torn_records;
    v.torn_tail = v.torn_tail_bytes > 0;
    v.problems = std::move(l.problems);
    if (v.torn_tail) {
        const auto& last = l.segments.back();
        v.problems.push_back(problem{last.seq, last.scan.end, 0, "torn tail"});
    }
    return v;
}

core::result<void> read_content(const std::string& dir, const recovered_message& m, std::string& out) {
    auto d = open_dir(dir, false);
    if (!d) return d.err();
    out.resize(m.content_bytes);
    size_t at = 0;
    uint64_t open_seq = 0;
    unique_fd fd;
    for (const location& l : m.content) {
        if (fd.get() < 0 || open_seq != l.segment) {
            auto f = open_segment_file(d->get(), l.segment, false);
            if (!f) return f.err();
            fd = std::move(f.value());
            open_seq = l.segment;
        }
        if (at + l.length > out.size()) return core::error{core::e_corrupt, "content longer than content_bytes"};
        if (auto r = read_all(fd.get(), out.data() + at, l.length, l.offset); !r) return r;
        at += l.length;
    }
    out.resize(at);
    return core::ok();
}

}  // namespace posthorn::spool
