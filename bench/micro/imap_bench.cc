// The IMAP session on a 10,000-message INBOX (the shapes bench/compare
// measures against Dovecot, without the network): SELECT, FETCH 1:* (UID
// FLAGS RFC822.SIZE ENVELOPE), SEARCH FROM, FETCH n BODY[]. Output is
// taken and dropped as a host would send it; the store runs with
// durability none.
#include "posthorn/proto/imap_session.hh"

#include <benchmark/benchmark.h>

#include <sys/uio.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace {

using namespace posthorn;

struct corpus {
    std::string dir;
    std::unique_ptr<store::shard_store> st;
    directory::handle directory{
        directory::snapshot{{"example.test"}, {{"user1", "{PLAIN}user1", "User One", {"user1@example.test"}}}, {}}};

    corpus() {
        char tmpl[] = "/tmp/posthorn-imap-bench-XXXXXX";
        dir = ::mkdtemp(tmpl) ? tmpl : "/tmp/posthorn-imap-bench";
        store::options o;
        o.dir = dir + "/store";
        o.durability = spool::durability::none;
        st = std::move(store::shard_store::open(o).value());
        (void)st->ensure_inbox("user1");
        for (int i = 0; i < 10000; ++i) {
            std::string n = std::to_string(i);
            std::string m = "From: Sender " + n + " <s" + n + "@example.test>\r\nTo: user1@example.test\r\n"
                            "Subject: message number " + n + "\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
                            "Message-ID: <" + n + "@example.test>\r\n\r\n" + std::string(2000 + i % 3000, 'b') + "\r\n";
            iovec v{m.data(), m.size()};
            (void)st->append("user1", store::inbox, std::span<const iovec>(&v, 1), 0, 1700000000);
        }
        (void)st->sync_now();
    }
    ~corpus() {
        st.reset();
        std::filesystem::remove_all(dir);
    }
};

corpus& shared() {
    static corpus c;
    return c;
}

// One command, its whole answer pulled in 256 KiB windows; returns bytes.
size_t run(proto::imap::session& s, const std::string& cmd) {
    size_t bytes = 0;
    s.feed(cmd);
    for (;;) {
        bytes += s.output().size();
        s.output().clear();
        if (!s.streaming()) break;
        s.next_output(256 * 1024);
    }
    return bytes;
}

std::unique_ptr<proto::imap::session> logged_in(corpus& c) {
    proto::imap::session_config cfg;
    cfg.plaintext_allowed = true;
    auto s = std::make_unique<proto::imap::session>(cfg, c.directory, *c.st, "bench");
    s->start();
    s->feed("a LOGIN user1 user1\r\n");
    s->login_checked(true, "user1");
    s->output().clear();
    return s;
}

void imap_select(benchmark::State& state) {
    auto& c = shared();
    auto s = logged_in(c);
    for (auto _ : state) benchmark::DoNotOptimize(run(*s, "s SELECT INBOX\r\n"));
}
BENCHMARK(imap_select)->Unit(benchmark::kMicrosecond);

void imap_fetch_envelopes(benchmark::State& state) {
    auto& c = shared();
    auto s = logged_in(c);
    run(*s, "s SELECT INBOX\r\n");
    size_t bytes = 0;
    for (auto _ : state) bytes += run(*s, "f FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)\r\n");
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(imap_fetch_envelopes)->Unit(benchmark::kMillisecond);

void imap_search_from(benchmark::State& state) {
    auto& c = shared();
    auto s = logged_in(c);
    run(*s, "s SELECT INBOX\r\n");
    for (auto _ : state) benchmark::DoNotOptimize(run(*s, "q SEARCH FROM \"Sender 77\"\r\n"));
}
BENCHMARK(imap_search_from)->Unit(benchmark::kMillisecond);

void imap_fetch_body(benchmark::State& state) {
    auto& c = shared();
    auto s = logged_in(c);
    run(*s, "s EXAMINE INBOX\r\n");
    uint32_t n = 0;
    size_t bytes = 0;
    for (auto _ : state) bytes += run(*s, "b FETCH " + std::to_string(++n % 10000 + 1) + " BODY[]\r\n");
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(imap_fetch_body)->Unit(benchmark::kMicrosecond);

}  // namespace
