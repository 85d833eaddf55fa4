// IMAP dates; see dates.hh. Civil-date arithmetic after H. Hinnant's
// days_from_civil (public domain), for any Gregorian date.
#include "proto/imap/dates.hh"

#include "posthorn/core/text.hh"

#include <cstdio>

namespace posthorn::proto::imap {
namespace {

constexpr std::string_view k_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) noexcept {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

bool digits(std::string_view s, size_t n, unsigned& v) noexcept {
    if (s.size() < n) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

// "d-Mon-yyyy" at the start of s; consumes it.
bool date_part(std::string_view& s, int64_t& days) noexcept {
    unsigned d = 0;
    if (!s.empty() && s[0] == ' ') s.remove_prefix(1);  // date-day-fixed
    size_t dl = s.size() > 1 && s[1] >= '0' && s[1] <= '9' ? 2 : 1;
    if (!digits(s, dl, d) || s.size() < dl + 9 || s[dl] != '-' || s[dl + 4] != '-') return false;
    std::string_view mon = s.substr(dl + 1, 3);
    unsigned m = 0;
    for (unsigned i = 0; i < 12; ++i)
        if (core::iequals(mon, k_months[i])) m = i + 1;
    unsigned y = 0;
    if (!m || !digits(s.substr(dl + 5), 4, y) || d < 1 || d > 31) return false;
    days = days_from_civil(y, m, d);
    s.remove_prefix(dl + 9);
    return true;
}

}  // namespace

std::optional<int64_t> parse_date(std::string_view s) noexcept {
    int64_t days = 0;
    if (!date_part(s, days) || !s.empty()) return std::nullopt;
    return days;
}

std::optional<int64_t> parse_date_time(std::string_view s) noexcept {
    int64_t days = 0;
    if (!date_part(s, days)) return std::nullopt;
    unsigned hh = 0, mm = 0, ss = 0, zh = 0, zm = 0;
    if (s.size() != 15 || s[0] != ' ' || !digits(s.substr(1), 2, hh) || s[3] != ':' || !digits(s.substr(4), 2, mm) ||
        s[6] != ':' || !digits(s.substr(7), 2, ss) || s[9] != ' ' || (s[10] != '+' && s[10] != '-') ||
        !digits(s.substr(11), 2, zh) || !digits(s.substr(13), 2, zm))
        return std::nullopt;
    if (hh > 23 || mm > 59 || ss > 60 || zm > 59) return std::nullopt;
    int64_t zone = static_cast<int64_t>(zh * 3600 + zm * 60) * (s[10] == '-' ? -1 : 1);
    return days * 86400 + static_cast<int64_t>(hh * 3600 + mm * 60 + ss) - zone;
}

void write_date_time(std::string& out, int64_t t) {
    int64_t days = day_of(t);
    int64_t secs = t - days * 86400;
    int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(days, y, m, d);
    char buf[48];
    int n = std::snprintf(buf, sizeof buf, "\"%02u-%s-%04lld %02lld:%02lld:%02lld +0000\"", d, k_months[m - 1].data(),
                          static_cast<long long>(y), static_cast<long long>(secs / 3600),
                          static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
    out.append(buf, static_cast<size_t>(n));
}

}  // namespace posthorn::proto::imap
