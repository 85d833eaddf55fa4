// Io objects the reactor drives for the net layer: a stream (one connected
// socket) and an acceptor (one listening socket). Each is embedded in its
// owner, which implements the matching handler. The reactor's backend keeps
// its per-object state in the fields below; owners read none of them.
//
// Threading: shard-local; an object belongs to the reactor it was opened on.
// Lifetime: after stream_close()/acceptor_close() the owner must stay alive
// until on_stream_closed()/on_acceptor_closed(): the kernel may still hold
// operations on it until then. Those two are never called from inside a
// reactor call the owner made; every other handler may be.
// Errors arrive as -errno in the handler arguments, never as exceptions.
#pragma once

#include "posthorn/core/chunk.hh"
#include "posthorn/core/task.hh"
#include "posthorn/core/timer.hh"

#include <cstddef>
#include <cstdint>

namespace posthorn::core {

class stream_handler {
public:
    // Received bytes, in order. May arrive shortly after stream_recv(off)
    // (io_uring: already in flight); the owner keeps them.
    virtual void on_stream_data(slice&& bytes) noexcept = 0;
    // No more data: the peer closed (0) or the socket failed (-errno).
    virtual void on_stream_end(int err) noexcept = 0;
    // The whole buffer given to stream_send() went out (0), or -errno.
    virtual void on_stream_sent(int err) noexcept = 0;
    // After stream_close(): no operation remains and the fd is closed.
    virtual void on_stream_closed() noexcept = 0;

protected:
    ~stream_handler() = default;
};

class acceptor_handler {
public:
    // A new connected socket (non-blocking, close-on-exec); the handler owns it.
    virtual void on_accept(int fd) noexcept = 0;
    // accept failed (-errno); accepting pauses briefly on EMFILE/ENFILE/ENOMEM.
    virtual void on_accept_error(int err) noexcept = 0;
    virtual void on_acceptor_closed() noexcept = 0;

protected:
    ~acceptor_handler() = default;
};

struct stream {
    int fd = -1;
    // Backend state.
    int send_err = 0;
    stream_handler* handler = nullptr;
    void* backend = nullptr;
    uint32_t flags = 0;
    uint32_t inflight = 0;        // kernel operations holding this object
    const char* send_ptr = nullptr;
    size_t send_left = 0;
    task work;                    // deferred notifications / re-arms
    task starved;                 // waiting for receive buffers
};

struct acceptor {
    int fd = -1;
    acceptor_handler* handler = nullptr;
    uint32_t flags = 0;
    uint32_t inflight = 0;
    task work;
    timer_id backoff;             // accepting paused (EMFILE backoff)
};

}  // namespace posthorn::core
