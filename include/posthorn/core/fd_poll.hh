// fd_poll: a one-shot readiness wait on a descriptor the caller owns and
// reads or writes itself (a c-ares socket): "tell me once when fd is
// readable / writable". Embedded in its owner, which implements
// poll_handler; the reactor keeps its per-wait state in the fields below.
//
// Threading: shard-local; a poll belongs to the reactor it was armed on.
// Lifetime: the owner keeps the object alive while busy(). poll_cancel()
// makes the reactor forget the descriptor at once (so the caller may close
// it right after); an armed wait then ends with on_poll(-ECANCELED), later,
// from the loop. on_poll() is never called from inside poll_arm() or
// poll_cancel().
// Errors: -errno in on_poll(), never exceptions.
#pragma once

#include "posthorn/core/task.hh"

#include <cstdint>

namespace posthorn::core {

class poll_handler {
public:
    // Once per poll_arm(): the ready events (POLLIN, POLLOUT, POLLERR,
    // POLLHUP bits; > 0), or -errno (-ECANCELED after poll_cancel()). The
    // poll is idle again when this runs: it may be armed anew, or freed.
    virtual void on_poll(int events) noexcept = 0;

protected:
    ~poll_handler() = default;
};

struct fd_poll {
    int fd = -1;
    // Backend state.
    poll_handler* handler = nullptr;
    uint32_t events = 0;  // POLLIN | POLLOUT asked for
    uint32_t flags = 0;
    int result = 0;       // epoll: what on_poll() gets from the work task
    task work;

    // An on_poll() is still to come (the bits are the backends' "armed" and
    // "notification due"; src/core/io_backend.hh checks they agree).
    static constexpr uint32_t busy_mask = 0x3;
    bool busy() const noexcept { return (flags & busy_mask) != 0; }
};

}  // namespace posthorn::core
