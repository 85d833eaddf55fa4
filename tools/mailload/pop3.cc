// See pop3.hh.
#include "pop3.hh"

#include <cstdlib>

namespace posthorn::mailload {
namespace {

std::string trimmed(const std::string& s) {
    std::string t = s.substr(0, 200);
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t;
}

}  // namespace

bool pop3_client::open(const endpoint& ep) {
    if (!_wire.open(ep, _timeout_ms)) {
        _error = _wire.error();
        return false;
    }
    if (!_wire.read_line(_line)) {
        _error = _wire.error();
        return false;
    }
    if (_line.compare(0, 3, "+OK") != 0) {
        _error = "greeting: " + trimmed(_line);
        return false;
    }
    return true;
}

bool pop3_client::status_line(std::string_view cmd, std::string& status) {
    std::string out(cmd);
    out += "\r\n";
    if (!_wire.write_all(out) || !_wire.read_line(status)) {
        _error = _wire.error();
        return false;
    }
    return true;
}

bool pop3_client::simple(std::string_view cmd, std::string& status) {
    if (!status_line(cmd, status)) return false;
    if (status.compare(0, 3, "+OK") != 0) {
        _error = std::string(cmd.substr(0, cmd.find(' '))) + ": " + trimmed(status);
        return false;
    }
    return true;
}

bool pop3_client::login(std::string_view user, std::string_view password, bool& in_use) {
    in_use = false;
    std::string status;
    if (!simple("USER " + std::string(user), status)) return false;
    if (!status_line("PASS " + std::string(password), status)) return false;
    if (status.compare(0, 3, "+OK") == 0) return true;
    in_use = status.find("[IN-USE]") != std::string::npos;
    _error = "PASS: " + trimmed(status);
    return false;
}

bool pop3_client::list(std::vector<uint64_t>& sizes) {
    std::string status;
    sizes.clear();
    if (!simple("LIST", status)) return false;
    for (;;) {
        if (!_wire.read_line(_line)) {
            _error = _wire.error();
            return false;
        }
        if (_line == ".\r\n") return true;
        char* end = nullptr;
        uint64_t n = std::strtoull(_line.c_str(), &end, 10);
        uint64_t size = std::strtoull(end, nullptr, 10);
        if (n != sizes.size() + 1) {
            _error = "LIST: unexpected line " + trimmed(_line);
            return false;
        }
        sizes.push_back(size);
    }
}

bool pop3_client::retr(uint64_t n, uint64_t& size) {
    std::string status;
    if (!simple("RETR " + std::to_string(n), status)) return false;
    if (_wire.read_dot_body(size)) return true;
    _error = _wire.error();
    return false;
}

bool pop3_client::quit() {
    std::string status;
    return simple("QUIT", status);
}

}  // namespace posthorn::mailload
