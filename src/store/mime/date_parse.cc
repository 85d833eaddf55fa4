// RFC 5322 §3.3 Date: values for SEARCH SENTBEFORE/SENTON/SENTSINCE, which
// RFC 3501 §6.4.4 compares "disregarding time and timezone": so the result
// is the header's wall-clock time counted as if it were UTC, and the zone
// (numeric or an obsolete name, §4.3) is read past but not applied.
//
// Tolerated: no day of week, 2- and 3-digit years (§4.3), no seconds,
// extra whitespace and comments after the time. Anything else: nullopt.
// Threading: stateless.
#include "store/mime/internal.hh"

#include "posthorn/core/text.hh"

namespace posthorn::store::mime {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct cursor {
    std::string_view in;
    size_t at = 0;
    size_t digits = 0;   // of the last number()
    void skip_space() {
        while (at < in.size() && (in[at] == ' ' || in[at] == '\t' || in[at] == '\r' || in[at] == '\n')) ++at;
    }
    bool number(int& v, size_t digits_max) {
        skip_space();
        size_t start = at;
        v = 0;
        while (at < in.size() && at - start < digits_max && in[at] >= '0' && in[at] <= '9') v = v * 10 + (in[at++] - '0');
        digits = at - start;
        return digits > 0;
    }
    std::string_view word() {
        skip_space();
        size_t start = at;
        while (at < in.size() && ((in[at] >= 'a' && in[at] <= 'z') || (in[at] >= 'A' && in[at] <= 'Z'))) ++at;
        return in.substr(start, at - start);
    }
    bool eat(char c) {
        skip_space();
        if (at < in.size() && in[at] == c) {
            ++at;
            return true;
        }
        return false;
    }
};

}  // namespace

std::optional<int64_t> parse_date(std::string_view v) {
    static constexpr std::string_view months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                  "jul", "aug", "sep", "oct", "nov", "dec"};
    cursor c{v};
    c.skip_space();
    if (c.at < v.size() && !(v[c.at] >= '0' && v[c.at] <= '9')) {
        c.word();     // day of week
        c.eat(',');
    }
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (!c.number(day, 2) || day < 1 || day > 31) return std::nullopt;
    c.eat('-');  // "1-Jan-2020", seen from some mailers
    std::string_view mon = c.word();
    int month = 0;
    for (int i = 0; i < 12; ++i)
        if (mon.size() >= 3 && core::iequals(mon.substr(0, 3), months[i])) month = i + 1;
    if (month == 0) return std::nullopt;
    c.eat('-');
    if (!c.number(year, 4)) return std::nullopt;
    const size_t year_digits = c.digits;
    if (year_digits == 2) year += year < 50 ? 2000 : 1900;
    else if (year_digits == 3) year += 1900;
    if (!c.number(hour, 2) || !c.eat(':') || !c.number(minute, 2)) return std::nullopt;
    if (c.eat(':') && !c.number(second, 2)) return std::nullopt;
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    const int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace posthorn::store::mime
