// Which io backend this kernel can run (STYLE.md #7): sets up a ring, checks
// the opcodes posthorn uses, and runs one multishot recv into a provided
// buffer ring on a socketpair, since neither multishot mode nor buffer rings
// show up in the opcode probe. Falls back to epoll (auto) with one log line.
// Threading: any thread; the probe ring lives only inside choose_io().
#include "posthorn/core/log.hh"
#include "posthorn/core/reactor.hh"

#include "core/io_backend.hh"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace posthorn::core {

int setup_ring(unsigned entries, ::io_uring* ring) noexcept {
    io_uring_params p{};
    // No TASKRUN_FLAG: completions are reaped only by the turn's one enter
    // (it always asks for events), so peeking the CQ never enters the kernel.
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, ring, &p);
    if (rc != -EINVAL) return rc;
    // Older kernels: no single-issuer / deferred task running.
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    return io_uring_queue_init_params(entries, ring, &p);
}

namespace {

struct probe_failure {
    int code = 0;
    const char* why = nullptr;
};

const struct {
    int op;
    const char* name;
} k_needed_ops[] = {
    {IORING_OP_ACCEPT, "opcode ACCEPT missing"},
    {IORING_OP_RECV, "opcode RECV missing"},
    {IORING_OP_SEND, "opcode SEND missing"},
    {IORING_OP_FSYNC, "opcode FSYNC missing"},
    {IORING_OP_READ, "opcode READ missing"},
    {IORING_OP_TIMEOUT, "opcode TIMEOUT missing"},
    {IORING_OP_TIMEOUT_REMOVE, "opcode TIMEOUT_REMOVE missing"},
    {IORING_OP_ASYNC_CANCEL, "opcode ASYNC_CANCEL missing"},
};

// One multishot recv with IOSQE_BUFFER_SELECT from a registered buffer ring.
probe_failure probe_multishot_recv(::io_uring* ring) {
    const size_t ring_bytes = 4096;
    void* mem = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return {errno, "mmap"};
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = 1;
    reg.bgid = 1;
    probe_failure out;
    char buf[64];
    int sv[2] = {-1, -1};
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        out = {-rc, "buffer ring registration failed"};
    } else {
        io_uring_buf_ring_add(br, buf, sizeof buf, 0, io_uring_buf_ring_mask(1), 0);
        io_uring_buf_ring_advance(br, 1);
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            out = {errno, "socketpair"};
        } else if (::write(sv[1], "x", 1) != 1) {
            out = {errno, "write"};
        } else {
            io_uring_sqe* sqe = io_uring_get_sqe(ring);
            io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = 1;
            sqe->user_data = 1;
            io_uring_cqe* cqe = nullptr;
            rc = io_uring_submit_and_wait(ring, 1);
            if (rc >= 0) rc = io_uring_peek_cqe(ring, &cqe);
            if (rc < 0 || !cqe) {
                out = {rc < 0 ? -rc : EIO, "multishot recv probe: no completion"};
            } else if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_BUFFER) || !(cqe->flags & IORING_CQE_F_MORE)) {
                out = {cqe->res < 0 ? -cqe->res : EOPNOTSUPP, "multishot recv with a buffer ring unsupported"};
            }
            if (cqe) io_uring_cqe_seen(ring, cqe);
            // End the recv before its buffer ring goes away.
            sqe = io_uring_get_sqe(ring);
            io_uring_prep_cancel64(sqe, 1, 0);
            sqe->user_data = 2;
            io_uring_submit_and_wait(ring, 1);
        }
        io_uring_unregister_buf_ring(ring, 1);
    }
    if (sv[0] >= 0) ::close(sv[0]);
    if (sv[1] >= 0) ::close(sv[1]);
    ::munmap(mem, ring_bytes);
    return out;
}

probe_failure probe_uring() {
    ::io_uring ring;
    int rc = setup_ring(8, &ring);
    if (rc < 0) return {-rc, "io_uring_setup failed"};
    probe_failure out;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (!probe) {
        out = {EOPNOTSUPP, "opcode probe failed"};
    } else {
        for (const auto& op : k_needed_ops) {
            if (!io_uring_opcode_supported(probe, op.op)) {
                out = {EOPNOTSUPP, op.name};
                break;
            }
        }
        io_uring_free_probe(probe);
    }
    if (!out.why) out = probe_multishot_recv(&ring);
    io_uring_queue_exit(&ring);
    return out;
}

}  // namespace

result<io_choice> choose_io(io_mode requested, bool log_fallback) {
    if (requested == io_mode::epoll) return io_choice{io_mode::epoll, "forced"};
    probe_failure f = probe_uring();
    if (!f.why) return io_choice{io_mode::io_uring, requested == io_mode::io_uring ? "forced" : "probed"};
    if (requested == io_mode::io_uring) return error{f.code, f.why};
    if (log_fallback)
        log::warn("msg=\"io_uring unavailable, using epoll\" io=epoll reason=\"{}\" errno={} error=\"{}\"",
                  f.why, f.code, std::strerror(f.code));
    return io_choice{io_mode::epoll, f.why};
}

}  // namespace posthorn::core
