"""Local delivery: mail for the domain's users lands in their mailboxes.

Read back with `posthorn mailbox list|cat` (the store's files, read-only,
while the daemon runs). Checked: the content is byte-exact behind the
Return-Path: and Delivered-To: lines local delivery adds; aliases reach
several users once each; mailboxes live on the owner shard; a big message
(copied in the kernel) arrives whole; an alias naming nobody bounces with a
DSN into the sender's mailbox, and so does a 550 from a relay's next hop;
a bounce that bounces reaches the postmaster (a double bounce);
mailboxes survive a restart; the spool forgets delivered mail. Both io
backends.
"""

from __future__ import annotations

import email
import threading

import pytest

from conftest import free_port, make_message, to_toml, unique_id, wait_for

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

LOCAL = {"defer_transports": []}


def local_server(make_server, **extra):
    queue = dict(LOCAL, retry=["1s"], lifetime="1h")
    queue.update(extra.pop("queue", {}))
    return make_server(queue=queue, **extra)


def wait_mailbox(server, user, n=1, what=None):
    return wait_for(lambda: (lambda box: box if len(box) >= n else None)(server.mailbox(user)),
                    what=what or f"{n} message(s) in {user}'s INBOX")


def test_a_message_for_a_local_user_lands_in_the_mailbox_byte_exact(make_server):
    server = local_server(make_server)
    mid = unique_id("local")
    body = b"line one\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
    qid = server.send(make_message(mid, body), sender="alice@remote.test", rcpts=["user2@example.test"])
    box = wait_mailbox(server, "user2")
    assert len(box) == 1 and box[0]["uid"] == 1 and box[0]["flags"] == []
    content = server.mailbox_cat("user2", 1)
    assert len(content) == box[0]["size"]
    assert content.startswith(b"Return-Path: <alice@remote.test>\r\nDelivered-To: user2@example.test\r\n"
                              b"Received: from "), content[:200]
    assert content.endswith(body)
    assert f"<{mid}>".encode() in content
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")
    sent = [e for e in server.events("delivery") if e.get("status") == "sent"]
    assert [e["relay"] for e in sent] == ["local"]
    assert server.spool_verify().returncode == 0


def test_aliases_reach_each_user_once(make_server):
    server = local_server(make_server, aliases={
        "postmaster@example.test": ["user1@example.test"],
        "team@example.test": ["user1@example.test", "user2@example.test", "user3@example.test"],
        "all@example.test": ["team@example.test", "user3@example.test", "user4@example.test"],
    })
    mid = unique_id("alias")
    qid = server.send(make_message(mid), rcpts=["all@example.test", "user1@example.test"])
    for u in ("user1", "user2", "user3", "user4"):
        box = wait_mailbox(server, u)
        assert len(box) == 1, f"{u}: {box}"
        got = server.mailbox_cat(u, 1)
        assert f"<{mid}>".encode() in got
        assert f"Delivered-To: {u}@example.test\r\n".encode() in got
    assert server.mailbox("user5") == []
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="every recipient done")


def test_mailboxes_are_spread_over_the_shards_and_survive_a_restart(make_server):
    server = local_server(make_server)  # two shards
    mids = {}
    with server.smtp() as s:
        s.ehlo()
        for u in ("user1", "user2", "user3", "user4", "user5"):
            for i in range(3):
                mid = unique_id(f"{u}-{i}")
                mids.setdefault(u, []).append(mid)
                s.sendmail("bob@remote.test", [f"{u}@example.test"], make_message(mid, to=f"{u}@example.test"))
    for u in mids:
        wait_mailbox(server, u, 3)
    owners = sorted(p.name for p in (server.data_dir / "store").iterdir() if (p / "index.log").stat().st_size)
    assert owners == ["0", "1"], f"users 1..5 all on one shard? {owners}"
    server.stop()
    server.start()
    for u, ids in mids.items():
        got = server.mailbox_messages(u)
        assert [any(f"<{m}>".encode() in c for c in got) for m in ids] == [True] * 3, u
    assert not server.queue_list()
    # Delivery goes on after the restart, with UIDs after the old ones.
    server.send(make_message(unique_id("after")), rcpts=["user1@example.test"])
    box = wait_mailbox(server, "user1", 4)
    assert [m["uid"] for m in box] == [1, 2, 3, 4]


def test_a_big_message_arrives_whole(make_server):
    server = local_server(make_server)
    line = b"0123456789" * 9 + b"\r\n"
    body = line * (5 * 1024 * 1024 // len(line))
    mid = unique_id("big")
    server.send(make_message(mid, body), rcpts=["user3@example.test"])
    box = wait_mailbox(server, "user3")
    got = server.mailbox_cat("user3", 1)
    assert len(got) == box[0]["size"]
    assert got.endswith(body) and f"<{mid}>".encode() in got


def dsn_fields(content: bytes) -> tuple[email.message.Message, dict]:
    report = email.message_from_bytes(content.split(b"\r\n", 2)[2])  # after Return-Path, Delivered-To
    assert report.get_content_type() == "multipart/report", content[:500]
    status = report.get_payload()[1].get_payload()
    return report, {k.lower(): v for grp in status for k, v in grp.items()}


def test_an_alias_to_nobody_bounces_into_the_senders_mailbox(make_server):
    server = local_server(make_server, aliases={"ghost@example.test": ["nobody@example.test"]})
    mid = unique_id("ghost")
    server.send(make_message(mid), sender="user4@example.test", rcpts=["ghost@example.test"])
    box = wait_mailbox(server, "user4", what="the DSN in user4's INBOX")
    content = server.mailbox_cat("user4", box[0]["uid"])
    assert content.startswith(b"Return-Path: <>\r\nDelivered-To: user4@example.test\r\n")
    report, fields = dsn_fields(content)
    assert fields["final-recipient"] == "rfc822; nobody@example.test"
    assert fields["status"] == "5.1.1"
    assert fields["action"] == "failed"
    assert report.get_payload()[2].get_payload()[0]["Message-ID"] == f"<{mid}>"


class RejectingSink:
    def __init__(self):
        self.lock = threading.Lock()
        self.got = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.got.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"


def test_a_550_at_the_next_hop_bounces_into_the_local_senders_mailbox(make_server):
    handler = RejectingSink()
    port = free_port()
    ctl = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        server = local_server(make_server, routes={"relay.test": f"127.0.0.1:{port}"})
        mid = unique_id("remote550")
        server.send(make_message(mid), sender="user5@example.test",
                    rcpts=["nobody@relay.test", "erin@relay.test"])
        box = wait_mailbox(server, "user5", what="the DSN in user5's INBOX")
        report, fields = dsn_fields(server.mailbox_cat("user5", box[0]["uid"]))
        assert fields["final-recipient"] == "rfc822; nobody@relay.test"
        assert fields["status"] == "5.1.1"
        assert "550" in fields["diagnostic-code"]
        assert report.get_payload()[2].get_payload()[0]["Message-ID"] == f"<{mid}>"
        assert handler.got == [["erin@relay.test"]]
    finally:
        ctl.stop()


def test_a_bounce_that_bounces_goes_to_the_postmaster(make_server):
    handler = RejectingSink()
    port = free_port()
    ctl = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        # ghost@ names nobody: the DSN goes to nobody@relay.test, whose
        # next hop refuses it with 550; that bounce goes to the postmaster
        # (an alias of user1).
        server = local_server(make_server, routes={"relay.test": f"127.0.0.1:{port}"},
                              aliases={"postmaster@example.test": ["user1@example.test"],
                                       "ghost@example.test": ["nobody@example.test"]})
        mid = unique_id("double")
        server.send(make_message(mid), sender="nobody@relay.test", rcpts=["ghost@example.test"])
        box = wait_mailbox(server, "user1", what="the double bounce in the postmaster's INBOX")
        content = server.mailbox_cat("user1", box[0]["uid"])
        assert content.startswith(b"Return-Path: <>\r\nDelivered-To: user1@example.test\r\n")
        report, fields = dsn_fields(content)
        assert fields["final-recipient"] == "rfc822; nobody@relay.test"
        assert fields["status"] == "5.1.1"
        assert f"<{mid}>".encode() in content  # the first bounce, with the original inside
        assert [e for e in server.events("dsn") if "double bounce" in e.get("note", "")]
        # The postmaster's own mail bouncing ends there: nothing loops.
        assert not server.queue_list() or wait_for(lambda: not server.queue_list(), what="the spool empty")
    finally:
        ctl.stop()


def test_defer_transports_local_keeps_local_mail_in_the_spool(make_server):
    server = local_server(make_server, queue={"defer_transports": ["local"]})
    qid = server.send(make_message(unique_id("held")), rcpts=["user1@example.test"])
    server.stop()   # a clean stop: whatever delivery would have done is done
    assert qid in {e.id for e in server.queue_list()}
    assert server.mailbox("user1") == []
    server.config["queue"]["defer_transports"] = []
    server.config_path.write_text(to_toml(server.config))
    server.start()  # without the hold, the spool's message is delivered
    wait_mailbox(server, "user1")
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")
