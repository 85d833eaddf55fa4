// The client side of POP3 (RFC 1939) that the benchmark needs: greeting,
// USER/PASS, LIST, RETR with the multi-line response read to its "." line
// and un-dot-stuffed, QUIT. A RETR's size is the message as the server
// holds it (CRLF lines), comparable to LIST's "exact size".
// Not thread-safe: one client, one thread.
#pragma once

#include "wire.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::mailload {

class pop3_client {
public:
    explicit pop3_client(uint32_t timeout_ms) : _timeout_ms(timeout_ms) {}

    bool open(const endpoint& ep);  // connects, reads "+OK" greeting
    // USER and PASS. in_use is set when PASS failed with [IN-USE] (RFC 2449):
    // the maildrop is locked by another session, worth a retry.
    bool login(std::string_view user, std::string_view password, bool& in_use);
    bool list(std::vector<uint64_t>& sizes);  // sizes[i] = size of message i+1
    bool retr(uint64_t n, uint64_t& size);
    bool quit();

    const std::string& error() const noexcept { return _error; }
    uint64_t bytes_in() const noexcept { return _wire.bytes_in(); }

private:
    bool simple(std::string_view cmd, std::string& status);  // one-line reply, must be +OK
    bool status_line(std::string_view cmd, std::string& status);

    wire _wire;
    uint32_t _timeout_ms;
    std::string _line;
    std::string _error;
};

}  // namespace posthorn::mailload
