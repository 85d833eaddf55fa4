// libFuzzer target: the DATA/BDAT body scanner alone. The same bytes scanned
// whole and in fuzzer-chosen cuts must give the same consumption, end and
// failure, and (when nothing failed) the same content; content stays inside
// the limit, ends only after <CRLF>.<CRLF>, and is CRLF-clean.
//
// Not built by meson. Build and run (from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/smtp_data_scanner_fuzz.cc src/proto/smtp/data_scanner.cc src/core/chunk.cc \
//     src/core/log.cc -lfmt -o smtp_data_scanner_fuzz
//   ./smtp_data_scanner_fuzz -max_len=4096
#include "posthorn/proto/smtp_testing.hh"
#include "proto/smtp/data_scanner.hh"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace posthorn;
using namespace posthorn::proto::smtp;

namespace {

struct outcome {
    std::string content;
    size_t consumed = 0;
    bool done = false;
    data_scanner::failure failed = data_scanner::failure::none;
};

outcome run(std::string_view input, bool dot, newline_rule rule, uint64_t max, size_t piece, size_t pieces_max) {
    core::chunk_pool pool(4096, 4096);
    data_scanner s;
    if (dot) {
        s.start_dot(rule, max);
    } else {
        s.start_counted(rule, max);
        s.next_chunk(input.size());
    }
    std::vector<core::slice> out;
    outcome o;
    while (o.consumed < input.size() && !s.done()) {
        size_t n = std::min(piece, input.size() - o.consumed);
        core::slice in = testing::make_slice(pool, input.substr(o.consumed, n));
        size_t used = 0;
        while (used < n && !s.done()) {
            size_t k = s.scan(in.suffix_from(static_cast<uint32_t>(used)), out, pieces_max);
            for (const auto& p : out) o.content.append(p.view());
            out.clear();
            if (k == 0 && !s.done()) std::abort();  // no progress with an empty piece vector
            used += k;
        }
        o.consumed += used;
    }
    if (!dot) {
        s.finish_counted(out);
        for (const auto& p : out) o.content.append(p.view());
    }
    o.done = s.done();
    o.failed = s.failed();
    if (s.content_bytes() > max) std::abort();
    if (o.failed == data_scanner::failure::none && o.content.size() != s.content_bytes()) std::abort();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const bool dot = (data[0] & 1) == 0;
    const newline_rule rule = static_cast<newline_rule>((data[0] >> 1) % 3);
    const uint64_t max = (data[0] & 8) ? 64 : 1 << 20;
    const size_t piece = data[1] % 32 + 1;
    const size_t pieces_max = data[2] % 8 + 1;
    std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

    outcome whole = run(input, dot, rule, max, SIZE_MAX, SIZE_MAX);
    outcome cut = run(input, dot, rule, max, piece, pieces_max);
    if (whole.consumed != cut.consumed || whole.done != cut.done || whole.failed != cut.failed) std::abort();
    // After a failure the content is dropped; how much came out before it depends on the cut.
    if (whole.failed == data_scanner::failure::none && whole.content != cut.content) std::abort();
    if (dot && whole.done) {
        // The body ended exactly after <CRLF>.<CRLF> (or ".\r\n" at the start).
        std::string_view used = input.substr(0, whole.consumed);
        if (!(used == ".\r\n" || (used.size() >= 5 && used.substr(used.size() - 5) == "\r\n.\r\n"))) std::abort();
    }
    if (whole.failed == data_scanner::failure::none && (dot || rule != newline_rule::keep)) {
        // Clean content: every CR is followed by LF (but a DATA body cut off
        // mid-line may end in CR) and every LF is preceded by CR.
        const std::string& c = whole.content;
        for (size_t i = 0; i < c.size(); ++i) {
            if (c[i] == '\r') {
                if (i + 1 == c.size() ? !(dot && !whole.done) : c[i + 1] != '\n') std::abort();
            }
            if (c[i] == '\n' && (i == 0 || c[i - 1] != '\r')) std::abort();
        }
    }
    return 0;
}
