"""Relay: posthorn delivers to a next hop from [routes], on both io backends.

The peer is aiosmtpd (Debian's python3-aiosmtpd), started per test on a free
loopback port; its handler can refuse RCPT with 550 or answer 451 for a
while. Checked: the message arrives byte-exact (Received: added, dots
unstuffed by the peer), the spool marks it done (gone from `queue list`), a
451 is retried until the peer recovers, a 550 bounces with an RFC 3464 DSN
queued for the local sender, a refused connection is retried, and one
connection carries many messages. Big messages: 20 MiB with dots placed at,
around and across the relay's read-window boundaries arrives byte-exact,
and relaying 100 MiB leaves posthorn's peak RSS far below the message size
(the body streams from the spool a window at a time); a message deleted
while its body is on the wire is cut off without the terminator.
"""

from __future__ import annotations

import email
import random
import socket
import threading
import time

import pytest

from conftest import free_port, make_message, unique_id, wait_for

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


class Sink:
    """An aiosmtpd handler that keeps what it receives and can refuse."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0
        self.transient_left = 0      # answer DATA with 451 this many times
        self.reject_rcpt: set[str] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject_rcpt:
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.transient_left > 0:
                self.transient_left -= 1
                return "451 4.3.0 try again later"
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK: queued"

    def received(self, n: int = 1):
        with self.lock:
            return list(self.messages) if len(self.messages) >= n else None


def start_sink(handler, port, **smtp):
    ctl = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port, **smtp)
    ctl.start()
    handler.port = port
    return ctl


@pytest.fixture
def sink():
    handler = Sink()
    ctl = start_sink(handler, free_port())
    yield handler
    ctl.stop()


BIG_MAX = 512 * 1024 * 1024


@pytest.fixture
def big_sink():
    """A sink that takes messages far over aiosmtpd's default 32 MiB SIZE."""
    handler = Sink()
    ctl = start_sink(handler, free_port(), data_size_limit=BIG_MAX)
    yield handler
    ctl.stop()


def relay_server(make_server, port: int, **extra):
    queue = {"retry": ["1s"], "lifetime": "1h"}
    queue.update(extra.pop("queue", {}))
    return make_server(routes={"relay.test": f"127.0.0.1:{port}"}, queue=queue, **extra)


def test_a_message_for_a_routed_domain_reaches_the_next_hop_byte_exact(make_server, sink):
    server = relay_server(make_server, sink.port)
    mid = unique_id("relay")
    body = b"line one\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
    qid = server.send(make_message(mid, body), sender="user1@example.test", rcpts=["bob@relay.test"])
    got = wait_for(sink.received, what="the message at the sink")
    sender, rcpts, content = got[0]
    assert sender == "user1@example.test"
    assert rcpts == ["bob@relay.test"]
    assert content.startswith(b"Received: from ")
    assert content.endswith(body), content[-200:]
    assert f"<{mid}>".encode() in content
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")
    ev = [e for e in server.events("delivery") if e.get("status") == "sent"]
    assert ev and ev[0]["rcpt"] == "<bob@relay.test>"
    assert server.spool_verify().returncode == 0


def test_a_451_is_retried_until_the_peer_takes_the_message(make_server, sink):
    sink.transient_left = 2
    server = relay_server(make_server, sink.port)
    mid = unique_id("retry")
    qid = server.send(make_message(mid), rcpts=["carol@relay.test"])
    got = wait_for(sink.received, timeout=30, what="delivery after the 451s")
    assert f"<{mid}>".encode() in got[0][2]
    deferred = [e for e in server.events("delivery") if e.get("status") == "deferred"]
    assert len(deferred) >= 2, server.log_tail()
    assert "451" in deferred[0]["reply"]
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="done in the spool")


def test_a_refused_connection_is_retried_until_the_peer_listens(make_server):
    port = free_port()
    server = relay_server(make_server, port)
    mid = unique_id("refused")
    server.send(make_message(mid), rcpts=["dave@relay.test"])
    wait_for(lambda: [e for e in server.events("delivery") if e.get("status") == "deferred"],
             what="a deferral after the refused connection")
    handler = Sink()
    ctl = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        got = wait_for(handler.received, timeout=30, what="delivery once the peer listens")
        assert f"<{mid}>".encode() in got[0][2]
    finally:
        ctl.stop()


def test_a_550_bounces_with_a_dsn_to_the_local_sender(make_server, sink):
    sink.reject_rcpt = {"nobody@relay.test"}
    server = relay_server(make_server, sink.port)
    mid = unique_id("bounce")
    qid = server.send(make_message(mid), sender="user1@example.test",
                      rcpts=["nobody@relay.test", "erin@relay.test"])
    got = wait_for(sink.received, what="the accepted recipient's copy")
    assert got[0][1] == ["erin@relay.test"]

    def dsn():
        return [e for e in server.queue_list() if e.sender == "" and e.rcpts == ["user1@example.test"]]
    entry = wait_for(dsn, what="a DSN queued for user1")[0]
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the original done")
    report = email.message_from_bytes(server.queue_cat(entry.id))
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = [p.get_content_type() for p in report.get_payload()]
    assert parts == ["text/plain", "message/delivery-status", "message/rfc822"], parts
    status = report.get_payload()[1].get_payload()
    fields = {k.lower(): v for grp in status for k, v in grp.items()}
    assert fields["final-recipient"] == "rfc822; nobody@relay.test"
    assert fields["action"] == "failed"
    assert fields["status"] == "5.1.1"
    assert "550" in fields["diagnostic-code"]
    original = report.get_payload()[2].get_payload()[0]
    assert original["Message-ID"] == f"<{mid}>"


def test_a_bounce_from_the_null_sender_goes_to_the_postmaster_never_back_to_it(make_server, sink):
    sink.reject_rcpt = {"nobody@relay.test"}
    server = relay_server(make_server, sink.port)
    qid = server.send(make_message(unique_id("null")), sender="", rcpts=["nobody@relay.test"])
    wait_for(lambda: [e for e in server.events("delivery") if e.get("status") == "bounced"], what="the bounce")
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done")
    bounces = [e for e in server.queue_list() if e.sender == ""]
    # (local delivery is held in these tests: the double bounce waits in the spool)
    assert [e.rcpts for e in bounces] == [["postmaster@example.test"]], "a bounce never goes back to <>"


def test_an_idle_connection_takes_the_next_message_even_at_its_destinations_cap(make_server, sink):
    # One connection allowed: once it is idle, the next message must go over
    # it, not wait for it to time out (the cache time is long here).
    server = relay_server(make_server, sink.port, server={"shards": 1},  # each shard relays on its own
                          queue={"max_connections_per_destination": 1, "connection_cache_time": "60s"})
    for i in range(3):
        server.send(make_message(unique_id(f"cap{i}")), rcpts=["gina@relay.test"])
        wait_for(lambda: sink.received(i + 1), what=f"message {i} at the sink")
    assert sink.sessions == 1, f"{sink.sessions} sessions"


def test_one_connection_carries_many_messages(make_server, sink):
    server = relay_server(make_server, sink.port, server={"shards": 1},
                          queue={"max_connections_per_destination": 2})
    n = 20
    with server.smtp() as s:
        s.ehlo()
        for i in range(n):
            s.sendmail("user1@example.test", ["frank@relay.test"], make_message(unique_id(f"reuse{i}")))
    wait_for(lambda: sink.received(n), timeout=30, what=f"{n} messages at the sink")
    # Two connections at most at a time; an idle one is closed after 2 s and
    # reopened for the next message, so a slow test run may need a few.
    assert sink.sessions <= n // 4, f"{sink.sessions} sessions for {n} messages"


def test_aliases_expand_recursively_to_remote_addresses(make_server, sink):
    server = relay_server(make_server, sink.port, aliases={
        "postmaster@example.test": ["user1@example.test"],
        "team@example.test": ["bob@relay.test", "user2@example.test", "carol@relay.test"],
        "list@example.test": ["team@example.test", "dave@relay.test", "bob@relay.test"],
    })
    mid = unique_id("alias")
    qid = server.send(make_message(mid), rcpts=["list@example.test"])
    got = wait_for(sink.received, what="the expanded copy at the sink")
    assert len(got) == 1, "one transaction for the three remote addresses"
    assert sorted(got[0][1]) == ["bob@relay.test", "carol@relay.test", "dave@relay.test"], got[0][1]
    assert f"<{mid}>".encode() in got[0][2]
    sent = {e["rcpt"] for e in server.events("delivery") if e.get("status") == "sent"}
    assert sent == {"<bob@relay.test>", "<carol@relay.test>", "<dave@relay.test>"}
    # user2@example.test (local) is not delivered yet: the message stays queued.
    assert qid in {e.id for e in server.queue_list()}


# ---------------------------------------------------------------------------
# big messages

WINDOW = 256 * 1024   # app::body_stream::window_bytes: the relay reads the content this much at a time


def filler_line(rng: random.Random, n: int) -> bytes:
    """A line of exactly n >= 2 bytes (CRLF included); one in five starts with a dot."""
    if n == 2:
        return b"\r\n"
    text = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz .") for _ in range(n - 2))
    if rng.random() < 0.2:
        text = b"." + text[1:]
    return text + b"\r\n"


def boundary_body(start: int, size: int, lead: int, seed: int = 5) -> tuple[bytes, list[int]]:
    """About `size` bytes of CRLF lines for a message whose body starts at
    content offset lead + start, with something at every window boundary B
    (content offset k * WINDOW), in turn: a line starting with "." exactly
    at B (the first byte of a window follows the CRLF ending the previous
    one); a CRLF cut by B (CR last of a window, LF first of the next, then
    the dot); a dot at B in the middle of a line (never doubled). Returns the
    body and the content offsets of the dots placed at the boundaries."""
    rng = random.Random(seed)
    out = bytearray()
    at_boundary = []
    pieces = [b"at window start\r\n", b"after a cut crlf\r\n", b"mid-line dot\r\n"]
    k = 1
    while True:
        b = k * WINDOW - lead - start          # the boundary in body coordinates
        if b >= size:
            break
        kind = k % 3
        line_start = b if kind == 0 else b - 1 if kind == 2 else b + 1
        while len(out) < line_start:           # fill exactly up to the line start
            gap = line_start - len(out)
            n = min(gap, rng.randint(2, 120))
            if gap - n == 1:
                n = gap
            out += filler_line(rng, n)
        if kind == 0:
            out += b"." + pieces[0]
        elif kind == 1:
            assert out.endswith(b"\r\n") and len(out) == b + 1   # CR at b - 1 + ... LF at b
            out += b"." + pieces[1]
        else:
            out += b"x." + pieces[2]           # the dot at b, mid-line
        at_boundary.append(k * WINDOW + (1 if kind == 1 else 0))
        k += 1
    while len(out) < size:
        gap = size - len(out)
        n = min(gap, rng.randint(2, 120))
        if gap - n == 1:
            n = gap
        out += filler_line(rng, n)
    return bytes(out), at_boundary


def received_length(server, sink, rcpt: str) -> int:
    """The length of the Received: field posthorn prepends for `rcpt` (its
    width depends only on the fixed fields and the date)."""
    probe = make_message(unique_id("probe"), b"probe\r\n")
    server.send(probe, rcpts=[rcpt])
    got = wait_for(sink.received, what="the probe at the sink")
    content = got[0][2]
    assert content.endswith(probe)
    return len(content) - len(probe)


def test_a_20_mib_message_with_dots_at_window_boundaries_arrives_byte_exact(make_server, big_sink):
    server = relay_server(make_server, big_sink.port, smtp={"max_message_size": BIG_MAX})
    rcpt = "big@relay.test"
    lead = received_length(server, big_sink, rcpt)
    head = make_message(unique_id("big"), b"")
    body, boundary_dots = boundary_body(len(head), 20 * 1024 * 1024, lead)
    message = head + body
    assert len(boundary_dots) >= 70
    qid = server.send(message, rcpts=[rcpt])
    got = wait_for(lambda: big_sink.received(2), timeout=120, what="the 20 MiB message at the sink")
    content = got[1][2]
    assert len(content) == lead + len(message), (len(content), lead + len(message))
    assert content[lead:] == message, "the relayed content differs from what was sent"
    for off in boundary_dots:   # the test put what it meant to at each boundary
        assert content[off:off + 1] == b"." and content[off - 1:off] in (b"\n", b"x"), off
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")


def proc_status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_relaying_a_100_mib_message_keeps_posthorns_memory_bounded(make_server, big_sink):
    # DESIGN.md promise 5: the body streams from the spool; it is never
    # collected in RAM. Received and relayed, 100 MiB may grow the peak
    # resident set by a few windows and buffers, not by the message.
    server = relay_server(make_server, big_sink.port, smtp={"max_message_size": BIG_MAX},
                          server={"shards": 1})
    pid = server.proc.pid
    with open(f"/proc/{pid}/maps") as f:
        if "libasan" in f.read():
            pytest.skip("under ASan, freed memory waits in its quarantine (256 MiB): RSS measures that, not posthorn")
    server.assert_serving()
    line = b"." + b"a" * 76 + b"\r\n" + (b"b" * 77 + b"\r\n") * 9
    body = line * (100 * 1024 * 1024 // len(line))
    message = make_message(unique_id("huge"), body)
    rss0, hwm0 = proc_status_kib(pid, "VmRSS"), proc_status_kib(pid, "VmHWM")
    peak = [rss0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc_status_kib(pid, "VmRSS"))
            except (OSError, AssertionError):
                return
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        qid = server.send(message, rcpts=["huge@relay.test"])
        got = wait_for(big_sink.received, timeout=300, what="the 100 MiB message at the sink")
        wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")
    finally:
        done.set()
        t.join()
    assert got[0][2].endswith(message)
    hwm1 = proc_status_kib(pid, "VmHWM")
    growth_mib = (hwm1 - hwm0) / 1024
    print(f"VmRSS before {rss0} KiB, sampled peak {peak[0]} KiB, VmHWM {hwm0} -> {hwm1} KiB "
          f"(+{growth_mib:.1f} MiB) for a {len(message) >> 20} MiB message")
    assert growth_mib < 64, f"peak RSS grew by {growth_mib:.1f} MiB relaying {len(message) >> 20} MiB"


class SlowSink(threading.Thread):
    """One SMTP session by hand whose DATA is read slowly (64 KiB per 10 ms),
    so a big body stays on the wire for seconds."""

    def __init__(self):
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.body_bytes = 0
        self.terminated = False
        self.started = threading.Event()   # some body bytes arrived
        self.over = threading.Event()      # the peer closed, or the terminator came

    def run(self):
        conn, _ = self.listener.accept()
        conn.settimeout(60)
        with conn:
            f = conn.makefile("rb")
            conn.sendall(b"220 slow ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-slow\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    tail = b""
                    while True:
                        chunk = f.read1(65536)
                        if not chunk:
                            break
                        self.body_bytes += len(chunk)
                        tail = (tail + chunk)[-5:]
                        if self.body_bytes > 1 << 20:
                            self.started.set()
                        if tail == b"\r\n.\r\n":
                            self.terminated = True
                            conn.sendall(b"250 ok\r\n")
                            break
                        time.sleep(0.01)
                    break
                elif verb == b"QUIT":
                    break
                else:
                    conn.sendall(b"250 ok\r\n")
        self.over.set()


def test_a_message_deleted_while_its_body_is_on_the_wire_is_cut_off_without_the_terminator(make_server):
    slow = SlowSink()
    slow.start()
    server = relay_server(make_server, slow.port, smtp={"max_message_size": BIG_MAX}, server={"shards": 1})
    line = b"." + b"d" * 76 + b"\r\n" + (b"e" * 77 + b"\r\n") * 9
    message = make_message(unique_id("cut"), line * (40 * 1024 * 1024 // len(line)))
    qid = server.send(message, rcpts=["slow@relay.test"])
    assert slow.started.wait(60), "no body bytes at the slow sink"
    server.cli("queue", "delete", qid)
    assert slow.over.wait(60), "the relay connection neither ended nor finished"
    assert not slow.terminated, "a deleted message must not be completed at the peer"
    assert slow.body_bytes < len(message)
    assert server.alive()
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message gone from the queue")
    assert server.spool_verify().returncode == 0
