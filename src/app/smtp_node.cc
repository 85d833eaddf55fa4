#include "smtp_node.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/reactor.hh"

#include <arpa/inet.h>
#include <fmt/format.h>

namespace posthorn::app {

proto::smtp::session_config make_session_config(const config& cfg) {
    proto::smtp::session_config s;
    s.hostname = cfg.hostname;
    s.max_message_size = cfg.max_message_size;
    s.max_recipients = cfg.max_recipients;
    s.line_length_max = cfg.line_length_max;
    s.errors_max = cfg.errors_max;
    s.body_window_bytes = cfg.body_window_bytes;
    s.bare_newlines = cfg.bare_newlines == "normalize" ? proto::smtp::bare_newline_policy::normalize
                                                       : proto::smtp::bare_newline_policy::reject;
    s.vrfy = cfg.vrfy == "verify"     ? proto::smtp::vrfy_policy::verify
             : cfg.vrfy == "disabled" ? proto::smtp::vrfy_policy::disabled
                                      : proto::smtp::vrfy_policy::cannot_verify;
    s.expn_enabled = cfg.expn;
    s.forbid_unauth_pipelining = cfg.forbid_unauth_pipelining;
    return s;
}

smtp_node::smtp_node(const config& cfg, const directory::handle& dir, spool_sink& sink)
    : _cfg(cfg), _dir(dir), _sink(sink), _session_cfg(make_session_config(cfg)) {
    _sink.set_waiter_done(&smtp_node::on_commit_done, this);
}

bool smtp_node::is_trusted(std::string_view ip) const noexcept {
    char text[64];
    if (ip.size() >= sizeof text) return false;
    ip.copy(text, ip.size());
    text[ip.size()] = '\0';
    uint8_t bytes[16];
    if (inet_pton(AF_INET, text, bytes) == 1) {
        for (const auto& c : _cfg.trusted_networks)
            if (c.contains(bytes, false)) return true;
    } else if (inet_pton(AF_INET6, text, bytes) == 1) {
        for (const auto& c : _cfg.trusted_networks)
            if (c.contains(bytes, true)) return true;
    }
    return false;
}

void smtp_node::on_open(net::connection& c) noexcept {
    if (_metrics) _metrics->smtp_connections.fetch_add(1, std::memory_order_relaxed);
    if (c.over_limit() != net::limit_hit::none) {
        bool per_ip = c.over_limit() == net::limit_hit::per_ip;
        core::log::warn("event=smtp_refused conn={:x} client={} reason={}", c.id(), c.peer_address(),
                        per_ip ? "connections_per_ip" : "connections_per_shard");
        c.write(fmt::format("421 4.7.0 {} Error: too many connections{}\r\n", _cfg.hostname,
                            per_ip ? " from your address" : ""));
        c.close();
        return;
    }
    ++_opened;
    proto::smtp::peer_info peer{std::string(c.peer_address()), is_trusted(c.peer_address())};
    auto* s = new (std::nothrow) proto::smtp::session(_session_cfg, _dir, _sink, std::move(peer),
                                                      fmt::format("{:x}", c.id()));
    if (!s) {
        c.abort();
        return;
    }
    c.set_context(s);
    c.set_idle_timeout_ms(_cfg.command_timeout_ms);
    // Pre-greeting talkers: with reading paused since open, has_early_input()
    // is exact (kept input, or bytes already in the socket). A greet pause
    // (as Postfix postscreen's greet_wait) gives them time to show.
    if (_session_cfg.forbid_unauth_pipelining) c.pause_reading();
    if (_session_cfg.forbid_unauth_pipelining && _cfg.greet_pause_ms > 0) {
        _pausing.emplace(c.id(), &c);
        c.io().schedule_after(_cfg.greet_pause_ms,
                              [self = this, id = c.id()]() noexcept { self->on_greet_pause_over(id); });
        return;
    }
    greet(c);
}

void smtp_node::on_greet_pause_over(uint64_t conn_id) noexcept {
    auto it = _pausing.find(conn_id);
    if (it == _pausing.end()) return;  // gone meanwhile
    net::connection& c = *it->second;
    _pausing.erase(it);
    greet(c);
}

void smtp_node::greet(net::connection& c) noexcept {
    auto* s = static_cast<proto::smtp::session*>(c.context());
    if (!s || c.closing()) return;
    bool early = _session_cfg.forbid_unauth_pipelining && c.has_early_input();
    s->start(early);
    after_session_step(c, *s);
    if (!s->wants_close()) c.resume_reading();
}

void smtp_node::after_session_step(net::connection& c, proto::smtp::session& s) noexcept {
    std::string& out = s.output();
    if (!out.empty()) {
        if (c.output().empty()) std::swap(c.output(), out);
        else c.output().append(out);
        out.clear();
        c.flush();
    }
    if (s.wants_close()) {
        c.close();
        return;
    }
    c.set_idle_timeout_ms(s.in_data() ? _cfg.data_timeout_ms : _cfg.command_timeout_ms);
}

size_t smtp_node::on_data(net::connection& c, const core::slice& bytes) noexcept {
    auto* s = static_cast<proto::smtp::session*>(c.context());
    if (!s || c.closing()) return bytes.length;
    if (s->waiting_for_commit()) return 0;
    size_t used = s->feed(bytes);
    if (s->waiting_for_commit() && !_parked.count(c.id())) {
        _parked.emplace(c.id(), &c);
        _sink.park(c.id());
    }
    after_session_step(c, *s);
    return s->wants_close() ? bytes.length : used;
}

void smtp_node::on_commit_done(void* ctx, uint64_t token, bool ok) noexcept {
    auto* self = static_cast<smtp_node*>(ctx);
    auto it = self->_parked.find(token);
    if (it == self->_parked.end()) return;  // the client went away meanwhile
    net::connection& c = *it->second;
    self->_parked.erase(it);
    auto* s = static_cast<proto::smtp::session*>(c.context());
    if (!s) return;
    s->on_committed(ok);
    self->after_session_step(c, *s);
    if (!s->wants_close()) c.resume_reading();
}

void smtp_node::on_deadline(net::connection& c) noexcept {
    auto* s = static_cast<proto::smtp::session*>(c.context());
    if (!s) {
        c.abort();
        return;
    }
    if (s->waiting_for_commit()) {  // our disk is slow, not the client: wait
        c.set_idle_timeout_ms(_cfg.command_timeout_ms);
        return;
    }
    core::log::info("event=smtp_timeout conn={:x} client={} in_data={}", c.id(), c.peer_address(), s->in_data() ? 1 : 0);
    s->on_timeout();
    after_session_step(c, *s);
    c.close();
}

void smtp_node::on_close(net::connection& c) noexcept {
    if (_metrics) _metrics->smtp_connections.fetch_sub(1, std::memory_order_relaxed);
    auto* s = static_cast<proto::smtp::session*>(c.context());
    c.set_context(nullptr);
    _parked.erase(c.id());
    _pausing.erase(c.id());
    if (s) {
        s->on_disconnect();
        delete s;
    }
}

}  // namespace posthorn::app
