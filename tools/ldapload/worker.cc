// The epoll loop of posthorn-ldapload (see worker.hh).
#include "worker.hh"

#include "ber.hh"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <netinet/tcp.h>
#include <random>
#include <sys/epoll.h>
#include <unistd.h>

namespace posthorn::ldapload {

uint64_t now_ns() noexcept {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

namespace {

constexpr size_t read_chunk_bytes = 256 * 1024;
constexpr uint64_t errors_printed_max = 10;

std::mutex g_print_mutex;
std::atomic<uint64_t> g_printed{0};

void report(uint32_t conn, const std::string& what) {
    if (g_printed.fetch_add(1) >= errors_printed_max) return;
    std::lock_guard<std::mutex> lock(g_print_mutex);
    std::fprintf(stderr, "posthorn-ldapload: connection %u: %s\n", conn, what.c_str());
}

// One outstanding request.
struct slot {
    uint32_t id = 0;
    bool busy = false;
    bool wrong_entry = false;  // eq-mail: an entry without the address
    uint32_t mail = 0;         // eq-mail: index into run.mails
    uint32_t entries = 0;
    uint32_t references = 0;
    uint64_t t0_ns = 0;
};

struct connection {
    int fd = -1;
    uint32_t index = 0;
    std::vector<char> in = std::vector<char>(read_chunk_bytes);
    size_t in_head = 0, in_tail = 0;
    std::string out;
    size_t out_head = 0;
    bool want_out = false;    // EPOLLOUT armed
    bool dead = false;
    uint32_t next_id = 1;
    uint32_t outstanding = 0;
    uint64_t last_progress_ns = 0;
    std::vector<slot> slots;
    std::mt19937_64 rng;
};

class worker {
public:
    worker(run_state& run, worker_result& res) : _run(run), _o(run.o), _res(res) {}
    ~worker() {
        for (auto& c : _conns)
            if (c->fd >= 0) ::close(c->fd);
        if (_ep >= 0) ::close(_ep);
    }

    bool setup(uint32_t first, uint32_t count);
    void loop();
    void finish();

private:
    bool open(connection& c);
    bool bind_blocking(connection& c);
    void issue(connection& c, uint64_t now);
    void on_readable(connection& c, uint64_t now);
    void on_message(connection& c, const ldap_message& m, uint64_t now);
    void complete(connection& c, slot& s, uint64_t now, uint32_t result_code, std::string_view diagnostic);
    void flush(connection& c);
    void drop(connection& c, const std::string& why);
    void error(connection& c, const std::string& what) {
        ++_res.errors;
        _run.errors.fetch_add(1, std::memory_order_relaxed);
        report(c.index, what);
    }
    std::string describe(const slot& s) const {
        return _o.m == mode::eq_mail ? "(mail=" + _run.mails[s.mail] + ")" : "(cn=" + _o.prefix + "*)";
    }

    run_state& _run;
    const options& _o;
    worker_result& _res;
    int _ep = -1;
    std::vector<std::unique_ptr<connection>> _conns;
    bool _stopping = false;   // past the deadline (or too many errors): no new searches
    uint32_t _outstanding = 0;
    uint64_t _bytes = 0;
    std::string _scratch;
};

bool worker::open(connection& c) {
    c.fd = ::socket(_run.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{static_cast<time_t>(_o.timeout_ms / 1000), static_cast<suseconds_t>((_o.timeout_ms % 1000) * 1000)};
    ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&_run.addr), _run.addr_len) != 0) {
        report(c.index, std::string("connect: ") + std::strerror(errno));
        return false;
    }
    return true;
}

// Simple bind, blocking, before the measured phase.
bool worker::bind_blocking(connection& c) {
    std::string req;
    encode_bind(req, c.next_id++, _o.bind_dn, _o.bind_password);
    if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        report(c.index, std::string("bind: send: ") + std::strerror(errno));
        return false;
    }
    for (;;) {
        ldap_message m;
        frame_status st = frame_message(std::string_view(c.in.data() + c.in_head, c.in_tail - c.in_head), m);
        if (st == frame_status::malformed) {
            report(c.index, "bind: malformed response");
            return false;
        }
        if (st == frame_status::complete) {
            c.in_head += m.size;
            uint32_t rc = 0;
            std::string_view diag;
            if (m.op != op_bind_response || !parse_result(m.body, rc, diag)) {
                report(c.index, "bind: unexpected response");
                return false;
            }
            if (rc != 0) {
                report(c.index, "bind as " + _o.bind_dn + ": resultCode " + std::to_string(rc) + " " + std::string(diag));
                return false;
            }
            return true;
        }
        if (c.in_tail == c.in.size()) {
            report(c.index, "bind: response too long");
            return false;
        }
        ssize_t n = ::recv(c.fd, c.in.data() + c.in_tail, c.in.size() - c.in_tail, 0);
        if (n <= 0) {
            report(c.index, n == 0 ? "bind: connection closed" : std::string("bind: recv: ") + std::strerror(errno));
            return false;
        }
        c.in_tail += static_cast<size_t>(n);
    }
}

bool worker::setup(uint32_t first, uint32_t count) {
    _ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (_ep < 0) return false;
    for (uint32_t i = 0; i < count; ++i) {
        auto c = std::make_unique<connection>();
        c->index = first + i;
        c->slots.resize(_o.depth);
        c->rng.seed(_o.seed * 1000003u + c->index);
        if (!open(*c)) return false;
        if (!_o.bind_dn.empty() && !bind_blocking(*c)) return false;
        int fl = ::fcntl(c->fd, F_GETFL);
        ::fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = c.get();
        if (::epoll_ctl(_ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) return false;
        _conns.push_back(std::move(c));
    }
    return true;
}

void worker::issue(connection& c, uint64_t now) {
    while (!_stopping && !c.dead && c.outstanding < _o.depth) {
        slot* s = nullptr;
        for (slot& x : c.slots)
            if (!x.busy) {
                s = &x;
                break;
            }
        *s = slot{};
        s->busy = true;
        s->id = c.next_id;
        c.next_id = c.next_id >= 0x7fffffff ? 1 : c.next_id + 1;
        s->t0_ns = now;
        search_spec spec;
        spec.base = _o.base;
        spec.attrs = &_o.attrs;
        if (_o.m == mode::eq_mail) {
            s->mail = static_cast<uint32_t>(c.rng() % _run.mails.size());
            spec.kind = filter_kind::equality;
            spec.attr = "mail";
            spec.value = _run.mails[s->mail];
        } else {
            spec.kind = filter_kind::substring_initial;
            spec.attr = "cn";
            spec.value = _o.prefix;
        }
        encode_search(c.out, s->id, spec);
        ++c.outstanding;
        ++_outstanding;
    }
}

void worker::flush(connection& c) {
    while (!c.dead && c.out_head < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_head, c.out.size() - c.out_head, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_head += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        drop(c, std::string("send: ") + std::strerror(errno));
        return;
    }
    if (c.dead) return;
    const bool pending = c.out_head < c.out.size();
    if (!pending) {
        c.out.clear();
        c.out_head = 0;
    }
    if (pending != c.want_out) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | (pending ? EPOLLOUT : 0u);
        ev.data.ptr = &c;
        ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
        c.want_out = pending;
    }
}

void worker::drop(connection& c, const std::string& why) {
    if (c.dead) return;
    c.dead = true;
    // Every search still outstanding on it failed.
    const uint32_t lost = c.outstanding;
    _outstanding -= lost;
    c.outstanding = 0;
    for (slot& s : c.slots) s.busy = false;
    error(c, why + (lost ? " (" + std::to_string(lost) + " searches outstanding)" : std::string()));
    ::epoll_ctl(_ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
}

void worker::complete(connection& c, slot& s, uint64_t now, uint32_t result_code, std::string_view diagnostic) {
    const int64_t want = _o.expect_entries >= 0 ? _o.expect_entries : (_o.m == mode::eq_mail ? 1 : -1);
    std::string err;
    if (result_code != 0)
        err = "search " + describe(s) + ": resultCode " + std::to_string(result_code) + " \"" + std::string(diagnostic) + "\"";
    else if (s.references != 0)
        err = "search " + describe(s) + ": " + std::to_string(s.references) + " SearchResultReference(s)";
    else if (want >= 0 && s.entries != static_cast<uint64_t>(want))
        err = "search " + describe(s) + ": " + std::to_string(s.entries) + " entries, expected " + std::to_string(want);
    else if (want < 0 && s.entries == 0)
        err = "search " + describe(s) + ": no entry";
    else if (s.wrong_entry)
        err = "search " + describe(s) + ": an entry without that address among its values";
    if (err.empty()) {
        ++_res.searches;
        _res.entries += s.entries;
        _res.lat_us.push_back(static_cast<uint32_t>(std::min<uint64_t>((now - s.t0_ns) / 1000, UINT32_MAX)));
        _res.end_ns = now;
    } else {
        error(c, err);
    }
    s.busy = false;
    --c.outstanding;
    --_outstanding;
    if (_run.errors.load(std::memory_order_relaxed) >= _o.max_errors) _stopping = true;
}

void worker::on_message(connection& c, const ldap_message& m, uint64_t now) {
    slot* s = nullptr;
    for (slot& x : c.slots)
        if (x.busy && x.id == m.id) {
            s = &x;
            break;
        }
    if (s == nullptr) {
        uint32_t rc = 0;
        std::string_view diag;
        std::string what = "message ID " + std::to_string(m.id) + " (op 0x" + [&] {
            char b[8];
            std::snprintf(b, sizeof b, "%02x", m.op);
            return std::string(b);
        }() + ") answers no outstanding request";
        if (m.op == op_extended_response && parse_result(m.body, rc, diag))
            what += ": resultCode " + std::to_string(rc) + " \"" + std::string(diag) + "\"";
        drop(c, what);
        return;
    }
    switch (m.op) {
    case op_search_entry:
        ++s->entries;
        if (_o.m == mode::eq_mail && !_o.attrs.empty() &&
            std::find(_o.attrs.begin(), _o.attrs.end(), "mail") != _o.attrs.end() &&
            !entry_has_value(m.body, _run.mails[s->mail]))
            s->wrong_entry = true;
        break;
    case op_search_reference: ++s->references; break;
    case op_search_done: {
        uint32_t rc = 0;
        std::string_view diag;
        if (!parse_result(m.body, rc, diag)) {
            drop(c, "malformed SearchResultDone");
            return;
        }
        complete(c, *s, now, rc, diag);
        break;
    }
    default: {
        char b[8];
        std::snprintf(b, sizeof b, "%02x", m.op);
        drop(c, std::string("unexpected protocolOp 0x") + b + " for a search");
        return;
    }
    }
}

void worker::on_readable(connection& c, uint64_t now) {
    for (;;) {
        if (c.in_tail == c.in.size()) {
            // Move the partial message to the front; grow if it fills the buffer.
            if (c.in_head > 0) {
                std::memmove(c.in.data(), c.in.data() + c.in_head, c.in_tail - c.in_head);
                c.in_tail -= c.in_head;
                c.in_head = 0;
            } else if (c.in.size() < message_bytes_max + 16) {
                c.in.resize(c.in.size() * 2);
            } else {
                drop(c, "response message too long");
                return;
            }
        }
        const size_t room = c.in.size() - c.in_tail;
        ssize_t n = ::recv(c.fd, c.in.data() + c.in_tail, room, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
            drop(c, n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno));
            return;
        }
        c.in_tail += static_cast<size_t>(n);
        _bytes += static_cast<uint64_t>(n);
        c.last_progress_ns = now;
        for (;;) {
            ldap_message m;
            frame_status st = frame_message(std::string_view(c.in.data() + c.in_head, c.in_tail - c.in_head), m);
            if (st == frame_status::need_more) break;
            if (st == frame_status::malformed) {
                drop(c, "malformed LDAPMessage");
                return;
            }
            c.in_head += m.size;
            on_message(c, m, now);
            if (c.dead) return;
        }
        if (c.in_head == c.in_tail) c.in_head = c.in_tail = 0;
        if (static_cast<size_t>(n) < room) break;  // the socket is drained for now
    }
    issue(c, now);
    flush(c);
}

void worker::loop() {
    const uint64_t deadline = _run.deadline_ns.load();
    uint64_t now = now_ns();
    for (auto& c : _conns) {
        c->last_progress_ns = now;
        issue(*c, now);
        flush(*c);
    }
    std::vector<epoll_event> events(256);
    const uint64_t timeout_ns = uint64_t{_o.timeout_ms} * 1'000'000u;
    for (;;) {
        now = now_ns();
        if (now >= deadline) _stopping = true;
        if (_stopping && _outstanding == 0) break;
        int wait_ms = 100;
        if (!_stopping) wait_ms = static_cast<int>(std::min<uint64_t>(100, (deadline - now) / 1'000'000u + 1));
        int n = ::epoll_wait(_ep, events.data(), static_cast<int>(events.size()), wait_ms);
        if (n < 0 && errno != EINTR) break;
        now = now_ns();
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<connection*>(events[static_cast<size_t>(i)].data.ptr);
            if (c->dead) continue;
            const uint32_t ev = events[static_cast<size_t>(i)].events;
            if (ev & EPOLLOUT) flush(*c);
            if (!c->dead && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) on_readable(*c, now);
        }
        for (auto& c : _conns)
            if (!c->dead && c->outstanding > 0 && now - c->last_progress_ns > timeout_ns)
                drop(*c, "no response for " + std::to_string(_o.timeout_ms) + " ms");
    }
    _res.bytes_in = _bytes;
}

void worker::finish() {
    for (auto& c : _conns) {
        if (c->dead) continue;
        _scratch.clear();
        encode_unbind(_scratch, c->next_id);
        int fl = ::fcntl(c->fd, F_GETFL);
        ::fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
        (void)!::send(c->fd, _scratch.data(), _scratch.size(), MSG_NOSIGNAL);
        ::close(c->fd);
        c->fd = -1;
    }
}

}  // namespace

void worker_main(run_state& run, uint32_t first, uint32_t count, worker_result& out) {
    worker w(run, out);
    if (!w.setup(first, count)) {
        run.setup_failed.store(true);
        ++out.errors;
    }
    run.ready.count_down();
    run.go.wait();
    if (run.setup_failed.load()) return;
    w.loop();
    w.finish();
}

}  // namespace posthorn::ldapload
