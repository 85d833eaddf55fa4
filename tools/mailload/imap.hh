// The client side of IMAP4rev1 (RFC 3501) that the benchmark needs: greeting,
// LOGIN, tagged commands whose untagged responses are read whole, literals
// included, and IDLE. A response line that ends in a literal "{n}" (or
// "{n+}", "~{n}") is followed by n bytes and then the rest of the response:
// the parser reads them as one response, so counting "* n FETCH" counts
// responses, not lines. Literal bytes are kept only when asked for.
// Not thread-safe: one client, one thread.
#pragma once

#include "wire.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::mailload {

struct imap_literal {
    size_t at = 0;      // offset in response::text where "{n}" stood (after it)
    uint64_t size = 0;  // n
};

// One untagged response (or the tagged completion): its text with every
// literal's bytes left out (the "{n}" marker and CRLF stay), and the literals.
struct imap_response {
    std::string text;
    std::vector<imap_literal> literals;
};

class imap_client {
public:
    explicit imap_client(uint32_t timeout_ms) : _timeout_ms(timeout_ms) {}

    // Connects and reads the "* OK" greeting.
    bool open(const endpoint& ep);
    bool login(std::string_view user, std::string_view password);
    // Sends "<tag> <command>\r\n" and reads responses until the tagged one;
    // on_untagged(const imap_response&) sees each untagged response. True if
    // the tagged status is OK; otherwise error() holds the reason.
    template <class F>
    bool command(std::string_view cmd, F&& on_untagged);
    // "<tag> IDLE", then waits for the "+" continuation.
    bool idle();
    bool logout();

    const std::string& error() const noexcept { return _error; }
    uint64_t bytes_in() const noexcept { return _wire.bytes_in(); }
    wire& transport() noexcept { return _wire; }

private:
    bool send_tagged(std::string_view cmd);
    bool read_response(imap_response& r);  // one whole response, literals included
    bool tagged_ok(const imap_response& r);

    wire _wire;
    uint32_t _timeout_ms;
    uint32_t _next_tag = 0;
    std::string _tag;
    std::string _line;
    imap_response _resp;
    std::string _error;
};

template <class F>
bool imap_client::command(std::string_view cmd, F&& on_untagged) {
    if (!send_tagged(cmd)) return false;
    for (;;) {
        if (!read_response(_resp)) return false;
        const std::string& t = _resp.text;
        if (t.size() >= 2 && t[0] == '*' && t[1] == ' ') {
            on_untagged(_resp);
            continue;
        }
        if (t.size() > _tag.size() && t.compare(0, _tag.size(), _tag) == 0 && t[_tag.size()] == ' ')
            return tagged_ok(_resp);
        _error = "unexpected response to " + std::string(cmd.substr(0, 40)) + ": " + t.substr(0, 200);
        return false;
    }
}

// Helpers for parsing response text.
// The number after "* " of "* <n> <word>", if the response is that word
// (case-insensitive), else -1.
int64_t imap_numbered(const std::string& text, std::string_view word);
// The number after `key ` (e.g. "RFC822.SIZE"), searched from `from`; -1 if absent.
int64_t imap_number_after(const std::string& text, std::string_view key, size_t from = 0);

}  // namespace posthorn::mailload
