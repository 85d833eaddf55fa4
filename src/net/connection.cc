// connection: feeding received slices to the handler (keeping what it does
// not consume while paused), the double-buffered output sent once per turn,
// the idle deadline, and the close sequence (see net/connection.hh).
//
// Close sequence: close() stops input and waits for the output to drain;
// abort() (or a socket error, or shutdown) drops it. Either way the work task
// calls on_close(), then the stream is closed; the registry frees the
// connection in on_stream_closed(), once the kernel holds nothing of it.
// Threading: shard-local. Logs nothing; errors reach the app as reason().
#include "posthorn/net/connection.hh"
#include "posthorn/core/panic.hh"
#include "posthorn/core/reactor.hh"
#include "posthorn/net/listener.hh"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace posthorn::net {

void handler::on_deadline(connection& c) noexcept { c.close(); }

void handler::on_drained(connection&) noexcept {}

void handler::on_released(connection&, int fd, std::string&&) noexcept {
    if (fd >= 0) ::close(fd);
}

connection::connection(registry& r, handler& h, uint64_t id) noexcept
    : _registry(&r),
      _handler(&h),
      _id(id),
      _deadline(r.io(), [](void* ctx) noexcept { static_cast<connection*>(ctx)->on_expired(); }, this),
      _work(&connection::on_work, this),
      _flush(&connection::on_flush, this) {}

connection::~connection() = default;

core::reactor& connection::io() noexcept { return _registry->io(); }

uint16_t connection::peer_port() const noexcept {
    return ntohs(_peer.sin6_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&_peer)->sin_port
                                              : _peer.sin6_port);
}

ip_key connection::peer_key() const noexcept { return key_of(reinterpret_cast<const sockaddr*>(&_peer)); }

uint32_t connection::connections_from_peer() const noexcept { return _registry->connections_from(peer_key()); }

void connection::start(int fd, const sockaddr* peer) noexcept {
    if (peer->sa_family == AF_INET)
        std::memcpy(&_peer, peer, sizeof(sockaddr_in));
    else if (peer->sa_family == AF_INET6)
        std::memcpy(&_peer, peer, sizeof(sockaddr_in6));
    _peer_text_length = static_cast<uint8_t>(format_ip(peer, _peer_text));
    io().stream_open(_stream, fd, *this);
    _flags |= f_open;
    _handler->on_open(*this);
    if (!(_flags & (f_paused | f_closing | f_aborting))) io().stream_recv(_stream, true);
}

// --- input -------------------------------------------------------------------

void connection::on_stream_data(core::slice&& bytes) noexcept {
    touch();
    if (_flags & (f_closing | f_aborting)) {  // no more on_data after close()
        // Being released: what the kernel still hands over goes with the fd.
        if ((_flags & f_releasing) && !(_flags & f_aborting)) _input.push(std::move(bytes));
        return;
    }
    if ((_flags & f_paused) || !_input.empty()) {
        _input.push(std::move(bytes));  // arrived while paused, or behind kept input
        if (!(_flags & f_paused)) post_work(f_feed_due);
        return;
    }
    deliver(std::move(bytes));
}

void connection::deliver(core::slice&& s) noexcept {
    size_t n = _handler->on_data(*this, s);
    if ((_flags & f_aborting) || (_flags & (f_closing | f_releasing)) == f_closing) return;
    PH_ASSERT(n <= s.length);
    if (n < s.length) {
        _input.push(s.suffix_from(static_cast<uint32_t>(n)));
        pause_reading();
    }
}

void connection::refeed() noexcept {
    while (!(_flags & (f_paused | f_closing | f_aborting)) && !_input.empty()) {
        // A copy (a chunk reference, not the bytes): the handler may close
        // the connection, which clears _input under the slice it was given.
        const core::slice front = _input.front();
        size_t n = _handler->on_data(*this, front);
        if ((_flags & f_aborting) || (_flags & (f_closing | f_releasing)) == f_closing) return;
        PH_ASSERT(n <= front.length);
        if (n == front.length) {
            _input.pop();
        } else {
            _input.consume_front(static_cast<uint32_t>(n));
            pause_reading();
        }
    }
    if (_flags & (f_paused | f_closing | f_aborting)) return;
    if (_flags & f_peer_eof)
        begin_close(close_reason::peer);  // everything the peer sent was consumed
    else
        io().stream_recv(_stream, true);
}

void connection::pause_reading() noexcept {
    if (_flags & f_paused) return;
    _flags |= f_paused;
    io().stream_recv(_stream, false);
}

void connection::resume_reading() noexcept {
    if (!(_flags & f_paused)) return;
    _flags &= ~f_paused;
    if (_flags & (f_closing | f_aborting)) return;
    if (!_input.empty() || (_flags & f_peer_eof))
        post_work(f_feed_due);  // fed from the loop, never from inside this call
    else
        io().stream_recv(_stream, true);
}

bool connection::has_early_input() noexcept {
    if (!_input.empty()) return true;
    if (_stream.fd < 0) return false;
    char c;
    return ::recv(_stream.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void connection::on_stream_end(int err) noexcept {
    if (_flags & (f_closing | f_aborting)) return;
    if (err < 0) {
        begin_abort(close_reason::error, err);
        return;
    }
    _flags |= f_peer_eof;
    if (!(_flags & f_paused) && _input.empty()) begin_close(close_reason::peer);
}

// --- output ------------------------------------------------------------------

void connection::flush() noexcept {
    if (_flags & f_aborting) return;
    if (!_out.empty() && !(_flags & f_sending)) io().post_flush(_flush);
}

void connection::on_flush(void* ctx) noexcept {
    auto& c = *static_cast<connection*>(ctx);
    if ((c._flags & (f_aborting | f_sending)) || c._out.empty()) return;
    c._out.swap(c._sending);  // _out keeps the old, empty buffer
    c._flags |= f_sending;
    c.io().stream_send(c._stream, c._sending.data(), c._sending.size());
}

void connection::on_stream_sent(int err) noexcept {
    _flags &= ~f_sending;
    if (_flags & f_aborting) return;
    if (err < 0) {
        begin_abort(close_reason::error, err);
        return;
    }
    touch();
    if (_sending.capacity() > output_keep_bytes)
        std::string().swap(_sending);
    else
        _sending.clear();
    maybe_drained();  // the handler may write more, close or abort
    if (_flags & f_aborting) return;
    if (!_out.empty())
        io().post_flush(_flush);
    else if (_flags & f_closing)
        post_work(f_finish_due);
}

void connection::notify_drained(size_t low_water_bytes) noexcept {
    if (_flags & (f_closing | f_aborting)) return;
    _low_water = low_water_bytes;
    _flags |= f_drain_wanted;
    // Already low: answered from the loop, never from inside this call.
    if (output_pending() <= low_water_bytes) post_work(f_drain_due);
}

// Answers a notify_drained() request if the output is low enough now.
void connection::maybe_drained() noexcept {
    if (!(_flags & f_drain_wanted) || (_flags & (f_closing | f_aborting))) return;
    if (output_pending() > _low_water) return;
    _flags &= ~f_drain_wanted;
    _handler->on_drained(*this);
}

// --- deadline ----------------------------------------------------------------

void connection::set_idle_timeout_ms(uint32_t ms) noexcept {
    _idle_ms = ms;
    if (ms)
        _deadline.set_at(io().now_ms() + ms);
    else
        _deadline.clear();
}

void connection::touch() noexcept {
    if (_idle_ms) _deadline.set_at(io().now_ms() + _idle_ms);
}

void connection::on_expired() noexcept {
    if (_flags & f_aborting) return;
    if (_flags & f_closing) {  // the peer does not take our last bytes
        begin_abort(_reason, -ETIMEDOUT);
        return;
    }
    _handler->on_deadline(*this);
}

// --- close -------------------------------------------------------------------

void connection::close() noexcept { begin_close(close_reason::local); }

void connection::abort() noexcept { begin_abort(close_reason::local, 0); }

void connection::begin_close(close_reason why) noexcept {
    if (_flags & (f_closing | f_aborting)) return;
    _flags |= f_closing;
    _reason = why;
    _input.clear();
    io().stream_recv(_stream, false);
    if (!(_flags & f_sending) && _out.empty())
        post_work(f_finish_due);
    else
        flush();
}

void connection::release() noexcept {
    if (_flags & (f_closing | f_aborting)) return;
    _flags |= f_closing | f_releasing | f_paused;
    _reason = close_reason::released;
    io().stream_recv(_stream, false);
    if (!(_flags & f_sending) && _out.empty())
        post_work(f_finish_due);
    else
        flush();
}

void connection::begin_abort(close_reason why, int err) noexcept {
    if (_flags & f_aborting) return;
    _flags &= ~f_releasing;  // the socket failed: it is closed, not handed on
    _flags |= f_aborting;
    _reason = why;
    _err = err;
    _input.clear();
    _out.clear();
    _flush.unlink();
    post_work(f_finish_due);
}

void connection::post_work(uint16_t due) noexcept {
    _flags |= due;
    io().post(_work);
}

void connection::on_work(void* ctx) noexcept {
    auto& c = *static_cast<connection*>(ctx);
    if (c._flags & f_finish_due) {
        c.finish();
        return;
    }
    if (c._flags & f_feed_due) {
        c._flags &= ~f_feed_due;
        c.refeed();
    }
    if (c._flags & f_drain_due) {
        c._flags &= ~f_drain_due;
        c.maybe_drained();
    }
}

void connection::finish() noexcept {
    _flags &= ~(f_finish_due | f_feed_due | f_drain_due | f_drain_wanted);
    if (_flags & f_closed_notified) return;
    _flags |= f_closed_notified;
    _deadline.clear();
    _registry->on_connection_closing(*this);
    if (_flags & f_releasing) {
        io().stream_release(_stream);  // on_stream_closed() follows, from the loop
        return;
    }
    _handler->on_close(*this);
    io().stream_close(_stream);  // on_stream_closed() follows, from the loop
}

void connection::on_stream_closed() noexcept {
    if (_flags & f_releasing) {
        std::string unread;
        unread.reserve(_input.bytes());
        while (!_input.empty()) {
            const core::slice& f = _input.front();
            unread.append(f.data(), f.length);
            _input.pop();
        }
        int fd = _stream.fd;
        _stream.fd = -1;
        _handler->on_released(*this, fd, std::move(unread));
        _handler->on_close(*this);
    }
    _registry->on_connection_gone(*this);
}

}  // namespace posthorn::net
