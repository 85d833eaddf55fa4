"""Durable acceptance (DESIGN.md promise 1, STYLE.md example 6): no 250 until
the message is on disk, and recovery never accepts a torn record.

Each round streams messages from 16 smtplib clients, kills the server with
SIGKILL at a random moment, restarts it, and checks that every message that
got its 250 is in the queue, byte-exact, once. The torn-tail rounds also
append a partial record where the next record would go before restarting.

CRASH_ROUNDS (default 20) is the number of kill cycles in all, split evenly
between the two backends and, within each, between plain and torn-tail rounds;
`CRASH_ROUNDS=200 make integration` (or pytest -k crash) runs 200.
CRASH_SEED fixes the random choices (kill moment, sizes, torn bytes); the seed
of a failing round is in its failure message.
"""

import math
import os
import random
import smtplib
import threading
import time
import zlib
from pathlib import Path

import pytest

from conftest import TIMEOUT_S, make_message

CRASH_ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
CRASH_SEED = int(os.environ.get("CRASH_SEED", "20240611"))
PER_BACKEND = math.ceil(CRASH_ROUNDS / 2)
PLAIN_ROUNDS = math.ceil(PER_BACKEND / 2)
TORN_ROUNDS = PER_BACKEND - PLAIN_ROUNDS
CLIENTS = 16


def round_seed(*parts) -> int:
    """A seed from CRASH_SEED and the round's name (str hashes vary per process)."""
    return zlib.crc32(repr((CRASH_SEED,) + parts).encode())


KILL_WINDOW_S = (0.0, 0.8)   # after the first 250
CRASH_CONFIG = {"spool": {"segment_bytes": 256 * 1024}}   # small: rounds cross segments


class Streamer(threading.Thread):
    """One smtplib client sending unique messages until told to stop or cut off."""

    def __init__(self, port: int, tag: str, seed: int, stop: threading.Event, first_ack: threading.Event,
                 rcpts_for=None):
        super().__init__(daemon=True)
        self.rcpts_for = rcpts_for            # rng -> recipient list; default: local users
        self.port, self.tag, self.rng = port, tag, random.Random(seed)
        self.stop, self.first_ack = stop, first_ack
        self.sent: dict[str, bytes] = {}      # Message-ID -> message, every one attempted
        self.acked: list[str] = []            # Message-IDs that got 250
        self.error: BaseException | None = None

    def _message(self, mid: str) -> bytes:
        r = self.rng.random()
        size = self.rng.randrange(100_000, 320_000) if r < 0.03 else self.rng.randrange(50, 4000)
        line = (mid.encode() + b" ") * 3
        body = b"".join(line[: self.rng.randrange(1, len(line))] + b"\r\n" for _ in range(size // 60 + 1))
        return make_message(mid, body=body, subject=f"crash {self.tag}")

    def run(self) -> None:
        s = None
        try:
            s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=TIMEOUT_S)
            s.ehlo()
            n = 0
            while not self.stop.is_set():
                mid = f"{self.tag}-{n}@crash.test"
                n += 1
                msg = self._message(mid)
                self.sent[mid] = msg
                if self.rcpts_for:
                    rcpts = self.rcpts_for(self.rng)
                else:
                    rcpts = [f"user{self.rng.randrange(1, 6)}@example.test"]
                    if self.rng.random() < 0.2:
                        rcpts.append("postmaster@example.test")
                s.sendmail("user1@example.test", rcpts, msg)
                self.acked.append(mid)        # sendmail returned: the server said 250
                self.first_ack.set()
        except BaseException as e:            # the kill cuts every connection
            self.error = e
        finally:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def _header_bytes(srv) -> int:
    """Where a segment's first record starts: `used` of a segment with no record yet."""
    _, segs = srv.spool_stat()
    return min((s["used"] for s in segs), default=0)


def _stream_and_kill(srv, rng: random.Random, tag: str, rcpts_for=None, clients: int = CLIENTS):
    stop, first_ack = threading.Event(), threading.Event()
    streamers = [Streamer(srv.port, f"{tag}-c{i}", rng.randrange(1 << 30), stop, first_ack, rcpts_for)
                 for i in range(clients)]
    for t in streamers:
        t.start()
    try:
        assert first_ack.wait(TIMEOUT_S), \
            f"no message acknowledged within {TIMEOUT_S}s: {[repr(t.error) for t in streamers if t.error]}" \
            f"\n{srv.log_tail()}"
        time.sleep(rng.uniform(*KILL_WINDOW_S))
        assert srv.alive(), f"posthorn died under load\n{srv.log_tail()}"
        srv.kill()
    finally:
        stop.set()
        for t in streamers:
            t.join(TIMEOUT_S * 2)
    assert not any(t.is_alive() for t in streamers), "a client thread hung after the kill"
    sent, acked = {}, []
    for t in streamers:
        sent.update(t.sent)
        acked += t.acked
    return sent, acked


def _check_spool(srv, sent: dict, acked: list, rng: random.Random, context: str) -> list:
    entries = srv.queue_list()
    mids = [e.message_id for e in entries]
    assert len(mids) == len(set(mids)), f"{context}: a message is queued twice"
    missing = sorted(set(acked) - set(mids))
    assert not missing, f"{context}: {len(missing)} of {len(acked)} acknowledged messages lost, e.g. {missing[:5]}"
    phantom = sorted(m for m in set(mids) - set(sent) if not (m or "").startswith("alive-"))
    assert not phantom, f"{context}: messages nobody sent: {phantom[:5]}"
    by_mid = {e.message_id: e for e in entries}
    for mid in rng.sample(acked, min(5, len(acked))):
        assert srv.body(by_mid[mid].id) == sent[mid], f"{context}: {mid} stored differently"
    return entries


def _tear_tail(srv, rng: random.Random, header_bytes: int) -> tuple[str, int, str]:
    """Appends a partial record at `used` of the newest segment of the busiest shard."""
    _, segs = srv.spool_stat()
    assert segs, "spool stat lists no segment after messages were accepted"
    by_shard: dict[str, list] = {}
    for s in segs:
        by_shard.setdefault(Path(s["path"]).parent.name, []).append(s)
    shard, shard_segs = max(by_shard.items(), key=lambda kv: sum(s["used"] for s in kv[1]))
    shard_segs.sort(key=lambda s: Path(s["path"]).name)
    newest = shard_segs[-1]
    if rng.random() < 0.5:
        # The first 20 bytes of a real record: a valid header promising a body that never came.
        source = next(s for s in shard_segs if s["used"] > header_bytes)
        with open(source["path"], "rb") as f:
            f.seek(header_bytes)
            torn = f.read(20)
        kind = "record-prefix"
    else:
        torn = bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(10, 200))
        kind = "random"
    with open(newest["path"], "r+b") as f:
        f.seek(newest["used"])
        f.write(torn)
    return shard, len(torn), kind


def _recover(srv, sent, acked, rng, context):
    srv.start()
    rec = srv.recovery()
    assert all(r["corrupt_records"] == 0 for r in rec), f"{context}: a kill made corrupt records: {rec}"
    entries = _check_spool(srv, sent, acked, rng, context + ", after restart")
    assert sum(r["live_messages"] for r in rec) == len(entries), f"{context}: {rec} vs {len(entries)} listed"
    return rec


def _after_recovery(srv, sent, acked, rng, context):
    v = srv.spool_verify()
    assert v.returncode == 0, f"{context}: spool verify after recovery: {v.stdout[-500:]!r} {v.stderr[-500:]!r}"
    srv.assert_serving()                  # appending after the cut tail works
    assert srv.stop() == 0
    srv.start()                           # and a clean restart finds nothing torn
    rec = srv.recovery()
    assert all(r["torn_tail_bytes"] == 0 and r["corrupt_records"] == 0 for r in rec), f"{context}: {rec}"
    _check_spool(srv, sent, acked, rng, context + ", after a clean restart")
    assert srv.spool_verify().returncode == 0


@pytest.mark.parametrize("round_no", range(PLAIN_ROUNDS))
def test_acknowledged_messages_survive_sigkill(make_server, io, round_no):
    seed = round_seed(io, "plain", round_no)
    rng = random.Random(seed)
    context = f"round {round_no} ({io}, CRASH_SEED={CRASH_SEED}, seed {seed})"
    srv = make_server(**CRASH_CONFIG)
    sent, acked = _stream_and_kill(srv, rng, f"k{round_no}{io[0]}")
    # The queue tools read a crashed spool as it is.
    _check_spool(srv, sent, acked, rng, context + ", offline after the kill")
    _recover(srv, sent, acked, rng, context)
    _after_recovery(srv, sent, acked, rng, context)


@pytest.mark.parametrize("round_no", range(TORN_ROUNDS))
def test_torn_tail_is_cut_on_recovery(make_server, io, round_no):
    seed = round_seed(io, "torn", round_no)
    rng = random.Random(seed)
    srv = make_server(**CRASH_CONFIG)
    header_bytes = _header_bytes(srv)
    sent, acked = _stream_and_kill(srv, rng, f"t{round_no}{io[0]}")
    shard, n, kind = _tear_tail(srv, rng, header_bytes)
    context = f"round {round_no} ({io}, {kind} tail of {n} bytes in shard {shard}, CRASH_SEED={CRASH_SEED}, seed {seed})"
    rec = _recover(srv, sent, acked, rng, context)
    torn = [r for r in rec if str(r.get("shard")) == shard] or rec
    assert sum(r["torn_tail_bytes"] for r in torn) > 0, f"{context}: torn tail not reported: {rec}"
    _after_recovery(srv, sent, acked, rng, context)


def test_sigterm_under_load_exits_0_and_keeps_every_acknowledged_message(make_server, io):
    rng = random.Random(round_seed(io, "term"))
    srv = make_server(**CRASH_CONFIG)
    stop, first_ack = threading.Event(), threading.Event()
    streamers = [Streamer(srv.port, f"term{io[0]}-c{i}", rng.randrange(1 << 30), stop, first_ack)
                 for i in range(8)]
    for t in streamers:
        t.start()
    try:
        assert first_ack.wait(TIMEOUT_S)
        time.sleep(0.3)
        assert srv.stop() == 0
    finally:
        stop.set()
        for t in streamers:
            t.join(TIMEOUT_S * 2)
    sent = {k: v for t in streamers for k, v in t.sent.items()}
    acked = [m for t in streamers for m in t.acked]
    _check_spool(srv, sent, acked, rng, "after SIGTERM")
    srv.start()
    rec = srv.recovery()
    assert all(r["torn_tail_bytes"] == 0 and r["corrupt_records"] == 0 for r in rec), rec
    _check_spool(srv, sent, acked, rng, "after SIGTERM and restart")


def test_messages_survive_a_clean_restart(make_server):
    srv = make_server()
    msgs = {}
    for i in range(10):
        mid = f"restart-{i}@client.test"
        msgs[mid] = make_message(mid, body=b"restart %d\r\n" % i)
        srv.send(msgs[mid])
    assert srv.stop() == 0
    offline = srv.entries_by_message_id()
    assert set(offline) == set(msgs)
    stat, segs = srv.spool_stat()
    assert stat["live_messages"] == 10 and stat["corrupt_records"] == 0 and stat["torn_tail_bytes"] == 0, stat
    assert segs and all(s["used"] <= os.path.getsize(s["path"]) for s in segs), segs
    srv.start()
    rec = srv.recovery()
    assert sum(r["live_messages"] for r in rec) == 10, rec
    for mid, e in srv.entries_by_message_id().items():
        assert srv.body(e.id) == msgs[mid]
