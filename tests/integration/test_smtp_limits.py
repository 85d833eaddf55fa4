"""Every limit gets a reply and a clean state, never a crash or growth
(DESIGN.md promises 5 and 6): line length, recipients, message size (declared
and actual), error count, timeouts, pre-greeting and post-DATA pipelining,
connection limits, and garbage. After each, a fresh client is served."""

import random
import socket
import struct

import pytest

from conftest import (SmtpClient, ConnectionClosed, is_closed_error, make_message, unique_id, wait_for)


def _send_ignoring_close(c: SmtpClient, data: bytes) -> None:
    try:
        c.send(data)
    except OSError as e:
        if not is_closed_error(e):
            raise


def _shut_write(c: SmtpClient) -> None:
    """Our side is done: the server sees EOF (and should close)."""
    try:
        c.sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        if not (is_closed_error(e) or e.errno == 107):   # ENOTCONN: already reset
            raise


def _spool_bytes(srv) -> bytes:
    return b"".join(p.read_bytes() for p in srv.spool_files())


# --- line length ------------------------------------------------------------

def test_command_line_over_the_limit_gets_500_552_and_the_session_goes_on(server):
    limit = 512  # line_length_max default
    with server.client() as c:
        c.ehlo()
        # 508 + CRLF is under the limit whether or not it counts the CRLF.
        c.expect("NOOP " + "a" * (limit - 4 - 5), 250)
        c.expect("NOOP " + "b" * (limit + 1 - 5), 500, "5.5.2")
        c.expect("NOOP", 250)
        c.expect("MAIL FROM:<user1@example.test>", 250)


def test_line_length_max_is_configurable(make_server):
    srv = make_server(smtp={"line_length_max": 100})
    with srv.client() as c:
        c.ehlo()
        c.expect("NOOP " + "a" * 80, 250)
        c.expect("NOOP " + "b" * 200, 500, "5.5.2")
        c.expect("NOOP", 250)
    srv.assert_serving()


def test_a_1mib_command_line_without_lf_gets_one_500(server):
    with server.client() as c:
        c.ehlo()
        c.send(b"X" * (1 << 20))
        c.send(b"\r\n")
        r = c.read_reply()
        assert r.code == 500 and r.enhanced == "5.5.2", r
        c.expect("NOOP", 250)     # the rest of the long line was discarded, not executed
    server.assert_serving()


# --- recipients and sizes ---------------------------------------------------

def test_too_many_recipients_gets_452_453_and_the_rest_is_delivered(make_server):
    srv = make_server(smtp={"max_recipients": 3})
    with srv.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test>", 250)
        for n in (1, 2, 3):
            c.expect(f"RCPT TO:<user{n}@example.test>", 250)
        c.expect("RCPT TO:<user4@example.test>", 452, "4.5.3")
        c.expect("RCPT TO:<user5@example.test>", 452, "4.5.3")
        r = c.data(make_message(unique_id("rcpts")))
        assert r.code == 250, r
    (e,) = srv.queue_list()
    assert sorted(e.rcpts) == ["user1@example.test", "user2@example.test", "user3@example.test"]


def test_declared_size_over_the_limit_gets_552_534(make_server):
    srv = make_server(smtp={"max_message_size": 10000})
    with srv.client() as c:
        r = c.ehlo()
        assert any(l.upper() == "SIZE 10000" for l in r.lines), r
        c.expect("MAIL FROM:<user1@example.test> SIZE=10001", 552, "5.3.4")
        c.expect("MAIL FROM:<user1@example.test> SIZE=9999999999", 552, "5.3.4")
        c.expect("MAIL FROM:<user1@example.test> SIZE=99999999999999999999", 552, "5.3.4")  # 20 digits, past uint64
        c.expect("MAIL FROM:<user1@example.test> SIZE=5000", 250, "2.1.0")


def test_message_growing_past_the_limit_in_data_gets_552_534_and_is_not_spooled(make_server):
    srv = make_server(smtp={"max_message_size": 10000})
    marker = b"OVERSIZE-MARKER-" + unique_id("x").encode()
    big = make_message(unique_id("big"), body=(marker + b"\r\n") * (20000 // (len(marker) + 2) + 1))
    with srv.client() as c:
        c.begin()
        r = c.data(big)
        assert r.code == 552 and r.enhanced == "5.3.4", r
        # The server read to the end of data: the body was not taken for commands.
        c.expect("NOOP", 250)
        c.expect("RSET", 250)
        c.begin(ehlo=False)
        small = make_message(unique_id("small"), body=b"fits\r\n")
        r = c.data(small)
        assert r.code == 250, r
    (e,) = srv.queue_list()
    assert srv.body(e.id) == small
    # The window (256 KiB) is larger than the limit, so no byte of it reached a segment.
    assert marker not in _spool_bytes(srv)
    assert srv.spool_verify().returncode == 0


def test_message_past_the_limit_after_the_window_spilled_is_not_spooled(make_server):
    srv = make_server(smtp={"max_message_size": 100_000, "body_window_bytes": 4096})
    big = make_message(unique_id("spill"), body=(b"y" * 70 + b"\r\n") * 4000)   # ~288 KB
    with srv.client() as c:
        c.begin()
        r = c.data(big)
        assert r.code == 552 and r.enhanced == "5.3.4", r
        c.expect("NOOP", 250)
    assert srv.queue_list() == []
    assert srv.spool_verify().returncode == 0
    stat, _ = srv.spool_stat()
    assert stat["live_messages"] == 0
    srv.stop()
    srv.start()
    assert sum(r["live_messages"] for r in srv.recovery()) == 0
    assert srv.queue_list() == []


def test_a_message_larger_than_the_body_window_streams_byte_exact(make_server):
    srv = make_server(smtp={"body_window_bytes": 4096})
    rng = random.Random(7)
    lines = [(b"%06d " % i) + bytes(rng.choice(b"abcdefghij.. ") for _ in range(rng.randrange(0, 200)))
             for i in range(20000)]
    msg = make_message(unique_id("stream"), body=b"\r\n".join(lines) + b"\r\n")
    qid = srv.send(msg)
    assert srv.body(qid) == msg


def test_a_1mib_body_line_gets_an_answer(server):
    with server.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(b"Subject: long line\r\n\r\n" + b"z" * (1 << 20) + b"\r\n.\r\n")
        r = c.read_reply()
        assert r.code in (250, 500, 552, 554), r
    server.assert_serving()


# --- errors and unknown commands --------------------------------------------

@pytest.mark.parametrize("line", ["FOO", "MAILFROM:<user1@example.test>", "EHLOX client", "\x7f\x7f"])
def test_unknown_command_gets_500_552(server, line):
    with server.client() as c:
        c.expect(line, 500, "5.5.2")
        c.expect("NOOP", 250)


def test_errors_max_errors_get_421_and_close(make_server):
    errors_max = 3
    srv = make_server(smtp={"errors_max": errors_max})
    with srv.client() as c:
        c.ehlo()
        replies = []
        for _ in range(errors_max + 2):
            _send_ignoring_close(c, b"BOGUS\r\n")
            try:
                r = c.read_reply()
            except ConnectionClosed:
                break
            replies.append(r)
            if r.code == 421:
                break
        codes = [r.code for r in replies]
        assert 421 in codes, f"no 421 after {errors_max + 2} errors: {codes}"
        assert codes.index(421) <= errors_max, f"421 came late: {codes}"
        assert all(code == 500 for code in codes[:errors_max - 1]), codes
        assert c.wait_closed(), "connection still open after 421"
    srv.assert_serving()


# --- timeouts ----------------------------------------------------------------

def test_idle_client_gets_421_442_and_close(make_server):
    srv = make_server(smtp={"command_timeout": "1s"})
    with srv.client() as c:
        c.ehlo()
        r = c.read_reply()          # nothing sent: the server speaks first
        assert r.code == 421 and r.enhanced == "4.4.2", r
        assert c.wait_closed()
    srv.assert_serving()


def test_client_stalling_in_data_gets_421_442_and_nothing_is_queued(make_server):
    srv = make_server(smtp={"data_timeout": "1s", "command_timeout": "60s"})
    with srv.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(b"Subject: stalled\r\n\r\nhalf a mess")
        r = c.read_reply()
        assert r.code == 421 and r.enhanced == "4.4.2", r
        assert c.wait_closed()
    assert srv.queue_list() == []
    srv.assert_serving()


# --- synchronization -----------------------------------------------------------

def test_bytes_before_the_greeting_are_refused_with_554_551(make_server):
    # With a greet pause (as Postfix postscreen's greet_wait), a client that
    # talks before the 220 is caught every time, not only when its bytes win
    # the race with accept.
    srv = make_server(smtp={"greet_pause": "300ms"})
    c = srv.client(read_greeting=False)
    c.send(b"EHLO early.test\r\nMAIL FROM:<user1@example.test>\r\n")
    first = c.read_reply()
    assert first.code == 554 and first.enhanced == "5.5.1", first
    assert "synchroni" in first.text.lower(), first
    replies, closed = c.read_until_close()
    assert closed and not replies, f"after 554 5.5.1: {replies}"
    c.close()
    # A client that waits for the greeting is served after the pause.
    polite = srv.client()
    polite.expect("EHLO polite.test", 250)
    polite.close()
    srv.assert_serving()


def test_pipelining_past_data_before_354_gets_554_550_and_close(server):
    with server.client() as c:
        c.begin()
        c.send(b"DATA\r\n" + make_message(unique_id("rushed")) + b".\r\n")
        replies, closed = c.read_until_close()
        assert any(r.code == 554 and r.enhanced == "5.5.0" for r in replies), replies
        assert not any(r.queue_id for r in replies), replies
        assert closed
    assert server.queue_list() == []
    server.assert_serving()


# --- connection limits ------------------------------------------------------------

def _refused(srv, code=421, enhanced=None):
    c = srv.client(read_greeting=False)
    r = c.read_reply()
    assert r.code == code, r
    if enhanced:
        assert r.enhanced == enhanced, r
    assert c.wait_closed()
    c.close()


def _greeted_when_room(srv):
    def attempt():
        c = srv.client(read_greeting=False)
        r = c.read_reply()
        if r.code == 220:
            return c
        c.close()
        return None
    return wait_for(attempt, what="a free connection slot")


def test_connections_over_max_per_ip_get_421_470(make_server):
    srv = make_server(server={"shards": 1}, smtp={"max_connections_per_ip": 3})
    # Taken one by one, waiting out the slot of start()'s readiness probe.
    held = [_greeted_when_room(srv) for _ in range(3)]
    _refused(srv, 421, "4.7.0")
    held.pop().close()
    held.append(_greeted_when_room(srv))   # the slot was given back
    for c in held:
        c.expect("NOOP", 250)
        c.close()
    srv.assert_serving()


def test_connections_over_max_connections_get_421(make_server):
    srv = make_server(server={"shards": 1}, smtp={"max_connections": 2, "max_connections_per_ip": 50})
    held = [_greeted_when_room(srv) for _ in range(2)]
    _refused(srv, 421)
    held.pop(0).close()
    held.append(_greeted_when_room(srv))
    for c in held:
        c.expect("NOOP", 250)
        c.close()
    srv.assert_serving()


# --- garbage ------------------------------------------------------------------------

def test_random_junk_lines_each_get_a_reply_then_421(server):
    rng = random.Random(20240101)
    with server.client() as c:
        codes = []
        for _ in range(12):
            line = bytes(rng.choice(range(1, 256)) for _ in range(rng.randrange(1, 300)))
            line = line.replace(b"\n", b"") + b"\r\n"
            _send_ignoring_close(c, line)
            try:
                r = c.read_reply()
            except ConnectionClosed:
                break
            codes.append(r.code)
            assert r.code >= 400, (line, r)
            if r.code == 421:
                break
        assert codes and codes[-1] == 421, codes
        assert c.wait_closed()
    server.assert_serving()


@pytest.mark.parametrize("size", [4096, 256 * 1024])
def test_a_blast_of_random_bytes_does_not_hurt_the_server(server, size):
    data = random.Random(size).randbytes(size)
    with server.client() as c:
        _send_ignoring_close(c, data)
        _shut_write(c)
        c.read_until_close()
    with server.client() as c:   # and mid-transaction, in DATA
        c.begin()
        c.expect("DATA", 354)
        _send_ignoring_close(c, data + b"\r\n.\r\n")
        _shut_write(c)
        c.read_until_close()
    server.assert_serving()
    assert all(e.message_id and e.message_id.startswith("alive-") for e in server.queue_list())


def test_nul_bytes_get_replies_and_the_session_goes_on(server):
    with server.client() as c:
        c.ehlo()
        assert c.cmd(b"\x00" * 100).code == 500
        assert 500 <= c.cmd(b"NOOP\x00").code < 600
        assert 500 <= c.cmd(b"MAIL FROM:<user1@example.test\x00>").code < 600
        c.expect("NOOP", 250)
    with server.client() as c:
        c.send(b"\x00" * 65536 + b"\r\n")
        r = c.read_reply()
        assert r.code == 500 and r.enhanced == "5.5.2", r
    server.assert_serving()


def test_clients_vanishing_mid_data_leave_nothing_queued(server):
    for i in range(8):
        c = server.client()
        c.begin()
        c.expect("DATA", 354)
        c.send(make_message(unique_id(f"vanish{i}"), body=b"partial " * 1000)[: 500 + i * 300])
        if i % 2:   # RST instead of FIN
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    for i in range(4):   # and mid-BDAT
        c = server.client()
        c.begin()
        c.send(b"BDAT 100000\r\n" + b"x" * 5000)
        c.close()
    server.assert_serving()
    assert all(e.message_id.startswith("alive-") for e in server.queue_list())
