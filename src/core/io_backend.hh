// The private io interface behind core::reactor, with two implementations:
// uring_backend.cc and epoll_backend.cc (STYLE.md #7). Nothing outside
// src/core includes this file.
//
// Threading: the reactor's thread only.
// A backend owns every kernel operation it starts; a completion is routed to
// the object that started it (stream, acceptor, fdatasync slot) through the
// user_data / epoll data tag. errno becomes -errno for the handlers here.
#pragma once

#include "posthorn/core/reactor.hh"

#include <cstdint>
#include <memory>

struct io_uring;

namespace posthorn::core {

// stream::flags bits, shared by both backends.
enum stream_flag : uint32_t {
    sf_recv_wanted = 1u << 0,   // the owner wants data
    sf_recv_armed = 1u << 1,    // io_uring: a multishot recv is in the kernel
    sf_cancel_sent = 1u << 2,   // io_uring: that recv is being cancelled
    sf_readable = 1u << 3,      // epoll: the last edge said readable, not yet drained
    sf_ended = 1u << 4,         // on_stream_end() delivered: no more data
    sf_sending = 1u << 5,       // a stream_send() is not finished
    sf_closing = 1u << 6,       // stream_close() called
    sf_notify_sent = 1u << 7,   // epoll: on_stream_sent() is due (from the work task)
    sf_notify_closed = 1u << 8, // on_stream_closed() is due (from the work task)
    sf_read_due = 1u << 9,      // epoll: read from the work task
    sf_open_failed = 1u << 10,  // epoll: registration failed (errno in send_err)
    sf_hup = 1u << 11,          // epoll: the peer's end (or an error) is pending
    sf_release = 1u << 12,      // stream_release(): like closing, but the fd stays open and late data is delivered
};

enum acceptor_flag : uint32_t {
    af_armed = 1u << 0,
    af_closing = 1u << 1,
    af_paused = 1u << 2,
    af_notify_closed = 1u << 3,
};

// fd_poll::flags bits, shared by both backends.
enum poll_flag : uint32_t {
    pf_armed = 1u << 0,       // a wait is in the kernel (io_uring) / enabled in the set (epoll)
    pf_notify = 1u << 1,      // epoll: on_poll(result) is due from the work task
    pf_cancelling = 1u << 2,  // io_uring: a cancel for the wait was submitted
    pf_registered = 1u << 3,  // epoll: the fd is in the epoll set (EPOLLONESHOT)
};
static_assert(fd_poll::busy_mask == (pf_armed | pf_notify), "fd_poll::busy() must match the backends' flags");

inline constexpr uint64_t accept_backoff_ms = 100;

// An acceptor's work task, the same on both backends: tells the handler its
// socket is gone once the backend has finished with it.
inline void on_acceptor_work(void* ctx) noexcept {
    auto& a = *static_cast<acceptor*>(ctx);
    if (a.flags & af_notify_closed) {
        a.flags &= ~af_notify_closed;
        a.handler->on_acceptor_closed();
    }
}

class io_backend {
public:
    virtual ~io_backend() = default;
    virtual io_mode mode() const noexcept = 0;
    // Handles the completions gathered by the last submit_and_wait().
    virtual void dispatch() noexcept = 0;
    // Work is ready without waiting for the kernel (the loop must not block).
    virtual bool has_ready() const noexcept = 0;
    // The last submit_and_wait() gathered completions for dispatch().
    virtual bool has_completions() noexcept = 0;
    // fdatasync operations in the kernel (epoll runs them inline: 0).
    virtual uint32_t syncs_inflight() const noexcept = 0;
    // The turn's one submission; waits for at least one event when block,
    // at most until deadline_ms (no_deadline: no limit).
    virtual void submit_and_wait(bool block, uint64_t deadline_ms) noexcept = 0;
    // Kernel operations that reference caller memory or objects.
    virtual uint32_t inflight() const noexcept = 0;

    virtual void fdatasync(int fd, callback<void(result<void>)> done) noexcept = 0;
    virtual void stream_open(stream& s) noexcept = 0;
    virtual void stream_recv(stream& s, bool on) noexcept = 0;
    virtual void stream_send(stream& s) noexcept = 0;
    virtual void stream_close(stream& s) noexcept = 0;
    virtual result<void> acceptor_open(acceptor& a) noexcept = 0;
    virtual void acceptor_close(acceptor& a) noexcept = 0;
    virtual void poll_arm(fd_poll& p) noexcept = 0;
    virtual void poll_cancel(fd_poll& p) noexcept = 0;
};

result<std::unique_ptr<io_backend>> make_uring_backend(reactor& r, const reactor_config& config);
result<std::unique_ptr<io_backend>> make_epoll_backend(reactor& r, const reactor_config& config);

// io_uring_queue_init_params with SINGLE_ISSUER|DEFER_TASKRUN,
// retried without them on EINVAL. Returns 0 or -errno. (io_probe.cc)
int setup_ring(unsigned entries, ::io_uring* ring) noexcept;

}  // namespace posthorn::core
