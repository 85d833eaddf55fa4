// The reactor's timer heap and deadline_timer (see core/timer.hh).
// Shard-local. Allocates only when the number of live timers grows.
#include "posthorn/core/timer.hh"
#include "posthorn/core/panic.hh"
#include "posthorn/core/reactor.hh"

namespace posthorn::core {

timer_id timer_heap::schedule(uint64_t deadline_ms, callback<void()> fn) {
    uint32_t index;
    if (!_free.empty()) {
        index = _free.back();
        _free.pop_back();
    } else {
        index = static_cast<uint32_t>(_nodes.size());
        _nodes.emplace_back();
    }
    node& n = _nodes[index];
    n.deadline_ms = deadline_ms;
    n.seq = _seq++;
    n.fn = fn;
    auto pos = static_cast<uint32_t>(_heap.size());
    _heap.push_back(index);
    n.heap_pos = pos;
    sift_up(pos);
    return timer_id{index, n.generation};
}

bool timer_heap::cancel(timer_id id) noexcept {
    if (!id || id.index >= _nodes.size()) return false;
    node& n = _nodes[id.index];
    if (n.generation != id.generation) return false;
    remove_at(n.heap_pos);
    return true;
}

uint64_t timer_heap::next_deadline() const noexcept {
    return _heap.empty() ? no_deadline : _nodes[_heap[0]].deadline_ms;
}

size_t timer_heap::fire_due(uint64_t now_ms) noexcept {
    const uint64_t seq_limit = _seq;
    size_t fired = 0;
    while (!_heap.empty()) {
        node& top = _nodes[_heap[0]];
        if (top.deadline_ms > now_ms || top.seq >= seq_limit) break;
        callback<void()> fn = top.fn;
        remove_at(0);
        fn();
        ++fired;
    }
    return fired;
}

bool timer_heap::less(uint32_t a, uint32_t b) const noexcept {
    const node& x = _nodes[a];
    const node& y = _nodes[b];
    return x.deadline_ms != y.deadline_ms ? x.deadline_ms < y.deadline_ms : x.seq < y.seq;
}

void timer_heap::place(uint32_t pos, uint32_t index) noexcept {
    _heap[pos] = index;
    _nodes[index].heap_pos = pos;
}

void timer_heap::sift_up(uint32_t pos) noexcept {
    uint32_t index = _heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!less(index, _heap[parent])) break;
        place(pos, _heap[parent]);
        pos = parent;
    }
    place(pos, index);
}

void timer_heap::sift_down(uint32_t pos) noexcept {
    uint32_t index = _heap[pos];
    auto size = static_cast<uint32_t>(_heap.size());
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= size) break;
        if (child + 1 < size && less(_heap[child + 1], _heap[child])) ++child;
        if (!less(_heap[child], index)) break;
        place(pos, _heap[child]);
        pos = child;
    }
    place(pos, index);
}

void timer_heap::remove_at(uint32_t pos) noexcept {
    PH_ASSERT(pos < _heap.size());
    uint32_t index = _heap[pos];
    node& n = _nodes[index];
    if (++n.generation == 0) n.generation = 1;  // 0 means "no timer"
    n.fn = {};
    _free.push_back(index);
    uint32_t last = _heap.back();
    _heap.pop_back();
    if (pos == _heap.size()) return;
    place(pos, last);
    if (pos > 0 && less(last, _heap[(pos - 1) / 2]))
        sift_up(pos);
    else
        sift_down(pos);
}

deadline_timer::~deadline_timer() {
    if (_id) _r->cancel(_id);
}

void deadline_timer::set_after(uint64_t delay_ms) noexcept { set_at(_r->now_ms() + delay_ms); }

void deadline_timer::set_at(uint64_t at_ms) noexcept {
    _at_ms = at_ms;
    if (at_ms == 0) return;
    if (_id && _scheduled_ms <= at_ms) return;  // later: moved when the entry fires
    if (_id) _r->cancel(_id);
    _scheduled_ms = at_ms;
    _id = _r->schedule(at_ms, [this]() noexcept { on_timer(); });
}

void deadline_timer::on_timer() noexcept {
    _id = {};
    _scheduled_ms = 0;
    if (_at_ms == 0) return;
    if (_r->now_ms() < _at_ms) {
        set_at(_at_ms);
        return;
    }
    _at_ms = 0;
    _on_expire(_ctx);
}

}  // namespace posthorn::core
