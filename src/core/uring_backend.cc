// The io_uring backend (DESIGN.md "Reactor"): multishot accept per listener,
// multishot recv into a provided buffer ring whose buffers are the chunks of
// the shard's chunk_pool, SEND from the caller's buffer, IORING_OP_FSYNC with
// IORING_FSYNC_DATASYNC, one absolute IORING_OP_TIMEOUT for the timer heap,
// a READ kept on the reactor's eventfd for cross-thread wake-ups, and exactly
// one io_uring_submit_and_wait (or _get_events when not blocking) per turn.
//
// Threading: the reactor's thread only (the ring is SINGLE_ISSUER).
// Buffers: a received chunk becomes a slice via chunk_pool::adopt; when its
// last reference goes, the pool's release hook puts it back in the ring
// (made visible to the kernel once per turn). A recv that ends for lack of
// buffers (ENOBUFS) is armed again once chunks have come back.
// Limits: ring_chunks <= 32768 and buffer ids are 16 bits, so the pool may
// hold at most 65536 chunks. Completions are routed by user_data: a tagged
// pointer to the stream / acceptor / fd_poll, or an fdatasync slot index.
// An fd_poll is one single-shot IORING_OP_POLL_ADD, cancelled by its
// user_data (the descriptor may already be closed and its number reused).
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include "core/io_backend.hh"

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace posthorn::core {

namespace {

enum tag : uint64_t { tag_recv = 1, tag_send = 2, tag_accept = 3, tag_fsync = 4, tag_internal = 5, tag_poll = 6 };
constexpr uint64_t tag_mask = 7;
constexpr uint64_t ud_timeout = (0 << 3) | tag_internal;
constexpr uint64_t ud_ignore = (1 << 3) | tag_internal;  // cancels, timeout updates
constexpr uint64_t ud_wake = (2 << 3) | tag_internal;
constexpr uint16_t k_bgid = 0;
constexpr uint32_t k_batch = 128;
constexpr uint32_t k_cqes_per_turn_max = 8192;

uint64_t tagged(const void* p, tag t) noexcept { return reinterpret_cast<uint64_t>(p) | t; }
template <typename T>
T* untag(uint64_t ud) noexcept { return reinterpret_cast<T*>(ud & ~tag_mask); }

}  // namespace

class uring_backend final : public io_backend {
public:
    explicit uring_backend(reactor& r) noexcept : _r(r), _pool(r.pool()) {}
    ~uring_backend() override;
    result<void> init(const reactor_config& config);

    io_mode mode() const noexcept override { return io_mode::io_uring; }
    void dispatch() noexcept override;
    bool has_ready() const noexcept override { return false; }
    void submit_and_wait(bool block, uint64_t deadline_ms) noexcept override;
    bool has_completions() noexcept override { return io_uring_cq_ready(&_ring) > 0; }
    uint32_t syncs_inflight() const noexcept override {
        return static_cast<uint32_t>(_fsyncs.size() - _fsync_free.size());
    }
    uint32_t inflight() const noexcept override { return _inflight; }

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
    io_uring_sqe* get_sqe() noexcept;
    void handle(uint64_t ud, int res, uint32_t flags) noexcept;
    void on_recv(stream& s, int res, uint32_t flags) noexcept;
    void on_send(stream& s, int res) noexcept;
    void on_accept(acceptor& a, int res, uint32_t flags) noexcept;
    void on_fsync(uint32_t slot, int res) noexcept;
    void on_poll(fd_poll& p, int res) noexcept;
    void arm_recv(stream& s) noexcept;
    void maybe_rearm(stream& s) noexcept;
    void submit_send(stream& s, bool poll_first) noexcept;
    void finish_close(stream& s) noexcept;
    void arm_accept(acceptor& a) noexcept;
    void finish_close(acceptor& a) noexcept;
    void arm_wake() noexcept;
    void arm_timeout(uint64_t deadline_ms) noexcept;
    void publish_buffers() noexcept;
    static void on_chunk_released(void* ctx, chunk* c) noexcept;
    static void on_stream_work(void* ctx) noexcept;

    reactor& _r;
    chunk_pool& _pool;
    ::io_uring _ring{};
    bool _ring_ready = false;

    // Provided buffer ring.
    io_uring_buf_ring* _br = nullptr;
    size_t _br_bytes = 0;
    uint32_t _br_entries = 0;
    uint32_t _pending_adds = 0;      // added since the last publish
    uint32_t _ring_available = 0;    // visible to the kernel, not yet consumed
    std::vector<bool> _in_ring;      // by buffer id: owned by the ring (kernel or pending)
    task_queue _starved;             // streams whose recv ended with ENOBUFS

    uint32_t _inflight = 0;          // stream, acceptor and fdatasync operations
    bool _timeout_armed = false;
    uint64_t _timeout_at_ms = 0;
    __kernel_timespec _timeout_ts{};
    uint64_t _wake_buf = 0;

    std::vector<callback<void(result<void>)>> _fsyncs;
    std::vector<uint32_t> _fsync_free;
};

result<std::unique_ptr<io_backend>> make_uring_backend(reactor& r, const reactor_config& config) {
    auto b = std::make_unique<uring_backend>(r);
    auto ok = b->init(config);
    if (!ok) return ok.err();
    return std::unique_ptr<io_backend>(std::move(b));
}

result<void> uring_backend::init(const reactor_config& config) {
    if (_pool.chunk_count() > 65536) return error{EINVAL, "io_uring: a chunk pool holds at most 65536 chunks"};
    int rc = setup_ring(std::max<uint32_t>(config.sq_entries, 64), &_ring);
    if (rc < 0) return error{-rc, "io_uring_setup"};
    _ring_ready = true;

    uint32_t want = config.ring_chunks ? config.ring_chunks : _pool.free_count();
    want = std::min({want, _pool.free_count(), 32768u});
    if (want == 0) return error{ENOBUFS, "io_uring: no free chunk for the buffer ring"};
    _br_entries = 1;
    while (_br_entries < want) _br_entries <<= 1;
    _br_bytes = (static_cast<size_t>(_br_entries) * sizeof(io_uring_buf) + 4095) & ~size_t{4095};
    void* mem = ::mmap(nullptr, _br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return errno_error("io_uring: buffer ring mmap");
    _br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(_br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = _br_entries;
    reg.bgid = k_bgid;
    rc = io_uring_register_buf_ring(&_ring, &reg, 0);
    if (rc < 0) {
        ::munmap(_br, _br_bytes);
        _br = nullptr;
        return error{-rc, "io_uring: buffer ring registration"};
    }
    _in_ring.assign(_pool.chunk_count(), false);
    _pool.set_release_hook(&uring_backend::on_chunk_released, this);
    for (uint32_t i = 0; i < want; ++i) {
        uint32_t id = _pool.take_for_ring();
        if (id == UINT32_MAX) break;
        on_chunk_released(this, &_pool.at(id));
    }
    publish_buffers();
    arm_wake();
    return ok();
}

uring_backend::~uring_backend() {
    if (!_ring_ready) return;
    _pool.set_release_hook(nullptr, nullptr);
    // Normally nothing is left (reactor::run_until_idle). Otherwise cancel
    // everything and wait, without calling owners, so the kernel no longer
    // touches their memory when they go.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    sqe->user_data = ud_ignore;
    const uint64_t give_up_ms = reactor::clock_ms() + 1000;
    bool logged = false;
    while ((_inflight > 0 || _timeout_armed) && reactor::clock_ms() < give_up_ms) {
        if (_inflight > 0 && !logged) {
            log::warn("msg=\"io_uring ops still in flight at reactor exit\" inflight={}", _inflight);
            logged = true;
        }
        __kernel_timespec ts{0, 10 * 1000 * 1000};
        io_uring_cqe* cqe = nullptr;
        io_uring_submit_and_wait_timeout(&_ring, &cqe, 1, &ts, nullptr);
        io_uring_cqe* cqes[k_batch];
        unsigned n;
        while ((n = io_uring_peek_batch_cqe(&_ring, cqes, k_batch)) > 0) {
            for (unsigned i = 0; i < n; ++i) {
                uint64_t ud = cqes[i]->user_data;
                uint32_t f = cqes[i]->flags;
                if (f & IORING_CQE_F_BUFFER) {
                    uint32_t bid = f >> IORING_CQE_BUFFER_SHIFT;
                    _in_ring[bid] = false;
                    chunk_ref c = _pool.adopt(bid);  // no hook now: back to the free list
                }
                uint64_t t = ud & tag_mask;
                if (ud == ud_timeout) _timeout_armed = false;
                if (ud == ud_wake) continue;
                if ((t == tag_recv || t == tag_accept) && (f & IORING_CQE_F_MORE)) continue;
                if (t == tag_accept && cqes[i]->res >= 0) ::close(cqes[i]->res);
                if (t != tag_internal && _inflight > 0) --_inflight;
            }
            io_uring_cq_advance(&_ring, n);
        }
    }
    // Chunks sitting in the ring go back to the pool's free list.
    for (uint32_t id = 0; id < _in_ring.size(); ++id) {
        if (_in_ring[id] && _pool.at(id).refs == 0) {
            chunk_ref c = _pool.adopt(id);
        }
    }
    if (_br) {
        io_uring_unregister_buf_ring(&_ring, k_bgid);
        ::munmap(_br, _br_bytes);
    }
    io_uring_queue_exit(&_ring);
}

io_uring_sqe* uring_backend::get_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&_ring);
    if (!sqe) {
        // Submission queue full: submit early (rare; one extra syscall).
        io_uring_submit(&_ring);
        sqe = io_uring_get_sqe(&_ring);
    }
    if (!sqe) panic(__FILE__, __LINE__, "io_uring: no submission entry after submit");
    return sqe;
}

void uring_backend::on_chunk_released(void* ctx, chunk* c) noexcept {
    auto* self = static_cast<uring_backend*>(ctx);
    io_uring_buf_ring_add(self->_br, c->data, c->capacity, static_cast<unsigned short>(c->index),
                          io_uring_buf_ring_mask(self->_br_entries), static_cast<int>(self->_pending_adds));
    ++self->_pending_adds;
    self->_in_ring[c->index] = true;
}

void uring_backend::publish_buffers() noexcept {
    if (_pending_adds == 0) return;
    io_uring_buf_ring_advance(_br, static_cast<int>(_pending_adds));
    _ring_available += _pending_adds;
    _pending_adds = 0;
}

// --- the turn ------------------------------------------------------------

void uring_backend::submit_and_wait(bool block, uint64_t deadline_ms) noexcept {
    publish_buffers();
    if (_ring_available > 0 && !_starved.empty()) {
        task_queue starved;
        starved.splice(_starved);
        while (task* t = starved.pop()) maybe_rearm(*static_cast<stream*>(t->ctx()));
    }
    if (block) {
        arm_timeout(deadline_ms);
        io_uring_submit_and_wait(&_ring, 1);
    } else {
        io_uring_submit_and_get_events(&_ring);
    }
}

void uring_backend::arm_timeout(uint64_t deadline_ms) noexcept {
    if (deadline_ms == no_deadline) return;
    if (_timeout_armed && _timeout_at_ms <= deadline_ms) return;  // an early wake re-arms
    _timeout_ts.tv_sec = static_cast<long long>(deadline_ms / 1000);
    _timeout_ts.tv_nsec = static_cast<long long>(deadline_ms % 1000) * 1000000;
    io_uring_sqe* sqe = get_sqe();
    if (_timeout_armed) {
        io_uring_prep_timeout_update(sqe, &_timeout_ts, ud_timeout, IORING_TIMEOUT_ABS);
        sqe->user_data = ud_ignore;
    } else {
        io_uring_prep_timeout(sqe, &_timeout_ts, 0, IORING_TIMEOUT_ABS);
        sqe->user_data = ud_timeout;
        _timeout_armed = true;
    }
    _timeout_at_ms = deadline_ms;
}

void uring_backend::arm_wake() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, _r._wake_fd, &_wake_buf, sizeof _wake_buf, 0);
    sqe->user_data = ud_wake;
}

void uring_backend::dispatch() noexcept {
    struct completion {
        uint64_t ud;
        int res;
        uint32_t flags;
    };
    completion batch[k_batch];
    io_uring_cqe* cqes[k_batch];
    uint32_t total = 0;
    while (total < k_cqes_per_turn_max) {
        unsigned n = io_uring_peek_batch_cqe(&_ring, cqes, k_batch);
        if (n == 0) break;
        // Copy first: handlers may submit, and the CQ slots are reused.
        for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
        io_uring_cq_advance(&_ring, n);
        for (unsigned i = 0; i < n; ++i) handle(batch[i].ud, batch[i].res, batch[i].flags);
        total += n;
    }
}

void uring_backend::handle(uint64_t ud, int res, uint32_t flags) noexcept {
    switch (static_cast<tag>(ud & tag_mask)) {
    case tag_recv: on_recv(*untag<stream>(ud), res, flags); return;
    case tag_send: on_send(*untag<stream>(ud), res); return;
    case tag_accept: on_accept(*untag<acceptor>(ud), res, flags); return;
    case tag_fsync: on_fsync(static_cast<uint32_t>(ud >> 3), res); return;
    case tag_poll: on_poll(*untag<fd_poll>(ud), res); return;
    case tag_internal:
        if (ud == ud_timeout) {
            _timeout_armed = false;
        } else if (ud == ud_wake) {
            if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED)
                log::error("msg=\"wake-up read failed\" errno={}", -res);
            arm_wake();
        }
        return;
    }
    panic(__FILE__, __LINE__, "io_uring: completion with an unknown tag");
}

// --- fdatasync -------------------------------------------------------------

void uring_backend::fdatasync(int fd, callback<void(result<void>)> done) noexcept {
    uint32_t slot;
    if (!_fsync_free.empty()) {
        slot = _fsync_free.back();
        _fsync_free.pop_back();
        _fsyncs[slot] = done;
    } else {
        slot = static_cast<uint32_t>(_fsyncs.size());
        _fsyncs.push_back(done);
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    sqe->user_data = (static_cast<uint64_t>(slot) << 3) | tag_fsync;
    ++_inflight;
}

void uring_backend::on_fsync(uint32_t slot, int res) noexcept {
    PH_ASSERT(slot < _fsyncs.size());
    callback<void(result<void>)> done = _fsyncs[slot];
    _fsyncs[slot] = {};
    _fsync_free.push_back(slot);
    --_inflight;
    if (res < 0)
        done(error{-res, "fdatasync"});
    else
        done(ok());
}

// --- fd polls ----------------------------------------------------------------

void uring_backend::poll_arm(fd_poll& p) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, p.fd, p.events);
    sqe->user_data = tagged(&p, tag_poll);
    p.flags |= pf_armed;
    ++_inflight;
}

void uring_backend::poll_cancel(fd_poll& p) noexcept {
    if (!(p.flags & pf_armed) || (p.flags & pf_cancelling)) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(&p, tag_poll), 0);
    sqe->user_data = ud_ignore;
    p.flags |= pf_cancelling;
}

void uring_backend::on_poll(fd_poll& p, int res) noexcept {
    --_inflight;
    // A wait that became ready while its cancel was on the way still ends
    // as cancelled: the owner has said it no longer cares.
    if (p.flags & pf_cancelling) res = -ECANCELED;
    p.flags &= ~(pf_armed | pf_cancelling);
    p.handler->on_poll(res);  // the owner may free p now
}

// --- streams -----------------------------------------------------------------

void uring_backend::stream_open(stream& s) noexcept {
    s.work.set(&uring_backend::on_stream_work, &s);
    s.starved.set(nullptr, &s);
}

void uring_backend::on_stream_work(void* ctx) noexcept {
    auto& s = *static_cast<stream*>(ctx);
    if (s.flags & sf_notify_closed) {
        s.flags &= ~sf_notify_closed;
        s.handler->on_stream_closed();  // the owner may free s now
    }
}

void uring_backend::arm_recv(stream& s) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = k_bgid;
    sqe->user_data = tagged(&s, tag_recv);
    s.flags |= sf_recv_armed;
    ++s.inflight;
    ++_inflight;
}

void uring_backend::maybe_rearm(stream& s) noexcept {
    if (s.flags & (sf_closing | sf_recv_armed | sf_ended)) return;
    if (!(s.flags & sf_recv_wanted)) return;
    if (_ring_available == 0 && _pending_adds == 0) {
        _starved.push(s.starved);
        return;
    }
    arm_recv(s);
    ++_r._stats.recv_rearmed;
}

void uring_backend::stream_recv(stream& s, bool on) noexcept {
    if (on) {
        s.flags |= sf_recv_wanted;
        if (!(s.flags & (sf_recv_armed | sf_closing | sf_ended)) && !s.starved.queued()) {
            if (_ring_available == 0 && _pending_adds == 0)
                _starved.push(s.starved);
            else
                arm_recv(s);
        }
    } else {
        // Lazy: the recv stays armed until data actually arrives while off
        // (then it is cancelled), so a pause/resume pair costs nothing.
        s.flags &= ~sf_recv_wanted;
        s.starved.unlink();
    }
}

void uring_backend::on_recv(stream& s, int res, uint32_t flags) noexcept {
    slice data;
    if (flags & IORING_CQE_F_BUFFER) {
        uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
        _in_ring[bid] = false;
        --_ring_available;
        chunk_ref c = _pool.adopt(bid);
        if (res > 0) data = slice{std::move(c), 0, static_cast<uint32_t>(res)};
        // else: dropping c hands the buffer back to the ring
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        s.flags &= ~(sf_recv_armed | sf_cancel_sent);
        --s.inflight;
        --_inflight;
    }
    if (s.flags & sf_closing) {
        // Late data of a closed stream is dropped; of a released one it is
        // the next owner's, so the handler keeps it.
        if ((s.flags & sf_release) && res > 0) s.handler->on_stream_data(std::move(data));
        if (s.inflight == 0) finish_close(s);
        return;
    }
    if (res > 0) {
        if (!(s.flags & sf_recv_wanted) && (s.flags & sf_recv_armed) && !(s.flags & sf_cancel_sent)) {
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, tagged(&s, tag_recv), 0);
            sqe->user_data = ud_ignore;
            s.flags |= sf_cancel_sent;
        }
        s.handler->on_stream_data(std::move(data));
        maybe_rearm(s);
        return;
    }
    if (res == -ENOBUFS) {
        ++_r._stats.recv_starved;
        maybe_rearm(s);  // parks it on _starved when the ring is still empty
        return;
    }
    if (res == -ECANCELED) {
        maybe_rearm(s);
        return;
    }
    if (s.flags & sf_ended) return;
    s.flags |= sf_ended;
    s.handler->on_stream_end(res == 0 ? 0 : res);
}

void uring_backend::submit_send(stream& s, bool poll_first) noexcept {
    io_uring_sqe* sqe = get_sqe();
    size_t n = std::min<size_t>(s.send_left, size_t{1} << 30);
    io_uring_prep_send(sqe, s.fd, s.send_ptr, n, MSG_NOSIGNAL);
    if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    sqe->user_data = tagged(&s, tag_send);
    ++s.inflight;
    ++_inflight;
}

void uring_backend::stream_send(stream& s) noexcept {
    if (s.flags & sf_closing) return;
    s.flags |= sf_sending;
    submit_send(s, false);
}

void uring_backend::on_send(stream& s, int res) noexcept {
    --s.inflight;
    --_inflight;
    if (s.flags & sf_closing) {
        if (s.inflight == 0) finish_close(s);
        return;
    }
    if (res == -EAGAIN || res == -EINTR) {  // an O_NONBLOCK socket under pressure
        submit_send(s, true);
        return;
    }
    if (res > 0) {
        s.send_ptr += res;
        s.send_left -= static_cast<size_t>(res);
        if (s.send_left > 0) {
            submit_send(s, false);
            return;
        }
    }
    s.flags &= ~sf_sending;
    int err = res < 0 ? res : (s.send_left > 0 ? -EPIPE : 0);
    s.handler->on_stream_sent(err);
}

void uring_backend::stream_close(stream& s) noexcept {
    if (s.flags & sf_closing) return;
    s.flags |= sf_closing;
    s.flags &= ~(sf_recv_wanted | sf_sending);
    s.starved.unlink();
    if (s.inflight == 0) {
        finish_close(s);
        return;
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel_fd(sqe, s.fd, IORING_ASYNC_CANCEL_ALL);
    sqe->user_data = ud_ignore;
}

void uring_backend::finish_close(stream& s) noexcept {
    if (s.flags & sf_release) {
        s.flags |= sf_notify_closed;  // the fd stays open, for its next owner
        _r.post(s.work);
        return;
    }
    if (s.fd >= 0) ::close(s.fd);
    s.fd = -1;
    s.flags |= sf_notify_closed;
    _r.post(s.work);
}

// --- acceptors -------------------------------------------------------------

result<void> uring_backend::acceptor_open(acceptor& a) noexcept {
    a.work.set(&on_acceptor_work, &a);
    arm_accept(a);
    return ok();
}

void uring_backend::arm_accept(acceptor& a) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, a.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    sqe->user_data = tagged(&a, tag_accept);
    a.flags |= af_armed;
    ++a.inflight;
    ++_inflight;
}

void uring_backend::on_accept(acceptor& a, int res, uint32_t flags) noexcept {
    if (!(flags & IORING_CQE_F_MORE)) {
        a.flags &= ~af_armed;
        --a.inflight;
        --_inflight;
    }
    if (a.flags & af_closing) {
        if (res >= 0) ::close(res);
        if (a.inflight == 0) finish_close(a);
        return;
    }
    if (res >= 0) {
        a.handler->on_accept(res);
    } else if (res != -ECANCELED) {
        a.handler->on_accept_error(res);
        if ((res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) &&
            !(a.flags & (af_closing | af_paused))) {
            // Out of descriptors or memory: stop accepting for a moment.
            a.flags |= af_paused;
            if (a.flags & af_armed) {
                io_uring_sqe* sqe = get_sqe();
                io_uring_prep_cancel64(sqe, tagged(&a, tag_accept), 0);
                sqe->user_data = ud_ignore;
            }
            a.backoff = _r.schedule_after(accept_backoff_ms, [this, &a]() noexcept {
                a.backoff = {};
                a.flags &= ~af_paused;
                if (!(a.flags & (af_armed | af_closing))) arm_accept(a);
            });
        }
    }
    if (!(a.flags & (af_armed | af_closing | af_paused))) arm_accept(a);
}

void uring_backend::acceptor_close(acceptor& a) noexcept {
    if (a.flags & af_closing) return;
    a.flags |= af_closing;
    if (a.backoff) _r.cancel(a.backoff);
    a.backoff = {};
    if (a.inflight == 0) {
        finish_close(a);
        return;
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(&a, tag_accept), 0);
    sqe->user_data = ud_ignore;
}

void uring_backend::finish_close(acceptor& a) noexcept {
    if (a.fd >= 0) ::close(a.fd);
    a.fd = -1;
    a.flags |= af_notify_closed;
    _r.post(a.work);
}

}  // namespace posthorn::core
