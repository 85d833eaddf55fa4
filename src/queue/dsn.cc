// RFC 3464 delivery status notifications and the RFC 5322 date they (and
// the Received: header) carry.
#include "posthorn/queue/dsn.hh"

#include <cstdio>
#include <ctime>
#include <fmt/format.h>

namespace posthorn::queue {

void append_rfc5322_date(std::string& out, int64_t unix_ms) {
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

void append_xtext(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (c < 33 || c > 126 || c == '+' || c == '=') {
            out.push_back('+');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
}

bool dsn_wanted(std::string_view sender, uint8_t notify, dsn_action action) noexcept {
    if (sender.empty()) return false;  // never bounce a bounce
    if (notify & notify_never) return false;
    switch (action) {
    case dsn_action::failed: return notify == 0 || (notify & notify_failure);
    case dsn_action::delayed: return (notify & notify_delay) != 0;
    case dsn_action::delivered:
    case dsn_action::relayed: return (notify & notify_success) != 0;
    }
    return false;
}

namespace {
const char* action_name(dsn_action a) {
    switch (a) {
    case dsn_action::failed: return "failed";
    case dsn_action::delayed: return "delayed";
    case dsn_action::delivered: return "delivered";
    case dsn_action::relayed: return "relayed";
    }
    return "failed";
}

// The original's header: up to and including the blank line (or all of it).
std::string_view header_of(std::string_view m) {
    size_t end = m.find("\r\n\r\n");
    return end == std::string_view::npos ? m : m.substr(0, end + 4);
}

// Reply text with CR/LF folded away, so it stays one header field.
void append_field_text(std::string& out, std::string_view s) {
    for (char c : s) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

void append_with_crlf_end(std::string& out, std::string_view s) {
    out.append(s);
    if (s.size() < 2 || s.substr(s.size() - 2) != "\r\n") out.append("\r\n");
}
}  // namespace

std::string build_dsn(const dsn_request& r) {
    bool any_failed = false, any_delayed = false;
    for (const auto& rc : r.rcpts) {
        any_failed |= rc.action == dsn_action::failed;
        any_delayed |= rc.action == dsn_action::delayed;
    }
    const std::string boundary = fmt::format("{}/{}", r.unique, r.reporting_mta);
    std::string m;
    m.reserve(2048 + std::min<uint64_t>(r.original.size(), r.original_bytes_max));
    m += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", r.reporting_mta);
    m += fmt::format("To: <{}>\r\n", r.sender);
    m += any_failed    ? "Subject: Undelivered Mail Returned to Sender\r\n"
         : any_delayed ? "Subject: Delayed Mail (still being retried)\r\n"
                       : "Subject: Successful Mail Delivery Report\r\n";
    m += "Date: ";
    append_rfc5322_date(m, r.now_unix_ms);
    m += "\r\n";
    m += fmt::format("Message-ID: <{}.dsn@{}>\r\n", r.unique, r.reporting_mta);
    m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no vacation replies to this
    m += "MIME-Version: 1.0\r\n";
    m += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n", boundary);
    m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

    // 1: for people.
    m += fmt::format("--{}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
                     boundary);
    m += fmt::format("This is the mail system at host {}.\r\n\r\n", r.reporting_mta);
    if (any_failed)
        m += "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n";
    else if (any_delayed)
        m += "Your message could not be delivered yet; the mail system will keep\r\ntrying until the message expires.\r\n";
    else
        m += "Your message was successfully delivered to the destinations listed below.\r\n";
    m += "\r\n";
    for (const auto& rc : r.rcpts) {
        m += fmt::format("<{}>: ", rc.address);
        append_field_text(m, rc.diagnostic.empty() ? std::string_view(action_name(rc.action)) : rc.diagnostic);
        m += "\r\n";
    }
    m += "\r\n";

    // 2: for programs (RFC 3464 §2.2, §2.3).
    m += fmt::format("--{}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n",
                     boundary);
    m += fmt::format("Reporting-MTA: dns; {}\r\n", r.reporting_mta);
    if (!r.envid.empty()) m += fmt::format("Original-Envelope-Id: {}\r\n", r.envid);
    m += "Arrival-Date: ";
    append_rfc5322_date(m, r.arrival_unix_ms);
    m += "\r\n";
    for (const auto& rc : r.rcpts) {
        m += "\r\n";
        if (!rc.orcpt.empty()) m += fmt::format("Original-Recipient: {}\r\n", rc.orcpt);
        m += fmt::format("Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n", rc.address,
                         action_name(rc.action), rc.status.empty() ? std::string_view("5.0.0") : rc.status);
        if (!rc.remote_mta.empty()) m += fmt::format("Remote-MTA: dns; {}\r\n", rc.remote_mta);
        if (!rc.diagnostic.empty()) {
            m += "Diagnostic-Code: smtp; ";
            append_field_text(m, rc.diagnostic);
            m += "\r\n";
        }
        if (rc.last_attempt_unix_ms) {
            m += "Last-Attempt-Date: ";
            append_rfc5322_date(m, rc.last_attempt_unix_ms);
            m += "\r\n";
        }
    }
    m += "\r\n";

    // 3: the original, or its header.
    bool whole = r.ret != dsn_ret::headers && r.original.size() <= r.original_bytes_max;
    if (whole) {
        m += fmt::format("--{}\r\nContent-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n",
                         boundary);
        append_with_crlf_end(m, r.original);
    } else {
        m += fmt::format("--{}\r\nContent-Description: Undelivered Message Headers\r\n"
                         "Content-Type: text/rfc822-headers\r\n\r\n",
                         boundary);
        append_with_crlf_end(m, header_of(r.original));
    }
    m += fmt::format("\r\n--{}--\r\n", boundary);
    return m;
}

}  // namespace posthorn::queue
