// IMAP dates (RFC 3501 §9 date, date-time): parsing SEARCH dates and
// APPEND's date-time, writing INTERNALDATE. Time is kept as unix seconds,
// written in UTC (+0000). Pure functions, no locale, no allocation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::proto::imap {

// "1-Feb-1994" (day 1 or 2 digits): days since 1970-01-01.
std::optional<int64_t> parse_date(std::string_view s) noexcept;
// "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " d"): unix seconds.
std::optional<int64_t> parse_date_time(std::string_view s) noexcept;
// `"dd-Mon-yyyy hh:mm:ss +0000"` with its quotes, appended.
void write_date_time(std::string& out, int64_t unix_seconds);
inline int64_t day_of(int64_t unix_seconds) noexcept {
    return unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
}

}  // namespace posthorn::proto::imap
