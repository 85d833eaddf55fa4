// queue/scheduler: the two-stage queue of one shard (STYLE.md #10, DESIGN.md
// "Queue and delivery"). Deliveries wait in a scheduled queue ordered by
// their next attempt; once due they move to the ready queue of their
// destination (a next hop: "local", a host, an MX domain), and each
// destination opens connections within a budget that adapts to feedback:
// +1 after `budget` successes in a row (additive increase), halved on a
// transient failure (4xx, 421, refused connection), never below one, never
// above max_connections_per_destination.
//
// pop() says what the delivery agents should do next: "items" (these
// destinations may open a connection now), "sleep N ms" (until the next
// scheduled delivery is due) or "empty"; nothing polls.
//
// The scheduler knows deliveries only by an opaque item id the caller hands
// in; what an item is (a message and some of its recipients) is the
// caller's business.
//
// Threading: shard-local, not thread-safe. Limits: none of its own (the
// spool bounds the number of messages). Errors: misuse (closing a connection
// never opened, taking from an unknown destination) panics.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace posthorn::queue {

using item_id = uint64_t;
using destination_id = uint32_t;

struct destination_limits {
    uint32_t max_connections = 20;     // [queue] max_connections_per_destination
    uint32_t initial_connections = 5;  // budget of a destination not seen before
};

// One next hop: its waiting items and connection budget.
class ready_queue {
public:
    ready_queue(std::string name, destination_limits limits);

    const std::string& name() const noexcept { return _name; }
    size_t waiting() const noexcept { return _items.size(); }
    uint32_t connections() const noexcept { return _connections; }
    uint32_t budget() const noexcept { return _budget; }
    // Items wait and the budget allows one more connection.
    bool can_open() const noexcept { return !_items.empty() && _connections < _budget; }
    // When the oldest waiting item became ready (0 if none).
    uint64_t oldest_ready_ms() const noexcept { return _items.empty() ? 0 : _items.front().ready_ms; }

    void push(item_id id, uint64_t ready_ms) { _items.push_back({id, ready_ms}); }
    std::optional<item_id> take();
    // Moves every waiting item out (a destination found dead: the caller
    // defers them all).
    void drain(std::vector<item_id>& out);

    void connection_opened() noexcept;
    void connection_closed() noexcept;
    void on_success() noexcept;
    void on_transient_failure() noexcept;

private:
    struct entry {
        item_id id;
        uint64_t ready_ms;
    };
    std::string _name;
    destination_limits _limits;
    std::deque<entry> _items;
    uint32_t _connections = 0;
    uint32_t _budget;
    uint32_t _successes = 0;  // since the budget last changed
};

struct next_step {
    enum class kind : uint8_t { items, sleep, empty };
    kind what = kind::empty;
    uint64_t sleep_ms = 0;  // for sleep
};

class scheduler {
public:
    explicit scheduler(destination_limits limits = {}) : _limits(limits) {}

    // The destination named so, created on first use; ids stay valid.
    destination_id destination(std::string_view name);
    ready_queue& at(destination_id d);
    const ready_queue& at(destination_id d) const;
    size_t destination_count() const noexcept { return _queues.size(); }

    // An item to try at due_ms (now or earlier: ready at the next pop).
    void schedule(item_id id, destination_id d, uint64_t due_ms);
    // Every scheduled item is due at now_ms (`posthorn queue flush`);
    // returns how many there were.
    size_t make_all_due(uint64_t now_ms) noexcept;
    size_t scheduled() const noexcept { return _heap.size(); }
    // When the earliest scheduled item is due (no_due when none).
    static constexpr uint64_t no_due = UINT64_MAX;
    uint64_t next_due_ms() const noexcept { return _heap.empty() ? no_due : _heap.front().due_ms; }

    // Moves the items due by now_ms to their ready queues; fills `startable`
    // with the destinations that may open a connection (each once).
    next_step pop(uint64_t now_ms, std::vector<destination_id>& startable);

private:
    struct timed {
        uint64_t due_ms;
        uint64_t order;  // schedule order breaks ties: FIFO among equals
        item_id id;
        destination_id dest;
        bool operator>(const timed& o) const noexcept {
            return due_ms != o.due_ms ? due_ms > o.due_ms : order > o.order;
        }
    };
    destination_limits _limits;
    std::vector<timed> _heap;  // min-heap through std::push_heap with greater<>
    uint64_t _order = 0;
    std::deque<ready_queue> _queues;  // deque: references stay valid as it grows
    std::unordered_map<std::string, destination_id> _by_name;
};

}  // namespace posthorn::queue
