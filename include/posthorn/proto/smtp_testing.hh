// Test support for the SMTP session, header-only: a message_sink that records
// every call and the content it is given, and a helper that copies test
// bytes into pooled chunks. For unit tests, fuzz targets and benchmarks;
// nothing in the server links it.
//
// Threading: shard-local like the session. Limits: none — it keeps every
// message it sees, so feed it test-sized input.
#pragma once

#include "posthorn/core/chunk.hh"
#include "posthorn/core/result.hh"
#include "posthorn/proto/smtp_session.hh"
#include "posthorn/queue.hh"

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::smtp::testing {

struct recorded_message {
    uint64_t id = 0;
    queue::envelope env;           // as given to commit()
    std::string received_header;   // as given to commit()
    std::string content;           // write_body() pieces, then commit()'s tail
    size_t write_body_calls = 0;
    size_t pieces = 0;             // slices received in all
    bool committed = false;
    bool aborted = false;
};

class recording_sink final : public message_sink {
public:
    std::vector<recorded_message> messages;  // in begin_message() order
    uint64_t next_id = 0x0100000000000001ull;
    bool fail_begin = false;
    bool fail_write = false;
    bool fail_commit = false;
    // When set, commit() acknowledges at once through on_committed(true),
    // from inside the call (a synchronous sink).
    session* ack_inside_commit = nullptr;

    core::result<uint64_t> begin_message() override {
        if (fail_begin) return core::error{5, "test begin"};
        recorded_message m;
        m.id = next_id++;
        messages.push_back(std::move(m));
        return messages.back().id;
    }

    core::result<void> write_body(uint64_t id, std::span<const core::slice> body) override {
        recorded_message* m = find(id);
        if (!m || m->committed || m->aborted) return core::error{22, "test write_body: bad id"};
        if (fail_write) return core::error{5, "test write"};
        ++m->write_body_calls;
        append(*m, body);
        return {};
    }

    core::result<void> commit(uint64_t id, const queue::envelope& env, std::string_view received_header,
                              std::span<const core::slice> body_tail) override {
        recorded_message* m = find(id);
        if (!m || m->committed || m->aborted) return core::error{22, "test commit: bad id"};
        if (fail_commit) return core::error{5, "test commit"};
        m->env = env;
        m->received_header.assign(received_header);
        append(*m, body_tail);
        m->committed = true;
        if (ack_inside_commit) ack_inside_commit->on_committed(true);
        return {};
    }

    void abort_message(uint64_t id) noexcept override {
        if (recorded_message* m = find(id)) m->aborted = true;
    }

    recorded_message* find(uint64_t id) {
        for (auto& m : messages)
            if (m.id == id) return &m;
        return nullptr;
    }
    size_t committed_count() const {
        return static_cast<size_t>(std::count_if(messages.begin(), messages.end(),
                                                 [](const recorded_message& m) { return m.committed; }));
    }
    const recorded_message* last_committed() const {
        for (auto it = messages.rbegin(); it != messages.rend(); ++it)
            if (it->committed) return &*it;
        return nullptr;
    }

private:
    static void append(recorded_message& m, std::span<const core::slice> body) {
        for (const auto& s : body) {
            m.content.append(s.view());
            ++m.pieces;
        }
    }
};

// `bytes` copied into one chunk from `pool` (bytes must fit one chunk); an
// empty slice when the pool is exhausted.
inline core::slice make_slice(core::chunk_pool& pool, std::string_view bytes) {
    core::chunk_ref c = pool.acquire();
    if (!c || bytes.size() > c.capacity()) return {};
    std::memcpy(c.data(), bytes.data(), bytes.size());
    return core::slice{c, 0, static_cast<uint32_t>(bytes.size())};
}

// Feeds `bytes` to `s` as a host would: in receives of at most `piece_bytes`
// (each copied into its own chunk from `pool`), feeding the rest of a
// receive again after a commit is acknowledged. With `auto_ack`, a pending
// commit is acknowledged at once with on_committed(true); without, feeding
// stops there. Returns the bytes of `bytes` consumed (all of them, unless
// stopped at a commit or the pool ran dry).
inline size_t feed_all(session& s, core::chunk_pool& pool, std::string_view bytes, size_t piece_bytes,
                       bool auto_ack = true) {
    size_t total = 0;
    while (total < bytes.size()) {
        size_t n = std::min({bytes.size() - total, piece_bytes, static_cast<size_t>(pool.chunk_bytes())});
        core::slice in = make_slice(pool, bytes.substr(total, n));
        if (!in.owner) return total;
        size_t used = 0;
        while (used < n) {
            used += s.feed(in.suffix_from(static_cast<uint32_t>(used)));
            if (used == n) break;
            if (!s.waiting_for_commit() || !auto_ack) return total + used;
            s.on_committed(true);
        }
        total += n;
        if (s.waiting_for_commit() && auto_ack) s.on_committed(true);
    }
    return total;
}

}  // namespace posthorn::proto::smtp::testing
