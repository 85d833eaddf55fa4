// Parsing of posthorn-ldapload's command line (see k_usage).
#include "options.hh"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace posthorn::ldapload {
namespace {

constexpr const char* k_usage = R"(usage: posthorn-ldapload --mode MODE --port P [options]
Keeps --conns connections busy, each with --depth SearchRequests outstanding
(a new one goes out as each SearchResultDone comes in), for --seconds; prints
one key=value line. Every search is checked: resultCode 0 and the expected
number of entries.
Modes:
  eq-mail   (mail=ADDRESS), ADDRESS random from --mails FILE (one a line);
            exactly one entry, and it must hold ADDRESS as a value
  sub-cn    (cn=PREFIX*), PREFIX from --prefix (ab); --expect-entries N
            entries each time (without it: at least one)
Options:
  --host H (127.0.0.1)  --port P (389)  --conns N (16)  --depth D (8)
  --threads N (1: epoll loops)  --seconds S (5)  --base DN (dc=example,dc=test)
  --mails FILE  --prefix P (ab)  --attrs a,b,c (cn,sn,givenName,displayName,mail,uid;
  "" = all user attributes)  --bind-dn DN --bind-password PW (simple bind on
  each connection first; default anonymous)  --expect-entries N
  --timeout-ms N (10000)  --max-errors N (100)  --seed N (1)  --verbose
Output: mode= conns= depth= threads= searches= secs= searches_per_s= entries=
entries_per_s= mb_per_s= errors= p50_us= p99_us= client_cpu_s= client_cpu_pct=
(client_cpu_pct: this process's user+system CPU over the run, % of one core).
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

std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        size_t c = s.find(',');
        std::string_view part = s.substr(0, c);
        if (!part.empty()) out.emplace_back(part);
        if (c == std::string_view::npos) break;
        s.remove_prefix(c + 1);
    }
    return out;
}

}  // namespace

const char* mode_name(mode m) noexcept {
    switch (m) {
    case mode::eq_mail: return "eq-mail";
    case mode::sub_cn: return "sub-cn";
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
            std::fprintf(stderr, "posthorn-ldapload: %s wants a value\n%s", argv[i], k_usage);
            return false;
        }
        const char* v = argv[++i];
        uint64_t n = 0;
        bool ok = true;
        if (a == "--mode") {
            have_mode = true;
            std::string_view s = v;
            if (s == "eq-mail") o.m = mode::eq_mail;
            else if (s == "sub-cn") o.m = mode::sub_cn;
            else ok = false;
        } else if (a == "--host") o.host = v;
        else if (a == "--port") ok = parse_u64(v, n) && n >= 1 && n <= 65535 && (o.port = static_cast<uint16_t>(n), true);
        else if (a == "--conns") ok = parse_u64(v, n) && n >= 1 && n <= 100000 && (o.conns = static_cast<uint32_t>(n), true);
        else if (a == "--depth") ok = parse_u64(v, n) && n >= 1 && n <= 1024 && (o.depth = static_cast<uint32_t>(n), true);
        else if (a == "--threads") ok = parse_u64(v, n) && n >= 1 && n <= 256 && (o.threads = static_cast<uint32_t>(n), true);
        else if (a == "--seconds") {
            char* end = nullptr;
            o.seconds = std::strtod(v, &end);
            ok = end != v && *end == '\0' && o.seconds > 0 && o.seconds < 86400;
        } else if (a == "--base") o.base = v;
        else if (a == "--mails") o.mails_file = v;
        else if (a == "--prefix") ok = (o.prefix = v, !o.prefix.empty() && o.prefix.size() < 100);
        else if (a == "--attrs") o.attrs = split_commas(v);
        else if (a == "--bind-dn") o.bind_dn = v;
        else if (a == "--bind-password") o.bind_password = v;
        else if (a == "--expect-entries") ok = parse_u64(v, n) && n <= 1000000 && (o.expect_entries = static_cast<int64_t>(n), true);
        else if (a == "--timeout-ms") ok = parse_u64(v, n) && n >= 10 && n <= 3600000 && (o.timeout_ms = static_cast<uint32_t>(n), true);
        else if (a == "--max-errors") ok = parse_u64(v, n) && n >= 1 && (o.max_errors = n, true);
        else if (a == "--seed") ok = parse_u64(v, n) && (o.seed = n, true);
        else {
            std::fprintf(stderr, "posthorn-ldapload: unknown option %s\n%s", argv[i - 1], k_usage);
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "posthorn-ldapload: bad value for %s: '%s'\n", argv[i - 1], v);
            return false;
        }
    }
    if (!have_mode) {
        std::fprintf(stderr, "posthorn-ldapload: --mode is required\n%s", k_usage);
        return false;
    }
    if (o.m == mode::eq_mail && o.mails_file.empty()) {
        std::fprintf(stderr, "posthorn-ldapload: eq-mail needs --mails FILE\n");
        return false;
    }
    if (o.threads > o.conns) o.threads = o.conns;
    return true;
}

}  // namespace posthorn::ldapload
