"""IMAP with a second, independent client from Debian itself: isync's
mbsync (package `isync`, installed by tools/bootstrap.sh), so a freshly
bootstrapped Debian always runs it, npm or not.

Each test writes its own mbsyncrc (IMAPAccount on 127.0.0.1:imap_port,
LOGIN without TLS; a MaildirStore in the test's tmp dir; one Channel with
Patterns *, Create Both, Expunge Both, SyncState *) and runs `mbsync -a`:

  - mail delivered over SMTP (two users; a multipart with an attachment,
    plain ones and a ~1 MB one) lands in the Maildir with the bytes
    `posthorn mailbox cat` shows (mbsync stores LF line ends and adds
    one `X-TUID:` line as the last header field: compared after CRLF -> LF
    and without that line, which must be there once), and a second run
    with nothing changed changes nothing on either side;
  - messages put into the Maildir are APPENDed (CRLF, plus X-TUID), into
    INBOX and into a folder mbsync CREATEs (Archive/2026, "/" over IMAP;
    SubFolders Verbatim on the Maildir side), getting the server's UIDs;
  - flags both ways (Maildir :2,FS -> \\Seen \\Flagged; imaplib's
    \\Answered -> R in the file name);
  - deletes both ways (T in the Maildir + Expunge Both -> gone on the
    server; imaplib EXPUNGE -> file gone).

mbsync speaks IMAP with its own parser (literals, UIDPLUS, LIST, flags),
so a reply it reads differently from imaplib and imapflow shows up here.
A failure prints mbsync's -V output. Both io backends.
"""

from __future__ import annotations

import imaplib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from imap_helpers import MULTIPART, deliver, imap, imap_server, ok

MBSYNC_TIMEOUT_S = 120
PLAIN = (b"From: Bob <bob@remote.test>\r\nTo: user1@example.test\r\nSubject: plain\r\n"
         b"Message-ID: <plain-1@remote.test>\r\n\r\nplain text body\r\n.dot line\r\n")


def big_message() -> bytes:
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"   # 74 bytes
    head = (b"From: Big <big@remote.test>\r\nTo: user1@example.test\r\nSubject: one megabyte\r\n"
            b"Message-ID: <big-1@remote.test>\r\n\r\n")
    return head + line * (1024 * 1024 // len(line))


def local_message(subject: str) -> bytes:
    """A message as a mail program writes it into a Maildir (LF line ends)."""
    return (f"From: Local <local@example.test>\nTo: user1@example.test\nSubject: {subject}\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\nMessage-ID: <{subject.replace(' ', '-')}@example.test>\n"
            f"\n{subject} body\nsecond line\n").encode()


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


TUID_RE = re.compile(rb"X-TUID: [A-Za-z0-9+/]{12}\r?\n")


def without_tuid(message: bytes) -> bytes:
    """The message without the one `X-TUID:` line mbsync adds as the last
    header field of a message it copies (its key for finding the copy after
    an interrupted run); asserted to be there exactly once, at the end of
    the header."""
    head, sep, body = message.partition(b"\n\n") if b"\r\n\r\n" not in message else \
        message.partition(b"\r\n\r\n")
    nl = b"\r\n" if sep == b"\r\n\r\n" else b"\n"
    lines = (head + nl).split(nl)[:-1]
    tuids = [ln for ln in lines if ln.startswith(b"X-TUID:")]
    assert len(tuids) == 1 and lines[-1] == tuids[0] and TUID_RE.fullmatch(tuids[0] + nl), lines[-3:]
    return nl.join(lines[:-1]) + sep + body


class Mbsync:
    """One user's mbsync setup: the rc file and the Maildir tree."""

    def __init__(self, server, tmp: Path, user: str):
        if not shutil.which("mbsync"):
            pytest.fail("mbsync is not installed: run `sh tools/bootstrap.sh test` (Debian package isync)",
                        pytrace=False)
        self.server, self.user = server, user
        self.root = tmp / f"mail-{user}"
        self.inbox = self.root / "INBOX"
        self.folders = self.root / "folders"
        self.folders.mkdir(parents=True)
        self.rc = tmp / f"mbsyncrc-{user}"
        self.rc.write_text(
            f"IMAPAccount acct\n"
            f"Host 127.0.0.1\n"
            f"Port {server.imap_port}\n"
            f"User {user}\n"
            f"Pass {user}\n"
            f"SSLType None\n"
            f"AuthMechs LOGIN\n"
            f"Timeout 30\n"
            f"\n"
            f"IMAPStore remote\n"
            f"Account acct\n"
            f"\n"
            f"MaildirStore local\n"
            f"Path {self.folders}/\n"
            f"Inbox {self.inbox}\n"
            f"SubFolders Verbatim\n"
            f"\n"
            f"Channel ch\n"
            f"Far :remote:\n"
            f"Near :local:\n"
            f"Patterns *\n"
            f"Create Both\n"
            f"Expunge Both\n"
            f"SyncState *\n")
        self.runs: list[str] = []

    def sync(self) -> subprocess.CompletedProcess:
        p = subprocess.run(["mbsync", "-V", "-c", str(self.rc), "-a"], capture_output=True,
                           timeout=MBSYNC_TIMEOUT_S, cwd=self.root)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.runs.append(out)
        assert p.returncode == 0, f"mbsync exited {p.returncode}\n{out[-4000:]}"
        # No complaint about a reply (mbsync warns of ones it finds odd and
        # goes on); the one warning expected is LOGIN without TLS.
        odd = [ln for ln in out.splitlines() if re.search(r"(?i)error|warning|unexpected|bogus|malformed", ln)
               and "Password is being sent in the clear" not in ln]
        assert not odd, f"mbsync complained:\n" + "\n".join(odd) + f"\n{out[-4000:]}"
        return p

    def dir(self, folder: str) -> Path:
        return self.inbox if folder == "INBOX" else self.folders / folder

    def files(self, folder: str = "INBOX") -> list[Path]:
        """The folder's messages (new/ and cur/), in the order of the UID mbsync gave them."""
        d = self.dir(folder)
        out = [f for sub in ("new", "cur") if (d / sub).is_dir() for f in (d / sub).iterdir()]
        return sorted(out, key=lambda f: int(f.name.split(",U=")[1].split(":")[0].split(",")[0]))

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        return [f.read_bytes() for f in self.files(folder)]

    def listing(self) -> list[str]:
        """Every file under the Maildir (names relative to it), mbsync's state files included."""
        return sorted(str(f.relative_to(self.root)) for f in self.root.rglob("*") if f.is_file())

    def put(self, folder: str, name: str, message: bytes) -> Path:
        """A new message in the folder as a mail program drops it (tmp/, then new/)."""
        d = self.dir(folder)
        for sub in ("tmp", "new", "cur"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        tmp = d / "tmp" / name
        tmp.write_bytes(message)
        return tmp.rename(d / "new" / name)


def assert_same(local: list[bytes], want: list[bytes], why: str = "") -> None:
    """Lists of messages equal, or the first difference shown with its offset."""
    assert len(local) == len(want), (len(local), len(want), why)
    for i, (a, b) in enumerate(zip(local, want)):
        if a != b:
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            pytest.fail(f"message {i}: {len(a)} bytes, want {len(b)}; first difference at {at}: "
                        f"{a[max(0, at - 80):at + 80]!r} vs {b[max(0, at - 80):at + 80]!r}\n{why}")


def flags_of(f: Path) -> str:
    return f.name.rsplit(":2,", 1)[1] if ":2," in f.name else ""


def set_flags(f: Path, flags: str) -> Path:
    """Moves a message to cur/ with these Maildir flags (as a mail program marks it)."""
    base = f.name.rsplit(":2,", 1)[0]
    return f.rename(f.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}")


def server_flags(server, user: str, folder: str = "INBOX") -> dict[int, set]:
    return {m["uid"]: set(m["flags"]) - {"\\Recent"} for m in server.mailbox(user, folder)}


def test_mbsync_fetches_byte_identical_and_a_second_run_changes_nothing(make_server, tmp_path):
    server = imap_server(make_server)
    big = big_message()
    deliver(server, "user1", MULTIPART)
    deliver(server, "user1", PLAIN, sender="bob@remote.test")
    deliver(server, "user1", big, sender="big@remote.test")
    deliver(server, "user2", n=2)
    for user, count in (("user1", 3), ("user2", 2)):
        m = Mbsync(server, tmp_path, user)
        m.sync()
        stored = [server.mailbox_cat(user, e["uid"]) for e in server.mailbox(user)]
        assert len(stored) == count
        local = m.messages()
        assert_same([without_tuid(x) for x in local], [lf(s) for s in stored], m.runs[-1][-3000:])
        if user == "user1":
            assert stored[0].endswith(MULTIPART) and stored[1].endswith(PLAIN) and stored[2].endswith(big)
            assert len(local[2]) > 1_000_000
        # Fetching marks nothing: mbsync uses BODY.PEEK, no \Seen on either side.
        assert all(flags_of(f) == "" for f in m.files()), [f.name for f in m.files()]
        assert server_flags(server, user) == {e["uid"]: set() for e in server.mailbox(user)}

        # Nothing changed: a second run leaves both sides exactly as they were.
        before = (m.listing(), server.mailbox(user), server.mailbox_messages(user))
        m.sync()
        after = (m.listing(), server.mailbox(user), server.mailbox_messages(user))
        assert after == before, m.runs[-1][-3000:]


def test_mbsync_appends_local_messages_and_creates_folders(make_server, tmp_path):
    server = imap_server(make_server)
    deliver(server, "user1", PLAIN, sender="bob@remote.test")
    m = Mbsync(server, tmp_path, "user1")
    m.sync()
    inbox_msg, archive_msg = local_message("written locally"), local_message("archived locally")
    m.put("INBOX", "1795000000.1_1.client", inbox_msg)
    m.put("Archive/2026", "1795000000.1_2.client", archive_msg)
    m.sync()

    # APPENDed with CRLF line ends (and mbsync's X-TUID), nothing else changed.
    inbox = server.mailbox_messages("user1")
    assert len(inbox) == 2 and inbox[0].endswith(PLAIN)
    assert_same([without_tuid(inbox[1])], [inbox_msg.replace(b"\n", b"\r\n")], m.runs[-1][-3000:])
    archive = server.mailbox_messages("user1", "Archive/2026")
    assert_same([without_tuid(x) for x in archive], [archive_msg.replace(b"\n", b"\r\n")], m.runs[-1][-3000:])
    assert [set(e["flags"]) - {"\\Recent"} for e in server.mailbox("user1", "Archive/2026")] == [set()]

    # The folder mbsync created, and its parent, as imaplib lists them.
    c = imap(server, "user1")
    listed = ok(c.list('""', "*"))
    c.logout()
    names = {}
    for line in listed:
        lm = re.fullmatch(rb'\(([^)]*)\) "(.)" (.+)', line)
        assert lm, line
        names[lm.group(3).strip(b'"').decode()] = (lm.group(1).decode(), lm.group(2).decode())
    assert set(names) >= {"INBOX", "Archive", "Archive/2026"}, names
    assert all(d == "/" for _, d in names.values()), names
    assert "\\HasChildren" in names["Archive"][0] and "\\HasNoChildren" in names["Archive/2026"][0], names

    assert "\\Noselect" not in names["Archive"][0], names   # CREATE Archive/2026 made Archive a mailbox too
    assert server.mailbox("user1", "Archive") == []

    # The local copies got the server's UIDs (APPENDUID) in their names.
    assert [f.name.split(",U=")[1] for f in m.files("Archive/2026")] == ["1"]
    assert [f.name.split(",U=")[1].split(":")[0] for f in m.files()] == ["1", "2"]
    # The next run finds the new (empty) parent Archive and creates it
    # locally, nothing else; the one after has nothing to do.
    before = m.listing()
    m.sync()
    assert sorted(set(m.listing()) - set(before)) == ["folders/Archive/.mbsyncstate",
                                                      "folders/Archive/.uidvalidity"], m.runs[-1][-3000:]
    assert set(before) - set(m.listing()) == set()
    before = (m.listing(), server.mailbox("user1"), server.mailbox("user1", "Archive/2026"),
              server.mailbox("user1", "Archive"))
    m.sync()
    assert (m.listing(), server.mailbox("user1"), server.mailbox("user1", "Archive/2026"),
            server.mailbox("user1", "Archive")) == before, m.runs[-1][-3000:]


def test_mbsync_syncs_flags_both_ways(make_server, tmp_path):
    server = imap_server(make_server)
    deliver(server, "user1", n=3)
    m = Mbsync(server, tmp_path, "user1")
    m.sync()
    first, second, third = m.files()

    # Marked seen and flagged in the Maildir -> \Seen \Flagged on the server.
    set_flags(first, "FS")
    m.sync()
    assert server_flags(server, "user1") == {1: {"\\Seen", "\\Flagged"}, 2: set(), 3: set()}

    # \Answered set over IMAP (and \Seen removed from 1) -> the file names follow.
    c = imap(server, "user1")
    ok(c.select("INBOX"))
    ok(c.uid("STORE", "2", "+FLAGS", "(\\Answered)"))
    ok(c.uid("STORE", "1", "-FLAGS", "(\\Seen)"))
    c.logout()
    m.sync()
    assert [flags_of(f) for f in m.files()] == ["F", "R", ""], [f.name for f in m.files()]
    assert server_flags(server, "user1") == {1: {"\\Flagged"}, 2: {"\\Answered"}, 3: set()}


def test_mbsync_deletes_both_ways(make_server, tmp_path):
    server = imap_server(make_server)
    deliver(server, "user1", n=3)
    m = Mbsync(server, tmp_path, "user1")
    m.sync()
    first, second, third = m.files()
    keep = third.read_bytes()

    # Trashed in the Maildir + Expunge Both -> expunged on the server (and locally).
    set_flags(first, "T")
    m.sync()
    assert [e["uid"] for e in server.mailbox("user1")] == [2, 3]
    assert len(m.files()) == 2

    # Expunged over IMAP -> the file goes at the next run.
    c = imap(server, "user1")
    ok(c.select("INBOX"))
    ok(c.uid("STORE", "2", "+FLAGS", "(\\Deleted)"))
    ok(c.expunge())
    c.logout()
    m.sync()
    assert [e["uid"] for e in server.mailbox("user1")] == [3]
    assert m.messages() == [keep]
