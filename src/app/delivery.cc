// The queue manager and relay agent of one shard (see delivery.hh).
#include "delivery.hh"

#include "body_stream.hh"

#include "posthorn/core/log.hh"
#include "posthorn/queue/dsn.hh"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>

namespace posthorn::app {
namespace {
int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string_view domain_of(std::string_view address) {
    size_t at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

// The RFC 3463 code of a reply ("5.1.1"), or a default by class.
std::string status_of(const proto::smtp::reply& r, bool permanent) {
    const std::string& t = r.text;
    if (t.size() >= 5 && (t[0] == '2' || t[0] == '4' || t[0] == '5') && t[1] == '.') {
        size_t end = t.find(' ');
        return t.substr(0, end);
    }
    return permanent ? "5.0.0" : "4.0.0";
}

std::string reply_text(const proto::smtp::reply& r) {
    if (r.code == 0) return r.text.empty() ? std::string("no reply") : r.text;
    return fmt::format("{} {}", r.code, r.text);
}
}  // namespace

struct delivery::relay {
    net::connection* conn = nullptr;
    queue::destination_id dest = 0;
    proto::smtp::client client;
    body_stream body;
    queue::item_id current = 0;
    std::vector<proto::smtp::out_recipient> to;
    bool ready_once = false;
    uint32_t candidate = 0;  // which of the destination's addresses (relay_hops)
    bool idle = false;  // connected, waiting for work (in _idle)
    explicit relay(const proto::smtp::client_config& c) : client(c) {}
};

delivery::delivery(const config& cfg, const directory::handle& dir, spool::shard_spool& spool, spool_sink& sink,
                   net::registry& reg, core::reactor& io)
    : _cfg(cfg), _dir(dir), _spool(spool), _sink(sink), _reg(reg), _io(io),
      _sched(queue::destination_limits{cfg.max_connections_per_destination,
                                       std::min<uint32_t>(5, cfg.max_connections_per_destination)}),
      _next_hops(cfg, io, [this](queue::destination_id d, const net::dns_answer& a) noexcept { on_resolved(d, a); }) {
    for (const auto& [domain, target] : cfg.routes) {
        if (auto r = _routes.add(domain, target); !r)
            core::log::error("event=route_invalid domain={} target=\"{}\" reason=\"{}\"", domain, target, r.err().what);
    }
    if (!cfg.retry_ms.empty()) _retry.delays_ms = cfg.retry_ms;
    _retry.lifetime_ms = cfg.lifetime_ms;
}

delivery::~delivery() {
    if (_timer) _io.cancel(_timer);
    if (_publish_timer) _io.cancel(_publish_timer);
}

void delivery::stop() noexcept {
    _stopped = true;
    _next_hops.shutdown();
    if (_publish_timer) _io.cancel(_publish_timer);
    if (_timer) _io.cancel(_timer);
    _publish_timer = {};
    _timer = {};
}

void delivery::set_metrics(shard_metrics* m) noexcept {
    _metrics = m;
    publish();
}

// Items per destination (ready or scheduled), the age of the oldest message
// among them, and the open connections; then again in a second.
void delivery::publish() noexcept {
    if (!_metrics || _stopped) return;
    std::vector<destination_row> rows(_sched.destination_count());
    int64_t now = wall_ms();
    for (queue::destination_id d = 0; d < rows.size(); ++d) {
        rows[d].name = _sched.at(d).name();
        rows[d].connections = _sched.at(d).connections();
    }
    for (const auto& [id, it] : _items) {
        destination_row& r = rows[it.dest];
        ++r.waiting;
        auto m = _messages.find(it.message_id);
        if (m != _messages.end() && now > static_cast<int64_t>(m->second.first_attempt_ms))
            r.oldest_age_ms = std::max<uint64_t>(r.oldest_age_ms, static_cast<uint64_t>(now) - m->second.first_attempt_ms);
    }
    _metrics->queue_messages.store(static_cast<int64_t>(_messages.size()), std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> g(_metrics->destinations_lock);
        _metrics->destinations.swap(rows);
    }
    _publish_timer = _io.schedule_after(1000, [this]() noexcept {
        _publish_timer = {};
        publish();
    });
}

size_t delivery::flush() noexcept {
    size_t n = _sched.make_all_due(_io.now_ms());
    core::log::info("event=queue_flush items={}", n);
    pump();
    return n;
}

bool delivery::remove(uint64_t id) noexcept {
    if (auto it = _messages.find(id); it != _messages.end() && it->second.local_in_flight > 0) {
        // Owner shards are reading its content from the spool's files: the
        // tombstone (which may unlink them) waits for their answers.
        it->second.removed = true;
        core::log::info("event=queue_delete id={} note=\"after the local deliveries in flight\"",
                        queue::format_queue_id(id));
        return true;
    }
    bool known = _messages.erase(id) > 0;
    if (!known && !_spool.is_live(id)) return false;
    // Items of it still queued find no message and are dropped when taken.
    if (auto r = _spool.append_message_done(id); !r) {
        core::log::error("event=queue_delete_failed id={} reason=\"{}\"", queue::format_queue_id(id), r.err().reason());
        return false;
    }
    core::log::info("event=queue_delete id={}", queue::format_queue_id(id));
    return true;
}

queue::item_id delivery::add_item(item&& it) {
    queue::item_id id = _next_item++;
    _items.emplace(id, std::move(it));
    return id;
}

void delivery::enqueue(uint64_t id, queue::envelope&& env, spool::recovered_message&& where) {
    message m;
    m.rcpts.assign(env.rcpts.size(), rcpt_state::waiting);
    m.targets_left.assign(env.rcpts.size(), 0);
    m.held_part.assign(env.rcpts.size(), 0);
    m.bounced_part.assign(env.rcpts.size(), 0);
    for (uint32_t done : where.done_rcpts)
        if (done < m.rcpts.size()) m.rcpts[done] = rcpt_state::done;
    m.left = 0;
    for (auto st : m.rcpts) m.left += st != rcpt_state::done;
    m.env = std::move(env);
    m.where = std::move(where);
    m.first_attempt_ms = m.env.received_unix_ms > 0 ? static_cast<uint64_t>(m.env.received_unix_ms) : wall_ms();
    auto [it, fresh] = _messages.try_emplace(id, std::move(m));
    if (!fresh) return;
    if (it->second.left == 0) {
        maybe_done(id);
        return;
    }
    route_recipients(id, it->second);
    if (it->second.left == 0) {  // every recipient bounced (or was a duplicate) while routing
        maybe_done(id);
        return;
    }
    bool routed = false;
    for (uint32_t n : it->second.targets_left) routed |= n > 0;
    // Nothing this shard can deliver yet: the spool keeps the message (a
    // restart routes it again), memory does not.
    if (!routed) {
        _messages.erase(it);
        return;
    }
    pump();
}

// [aliases], recursively (depth 8 at most: a loop ends there), each final
// address once.
void delivery::expand(std::string_view address, std::vector<std::string>& out, int depth) const {
    directory::resolution r = _dir.current().resolve(address);
    if (r.kind == directory::address_kind::alias && r.targets && depth < 8) {
        for (const std::string& t : *r.targets) expand(t, out, depth + 1);
        return;
    }
    std::string a = directory::to_lower(address);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
}

void delivery::route_recipients(uint64_t id, message& m) {
    std::unordered_map<queue::destination_id, std::vector<target>> by_dest;
    std::vector<std::string> finals;
    std::vector<std::pair<target, proto::smtp::reply>> unknown;
    std::vector<std::string> taken;  // final addresses of this message: each gets one copy
    const char* held_why = nullptr;
    for (uint32_t i = 0; i < m.rcpts.size(); ++i) {
        if (m.rcpts[i] != rcpt_state::waiting) continue;
        const queue::recipient& rc = m.env.rcpts[i];
        finals.clear();
        expand(rc.address, finals, 0);
        uint32_t duplicates = 0;
        for (std::string& a : finals) {
            // Two recipients that reach one address (user1 and an alias of
            // user1) deliver once, as Postfix's duplicate filter does.
            if (std::find(taken.begin(), taken.end(), a) != taken.end()) {
                ++duplicates;
                continue;
            }
            taken.push_back(a);
            std::string domain(domain_of(a));
            queue::next_hop hop = _routes.route(domain, _dir.current().is_local_domain(domain));
            std::string user;
            const bool deferred = hop.how == queue::next_hop::kind::local ? _cfg.defer_local || !_local
                                                                          : _cfg.defer_smtp;
            if (deferred) {
                m.held_part[i] = 1;
                held_why = "its transport is in [queue] defer_transports";
                continue;
            }
            if (hop.how == queue::next_hop::kind::local) {
                directory::resolution r = _dir.current().resolve(a);
                if (r.kind != directory::address_kind::local_user || !r.owner) {
                    // An alias target in a local domain that names nobody.
                    ++m.targets_left[i];
                    unknown.emplace_back(target{i, a, {}, {}},
                                         proto::smtp::reply{550, "5.1.1 <" + a + ">: no such user here"});
                    continue;
                }
                user = r.owner->name;
            }
            queue::destination_id d = _sched.destination(hop.key());
            if (_hops.size() <= d) _hops.resize(d + 1);
            _hops[d] = hop;
            std::string orcpt = rc.orcpt;
            if (orcpt.empty() && a != directory::to_lower(rc.address)) {
                orcpt = "rfc822;";  // RFC 3461 §4.2: xtext of the original address
                queue::append_xtext(orcpt, rc.address);
            }
            by_dest[d].push_back(target{i, std::move(a), std::move(orcpt), std::move(user)});
            ++m.targets_left[i];
        }
        if (m.targets_left[i] == 0 && !m.held_part[i] && duplicates > 0) {
            core::log::info("event=delivery id={} rcpt=<{}> status=duplicate note=\"another recipient reaches the "
                            "same address\"",
                            queue::format_queue_id(id), rc.address);
            if (auto r = _spool.append_rcpt_done(id, i, spool::rcpt_status::delivered); !r)
                core::log::error("event=spool_rcpt_done_failed id={} rcpt={} reason=\"{}\"",
                                 queue::format_queue_id(id), i, r.err().reason());
            m.rcpts[i] = rcpt_state::done;
            if (m.left) --m.left;
            continue;
        }
        if (m.targets_left[i] == 0) m.rcpts[i] = rcpt_state::held;
    }
    if (held_why)
        core::log::debug("event=delivery_held id={} note=\"{}; the message stays in the spool\"",
                         queue::format_queue_id(id), held_why);
    for (auto& [d, targets] : by_dest) _sched.schedule(add_item(item{id, d, std::move(targets)}), d, _io.now_ms());
    if (!unknown.empty()) bounce(id, m, unknown, {}, "5.1.1");
}

void delivery::arm_timer(uint64_t sleep_ms) noexcept {
    uint64_t at = _io.now_ms() + sleep_ms;
    if (_timer && _timer_at <= at) return;
    if (_timer) _io.cancel(_timer);
    _timer_at = at;
    _timer = _io.schedule(at, [this]() noexcept {
        _timer = {};
        pump();
    });
}

void delivery::pump() noexcept {
    if (_stopped) return;
    (void)_sched.pop(_io.now_ms(), _startable);  // the timer below covers "sleep"
    // Idle connections take waiting items first, also where the budget is
    // used up (all its connections idle: pop does not list those).
    for (queue::destination_id d = 0; d < _idle.size(); ++d) {
        queue::ready_queue& q = _sched.at(d);
        while (q.waiting() > 0 && !_idle[d].empty()) {
            relay* r = _idle[d].back();
            leave_idle(*r);
            handle(*r, next_transaction(*r));
        }
    }
    for (queue::destination_id d : _startable) {
        if (_hops[d].how == queue::next_hop::kind::local) {
            dispatch_local(d);
            continue;
        }
        queue::ready_queue& q = _sched.at(d);
        // Enough connections for the waiting items, within the budget; a
        // connection not greeted yet will take one item when it is.
        while (q.can_open() && connecting(d) < q.waiting())
            if (!open_connection(d)) break;  // a lookup runs, or the items were deferred
    }
    // Scheduled items need the timer also while others are being sent.
    if (uint64_t due = _sched.next_due_ms(); due != queue::scheduler::no_due)
        arm_timer(due > _io.now_ms() ? due - _io.now_ms() : 0);
}

// Every waiting local item goes to the owner shards of its recipients at
// once: no connections to budget, the owners' group commits batch them.
void delivery::dispatch_local(queue::destination_id d) noexcept {
    queue::ready_queue& q = _sched.at(d);
    std::vector<spool::extent> content;
    while (auto id = q.take()) {
        auto it = _items.find(*id);
        if (it == _items.end()) continue;
        item work = std::move(it->second);
        _items.erase(it);
        auto mit = _messages.find(work.message_id);
        if (mit == _messages.end() || mit->second.removed) continue;
        message& m = mit->second;
        content.clear();
        if (auto r = _spool.content_extents(m.where, content); !r) {
            core::log::error("event=local_read_failed id={} reason=\"{}\"", queue::format_queue_id(work.message_id),
                             r.err().reason());
            defer(std::move(work), proto::smtp::reply{451, "4.3.0 spool read failed"});
            continue;
        }
        ++m.attempts;
        // One request per owner shard (few: usually one recipient, one owner).
        _local_requests.clear();
        for (target& t : work.targets) {
            const uint32_t owner = mailbox_owner(t.user, _shards);
            auto at = std::find_if(_local_requests.begin(), _local_requests.end(),
                                   [owner](const auto& r) { return r.first == owner; });
            if (at == _local_requests.end()) at = _local_requests.insert(at, {owner, nullptr});
            auto& req = at->second;
            if (!req) {
                req = std::make_unique<local_request>();
                req->message_id = work.message_id;
                req->dest = d;
                req->return_path = m.env.mail_from;
                req->arrival_unix_s = m.env.received_unix_ms / 1000;
                req->content = content;
            }
            req->rcpts.push_back(local_rcpt{std::move(t.user), std::move(t.address), std::move(t.orcpt), t.rcpt, 0, {}});
        }
        for (auto& [owner, req] : _local_requests) {
            ++m.local_in_flight;
            _local->submit(owner, std::move(req));
        }
    }
}

void delivery::local_answered(std::unique_ptr<local_request> req) noexcept {
    const uint64_t id = req->message_id;
    auto mit = _messages.find(id);
    if (mit == _messages.end()) return;
    message& m = mit->second;
    if (m.local_in_flight) --m.local_in_flight;
    if (m.removed) {
        if (m.local_in_flight == 0) {
            _messages.erase(mit);
            (void)remove(id);
        }
        return;
    }
    item again{id, req->dest, {}};
    std::vector<std::pair<target, proto::smtp::reply>> bounced;
    proto::smtp::reply last;
    for (local_rcpt& r : req->rcpts) {
        target t{r.rcpt_index, std::move(r.address), std::move(r.orcpt), std::move(r.user)};
        if (r.error == 0) {
            finish_target(id, m, t, true, proto::smtp::reply{250, "2.0.0 stored in mailbox"}, "local");
        } else if (r.error == EINVAL) {  // the store cannot hold this user's name: retrying will not help
            bounced.emplace_back(std::move(t), proto::smtp::reply{550, "5.3.0 mailbox store: " + r.why});
        } else {
            last = proto::smtp::reply{451, "4.3.0 mailbox store: " + r.why};
            again.targets.push_back(std::move(t));
        }
    }
    if (!bounced.empty()) bounce(id, m, bounced, {}, "5");
    if (!again.targets.empty()) defer(std::move(again), last);
    maybe_done(id);
    pump();
}

uint32_t& delivery::connecting(queue::destination_id d) {
    if (_connecting.size() <= d) _connecting.resize(d + 1, 0);
    return _connecting[d];
}

// The destination is down: every item waiting for it waits for a retry.
void delivery::defer_destination(queue::destination_id d, const proto::smtp::reply& why) noexcept {
    for (item& work : take_waiting(d)) defer(std::move(work), why);
}

std::vector<delivery::item> delivery::take_waiting(queue::destination_id d) {
    std::vector<queue::item_id> drained;
    _sched.at(d).drain(drained);
    std::vector<item> out;
    out.reserve(drained.size());
    for (queue::item_id id : drained) {
        auto it = _items.find(id);
        if (it == _items.end()) continue;
        out.push_back(std::move(it->second));
        _items.erase(it);
    }
    return out;
}

void delivery::on_open(net::connection& c) noexcept {
    proto::smtp::client_config cc;
    cc.helo_name = _cfg.hostname;
    auto r = std::make_unique<relay>(cc);
    r->conn = &c;
    r->dest = _opening;
    r->candidate = _opening_candidate;
    c.set_context(r.get());
    c.set_idle_timeout_ms(static_cast<uint32_t>(std::min<uint64_t>(_cfg.command_timeout_ms, UINT32_MAX)));
    _relays.emplace(c.id(), std::move(r));
    if (_metrics) _metrics->relay_connections.fetch_add(1, std::memory_order_relaxed);
}

size_t delivery::on_data(net::connection& c, const core::slice& bytes) noexcept {
    auto* r = static_cast<relay*>(c.context());
    if (!r || c.closing()) return bytes.length;
    handle(*r, r->client.feed(bytes.view()));
    return bytes.length;
}

void delivery::on_deadline(net::connection& c) noexcept {
    auto* r = static_cast<relay*>(c.context());
    if (r && r->idle) {  // nothing came for the destination: say goodbye
        leave_idle(*r);
        handle(*r, r->client.quit());
        return;
    }
    if (r) core::log::warn("event=relay_timeout dest={} peer={}", _sched.at(r->dest).name(), c.peer_address());
    c.abort();
}

void delivery::handle(relay& r, proto::smtp::client_event ev) noexcept {
    using proto::smtp::client_event;
    for (;;) {
        if (!r.client.output().empty()) {
            r.conn->write(r.client.output());
            r.client.output().clear();
        }
        switch (ev) {
        case client_event::none: return;
        case client_event::ready:
            if (!r.ready_once) {
                r.ready_once = true;
                --connecting(r.dest);
            }
            ev = next_transaction(r);
            continue;
        case client_event::send_body:
            ev = send_body(r);
            continue;
        case client_event::done:
            finish_item(r, r.client.rcpt_replies());
            ev = next_transaction(r);
            continue;
        case client_event::failed: {
            const proto::smtp::reply& why = r.client.session_reply();
            if (r.current) finish_item(r, r.client.rcpt_replies());
            if (!why.permanent()) _sched.at(r.dest).on_transient_failure();
            core::log::warn("event=relay_session_failed dest={} peer={} reply=\"{}\"", _sched.at(r.dest).name(),
                            r.conn->peer_address(), reply_text(why));
            leave_idle(r);  // e.g. a 421 while idle: not to be handed work before on_close
            r.conn->close();
            return;
        }
        case client_event::closed:
            leave_idle(r);
            r.conn->close();
            return;
        }
    }
}

proto::smtp::client_event delivery::next_transaction(relay& r) noexcept {
    queue::ready_queue& q = _sched.at(r.dest);
    while (auto id = q.take()) {
        auto it = _items.find(*id);
        if (it == _items.end()) continue;
        item& work = it->second;
        auto mit = _messages.find(work.message_id);
        if (mit == _messages.end()) {
            _items.erase(it);
            continue;
        }
        message& m = mit->second;
        r.current = *id;
        r.to.clear();
        for (const target& t : work.targets)
            r.to.push_back(proto::smtp::out_recipient{t.address, m.env.rcpts[t.rcpt].notify, t.orcpt});
        ++m.attempts;
        proto::smtp::transaction tx;
        tx.mail_from = m.env.mail_from;
        tx.rcpts = r.to;
        tx.size = m.where.content_bytes;
        tx.eight_bit = m.env.body == queue::body_type::eight_bit_mime;
        tx.smtputf8 = m.env.smtputf8;
        tx.ret = static_cast<uint8_t>(m.env.ret);
        tx.envid = m.env.envid;
        return r.client.start(tx);
    }
    // Nothing more for this destination now: stay connected a little, for
    // the next message to the same place (as Postfix's connection cache).
    r.idle = true;
    r.conn->set_idle_timeout_ms(static_cast<uint32_t>(std::min<uint64_t>(_cfg.connection_cache_time_ms, UINT32_MAX)));
    idle_for(r.dest).push_back(&r);
    return proto::smtp::client_event::none;
}

std::vector<delivery::relay*>& delivery::idle_for(queue::destination_id d) {
    if (_idle.size() <= d) _idle.resize(d + 1);
    return _idle[d];
}

void delivery::leave_idle(relay& r) noexcept {
    if (!r.idle) return;
    r.idle = false;
    auto& v = idle_for(r.dest);
    std::erase(v, &r);
    r.conn->set_idle_timeout_ms(static_cast<uint32_t>(std::min<uint64_t>(_cfg.command_timeout_ms, UINT32_MAX)));
}

// On the 354, then again from on_drained(): the next window of the body,
// and body_sent() once the terminator is queued. A window waits in the
// connection's output until the kernel has taken all of the one before
// (on_drained at 0); the socket's own buffer keeps the wire busy meanwhile,
// and the memory per connection stays at one window. The message is looked
// up again for every window: a `queue delete` meanwhile ends the
// transaction without the terminator (its segments may be gone already).
proto::smtp::client_event delivery::send_body(relay& r) noexcept {
    auto it = _items.find(r.current);
    if (it == _items.end()) return r.client.connection_lost();
    const item& work = it->second;
    auto mit = _messages.find(work.message_id);
    if (mit == _messages.end()) return r.client.connection_lost();  // deleted meanwhile: end the transaction
    const message& m = mit->second;
    if (!r.body.active()) r.body.start();
    if (!_window) _window = std::make_unique<char[]>(body_stream::window_bytes);
    auto done = r.body.fill(_spool, m.where, {_window.get(), body_stream::window_bytes}, r.conn->output());
    if (!done) {
        core::log::error("event=relay_read_failed id={} offset={} reason=\"{}\"", queue::format_queue_id(work.message_id),
                         r.body.offset(), done.err().reason());
        return r.client.connection_lost();  // outcomes unknown: retried
    }
    r.conn->flush();
    if (*done) return r.client.body_sent();
    r.conn->notify_drained(0);
    return proto::smtp::client_event::none;
}

void delivery::on_drained(net::connection& c) noexcept {
    auto* r = static_cast<relay*>(c.context());
    if (r && r->body.active()) handle(*r, send_body(*r));
}

void delivery::finish_item(relay& r, const std::vector<proto::smtp::reply>& replies) noexcept {
    auto it = _items.find(r.current);
    r.current = 0;
    if (it == _items.end()) return;
    item work = std::move(it->second);
    _items.erase(it);
    auto mit = _messages.find(work.message_id);
    if (mit == _messages.end()) return;
    message& m = mit->second;
    std::string remote(r.conn->peer_address());
    queue::ready_queue& q = _sched.at(work.dest);
    item again{work.message_id, work.dest, {}};
    proto::smtp::reply last_transient;
    std::vector<std::pair<target, proto::smtp::reply>> bounced;
    bool any_ok = false;
    for (size_t j = 0; j < work.targets.size(); ++j) {
        target& t = work.targets[j];
        const proto::smtp::reply& rep = j < replies.size() ? replies[j] : proto::smtp::reply{};
        if (rep.ok()) {
            any_ok = true;
            finish_target(work.message_id, m, t, true, rep, remote);
        } else if (rep.permanent()) {
            bounced.emplace_back(std::move(t), rep);
        } else {
            again.targets.push_back(std::move(t));
            last_transient = rep;
        }
    }
    if (any_ok) q.on_success();
    if (!bounced.empty()) bounce(work.message_id, m, bounced, remote, "5");
    if (!again.targets.empty()) defer(std::move(again), last_transient);
    maybe_done(work.message_id);
}

void delivery::finish_target(uint64_t id, message& m, const target& t, bool delivered,
                             const proto::smtp::reply& why, const std::string& remote) noexcept {
    const uint32_t i = t.rcpt;
    const std::string& original = m.env.rcpts[i].address;
    core::log::info("event=delivery id={} rcpt=<{}>{}{}{} status={} relay={} reply=\"{}\"", queue::format_queue_id(id),
                    t.address, t.address == original ? "" : " orig=<", t.address == original ? "" : original,
                    t.address == original ? "" : ">", delivered ? "sent" : "bounced", remote.empty() ? "none" : remote,
                    reply_text(why));
    if (_metrics) {
        (delivered ? _metrics->rcpts_delivered : _metrics->rcpts_bounced).fetch_add(1, std::memory_order_relaxed);
        int64_t age_ms = wall_ms() - m.env.received_unix_ms;
        if (delivered && m.env.received_unix_ms > 0 && age_ms >= 0)
            _metrics->delivery_latency.observe(static_cast<uint64_t>(age_ms) * 1000);
    }
    if (!delivered) m.bounced_part[i] = 1;
    if (m.targets_left[i] > 0 && --m.targets_left[i] > 0) return;
    if (m.held_part[i]) {  // the rest is held ([queue] defer_transports): it waits in the spool
        m.rcpts[i] = rcpt_state::held;
        return;
    }
    auto r = _spool.append_rcpt_done(id, i, m.bounced_part[i] ? spool::rcpt_status::bounced : spool::rcpt_status::delivered);
    if (!r)
        core::log::error("event=spool_rcpt_done_failed id={} rcpt={} reason=\"{}\"", queue::format_queue_id(id), i,
                         r.err().reason());
    m.rcpts[i] = rcpt_state::done;
    if (m.left) --m.left;
}

void delivery::defer(item&& it, const proto::smtp::reply& why) noexcept {
    auto mit = _messages.find(it.message_id);
    if (mit == _messages.end()) return;
    message& m = mit->second;
    int64_t now = wall_ms();
    auto d = _retry.after_failure(std::max<uint32_t>(m.attempts, 1), m.first_attempt_ms, static_cast<uint64_t>(now));
    if (d.expired) {
        std::vector<std::pair<target, proto::smtp::reply>> expired;
        for (target& t : it.targets)
            expired.emplace_back(std::move(t),
                                 proto::smtp::reply{why.code, "4.4.7 delivery time expired; last: " + reply_text(why)});
        bounce(it.message_id, m, expired, {}, "4.4.7");
        maybe_done(it.message_id);
        return;
    }
    if (_metrics) _metrics->rcpts_deferred.fetch_add(it.targets.size(), std::memory_order_relaxed);
    for (const target& t : it.targets)
        core::log::info("event=delivery id={} rcpt=<{}> status=deferred retry_in_s={} reply=\"{}\"",
                        queue::format_queue_id(it.message_id), t.address,
                        (d.retry_at_ms - static_cast<uint64_t>(now)) / 1000, reply_text(why));
    queue::destination_id dest = it.dest;
    _sched.schedule(add_item(std::move(it)), dest, _io.now_ms() + (d.retry_at_ms - static_cast<uint64_t>(now)));
}

void delivery::bounce(uint64_t id, message& m, const std::vector<std::pair<target, proto::smtp::reply>>& failed,
                      const std::string& remote, std::string_view status_override) noexcept {
    std::vector<std::string> statuses, diagnostics;
    std::vector<queue::dsn_recipient> report;
    statuses.reserve(failed.size());
    diagnostics.reserve(failed.size());
    int64_t now = wall_ms();
    // A bounce (from <>) that bounces goes to the postmaster instead, as
    // Postfix's double bounce; one to the postmaster that bounces is dropped
    // (logged), so nothing loops.
    const std::string postmaster = "postmaster@" + _dir.current().primary_domain();
    const bool double_bounce = m.env.mail_from.empty();
    for (const auto& [t, rep] : failed) {
        finish_target(id, m, t, false, rep, remote);
        const queue::recipient& rc = m.env.rcpts[t.rcpt];
        if (double_bounce) {
            if (directory::to_lower(rc.address) == postmaster) {
                core::log::error("event=double_bounce_dropped id={} rcpt=<{}> reply=\"{}\" note=\"a bounce to the "
                                 "postmaster could not be delivered\"",
                                 queue::format_queue_id(id), t.address, reply_text(rep));
                continue;
            }
        } else if (!queue::dsn_wanted(m.env.mail_from, rc.notify, queue::dsn_action::failed)) {
            continue;
        }
        statuses.push_back(status_override.size() > 1 ? std::string(status_override) : status_of(rep, true));
        diagnostics.push_back(reply_text(rep));
        report.push_back(queue::dsn_recipient{t.address, t.orcpt, rc.notify, queue::dsn_action::failed,
                                              statuses.back(), remote, diagnostics.back(), now});
    }
    if (report.empty()) return;
    // The report carries the whole original only up to its size cap, else
    // the header: never read more than that cap (plus room for the header).
    const uint64_t original_max = queue::dsn_request{}.original_bytes_max, header_max = original_max + 64 * 1024;
    std::string original;
    uint64_t want = m.where.content_bytes <= original_max ? original_max : header_max;
    if (auto rd = _spool.read_content(m.where, original, want); !rd) original.clear();
    std::string unique = queue::format_queue_id(id);
    queue::dsn_request req;
    req.reporting_mta = _cfg.hostname;
    req.sender = double_bounce ? postmaster : m.env.mail_from;
    req.envid = m.env.envid;
    req.ret = m.env.ret;
    req.arrival_unix_ms = m.env.received_unix_ms;
    req.now_unix_ms = now;
    req.original = original;
    req.unique = unique;
    req.rcpts = report;
    queue::envelope env;
    env.mail_from.clear();  // a DSN comes from the null sender
    env.rcpts.push_back(queue::recipient{double_bounce ? postmaster : m.env.mail_from, {}, 0});
    env.helo = _cfg.hostname;
    env.client_address = "127.0.0.1";
    env.received_unix_ms = now;
    auto sub = _sink.submit(std::move(env), queue::build_dsn(req));
    if (!sub)
        core::log::error("event=dsn_failed id={} reason=\"{}\"", unique, sub.err().reason());
    else if (_metrics)
        _metrics->dsns_sent.fetch_add(1, std::memory_order_relaxed);
    if (sub)
        core::log::info("event=dsn id={} dsn_id={} to=<{}> recipients={}{}", unique, queue::format_queue_id(*sub),
                        double_bounce ? postmaster : m.env.mail_from, report.size(),
                        double_bounce ? " note=\"double bounce: the bounce itself bounced\"" : "");
}

void delivery::maybe_done(uint64_t id) noexcept {
    auto it = _messages.find(id);
    if (it == _messages.end()) return;
    if (it->second.left != 0) {
        // What is left is held (local, MX): the spool keeps it, memory does not.
        for (auto st : it->second.rcpts)
            if (st == rcpt_state::waiting) return;
        for (uint32_t n : it->second.targets_left)
            if (n) return;
        _messages.erase(it);
        return;
    }
    if (auto r = _spool.append_message_done(id); !r)
        core::log::error("event=spool_message_done_failed id={} reason=\"{}\"", queue::format_queue_id(id),
                         r.err().reason());
    _messages.erase(it);
}

void delivery::on_close(net::connection& c) noexcept {
    auto* r = static_cast<relay*>(c.context());
    if (!r) return;
    queue::ready_queue& q = _sched.at(r->dest);
    leave_idle(*r);
    if (r->current) {
        r->client.connection_lost();
        finish_item(*r, r->client.rcpt_replies());
    }
    bool try_next = false;
    const queue::destination_id dest = r->dest;
    const uint32_t next = r->candidate + 1;
    std::string why;
    if (!r->ready_once) {
        // Never got a greeting: refused, unreachable, timed out, or a bad
        // greeting. The next exchanger or address is tried (RFC 5321 §5.1);
        // once none is left, the waiting items wait for a retry.
        --connecting(r->dest);
        if (c.reason() == net::close_reason::error)
            core::log::warn("event=relay_connect_failed dest={} peer={} errno={}", q.name(), c.peer_address(),
                            -c.close_error());
        why = c.close_error() ? std::string(std::strerror(-c.close_error())) : std::string("connection closed");
        try_next = true;
    }
    q.connection_closed();
    _relays.erase(c.id());
    if (_metrics) _metrics->relay_connections.fetch_sub(1, std::memory_order_relaxed);
    if (try_next && _stopped) {
        q.on_transient_failure();
        defer_destination(dest, proto::smtp::reply{0, why});
    } else if (try_next) {
        open_connection(dest, next, why);
    }
    pump();
}

}  // namespace posthorn::app
