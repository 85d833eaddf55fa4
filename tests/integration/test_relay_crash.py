"""Delivery survives kill -9: every message that got a 250 reaches its
recipients after a restart — the next hop and the local mailboxes — and
only deliveries in flight at the kill may happen twice.

Each round: posthorn relays relay.test to an aiosmtpd sink and delivers
example.test to its users' mailboxes (two shards: most local deliveries
cross shards); 8 smtplib clients stream messages, each to one remote and
one local recipient; posthorn is killed with SIGKILL at a random moment
while it accepts, relays and stores, then restarted on the same data. The
round waits until every acknowledged Message-ID is at the sink and in a
mailbox, and reports duplicates (deliveries in flight) and losses (none
allowed). RELAY_CRASH_ROUNDS (default 2 per backend) sets the rounds.
"""

import os
import random
import re

import pytest

from conftest import free_port, wait_for
from test_crash import CRASH_SEED, _stream_and_kill, round_seed
from test_relay import Sink, aiosmtpd_controller

ROUNDS = int(os.environ.get("RELAY_CRASH_ROUNDS", "2"))
MID_RE = re.compile(rb"^Message-ID: <([^>]*)>", re.M | re.I)


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_every_acknowledged_message_reaches_the_next_hop_after_sigkill(make_server, io, round_no):
    seed = round_seed(io, "relay", round_no)
    rng = random.Random(seed)
    context = f"relay round {round_no} ({io}, CRASH_SEED={CRASH_SEED}, seed {seed})"
    sink = Sink()
    port = free_port()
    ctl = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        srv = make_server(routes={"relay.test": f"127.0.0.1:{port}"},
                          queue={"retry": ["1s"], "lifetime": "1h", "defer_transports": []},
                          spool={"segment_bytes": 256 * 1024})
        sent, acked = _stream_and_kill(srv, rng, f"r{round_no}{io[0]}",
                                       rcpts_for=lambda r: [f"rcpt{r.randrange(4)}@relay.test",
                                                            f"user{r.randrange(1, 6)}@example.test"],
                                       clients=8)
        assert acked, context + ": nothing acknowledged"
        srv.start()

        def arrived():
            with sink.lock:
                return [m.group(1).decode() for _, _, c in sink.messages if (m := MID_RE.search(c))]
        wait_for(lambda: set(acked) <= set(arrived()), timeout=60,
                 what=f"{context}: every acknowledged message at the sink")
        got = arrived()

        def stored():
            return [m.group(1).decode() for u in range(1, 6) for c in srv.mailbox_messages(f"user{u}")
                    if (m := MID_RE.search(c))]
        wait_for(lambda: set(acked) <= set(stored()), timeout=60,
                 what=f"{context}: every acknowledged message in a mailbox")
        wait_for(lambda: not srv.queue_list(), timeout=60, what=f"{context}: the spool empty")
        local = stored()
        duplicates = len(got) - len(set(got))
        local_duplicates = len(local) - len(set(local))
        phantom = (set(got) | set(local)) - set(sent)
        assert not phantom, f"{context}: messages nobody sent: {sorted(phantom)[:5]}"
        print(f"{context}: {len(acked)} acknowledged; relayed {len(set(got))}, {duplicates} duplicates; "
              f"stored {len(set(local))}, {local_duplicates} duplicates; lost 0")
        # Duplicates only from deliveries in flight at the kill: a handful, never all.
        assert duplicates <= 64, f"{context}: {duplicates} duplicates at the sink"
        assert local_duplicates <= 64, f"{context}: {local_duplicates} duplicates in mailboxes"
        assert srv.cli("spool", "verify", check=False).returncode == 0
        # (the fixture stops it with SIGTERM and wants exit 0)
    finally:
        ctl.stop()
