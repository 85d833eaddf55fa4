"""Helpers of the IMAP integration tests (test_imap*.py).

What it holds: a server with local delivery on (mail sent over SMTP lands
in the mailboxes), deliver() over SMTP, an imaplib login, `Raw` (an IMAP
client over a plain socket that shows every byte: the tests of exact
replies, pipelining, IDLE and bad input use it) and `parse` (RFC 3501
response syntax into Python lists: ENVELOPE, BODYSTRUCTURE and FETCH items
checked field by field).

Parsed values: an atom is a str, NIL is None, a quoted string is a str,
a literal is bytes (so message bytes compare exactly), a parenthesized
list is a list. text() turns a quoted string or a literal into str.
"""

from __future__ import annotations

import imaplib
import re
import socket

from conftest import TIMEOUT_S, make_message, unique_id, wait_for

# A multipart/mixed message as a mail client sends it: a quoted-printable
# text part, a base64 attachment (name, id, description, disposition) and a
# forwarded message/rfc822 that is itself multipart/alternative; its
# header has a group address and an encoded-word subject.
MULTIPART = (
    b'From: "Alice Example" <alice@remote.test>\r\n'
    b"Sender: secretary@remote.test\r\n"
    b"Reply-To: replies@remote.test\r\n"
    b"To: User One <user1@example.test>, user2@example.test\r\n"
    b"Cc: Team: carol@remote.test, dave@remote.test;, erin@remote.test\r\n"
    b"Subject: =?UTF-8?Q?caf=C3=A9?= report\r\n"
    b"Date: Tue, 03 Nov 2026 10:20:30 +0100\r\n"
    b"Message-ID: <multi-1@remote.test>\r\n"
    b"In-Reply-To: <earlier@remote.test>\r\n"
    b"X-Mailer: hand typed\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer-b"\r\n'
    b"\r\n"
    b"This is a multi-part message in MIME format.\r\n"
    b"--outer-b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hello =C3=A9,\r\n"
    b"the report is attached.\r\n"
    b"--outer-b\r\n"
    b'Content-Type: application/pdf; name="report.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="report.pdf"\r\n'
    b"Content-ID: <att1@remote.test>\r\n"
    b"Content-Description: The report\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
    b"eJwr5HIK4TI2UzA3NVIwMDEwUjBTMDAAMxQtDhQxQhBvZW5kc3RyZWFtCg==\r\n"
    b"--outer-b\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Bob <bob@remote.test>\r\n"
    b"To: alice@remote.test\r\n"
    b"Subject: inner\r\n"
    b"Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <inner-1@remote.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="inner-b"\r\n'
    b"\r\n"
    b"--inner-b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"plain inner\r\n"
    b"second line\r\n"
    b"--inner-b\r\n"
    b'Content-Type: text/html; charset="us-ascii"\r\n'
    b"Content-Language: en\r\n"
    b"\r\n"
    b"<p>html inner</p>\r\n"
    b"--inner-b--\r\n"
    b"--outer-b--\r\n"
    b"epilogue\r\n"
)

LOCAL_QUEUE = {"defer_transports": [], "retry": ["1s"], "lifetime": "1h"}


def imap_server(make_server, **extra):
    """A started server whose local mail is delivered to the mailboxes."""
    queue = dict(LOCAL_QUEUE)
    queue.update(extra.pop("queue", {}))
    return make_server(queue=queue, **extra)


def deliver(server, user: str, message: bytes | None = None, sender: str = "alice@remote.test",
            n: int = 1, wait: bool = True) -> list[bytes]:
    """Sends n messages to user over SMTP and waits until they are in the INBOX."""
    have = len(server.mailbox(user))
    sent = []
    for i in range(n):
        msg = message if message is not None else make_message(
            unique_id(f"imap{i}"), f"message {i} for {user}\r\n".encode(), sender=sender,
            to=f"{user}@example.test", subject=f"number {i}")
        server.send(msg, sender=sender, rcpts=[f"{user}@example.test"])
        sent.append(msg)
    if wait:
        wait_for(lambda: len(server.mailbox(user)) >= have + n, what=f"{n} message(s) in {user}'s INBOX")
    return sent


def imap(server, user: str | None = None, password: str | None = None) -> imaplib.IMAP4:
    """imaplib, logged in as user (password = user name) unless user is None."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=TIMEOUT_S)
    if user:
        typ, data = c.login(user, password if password is not None else user)
        assert typ == "OK", data
    return c


def ok(result) -> list:
    """imaplib's (typ, data): asserts OK, returns data."""
    typ, data = result
    assert typ == "OK", f"want OK, got {typ} {data!r}"
    return data


# ---------------------------------------------------------------------------
# a raw IMAP client

class Closed(Exception):
    pass


class Raw:
    """IMAP over a socket: commands sent as given, responses read with their literals."""

    def __init__(self, port: int, greeting: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.n = 0
        self.greeting = self.response() if greeting else None

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(f"connection closed; unparsed bytes: {self.buf[:300]!r}")
        self.buf += chunk

    def line(self) -> bytes:
        """One physical line, with its CRLF."""
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self) -> bytes:
        """One response: a line and, for each literal it announces, the literal and the line's rest.
        The bytes as received, the final CRLF included."""
        out = b""
        while True:
            ln = self.line()
            out += ln
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if not m:
                return out
            out += self.take(int(m.group(1)))

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def tag(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def until_tagged(self, tag: str) -> tuple[list[bytes], bytes]:
        """Untagged responses (and continuations) up to the tagged one."""
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag.encode() + b" "):
                return untagged, r
            untagged.append(r)

    def cmd(self, text: str | bytes, tag: str | None = None) -> tuple[list[bytes], bytes]:
        tag = tag or self.tag()
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def ok(self, text: str | bytes) -> list[bytes]:
        untagged, tagged = self.cmd(text)
        assert re.match(rb"\S+ OK\b", tagged), f"{text!r}: want OK, got {tagged!r} after {untagged!r}"
        return untagged

    def login(self, user: str, password: str | None = None) -> bytes:
        untagged, tagged = self.cmd(f"LOGIN {user} {password if password is not None else user}")
        assert b" OK " in tagged, tagged
        return tagged

    def closed(self) -> bool:
        """Reads until the server closes (True) or the timeout (False)."""
        try:
            while True:
                self._fill()
        except Closed:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw(server, user: str | None = None) -> Raw:
    r = Raw(server.imap_port)
    if user:
        r.login(user)
    return r


# ---------------------------------------------------------------------------
# response syntax

_ATOM_END = b" ()\r\n\"{"


def parse(data: bytes) -> list:
    """The items of a response (or of a part of one) as nested lists."""
    items, pos = _parse_items(data, 0, top=True)
    return items


def _parse_items(data: bytes, pos: int, top: bool):
    items = []
    while pos < len(data):
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"\r" and data[pos:pos + 2] == b"\r\n":
            pos += 2
        elif c == b"(":
            sub, pos = _parse_items(data, pos + 1, top=False)
            items.append(sub)
        elif c == b")":
            assert not top, f"unbalanced ')' at {pos}: {data[:200]!r}"
            return items, pos + 1
        elif c == b'"':
            out = bytearray()
            pos += 1
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                out += data[pos:pos + 1]
                pos += 1
                assert pos < len(data), f"unterminated quoted string: {data[:200]!r}"
            items.append(out.decode("utf-8"))
            pos += 1
        elif c == b"{":
            m = re.compile(rb"\{(\d+)\}\r\n").match(data, pos)
            assert m, f"bad literal at {pos}: {data[pos:pos + 40]!r}"
            n = int(m.group(1))
            items.append(bytes(data[m.end():m.end() + n]))
            pos = m.end() + n
        else:
            start = pos
            depth = 0
            while pos < len(data):
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n", b'"', b"{"):
                    break
                pos += 1
            atom = data[start:pos].decode("utf-8")
            items.append(None if atom == "NIL" else atom)
    assert top, f"unbalanced '(' in {data[:200]!r}"
    return items, pos


def text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def fetch_items(response: bytes) -> tuple[int, dict]:
    """`* n FETCH (k v k v ...)` -> (n, {key: value}), keys as sent."""
    p = parse(response)
    assert p[0] == "*" and p[2] == "FETCH", response[:200]
    lst = p[3]
    assert len(lst) % 2 == 0, lst
    return int(p[1]), {lst[i]: lst[i + 1] for i in range(0, len(lst), 2)}


def fetches(untagged: list[bytes]) -> dict[int, dict]:
    """The FETCH responses among untagged ones, by sequence number (merged)."""
    out: dict[int, dict] = {}
    for r in untagged:
        if re.match(rb"\* \d+ FETCH ", r):
            n, items = fetch_items(r)
            out.setdefault(n, {}).update(items)
    return out


def search_result(untagged: list[bytes]) -> list[int]:
    hits = [r for r in untagged if r.startswith(b"* SEARCH")]
    assert len(hits) == 1, untagged
    return [int(x) for x in hits[0][len(b"* SEARCH"):].split()]


def untagged_named(untagged: list[bytes], word: bytes) -> list[bytes]:
    """Untagged responses `* <word> ...` or `* n <word>`."""
    return [r for r in untagged if re.match(rb"\* (\d+ )?" + re.escape(word) + rb"\b", r)]


def imap_handoffs(server) -> list[dict]:
    """This run's `imap event=handoff` log lines (POP3 logs its own)."""
    from conftest import parse_kv
    return [parse_kv(ln) for ln in server.log_text().splitlines() if "imap event=handoff " in ln]


def append(r: Raw, mailbox: str, message: bytes, flags: str | None = None, date: str | None = None,
           sync: bool = False) -> tuple[list[bytes], bytes]:
    """APPEND over a Raw client, with a synchronizing ({n}: waits for "+") or a
    non-synchronizing ({n+}, LITERAL+) literal. Returns (untagged, tagged)."""
    t = r.tag()
    line = f"{t} APPEND {mailbox}"
    if flags is not None:
        line += f" ({flags})"
    if date is not None:
        line += f' "{date}"'
    if sync:
        r.send(f"{line} {{{len(message)}}}\r\n")
        cont = r.response()
        assert cont.startswith(b"+ "), f"want a continuation, got {cont!r}"
    else:
        r.send(f"{line} {{{len(message)}+}}\r\n")
    r.send(message + b"\r\n")
    return r.until_tagged(t)


def appenduid(tagged: bytes) -> tuple[int, int]:
    """[APPENDUID uidvalidity uid] of a tagged OK (RFC 4315)."""
    m = re.match(rb"\S+ OK \[APPENDUID (\d+) (\d+)\]", tagged)
    assert m, tagged
    return int(m.group(1)), int(m.group(2))


def mime_part(message: bytes, boundary: bytes, n: int) -> tuple[bytes, bytes]:
    """The n-th (from 1) part of a multipart body, split as RFC 2046 says:
    (its header with the blank line, its body without the CRLF that belongs
    to the next delimiter)."""
    delim = b"\r\n--" + boundary
    pieces = (b"\r\n" + message).split(delim)   # a delimiter at the very start has no CRLF before it
    part = pieces[n]
    assert part.startswith(b"\r\n"), part[:40]
    part = part[2:]
    head, sep, body = part.partition(b"\r\n\r\n")
    return head + sep, body
