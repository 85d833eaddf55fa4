// libFuzzer target: the LDAP session fed arbitrary bytes in arbitrary cuts,
// under limits chosen by the first input byte. Checks that it never
// crashes, that everything it writes is a well-formed sequence of
// LDAPMessages (definite lengths, each inside the output), that a session
// never buffers more than one PDU's worth of input, and that the replies do
// not depend on the cut. Binds are answered by a stand-in host (a password
// equal to the user's name is right).
//
// Not built by meson. Build and run (from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/ldap_session_fuzz.cc src/proto/ldap/*.cc src/core/log.cc src/directory/snapshot.cc \
//     -lfmt -o ldap_session_fuzz
//   ./ldap_session_fuzz -max_len=4096
#include "posthorn/core/log.hh"
#include "posthorn/proto/ldap_session.hh"
#include "proto/ldap/ber.hh"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace posthorn;
namespace ber = posthorn::proto::ldap::ber;

namespace {

const directory::snapshot& fuzz_directory() {
    static const directory::snapshot dir = [] {
        std::vector<directory::user> users;
        for (int i = 1; i <= 40; ++i) {
            std::string n = "user" + std::to_string(i);
            users.push_back({n, "{PLAIN}" + n, "User " + std::to_string(i), {n + "@example.test"}, "User",
                             std::to_string(i), "Title", "Dept", "+1 555"});
        }
        std::vector<directory::group> groups{{"staff", "All", {"user1", "user2", "user3"}}};
        return directory::snapshot({"example.test"}, std::move(users), {}, std::move(groups));
    }();
    return dir;
}

const std::shared_ptr<const proto::ldap::tree>& fuzz_tree() {
    static const std::shared_ptr<const proto::ldap::tree> t = [] {
        std::string why;
        auto built = proto::ldap::build_tree(fuzz_directory(), "", why);
        if (!built) std::abort();
        return built;
    }();
    return t;
}

int64_t fixed_clock() noexcept { return 1000; }

// The output is whole LDAPMessages: SEQUENCE { INTEGER, [APPLICATION n] ... }.
void check_output(std::string_view out) {
    ber::reader r(out);
    while (!r.empty()) {
        ber::reader m(std::string_view{});
        int64_t id = 0;
        uint8_t tag = 0;
        std::string_view body;
        if (!r.enter(ber::t_sequence, m) || !m.integer(ber::t_integer, id) || !m.any(tag, body)) std::abort();
        if ((tag & 0xc0) != 0x40) std::abort();
    }
}

std::string run(std::string_view input, uint8_t flags, size_t piece) {
    proto::ldap::session_config cfg;
    cfg.clock_ms = &fixed_clock;
    cfg.anonymous_allowed = (flags & 1) == 0;
    if (flags & 2) {
        cfg.pdu_bytes_max = 256;
        cfg.filter_depth_max = 3;
        cfg.filter_nodes_max = 8;
        cfg.size_limit = 3;
        cfg.search_window_bytes = 64;
    }
    const size_t window = flags & 4 ? 1 : 4096;
    proto::ldap::session s(cfg, fuzz_tree(), "fuzz");
    s.start();
    std::string out, held;
    size_t at = 0;
    while (!s.wants_close()) {
        // All input arrives before a window is pulled, so an Abandon meets
        // its search at the same point whatever the cut.
        if (at < input.size()) {
            size_t n = std::min(piece, input.size() - at);
            held.append(input.substr(at, n));
            at += n;
        }
        size_t used = s.feed(held);
        if (used > held.size()) std::abort();
        // Fewer bytes only while a search streams or a bind is checked.
        if (used != held.size() && !s.streaming() && !s.pending_login() && !s.wants_close()) std::abort();
        held.erase(0, used);
        if (const auto* req = s.pending_login()) {
            s.login_checked(req->password == req->user && !req->user.empty(), req->user);
            continue;
        }
        if (s.streaming()) {
            if (at < input.size()) continue;
            s.next_output(window);
            continue;
        }
        if (at >= input.size() && (used == 0 || held.empty())) break;
    }
    s.on_disconnect();
    check_output(s.output());
    out += s.output();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    core::log::set_level(core::log::level::error);
    const uint8_t flags = data[0];
    const size_t piece = data[1] % 64 + 1;
    std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    std::string cut = run(input, flags, piece);
    std::string whole = run(input, flags, SIZE_MAX);
    if (cut != whole) std::abort();
    return 0;
}
