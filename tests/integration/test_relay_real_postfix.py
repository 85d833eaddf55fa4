"""posthorn and a real Postfix instance relay to each other, on loopback.

The Postfix instance is the one bench/compare builds (its own config dir,
queue and Maildir, bench/compare/lib/common.sh pf_setup / pf_start): a
virtual mailbox domain example.test with user1. posthorn here serves
posthorn.test, and routes example.test to Postfix; Postfix relays everything
else to posthorn (relayhost).
  posthorn -> Postfix: a message to user1@example.test lands in Postfix's
    Maildir for user1, byte for byte after the trace headers.
  Postfix -> posthorn: a message to user2@posthorn.test sent to Postfix's
    smtpd lands in user2's posthorn mailbox, with Postfix's Received: line.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, free_port, make_message, unique_id, wait_for

LIB = REPO / "bench" / "compare" / "lib" / "common.sh"


def bash(script: str) -> subprocess.CompletedProcess:
    # common.sh sets an EXIT trap that stops the instances it started;
    # forgetting them (_PF_DIRS=()) leaves the instance to the fixture.
    return subprocess.run(["bash", "-c", f"source {LIB}; {script}; _PF_DIRS=()"],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def postfix():
    if not shutil.which("postfix") and not os.path.exists("/usr/sbin/postfix"):
        pytest.skip("postfix is not installed (tools/bootstrap.sh installs it)")
    if os.getuid() != 0:
        pytest.skip("a private Postfix instance needs root")
    d = Path(tempfile.mkdtemp(prefix="posthorn-postfix-"))
    os.chmod(d, 0o755)
    port = free_port()
    yield d, port
    bash(f"pf_stop {d}")
    shutil.rmtree(d, ignore_errors=True)


def start_postfix(d: Path, port: int, relayhost: str) -> None:
    r = bash(f"pf_setup {d} {port} 10 && postconf -c {d}/etc -e 'relayhost = {relayhost}' "
             f"'smtp_tls_security_level = none' && pf_start {d} {port}")
    assert r.returncode == 0, f"postfix did not start: {r.stdout[-2000:]}{r.stderr[-2000:]}"


def posthorn_for(make_server, pf_port: int):
    return make_server(domains={"local": ["posthorn.test"]},
                       users=[{"name": "user2", "password": "{PLAIN}user2", "addresses": ["user2@posthorn.test"]}],
                       aliases={}, routes={"example.test": f"127.0.0.1:{pf_port}"},
                       queue={"retry": ["1s"], "defer_transports": []})


def test_posthorn_relays_to_postfix_and_postfix_relays_to_posthorn(make_server, postfix):
    d, pf_port = postfix
    server = posthorn_for(make_server, pf_port)
    start_postfix(d, pf_port, f"[127.0.0.1]:{server.port}")

    # posthorn -> Postfix
    mid = unique_id("to-postfix")
    body = b"from posthorn\r\n.a dot line\r\n"
    server.send(make_message(mid, body, sender="user2@posthorn.test"), sender="user2@posthorn.test",
                rcpts=["user1@example.test"])

    def in_maildir():
        files = list((d / "mail" / "user1" / "new").glob("*")) if (d / "mail" / "user1" / "new").exists() else []
        for f in files:
            data = f.read_bytes()
            if f"<{mid}>".encode() in data:
                return data
        return None
    data = wait_for(in_maildir, timeout=60, what="the message in Postfix's Maildir")
    assert data.replace(b"\r\n", b"\n").endswith(body.replace(b"\r\n", b"\n"))
    assert b"by mx.example.test" in data or b"posthorn" in data  # our Received: line travelled

    # Postfix -> posthorn
    mid2 = unique_id("from-postfix")
    import smtplib
    with smtplib.SMTP("127.0.0.1", pf_port, timeout=30) as s:
        s.sendmail("someone@example.net", ["user2@posthorn.test"], make_message(mid2, b"via postfix\r\n"))
    def in_mailbox():
        for content in server.mailbox_messages("user2"):
            if f"<{mid2}>".encode() in content:
                return content
        return None
    content = wait_for(in_mailbox, timeout=60, what="Postfix's relay in user2's posthorn mailbox")
    assert content.startswith(b"Return-Path: <someone@example.net>\r\nDelivered-To: user2@posthorn.test\r\n")
    assert b"postfix-bench.example.net" in content  # Postfix's Received: line
    assert content.endswith(b"via postfix\r\n")
