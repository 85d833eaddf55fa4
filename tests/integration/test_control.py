"""`posthorn queue flush|delete` against a running daemon, through its
control socket (data_dir/control.sock, JSON lines), on both io backends."""

import json
import os
import socket

from conftest import free_port, make_message, unique_id, wait_for
from test_relay import Sink, aiosmtpd_controller


def test_flush_retries_deferred_mail_now(make_server):
    port = free_port()
    server = make_server(routes={"later.test": f"127.0.0.1:{port}"}, queue={"retry": ["1h"]})
    mid = unique_id("flush")
    server.send(make_message(mid), rcpts=["x@later.test"])
    wait_for(lambda: [e for e in server.events("delivery") if e.get("status") == "deferred"], what="the deferral")
    sink = Sink()
    ctl = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        p = server.cli("queue", "flush")
        reply = json.loads(p.stdout)
        assert reply["ok"] is True and reply["shards"] == server.shards
        got = wait_for(sink.received, what="delivery after the flush (the retry was an hour away)")
        assert f"<{mid}>".encode() in got[0][2]
    finally:
        ctl.stop()


def test_delete_tombstones_a_message_and_a_second_delete_finds_nothing(make_server):
    server = make_server()
    qid = server.send(make_message(unique_id("delete")))
    assert qid in {e.id for e in server.queue_list()}
    p = server.cli("queue", "delete", qid)
    assert json.loads(p.stdout) == {"ok": True, "id": qid}
    assert qid not in {e.id for e in server.queue_list()}
    again = server.cli("queue", "delete", qid, check=False)
    assert again.returncode == 1
    assert json.loads(again.stdout)["error"] == "no such message"
    bad = server.cli("queue", "delete", "not-an-id", check=False)
    assert bad.returncode == 1
    server.stop()
    server.start()
    assert qid not in {e.id for e in server.queue_list()}, "the tombstone is durable"


def test_the_socket_is_private_and_garbage_gets_an_error_line(make_server):
    server = make_server()
    path = server.data_dir / "control.sock"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(b"flush please\n{\"cmd\":\"reboot\"}\n")
        data = b""
        while data.count(b"\n") < 2:
            data += s.recv(1000)
    first, second = [json.loads(x) for x in data.splitlines()[:2]]
    assert first["ok"] is False and "bad request" in first["error"]
    assert second["ok"] is False and "unknown command" in second["error"]
    server.assert_serving()


def test_without_a_daemon_the_cli_says_so(make_server):
    server = make_server(start=False)
    p = server.cli("queue", "flush", check=False)
    assert p.returncode == 1
    assert b"cannot reach the daemon" in p.stderr
