"""MX routing: posthorn finds the next hop in DNS, on both io backends.

dnsmasq (Debian's dnsmasq-base) serves a fixed zone on a free loopback
port, authoritative for .test (`--local=/test/`: unknown names are
NXDOMAIN); posthorn's `[dns] servers` points at it and `[queue] mx_port`
at an aiosmtpd sink on 127.0.0.1 (MX deliveries normally go to port 25).
Checked: delivery to the MX host; the next MX when the best one refuses
connections or greets with 421; a domain without MX delivered to its A
record (RFC 5321 §5.1); a null MX (RFC 7505) and NXDOMAIN bounce at once
with a DSN, which itself reaches a remote sender through its MX.
"""

from __future__ import annotations

import email
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import free_port, make_message, unique_id, wait_for

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

# name -> dnsmasq options; every exchanger host resolves to a loopback address.
ZONE = [
    "--mx-host=mx.test,mx1.mx.test,10",
    "--host-record=mx1.mx.test,127.0.0.1",
    # The best exchanger's address refuses connections; the next one takes the mail.
    "--mx-host=two.test,dead.two.test,10",
    "--mx-host=two.test,live.two.test,20",
    "--host-record=dead.two.test,127.0.0.2",
    "--host-record=live.two.test,127.0.0.1",
    # The best exchanger greets with 421 (a listener on 127.0.0.3).
    "--mx-host=busy.test,busy.busy.test,10",
    "--mx-host=busy.test,live.busy.test,20",
    "--host-record=busy.busy.test,127.0.0.3",
    "--host-record=live.busy.test,127.0.0.1",
    # No MX: the domain's own address (implicit MX).
    "--host-record=plain.test,127.0.0.1",
    # Null MX: preference 0, exchanger "." (RFC 7505), as a raw RR.
    "--dns-rr=nullmx.test,15,000000",
    "--host-record=nullmx.test,127.0.0.1",
]


def dns_query(port: int, name: str, qtype: int) -> int | None:
    """The rcode of one UDP query (None: no answer)."""
    q = struct.pack(">HHHHHH", 0x5150, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(q, ("127.0.0.1", port))
            r = s.recv(4096)
        except OSError:
            return None
    return struct.unpack(">H", r[2:4])[0] & 0xF


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory):
    if not shutil.which("dnsmasq") and not shutil.which(DNSMASQ):
        pytest.skip("dnsmasq not installed (Debian: dnsmasq-base; tools/bootstrap.sh test)")
    workdir = tmp_path_factory.mktemp("dnsmasq")
    for attempt in range(5):
        port = free_port()
        log = open(workdir / "dnsmasq.log", "ab")
        proc = subprocess.Popen(
            [DNSMASQ, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
             "--listen-address=127.0.0.1", f"--port={port}", f"--pid-file={workdir / 'dnsmasq.pid'}",
             "--local=/test/", "--log-facility=-", "--user=root", *ZONE],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if dns_query(port, "mx.test", 15) == 0:
                break
            time.sleep(0.05)
        if proc.poll() is None and dns_query(port, "mx.test", 15) == 0:
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"dnsmasq did not start:\n{(workdir / 'dnsmasq.log').read_text()[-2000:]}")
    yield port
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Sink:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK: queued"

    def received(self, n: int = 1):
        with self.lock:
            return list(self.messages) if len(self.messages) >= n else None


@pytest.fixture
def sink():
    handler = Sink()
    port = free_port()
    ctl = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    handler.port = port
    yield handler
    ctl.stop()


@pytest.fixture
def busy_peer(sink):
    """127.0.0.3 on the sink's port: greets with 421 and hangs up."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.3", sink.port))
    srv.listen(16)
    srv.settimeout(0.1)
    state = {"connections": 0, "stop": False}

    def loop():
        while not state["stop"]:
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            state["connections"] += 1
            with c:
                c.sendall(b"421 4.3.2 busy.busy.test too busy, try another MX\r\n")
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield state
    state["stop"] = True
    t.join(5)
    srv.close()


def mx_server(make_server, dns_port: int, mx_port: int, **extra):
    queue = {"retry": ["1s"], "lifetime": "1h", "mx_port": mx_port}
    queue.update(extra.pop("queue", {}))
    return make_server(dns={"servers": [f"127.0.0.1:{dns_port}"], "timeout": "1s", "attempts": 2},
                       queue=queue, **extra)


def sent_events(server):
    return [e for e in server.events("delivery") if e.get("status") == "sent"]


def dsn_for(server, sender: str):
    return [e for e in server.queue_list() if e.sender == "" and e.rcpts == [sender]]


def dsn_fields(server, entry) -> tuple[dict, email.message.Message]:
    report = email.message_from_bytes(server.queue_cat(entry.id))
    assert report.get_content_type() == "multipart/report"
    status = report.get_payload()[1].get_payload()
    return {k.lower(): v for grp in status for k, v in grp.items()}, report


def test_mail_for_a_domain_goes_to_its_mx_host(make_server, dnsmasq, sink):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("mx")
    qid = server.send(make_message(mid), rcpts=["bob@mx.test"])
    got = wait_for(sink.received, what="the message at the MX host")
    assert got[0][1] == ["bob@mx.test"]
    assert f"<{mid}>".encode() in got[0][2]
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the message done in the spool")
    ev = sent_events(server)
    assert ev and ev[0]["relay"] == "127.0.0.1", ev


def test_the_next_mx_takes_the_mail_when_the_best_one_refuses_connections(make_server, dnsmasq, sink):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("mx2")
    server.send(make_message(mid), rcpts=["carol@two.test"])
    got = wait_for(sink.received, what="the message at the second MX")
    assert f"<{mid}>".encode() in got[0][2]
    refused = [e for e in server.events("relay_connect_failed") if e.get("peer") == "127.0.0.2"]
    assert refused, server.log_tail()
    assert not [e for e in server.events("delivery") if e.get("status") == "deferred"], \
        "the second MX should take it in the same attempt"


def test_a_421_greeting_sends_the_mail_to_the_next_mx(make_server, dnsmasq, sink, busy_peer):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("mx421")
    server.send(make_message(mid), rcpts=["dave@busy.test"])
    got = wait_for(sink.received, what="the message at the MX after the busy one")
    assert f"<{mid}>".encode() in got[0][2]
    assert busy_peer["connections"] >= 1, "the best MX was never tried"
    failed = server.events("relay_session_failed")
    assert failed and "421" in failed[0]["reply"], server.log_tail()


def test_a_domain_without_mx_records_gets_mail_at_its_address(make_server, dnsmasq, sink):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("implicit")
    server.send(make_message(mid), rcpts=["erin@plain.test"])
    got = wait_for(sink.received, what="the message at the domain's A record")
    assert got[0][1] == ["erin@plain.test"]


def test_a_null_mx_bounces_at_once_and_the_dsn_reaches_a_remote_sender_by_mx(make_server, dnsmasq, sink):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("nullmx")
    qid = server.send(make_message(mid, sender="alice@mx.test"), sender="alice@mx.test",
                      rcpts=["frank@nullmx.test"])
    got = wait_for(sink.received, what="the DSN at the sender's MX")
    sender, rcpts, content = got[0]
    assert sender in ("", "<>") and rcpts == ["alice@mx.test"], got[0]  # aiosmtpd shows <> as is
    report = email.message_from_bytes(content)
    assert report.get_content_type() == "multipart/report"
    status = report.get_payload()[1].get_payload()
    fields = {k.lower(): v for grp in status for k, v in grp.items()}
    assert fields["final-recipient"] == "rfc822; frank@nullmx.test"
    assert fields["action"] == "failed"
    assert fields["status"] == "5.1.10"
    assert "556" in fields["diagnostic-code"]
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the original done")
    assert not [e for e in server.events("delivery") if e.get("status") == "deferred"], "no retry for a null MX"
    bounced = [e for e in server.events("delivery") if e.get("status") == "bounced"]
    assert bounced and bounced[0]["rcpt"] == "<frank@nullmx.test>"


def test_an_unknown_domain_bounces_at_once_with_5_1_2(make_server, dnsmasq, sink):
    server = mx_server(make_server, dnsmasq, sink.port)
    mid = unique_id("nx")
    qid = server.send(make_message(mid), sender="user1@example.test", rcpts=["gina@nowhere.test"])
    entry = wait_for(lambda: dsn_for(server, "user1@example.test"), what="a DSN queued for user1")[0]
    fields, report = dsn_fields(server, entry)
    assert fields["final-recipient"] == "rfc822; gina@nowhere.test"
    assert fields["status"] == "5.1.2"
    assert "550" in fields["diagnostic-code"]
    original = report.get_payload()[2].get_payload()[0]
    assert original["Message-ID"] == f"<{mid}>"
    wait_for(lambda: qid not in {e.id for e in server.queue_list()}, what="the original done")
    assert sink.received() is None


def test_a_dns_server_that_does_not_answer_defers_instead_of_bouncing(make_server, sink):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    try:
        server = mx_server(make_server, silent.getsockname()[1], sink.port)
        server.send(make_message(unique_id("silent")), rcpts=["hank@mx.test"])
        ev = wait_for(lambda: [e for e in server.events("delivery") if e.get("status") == "deferred"],
                      what="a deferral after the DNS timeout")
        assert "4.4.3" in ev[0]["reply"], ev
        assert not [e for e in server.events("delivery") if e.get("status") == "bounced"]
    finally:
        silent.close()
