// task: an intrusive work item the reactor runs later in the current (or the
// next) loop turn, and task_queue, the FIFO that holds them. A task lives in
// the object that posts it; posting a queued task again is a no-op, and a
// task unlinks itself when destroyed, so an owner may die with it queued.
//
// Threading: shard-local, not thread-safe.
// Limits: none; a queue is a doubly linked list, nothing allocates.
#pragma once

#include <utility>

namespace posthorn::core {

class task {
public:
    using function = void (*)(void* ctx) noexcept;

    task() noexcept = default;
    task(function fn, void* ctx) noexcept : _fn(fn), _ctx(ctx) {}
    ~task() { unlink(); }
    task(const task&) = delete;
    task& operator=(const task&) = delete;

    void set(function fn, void* ctx) noexcept { _fn = fn; _ctx = ctx; }
    bool queued() const noexcept { return _next != nullptr; }
    void unlink() noexcept {
        if (!_next) return;
        _prev->_next = _next;
        _next->_prev = _prev;
        _prev = _next = nullptr;
    }
    void run() noexcept { _fn(_ctx); }
    void* ctx() const noexcept { return _ctx; }

private:
    friend class task_queue;
    task* _prev = nullptr;
    task* _next = nullptr;
    function _fn = nullptr;
    void* _ctx = nullptr;
};

class task_queue {
public:
    task_queue() noexcept { _head._prev = _head._next = &_head; }
    ~task_queue() { clear(); }
    task_queue(const task_queue&) = delete;
    task_queue& operator=(const task_queue&) = delete;

    bool empty() const noexcept { return _head._next == &_head; }
    void push(task& t) noexcept {
        if (t.queued()) return;
        t._prev = _head._prev;
        t._next = &_head;
        _head._prev->_next = &t;
        _head._prev = &t;
    }
    task* pop() noexcept {
        if (empty()) return nullptr;
        task* t = _head._next;
        t->unlink();
        return t;
    }
    // Moves every task of `other` to the end of this queue.
    void splice(task_queue& other) noexcept {
        if (other.empty()) return;
        task* first = other._head._next;
        task* last = other._head._prev;
        first->_prev = _head._prev;
        _head._prev->_next = first;
        last->_next = &_head;
        _head._prev = last;
        other._head._prev = other._head._next = &other._head;
    }
    void clear() noexcept {
        while (pop()) {
        }
    }

private:
    task _head;
};

}  // namespace posthorn::core
