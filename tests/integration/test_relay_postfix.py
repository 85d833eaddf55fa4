"""Relay to Postfix's smtp-sink (a peer no one here wrote), on both backends:
messages with several recipients arrive with the envelope posthorn was given.
smtp-sink -D appends every transaction, with X-Mail-Args / X-Rcpt-Args lines
for the envelope, to a dump file the test reads.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port, make_message, unique_id, wait_for

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


@pytest.fixture
def smtp_sink():
    if not os.path.exists(SMTP_SINK):
        pytest.skip("Postfix's smtp-sink is not installed (tools/bootstrap.sh installs postfix)")
    # smtp-sink drops to the postfix user, which cannot enter pytest's
    # private tmp_path: the dump goes to a directory of its own under /tmp.
    dump_dir = Path(tempfile.mkdtemp(prefix="posthorn-smtp-sink-"))
    os.chmod(dump_dir, 0o777)
    dump = dump_dir / "dump"
    port = free_port()
    args = [SMTP_SINK, "-D", str(dump), f"127.0.0.1:{port}", "64"]
    if os.getuid() == 0:
        args[1:1] = ["-u", "postfix"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"smtp-sink did not start: {proc.stderr.read()!r}")
            time.sleep(0.05)
    yield port, dump
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(dump_dir, ignore_errors=True)


def test_messages_reach_postfix_smtp_sink_with_their_envelopes(make_server, smtp_sink):
    port, dump = smtp_sink
    server = make_server(routes={"relay.test": f"127.0.0.1:{port}"}, queue={"retry": ["1s"]})
    mids = []
    for i in range(5):
        mid = unique_id(f"pfsink{i}")
        mids.append(mid)
        server.send(make_message(mid), sender="user2@example.test", rcpts=["a@relay.test", "b@relay.test"])

    def dumped():
        return dump.exists() and all(f"<{m}>".encode() in dump.read_bytes() for m in mids)
    wait_for(dumped, what="every message in smtp-sink's dump")
    text = dump.read_bytes().decode("utf-8", "replace")
    assert text.count("X-Mail-Args: <user2@example.test>") >= 5, text[:2000]
    assert text.count("X-Rcpt-Args: <a@relay.test>") >= 5
    assert text.count("X-Rcpt-Args: <b@relay.test>") >= 5
    wait_for(lambda: not [e for e in server.queue_list() if e.sender == "user2@example.test"],
             what="the spool done with them")
