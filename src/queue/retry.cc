// Retry schedule and duration parsing for [queue] retry / lifetime.
#include "posthorn/queue/retry.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace posthorn::queue {

retry_policy::decision retry_policy::after_failure(uint32_t attempts, uint64_t first_attempt_ms,
                                                   uint64_t now_ms) const noexcept {
    uint64_t delay = 60'000;
    if (!delays_ms.empty()) {
        size_t i = attempts == 0 ? 0 : std::min<size_t>(attempts - 1, delays_ms.size() - 1);
        delay = delays_ms[i];
    }
    uint64_t at = now_ms + delay;
    // The last attempt may be made right at the end of the lifetime, not after.
    uint64_t end = first_attempt_ms + lifetime_ms;
    if (now_ms >= end) return {true, 0};
    if (at > end) at = end;
    return {false, at};
}

core::result<uint64_t> parse_duration_ms(std::string_view text) {
    auto bad = [&] { return core::error{EINVAL, "bad duration (use 250ms, 90s, 5m, 2h or 5d)"}; };
    if (text.empty()) return bad();
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end == text.data()) return bad();
    std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
    uint64_t scale;
    if (unit.empty() || unit == "s") scale = 1000;
    else if (unit == "ms") scale = 1;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return bad();
    if (n > UINT64_MAX / scale) return bad();
    return n * scale;
}

}  // namespace posthorn::queue
