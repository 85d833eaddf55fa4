#include "spool_sink.hh"

#include "posthorn/core/log.hh"

namespace posthorn::app {

spool_sink::spool_sink(spool::shard_spool& spool, uint32_t shard, uint64_t first_counter)
    : _spool(spool), _shard_bits(static_cast<uint64_t>(shard) << 56), _counter(first_counter & ((1ull << 56) - 1)) {}

core::result<uint64_t> spool_sink::begin_message() {
    if (_spool.failed()) return core::error{core::e_closed, "spool failed"};
    _counter = (_counter + 1) & ((1ull << 56) - 1);
    return _shard_bits | _counter;
}

void spool_sink::fill_iov(std::span<const core::slice> s) {
    _iov.clear();
    for (const auto& piece : s)
        if (piece.length) _iov.push_back(iovec{piece.data(), piece.length});
}

core::result<void> spool_sink::write_body(uint64_t id, std::span<const core::slice> body) {
    fill_iov(body);
    auto r = _spool.append_body(id, _iov);
    if (!r) return r.err();
    _fragments[id].push_back(r->payload);
    return {};
}

core::result<void> spool_sink::commit(uint64_t id, const queue::envelope& env, std::string_view received_header,
                                      std::span<const core::slice> body_tail) {
    _envelope_bytes.clear();
    queue::encode(env, _envelope_bytes);
    fill_iov(body_tail);
    iovec header{const_cast<char*>(received_header.data()), received_header.size()};
    spool::message_parts parts;
    parts.envelope = _envelope_bytes;
    parts.header = std::span<const iovec>(&header, received_header.empty() ? 0 : 1);
    auto frag = _fragments.find(id);
    if (frag != _fragments.end()) parts.fragments = frag->second;
    parts.tail = _iov;
    spool::recovered_message where;
    auto r = _spool.append_message(id, parts, _durable_fn ? &where : nullptr);
    if (frag != _fragments.end()) _fragments.erase(frag);
    if (!r) return r.err();
    ++_committed;
    if (_durable_fn) _committed_msgs.push_back(committed{r->commit_seq, id, env, std::move(where)});
    return {};
}

core::result<uint64_t> spool_sink::submit(queue::envelope env, std::string_view content) {
    auto id = begin_message();
    if (!id) return id.err();
    _envelope_bytes.clear();
    queue::encode(env, _envelope_bytes);
    iovec body{const_cast<char*>(content.data()), content.size()};
    spool::message_parts parts;
    parts.envelope = _envelope_bytes;
    parts.tail = std::span<const iovec>(&body, 1);
    spool::recovered_message where;
    auto r = _spool.append_message(*id, parts, &where);
    if (!r) return r.err();
    ++_committed;
    if (_durable_fn) _committed_msgs.push_back(committed{r->commit_seq, *id, std::move(env), std::move(where)});
    return *id;
}

void spool_sink::abort_message(uint64_t id) noexcept {
    auto frag = _fragments.find(id);
    if (frag == _fragments.end()) return;  // nothing was written: nothing to kill
    _fragments.erase(frag);
    auto r = _spool.append_abort(id);
    if (!r) core::log::error("event=spool_abort_failed id={:016X} what=\"{}\" reason=\"{}\"", id, r.err().what, r.err().reason());
}

int spool_sink::sync_to_start() noexcept {
    if (_syncs_in_flight >= max_syncs_in_flight || !_spool.needs_sync() || _spool.appended_seq() <= _sync_seq) return -1;
    if (_syncs_in_flight > 0 && _parked_since_sync < second_sync_min_waiters) return -1;
    _parked_since_sync = 0;
    _sync_seq = _spool.appended_seq();
    ++_syncs_in_flight;
    return _spool.sync_fd();
}

void spool_sink::sync_finished(uint64_t seq, int result) noexcept {
    --_syncs_in_flight;
    if (result == 0) {
        _spool.synced(seq);
    } else {
        core::log::error("event=spool_sync_failed errno={} note=\"spool refuses appends until restart\"", -result);
        _spool.sync_failed(-result);
    }
    complete_durable();
}

void spool_sink::complete_durable() noexcept {
    const uint64_t durable = _spool.durable_seq();
    const bool failed = _spool.failed();
    while (!_waiters.empty() && (_waiters.front().seq <= durable || failed)) {
        waiter w = _waiters.front();
        _waiters.pop_front();
        if (_metrics && w.seq <= durable) _metrics->messages_received.fetch_add(1, std::memory_order_relaxed);
        if (_done) _done(_done_ctx, w.token, w.seq <= durable);
    }
    // A failed spool hands nothing over: what reached the disk is recovered
    // (and delivered) at the next start.
    while (_durable_fn && !_committed_msgs.empty() && _committed_msgs.front().seq <= durable && !failed) {
        committed m = std::move(_committed_msgs.front());
        _committed_msgs.pop_front();
        _durable_fn(_durable_ctx, m.id, std::move(m.env), std::move(m.where));
    }
}

}  // namespace posthorn::app
