// Parsing of posthorn-mailload's command line (see usage()).
#include "options.hh"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace posthorn::mailload {
namespace {

constexpr const char* k_usage = R"(usage: posthorn-mailload --mode MODE [options]
Modes (each client logs in once per connection and repeats its operation for
--seconds; prints one key=value line):
  imap-select          SELECT INBOX
  imap-fetch-envelope  FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) (after one SELECT)
  imap-search-from     SEARCH FROM "<--search>"
  imap-fetch-body      FETCH n BODY[], n uniformly random in 1..EXISTS; the
                       literal's size must equal the message's RFC822.SIZE
  pop3-retr-all        USER, PASS, LIST, RETR 1..N, QUIT, and again on a new
                       connection; each message's size must equal LIST's
  imap-idle            open --clients sessions (LOGIN, SELECT INBOX, IDLE), print
                       "idle_ready sessions=N ready=R failed=F secs=S", hold them
Options:
  --host H (127.0.0.1)  --port P (143)  --clients N (16)  --seconds S (5)
  --user U (bench; "%d" becomes the client number, 1-based)  --password P (bench)
  --search NAME (Quackenbush)  --expect-msgs N  --expect-hits N
  --timeout-ms N (60000)  --threads N (16, imap-idle)  --hold S (0 = until a signal)
  --seed N (1)  --verbose
Exit status: 0 if no errors, 1 if any, 2 on bad usage or setup.
)";

bool parse_u64(const char* s, uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') return false;
    out = v;
    return true;
}

}  // namespace

const char* mode_name(mode m) noexcept {
    switch (m) {
    case mode::imap_select: return "imap-select";
    case mode::imap_fetch_envelope: return "imap-fetch-envelope";
    case mode::imap_search_from: return "imap-search-from";
    case mode::imap_fetch_body: return "imap-fetch-body";
    case mode::pop3_retr_all: return "pop3-retr-all";
    case mode::imap_idle: return "imap-idle";
    }
    return "?";
}

bool parse_options(int argc, char** argv, options& o) {
    bool have_mode = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(k_usage, stdout);
            std::exit(0);
        }
        if (a == "--verbose") {
            o.verbose = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "posthorn-mailload: %s wants a value\n%s", argv[i], k_usage);
            return false;
        }
        const char* v = argv[++i];
        uint64_t n = 0;
        bool ok = true;
        if (a == "--mode") {
            have_mode = true;
            std::string_view s = v;
            if (s == "imap-select") o.m = mode::imap_select;
            else if (s == "imap-fetch-envelope") o.m = mode::imap_fetch_envelope;
            else if (s == "imap-search-from") o.m = mode::imap_search_from;
            else if (s == "imap-fetch-body") o.m = mode::imap_fetch_body;
            else if (s == "pop3-retr-all") o.m = mode::pop3_retr_all;
            else if (s == "imap-idle") o.m = mode::imap_idle;
            else ok = false;
        } else if (a == "--host") {
            o.host = v;
        } else if (a == "--port") {
            ok = parse_u64(v, n) && n > 0 && n < 65536;
            o.port = static_cast<uint16_t>(n);
        } else if (a == "--clients") {
            ok = parse_u64(v, n) && n > 0 && n <= 100000;
            o.clients = static_cast<uint32_t>(n);
        } else if (a == "--seconds") {
            char* end = nullptr;
            o.seconds = std::strtod(v, &end);
            ok = end != v && *end == '\0' && o.seconds > 0;
        } else if (a == "--user") {
            o.user = v;
        } else if (a == "--password") {
            o.password = v;
        } else if (a == "--search") {
            o.search = v;
            ok = o.search.find_first_of("\"\\\r\n") == std::string::npos;
        } else if (a == "--expect-msgs") {
            ok = parse_u64(v, n);
            o.expect_msgs = static_cast<int64_t>(n);
        } else if (a == "--expect-hits") {
            ok = parse_u64(v, n);
            o.expect_hits = static_cast<int64_t>(n);
        } else if (a == "--timeout-ms") {
            ok = parse_u64(v, n) && n > 0 && n < 3'600'000;
            o.timeout_ms = static_cast<uint32_t>(n);
        } else if (a == "--threads") {
            ok = parse_u64(v, n) && n > 0 && n <= 1024;
            o.threads = static_cast<uint32_t>(n);
        } else if (a == "--hold") {
            ok = parse_u64(v, n) && n < 1'000'000;
            o.hold_s = static_cast<uint32_t>(n);
        } else if (a == "--seed") {
            ok = parse_u64(v, o.seed);
        } else {
            std::fprintf(stderr, "posthorn-mailload: unknown option %s\n%s", argv[i - 1], k_usage);
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "posthorn-mailload: bad value for %s: %s\n", argv[i - 1], v);
            return false;
        }
    }
    if (!have_mode) {
        std::fprintf(stderr, "posthorn-mailload: --mode is required\n%s", k_usage);
        return false;
    }
    return true;
}

}  // namespace posthorn::mailload
