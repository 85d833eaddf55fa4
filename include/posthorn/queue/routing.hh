// queue/routing: the next hop for a recipient domain (DESIGN.md "Queue and
// delivery"): local domains are delivered locally; then [routes] (exact
// domain, or ".parent" for every subdomain, as Postfix's transport maps);
// then the smarthost; otherwise the domain's MX records, looked up by the
// relay agent (A/AAAA when there is no MX).
//
// Threading: route_table is immutable after construction; share it freely.
// Errors: parse_host_port / route_table::add return EINVAL naming the text.
#pragma once

#include "posthorn/core/result.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace posthorn::queue {

struct host_port {
    std::string host;   // a name, an IPv4 literal, or an IPv6 literal without brackets
    uint16_t port = 25;
};

// "host", "host:port", "[v6]:port", "[v6]"; port 1..65535.
core::result<host_port> parse_host_port(std::string_view text);

struct next_hop {
    enum class kind : uint8_t { local, host, mx };
    kind how = kind::mx;
    host_port target;   // host: where to connect; mx: the domain to look up, port 25

    // The scheduler's destination name: "local", "[host]:port" or "mx:domain".
    std::string key() const;
};

class route_table {
public:
    // `domain` as in [routes]: "relay.test" or ".relay.test" (subdomains).
    core::result<void> add(std::string_view domain, std::string_view host_port_text);
    core::result<void> set_smarthost(std::string_view host_port_text);

    // `domain` lower case; `local` says the directory owns it.
    next_hop route(std::string_view domain, bool local) const;

private:
    std::unordered_map<std::string, host_port> _exact;
    std::unordered_map<std::string, host_port> _parents;  // key without the leading dot
    host_port _smarthost;
    bool _has_smarthost = false;
};

}  // namespace posthorn::queue
