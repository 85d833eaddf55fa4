// connection: one accepted (or adopted) TCP socket = fd + peer address +
// received slices the protocol has not consumed + an output string the app
// appends replies to + an idle deadline + close. `handler` is what the app
// implements, once per protocol. Knows bytes, not protocols.
//
// Threading: shard-local, not thread-safe; handlers run on the shard thread.
// Lifetime: the registry owns connections. A handler may keep a connection&
// until its on_close(), never after. close()/abort() never call on_close()
// from inside themselves: it comes later, from the loop.
// Memory: no receive buffer of its own. Input is slices of pooled chunks,
// held only while unconsumed; an idle connection (after a reply, waiting for
// a command) holds no chunk, and the output strings keep at most
// output_keep_bytes of capacity each. One allocation per accept.
// Output goes out once per loop turn: one send in flight, a second string
// collects what is written meanwhile; partial sends continue in the reactor.
// A producer of much output (the relay sending a message body) writes a
// bounded piece, asks with notify_drained() to hear when the output has gone
// down, and writes the next piece from on_drained(): the output strings then
// stay near the size of a piece, whatever the size of the whole.
#pragma once

#include "posthorn/core/chunk.hh"
#include "posthorn/core/stream.hh"
#include "posthorn/core/task.hh"
#include "posthorn/core/timer.hh"
#include "posthorn/net/address.hh"
#include "posthorn/net/slice_queue.hh"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::core {
class reactor;
}

namespace posthorn::net {

class connection;
class registry;

class handler {
public:
    // The connection exists, nothing was read yet. The app may write a
    // greeting, check over_limit() (and refuse: write a reply, close()),
    // pause_reading() to detect early talkers with has_early_input(), or set
    // an idle timeout.
    virtual void on_open(connection& c) noexcept = 0;
    // Received bytes, in order. Return how many were consumed. Fewer than
    // bytes.length pauses reading: the rest is kept and fed again (with what
    // arrived meanwhile) after resume_reading(). The bytes may be kept past
    // the call by copying the slice (a reference, not a copy of the bytes).
    virtual size_t on_data(connection& c, const core::slice& bytes) noexcept = 0;
    // The idle timeout passed with no input or output progress. Default: close.
    virtual void on_deadline(connection& c) noexcept;
    // After notify_drained(low_water_bytes): output_pending() went down to
    // low_water_bytes or below. Once per request; never from inside a call
    // the app made. Not called once the connection is closing. Default: nothing.
    virtual void on_drained(connection& c) noexcept;
    // After release(): the kernel holds nothing of the socket any more.
    // `fd` is open and now the handler's (to hand to another shard, which
    // adopts it), `unread` every byte received and not consumed. on_close()
    // (reason released) follows at once. Default: closes fd.
    virtual void on_released(connection& c, int fd, std::string&& unread) noexcept;
    // Last call: the connection is going (see close_reason()). Forget it.
    virtual void on_close(connection& c) noexcept = 0;

protected:
    ~handler() = default;
};

enum class limit_hit : uint8_t { none, per_shard, per_ip };
enum class close_reason : uint8_t { local, peer, error, shutdown, released };

class connection final : private core::stream_handler {
public:
    static constexpr size_t output_keep_bytes = 1024;

    uint64_t id() const noexcept { return _id; }  // unique in the process: shard << 40 | sequence
    int fd() const noexcept { return _stream.fd; }
    std::string_view peer_address() const noexcept { return {_peer_text, _peer_text_length}; }
    uint16_t peer_port() const noexcept;
    ip_key peer_key() const noexcept;
    core::reactor& io() noexcept;
    registry& owner() noexcept { return *_registry; }
    void set_context(void* p) noexcept { _context = p; }  // the app's session
    void* context() const noexcept { return _context; }

    // Which cap this connection went over when it was accepted (the app
    // refuses it with a reply and close()), and this shard's counts.
    limit_hit over_limit() const noexcept { return _limit; }
    uint32_t connections_from_peer() const noexcept;  // this one included
    bool outbound() const noexcept { return _flags & f_outbound; }

    // --- output (sent at the end of the turn) ---------------------------
    std::string& output() noexcept { return _out; }  // append, then flush()
    void flush() noexcept;
    void write(std::string_view bytes) {
        _out.append(bytes);
        flush();
    }
    size_t output_pending() const noexcept { return _out.size() + _stream.send_left; }
    // Asks for one on_drained() once output_pending() <= low_water_bytes:
    // when a send completes, or from the loop if it already is. A second
    // request before the first is answered replaces its low-water mark.
    void notify_drained(size_t low_water_bytes) noexcept;

    // --- input --------------------------------------------------------------
    void pause_reading() noexcept;
    void resume_reading() noexcept;  // kept input is fed first, from the loop
    bool reading_paused() const noexcept { return _flags & f_paused; }
    size_t input_bytes() const noexcept { return _input.bytes(); }
    // Kept input, or bytes waiting in the socket (recv MSG_PEEK|MSG_DONTWAIT).
    // Exact while reading has been paused since on_open (pre-greeting check).
    bool has_early_input() noexcept;

    // --- deadline -----------------------------------------------------------
    // Calls on_deadline() after ms without input or output progress; 0 = off.
    // Pushed back on every receive and send at the cost of a store.
    void set_idle_timeout_ms(uint32_t ms) noexcept;

    // --- close --------------------------------------------------------------
    void close() noexcept;  // after the pending output is sent; no more on_data
    void abort() noexcept;  // now; pending output is dropped
    // Gives the socket up without closing it (a session moving to the shard
    // that owns its mailbox): no more on_data; once the pending output is
    // sent and the kernel has finished with the socket, on_released() gets
    // the fd and the unread input. A socket failure meanwhile closes it
    // instead (on_close with reason error, no on_released).
    void release() noexcept;
    bool closing() const noexcept { return _flags & (f_closing | f_aborting); }
    close_reason reason() const noexcept { return _reason; }
    int close_error() const noexcept { return _err; }  // -errno when the socket failed

private:
    friend class registry;
    connection(registry& r, handler& h, uint64_t id) noexcept;
    ~connection();

    enum flag : uint16_t {
        f_paused = 1 << 0,
        f_peer_eof = 1 << 1,
        f_closing = 1 << 2,
        f_aborting = 1 << 3,
        f_sending = 1 << 4,
        f_feed_due = 1 << 5,
        f_finish_due = 1 << 6,
        f_closed_notified = 1 << 7,
        f_open = 1 << 8,
        f_outbound = 1 << 9,  // registry::connect: not in the counts
        f_drain_wanted = 1 << 10,  // notify_drained() not answered yet
        f_drain_due = 1 << 11,     // answer it from the work task
        f_releasing = 1 << 12,     // release(): closing, but the fd goes on
    };

    void start(int fd, const sockaddr* peer) noexcept;
    void deliver(core::slice&& s) noexcept;
    void refeed() noexcept;
    void touch() noexcept;
    void begin_close(close_reason why) noexcept;
    void begin_abort(close_reason why, int err) noexcept;
    void finish() noexcept;
    void post_work(uint16_t due) noexcept;
    void on_expired() noexcept;
    void maybe_drained() noexcept;
    static void on_work(void* ctx) noexcept;
    static void on_flush(void* ctx) noexcept;

    void on_stream_data(core::slice&& bytes) noexcept override;
    void on_stream_end(int err) noexcept override;
    void on_stream_sent(int err) noexcept override;
    void on_stream_closed() noexcept override;

    registry* _registry;
    handler* _handler;
    void* _context = nullptr;
    uint64_t _id;
    core::stream _stream;
    std::string _out;      // the app appends here
    std::string _sending;  // in the kernel until on_stream_sent
    slice_queue _input;
    core::deadline_timer _deadline;
    core::task _work;      // feed / finish, from the loop
    core::task _flush;     // start a send, at the turn's flush step
    connection* _prev = nullptr;  // registry list
    connection* _next = nullptr;
    size_t _low_water = 0;  // of the notify_drained() request
    uint32_t _idle_ms = 0;
    int _err = 0;
    sockaddr_in6 _peer{};  // AF_INET addresses are stored as sockaddr_in
    uint16_t _flags = 0;
    limit_hit _limit = limit_hit::none;
    close_reason _reason = close_reason::local;
    uint8_t _peer_text_length = 0;
    char _peer_text[ip_text_max] = {};
};

}  // namespace posthorn::net
