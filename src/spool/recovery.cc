// Recovery: segment scans fed into a rebuild of the live set (see
// recovery.hh). A record that checks out but says something impossible (a
// malformed payload, a duplicate live id, a live message whose fragment ref
// points at nothing) is counted corrupt like a bad checksum.
#include "spool/recovery.hh"

#include <algorithm>
#include <cerrno>
#include <map>
#include <unordered_map>

namespace posthorn::spool {
namespace {

class rebuild final : public scan_sink {
public:
    explicit rebuild(loaded_spool& out) : _out(out) {}

    void begin_segment(uint64_t seq) {
        _seq = seq;
        _out.live.add_segment(seq);
    }

    void on_record(const record_view& r) override {
        ++_out.records_by_type[static_cast<size_t>(r.type)];
        switch (r.type) {
        case record_type::body: on_body(r); break;
        case record_type::message: on_message(r); break;
        case record_type::rcpt_done: on_rcpt_done(r); break;
        case record_type::message_done:
        case record_type::abort: on_finish(r); break;
        }
    }

    void on_corrupt(uint64_t offset, uint64_t id, const char* what) override {
        _out.problems.push_back(problem{_seq, offset, id, what});
    }

    void finish() {
        for (auto& c : _candidates) {
            if (!c.alive || c.broken_why == nullptr) continue;
            // Only now: a fragment may be gone legitimately when a tombstone
            // followed (its segment was cleaned while the message's stayed).
            ++_impossible;
            _out.problems.push_back(problem{c.seq, c.offset, c.m.id, c.broken_why});
            _out.live.forget(c.m.id);
            c.alive = false;
        }
        _out.live.drop_uncommitted();
        for (auto& c : _candidates) {
            if (!c.alive) continue;
            auto& d = c.m.done_rcpts;
            std::sort(d.begin(), d.end());
            d.erase(std::unique(d.begin(), d.end()), d.end());
            _out.messages.push_back(std::move(c.m));
        }
        _out.report.live_messages = _out.messages.size();
        _out.report.corrupt_records += _impossible;
    }

private:
    struct body_entry {
        uint64_t payload_offset;
        uint32_t length;
        uint64_t id;
    };
    struct candidate {
        recovered_message m;
        bool alive = true;
        const char* broken_why = nullptr;  // a fragment ref that points at nothing
        uint64_t seq = 0;
        uint64_t offset = 0;
    };

    void impossible(const record_view& r, const char* what) {
        ++_impossible;
        _out.problems.push_back(problem{_seq, r.offset, r.id, what});
    }

    void on_body(const record_view& r) {
        _bodies[_seq].push_back(body_entry{r.offset + header_bytes, static_cast<uint32_t>(r.payload.size()), r.id});
        _out.live.on_body(r.id, _seq);
    }

    bool fragment_ok(uint64_t id, const location& f) const {
        auto seg = _bodies.find(f.segment);
        if (seg == _bodies.end()) return false;
        const auto& v = seg->second;  // ascending payload_offset
        auto it = std::upper_bound(v.begin(), v.end(), f.offset,
                                   [](uint64_t off, const body_entry& e) { return off < e.payload_offset; });
        if (it == v.begin()) return false;
        --it;
        return it->id == id && f.offset + f.length <= it->payload_offset + it->length;
    }

    void on_message(const record_view& r) {
        if (_by_id.count(r.id)) return impossible(r, "duplicate message record for a live id");
        const char* why = "";
        if (!decode_message(r.payload, _view, &why)) return impossible(r, why);
        candidate c;
        for (const auto& f : _view.fragments)
            if (!fragment_ok(r.id, f)) c.broken_why = "message refers to a missing body fragment";
        c.seq = _seq;
        c.offset = r.offset;
        c.m.id = r.id;
        c.m.envelope.assign(_view.envelope);
        uint64_t payload_at = r.offset + header_bytes;
        auto add = [&c](const location& l) {
            if (l.length == 0) return;
            c.m.content.push_back(l);
            c.m.content_bytes += l.length;
        };
        add(location{_seq, payload_at + _view.header_offset, _view.header_bytes});
        for (const auto& f : _view.fragments) add(f);
        add(location{_seq, payload_at + _view.tail_offset, _view.tail_bytes});
        _by_id[r.id] = _candidates.size();
        _candidates.push_back(std::move(c));
        _out.live.on_message(r.id, _seq);
    }

    void on_rcpt_done(const record_view& r) {
        uint32_t index;
        rcpt_status status;
        if (!decode_rcpt_done(r.payload, index, status)) return impossible(r, "malformed rcpt_done payload");
        auto it = _by_id.find(r.id);
        if (it == _by_id.end()) return;  // its message is gone or never committed
        _candidates[it->second].m.done_rcpts.push_back(index);
        _out.live.on_rcpt_done(r.id, _seq);
    }

    void on_finish(const record_view& r) {
        if (!r.payload.empty()) return impossible(r, "tombstone with a payload");
        if (auto it = _by_id.find(r.id); it != _by_id.end()) {
            _candidates[it->second].alive = false;
            _by_id.erase(it);
        }
        _out.live.on_finish(r.id, _seq);
    }

    loaded_spool& _out;
    uint64_t _seq = 0;
    uint64_t _impossible = 0;
    message_view _view;  // reused
    std::map<uint64_t, std::vector<body_entry>> _bodies;
    std::vector<candidate> _candidates;
    std::unordered_map<uint64_t, size_t> _by_id;  // committed and not finished
};

}  // namespace

core::result<loaded_spool> load_spool(int dir_fd, bool writable) {
    auto seqs = list_segments(dir_fd);
    if (!seqs) return seqs.err();
    loaded_spool out;
    rebuild rb(out);
    const auto& list = seqs.value();
    for (size_t i = 0; i < list.size(); ++i) {
        uint64_t seq = list[i];
        auto fd = open_segment_file(dir_fd, seq, writable);
        if (!fd) {
            if (fd.err().code == ENOENT) continue;  // unlinked since listing (offline readers)
            return fd.err();
        }
        auto bytes = file_bytes(fd->get());
        if (!bytes) return bytes.err();
        auto map = mapped_file::map(fd->get(), bytes.value());
        if (!map) return map.err();
        rb.begin_segment(seq);
        bool last = i + 1 == list.size();
        segment_scan scan = scan_segment({map->data(), map->bytes()}, last, rb);
        out.report.records += scan.records;
        out.report.corrupt_records += scan.corrupt_records;
        out.report.torn_tail_bytes += scan.torn_bytes;
        out.report.torn_records += scan.torn_records;
        out.segments.push_back(found_segment{seq, std::move(fd.value()), bytes.value(), scan});
    }
    rb.finish();
    out.report.segments = out.segments.size();
    return out;
}

}  // namespace posthorn::spool
