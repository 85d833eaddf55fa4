// IMAP argument parsing; see cursor.hh.
#include "proto/imap/cursor.hh"

#include "posthorn/core/text.hh"

#include <algorithm>

namespace posthorn::proto::imap {

bool cursor::atom_char(char c) noexcept {
    // atom-specials: ( ) { SP CTL % * " \ ]
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']': return false;
    default: return true;
    }
}

bool cursor::skip(char c) noexcept {
    if (at_end() || _s[_p] != c) return false;
    ++_p;
    return true;
}

bool cursor::skip_word(std::string_view w) noexcept {
    if (_s.size() - std::min(_p, _s.size()) < w.size()) return false;
    if (!core::iequals(_s.substr(_p, w.size()), w)) return false;
    size_t after = _p + w.size();
    if (after < _s.size() && atom_char(_s[after])) return false;
    _p = after;
    return true;
}

std::optional<std::string_view> cursor::atom(std::string_view extra) noexcept {
    size_t b = _p;
    while (_p < _s.size() && (atom_char(_s[_p]) || extra.find(_s[_p]) != std::string_view::npos)) ++_p;
    if (_p == b) return std::nullopt;
    return _s.substr(b, _p - b);
}

std::optional<uint64_t> cursor::number64() noexcept {
    size_t b = _p;
    uint64_t v = 0;
    while (_p < _s.size() && _s[_p] >= '0' && _s[_p] <= '9') {
        if (_p - b >= 19) return _p = b, std::nullopt;
        v = v * 10 + static_cast<uint64_t>(_s[_p] - '0');
        ++_p;
    }
    if (_p == b) return std::nullopt;
    return v;
}

std::optional<uint32_t> cursor::number() noexcept {
    size_t b = _p;
    auto v = number64();
    if (!v || *v > UINT32_MAX) return _p = b, std::nullopt;
    return static_cast<uint32_t>(*v);
}

std::optional<std::string_view> cursor::quoted() {
    if (!skip('"')) return std::nullopt;
    size_t b = _p;
    bool escapes = false;
    while (_p < _s.size() && _s[_p] != '"') {
        char c = _s[_p];
        if (c == '\r' || c == '\n') return std::nullopt;
        if (c == '\\') {
            if (_p + 1 >= _s.size() || (_s[_p + 1] != '"' && _s[_p + 1] != '\\')) return std::nullopt;
            escapes = true;
            ++_p;
        }
        ++_p;
    }
    if (_p >= _s.size()) return std::nullopt;
    std::string_view raw = _s.substr(b, _p - b);
    ++_p;
    if (!escapes) return raw;
    std::string& out = _arena.emplace_back();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\') ++i;
        out.push_back(raw[i]);
    }
    return std::string_view(out);
}

std::optional<std::string_view> cursor::literal() noexcept {
    size_t b = _p;
    if (!skip('{')) return std::nullopt;
    auto n = number64();
    if (!n) return _p = b, std::nullopt;
    skip('+');
    if (!skip('}') || !skip('\r') || !skip('\n') || _s.size() - _p < *n) return _p = b, std::nullopt;
    std::string_view v = _s.substr(_p, static_cast<size_t>(*n));
    _p += static_cast<size_t>(*n);
    return v;
}

std::optional<std::string_view> cursor::string() {
    if (peek() == '"') return quoted();
    if (peek() == '{') return literal();
    return std::nullopt;
}

std::optional<std::string_view> cursor::astring() {
    if (peek() == '"' || peek() == '{') return string();
    return atom("]");
}

std::optional<std::string_view> cursor::list_mailbox() {
    if (peek() == '"' || peek() == '{') return string();
    return atom("%*]");
}

std::optional<std::string_view> cursor::sequence_text() noexcept {
    size_t b = _p;
    while (_p < _s.size() && ((_s[_p] >= '0' && _s[_p] <= '9') || _s[_p] == ',' || _s[_p] == ':' || _s[_p] == '*'))
        ++_p;
    if (_p == b) return std::nullopt;
    return _s.substr(b, _p - b);
}

}  // namespace posthorn::proto::imap
