"""BDAT (RFC 3030 CHUNKING) over a raw socket: chunks are taken by length,
never scanned for dots or line ends, and stored byte-exact."""

import socket

import pytest

from conftest import ConnectionClosed, make_message, unique_id


def _bdat(c, chunk: bytes, last: bool = False):
    c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
    return c.read_reply()


def _split(data: bytes, sizes):
    out, pos = [], 0
    for n in sizes:
        out.append(data[pos:pos + n])
        pos += n
    out.append(data[pos:])
    return out


def test_several_chunks_and_last_are_queued_byte_exact(server):
    msg = make_message(unique_id("bdat"), body=b"".join(b"line %d\r\n" % i for i in range(200)))
    chunks = _split(msg, [1, 7, 100, 1000])
    with server.client() as c:
        r = c.ehlo()
        assert any(l.upper() == "CHUNKING" for l in r.lines), r
        c.expect("MAIL FROM:<user1@example.test>", 250)
        c.expect("RCPT TO:<user2@example.test>", 250)
        for chunk in chunks[:-1]:
            r = _bdat(c, chunk)
            assert r.code == 250 and not r.queue_id, r
        r = _bdat(c, chunks[-1], last=True)
        assert r.code == 250 and r.enhanced == "2.0.0" and r.queue_id, r
        c.expect("QUIT", 221)
    (e,) = server.queue_list()
    assert e.id == r.queue_id and e.rcpts == ["user2@example.test"]
    assert server.body(e.id) == msg


@pytest.mark.parametrize("body", [
    b".\r\n",
    b"..\r\n.\r\n\r\n.\r\n",
    b"ends with the terminator\r\n.\r\n",
    b".leading dot\r\n..double\r\n",
], ids=["dot-only", "dots-and-empty", "terminator-inside", "leading-dots"])
def test_dot_lines_in_bdat_are_stored_verbatim(server, body):
    msg = make_message(unique_id("bdat-dots"), body=body)
    with server.client() as c:
        c.begin()
        # Cut right before and after the dot lines, to tempt a line scanner.
        cut = msg.index(b"\r\n.") + 2 if b"\r\n." in msg else len(msg) // 2
        assert _bdat(c, msg[:cut]).code == 250
        r = _bdat(c, msg[cut:], last=True)
        assert r.code == 250 and r.queue_id, r
    assert server.body(r.queue_id) == msg


def test_bdat_zero_last_ends_the_message(server):
    msg = make_message(unique_id("bdat0"))
    with server.client() as c:
        c.begin()
        assert _bdat(c, msg).code == 250
        r = _bdat(c, b"", last=True)
        assert r.code == 250 and r.queue_id, r
    assert server.body(r.queue_id) == msg


def test_pipelined_chunks_in_one_write(server):
    # RFC 3030 §4.2: BDAT chunks may be pipelined behind MAIL and RCPT.
    msg = make_message(unique_id("bdat-pipe"), body=b"pipelined\r\n" * 300)
    a, b, rest = _split(msg, [50, 2000])
    wire = (b"MAIL FROM:<user1@example.test>\r\nRCPT TO:<user2@example.test>\r\n"
            b"RCPT TO:<user3@example.test>\r\n"
            + b"BDAT %d\r\n" % len(a) + a + b"BDAT %d\r\n" % len(b) + b
            + b"BDAT %d LAST\r\n" % len(rest) + rest + b"QUIT\r\n")
    with server.client() as c:
        c.ehlo()
        c.send(wire)
        replies = c.read_replies(7)
        assert [r.code for r in replies] == [250, 250, 250, 250, 250, 250, 221], [str(r) for r in replies]
        qid = replies[5].queue_id
        assert qid and not any(r.queue_id for r in replies[:5])
    assert server.body(qid) == msg


def test_binarymime_chunks_are_kept_byte_exact(server):
    # BODY=BINARYMIME (RFC 3030 §3): any octet, lone CR and LF included, is content.
    payload = bytes(range(256)) * 4
    msg = make_message(unique_id("bdat-bin"), body=b"binary:\r\n" + payload + b"\r\n")
    with server.client() as c:
        r = c.ehlo()
        assert any(l.upper() == "BINARYMIME" for l in r.lines), r
        c.expect("MAIL FROM:<user1@example.test> BODY=BINARYMIME", 250)
        c.expect("RCPT TO:<user2@example.test>", 250)
        assert _bdat(c, msg[:300]).code == 250
        r = _bdat(c, msg[300:], last=True)
        assert r.code == 250 and r.queue_id, r
    assert server.body(r.queue_id) == msg


def test_bare_lf_in_an_8bitmime_chunk_is_rejected(server):
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test> BODY=8BITMIME", 250)
        c.expect("RCPT TO:<user2@example.test>", 250)
        r = _bdat(c, b"Subject: x\r\n\r\nbare\nlf\r\n", last=True)
        assert r.code == 550 and r.enhanced == "5.5.2", r
        c.expect("NOOP", 250)
    assert server.queue_list() == []


def test_bdat_growing_past_the_limit_gets_552_534_and_is_not_spooled(make_server):
    srv = make_server(smtp={"max_message_size": 10000})
    marker = b"BDAT-OVERSIZE-" + unique_id("m").encode()
    chunk = (marker + b"\r\n") * (4000 // (len(marker) + 2))
    with srv.client() as c:
        c.begin()
        codes = []
        for _ in range(3):                     # 12 KB in three chunks of ~4 KB
            codes.append(_bdat(c, chunk).code)
        r = _bdat(c, chunk, last=True)
        codes.append(r.code)
        assert 552 in codes, codes
        first = codes.index(552)
        assert all(code == 250 for code in codes[:first]), codes
        assert not r.queue_id
        # Every chunk was read by length: the session is still in step.
        c.expect("RSET", 250)
        c.begin(ehlo=False)
        small = make_message(unique_id("after"))
        r = _bdat(c, small, last=True)
        assert r.code == 250 and r.queue_id, r
    (e,) = srv.queue_list()
    assert srv.body(e.id) == small
    assert marker not in b"".join(p.read_bytes() for p in srv.spool_files())


def test_single_oversize_chunk_gets_552_and_its_bytes_are_skipped(make_server):
    srv = make_server(smtp={"max_message_size": 10000})
    with srv.client() as c:
        c.begin()
        # The chunk's content looks like commands; it must be swallowed, not run.
        payload = b"QUIT\r\n" * 4000
        r = _bdat(c, payload, last=True)
        assert r.code == 552 and r.enhanced == "5.3.4", r
        c.expect("NOOP", 250)
    assert srv.queue_list() == []


def test_bdat_without_a_transaction_is_refused_and_its_chunk_skipped(server):
    with server.client() as c:
        c.ehlo()
        r = _bdat(c, b"QUIT\r\nQUIT\r\n")
        assert r.code == 503, r
        c.expect("NOOP", 250)           # the 12 bytes were the chunk, not commands
        c.expect("MAIL FROM:<user1@example.test>", 250)
        r = _bdat(c, b"QUIT\r\nQUIT\r\n")   # no recipient yet
        assert r.code in (503, 554), r
        c.expect("NOOP", 250)


def test_data_after_bdat_is_refused(server):
    with server.client() as c:
        c.begin()
        assert _bdat(c, b"Subject: x\r\n\r\n").code == 250
        assert c.cmd("DATA").code == 503
        # Whether the 503 also ends the transaction is not settled by RFC 3030;
        # if it goes on, the message is the two chunks and nothing else.
        r = _bdat(c, b"body\r\n", last=True)
        assert r.code in (250, 503), r
    if r.code == 250:
        assert server.body(r.queue_id) == b"Subject: x\r\n\r\nbody\r\n"
    else:
        assert server.queue_list() == []


@pytest.mark.parametrize("arg", ["BDAT", "BDAT x", "BDAT -1", "BDAT 10 NOTLAST", "BDAT 1 LAST EXTRA"])
def test_malformed_bdat_gets_501(server, arg):
    with server.client() as c:
        c.begin()
        try:
            r = c.cmd(arg)
        except ConnectionClosed:
            pytest.fail(f"{arg!r} closed the connection")
        assert r.code in (501, 555), r
    server.assert_serving()


def test_absurd_bdat_size_gets_an_answer_or_a_close(server):
    # A server cannot skip 10^23 bytes: a 5xx (then perhaps close) is right;
    # we also close our side so a server that waits for the chunk sees EOF.
    with server.client() as c:
        c.begin()
        c.send(b"BDAT 99999999999999999999999 LAST\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        replies, closed = c.read_until_close()
        assert closed or replies, "neither an answer nor a close"
        assert all(r.code >= 500 for r in replies), replies
    server.assert_serving()
    (e,) = server.queue_list()
    assert e.message_id.startswith("alive-")
