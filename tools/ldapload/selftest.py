#!/usr/bin/env python3
"""Checks posthorn-ldapload against scripted fake LDAP servers (standard
library only): usage  tools/ldapload/selftest.py [BIN]
(BIN: build-bench/tools/posthorn-ldapload).

Each fake server decodes every request fully with its own BER reader (so the
load generator's encoder is checked too: message ID, base, scope, filter,
attribute list, bind), and answers in ways that trip a careless client:
responses to pipelined requests interleaved and in reverse order, every
message cut into pieces of 1-7 bytes, entries with long-form lengths, an
unsolicited zero-length write. The honest servers must pass (exit 0); the
lying ones (a wrong entry, two entries, none, resultCode 32, a dropped
connection, a refused bind) must fail (exit 1).
"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = "dc=example,dc=test"
MAILS = [f"user{i}@example.test" for i in range(50)]
SUB_HITS = 7


# ---- BER ----------------------------------------------------------------------

def read_tlv(b, i):
    """(tag, contents, next index) of the element at b[i:]."""
    tag, ln = b[i], b[i + 1]
    i += 2
    if ln & 0x80:
        n = ln & 0x7F
        assert 1 <= n <= 4, "bad length"
        ln = int.from_bytes(b[i:i + n], "big")
        i += n
    assert i + ln <= len(b), "truncated"
    return tag, b[i:i + ln], i + ln


def elements(b):
    i, out = 0, []
    while i < len(b):
        tag, v, i = read_tlv(b, i)
        out.append((tag, v))
    return out


def length(n, long_form=False):
    if n < 0x80 and not long_form:
        return bytes([n])
    raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag, v, long_form=False):
    return bytes([tag]) + length(len(v), long_form) + v


def integer(tag, n):
    raw = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return tlv(tag, raw)


def message(msgid, op, long_form=False):
    return tlv(0x30, integer(0x02, msgid) + op, long_form)


def result(tag, code, diag=b""):
    return tlv(tag, integer(0x0A, code) + tlv(0x04, b"") + tlv(0x04, diag))


def entry(dn, attrs, long_form):
    body = b"".join(tlv(0x30, tlv(0x04, a.encode()) + tlv(0x31, b"".join(tlv(0x04, v.encode()) for v in vs)))
                    for a, vs in attrs)
    return tlv(0x64, tlv(0x04, dn.encode()) + tlv(0x30, body, long_form), long_form)


# ---- the fake server ---------------------------------------------------------------

class fake:
    """behaviour: ok | wrong-entry | two-entries | no-entry | error-code | drop | bad-bind"""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.problems = []
        self.searches = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def send_cut(self, c, data, rng):
        i = 0
        while i < len(data):
            n = rng.randint(1, 7)
            c.sendall(data[i:i + n])
            i += n

    def answer_search(self, msgid, op, rng):
        f = elements(op)
        assert [t for t, _ in f] == [0x04, 0x0A, 0x0A, 0x02, 0x02, 0x01, f[6][0], 0x30], f"search fields {f}"
        assert f[0][1].decode() == BASE, "base"
        assert f[1][1] == b"\x02" and f[2][1] == b"\x00" and f[5][1] == b"\x00", "scope/deref/typesOnly"
        attrs = [v.decode() for _, v in elements(f[7][1])]
        assert attrs == ["cn", "mail", "uid"], f"attrs {attrs}"
        ftag, fv = f[6]
        parts = elements(fv)
        long_form = rng.random() < 0.5
        out = []
        if ftag == 0xA3:
            assert parts[0][1] == b"mail", "equality attr"
            addr = parts[1][1].decode()
            assert addr in MAILS, f"address {addr}"
            uid = addr.split("@")[0]
            if self.behaviour == "wrong-entry" and self.searches % 97 == 50:
                addr = MAILS[(MAILS.index(addr) + 1) % len(MAILS)]
            n = {"two-entries": 2, "no-entry": 0}.get(self.behaviour, 1) if self.searches % 97 == 50 else 1
            for _ in range(n):
                out.append(message(msgid, entry(f"uid={uid},ou=people,{BASE}",
                                                [("cn", [uid.title()]), ("mail", [addr]), ("uid", [uid])],
                                                long_form), long_form))
        elif ftag == 0xA4:
            assert parts[0][1] == b"cn", "substring attr"
            subs = elements(parts[1][1])
            assert subs == [(0x80, b"ab")], f"substrings {subs}"
            for k in range(SUB_HITS):
                out.append(message(msgid, entry(f"uid=ab{k},ou=people,{BASE}",
                                                [("cn", [f"Ab{k} X" + "y" * 200]), ("mail", [f"ab{k}@example.test"])],
                                                long_form), long_form))
        else:
            raise AssertionError(f"filter tag {ftag:#x}")
        code = 32 if self.behaviour == "error-code" and self.searches % 97 == 50 else 0
        out.append(message(msgid, result(0x65, code, b"noSuchObject" if code else b"")))
        self.searches += 1
        return out

    def serve(self, c):
        rng = random.Random(c.fileno())
        buf = b""
        pending = []  # per-request response lists, answered interleaved
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    try:
                        tag, v, i = read_tlv(buf, 0)
                    except (AssertionError, IndexError):
                        break
                    buf = buf[i:]
                    assert tag == 0x30, "LDAPMessage tag"
                    (_, mid), (optag, op) = elements(v)[:2]
                    msgid = int.from_bytes(mid, "big")
                    if optag == 0x42:
                        return
                    if optag == 0x60:
                        f = elements(op)
                        assert f[0][1] == b"\x03" and f[1][1] == b"uid=user1,ou=people," + BASE.encode(), "bind"
                        code = 49 if self.behaviour == "bad-bind" or f[2][1] != b"secret" else 0
                        c.sendall(message(msgid, result(0x61, code)))
                        continue
                    assert optag == 0x63, f"op {optag:#x}"
                    pending.append(self.answer_search(msgid, op, rng))
                    if self.behaviour == "drop" and self.searches == 100:
                        c.close()
                        return
                # Interleave: newest request first, one message from each in turn.
                while pending:
                    for p in reversed(pending):
                        if p:
                            self.send_cut(c, p.pop(0), rng)
                    pending = [p for p in pending if p]
        except AssertionError as e:
            self.problems.append(str(e))
            c.close()
        except OSError:
            pass


def run(binary, behaviour, mode, extra=()):
    srv = fake(behaviour)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(MAILS) + "\n")
        mails = f.name
    cmd = [binary, "--mode", mode, "--port", str(srv.port), "--conns", "4", "--depth", "5",
           "--seconds", "0.5", "--mails", mails, "--attrs", "cn,mail,uid", "--timeout-ms", "3000", *extra]
    if mode == "sub-cn":
        cmd += ["--expect-entries", str(SUB_HITS)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    os.unlink(mails)
    srv.sock.close()
    return p, srv


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build-bench/tools/posthorn-ldapload")
    cases = [
        ("ok", "eq-mail", (), 0),
        ("ok", "sub-cn", (), 0),
        ("ok", "eq-mail", ("--bind-dn", "uid=user1,ou=people," + BASE, "--bind-password", "secret"), 0),
        ("ok", "eq-mail", ("--threads", "2"), 0),
        ("wrong-entry", "eq-mail", (), 1),
        ("two-entries", "eq-mail", (), 1),
        ("no-entry", "eq-mail", (), 1),
        ("error-code", "sub-cn", (), 1),
        ("drop", "eq-mail", (), 1),
        ("bad-bind", "eq-mail", ("--bind-dn", "uid=user1,ou=people," + BASE, "--bind-password", "secret"), 1),
    ]
    failed = 0
    for behaviour, mode, extra, want in cases:
        p, srv = run(binary, behaviour, mode, extra)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        ok = p.returncode == want and not srv.problems
        if want == 0:
            ok = ok and "errors=0" in line and " searches=0 " not in line
        status = "ok" if ok else "FAILED"
        print(f"{status}: {behaviour} {mode} {' '.join(extra)} -> exit {p.returncode} (want {want}) {line}")
        if not ok:
            failed += 1
            print("  stderr: " + p.stderr.strip().replace("\n", "\n  stderr: ")[:2000])
            for prob in srv.problems[:5]:
                print(f"  server saw a bad request: {prob}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
