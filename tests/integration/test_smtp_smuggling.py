"""SMTP smuggling (DESIGN.md promise 4): DATA ends only at <CRLF>.<CRLF>.

Each fake ending is followed by a whole smuggled transaction and then the one
real <CRLF>.<CRLF>. Whatever the policy, at most one message may be queued,
it is never the smuggled sender's, and there is never a second 'queued as'.
With bare_newlines = "reject", a message with a bare CR or LF is refused
(550 5.5.2) and nothing is queued.

forbid_unauth_pipelining is off here on purpose: with it on, a server that
wrongly ended DATA at a fake ending would still be saved by the pipelining
guard (the smuggled DATA arrives before its 354), which would hide the bug
this file looks for."""

import pytest

from conftest import unique_id

ENDINGS = {
    "lf.lf": b"\n.\n",
    "cr.cr": b"\r.\r",
    "cr.lf": b"\r.\n",
    "lf.cr": b"\n.\r",
    "lf.crlf": b"\n.\r\n",
    "crlf.lf": b"\r\n.\n",
    "cr.crlf": b"\r.\r\n",
    "crlf.cr": b"\r\n.\r",
    "crlf-nul.crlf": b"\r\n\x00.\r\n",
    "crlf-nul.lf": b"\r\n\x00.\n",
    "lf-nul.lf": b"\n\x00.\n",
}
SMUGGLER = "smuggler@evil.test"


def _has_bare_newline(b: bytes) -> bool:
    return b"\n" in b.replace(b"\r\n", b"") or b"\r" in b.replace(b"\r\n", b"")


@pytest.mark.parametrize("policy", ["reject", "normalize"])
@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_fake_data_ending_smuggles_nothing(make_server, policy, ending):
    srv = make_server(smtp={"bare_newlines": policy, "forbid_unauth_pipelining": False})
    outer_id = unique_id("outer")
    payload = (f"From: <user1@example.test>\r\nSubject: outer\r\nMessage-ID: <{outer_id}>\r\n\r\n"
               "outer body").encode() + ending + (
        f"MAIL FROM:<{SMUGGLER}>\r\nRCPT TO:<user3@example.test>\r\nDATA\r\n"
        f"From: <{SMUGGLER}>\r\nSubject: smuggled\r\nMessage-ID: <{unique_id('smuggled')}>\r\n\r\n"
        "smuggled body").encode() + b"\r\n.\r\n" + b"QUIT\r\n"
    with srv.client() as c:
        c.begin(rcpts=("user2@example.test",))
        c.expect("DATA", 354)
        c.send(payload)
        replies, _ = c.read_until_close()
    queued = [r for r in replies if r.queue_id]
    assert len(queued) <= 1, f"two 'queued as' replies: {[str(r) for r in replies]}"
    entries = srv.queue_list()
    assert len(entries) <= 1, [e.line for e in entries]
    assert all(e.sender != SMUGGLER for e in entries), [e.line for e in entries]
    assert all(SMUGGLER not in e.rcpts and "user3@example.test" not in e.rcpts for e in entries)
    if policy == "reject" and _has_bare_newline(ending):
        assert not queued and not entries, [str(r) for r in replies]
        assert any(r.code == 550 and r.enhanced == "5.5.2" and "bare" in r.text.lower() for r in replies), \
            [str(r) for r in replies]
    if policy == "normalize" and b"\x00" not in ending:   # NUL's fate is not specified
        assert len(queued) == 1 and len(entries) == 1, [str(r) for r in replies]
    if entries:
        (e,) = entries
        assert queued and e.id == queued[0].queue_id, f"queued without a 250: {[str(r) for r in replies]}"
        assert e.sender == "user1@example.test" and e.rcpts == ["user2@example.test"]
        stored = srv.body(e.id)
        assert f"MAIL FROM:<{SMUGGLER}>".encode() in stored, "the smuggled commands stay body text"
        assert not _has_bare_newline(stored), f"stored with a bare CR or LF: {stored!r}"
    assert srv.alive()


@pytest.mark.parametrize("body", [
    b"line one\nline two\r\n",
    b"line one\rline two\r\n",
    b"last line ends bare\n",
    b"Subject: x\n\r\nheader ends bare\r\n",
], ids=["lf-mid", "cr-mid", "lf-last", "lf-header"])
def test_bare_newline_is_rejected_with_550_552(server, body):
    with server.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(body + b"\r\n.\r\n")
        r = c.read_reply()
        assert r.code == 550 and r.enhanced == "5.5.2", r
        assert "bare" in r.text.lower(), r
    assert server.queue_list() == []
    server.assert_serving()


@pytest.mark.parametrize("body,stored", [
    (b"line one\nline two\r\n", b"line one\r\nline two\r\n"),
    (b"a\nb\nc\r\n", b"a\r\nb\r\nc\r\n"),
    (b"Subject: x\n\nbody\r\n", b"Subject: x\r\n\r\nbody\r\n"),
], ids=["mid", "several", "header"])
def test_bare_lf_is_normalized_to_crlf_when_configured(make_server, body, stored):
    srv = make_server(smtp={"bare_newlines": "normalize"})
    with srv.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
        r = c.read_reply()
        assert r.code == 250 and r.queue_id, r
    assert srv.body(r.queue_id) == stored


def test_bare_cr_is_normalized_away_when_configured(make_server):
    srv = make_server(smtp={"bare_newlines": "normalize"})
    with srv.client() as c:
        c.begin()
        r = c.data(b"Subject: cr\r\n\r\nbefore\rafter\r\n")
        assert r.code == 250 and r.queue_id, r
    stored = srv.body(r.queue_id)
    assert not _has_bare_newline(stored), stored
    assert stored.startswith(b"Subject: cr\r\n\r\nbefore") and stored.endswith(b"after\r\n"), stored


def test_terminator_split_across_writes_ends_data_once(server):
    mid = unique_id("split")
    with server.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(f"Message-ID: <{mid}>\r\n\r\nbody".encode())
        for b in (b"\r", b"\n", b".", b"\r", b"\n"):
            c.send(b)
        r = c.read_reply()
        assert r.code == 250 and r.queue_id, r
        c.expect("NOOP", 250)
    (e,) = server.queue_list()
    assert server.body(e.id) == f"Message-ID: <{mid}>\r\n\r\nbody\r\n".encode()
