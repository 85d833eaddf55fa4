// Received: header formatting (the date comes from queue/dsn).
#include "proto/smtp/received.hh"

#include "posthorn/queue/dsn.hh"

#include <cstdio>
#include <ctime>

namespace posthorn::proto::smtp {

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
    queue::append_rfc5322_date(out, t.unix_ms);
    out.append("\r\n");
}

}  // namespace posthorn::proto::smtp
