"""GET /metrics on [listen] metrics: Prometheus text with what happened,
summed over the shards, on both io backends. Scraped with urllib."""

import re
import socket
import urllib.error
import urllib.request

import pytest

from conftest import free_port, make_message, unique_id, wait_for
from test_relay import sink  # noqa: F401  (the aiosmtpd peer fixture)

LINE_RE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        assert m, f"not exposition format: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def test_metrics_count_messages_deliveries_deferrals_fsyncs_and_queues(make_server, sink):
    mport, down = free_port(), free_port()
    server = make_server(listen={"metrics": [f"127.0.0.1:{mport}"]},
                         routes={"relay.test": f"127.0.0.1:{sink.port}", "down.test": f"127.0.0.1:{down}"},
                         queue={"retry": ["1h"]})
    for i in range(3):
        server.send(make_message(unique_id(f"m{i}")))
    server.send(make_message(unique_id("relayed")), rcpts=["bob@relay.test"])
    server.send(make_message(unique_id("deferred")), rcpts=["eve@down.test"])
    wait_for(sink.received, what="the relayed message")
    dest = f'[127.0.0.1]:{down}'

    def settled():
        m = scrape(mport)
        ok = m.get("posthorn_recipients_delivered_total") == 1 and m.get("posthorn_recipients_deferred_total", 0) >= 1 \
            and m.get(f'posthorn_destination_queue{{destination="{dest}"}}') == 1
        return m if ok else None
    m = wait_for(settled, what="the counters and the published queue table")
    assert m["posthorn_messages_received_total"] == 5
    assert m["posthorn_recipients_bounced_total"] == 0
    assert m["posthorn_fsync_seconds_count"] >= 1
    buckets = [v for k, v in m.items() if k.startswith("posthorn_fsync_seconds_bucket")]
    assert buckets == sorted(buckets), "cumulative buckets"
    assert buckets[-1] == m["posthorn_fsync_seconds_count"]
    assert m["posthorn_delivery_seconds_count"] == 1
    assert m[f'posthorn_destination_oldest_seconds{{destination="{dest}"}}'] >= 0
    assert m['posthorn_connections{proto="smtp",direction="in"}'] == 0
    assert m["posthorn_queue_messages"] == 1, "the deferred one; local ones wait in the spool"


def test_other_paths_get_404_and_garbage_gets_400(make_server):
    mport = free_port()
    make_server(listen={"metrics": [f"127.0.0.1:{mport}"]})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{mport}/other", timeout=10)
    assert e.value.code == 404
    with socket.create_connection(("127.0.0.1", mport), timeout=10) as s:
        s.sendall(b"HELO there\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400 ")
