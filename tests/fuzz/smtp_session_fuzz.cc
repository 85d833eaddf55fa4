// libFuzzer target: the SMTP server session fed arbitrary bytes in arbitrary
// cuts, under a configuration chosen by the first two input bytes. Checks
// that it never crashes, that every reply line is well formed, that once the
// connection is gone every message it began was committed or aborted, and
// (pipelining allowed) that the replies and committed content do not depend
// on the cut.
//
// Not built by meson. Build and run (from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/smtp_session_fuzz.cc src/proto/smtp/*.cc src/core/chunk.cc src/core/log.cc \
//     src/directory/snapshot.cc src/queue/envelope.cc -lfmt -lcrypt -o smtp_session_fuzz
//   ./smtp_session_fuzz -dict=tests/fuzz/smtp_session.dict -max_len=4096
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"
#include "posthorn/proto/smtp_session.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace posthorn;
using namespace posthorn::proto::smtp;

namespace {

int64_t fixed_clock() noexcept { return 1732610400000; }

const directory::handle& demo_directory() {
    static const directory::handle dir{[] {
        std::vector<directory::user> users;
        for (int i = 1; i <= 5; ++i) {
            std::string n = "user" + std::to_string(i);
            users.push_back({n, "{PLAIN}" + n, "User", {n + "@example.test"}});
        }
        return directory::snapshot({"example.test", "localhost"}, std::move(users),
                                   {{"postmaster@example.test", {"user1@example.test"}}});
    }()};
    return dir;
}

// "ddd" then ' ' or '-', printable text, CRLF; at most 512 bytes.
void check_replies(std::string_view out) {
    while (!out.empty()) {
        size_t end = out.find("\r\n");
        if (end == std::string_view::npos || end < 3 || end + 2 > 512) std::abort();
        std::string_view line = out.substr(0, end);
        if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
            std::abort();
        if (line.size() > 3 && line[3] != ' ' && line[3] != '-') std::abort();
        for (char c : line)
            if (c < 0x20 || c > 0x7e) std::abort();
        out.remove_prefix(end + 2);
    }
}

struct outcome {
    std::string output;
    std::vector<std::string> committed;
};

outcome run(std::string_view input, uint8_t flags, size_t piece) {
    session_config cfg;
    cfg.hostname = "mx.example.test";
    cfg.clock_unix_ms = fixed_clock;
    cfg.bare_newlines = (flags & 1) ? bare_newline_policy::normalize : bare_newline_policy::reject;
    cfg.forbid_unauth_pipelining = (flags & 2) != 0;
    cfg.vrfy = static_cast<vrfy_policy>((flags >> 2) % 3);
    cfg.expn_enabled = (flags & 16) != 0;
    if (flags & 64) {
        cfg.max_message_size = 200;
        cfg.line_length_max = 64;
        cfg.errors_max = 5;
        cfg.body_window_bytes = 32;
        cfg.max_recipients = 3;
    }
    testing::recording_sink sink;
    core::chunk_pool pool(4096, 256);
    session s(cfg, demo_directory(), sink, peer_info{"192.0.2.1", (flags & 32) != 0}, "fuzz");
    if (flags & 128) sink.ack_inside_commit = &s;
    s.start(false);

    outcome o;
    size_t at = 0, acks = 0;
    while (at < input.size() && !s.wants_close()) {
        size_t n = std::min(piece, input.size() - at);
        core::slice in = testing::make_slice(pool, input.substr(at, n));
        if (!in.owner) std::abort();  // every chunk pinned: the session holds too much
        size_t used = 0;
        while (used < n) {
            used += s.feed(in.suffix_from(static_cast<uint32_t>(used)));
            if (!s.waiting_for_commit()) {
                if (used != n) std::abort();  // fewer bytes only while a commit waits
                break;
            }
            s.on_committed(++acks % 4 != 0);
        }
        at += n;
        check_replies(s.output());
        o.output += s.output();
        s.output().clear();
    }
    if (input.size() % 3 == 0) s.on_timeout();
    s.on_disconnect();
    check_replies(s.output());
    o.output += s.output();
    for (const auto& m : sink.messages) {
        if (!m.committed && !m.aborted) std::abort();  // every message ends one way or the other
        if (m.committed) o.committed.push_back(m.content);
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    core::log::set_level(core::log::level::error);
    const uint8_t flags = data[0];
    const size_t piece = data[1] % 64 + 1;
    std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    outcome cut = run(input, flags, piece);
    if (flags & 2) return 0;  // refusing pipelining depends on the cut by design
    outcome whole = run(input, flags, SIZE_MAX);
    if (cut.output != whole.output || cut.committed != whole.committed) std::abort();
    return 0;
}
