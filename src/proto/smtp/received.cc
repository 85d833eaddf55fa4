// Received: header and RFC 5322 date formatting.
#include "proto/smtp/received.hh"

#include <cstdio>
#include <ctime>

namespace posthorn::proto::smtp {

void append_date(std::string& out, int64_t unix_ms) {
    static constexpr const char* k_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t secs = static_cast<time_t>(unix_ms / 1000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char buf[48];
    int n = std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d +0000", k_days[utc.tm_wday % 7],
                          utc.tm_mday, k_months[utc.tm_mon % 12], utc.tm_year + 1900, utc.tm_hour,
                          utc.tm_min, utc.tm_sec);
    if (n > 0) out.append(buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

void append_received(std::string& out, const trace_info& t) {
    out.append("Received: from ");
    out.append(t.helo);
    // TCP-info as an address literal (RFC 5321 §4.1.3).
    if (t.peer_address.empty()) {
        out.append(" (unknown)");
    } else {
        out.append(t.peer_address.find(':') == std::string_view::npos ? " ([" : " ([IPv6:");
        out.append(t.peer_address);
        out.append("])");
    }
    out.append("\r\n\tby ");
    out.append(t.hostname);
    out.append(" (posthorn) with ");
    out.append(t.protocol);
    out.append(" id ");
    out.append(t.queue_id);
    if (!t.single_rcpt.empty()) {
        out.append("\r\n\tfor <");
        out.append(t.single_rcpt);
        out.append(">; ");
    } else {
        out.append(";\r\n\t");
    }
    append_date(out, t.unix_ms);
    out.append("\r\n");
}

}  // namespace posthorn::proto::smtp
