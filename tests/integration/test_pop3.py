"""POP3 (RFC 1939, CAPA RFC 2449, AUTH PLAIN RFC 5034) on the mailbox store.

Mail goes in over SMTP (local delivery) and comes out with Python's poplib
and with raw sockets for the seed's Lab 3 exactly as typed. Two shards, so
sessions are handed to the shard owning the mailbox after login (the logs
say `event=handoff`). Checked: every command, bytes identical to what was
sent (dot-stuffing undone by poplib), deletion only on QUIT, the maildrop
lock across shards, failed logins (same answer for a wrong name and a
wrong password, a growing delay), bad input and a fresh connection after
it, a crypt(3) password (checked on the auth thread), persistence across
restarts. Both io backends.
"""

from __future__ import annotations

import base64
import poplib
import socket
import subprocess

import pytest

from conftest import TIMEOUT_S, make_message, posthorn_bin, unique_id, wait_for

LOCAL = {"defer_transports": []}


def pop_server(make_server, **extra):
    return make_server(queue=dict(LOCAL, retry=["1s"], lifetime="1h"), **extra)


def deliver(server, user: str, n: int = 1, body: bytes | None = None) -> list[bytes]:
    """Sends n messages to user over SMTP, waits for them in the mailbox."""
    have = len(server.mailbox(user))
    sent = []
    for i in range(n):
        mid = unique_id(f"pop{i}")
        msg = make_message(mid, body if body is not None else f"message {i}\r\n.dot line\r\n".encode(),
                           to=f"{user}@example.test")
        server.send(msg, sender="alice@remote.test", rcpts=[f"{user}@example.test"])
        sent.append(msg)
    wait_for(lambda: len(server.mailbox(user)) >= have + n, what=f"{n} message(s) for {user}")
    return sent


def pop(server, user: str | None = None, password: str | None = None) -> poplib.POP3:
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=TIMEOUT_S)
    if user:
        p.user(user)
        p.pass_(password if password is not None else user)
    return p


class Raw:
    """A line-level POP3 client that shows every reply byte."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        out, _, self.buf = self.buf.partition(b"\r\n")
        return out

    def multi(self) -> list[bytes]:
        lines = []
        while (ln := self.line()) != b".":
            lines.append(ln)
        return lines

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed(self) -> bool:
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def test_lab3_transcript_typed_as_written_in_upper_case(make_server):
    server = pop_server(make_server, users=[
        {"name": "user1", "password": "{DEMO}user1", "display_name": "User One",
         "addresses": ["user1@example.test"]}])
    sent = deliver(server, "user1")
    r = Raw(server.pop3_port)
    assert r.line().startswith(b"+OK")
    r.send(b"USER USER1\r\n")
    assert r.line().startswith(b"+OK")
    r.send(b"PASS USER1\r\n")
    size = server.mailbox("user1")[0]["size"]
    assert r.line() == f"+OK maildrop has 1 messages ({size} octets)".encode()
    r.send(b"STAT\r\n")
    assert r.line() == f"+OK 1 {size}".encode()
    r.send(b"LIST 1\r\n")
    assert r.line() == f"+OK 1 {size}".encode()
    r.send(b"RETR 1\r\n")
    assert r.line() == f"+OK {size} octets".encode()
    lines = r.multi()
    content = b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines) + b"\r\n"
    assert content.endswith(sent[0])
    assert len(content) == size
    r.send(b"QUIT\r\n")
    assert r.line().startswith(b"+OK")
    assert r.closed()
    # Every reply line of the lab stays within RFC 1939's 512 octets.
    assert all(len(ln) <= 510 for ln in lines)


def test_lower_case_commands_work_and_the_command_list_of_the_lab_is_served(server_pop):
    server = server_pop
    deliver(server, "user2", 2)
    r = Raw(server.pop3_port)
    r.line()
    r.send(b"user user2\r\npass user2\r\nstat\r\nnoop\r\ntop 1 0\r\ndele 1\r\nstat\r\nrset\r\nstat\r\nquit\r\n")
    assert r.line().startswith(b"+OK")              # user
    assert r.line().startswith(b"+OK maildrop has 2")  # pass
    assert r.line().startswith(b"+OK 2 ")          # stat
    assert r.line() == b"+OK"                      # noop
    assert r.line().startswith(b"+OK")             # top
    header = r.multi()
    assert any(h.lower().startswith(b"subject:") for h in header)
    assert b"" not in header[:-1] and header[-1] == b""  # header, the blank line, no body lines
    assert r.line().startswith(b"+OK")             # dele
    assert r.line().startswith(b"+OK 1 ")          # stat: one left
    assert r.line().startswith(b"+OK")             # rset
    assert r.line().startswith(b"+OK 2 ")          # stat: both back
    assert r.line().startswith(b"+OK")             # quit
    assert len(server.mailbox("user2")) == 2       # RSET: nothing deleted


@pytest.fixture
def server_pop(make_server):
    return pop_server(make_server)


def test_poplib_reads_every_message_byte_exact_for_users_on_both_shards(server_pop):
    server = server_pop
    sent = {u: deliver(server, u, 2) for u in ("user1", "user2", "user3", "user4", "user5")}
    for user, msgs in sent.items():
        p = pop(server, user)
        count, total = p.stat()
        assert count == 2
        box = server.mailbox(user)
        assert total == sum(m["size"] for m in box)
        listing = p.list()[1]
        assert [ln.split() for ln in listing] == [[str(i + 1).encode(), str(m["size"]).encode()]
                                                   for i, m in enumerate(box)]
        uidls = [ln.split()[1] for ln in p.uidl()[1]]
        assert len(set(uidls)) == 2
        assert p.uidl(1).split()[2] == uidls[0]
        for i, msg in enumerate(msgs):
            resp, lines, octets = p.retr(i + 1)
            content = b"\r\n".join(lines) + b"\r\n"
            assert content == server.mailbox_cat(user, box[i]["uid"])
            assert content.endswith(msg)
        assert p.capa().keys() >= {"USER", "UIDL", "TOP", "SASL", "PIPELINING", "RESP-CODES"}
        p.quit()
    # More logins, so that (SO_REUSEPORT spreading connections at random)
    # some surely come in on the shard that does not own the mailbox.
    for _ in range(3):
        for user in sent:
            p = pop(server, user)
            assert p.stat()[0] == 2
            p.quit()
    handoffs = server.events("handoff")
    owners = {int(e["to_shard"]) for e in handoffs}
    assert handoffs, "with two shards some logins move to the owner shard"
    assert owners <= {0, 1}


def test_dele_removes_only_at_quit_and_the_deletion_survives_a_restart(server_pop):
    server = server_pop
    deliver(server, "user3", 3)
    uids_before = [m["uid"] for m in server.mailbox("user3")]
    p = pop(server, "user3")
    p.dele(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        p.retr(2)
    assert len(server.mailbox("user3")) == 3   # nothing removed before QUIT
    p.quit()
    assert [m["uid"] for m in server.mailbox("user3")] == [uids_before[0], uids_before[2]]
    p = pop(server, "user3")
    uidls = p.uidl()[1]
    p.quit()
    server.kill()
    server.start()
    p = pop(server, "user3")
    assert p.stat()[0] == 2
    assert p.uidl()[1] == uidls                 # unique ids stable across restarts
    p.quit()


def test_a_connection_dropped_without_quit_deletes_nothing(server_pop):
    server = server_pop
    deliver(server, "user4", 2)
    p = pop(server, "user4")
    p.dele(1)
    p.sock.shutdown(socket.SHUT_RDWR)  # poplib's makefile keeps the fd open past close()
    p.sock.close()
    wait_for(lambda: pop_login_ok(server, "user4"), what="the maildrop unlocked")
    assert len(server.mailbox("user4")) == 2


def pop_login_ok(server, user) -> bool:
    try:
        p = pop(server, user)
    except poplib.error_proto:
        return False
    p.quit()
    return True


def test_the_maildrop_is_locked_while_a_session_holds_it_whichever_shard_it_came_in_on(server_pop):
    server = server_pop
    deliver(server, "user5")
    first = pop(server, "user5")
    # Several tries, so connections land on both shards (SO_REUSEPORT).
    for _ in range(6):
        p = pop(server, None)
        p.user("user5")
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            p.pass_("user5")
        p.quit()
    first.quit()
    assert pop_login_ok(server, "user5")


def test_auth_plain_in_one_line_and_as_a_continuation(server_pop):
    server = server_pop
    deliver(server, "user1")
    token = base64.b64encode(b"\0user1\0user1").decode()
    p = pop(server)
    assert p._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()
    p = pop(server)
    assert p._shortcmd("AUTH PLAIN").startswith(b"+")
    assert p._shortcmd(token).startswith(b"+OK")
    p.quit()


def test_failed_logins_say_nothing_of_which_part_was_wrong_and_are_slowed(server_pop):
    server = server_pop
    answers = []
    for user, password in (("user1", "pw-Zq81"), ("nobody", "user1"), ("user1", "pw-Xk22"), ("user2", "pw-Yj93")):
        p = pop(server)
        p.user(user)
        with pytest.raises(poplib.error_proto) as e:
            p.pass_(password)
        answers.append(e.value.args[0])
        p.quit()
    assert len(set(answers)) == 1 and answers[0].startswith(b"-ERR [AUTH]")
    # The delay grows with the client's failures (counted per shard: the
    # kernel spreads connections over the shards).
    delays = server.events("login_delay")
    assert len(delays) == 4
    by_shard: dict[str, list[int]] = {}
    for e in delays:
        by_shard.setdefault(e["shard"], []).append(int(e["failures"]))
        assert int(e["delay_ms"]) == 50 * int(e["failures"])
    for seq in by_shard.values():
        assert seq == list(range(1, len(seq) + 1))
    log = server.log_text()
    assert not any(pw in log for pw in ("pw-Zq81", "pw-Xk22", "pw-Yj93"))
    assert pop_login_ok(server, "user1")


def test_a_crypt_password_is_checked_on_the_auth_thread(make_server):
    hashed = subprocess.run([posthorn_bin(), "mkpasswd"], input=b"s3cret pass\n", capture_output=True, check=True,
                            timeout=60).stdout.decode().strip()
    assert hashed.startswith("$y$")
    server = pop_server(make_server, users=[
        {"name": "carol", "password": hashed, "display_name": "Carol", "addresses": ["carol@example.test"]}])
    deliver(server, "carol")
    p = pop(server, "carol", "s3cret pass")
    assert p.stat()[0] == 1
    p.quit()
    p = pop(server)
    p.user("carol")
    with pytest.raises(poplib.error_proto):
        p.pass_("s3cret")
    p.quit()


def test_commands_pipelined_after_pass_follow_the_session_to_its_shard(server_pop):
    server = server_pop
    deliver(server, "user1")
    deliver(server, "user2")
    for user in ("user1", "user2") * 3:
        r = Raw(server.pop3_port)
        r.line()
        r.send(f"USER {user}\r\nPASS {user}\r\nSTAT\r\nLIST\r\nUIDL\r\nQUIT\r\n".encode())
        assert r.line().startswith(b"+OK")
        assert r.line().startswith(b"+OK maildrop has 1 ")
        assert r.line().startswith(b"+OK 1 ")
        assert r.line().startswith(b"+OK")
        assert len(r.multi()) == 1
        assert r.line().startswith(b"+OK")
        assert len(r.multi()) == 1
        assert r.line().startswith(b"+OK")
        assert r.closed()


def test_bad_input_gets_err_and_a_fresh_connection_is_served(server_pop):
    server = server_pop
    r = Raw(server.pop3_port)
    r.line()
    r.send(b"XYZZY\r\nSTAT\r\nRETR 1\r\nPASS before-user\r\n" + b"A" * 2000 + b"\r\nAPOP user1 abc\r\n")
    answers = [r.line() for _ in range(6)]
    assert all(a.startswith(b"-ERR") for a in answers), answers
    # errors_max (10) -ERRs close the session.
    r.send(b"BAD\r\n" * 10)
    assert r.closed()
    assert b"too many errors" in r.buf
    assert pop_login_ok(server, "user1")
    reasons = {e.get("reason") for e in server.events("error")}
    assert {"unknown_command", "command_before_login", "line_too_long"} <= reasons


def test_a_big_message_with_dot_lines_is_streamed_whole(server_pop):
    server = server_pop
    line = b".starts with a dot " + b"x" * 60 + b"\r\n"
    body = line * 40000  # ~3 MiB, far beyond one output window
    sent = deliver(server, "user2", body=body)
    p = pop(server, "user2")
    resp, lines, octets = p.retr(1)
    content = b"\r\n".join(lines) + b"\r\n"
    assert content.endswith(sent[0])
    assert len(content) == server.mailbox("user2")[0]["size"]
    p.quit()
