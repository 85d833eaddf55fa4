// The epoll backend: the fallback when io_uring is unavailable or forced off.
// Streams are registered once, edge-triggered for input and output, so a
// pause, a resume or a send costs no epoll_ctl. Reads go into chunks acquired
// from the pool (a read shorter than the chunk means drained: no extra read
// to see EAGAIN); sends write directly and wait for EPOLLOUT only on EAGAIN;
// fdatasync runs synchronously (its callback still runs later, from the
// loop); timers are the reactor's heap, through epoll_wait's timeout. An
// fd_poll is an EPOLLONESHOT registration, kept between waits (re-armed with
// EPOLL_CTL_MOD) and removed by poll_cancel(), before the owner closes the fd.
//
// Threading: the reactor's thread only.
// Limits: at most epoll_events_max events and read_rounds_max reads per
// stream per turn (then the stream continues next turn). When the pool is
// empty a stream waits on a list until chunks come back.
// Errors: -errno to the handlers; nothing is logged per operation.
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include "core/io_backend.hh"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace posthorn::core {

namespace {

enum tag : uint64_t { tag_stream = 1, tag_acceptor = 2, tag_wake = 3, tag_poll = 4 };
constexpr uint64_t tag_mask = 7;
constexpr int read_rounds_max = 8;
constexpr int accepts_per_event_max = 64;

}  // namespace

class epoll_backend final : public io_backend {
public:
    explicit epoll_backend(reactor& r) noexcept : _r(r), _pool(r.pool()) {
        _fsync_task.set(&epoll_backend::on_fsync_task, this);
    }
    ~epoll_backend() override {
        if (_epfd >= 0) ::close(_epfd);
    }
    result<void> init(const reactor_config& config);

    io_mode mode() const noexcept override { return io_mode::epoll; }
    void dispatch() noexcept override;
    bool has_ready() const noexcept override { return !_starved.empty() && _pool.free_count() > 0; }
    void submit_and_wait(bool block, uint64_t deadline_ms) noexcept override;
    bool has_completions() noexcept override { return _ready > 0; }
    uint32_t syncs_inflight() const noexcept override { return 0; }
    uint32_t inflight() const noexcept override { return 0; }  // nothing in the kernel holds our memory

    void fdatasync(int fd, callback<void(result<void>)> done) noexcept override;
    void stream_open(stream& s) noexcept override;
    void stream_recv(stream& s, bool on) noexcept override;
    void stream_send(stream& s) noexcept override;
    void stream_close(stream& s) noexcept override;
    result<void> acceptor_open(acceptor& a) noexcept override;
    void acceptor_close(acceptor& a) noexcept override;
    void poll_arm(fd_poll& p) noexcept override;
    void poll_cancel(fd_poll& p) noexcept override;

private:
    struct fsync_done {
        callback<void(result<void>)> done;
        int err;
    };
    void on_stream_event(stream& s, uint32_t events) noexcept;
    void read_some(stream& s) noexcept;
    // Writes what it can; true when finished (sent all, or failed).
    bool write_some(stream& s) noexcept;
    void on_acceptor_event(acceptor& a) noexcept;
    void pause_accepting(acceptor& a) noexcept;
    void on_poll_event(fd_poll& p, uint32_t events) noexcept;
    static void on_poll_work(void* ctx) noexcept;
    static void on_stream_work(void* ctx) noexcept;
    static void on_fsync_task(void* ctx) noexcept;

    reactor& _r;
    chunk_pool& _pool;
    int _epfd = -1;
    std::vector<epoll_event> _events;
    int _ready = 0;
    task_queue _starved;
    std::vector<fsync_done> _fsyncs;
    std::vector<fsync_done> _fsyncs_running;
    task _fsync_task;
};

result<std::unique_ptr<io_backend>> make_epoll_backend(reactor& r, const reactor_config& config) {
    auto b = std::make_unique<epoll_backend>(r);
    auto ok = b->init(config);
    if (!ok) return ok.err();
    return std::unique_ptr<io_backend>(std::move(b));
}

result<void> epoll_backend::init(const reactor_config& config) {
    _epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (_epfd < 0) return errno_error("epoll_create1");
    _events.resize(std::max<uint32_t>(config.epoll_events_max, 16));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag_wake;
    if (::epoll_ctl(_epfd, EPOLL_CTL_ADD, _r._wake_fd, &ev) < 0) return errno_error("epoll_ctl wake fd");
    return ok();
}

void epoll_backend::submit_and_wait(bool block, uint64_t deadline_ms) noexcept {
    int timeout = 0;
    if (block) {
        if (deadline_ms == no_deadline) {
            timeout = -1;
        } else {
            uint64_t now = reactor::clock_ms();
            timeout = deadline_ms > now ? static_cast<int>(std::min<uint64_t>(deadline_ms - now, INT_MAX)) : 0;
        }
    }
    int n = ::epoll_wait(_epfd, _events.data(), static_cast<int>(_events.size()), timeout);
    _ready = n > 0 ? n : 0;
}

void epoll_backend::dispatch() noexcept {
    const int n = _ready;
    _ready = 0;
    for (int i = 0; i < n; ++i) {
        uint64_t data = _events[i].data.u64;
        uint32_t events = _events[i].events;
        switch (data & tag_mask) {
        case tag_stream: on_stream_event(*reinterpret_cast<stream*>(data & ~tag_mask), events); break;
        case tag_acceptor: on_acceptor_event(*reinterpret_cast<acceptor*>(data & ~tag_mask)); break;
        case tag_wake: _r.drain_wake_fd(); break;
        case tag_poll: on_poll_event(*reinterpret_cast<fd_poll*>(data & ~tag_mask), events); break;
        default: panic(__FILE__, __LINE__, "epoll: event with an unknown tag");
        }
    }
    // Streams that found the pool empty try again once chunks came back.
    if (!_starved.empty() && _pool.free_count() > 0) {
        task_queue starved;
        starved.splice(_starved);
        while (task* t = starved.pop()) read_some(*static_cast<stream*>(t->ctx()));
    }
}

// --- fdatasync -------------------------------------------------------------

void epoll_backend::fdatasync(int fd, callback<void(result<void>)> done) noexcept {
    // The fallback: synchronous. The callback runs from the loop, never
    // from inside this call.
    int err = ::fdatasync(fd) == 0 ? 0 : errno;
    _fsyncs.push_back(fsync_done{done, err});
    _r.post(_fsync_task);
}

void epoll_backend::on_fsync_task(void* ctx) noexcept {
    auto* self = static_cast<epoll_backend*>(ctx);
    self->_fsyncs_running.swap(self->_fsyncs);
    for (const fsync_done& f : self->_fsyncs_running) {
        if (f.err)
            f.done(error{f.err, "fdatasync"});
        else
            f.done(ok());
    }
    self->_fsyncs_running.clear();
}

// --- fd polls ----------------------------------------------------------------

void epoll_backend::poll_arm(fd_poll& p) noexcept {
    p.work.set(&epoll_backend::on_poll_work, &p);
    epoll_event ev{};
    ev.events = EPOLLONESHOT;
    if (p.events & POLLIN) ev.events |= EPOLLIN;
    if (p.events & POLLOUT) ev.events |= EPOLLOUT;
    ev.data.u64 = reinterpret_cast<uint64_t>(&p) | tag_poll;
    // Kept registered between waits; it is gone if the fd was closed
    // meanwhile (ENOENT), or there already (EEXIST): try the other.
    int op = (p.flags & pf_registered) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = ::epoll_ctl(_epfd, op, p.fd, &ev);
    if (rc < 0 && (errno == ENOENT || errno == EEXIST)) {
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        rc = ::epoll_ctl(_epfd, op, p.fd, &ev);
    }
    if (rc < 0) {
        p.flags &= ~pf_registered;
        p.result = -errno;
        p.flags |= pf_notify;  // reported from the loop, not from inside this call
        _r.post(p.work);
        return;
    }
    p.flags |= pf_armed | pf_registered;
}

void epoll_backend::on_poll_event(fd_poll& p, uint32_t events) noexcept {
    // Stale: cancelled earlier in this batch (its on_poll is a task away).
    if (!(p.flags & pf_armed)) return;
    p.flags &= ~pf_armed;
    int ready = static_cast<int>(events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP));
    static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLERR == POLLERR && EPOLLHUP == POLLHUP);
    p.handler->on_poll(ready);  // the owner may free p now
}

void epoll_backend::poll_cancel(fd_poll& p) noexcept {
    if (p.flags & pf_registered) ::epoll_ctl(_epfd, EPOLL_CTL_DEL, p.fd, nullptr);
    p.flags &= ~pf_registered;
    if (!(p.flags & pf_armed)) return;  // idle, or an error already due: nothing more
    p.flags &= ~pf_armed;
    p.result = -ECANCELED;
    p.flags |= pf_notify;
    _r.post(p.work);
}

void epoll_backend::on_poll_work(void* ctx) noexcept {
    auto& p = *static_cast<fd_poll*>(ctx);
    if (!(p.flags & pf_notify)) return;
    p.flags &= ~pf_notify;
    p.handler->on_poll(p.result);  // the owner may free p now
}

// --- streams -----------------------------------------------------------------

void epoll_backend::stream_open(stream& s) noexcept {
    s.backend = this;
    s.work.set(&epoll_backend::on_stream_work, &s);
    s.starved.set(nullptr, &s);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = reinterpret_cast<uint64_t>(&s) | tag_stream;
    if (::epoll_ctl(_epfd, EPOLL_CTL_ADD, s.fd, &ev) < 0) {
        // Reported like a failed socket (on_stream_end), from the loop.
        s.send_err = -errno;
        s.flags |= sf_open_failed;
        _r.post(s.work);
    }
}

void epoll_backend::on_stream_work(void* ctx) noexcept {
    auto& s = *static_cast<stream*>(ctx);
    auto& self = *static_cast<epoll_backend*>(s.backend);
    if (s.flags & sf_closing) {
        if (s.flags & sf_notify_closed) {
            s.flags &= ~sf_notify_closed;
            s.handler->on_stream_closed();  // the owner may free s now
        }
        return;
    }
    if (s.flags & sf_notify_sent) {
        s.flags &= ~(sf_notify_sent | sf_sending);
        s.handler->on_stream_sent(s.send_err);
        if (s.flags & sf_closing) return;
    }
    if (s.flags & sf_open_failed) {
        s.flags &= ~(sf_open_failed | sf_read_due);
        s.flags |= sf_ended;
        s.handler->on_stream_end(s.send_err);
        return;
    }
    if (s.flags & sf_read_due) {
        s.flags &= ~sf_read_due;
        self.read_some(s);
    }
}

void epoll_backend::on_stream_event(stream& s, uint32_t events) noexcept {
    if (s.flags & sf_closing) return;
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (s.flags & sf_sending) && !(s.flags & sf_notify_sent)) {
        if (write_some(s)) {
            s.flags &= ~sf_sending;
            s.handler->on_stream_sent(s.send_err);
            if (s.flags & sf_closing) return;
        }
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        s.flags |= sf_readable;
        // The peer's FIN (or an error) is queued behind the data: read on
        // past a short read, no new edge will come for it.
        if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) s.flags |= sf_hup;
        read_some(s);
    }
}

void epoll_backend::read_some(stream& s) noexcept {
    for (int round = 0; round < read_rounds_max; ++round) {
        if ((s.flags & (sf_closing | sf_ended)) || !(s.flags & sf_recv_wanted) || !(s.flags & sf_readable)) return;
        chunk_ref c = _pool.acquire();
        if (!c) {
            ++_r._stats.recv_starved;
            _starved.push(s.starved);
            return;
        }
        ssize_t n = ::recv(s.fd, c.data(), c.capacity(), 0);
        if (n > 0) {
            // Short read: drained (a later arrival raises a new edge), unless
            // an end is known to be waiting behind the data.
            if (static_cast<size_t>(n) < c.capacity() && !(s.flags & sf_hup)) s.flags &= ~sf_readable;
            s.handler->on_stream_data(slice{std::move(c), 0, static_cast<uint32_t>(n)});
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s.flags &= ~sf_readable;
            return;
        }
        s.flags &= ~sf_readable;
        s.flags |= sf_ended;
        s.handler->on_stream_end(n == 0 ? 0 : -errno);
        return;
    }
    // Budget spent with input left: continue next turn.
    if ((s.flags & sf_readable) && (s.flags & sf_recv_wanted) && !(s.flags & (sf_closing | sf_ended))) {
        s.flags |= sf_read_due;
        _r.post(s.work);
    }
}

bool epoll_backend::write_some(stream& s) noexcept {
    while (s.send_left > 0) {
        ssize_t w = ::send(s.fd, s.send_ptr, s.send_left, MSG_NOSIGNAL);
        if (w > 0) {
            s.send_ptr += w;
            s.send_left -= static_cast<size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;  // wait for EPOLLOUT
        s.send_err = w < 0 ? -errno : -EPIPE;
        return true;
    }
    s.send_err = 0;
    return true;
}

void epoll_backend::stream_recv(stream& s, bool on) noexcept {
    if (!on) {
        s.flags &= ~sf_recv_wanted;
        s.starved.unlink();
        return;
    }
    s.flags |= sf_recv_wanted;
    if ((s.flags & sf_readable) && !(s.flags & (sf_closing | sf_ended))) {
        s.flags |= sf_read_due;
        _r.post(s.work);
    }
}

void epoll_backend::stream_send(stream& s) noexcept {
    if (s.flags & sf_closing) return;
    s.flags |= sf_sending;
    if (write_some(s)) {
        // Done at once: report from the loop, not from inside this call.
        s.flags |= sf_notify_sent;
        _r.post(s.work);
    }
}

void epoll_backend::stream_close(stream& s) noexcept {
    if (s.flags & sf_closing) return;
    s.flags |= sf_closing | sf_notify_closed;
    s.flags &= ~(sf_recv_wanted | sf_sending | sf_notify_sent | sf_read_due);
    s.starved.unlink();
    if (s.fd >= 0) {
        ::epoll_ctl(_epfd, EPOLL_CTL_DEL, s.fd, nullptr);
        if (s.flags & sf_release) {  // unread data stays in the socket, for the next owner
            _r.post(s.work);
            return;
        }
        ::close(s.fd);
    }
    s.fd = -1;
    _r.post(s.work);
}

// --- acceptors -------------------------------------------------------------

result<void> epoll_backend::acceptor_open(acceptor& a) noexcept {
    a.work.set(&on_acceptor_work, &a);
    int fl = ::fcntl(a.fd, F_GETFL);
    if (fl < 0 || ::fcntl(a.fd, F_SETFL, fl | O_NONBLOCK) < 0) return errno_error("fcntl O_NONBLOCK");
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: a backlog left over is seen next turn
    ev.data.u64 = reinterpret_cast<uint64_t>(&a) | tag_acceptor;
    if (::epoll_ctl(_epfd, EPOLL_CTL_ADD, a.fd, &ev) < 0) return errno_error("epoll_ctl listener");
    a.flags |= af_armed;
    return ok();
}

void epoll_backend::on_acceptor_event(acceptor& a) noexcept {
    for (int i = 0; i < accepts_per_event_max; ++i) {
        if (a.flags & (af_closing | af_paused)) return;
        int fd = ::accept4(a.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            a.handler->on_accept(fd);
            continue;
        }
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return;
        if (e == EINTR || e == ECONNABORTED) continue;
        a.handler->on_accept_error(-e);
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS) pause_accepting(a);
        return;
    }
}

void epoll_backend::pause_accepting(acceptor& a) noexcept {
    if (a.flags & (af_closing | af_paused)) return;
    a.flags |= af_paused;
    epoll_event ev{};
    ev.data.u64 = reinterpret_cast<uint64_t>(&a) | tag_acceptor;
    ::epoll_ctl(_epfd, EPOLL_CTL_MOD, a.fd, &ev);  // no events while paused
    a.backoff = _r.schedule_after(accept_backoff_ms, [this, &a]() noexcept {
        a.backoff = {};
        a.flags &= ~af_paused;
        if (a.flags & af_closing) return;
        epoll_event on{};
        on.events = EPOLLIN;
        on.data.u64 = reinterpret_cast<uint64_t>(&a) | tag_acceptor;
        ::epoll_ctl(_epfd, EPOLL_CTL_MOD, a.fd, &on);
    });
}

void epoll_backend::acceptor_close(acceptor& a) noexcept {
    if (a.flags & af_closing) return;
    a.flags |= af_closing | af_notify_closed;
    if (a.backoff) _r.cancel(a.backoff);
    a.backoff = {};
    if (a.fd >= 0) {
        ::epoll_ctl(_epfd, EPOLL_CTL_DEL, a.fd, nullptr);
        ::close(a.fd);
    }
    a.fd = -1;
    _r.post(a.work);
}

}  // namespace posthorn::core
