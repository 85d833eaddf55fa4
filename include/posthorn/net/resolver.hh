// resolver: a shard's asynchronous DNS for the relay (DESIGN.md "Queue and
// delivery"): the mail exchangers of a domain in preference order, each
// with its addresses (RFC 5321 §5.1), or the addresses of one host. Wraps a
// c-ares channel whose sockets the shard's reactor watches (fd polls) and
// whose timeouts are reactor timers: nothing blocks, no thread is added.
//
//   MX records      -> the exchangers by preference (equal ones shuffled),
//                      each host's A then AAAA records; hosts without an
//                      address are skipped
//   no MX (NODATA)  -> the domain itself as its only exchanger (implicit MX)
//   null MX "."     -> permanent: 556 5.1.10 (RFC 7505), no address lookup
//   NXDOMAIN        -> permanent: 550 5.1.2
//   no address left -> permanent 550 5.4.4, or temporary when a lookup failed
//   SERVFAIL, timeout, refused, no server -> temporary: 451 4.4.3
//
// Servers: resolver_options::servers ("addr:port") when given, else
// /etc/resolv.conf (c-ares reads it, with its timeout and attempts).
// Lookups are DNS only (no /etc/hosts, no search domains), as Postfix's
// smtp_host_lookup = dns; an IP literal host, or a mail domain that is an
// address literal ("[192.0.2.1]", "[IPv6:...]"), needs no lookup.
//
// Threading: shard-local, not thread-safe; one per shard, on its reactor.
// Callbacks: `done` always runs later from the loop, never inside the
// resolve_* call; not at all after shutdown().
// Cache: successful answers per (kind, name) for their smallest TTL,
// clamped to [ttl_min_s, ttl_max_s]; at most cache_entries_max entries
// (expired ones are dropped when full, then everything).
// Limits: mx_hosts_max exchangers per domain (the best ones), addresses_max
// per host. Shutdown: shutdown(), then let the reactor turn
// (run_until_idle) before destroying it: socket polls end asynchronously.
// Logs: nothing per lookup (the caller logs outcomes); one line when the
// channel cannot be set up.
#pragma once

#include "posthorn/core/callback.hh"
#include "posthorn/core/result.hh"
#include "posthorn/net/address.hh"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::core {
class reactor;
}

namespace posthorn::net {

enum class dns_outcome : uint8_t { ok, permanent, temporary };

struct mail_exchanger {
    uint16_t preference = 0;
    std::string host;
    std::vector<endpoint> addresses;  // with the port asked for; IPv4 first
};

struct dns_answer {
    dns_outcome outcome = dns_outcome::temporary;
    // Not ok: what to tell the sender, as an SMTP reply: 556/550/451 and
    // "x.y.z text" (an RFC 3463 status first).
    uint16_t code = 0;
    std::string text;
    std::vector<mail_exchanger> hosts;  // ok: in the order to try, none empty
    uint64_t expires_ms = 0;            // reactor clock: good until then
};

struct resolver_options {
    std::vector<std::string> servers;  // "addr:port" ("[v6]:port"); empty = /etc/resolv.conf
    uint32_t timeout_ms = 0;           // per try; 0 = c-ares / resolv.conf default
    uint32_t tries = 0;                // 0 = default
    uint32_t ttl_min_s = 5;            // one delivery round sees one answer
    uint32_t ttl_max_s = 3600;
    uint32_t cache_entries_max = 4096;
    uint32_t mx_hosts_max = 10;
    uint32_t addresses_max = 16;
};

// "addr:port" list -> c-ares' "addr:port,[v6]:port" form; EINVAL when an
// entry is not a literal address (the port defaults to 53). create() fails
// with c-ares' text (ares_strerror) when the channel cannot be set up.
core::result<std::string> dns_servers_csv(const std::vector<std::string>& servers);

class resolver {
public:
    using done_fn = core::callback<void(const dns_answer&)>;

    static core::result<std::unique_ptr<resolver>> create(core::reactor& io, const resolver_options& options);
    ~resolver();
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;

    // The exchangers of a mail domain, addresses with `port` (25; tests
    // and labs use another).
    void resolve_mx(std::string_view domain, uint16_t port, done_fn done);
    // The addresses of one host (a [routes] next hop given by name), as a
    // single exchanger; no MX lookup.
    void resolve_host(std::string_view host, uint16_t port, done_fn done);

    // Ends every lookup without calling back and closes the sockets; the
    // reactor must turn before the resolver is destroyed.
    void shutdown() noexcept;

    size_t lookups_running() const noexcept;
    size_t cache_entries() const noexcept;

    struct impl;

private:
    explicit resolver(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> _impl;
};

}  // namespace posthorn::net
