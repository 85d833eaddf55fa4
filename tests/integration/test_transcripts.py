"""The golden SMTP transcripts (tests/transcripts/*.txt, format in its
README.md) replayed against the real server over a real socket, the client's
bytes cut into 1, 2, 5, 10 and 100-byte writes and whole (STYLE.md #3): the
server's bytes must equal the S: lines at every cut, and each M: line must be
the stored content (queue cat, our Received: header removed) of the message
with the matching 'queued as'.

The unit test feeds the session directly; here the reactor, the connection
buffers, the spool and the group commit sit in between. Differences the
harness there fixes and we cannot: queue ids (any 16 hex digits here, compared
by position), the peer (127.0.0.1, trusted only with `@trusted yes`, as the
README's 192.0.2.10), and config minimums (a transcript needing a setting the
config file refuses is skipped with the reason)."""

import re
import socket
import time
from pathlib import Path

import pytest

from conftest import REPO, TIMEOUT_S, Server, _finish, free_port, strip_received

TRANSCRIPTS = sorted((REPO / "tests" / "transcripts").glob("*.txt"))
CUTS = [1, 2, 5, 10, 100, 0]   # 0: the whole stream in one write

# Config-file minimums (src/app/config.cc) that a transcript setting may undercut.
CONFIG_MIN = {"line_length_max": 32, "body_window_bytes": 4096}
# The session defaults the unit harness uses where a transcript sets nothing.
SESSION_DEFAULTS = {"max_message_size": 52428800, "max_recipients": 1000, "line_length_max": 512,
                    "errors_max": 10, "body_window_bytes": 262144, "bare_newlines": "reject",
                    "vrfy": "cannot_verify", "expn": False, "trusted_networks": [],
                    "forbid_unauth_pipelining": False}


def unescape(text: str) -> bytes:
    out, i = bytearray(), 0
    raw = text.encode("utf-8")
    while i < len(raw):
        c = raw[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = raw[i + 1:i + 2]
        simple = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"\\": b"\\"}
        if nxt in simple:
            out += simple[nxt]
            i += 2
        elif nxt == b"x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{nxt!r} in {text!r}")
    return bytes(out)


class Transcript:
    def __init__(self, path: Path):
        self.path = path
        self.name = path.stem
        self.settings: dict[str, str] = {}
        self.client = bytearray()       # every client byte, in order
        self.server = bytearray()       # every server byte expected, in order
        self.messages: list[bytes] = []
        self.greeting = b""
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                self.settings[key] = value.strip()
                continue
            tag, text = line[:2], line[2:]
            if text.startswith(" "):
                text = text[1:]
            if tag == "C:":
                self.client += unescape(text) + b"\r\n"
            elif tag == "C-":
                self.client += unescape(text)
            elif tag == "S:":
                if not self.server and not self.client:
                    self.greeting += unescape(text) + b"\r\n"
                else:
                    self.server += unescape(text) + b"\r\n"
            elif tag == "M:":
                self.messages.append(unescape(text))
            else:
                raise ValueError(f"{path.name}:{n}: unknown line {line!r}")
        assert self.greeting.startswith(b"220 "), f"{path.name}: must begin with its S: 220"
        last = self.server.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
        self.ends_closed = last[:4] in (b"221 ", b"421 ")

    def config(self) -> tuple[dict, str | None]:
        """Config overrides for this transcript, or a reason it cannot run here."""
        smtp = dict(SESSION_DEFAULTS)
        for key, value in self.settings.items():
            if key in ("max_message_size", "max_recipients", "line_length_max", "errors_max",
                       "body_window_bytes"):
                smtp[key] = int(value)
                if key in CONFIG_MIN and smtp[key] < CONFIG_MIN[key]:
                    return {}, (f"@{key} {value} is below the config file's minimum {CONFIG_MIN[key]}; "
                                f"the unit test replays it")
            elif key == "bare_newlines":
                smtp[key] = value
            elif key == "trusted":
                smtp["trusted_networks"] = ["127.0.0.0/8"] if value == "yes" else []
            elif key == "vrfy":
                smtp[key] = {"cannot": "cannot_verify"}.get(value, value)
            elif key == "expn":
                smtp[key] = value == "on"
            else:
                return {}, f"unknown setting @{key}"
        aliases = {"postmaster@example.test": ["user1@example.test"],
                   "staff@example.test": ["user1@example.test", "user2@example.test"]}
        # Relayed mail must stay in the spool for the content check: every
        # other .test domain goes to a loopback port nobody listens on and is
        # retried in an hour (without a route it would go to DNS, and the
        # machine's resolver might bounce it at once).
        routes = {".test": f"127.0.0.1:{free_port()}"}
        queue = {"retry": ["1h"], "lifetime": "1d"}
        return {"smtp": smtp, "aliases": aliases, "server": {"shards": 1}, "routes": routes, "queue": queue}, None


def _id(p: Path) -> str:
    return p.stem


@pytest.fixture(scope="module")
def transcript_server(io, tmp_path_factory, request):
    """One server per transcript and backend, shared by that transcript's cuts."""
    servers: dict[str, Server] = {}
    failed_before = request.session.testsfailed

    def get(t: Transcript) -> Server:
        if t.name not in servers:
            overrides, _ = t.config()
            srv = Server(io, tmp_path_factory.mktemp(f"tr-{io}-{t.name}"), overrides)
            servers[t.name] = srv
            srv.start()
        srv = servers[t.name]
        assert srv.alive(), f"posthorn died during an earlier cut of {t.name}\n{srv.log_tail()}"
        return srv

    yield get
    problems = _finish(list(servers.values()), failed=request.session.testsfailed > failed_before)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _normalize_ids(data: bytes) -> tuple[bytes, list[str]]:
    ids = [m.upper() for m in re.findall(rb"queued as ([0-9A-Fa-f]{16})", data)]
    return re.sub(rb"queued as [0-9A-Fa-f]{16}", b"queued as <ID>", data), [i.decode() for i in ids]


def _replay(port: int, t: Transcript, cut: int) -> tuple[bytes, bytes, bool]:
    """Sends the client bytes in `cut`-byte writes; returns (greeting, replies, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        greeting = b""
        while not greeting.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            greeting += chunk
        data = bytes(t.client)
        step = cut or len(data) or 1
        try:
            for pos in range(0, len(data), step):
                sock.sendall(data[pos:pos + step])
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server closed (QUIT, 421): what it said is still to read
        got, closed = b"", False
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < len(t.server) and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            got += chunk
        if t.ends_closed and not closed:
            # Nothing more may come, and then the close.
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                except socket.timeout:
                    break
                if not chunk:
                    closed = True
                    break
                got += chunk
        return greeting, got, closed
    finally:
        sock.close()


@pytest.mark.parametrize("cut", CUTS, ids=lambda c: f"cut{c}" if c else "whole")
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=_id)
def test_transcript_replays_over_a_socket(transcript_server, path, cut):
    t = Transcript(path)
    _, skip = t.config()
    if skip:
        pytest.skip(skip)
    srv = transcript_server(t)
    greeting, got, closed = _replay(srv.port, t, cut)
    assert greeting == t.greeting, f"greeting {greeting!r}, want {bytes(t.greeting)!r}"
    want, _ = _normalize_ids(bytes(t.server))
    have, ids = _normalize_ids(got)
    assert have.decode("latin-1").split("\r\n") == want.decode("latin-1").split("\r\n")
    if t.ends_closed:
        assert closed, "the transcript ends with the server closing, but the connection stayed open"
    assert len(ids) == len(t.messages), f"{len(ids)} 'queued as' replies, {len(t.messages)} M: lines"
    for qid, content in zip(ids, t.messages):
        assert strip_received(srv.queue_cat(qid)) == content, f"stored content of {qid}"
    assert srv.alive()
