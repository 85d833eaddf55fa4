// queue/retry: when a deferred delivery is tried again, and when it gives up
// ([queue] retry and lifetime, DESIGN.md "Queue and delivery").
//
// The n-th retry (n = attempts already made, from 1) waits delays_ms[n-1];
// past the end of the list the last delay repeats. A delivery whose next
// attempt would fall after first_attempt + lifetime expires instead: the
// caller bounces it (DSN, "delivery time expired").
//
// Threading: values only. Errors: parse_duration_ms returns EINVAL with the
// offending text; nothing here logs or panics.
#pragma once

#include "posthorn/core/result.hh"

#include <cstdint>
#include <string_view>
#include <vector>

namespace posthorn::queue {

struct retry_policy {
    std::vector<uint64_t> delays_ms{60'000, 300'000, 900'000, 1'800'000, 3'600'000, 7'200'000, 14'400'000};
    uint64_t lifetime_ms = 5ull * 24 * 3600 * 1000;

    struct decision {
        bool expired = false;
        uint64_t retry_at_ms = 0;  // when !expired
    };
    // After `attempts` failed attempts (>= 1), the first made at first_attempt_ms.
    decision after_failure(uint32_t attempts, uint64_t first_attempt_ms, uint64_t now_ms) const noexcept;
};

// "90s", "5m", "2h", "5d", "250ms", or a bare number of seconds.
core::result<uint64_t> parse_duration_ms(std::string_view text);

}  // namespace posthorn::queue
