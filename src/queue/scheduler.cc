// Scheduled -> ready queues and the per-destination connection budget.
#include "posthorn/queue/scheduler.hh"

#include "posthorn/core/panic.hh"

#include <algorithm>
#include <functional>

namespace posthorn::queue {

ready_queue::ready_queue(std::string name, destination_limits limits)
    : _name(std::move(name)), _limits(limits),
      _budget(std::max<uint32_t>(1, std::min(limits.initial_connections, limits.max_connections))) {}

std::optional<item_id> ready_queue::take() {
    if (_items.empty()) return std::nullopt;
    item_id id = _items.front().id;
    _items.pop_front();
    return id;
}

void ready_queue::drain(std::vector<item_id>& out) {
    for (const entry& e : _items) out.push_back(e.id);
    _items.clear();
}

void ready_queue::connection_opened() noexcept { ++_connections; }

void ready_queue::connection_closed() noexcept {
    PH_ASSERT(_connections > 0);
    --_connections;
}

void ready_queue::on_success() noexcept {
    if (_budget >= _limits.max_connections) return;
    if (++_successes >= _budget) {
        ++_budget;
        _successes = 0;
    }
}

void ready_queue::on_transient_failure() noexcept {
    _budget = std::max<uint32_t>(1, _budget / 2);
    _successes = 0;
}

destination_id scheduler::destination(std::string_view name) {
    auto it = _by_name.find(std::string(name));
    if (it != _by_name.end()) return it->second;
    auto id = static_cast<destination_id>(_queues.size());
    _queues.emplace_back(std::string(name), _limits);
    _by_name.emplace(std::string(name), id);
    return id;
}

ready_queue& scheduler::at(destination_id d) {
    PH_ASSERT(d < _queues.size());
    return _queues[d];
}

const ready_queue& scheduler::at(destination_id d) const {
    PH_ASSERT(d < _queues.size());
    return _queues[d];
}

void scheduler::schedule(item_id id, destination_id d, uint64_t due_ms) {
    PH_ASSERT(d < _queues.size());
    _heap.push_back(timed{due_ms, _order++, id, d});
    std::push_heap(_heap.begin(), _heap.end(), std::greater<>{});
}

size_t scheduler::make_all_due(uint64_t now_ms) noexcept {
    for (timed& t : _heap) t.due_ms = std::min(t.due_ms, now_ms);
    std::make_heap(_heap.begin(), _heap.end(), std::greater<>{});
    return _heap.size();
}

next_step scheduler::pop(uint64_t now_ms, std::vector<destination_id>& startable) {
    startable.clear();
    while (!_heap.empty() && _heap.front().due_ms <= now_ms) {
        std::pop_heap(_heap.begin(), _heap.end(), std::greater<>{});
        timed t = _heap.back();
        _heap.pop_back();
        _queues[t.dest].push(t.id, now_ms);
    }
    for (destination_id d = 0; d < _queues.size(); ++d)
        if (_queues[d].can_open()) startable.push_back(d);
    if (!startable.empty()) return {next_step::kind::items, 0};
    if (!_heap.empty()) return {next_step::kind::sleep, _heap.front().due_ms - now_ms};
    return {next_step::kind::empty, 0};
}

}  // namespace posthorn::queue
