// IMAP command framing (RFC 3501 §2.2, §4.3; RFC 7888 literals): cuts the
// byte stream into commands — lines, each of which may end with a literal
// announcement `{n}` or `{n+}` followed by n raw bytes — without looking
// at what the commands mean. The session decides what to do with each
// literal: take it into the command text, stream it out (APPEND's
// message), or refuse it and drop it with the rest of the command.
//
// The command text is kept as sent (lines with their CRLF, literal bytes
// after their `{n}\r\n`), so the argument parser (cursor.hh) reads literals
// from it by their announced length.
//
// Threading: a value, no shared state.
// Limits: the text of one command is at most text_bytes_max; a longer line
// is dropped to its end (line_too_long), keeping none of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::proto::imap {

class command_reader {
public:
    enum class event : uint8_t {
        more,            // all input consumed, nothing complete
        command,         // text() is a whole command (last CRLF stripped)
        literal,         // text()'s last line announced literal(); call take/stream/drop
        literal_bytes,   // streaming: chunk() holds the next literal bytes
        literal_end,     // streaming: the literal is complete; the line goes on
        line_too_long,   // a line over the limit was dropped (text() holds its first bytes)
        dropped,         // a refused command was read to its end and dropped
    };
    struct literal_info {
        uint64_t size = 0;
        bool sync = true;    // `{n}`: the client waits for "+ "
    };

    explicit command_reader(uint32_t text_bytes_max) : _max(text_bytes_max) {}

    // Consumes input from in[pos]; advances pos.
    event next(std::string_view in, size_t& pos);

    std::string& text() noexcept { return _text; }
    literal_info literal() const noexcept { return _lit; }
    std::string_view chunk() const noexcept { return _chunk; }

    void take_literal();     // its bytes go into text()
    void stream_literal();   // its bytes come out as literal_bytes events
    // Drops the literal (when non-synchronizing: the client sends it
    // anyway) and then the rest of the command.
    void drop_literal_and_command();
    // The command ends here (a refused synchronizing literal: the client
    // sends nothing more of it).
    void reset() noexcept;
    // Drops whatever else the current command sends (after an error
    // answered mid-command).
    void drop_command() noexcept;

private:
    enum class mode : uint8_t { line, literal_in, literal_out, literal_skip, skip_line, too_long };
    // Whether `line` (without CRLF) ends with `{n}`/`{n+}`.
    static bool announced(std::string_view line, literal_info& out) noexcept;
    void keep_tail(std::string_view piece) noexcept;
    event finish_dropped();

    uint32_t _max;
    mode _mode = mode::line;
    bool _skipping = false;      // the command is being dropped
    bool _done = false;          // text() was handed out: cleared at the next call
    std::string _text;
    size_t _line_start = 0;      // where the current line begins in _text
    literal_info _lit;
    uint64_t _left = 0;          // literal bytes still to come
    std::string_view _chunk;
    char _tail[24] = {};         // last bytes of a line being skipped
    size_t _tail_len = 0;
};

}  // namespace posthorn::proto::imap
