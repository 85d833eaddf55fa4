// Command-line options of posthorn-ldapload: parsed once in main, then
// read-only and shared by the worker threads. parse_options prints usage and
// returns false on a bad command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posthorn::ldapload {

enum class mode : uint8_t {
    eq_mail,  // (mail=<a random address from --mails>): exactly one entry, holding that address
    sub_cn,   // (cn=<--prefix>*): --expect-entries entries (or at least one)
};

const char* mode_name(mode m) noexcept;

struct options {
    mode m = mode::eq_mail;
    std::string host = "127.0.0.1";
    uint16_t port = 389;
    uint32_t conns = 16;              // connections
    uint32_t depth = 8;               // outstanding SearchRequests per connection
    uint32_t threads = 1;             // epoll loops; connections are dealt out among them
    double seconds = 5;               // measured duration
    std::string base = "dc=example,dc=test";
    std::string mails_file;           // eq-mail: addresses, one a line
    std::string prefix = "ab";        // sub-cn: the initial substring
    std::vector<std::string> attrs = {"cn", "sn", "givenName", "displayName", "mail", "uid"};
    std::string bind_dn;              // empty: anonymous (no BindRequest)
    std::string bind_password;
    int64_t expect_entries = -1;      // per search; -1: eq-mail 1, sub-cn at least 1
    uint32_t timeout_ms = 10000;      // connect, bind, and no progress while searches are outstanding
    uint64_t max_errors = 100;        // then no new search is started
    uint64_t seed = 1;
    bool verbose = false;
};

bool parse_options(int argc, char** argv, options& out);

}  // namespace posthorn::ldapload
