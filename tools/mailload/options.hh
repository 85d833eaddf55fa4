// Command-line options of posthorn-mailload: parsed once in main, then
// read-only and shared by every client thread. parse_options prints usage and
// returns false on a bad command line.
#pragma once

#include <cstdint>
#include <string>

namespace posthorn::mailload {

enum class mode : uint8_t {
    imap_select,          // SELECT INBOX, repeated
    imap_fetch_envelope,  // FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), repeated
    imap_search_from,     // SEARCH FROM "<name>", repeated
    imap_fetch_body,      // FETCH n BODY[] for a random n, repeated
    pop3_retr_all,        // per connection: USER/PASS, LIST, RETR 1..N, QUIT; repeated
    imap_idle,            // open the sessions, LOGIN, SELECT INBOX, IDLE, hold
};

const char* mode_name(mode m) noexcept;

struct options {
    mode m = mode::imap_select;
    std::string host = "127.0.0.1";
    uint16_t port = 143;
    uint32_t clients = 16;          // connections, one thread each (idle: sessions)
    double seconds = 5;             // measured duration
    std::string user = "bench";     // "%d" in it becomes the client number (1-based)
    std::string password = "bench";
    std::string search = "Quackenbush";  // SEARCH FROM argument
    int64_t expect_msgs = -1;       // messages in INBOX (-1: take what SELECT/STAT says)
    int64_t expect_hits = -1;       // SEARCH FROM matches (-1: any count, but all equal)
    uint32_t timeout_ms = 60000;    // per read or write
    uint32_t threads = 16;          // idle mode: threads opening the sessions
    uint32_t hold_s = 0;            // idle: hold this long (0 = until SIGINT/SIGTERM)
    uint64_t seed = 1;              // fetch-body: the random message numbers
    bool verbose = false;
};

bool parse_options(int argc, char** argv, options& out);

}  // namespace posthorn::mailload
