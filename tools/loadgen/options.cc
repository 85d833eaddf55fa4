// Parses argv into options. Numbers are checked strictly (whole string, in
// range); on any error the usage goes to stderr and parse_options returns false.
#include "options.hh"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace posthorn::loadgen {
namespace {

const char k_usage[] =
    "usage: posthorn-loadgen [options]\n"
    "  --host ADDR            server IPv4/IPv6 address (default 127.0.0.1)\n"
    "  --port N               server port (default 2525)\n"
    "  --sessions N           concurrent SMTP sessions (default 1)\n"
    "  --messages M           messages in total (default 1000)\n"
    "  --size BYTES           body payload per message, headers excluded (default 1024)\n"
    "  --reuse                many messages per connection (MAIL again after 250)\n"
    "                         default: connect, EHLO, MAIL, RCPT, DATA, body, QUIT per message\n"
    "  --pipelining           send MAIL, RCPT, DATA in one write if PIPELINING is advertised\n"
    "  --rcpt ADDR            recipient (default user1@example.test)\n"
    "  --from ADDR            sender (default loadgen@loadgen.test)\n"
    "  --helo NAME            EHLO name (default loadgen.test)\n"
    "  --timeout SECS         per reply (default 30; fractions allowed)\n"
    "  --connect-timeout-ms N retry a connect that has not completed after N ms (default 250)\n"
    "  --connect-attempts N   give up on a connection after N tries (default 40)\n"
    "  --threads N            worker threads (default 1)\n"
    "  --max-errors N         stop starting new messages after N errors (default 100, 0 = never)\n"
    "  --idle                 open --sessions sessions, EHLO each, print 'idle_ready ...',\n"
    "                         hold them until --hold SECS pass or SIGINT/SIGTERM\n"
    "  --hold SECS            see --idle (default 0: until a signal)\n"
    "  --verbose              log each unexpected reply as it happens\n"
    "prints one line: msgs= secs= msgs_per_s= mb_per_s= errors= p50_us= p99_us= p999_us= ...\n"
    "latency = from the final CRLF.CRLF of DATA written to the reply read.\n"
    "exit status: 0 when errors=0, 1 otherwise, 2 on a bad command line.\n";

bool parse_u64(const char* s, uint64_t min, uint64_t max, uint64_t& out) {
    if (s == nullptr || *s == '\0') return false;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-' || v < min || v > max) return false;
    out = v;
    return true;
}

bool parse_seconds_ms(const char* s, uint32_t& out_ms) {
    if (s == nullptr || *s == '\0') return false;
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v > 0) || v > 86400) return false;
    out_ms = static_cast<uint32_t>(v * 1000.0 + 0.5);
    return out_ms > 0;
}

}  // namespace

bool parse_options(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        uint64_t n = 0;
        bool ok = true;
        bool takes_value = true;
        if (a == "--host") {
            ok = v != nullptr;
            if (ok) o.host = v;
        } else if (a == "--port") {
            ok = parse_u64(v, 1, 65535, n);
            o.port = static_cast<uint16_t>(n);
        } else if (a == "--sessions") {
            ok = parse_u64(v, 1, 1000000, n);
            o.sessions = static_cast<uint32_t>(n);
        } else if (a == "--messages") {
            ok = parse_u64(v, 1, UINT64_C(1) << 40, o.messages);
        } else if (a == "--size") {
            ok = parse_u64(v, 0, UINT64_C(1) << 40, o.size_bytes);
        } else if (a == "--rcpt") {
            ok = v != nullptr;
            if (ok) o.rcpt = v;
        } else if (a == "--from") {
            ok = v != nullptr;
            if (ok) o.from = v;
        } else if (a == "--helo") {
            ok = v != nullptr;
            if (ok) o.helo = v;
        } else if (a == "--timeout") {
            ok = parse_seconds_ms(v, o.timeout_ms);
        } else if (a == "--connect-timeout-ms") {
            ok = parse_u64(v, 1, 600000, n);
            o.connect_timeout_ms = static_cast<uint32_t>(n);
        } else if (a == "--connect-attempts") {
            ok = parse_u64(v, 1, 100000, n);
            o.connect_attempts = static_cast<uint32_t>(n);
        } else if (a == "--threads") {
            ok = parse_u64(v, 1, 64, n);
            o.threads = static_cast<uint32_t>(n);
        } else if (a == "--max-errors") {
            ok = parse_u64(v, 0, UINT64_C(1) << 40, o.max_errors);
        } else if (a == "--hold") {
            ok = parse_u64(v, 0, 86400 * 365, n);
            o.hold_s = static_cast<uint32_t>(n);
        } else {
            takes_value = false;
            if (a == "--reuse") {
                o.reuse = true;
            } else if (a == "--pipelining") {
                o.pipelining = true;
            } else if (a == "--idle") {
                o.idle = true;
            } else if (a == "--verbose" || a == "-v") {
                o.verbose = true;
            } else if (a == "--help" || a == "-h") {
                std::fputs(k_usage, stdout);
                std::exit(0);
            } else {
                std::fprintf(stderr, "posthorn-loadgen: unknown option '%s'\n%s", argv[i], k_usage);
                return false;
            }
        }
        if (!ok) {
            std::fprintf(stderr, "posthorn-loadgen: bad or missing value for %s\n%s", argv[i], k_usage);
            return false;
        }
        if (takes_value) ++i;
    }
    if (o.threads > o.sessions) o.threads = o.sessions;
    for (const std::string* s : {&o.rcpt, &o.from, &o.helo}) {
        if (s->find_first_of("\r\n") != std::string::npos) {
            std::fprintf(stderr, "posthorn-loadgen: CR/LF in an address or name\n");
            return false;
        }
    }
    return true;
}

}  // namespace posthorn::loadgen
