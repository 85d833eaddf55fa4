// See imap.hh.
#include "imap.hh"

#include <cctype>
#include <cstdlib>
#include <strings.h>

namespace posthorn::mailload {
namespace {

constexpr uint64_t k_literal_max = 1ull << 31;  // a larger one is a broken reply

// If the line (with CRLF) ends in a literal marker, its size; else -1.
int64_t literal_at_end(const std::string& line) {
    size_t n = line.size();
    if (n < 5 || line[n - 1] != '\n' || line[n - 2] != '\r' || line[n - 3] != '}') return -1;
    size_t close = n - 3, i = close;
    if (i > 0 && line[i - 1] == '+') --i;  // LITERAL+ form, should a server send it
    size_t digits_end = i;
    while (i > 0 && std::isdigit(static_cast<unsigned char>(line[i - 1]))) --i;
    if (i == digits_end || i == 0 || line[i - 1] != '{') return -1;
    return std::strtoll(line.c_str() + i, nullptr, 10);
}

// "user" -> "\"user\"" (the benchmark's names have no quotes or backslashes).
std::string quoted(std::string_view s) {
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    q += '"';
    return q;
}

}  // namespace

bool imap_client::open(const endpoint& ep) {
    if (!_wire.open(ep, _timeout_ms)) {
        _error = _wire.error();
        return false;
    }
    if (!read_response(_resp)) return false;
    if (_resp.text.compare(0, 5, "* OK ") != 0 && _resp.text.compare(0, 10, "* PREAUTH ") != 0) {
        _error = "greeting: " + _resp.text.substr(0, 200);
        return false;
    }
    return true;
}

bool imap_client::login(std::string_view user, std::string_view password) {
    std::string cmd = "LOGIN " + quoted(user) + " " + quoted(password);
    return command(cmd, [](const imap_response&) {});
}

bool imap_client::logout() {
    return command("LOGOUT", [](const imap_response&) {});
}

bool imap_client::idle() {
    if (!send_tagged("IDLE")) return false;
    for (;;) {
        if (!read_response(_resp)) return false;
        if (_resp.text.compare(0, 1, "+") == 0) return true;
        if (_resp.text.compare(0, 2, "* ") == 0) continue;
        _error = "IDLE: " + _resp.text.substr(0, 200);
        return false;
    }
}

bool imap_client::send_tagged(std::string_view cmd) {
    _tag.assign(1, 'a').append(std::to_string(++_next_tag));  // not "a" + ...: GCC 12's false -Wrestrict
    std::string line;
    line.reserve(_tag.size() + cmd.size() + 3);
    line.append(_tag).append(" ").append(cmd).append("\r\n");
    if (!_wire.write_all(line)) {
        _error = _wire.error();
        return false;
    }
    return true;
}

bool imap_client::read_response(imap_response& r) {
    r.text.clear();
    r.literals.clear();
    for (;;) {
        if (!_wire.read_line(_line)) {
            _error = _wire.error();
            return false;
        }
        r.text += _line;
        int64_t lit = literal_at_end(_line);
        if (lit < 0) return true;
        if (static_cast<uint64_t>(lit) > k_literal_max) {
            _error = "literal too large: " + _line.substr(0, 100);
            return false;
        }
        r.literals.push_back({r.text.size(), static_cast<uint64_t>(lit)});
        if (!_wire.read_exact(static_cast<size_t>(lit), nullptr)) {
            _error = _wire.error();
            return false;
        }
    }
}

bool imap_client::tagged_ok(const imap_response& r) {
    size_t p = _tag.size() + 1;
    if (r.text.size() >= p + 3 && strncasecmp(r.text.c_str() + p, "OK", 2) == 0 &&
        (r.text[p + 2] == ' ' || r.text[p + 2] == '\r' || r.text[p + 2] == '\n'))
        return true;
    _error = r.text.substr(0, 200);
    while (!_error.empty() && (_error.back() == '\n' || _error.back() == '\r')) _error.pop_back();
    return false;
}

int64_t imap_numbered(const std::string& text, std::string_view word) {
    if (text.size() < 4 || text[0] != '*' || text[1] != ' ') return -1;
    size_t i = 2;
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) n = n * 10 + (text[i++] - '0');
    if (i >= text.size() || text[i] != ' ') return -1;
    ++i;
    if (text.size() - i < word.size() || strncasecmp(text.c_str() + i, word.data(), word.size()) != 0)
        return -1;
    size_t e = i + word.size();
    if (e < text.size() && std::isalnum(static_cast<unsigned char>(text[e]))) return -1;
    return n;
}

int64_t imap_number_after(const std::string& text, std::string_view key, size_t from) {
    size_t p = text.find(key, from);
    while (p != std::string::npos) {
        size_t i = p + key.size();
        if (i < text.size() && text[i] == ' ') {
            ++i;
            if (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
                return std::strtoll(text.c_str() + i, nullptr, 10);
        }
        p = text.find(key, p + 1);
    }
    return -1;
}

}  // namespace posthorn::mailload
