// The client side of SMTP for many sessions on one epoll instance.
//
// A session slot loops: claim a message, connect (retrying a connect that has
// not completed after connect_timeout_ms: a SYN dropped by a full listen queue
// would otherwise stall for the kernel's 1 s retransmit), read the greeting,
// EHLO, MAIL, RCPT, DATA, body, then either the next MAIL on the same
// connection (--reuse) or QUIT and a new connection. With --pipelining and
// PIPELINING advertised, MAIL/RCPT/DATA go out in one write. Every wait for a
// reply has a deadline. Any unexpected reply, EOF or timeout inside a
// transaction fails that one message (counted, the reply remembered) and the
// slot goes on with a fresh connection. Past --max-errors errors (all threads)
// no new message starts, so a broken server ends the run quickly.
//
// Latency of a message: from the moment the write that completes its final
// "\r\n.\r\n" returns, to the moment its reply is parsed.
//
// Thread rule: a worker owns its sessions and epoll fd; it touches run_state
// only through atomics.
#include "worker.hh"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace posthorn::loadgen {
namespace {

constexpr size_t k_reply_bytes_max = 64 * 1024;  // an unterminated reply beyond this fails
constexpr uint64_t k_refused_retry_ns = 50'000'000;
constexpr uint64_t k_close_wait_ns = 1'000'000'000;  // for the server's FIN after 221
constexpr int k_iov_max = 64;

uint64_t now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

enum class stage : uint8_t { connect, greeting, ehlo, mail, rcpt, data, dot, quit };

const char* stage_name(stage s) noexcept {
    switch (s) {
    case stage::connect: return "connect";
    case stage::greeting: return "greeting";
    case stage::ehlo: return "EHLO";
    case stage::mail: return "MAIL";
    case stage::rcpt: return "RCPT";
    case stage::data: return "DATA";
    case stage::dot: return "end-of-data";
    case stage::quit: return "QUIT";
    }
    return "?";
}

// closing: QUIT answered, waiting for the server to close first, so that the
// TIME_WAIT state lands on the server's side. A client that closes first keeps
// tens of thousands of TIME_WAIT sockets on its ephemeral ports at these
// connection rates, and connect() then slows down for every later run.
enum class state : uint8_t { off, retry_wait, connecting, talking, closing, idle, finished };

struct session {
    int fd = -1;
    uint32_t generation = 0;
    state st = state::off;
    uint64_t deadline_ns = 0;  // 0 = none
    uint32_t attempts = 0;     // connect attempts for the current connection
    std::array<stage, 4> expect{};
    uint8_t expect_head = 0;
    uint8_t expect_count = 0;
    std::string in;
    std::string reply_first;  // first line of the reply being read
    bool reply_pipelining = false;
    output_queue out;
    bool want_out = false;
    bool have_msg = false;
    bool pipelining = false;
    bool stamp_on_flush = false;
    uint64_t dot_ns = 0;
    uint64_t msg_bytes = 0;

    void push_expect(stage s) noexcept {
        expect[(expect_head + expect_count) % expect.size()] = s;
        ++expect_count;
    }
    stage front() const noexcept { return expect[expect_head]; }
    void pop_expect() noexcept {
        expect_head = static_cast<uint8_t>((expect_head + 1) % expect.size());
        --expect_count;
    }
};

std::string printable(std::string_view s, size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > max) out += "...";
    return out;
}

class worker {
public:
    worker(run_state& rs, uint32_t thread_index, uint32_t count)
        : _rs(rs), _o(*rs.opts), _src(*rs.source), _thread(thread_index), _sessions(count) {}

    worker_result run();

private:
    void begin(session& s);
    void open(session& s);
    void retry_connect(session& s, bool immediately, const char* why);
    void on_event(uint32_t index, uint32_t events);
    void on_connected(session& s);
    void on_readable(session& s);
    bool on_reply(session& s, int code);
    void on_eof(session& s);
    void start_transaction(session& s);
    void send(session& s, std::string text);
    bool flush(session& s);
    void update_events(session& s);
    void fail(session& s, stage at, std::string what);
    void close_conn(session& s);
    void finish(session& s);
    void check_deadlines();
    void arm(session& s) { s.deadline_ns = now_ns() + uint64_t{_o.timeout_ms} * 1'000'000u; }
    uint64_t key(uint32_t index, const session& s) const {
        return (uint64_t{s.generation} << 32) | index;
    }

    run_state& _rs;
    const options& _o;
    const message_source& _src;
    uint32_t _thread;
    std::vector<session> _sessions;
    int _ep = -1;
    uint32_t _active = 0;  // slots not finished
    uint64_t _seq = 0;
    worker_result _r;
};

worker_result worker::run() {
    _ep = epoll_create1(EPOLL_CLOEXEC);
    if (_ep < 0) {
        _r.session_errors += _sessions.size();
        _r.unexpected[std::string("epoll_create1: ") + std::strerror(errno)] += 1;
        return std::move(_r);
    }
    _active = static_cast<uint32_t>(_sessions.size());
    for (session& s : _sessions) begin(s);

    std::array<epoll_event, 256> events{};
    uint64_t last_scan = now_ns();
    for (;;) {
        if (_o.idle ? _rs.stop.load(std::memory_order_relaxed) : _active == 0) break;
        int n = epoll_wait(_ep, events.data(), static_cast<int>(events.size()), 5);
        if (n < 0 && errno != EINTR) {
            _r.unexpected[std::string("epoll_wait: ") + std::strerror(errno)] += 1;
            ++_r.session_errors;
            break;
        }
        for (int i = 0; i < n; ++i) {
            uint64_t k = events[i].data.u64;
            auto index = static_cast<uint32_t>(k & 0xffffffffu);
            if (index >= _sessions.size() || _sessions[index].generation != (k >> 32)) continue;
            on_event(index, events[i].events);
        }
        uint64_t t = now_ns();
        if (t - last_scan >= 5'000'000u) {
            last_scan = t;
            check_deadlines();
        }
    }
    for (session& s : _sessions) close_conn(s);
    close(_ep);
    return std::move(_r);
}

// Slot level: take the next message (or, idle, just connect) and get going.
void worker::begin(session& s) {
    if (_o.idle) {
        if (s.st == state::off) open(s);
        return;
    }
    if (!_rs.claim()) {
        if (s.fd >= 0 && s.st == state::talking) {  // reuse: nothing left, say goodbye
            send(s, "QUIT\r\n");
            s.push_expect(stage::quit);
            return;
        }
        finish(s);
        return;
    }
    s.have_msg = true;
    if (s.fd >= 0 && s.st == state::talking) {
        start_transaction(s);
    } else {
        s.attempts = 0;
        open(s);
    }
}

void worker::open(session& s) {
    ++s.attempts;
    ++_r.connects;
    int fd = socket(_rs.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        retry_connect(s, false, std::strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s.fd = fd;
    ++s.generation;
    s.in.clear();
    s.reply_first.clear();
    s.out.clear();
    s.expect_count = 0;
    s.want_out = true;
    s.pipelining = false;
    s.st = state::connecting;
    s.deadline_ns = now_ns() + uint64_t{_o.connect_timeout_ms} * 1'000'000u;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = key(static_cast<uint32_t>(&s - _sessions.data()), s);
    if (epoll_ctl(_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        retry_connect(s, false, std::strerror(errno));
        return;
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&_rs.addr), _rs.addr_len) == 0) {
        on_connected(s);
    } else if (errno != EINPROGRESS) {
        retry_connect(s, false, std::strerror(errno));
    }
}

// A connect that failed (refused, no ports) waits a little; one that timed out
// (a dropped SYN) goes again at once.
void worker::retry_connect(session& s, bool immediately, const char* why) {
    close_conn(s);
    if (s.attempts >= _o.connect_attempts) {
        fail(s, stage::connect, std::string("failed after retries: ") + why);
        return;
    }
    ++_r.connect_retries;
    if (immediately) {
        open(s);
        return;
    }
    s.st = state::retry_wait;
    s.deadline_ns = now_ns() + k_refused_retry_ns;
}

void worker::on_event(uint32_t index, uint32_t events) {
    session& s = _sessions[index];
    uint32_t gen = s.generation;
    if (s.st == state::connecting) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err != 0) {
            retry_connect(s, false, std::strerror(err));
            return;
        }
        on_connected(s);
        return;
    }
    if (s.fd < 0) return;
    if ((events & EPOLLOUT) != 0 && !flush(s)) return;
    if (s.generation != gen || s.fd < 0) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(s);
}

void worker::on_connected(session& s) {
    s.st = state::talking;
    s.push_expect(stage::greeting);
    arm(s);
    update_events(s);
}

void worker::on_readable(session& s) {
    uint32_t gen = s.generation;
    bool eof = false;
    char buf[16384];
    for (;;) {
        ssize_t n = read(s.fd, buf, sizeof buf);
        if (n > 0) {
            s.in.append(buf, static_cast<size_t>(n));
            if (static_cast<size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n == 0) {  // replies read before the EOF still count: parse them first
            eof = true;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail(s, s.expect_count ? s.front() : stage::quit, std::string("read: ") + std::strerror(errno));
        return;
    }
    if (s.st == state::talking) arm(s);

    size_t pos = 0;
    while (s.generation == gen && s.fd >= 0) {
        size_t nl = s.in.find('\n', pos);
        if (nl == std::string::npos) break;
        std::string_view line(s.in.data() + pos, nl - pos);
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
            !std::isdigit(static_cast<unsigned char>(line[1])) ||
            !std::isdigit(static_cast<unsigned char>(line[2]))) {
            fail(s, s.expect_count ? s.front() : stage::quit,
                 "malformed reply: " + printable(line, 80));
            return;
        }
        if (s.reply_first.empty()) s.reply_first = std::string(line);
        if (line.size() >= 14 && strncasecmp(line.data() + 4, "PIPELINING", 10) == 0)
            s.reply_pipelining = true;
        if (line.size() > 3 && line[3] == '-') continue;
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (!on_reply(s, code)) return;  // the connection is gone (and maybe a new one made)
        s.reply_first.clear();
        s.reply_pipelining = false;
    }
    if (s.generation != gen || s.fd < 0) return;
    s.in.erase(0, pos);
    if (s.in.size() > k_reply_bytes_max) {
        fail(s, s.expect_count ? s.front() : stage::quit, "reply line too long");
        return;
    }
    if (eof) on_eof(s);
}

void worker::on_eof(session& s) {
    if (s.st == state::closing || (s.expect_count > 0 && s.front() == stage::quit)) {
        close_conn(s);
        begin(s);
        return;
    }
    if (s.st == state::idle) {
        ++_r.session_errors;
        _r.unexpected["idle: connection closed by server"] += 1;
        close_conn(s);
        finish(s);
        return;
    }
    fail(s, s.expect_count ? s.front() : stage::quit, "connection closed by server");
}

// Returns false when the session's connection was closed (parsing must stop).
bool worker::on_reply(session& s, int code) {
    if (s.expect_count == 0) {
        fail(s, stage::quit, "unsolicited reply: " + printable(s.reply_first, 80));
        return false;
    }
    stage at = s.front();
    s.pop_expect();
    auto unexpected = [&] {
        fail(s, at, printable(s.reply_first, 100));
        return false;
    };
    switch (at) {
    case stage::connect:  // never expected: a reply comes only after the connect
        return unexpected();
    case stage::greeting:
        if (code != 220) return unexpected();
        send(s, "EHLO " + _o.helo + "\r\n");
        s.push_expect(stage::ehlo);
        return true;
    case stage::ehlo:
        if (code != 250) return unexpected();
        s.pipelining = _o.pipelining && s.reply_pipelining;
        if (s.reply_pipelining) _r.pipelining_seen = true;
        if (_o.idle) {
            s.st = state::idle;
            s.deadline_ns = 0;
            ++_r.idle_ready;
            _rs.idle_ready.fetch_add(1, std::memory_order_relaxed);
            _rs.idle_settled.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        start_transaction(s);
        return true;
    case stage::mail:
        if (code != 250) return unexpected();
        if (!s.pipelining) {
            send(s, "RCPT TO:<" + _o.rcpt + ">\r\n");
            s.push_expect(stage::rcpt);
        }
        return true;
    case stage::rcpt:
        if (code != 250 && code != 251) return unexpected();
        if (!s.pipelining) {
            send(s, "DATA\r\n");
            s.push_expect(stage::data);
        }
        return true;
    case stage::data: {
        if (code != 354) return unexpected();
        std::string h = _src.header(++_seq, _thread);
        s.msg_bytes = h.size() + _src.size_bytes();
        s.out.push(std::move(h));
        s.out.push_borrowed(_src.block().data(), _src.block().size(), _src.whole_blocks());
        s.out.push_borrowed(_src.block().data(), _src.partial_block_bytes());
        s.out.push_borrowed(_src.tail().data(), _src.tail().size());
        s.stamp_on_flush = true;
        s.push_expect(stage::dot);
        arm(s);
        return flush(s);
    }
    case stage::dot: {
        if (code != 250) return unexpected();
        uint64_t t = now_ns();
        uint64_t lat_ns = s.stamp_on_flush || t < s.dot_ns ? 0 : t - s.dot_ns;
        s.stamp_on_flush = false;
        _r.latency.record(lat_ns / 1000);
        ++_r.msgs_ok;
        _r.message_bytes += s.msg_bytes;
        s.have_msg = false;
        if (_o.reuse) {
            begin(s);  // next MAIL on this connection, or QUIT
        } else {
            send(s, "QUIT\r\n");
            s.push_expect(stage::quit);
        }
        return s.fd >= 0;
    }
    case stage::quit:
        if (code != 221) {
            ++_r.session_errors;
            _rs.errors.fetch_add(1, std::memory_order_relaxed);
            _r.unexpected[std::string("QUIT: ") + printable(s.reply_first, 100)] += 1;
            close_conn(s);
            begin(s);
            return false;
        }
        s.st = state::closing;  // on_eof (or the deadline) closes and goes on
        s.deadline_ns = now_ns() + k_close_wait_ns;
        return true;
    }
    return true;
}

void worker::start_transaction(session& s) {
    if (s.pipelining) {
        send(s, "MAIL FROM:<" + _o.from + ">\r\nRCPT TO:<" + _o.rcpt + ">\r\nDATA\r\n");
        s.push_expect(stage::mail);
        s.push_expect(stage::rcpt);
        s.push_expect(stage::data);
    } else {
        send(s, "MAIL FROM:<" + _o.from + ">\r\n");
        s.push_expect(stage::mail);
    }
}

void worker::send(session& s, std::string text) {
    s.out.push(std::move(text));
    arm(s);
    flush(s);
}

// Writes what it can; returns false if the connection failed.
bool worker::flush(session& s) {
    while (!s.out.empty()) {
        iovec iov[k_iov_max];
        int n = s.out.gather(iov, k_iov_max);
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = static_cast<size_t>(n);
        ssize_t w = sendmsg(s.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            s.out.consume(static_cast<size_t>(w));
            arm(s);  // progress: a long body is not a stall
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        fail(s, s.expect_count ? s.front() : stage::quit,
             std::string("write: ") + std::strerror(w < 0 ? errno : EPIPE));
        return false;
    }
    if (s.out.empty() && s.stamp_on_flush) {
        s.dot_ns = now_ns();
        s.stamp_on_flush = false;
    }
    update_events(s);
    return true;
}

void worker::update_events(session& s) {
    bool want = !s.out.empty();
    if (s.st == state::connecting || want == s.want_out || s.fd < 0) return;
    s.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u64 = key(static_cast<uint32_t>(&s - _sessions.data()), s);
    epoll_ctl(_ep, EPOLL_CTL_MOD, s.fd, &ev);
}

void worker::fail(session& s, stage at, std::string what) {
    std::string k = std::string(stage_name(at)) + ": " + what;
    if (_o.verbose) std::fprintf(stderr, "posthorn-loadgen: thread=%u %s\n", _thread, k.c_str());
    _r.unexpected[k] += 1;
    bool was_ready = s.st == state::idle;
    close_conn(s);
    if (_o.idle) {
        ++_r.session_errors;
        if (!was_ready && s.st != state::finished)
            _rs.idle_settled.fetch_add(1, std::memory_order_relaxed);
        finish(s);
        return;
    }
    if (s.have_msg) {
        ++_r.msg_errors;
        s.have_msg = false;
    } else {
        ++_r.session_errors;
    }
    _rs.errors.fetch_add(1, std::memory_order_relaxed);
    begin(s);
}

void worker::close_conn(session& s) {
    if (s.fd >= 0) {
        close(s.fd);  // also leaves the epoll set
        s.fd = -1;
    }
    ++s.generation;
    s.out.clear();
    s.in.clear();
    s.expect_count = 0;
    s.stamp_on_flush = false;
    s.want_out = false;
    s.deadline_ns = 0;
    if (s.st != state::finished) s.st = state::off;
}

void worker::finish(session& s) {
    if (s.st == state::finished) return;
    close_conn(s);
    s.st = state::finished;
    --_active;
}

void worker::check_deadlines() {
    uint64_t t = now_ns();
    for (session& s : _sessions) {
        if (s.deadline_ns == 0 || t < s.deadline_ns) continue;
        switch (s.st) {
        case state::retry_wait:
            s.deadline_ns = 0;
            open(s);
            break;
        case state::connecting:
            retry_connect(s, true, "connect timed out");
            break;
        case state::talking:
            fail(s, s.expect_count ? s.front() : stage::quit, "timeout");
            break;
        case state::closing:  // RFC 5321 4.1.1.10: the server closes after 221
            ++_r.late_closes;
            close_conn(s);
            begin(s);
            break;
        default:
            s.deadline_ns = 0;
            break;
        }
    }
}

}  // namespace

worker_result run_worker(run_state& rs, uint32_t thread_index, uint32_t count) {
    worker w(rs, thread_index, count);
    return w.run();
}

}  // namespace posthorn::loadgen
