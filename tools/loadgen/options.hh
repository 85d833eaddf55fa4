// Command-line options of posthorn-loadgen: parsed once in main, then read-only
// and shared by every worker thread. parse_options prints usage and returns
// false on a bad command line.
#pragma once

#include <cstdint>
#include <string>

namespace posthorn::loadgen {

struct options {
    std::string host = "127.0.0.1";
    uint16_t port = 2525;
    uint32_t sessions = 1;            // concurrent SMTP sessions
    uint64_t messages = 1000;         // total, over all sessions
    uint64_t size_bytes = 1024;       // body payload per message, headers not counted
    bool reuse = false;               // many messages per connection (MAIL after 250, no RSET)
    bool pipelining = false;          // MAIL+RCPT+DATA in one write if advertised
    std::string rcpt = "user1@example.test";
    std::string from = "loadgen@loadgen.test";
    std::string helo = "loadgen.test";
    uint32_t timeout_ms = 30000;      // per reply (and per write stall)
    uint32_t connect_timeout_ms = 250;  // a dropped SYN is retried after this
    uint32_t connect_attempts = 40;   // per connection, then the message fails
    uint32_t threads = 1;             // worker threads, sessions split between them
    uint64_t max_errors = 100;        // stop starting messages after this many errors (0 = never)
    bool idle = false;                // open sessions, EHLO, then hold them open
    uint32_t hold_s = 0;              // idle: hold this long (0 = until SIGINT/SIGTERM)
    bool verbose = false;
};

bool parse_options(int argc, char** argv, options& out);

}  // namespace posthorn::loadgen
