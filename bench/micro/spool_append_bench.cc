// Record append: message records of several sizes into a tmpfs-or-disk spool
// with durability none (the fdatasync is measured by bench/compare, not here).
#include "posthorn/spool.hh"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/posthorn-bench-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    return d ? d : "/tmp";
}

void spool_append_message(benchmark::State& state) {
    const size_t body_bytes = static_cast<size_t>(state.range(0));
    std::string dir = temp_dir();
    posthorn::spool::options o;
    o.dir = dir + "/0";
    o.segment_bytes = 64ull << 20;
    o.durability = posthorn::spool::durability::none;
    auto sp = posthorn::spool::shard_spool::open(o);
    if (!sp) {
        state.SkipWithError("spool open failed");
        return;
    }
    std::string envelope(120, 'e');
    std::string header(200, 'h');
    std::string body(body_bytes, 'b');
    iovec h{header.data(), header.size()};
    iovec b{body.data(), body.size()};
    uint64_t id = 1;
    for (auto _ : state) {
        posthorn::spool::message_parts parts;
        parts.envelope = envelope;
        parts.header = {&h, 1};
        parts.tail = {&b, 1};
        auto r = (*sp)->append_message(id, parts);
        if (!r) {
            state.SkipWithError("append failed");
            break;
        }
        (void)(*sp)->append_message_done(id);  // keeps segments cleanable
        ++id;
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body_bytes));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    sp->reset();
    std::string cmd = "rm -rf " + dir;
    if (std::system(cmd.c_str()) != 0) {
    }
}
BENCHMARK(spool_append_message)->Arg(1024)->Arg(10 * 1024)->Arg(100 * 1024);

}  // namespace
