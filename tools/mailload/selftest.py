#!/usr/bin/env python3
"""Checks posthorn-mailload's parsing and its checks against a scripted fake
IMAP and POP3 server (standard library only; no real mail server needed).

  tools/mailload/selftest.py [PATH/TO/posthorn-mailload]
      (default: build-bench/tools/posthorn-mailload)

The fake server's responses are built to trip a line-based parser: an
ENVELOPE holding a literal, a BODY[] literal whose bytes look like a tagged
completion and an untagged FETCH, a large literal, and POP3 messages with
dot-stuffed lines. Each case runs one mode for a fraction of a second and
expects exit status 0, or 1 where the server lies (a BODY[] literal shorter
than RFC822.SIZE, a missing envelope, a wrong SEARCH count, a RETR shorter
than LIST). Prints one line per case; exit 1 if any case fails.
"""
import os
import socket
import subprocess
import sys
import threading

BODIES = [
    b"Subject: x\r\n\r\na2 OK fake tagged line inside a literal\r\n* 3 FETCH (fake)\r\n{5}\r\n",
    b"Subject: y\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
    b"Subject: z\r\n\r\n" + b"x" * 70000 + b"\r\n",
]


def envelope(i):
    subject = b'{12}\r\nquo"ted subj' if i == 1 else b'"plain"'
    return (b'ENVELOPE ("Wed, 1 Jan 2025 00:00:00 +0000" ' + subject +
            b' (("N" NIL "a" "example.org")) NIL NIL NIL NIL NIL NIL "<id@x>")')


class Fake:
    """lie: None, or which response to falsify ("body", "envelope", "retr")."""

    def __init__(self, lie=None):
        self.lie = lie
        self.imap = self._listen(self._imap)
        self.pop3 = self._listen(self._pop3)

    def _listen(self, handler):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)

        def loop():
            while True:
                c, _ = s.accept()
                threading.Thread(target=handler, args=(c,), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return s.getsockname()[1]

    def _imap(self, c):
        f = c.makefile("rb")
        c.sendall(b"* OK fake IMAP ready\r\n")
        for raw in f:
            tag, _, rest = raw.decode().rstrip("\r\n").partition(" ")
            up = rest.upper()
            ok = f"{tag} OK done\r\n".encode()
            if up.startswith("LOGIN"):
                c.sendall(ok)
            elif up.startswith("SELECT"):
                c.sendall(b"* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] x\r\n" + ok)
            elif up == "FETCH 1:* (RFC822.SIZE)":
                c.sendall(b"".join(b"* %d FETCH (RFC822.SIZE %d)\r\n" % (i + 1, len(b))
                                   for i, b in enumerate(BODIES)) + ok)
            elif up.startswith("FETCH 1:*"):
                out = b""
                for i, b in enumerate(BODIES):
                    env = b"" if self.lie == "envelope" and i == 2 else b" " + envelope(i)
                    out += b"* %d FETCH (UID %d FLAGS () RFC822.SIZE %d%s)\r\n" % (i + 1, i + 1, len(b), env)
                c.sendall(out + ok)
            elif up.startswith("FETCH "):
                n = int(up.split()[1])
                b = BODIES[n - 1]
                if self.lie == "body" and n == 3:
                    b = b[:-10]
                c.sendall(b"* %d FETCH (FLAGS (\\Seen) BODY[] {%d}\r\n" % (n, len(b)) + b + b")\r\n" + ok)
            elif up.startswith("SEARCH"):
                c.sendall(b"* SEARCH 2 3\r\n" + ok)
            elif up == "IDLE":
                c.sendall(b"+ idling\r\n")
            elif up.startswith("LOGOUT"):
                c.sendall(b"* BYE bye\r\n" + ok)
                break
            else:
                c.sendall(f"{tag} BAD unknown\r\n".encode())
        c.close()

    def _pop3(self, c):
        f = c.makefile("rb")
        c.sendall(b"+OK fake POP3 ready\r\n")
        for raw in f:
            cmd = raw.decode().rstrip("\r\n").split()
            verb = cmd[0].upper() if cmd else ""
            if verb in ("USER", "PASS"):
                c.sendall(b"+OK\r\n")
            elif verb == "LIST":
                c.sendall(b"+OK 3 messages\r\n" + b"".join(b"%d %d\r\n" % (i + 1, len(b))
                                                          for i, b in enumerate(BODIES)) + b".\r\n")
            elif verb == "RETR":
                b = BODIES[int(cmd[1]) - 1]
                if self.lie == "retr" and cmd[1] == "2":
                    b = b[:-5]
                stuffed = b"".join(b"." + line if line.startswith(b".") else line
                                   for line in b.splitlines(keepends=True))
                c.sendall(b"+OK\r\n" + stuffed + b".\r\n")
            elif verb == "QUIT":
                c.sendall(b"+OK bye\r\n")
                break
            else:
                c.sendall(b"-ERR unknown\r\n")
        c.close()


def run(binary, fake, mode, expect_rc, extra=()):
    port = fake.pop3 if mode.startswith("pop3") else fake.imap
    args = [binary, "--mode", mode, "--port", str(port), "--clients", "2", "--seconds", "0.2",
            "--expect-msgs", "3", "--timeout-ms", "5000", *extra]
    if mode == "imap-idle":
        args += ["--hold", "1"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    ok = p.returncode == expect_rc
    line = (p.stdout.strip().splitlines() or [""])[-1]
    print(f"{'ok  ' if ok else 'FAIL'} {mode} lie={fake.lie} rc={p.returncode} (want {expect_rc}) {line}")
    if not ok:
        print(p.stderr, file=sys.stderr)
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "build-bench", "tools", "posthorn-mailload")
    honest, results = Fake(), []
    for mode in ("imap-select", "imap-fetch-envelope", "imap-fetch-body", "pop3-retr-all", "imap-idle"):
        results.append(run(binary, honest, mode, 0))
    results.append(run(binary, honest, "imap-search-from", 0, ("--expect-hits", "2")))
    results.append(run(binary, honest, "imap-search-from", 1, ("--expect-hits", "3")))
    results.append(run(binary, honest, "imap-select", 1, ("--expect-msgs", "4")))
    results.append(run(binary, Fake("body"), "imap-fetch-body", 1))
    results.append(run(binary, Fake("envelope"), "imap-fetch-envelope", 1))
    results.append(run(binary, Fake("retr"), "pop3-retr-all", 1))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
