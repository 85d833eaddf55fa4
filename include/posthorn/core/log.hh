// Logging: one `key=value` line per event, written with a single write(2) to
// stderr so lines from different shards never interleave. Shards share no
// state here beyond the level, which is set once at start-up.
// Peer data goes through escaped(), which quotes, escapes and truncates it.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace posthorn::core::log {

enum class level : int { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(level l) noexcept;
bool enabled(level l) noexcept;
void write_line(level l, std::string_view text) noexcept;

// The shard index printed on each line; -1 for threads that are not shards.
void set_thread_shard(int shard) noexcept;

template <typename... Args>
void emit(level l, fmt::format_string<Args...> f, Args&&... args) noexcept {
    if (!enabled(l)) return;
    try {
        fmt::memory_buffer buf;
        fmt::format_to(std::back_inserter(buf), f, std::forward<Args>(args)...);
        write_line(l, std::string_view(buf.data(), buf.size()));
    } catch (...) {
        write_line(level::error, "msg=\"log formatting failed\"");
    }
}

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(level::debug, f, std::forward<Args>(a)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(level::info, f, std::forward<Args>(a)...); }
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(level::warn, f, std::forward<Args>(a)...); }
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(level::error, f, std::forward<Args>(a)...); }

// Peer bytes for a log line: double-quoted, non-printables as \xNN, quotes and
// backslashes escaped, cut at max_bytes with a trailing "...".
struct escaped {
    std::string_view text;
    size_t max_bytes = 64;
};

}  // namespace posthorn::core::log

template <>
struct fmt::formatter<posthorn::core::log::escaped> {
    constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
    template <typename Ctx>
    auto format(const posthorn::core::log::escaped& e, Ctx& ctx) const {
        auto out = ctx.out();
        *out++ = '"';
        size_t n = e.text.size() < e.max_bytes ? e.text.size() : e.max_bytes;
        for (size_t i = 0; i < n; ++i) {
            unsigned char c = static_cast<unsigned char>(e.text[i]);
            if (c == '"' || c == '\\') {
                *out++ = '\\';
                *out++ = static_cast<char>(c);
            } else if (c < 0x20 || c >= 0x7f) {
                out = fmt::format_to(out, "\\x{:02x}", c);
            } else {
                *out++ = static_cast<char>(c);
            }
        }
        if (n < e.text.size()) out = fmt::format_to(out, "...");
        *out++ = '"';
        return out;
    }
};
