// Local delivery across shards (see local_agent.hh).
#include "local_agent.hh"

#include "posthorn/core/log.hh"
#include "posthorn/queue.hh"

#include <xxhash.h>

#include <cerrno>

namespace posthorn::app {

uint32_t mailbox_owner(std::string_view user, uint32_t shards) noexcept {
    return shards <= 1 ? 0 : static_cast<uint32_t>(XXH3_64bits(user.data(), user.size()) % shards);
}

local_agent::local_agent(core::shard& here, store::shard_store& store, local_agent_table& table)
    : _shard(here), _store(store), _table(table) {
    _table[_shard.id()] = this;
}

local_agent::~local_agent() {
    if (_sync_timer) _shard.io().cancel(_sync_timer);
    _table[_shard.id()] = nullptr;
}

void local_agent::submit(uint32_t owner, std::unique_ptr<local_request> req) noexcept {
    req->agents = &_table;
    req->from_shard = _shard.id();
    if (owner == _shard.id()) {
        store_request(std::move(req));
        return;
    }
    send(owner, false, std::move(req));
}

void local_agent::send(uint32_t to, bool is_answer, std::unique_ptr<local_request> req) noexcept {
    if (!_outbox.empty()) {  // behind what waits already, in order
        _outbox.push_back({to, is_answer, std::move(req)});
        return;
    }
    core::shard_message m{is_answer ? &local_agent::on_answer : &local_agent::on_request, req.get()};
    if (_shard.send(to, m)) {
        (void)req.release();
        return;
    }
    _outbox.push_back({to, is_answer, std::move(req)});
}

void local_agent::on_request(core::shard* here, void* payload) noexcept {
    std::unique_ptr<local_request> req(static_cast<local_request*>(payload));
    // Shutting down: the spool keeps the message, a restart delivers it.
    if (!here) return;
    if (local_agent* a = (*req->agents)[here->id()]) a->store_request(std::move(req));
}

void local_agent::on_answer(core::shard* here, void* payload) noexcept {
    std::unique_ptr<local_request> req(static_cast<local_request*>(payload));
    if (!here) return;
    local_agent* a = (*req->agents)[here->id()];
    if (a && a->_answer) a->_answer(a->_answer_ctx, std::move(req));
}

void local_agent::store_request(std::unique_ptr<local_request> req) noexcept {
    bool any = false;
    for (local_rcpt& r : req->rcpts) {
        _prefix.clear();
        _prefix.append("Return-Path: <").append(req->return_path).append(">\r\nDelivered-To: ");
        _prefix.append(r.address).append("\r\n");
        auto d = _store.deliver(r.user, store::inbox, _prefix, req->content, req->arrival_unix_s, req->message_id);
        if (!d) {
            r.error = d.err().code ? d.err().code : EIO;
            r.why = d.err().reason();
            core::log::error("event=local_store_failed id={} user={} reason=\"{}\"",
                             queue::format_queue_id(req->message_id), r.user, r.why);
            continue;
        }
        any = true;
        req->store_seq = d->seq;
    }
    if (!any) {
        answer(std::move(req));
        return;
    }
    _waiting.push_back(std::move(req));
    if (_store.durable_seq() >= _waiting.back()->store_seq) complete();  // durability none
}

void local_agent::answer(std::unique_ptr<local_request> req) noexcept {
    const uint32_t to = req->from_shard;
    send(to, true, std::move(req));
}

void local_agent::complete() noexcept {
    while (!_waiting.empty() && _waiting.front()->store_seq <= _store.durable_seq()) {
        auto req = std::move(_waiting.front());
        _waiting.pop_front();
        if (_metrics)
            for (const local_rcpt& r : req->rcpts)
                if (r.error == 0) _metrics->local_deliveries.fetch_add(1, std::memory_order_relaxed);
        answer(std::move(req));
    }
    if (_store.failed()) {
        // What was stored and not made durable may be gone: say so.
        while (!_waiting.empty()) {
            auto req = std::move(_waiting.front());
            _waiting.pop_front();
            for (local_rcpt& r : req->rcpts)
                if (r.error == 0) {
                    r.error = EIO;
                    r.why = "mailbox store could not make the message durable";
                }
            answer(std::move(req));
        }
    }
}

void local_agent::turn() noexcept {
    while (!_outbox.empty()) {
        outgoing& o = _outbox.front();
        core::shard_message m{o.is_answer ? &local_agent::on_answer : &local_agent::on_request, o.req.get()};
        if (!_shard.send(o.to, m)) break;
        (void)o.req.release();
        _outbox.pop_front();
    }
    if (_syncs_left > 0 || !_store.needs_sync()) return;
    const uint64_t now = _shard.io().now_ms();
    if (now < _next_sync_ms) {
        if (!_sync_timer)
            _sync_timer = _shard.io().schedule(_next_sync_ms, [this]() noexcept { _sync_timer = {}; });
        return;
    }
    _next_sync_ms = now + sync_interval_ms;
    auto seq = _store.prepare_sync();
    if (!seq) {
        complete();
        return;
    }
    if (_store.durable_seq() >= *seq) {  // durability none
        complete();
        return;
    }
    _sync_seq = *seq;
    _sync_error = 0;
    std::vector<int> fds = _store.sync_fds();
    _syncs_left = static_cast<int>(fds.size());
    for (int fd : fds)
        _shard.io().fdatasync(fd, [this](core::result<void> r) noexcept {
            sync_done(_sync_seq, r.ok() ? 0 : (r.err().code > 0 ? r.err().code : EIO));
        });
}

void local_agent::sync_done(uint64_t seq, int err) noexcept {
    if (err && !_sync_error) _sync_error = err;
    if (--_syncs_left > 0) return;
    if (_sync_error) _store.sync_failed(_sync_error);
    else _store.synced(seq);
    complete();
}

}  // namespace posthorn::app
