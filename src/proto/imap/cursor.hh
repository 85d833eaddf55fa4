// IMAP argument parsing (RFC 3501 §4, §9 formal syntax) over a command's
// text as command_reader framed it: atoms, numbers, quoted strings,
// literals (`{n}\r\n` + n bytes, read by their announced length), astrings,
// nstrings and parenthesized lists. A cursor never allocates except for a
// quoted string with escapes (unescaped into a per-command arena).
//
// Threading: a value over borrowed text. Errors: every parse returns
// false/nullopt without consuming on failure where it matters; the session
// answers BAD.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::proto::imap {

class cursor {
public:
    cursor(std::string_view text, std::deque<std::string>& arena) : _s(text), _arena(arena) {}

    bool at_end() const noexcept { return _p >= _s.size(); }
    size_t pos() const noexcept { return _p; }
    void seek(size_t p) noexcept { _p = p; }
    char peek() const noexcept { return at_end() ? '\0' : _s[_p]; }
    std::string_view rest() const noexcept { return _s.substr(std::min(_p, _s.size())); }
    bool skip(char c) noexcept;              // the next byte is c: consume it
    bool sp() noexcept { return skip(' '); }
    bool skip_word(std::string_view w) noexcept;  // case-insensitive, then not an atom char

    // ATOM (RFC 3501 atom-char+); `extra` chars also allowed (e.g. "[]" for
    // fetch attributes, "\\" for flags).
    std::optional<std::string_view> atom(std::string_view extra = {}) noexcept;
    std::optional<uint32_t> number() noexcept;    // nz or 0, 32 bits
    std::optional<uint64_t> number64() noexcept;
    std::optional<std::string_view> quoted();
    std::optional<std::string_view> literal() noexcept;
    std::optional<std::string_view> string();     // quoted / literal
    std::optional<std::string_view> astring();    // atom (with ']') / string
    // The rest of a list-mailbox (LIST pattern): atom chars plus % * ] or a string.
    std::optional<std::string_view> list_mailbox();
    // Sequence-set characters (digits , : *) as they are.
    std::optional<std::string_view> sequence_text() noexcept;

    static bool atom_char(char c) noexcept;

private:
    std::string_view _s;
    size_t _p = 0;
    std::deque<std::string>& _arena;
};

}  // namespace posthorn::proto::imap
