// Candidate addresses per relay destination (see relay_hops.hh).
#include "relay_hops.hh"

#include "posthorn/core/log.hh"

#include <arpa/inet.h>

namespace posthorn::app {

namespace {
// The host of a hop as an endpoint, when it is an IP literal.
bool literal(const queue::host_port& hp, net::endpoint& out) {
    in6_addr probe{};
    bool v6 = inet_pton(AF_INET6, hp.host.c_str(), &probe) == 1;
    auto ep = net::parse_endpoint(v6 ? "[" + hp.host + "]:" + std::to_string(hp.port)
                                     : hp.host + ":" + std::to_string(hp.port));
    if (!ep) return false;
    out = *ep;
    return true;
}
}  // namespace

relay_hops::relay_hops(const config& cfg, core::reactor& io, resolved_fn on_resolved)
    : _io(io), _mx_port(cfg.mx_port), _on_resolved(on_resolved) {
    _report_failed.set(&relay_hops::on_no_resolver, this);
    net::resolver_options o;
    o.servers = cfg.dns_servers;
    o.timeout_ms = static_cast<uint32_t>(std::min<uint64_t>(cfg.dns_timeout_ms, UINT32_MAX));
    o.tries = cfg.dns_attempts;
    auto r = net::resolver::create(io, o);
    if (r)
        _dns = std::move(r.value());
    else
        core::log::error("event=dns_unavailable reason=\"{}\" note=\"MX and host-name destinations wait\"", r.err().what);
}

relay_hops::~relay_hops() { shutdown(); }

void relay_hops::shutdown() noexcept {
    if (_down) return;
    _down = true;
    _report_failed.unlink();
    if (_dns) _dns->shutdown();
}

relay_hops::state& relay_hops::at(queue::destination_id d) {
    if (_states.size() <= d) _states.resize(d + 1);
    return _states[d];
}

relay_hops::pick relay_hops::candidate(queue::destination_id d, const queue::next_hop& hop, uint32_t index) {
    state& s = at(d);
    if (s.resolving) return pick{pick_kind::resolving, {}, {}};
    if (index == 0 && (s.expires_ms == 0 || s.expires_ms <= _io.now_ms())) {
        net::endpoint ep;
        if (hop.how == queue::next_hop::kind::host && literal(hop.target, ep)) {
            s.targets = {target{ep, hop.target.host}};
            s.expires_ms = UINT64_MAX;
        } else if (!_down) {
            s.resolving = true;
            s.route_host = hop.how == queue::next_hop::kind::host;
            s.targets.clear();
            s.expires_ms = 0;
            auto done = [this, d](const net::dns_answer& a) noexcept { on_answer(d, a); };
            if (!_dns) {
                _failed_now.push_back(d);
                _io.post(_report_failed);
            } else if (s.route_host) {
                _dns->resolve_host(hop.target.host, hop.target.port, done);
            } else {
                _dns->resolve_mx(hop.target.host, _mx_port, done);
            }
            return pick{pick_kind::resolving, {}, {}};
        }
    }
    if (index >= s.targets.size()) return pick{pick_kind::exhausted, {}, {}};
    return pick{pick_kind::connect, s.targets[index].address, s.targets[index].host};
}

void relay_hops::on_answer(queue::destination_id d, const net::dns_answer& answer) noexcept {
    state& s = at(d);
    s.resolving = false;
    s.targets.clear();
    s.expires_ms = 0;
    if (answer.outcome == net::dns_outcome::ok) {
        for (const auto& mx : answer.hosts)
            for (const auto& ep : mx.addresses) s.targets.push_back(target{ep, mx.host});
        s.expires_ms = answer.expires_ms;
        _on_resolved(d, answer);
        return;
    }
    if (answer.outcome == net::dns_outcome::permanent && s.route_host) {
        net::dns_answer waits;
        waits.outcome = net::dns_outcome::temporary;
        waits.code = 451;
        waits.text = "4.4.4 the [routes] next hop does not resolve: " + answer.text;
        _on_resolved(d, waits);
        return;
    }
    _on_resolved(d, answer);
}

void relay_hops::on_no_resolver(void* ctx) noexcept {
    auto& self = *static_cast<relay_hops*>(ctx);
    std::vector<queue::destination_id> failed;
    failed.swap(self._failed_now);
    net::dns_answer a;
    a.outcome = net::dns_outcome::temporary;
    a.code = 451;
    a.text = "4.4.3 no DNS resolver (see the dns_unavailable log line)";
    for (queue::destination_id d : failed) self.on_answer(d, a);
}

}  // namespace posthorn::app
