// The relay agent's side of next-hop resolution (see delivery.hh and
// relay_hops.hh): connecting to a destination's candidates in order, and
// what a lookup's outcome does to the items waiting for it.
#include "delivery.hh"

#include "posthorn/core/log.hh"

namespace posthorn::app {

bool delivery::open_connection(queue::destination_id d, uint32_t index, std::string_view last_error) noexcept {
    queue::ready_queue& q = _sched.at(d);
    std::string failure(last_error);
    for (;; ++index) {
        relay_hops::pick p = _next_hops.candidate(d, _hops[d], index);
        if (p.kind == relay_hops::pick_kind::resolving) return false;  // on_resolved() pumps again
        if (p.kind == relay_hops::pick_kind::exhausted) break;
        _opening = d;
        _opening_candidate = index;
        q.connection_opened();  // before connect(): on_open runs inside it
        ++connecting(d);
        auto c = _reg.connect(p.address, *this);
        if (c) return true;
        q.connection_closed();
        --connecting(d);
        failure = c.err().reason();
        core::log::warn("event=relay_connect_failed dest={} peer={} host={} reason=\"{}\"", q.name(),
                        p.address.text(), p.host, failure);
    }
    // Every candidate failed (or there was none): the destination is down,
    // its waiting items wait for a retry.
    q.on_transient_failure();
    defer_destination(d, proto::smtp::reply{0, failure});
    return false;
}

void delivery::on_resolved(queue::destination_id d, const net::dns_answer& answer) noexcept {
    if (_stopped) return;
    queue::ready_queue& q = _sched.at(d);
    switch (answer.outcome) {
    case net::dns_outcome::ok:
        core::log::debug("event=dns_resolved dest={} hosts={} first={}", q.name(), answer.hosts.size(),
                         answer.hosts.front().host);
        break;
    case net::dns_outcome::permanent:
        core::log::warn("event=dns_failed dest={} outcome=permanent reply=\"{} {}\"", q.name(), answer.code, answer.text);
        bounce_destination(d, proto::smtp::reply{answer.code, answer.text});
        break;
    case net::dns_outcome::temporary:
        core::log::warn("event=dns_failed dest={} outcome=temporary reply=\"{} {}\"", q.name(), answer.code, answer.text);
        q.on_transient_failure();
        defer_destination(d, proto::smtp::reply{answer.code, answer.text});
        break;
    }
    pump();
}

void delivery::bounce_destination(queue::destination_id d, const proto::smtp::reply& why) noexcept {
    for (item& work : take_waiting(d)) {
        auto mit = _messages.find(work.message_id);
        if (mit == _messages.end()) continue;
        std::vector<std::pair<target, proto::smtp::reply>> failed;
        for (target& t : work.targets) failed.emplace_back(std::move(t), why);
        bounce(work.message_id, mit->second, failed, {}, "5");
        maybe_done(work.message_id);
    }
}

}  // namespace posthorn::app
