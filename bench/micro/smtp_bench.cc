// The SMTP hot path without sockets: the DATA scanner (bytes/s, with and
// without dot-stuffed lines) and a whole session on a pipelined transcript
// (commands/s). Input is copied into pooled chunks outside the timed region
// where the scanner rewrites it in place.
#include "../../src/proto/smtp/data_scanner.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

using namespace posthorn;

namespace {

std::string make_body(size_t bytes, bool dotted) {
    std::string body;
    const std::string line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    const std::string dot_line = "..a line that started with a dot and was stuffed by the client.\r\n";
    size_t n = 0;
    while (body.size() < bytes) {
        body += (dotted && n % 4 == 0) ? dot_line : line;
        ++n;
    }
    body += ".\r\n";
    return body;
}

void data_scanner_throughput(benchmark::State& state) {
    const bool dotted = state.range(1) != 0;
    std::string body = make_body(static_cast<size_t>(state.range(0)), dotted);
    core::chunk_pool pool(64 * 1024, 64);
    std::vector<core::slice> chunks;
    std::vector<core::slice> out;
    out.reserve(4096);
    for (auto _ : state) {
        state.PauseTiming();
        chunks.clear();
        for (size_t off = 0; off < body.size(); off += 64 * 1024) {
            size_t n = std::min<size_t>(64 * 1024, body.size() - off);
            core::chunk_ref c = pool.acquire();
            std::memcpy(c.data(), body.data() + off, n);
            chunks.push_back(core::slice{c, 0, static_cast<uint32_t>(n)});
        }
        state.ResumeTiming();
        proto::smtp::data_scanner sc;
        sc.start_dot(proto::smtp::newline_rule::reject, UINT64_MAX);
        for (auto& in : chunks) {
            core::slice rest = in;
            while (rest.length && !sc.done()) {
                size_t used = sc.scan(rest, out, 1024);
                rest = rest.suffix_from(static_cast<uint32_t>(used));
                if (out.size() >= 1024) out.clear();
            }
        }
        benchmark::DoNotOptimize(sc.content_bytes());
        out.clear();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(data_scanner_throughput)->Args({1 << 20, 0})->Args({1 << 20, 1})->Args({4096, 0});

// One client's pipelined transaction, repeated: EHLO once, then MAIL, RCPT,
// DATA, a 1 KiB body and the end marker per message; commits acknowledged
// synchronously by the recording sink.
void smtp_session_pipelined(benchmark::State& state) {
    std::vector<directory::user> users;
    users.push_back({"user1", "{PLAIN}user1", "User One", {"user1@example.test"}});
    directory::handle dir{directory::snapshot({"example.test"}, std::move(users), {})};
    proto::smtp::session_config cfg;
    cfg.hostname = "mx.example.test";
    cfg.forbid_unauth_pipelining = false;
    core::chunk_pool pool(16 * 1024, 256);
    std::string txn = "MAIL FROM:<a@client.test>\r\nRCPT TO:<user1@example.test>\r\nDATA\r\n" +
                      make_body(1024, false);
    uint64_t commands = 0;
    for (auto _ : state) {
        state.PauseTiming();
        proto::smtp::testing::recording_sink sink;
        proto::smtp::session s(cfg, dir, sink, {"127.0.0.1", true}, "bench");
        sink.ack_inside_commit = &s;
        s.start(false);
        proto::smtp::testing::feed_all(s, pool, "EHLO client.test\r\n", 1 << 20);
        state.ResumeTiming();
        for (int i = 0; i < 100; ++i) {
            proto::smtp::testing::feed_all(s, pool, txn, 1 << 20);
            s.output().clear();
            sink.messages.clear();
        }
        commands += 100 * 4;
    }
    state.SetItemsProcessed(static_cast<int64_t>(commands));
}
BENCHMARK(smtp_session_pipelined);

}  // namespace
