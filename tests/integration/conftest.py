"""Integration harness: runs the real build/posthorn binary on loopback.

What it owns: one server process per test (per transcript in test_transcripts), its
TOML config and data_dir in a pytest tmp dir, a raw SMTP client that shows
every reply byte, and parsers for the CLI's output (`queue list|show|cat`,
`spool stat|verify`) and for the key=value log lines.

Fixtures
  io            "io_uring" | "epoll"; every server test runs on both (test ids
                show the backend). io_uring is skipped, with the reason, only
                where the kernel refuses io_uring_setup.
  make_server   factory: make_server(start=True, **sections) -> Server; each
                keyword is a config section whose keys override the defaults
                (a value of None removes the key). Servers still running at
                teardown are checked (did not crash, no sanitizer report) and
                stopped with SIGTERM, which must exit 0.
  server        make_server() with the defaults below, started.
                Every server listens for SMTP, POP3, IMAP and LDAP on free
                loopback ports (port, pop3_port, imap_port, ldap_port).

Environment
  POSTHORN_BIN       the binary (make test sets it); default <repo>/build/posthorn.
  POSTHORN_KEEP_DATA keep every test's data_dir (by default a passing test's
                     is removed, a failing one's is kept and named in the report).

Limits: every socket read has a timeout (TIMEOUT_S) so a broken server fails a
test instead of hanging the suite; nothing asserts on elapsed time.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0            # any single read or wait; only to avoid hangs
START_TIMEOUT_S = 30.0      # from exec to the SMTP port accepting
HOSTNAME = "mx.example.test"
LOCAL_DOMAIN = "example.test"
USERS = [f"user{n}" for n in range(1, 6)]
QUEUE_ID_RE = re.compile(r"queued as ([0-9A-Fa-f]{16})\b")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "==ABORTING")


def posthorn_bin() -> str:
    path = os.environ.get("POSTHORN_BIN") or str(REPO / "build" / "posthorn")
    return path


# ---------------------------------------------------------------------------
# io backends

def _io_uring_usable() -> tuple[bool, str]:
    """Probes io_uring_setup(2) the way a container's seccomp policy sees it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)   # struct io_uring_params
        fd = libc.syscall(425, 4, params)           # __NR_io_uring_setup (x86_64, arm64)
        if fd < 0:
            err = ctypes.get_errno()
            return False, f"io_uring_setup failed: {os.strerror(err)}"
        os.close(fd)
        return True, ""
    except OSError as e:  # pragma: no cover - no libc?
        return False, str(e)


_IO_URING = _io_uring_usable()


@pytest.fixture(scope="module", params=["io_uring", "epoll"])
def io(request) -> str:
    """The io backend; module-scoped so a module's tests are grouped by backend."""
    if request.param == "io_uring" and not _IO_URING[0]:
        pytest.skip(f"io_uring unavailable here ({_IO_URING[1]}); epoll still runs")
    return request.param


# ---------------------------------------------------------------------------
# config

_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in a run:
    the kernel may hand a just-released port out again, and posthorn binds
    with SO_REUSEPORT, so two of one server's listeners could share it."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` (any process), from /proc/net."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def default_config(io: str, data_dir: Path, port: int, pop3_port: int = 0, imap_port: int = 0,
                   ldap_port: int = 0) -> dict:
    listen = {"smtp": [f"127.0.0.1:{port}"]}
    if ldap_port:
        listen["ldap"] = [f"127.0.0.1:{ldap_port}"]
    if pop3_port:
        listen["pop3"] = [f"127.0.0.1:{pop3_port}"]
    if imap_port:
        listen["imap"] = [f"127.0.0.1:{imap_port}"]
    return {
        "server": {"hostname": HOSTNAME, "shards": 2, "io": io, "data_dir": str(data_dir),
                   "durability": "fsync"},
        "listen": listen,
        # A failed login is answered after a delay (x the client's recent
        # failures); short here so tests of failures stay quick.
        "auth": {"failure_delay": "50ms"},
        "smtp": {"max_message_size": 10 * 1024 * 1024, "max_recipients": 100,
                 "command_timeout": "60s", "data_timeout": "60s",
                 "trusted_networks": ["127.0.0.0/8"], "bare_newlines": "reject"},
        # Small segments keep each test's preallocated spool small.
        "spool": {"segment_bytes": 1024 * 1024},
        "domains": {"local": [LOCAL_DOMAIN, "localhost"]},
        "users": [{"name": u, "password": "{PLAIN}" + u, "display_name": f"User {u[-1]}",
                   "addresses": [f"{u}@{LOCAL_DOMAIN}"]} for u in USERS],
        "aliases": {f"postmaster@{LOCAL_DOMAIN}": [f"user1@{LOCAL_DOMAIN}"]},
        # Local mail stays in the spool (Postfix's defer_transports), so the
        # tests of reception and of the spool can read it there; the tests
        # of local delivery set it to [].
        "queue": {"defer_transports": ["local"]},
    }


def merge_config(base: dict, overrides: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            for k, v in values.items():
                if v is None:
                    out[section].pop(k, None)
                else:
                    out[section][k] = v
        elif values is None:
            out.pop(section, None)
        else:
            out[section] = values
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(cfg: dict) -> str:
    lines = []
    for section, values in cfg.items():
        if isinstance(values, list):            # array of tables
            for table in values:
                lines.append(f"[[{section}]]")
                lines += [f"{json.dumps(k) if section == 'aliases' else k} = {_toml_value(v)}"
                          for k, v in table.items()]
                lines.append("")
            continue
        lines.append(f"[{section}]")
        for k, v in values.items():
            key = k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)
            lines.append(f"{key} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# parsing the binary's output

_KV_RE = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_kv(line: str) -> dict:
    out = {}
    for k, v in _KV_RE.findall(line):
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[k] = v
    return out


@dataclasses.dataclass
class QueueEntry:
    id: str                 # 16 hex digits, upper-cased here
    size: int
    sender: str             # "" for the null sender <>
    rcpts: list
    message_id: str | None  # header value without <>, None for "-"
    line: str


_QLINE_RE = re.compile(r"^([0-9A-Fa-f]{16}) size=(\d+) from=(\S*) to=(\S*) message_id=(.*)$")


def strip_angles(s: str) -> str:
    s = s.strip()
    if s.startswith("<") and s.endswith(">"):
        s = s[1:-1]
    return s


def parse_queue_list(text: str) -> list[QueueEntry]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines, "queue list printed nothing (want at least the '-- N messages' line)"
    m = re.fullmatch(r"-- (\d+) messages?", lines[-1].strip())
    assert m, f"queue list's last line is not '-- N messages': {lines[-1]!r}"
    entries = []
    for ln in lines[:-1]:
        q = _QLINE_RE.match(ln.strip())
        assert q, f"queue list line does not parse: {ln!r}"
        qid, size, sender, to, mid = q.groups()
        sender = strip_angles(sender)
        mid = mid.strip()
        entries.append(QueueEntry(id=qid.upper(), size=int(size), sender=sender,
                                  rcpts=[strip_angles(r) for r in to.split(",") if r],
                                  message_id=None if mid == "-" else strip_angles(mid), line=ln))
    assert int(m.group(1)) == len(entries), f"queue list says {m.group(1)} messages, lists {len(entries)}"
    return entries


def parse_spool_stat(text: str) -> tuple[dict, list[dict]]:
    totals, segments = {}, []
    for ln in text.splitlines():
        kv = parse_kv(ln)
        if not kv:
            continue
        if "segment" in kv:
            segments.append({"path": kv["segment"], "used": int(kv["used"]), "sealed": kv["sealed"] == "1"})
        else:
            for k, v in kv.items():
                totals[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
    return totals, segments


def strip_received(content: bytes) -> bytes:
    """Removes the one Received: header field posthorn prepends (with folded lines)."""
    assert content[:9].lower() == b"received:", f"stored content does not start with Received: {content[:80]!r}"
    pos = 0
    while True:
        nl = content.find(b"\r\n", pos)
        assert nl >= 0, "Received: header never ends"
        pos = nl + 2
        if content[pos:pos + 1] not in (b" ", b"\t"):
            return content[pos:]


# ---------------------------------------------------------------------------
# a raw SMTP client that shows every reply

class ConnectionClosed(Exception):
    pass


@dataclasses.dataclass
class Reply:
    code: int
    lines: list   # text after "NNN-" / "NNN "
    raw: bytes

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> str | None:
        m = re.match(r"(\d\.\d{1,3}\.\d{1,3})\b", self.lines[0]) if self.lines else None
        return m.group(1) if m else None

    @property
    def queue_id(self) -> str | None:
        m = QUEUE_ID_RE.search(self.text)
        return m.group(1).upper() if m else None

    def __str__(self) -> str:
        return self.raw.decode("latin-1").rstrip()


def parse_replies(data: bytes) -> list[Reply]:
    """Splits a byte stream of server replies into Reply objects (complete ones only)."""
    replies, lines, raw_start, pos = [], [], 0, 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl].rstrip(b"\r").decode("utf-8", "replace")
        pos = nl + 1
        m = re.match(r"^(\d{3})([ -]?)(.*)$", line)
        if not m:
            replies.append(Reply(code=0, lines=[line], raw=data[raw_start:pos]))
            raw_start, lines = pos, []
            continue
        lines.append(m.group(3))
        if m.group(2) != "-":
            replies.append(Reply(code=int(m.group(1)), lines=lines, raw=data[raw_start:pos]))
            raw_start, lines = pos, []
    return replies


class SmtpClient:
    """Raw SMTP over a socket: send bytes exactly as given, read replies one by one."""

    def __init__(self, port: int, host: str = "127.0.0.1", read_greeting: bool = True,
                 timeout: float = TIMEOUT_S):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.greeting = self.read_reply() if read_greeting else None

    # -- io
    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_reply(self) -> Reply:
        """The next complete reply; ConnectionClosed if the server closed first."""
        while True:
            replies = parse_replies(self.buf)
            if replies:
                r = replies[0]
                self.buf = self.buf[len(r.raw):]
                return r
            if not self._fill():
                raise ConnectionClosed(f"connection closed; unparsed bytes: {self.buf[:200]!r}")

    def read_replies(self, n: int) -> list[Reply]:
        return [self.read_reply() for _ in range(n)]

    def cmd(self, line: str | bytes) -> Reply:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.read_reply()

    def expect(self, line: str | bytes, code: int, enhanced: str | None = None) -> Reply:
        r = self.cmd(line)
        assert r.code == code, f"{line!r}: want {code}, got {r}"
        if enhanced is not None:
            assert r.enhanced == enhanced, f"{line!r}: want {code} {enhanced}, got {r}"
        return r

    def read_until_close(self, timeout: float = TIMEOUT_S) -> tuple[list[Reply], bool]:
        """Reads until EOF (or timeout): every complete reply, and whether it closed."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof and time.monotonic() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                self._fill()
        except (socket.timeout, TimeoutError):
            pass
        finally:
            self.sock.settimeout(TIMEOUT_S)
        replies = parse_replies(self.buf)
        self.buf = self.buf[sum(len(r.raw) for r in replies):]
        return replies, self.eof

    def wait_closed(self, timeout: float = TIMEOUT_S) -> bool:
        return self.read_until_close(timeout)[1]

    # -- conveniences
    def ehlo(self, name: str = "client.test") -> Reply:
        return self.expect(f"EHLO {name}", 250)

    def begin(self, sender: str = "user1@example.test", rcpts=("user2@example.test",),
              ehlo: bool = True) -> None:
        if ehlo:
            self.ehlo()
        self.expect(f"MAIL FROM:<{sender}>", 250)
        for r in rcpts:
            self.expect(f"RCPT TO:<{r}>", 250)

    def data(self, body: bytes, stuffed: bool = False) -> Reply:
        """DATA with `body` (CRLF lines); dot-stuffs unless `stuffed`; returns the final reply."""
        self.expect("DATA", 354)
        wire = body if stuffed else dot_stuff(body)
        if not wire.endswith(b"\r\n"):
            wire += b"\r\n"
        self.send(wire + b".\r\n")
        return self.read_reply()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dot_stuff(body: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"..", body)


def make_message(message_id: str, body: bytes = b"hello\r\n", sender: str = "user1@example.test",
                 to: str = "user2@example.test", subject: str = "test", extra: bytes = b"") -> bytes:
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\n").encode() + extra + b"\r\n" + body


# ---------------------------------------------------------------------------
# the server process

class Server:
    def __init__(self, io: str, workdir: Path, overrides: dict):
        self.io = io
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "var"
        self.port = free_port()
        self.pop3_port = free_port()
        self.imap_port = free_port()
        self.ldap_port = free_port()
        self.config = merge_config(default_config(io, self.data_dir, self.port, self.pop3_port, self.imap_port,
                                                  self.ldap_port),
                                   overrides)
        self.config_path = workdir / "posthorn.toml"
        self.config_path.write_text(to_toml(self.config))
        self.log_path = workdir / "posthorn.log"
        self.proc: subprocess.Popen | None = None
        self._log_start = 0          # offset in the log where the current run began
        self.starts = 0

    @property
    def shards(self) -> int:
        return int(self.config["server"]["shards"])

    @property
    def smtp_config(self) -> dict:
        return self.config["smtp"]

    # -- lifecycle
    def start(self, timeout: float = START_TIMEOUT_S) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([posthorn_bin(), "serve", "-c", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.workdir)
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"posthorn serve exited with {rc} before accepting connections\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"posthorn serve did not accept on port {self.port} within {timeout}s\n"
                                f"{self.log_tail()}")
                time.sleep(0.02)
        # Under io_uring a killed process's sockets are released by the
        # kernel after it exits, so its listeners may still sit in the
        # SO_REUSEPORT group (and reset what they are handed). Ready means:
        # exactly this run's listeners, one per shard, on each port.
        for port in self.listen_ports():
            wait_for(lambda: listening_sockets(port) == self.shards, timeout=timeout,
                     what=f"{self.shards} listeners on port {port} (the previous run's gone)")
        return self

    def listen_ports(self) -> list[int]:
        ports = []
        for proto in ("smtp", "pop3", "imap", "ldap"):
            for addr in self.config.get("listen", {}).get(proto, []):
                ports.append(int(addr.rsplit(":", 1)[1]))
        return ports

    def stop(self, timeout: float = TIMEOUT_S) -> int:
        """SIGTERM; returns the exit code (kills and fails if it does not stop)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"posthorn did not stop within {timeout}s of SIGTERM\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(TIMEOUT_S)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- logs
    def log_text(self, whole: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            if not whole:
                f.seek(self._log_start)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_text(whole=True).splitlines()
        return "--- posthorn log (last lines) ---\n" + "\n".join(lines[-n:])

    def events(self, name: str) -> list[dict]:
        """key=value dicts of this run's log lines with event=<name>."""
        out = []
        for ln in self.log_text().splitlines():
            kv = parse_kv(ln)
            if kv.get("event") == name:
                out.append(kv)
        return out

    def recovery(self, timeout: float = TIMEOUT_S) -> list[dict]:
        """This run's event=recovery lines, one per shard (waits for all of them)."""
        deadline = time.monotonic() + timeout
        while True:
            # The contract names it event=recovery; the spool logs event=spool_open.
            lines = [kv for kv in self.events("recovery") + self.events("spool_open") if "live_messages" in kv]
            if len(lines) >= self.shards or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(lines) == self.shards, \
            f"want {self.shards} event=recovery lines, got {len(lines)}\n{self.log_tail()}"
        for kv in lines:
            for key in ("live_messages", "corrupt_records", "torn_tail_bytes", "torn_records"):
                assert re.fullmatch(r"\d+", kv.get(key, "")), f"recovery line lacks {key}=N: {kv}"
        return [{k: int(v) if re.fullmatch(r"\d+", v) else v for k, v in kv.items()} for kv in lines]

    # -- the CLI
    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.run([posthorn_bin(), *args, "-c", str(self.config_path)], capture_output=True,
                           timeout=timeout, cwd=self.workdir)
        if check and p.returncode != 0:
            pytest.fail(f"posthorn {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout[-2000:]!r}\n"
                        f"stderr: {p.stderr[-2000:]!r}")
        return p

    def queue_list(self) -> list[QueueEntry]:
        return parse_queue_list(self.cli("queue", "list").stdout.decode("utf-8", "replace"))

    def queue_show(self, qid: str) -> str:
        return self.cli("queue", "show", qid).stdout.decode("utf-8", "replace")

    def queue_cat(self, qid: str) -> bytes:
        return self.cli("queue", "cat", qid).stdout

    def body(self, qid: str) -> bytes:
        """The stored content without the Received: header posthorn prepends."""
        return strip_received(self.queue_cat(qid))

    def spool_stat(self) -> tuple[dict, list[dict]]:
        return parse_spool_stat(self.cli("spool", "stat").stdout.decode("utf-8", "replace"))

    def spool_verify(self) -> subprocess.CompletedProcess:
        return self.cli("spool", "verify", check=False)

    def spool_files(self) -> list[Path]:
        return sorted((self.data_dir / "spool").glob("*/*.seg"))

    def mailbox(self, user: str, folder: str = "INBOX") -> list[dict]:
        """`posthorn mailbox list`: [{uid, size, date, flags}], [] without the folder."""
        p = self.cli("mailbox", "list", user, folder, check=False)
        if p.returncode != 0:
            return []
        out = []
        for line in p.stdout.decode().splitlines()[1:]:
            m = re.fullmatch(r"(\d+) (\d+) (\S+) \((.*)\)", line)
            assert m, f"mailbox list line: {line!r}"
            out.append({"uid": int(m.group(1)), "size": int(m.group(2)), "date": m.group(3),
                        "flags": m.group(4).split()})
        return out

    def mailbox_cat(self, user: str, uid: int, folder: str = "INBOX") -> bytes:
        return self.cli("mailbox", "cat", user, str(uid), folder).stdout

    def mailbox_messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message of the folder, in UID order ([] without the folder)."""
        p = self.cli("mailbox", "cat", user, "all", folder, check=False)
        if p.returncode != 0:
            return []
        out, data = [], p.stdout
        while data:
            head, _, data = data.partition(b"\n")
            m = re.fullmatch(rb"uid (\d+) size (\d+)", head)
            assert m, f"mailbox cat all: {head[:100]!r}"
            n = int(m.group(2))
            out.append(data[:n])
            data = data[n:]
        return out

    # -- clients
    def client(self, **kw) -> SmtpClient:
        return SmtpClient(self.port, **kw)

    def smtp(self) -> smtplib.SMTP:
        # local_hostname: smtplib would otherwise ask DNS for our FQDN.
        return smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=TIMEOUT_S)

    def send(self, message: bytes, sender: str = "user1@example.test",
             rcpts=("user2@example.test",)) -> str:
        """One message through smtplib; returns its queue id."""
        with self.smtp() as s:
            s.ehlo()
            code, text = _sendmail_last_reply(s, sender, list(rcpts), message)
        assert code == 250, f"end of data: {code} {text!r}"
        m = QUEUE_ID_RE.search(text.decode("utf-8", "replace"))
        assert m, f"250 without 'queued as <16 hex>': {text!r}"
        return m.group(1).upper()

    def assert_serving(self) -> None:
        """The process is alive and a fresh client gets a message queued."""
        assert self.alive(), f"posthorn died (exit {self.proc.returncode})\n{self.log_tail()}"
        mid = f"alive-{time.monotonic_ns()}@client.test"
        qid = self.send(make_message(mid))
        assert qid in {e.id for e in self.queue_list()}

    def entries_by_message_id(self) -> dict[str, QueueEntry]:
        return {e.message_id: e for e in self.queue_list() if e.message_id}


def _sendmail_last_reply(s: smtplib.SMTP, sender: str, rcpts: list, message: bytes):
    """sendmail, but returning the end-of-data reply (smtplib drops its text)."""
    code, resp = s.mail(sender)
    assert code == 250, f"MAIL: {code} {resp!r}"
    for r in rcpts:
        code, resp = s.rcpt(r)
        assert code == 250, f"RCPT {r}: {code} {resp!r}"
    return s.data(message)


# ---------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="session", autouse=True)
def _posthorn_binary():
    path = posthorn_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no posthorn binary at {path} (build it, or set POSTHORN_BIN)", pytrace=False)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _finish(servers: list[Server], failed: bool) -> list[str]:
    problems = []
    for srv in servers:
        if srv.proc is None:
            continue
        was_alive = srv.alive()
        if not was_alive and srv.proc.returncode != -signal.SIGKILL:
            problems.append(f"posthorn exited on its own with {srv.proc.returncode}\n{srv.log_tail()}")
        if was_alive:
            rc = srv.stop()
            if rc != 0:
                problems.append(f"posthorn exited {rc} after SIGTERM (want 0)\n{srv.log_tail()}")
        log = srv.log_text(whole=True)
        for marker in SANITIZER_MARKERS:
            if marker in log:
                problems.append(f"sanitizer report in the log ({marker})\n{srv.log_tail(80)}")
                break
    if failed or problems:
        for srv in servers:   # shown under "Captured stdout teardown"
            print(f"posthorn workdir kept: {srv.workdir} (config, log, var/)\n{srv.log_tail()}")
    elif not os.environ.get("POSTHORN_KEEP_DATA"):
        for srv in servers:
            shutil.rmtree(srv.workdir, ignore_errors=True)
    return problems


@pytest.fixture
def make_server(io, tmp_path, request):
    servers: list[Server] = []

    def factory(start: bool = True, **overrides) -> Server:
        srv = Server(io, tmp_path / f"srv{len(servers)}", overrides)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    rep = getattr(request.node, "rep_call", None)
    problems = _finish(servers, failed=rep is None or rep.failed)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def server(make_server) -> Server:
    return make_server()


def unique_id(tag: str) -> str:
    return f"{tag}-{os.getpid()}-{time.monotonic_ns()}@client.test"


def wait_for(predicate, timeout: float = TIMEOUT_S, interval: float = 0.05, what: str = "condition"):
    """Polls until predicate() is truthy; returns its value (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


def is_closed_error(e: BaseException) -> bool:
    return isinstance(e, (ConnectionClosed, BrokenPipeError, ConnectionResetError)) or \
        (isinstance(e, OSError) and e.errno in (errno.EPIPE, errno.ECONNRESET))
