"""IMAP4rev1 sessions (RFC 3501 with IDLE, ID, ENABLE, NAMESPACE, SASL-IR):
the seed's Lab 4 typed by hand, the commands of any state, logins, the
handoff to the owner shard (with commands pipelined behind LOGIN), IDLE
woken by SMTP, two sessions on one mailbox, every user's sessions in
parallel with deliveries, restart persistence (kill -9 right after the
OKs), the autologout timer, bad input, and POP3 next to IMAP.

Mail goes in over SMTP (local delivery) and comes out with Python's
imaplib and with raw sockets where the exact bytes matter. Two shards, so
a login is handed to the shard owning the mailbox (`imap event=handoff`).
Both io backends. Mailbox and message commands: test_imap_mailboxes.py,
test_imap_fetch.py; a second, independent client: test_imap_imapflow.py.
"""

from __future__ import annotations

import base64
import poplib
import re
import threading

import pytest

from conftest import TIMEOUT_S, make_message, unique_id, wait_for
from imap_helpers import (Closed, Raw, append, appenduid, deliver, fetch_items, fetches, imap, imap_handoffs,
                          imap_server, ok, raw, untagged_named)

CAPS_ANY = {"IMAP4REV1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE",
            "SPECIAL-USE", "CHILDREN", "UNSELECT"}


@pytest.fixture
def server(make_server):
    return imap_server(make_server)


def lab2_send(server, sender_n: int, rcpt_n: int, subject: str, text: str) -> None:
    """Lab 2 as typed in telnet: HELO, `MAIL FROM:USER<N>`, `RCPT TO:USER<N>`, DATA."""
    with server.client() as c:
        c.expect("HELO example.test", 250)
        c.expect(f"MAIL FROM:USER{sender_n}", 250)
        c.expect(f"RCPT TO:USER{rcpt_n}", 250)
        c.expect("DATA", 354)
        c.send(f"Subject: {subject}\r\n\r\n{text}\r\n.\r\n")
        assert c.read_reply().code == 250
        c.expect("QUIT", 221)


def test_lab4_typed_by_hand_finds_the_message_of_a_user_by_name_and_shows_its_text(make_server):
    server = imap_server(make_server, users=[
        {"name": f"user{n}", "password": f"{{DEMO}}user{n}", "display_name": f"User {n}",
         "addresses": [f"user{n}@example.test"]} for n in (1, 2, 3)])
    # "preferably with several letters there": one from USER2, one from USER3.
    lab2_send(server, 2, 1, "Lab 2 from two", "Hello from user two.")
    wait_for(lambda: len(server.mailbox("user1")) == 1, what="the first lab message")
    lab2_send(server, 3, 1, "Lab 2 from three", "Hello from user three.")
    wait_for(lambda: len(server.mailbox("user1")) == 2, what="the second lab message")

    r = Raw(server.imap_port)
    assert r.greeting.startswith(b"* OK ")
    r.send(b"A01 LOGIN USER1 USER1\r\n")
    untagged, tagged = r.until_tagged("A01")
    assert untagged == [] and tagged.startswith(b"A01 OK ")
    r.send(b'A02 LIST "" *\r\n')
    untagged, tagged = r.until_tagged("A02")
    assert untagged == [b'* LIST (\\HasNoChildren) "/" INBOX\r\n'] and tagged.startswith(b"A02 OK ")
    r.send(b"A03 SELECT INBOX\r\n")
    untagged, tagged = r.until_tagged("A03")
    assert b"* 2 EXISTS\r\n" in untagged and b"* 2 RECENT\r\n" in untagged
    assert tagged.startswith(b"A03 OK [READ-WRITE]")
    r.send(b'A04 SEARCH FROM "USER2"\r\n')
    untagged, tagged = r.until_tagged("A04")
    assert untagged == [b"* SEARCH 1\r\n"] and tagged.startswith(b"A04 OK ")
    r.send(b'A04 SEARCH FROM "user3"\r\n')
    untagged, tagged = r.until_tagged("A04")
    assert untagged == [b"* SEARCH 2\r\n"]
    r.send(b"A05 FETCH 1 BODY[TEXT]\r\n")
    untagged, tagged = r.until_tagged("A05")
    assert tagged.startswith(b"A05 OK ")
    assert len(untagged) == 1
    assert untagged[0].startswith(b"* 1 FETCH (BODY[TEXT] {22}\r\nHello from user two.\r\n")
    n, items = fetch_items(untagged[0])
    assert items["BODY[TEXT]"] == b"Hello from user two.\r\n"
    assert "\\Seen" in items["FLAGS"]          # BODY[TEXT] (not PEEK) sets \Seen
    r.send(b"A06 LOGOUT\r\n")
    untagged, tagged = r.until_tagged("A06")
    assert [u[:6] for u in untagged] == [b"* BYE "] and tagged.startswith(b"A06 OK ")
    assert r.closed()
    assert server.mailbox("user1")[0]["flags"] == ["\\Seen"]


def test_lab4_fetch_body_text_shows_a_lab2_message_typed_without_any_header(server):
    with server.client() as c:
        c.expect("HELO example.test", 250)
        c.expect("MAIL FROM:USER3", 250)
        c.expect("RCPT TO:USER2", 250)
        c.expect("DATA", 354)
        c.send("Hello from the lab, no header.\r\n.\r\n")
        assert c.read_reply().code == 250
    wait_for(lambda: len(server.mailbox("user2")) == 1, what="the lab message")
    r = Raw(server.imap_port)
    r.send(b"A01 LOGIN user2 user2\r\n")
    assert r.until_tagged("A01")[1].startswith(b"A01 OK ")
    r.send(b"A03 SELECT INBOX\r\n")
    assert b"* 1 EXISTS\r\n" in r.until_tagged("A03")[0]
    r.send(b'A04 SEARCH FROM "USER3"\r\n')
    assert r.until_tagged("A04")[0] == [b"* SEARCH 1\r\n"]
    r.send(b"A05 FETCH 1 BODY[TEXT]\r\n")
    untagged, tagged = r.until_tagged("A05")
    assert fetch_items(untagged[0])[1]["BODY[TEXT]"] == b"Hello from the lab, no header.\r\n"
    r.close()


def test_capability_noop_id_enable_namespace_and_logout_in_any_state(server):
    r = Raw(server.imap_port)
    m = re.match(rb"\* OK \[CAPABILITY ([^\]]*)\] ", r.greeting)
    assert m, r.greeting
    greeting_caps = set(m.group(1).decode().upper().split())
    assert greeting_caps >= CAPS_ANY | {"AUTH=PLAIN"}
    untagged = r.ok("CAPABILITY")
    assert len(untagged) == 1 and untagged[0].startswith(b"* CAPABILITY ")
    assert set(untagged[0][13:].decode().upper().split()) == greeting_caps
    assert r.ok("NOOP") == []
    assert r.ok('ID ("name" "pytest" "version" "1")') == [b'* ID ("name" "posthorn" "version" "0.1.0")\r\n']
    assert r.ok("ID NIL")[0].startswith(b"* ID (")
    # Before login: NAMESPACE and ENABLE are for logged-in sessions.
    assert re.match(rb"t\d+ BAD ", r.cmd("NAMESPACE")[1])
    _, tagged = r.cmd("LOGIN user1 user1")
    m = re.match(rb"t\d+ OK \[CAPABILITY ([^\]]*)\]", tagged)
    assert m, tagged
    after = set(m.group(1).decode().upper().split())
    assert after >= CAPS_ANY and "AUTH=PLAIN" not in after
    assert set(r.ok("CAPABILITY")[0][13:].decode().upper().split()) == after
    assert r.ok("NAMESPACE") == [b'* NAMESPACE (("" "/")) NIL NIL\r\n']
    assert r.ok("ENABLE CONDSTORE") == [b"* ENABLED\r\n"]   # nothing it does not do is enabled
    assert r.ok("NOOP") == []
    r.ok("SELECT INBOX")
    assert r.ok("NOOP") == []
    assert r.ok("CAPABILITY")[0].startswith(b"* CAPABILITY ")
    untagged, tagged = r.cmd("LOGOUT")
    assert untagged == [b"* BYE posthorn IMAP4rev1 signing off\r\n"] and re.match(rb"t\d+ OK ", tagged)
    assert r.closed()
    # LOGOUT before any login is fine too.
    r = Raw(server.imap_port)
    untagged, tagged = r.cmd("logout")
    assert untagged[0].startswith(b"* BYE ") and b" OK " in tagged
    assert r.closed()


def test_login_and_authenticate_plain_in_every_form(server):
    deliver(server, "user1")
    c = imap(server)
    assert "AUTH=PLAIN" in c.capabilities
    typ, data = c.login("user1", "user1")
    assert typ == "OK"
    assert ok(c.select("INBOX")) == [b"1"]
    c.logout()
    # AUTHENTICATE PLAIN with the response on a continuation line.
    c = imap(server)
    typ, data = c.authenticate("PLAIN", lambda _: b"\0user1\0user1")
    assert typ == "OK", data
    assert ok(c.select("INBOX")) == [b"1"]
    c.logout()
    # SASL-IR (RFC 4959), and an authzid naming the same user.
    r = raw(server)
    token = base64.b64encode(b"user1\0user1\0user1").decode()
    _, tagged = r.cmd(f"AUTHENTICATE PLAIN {token}")
    assert re.match(rb"t\d+ OK ", tagged), tagged
    assert b"* 1 EXISTS\r\n" in r.ok("EXAMINE INBOX")
    r.close()
    # An address logs in as its user.
    c = imap(server, "user1@example.test", "user1")
    assert ok(c.select("INBOX")) == [b"1"]
    c.logout()


def test_a_password_with_spaces_quotes_and_backslashes_logs_in_quoted_as_a_literal_and_by_sasl(make_server):
    password = 'p@ss "wo rd" \\ {1}'
    server = imap_server(make_server, users=[
        {"name": "carol", "password": "{PLAIN}" + password, "display_name": "Carol",
         "addresses": ["carol@example.test"]}])
    c = imap(server, "carol", password)                 # imaplib sends it quoted, with escapes
    ok(c.select("INBOX"))
    c.logout()
    r = raw(server)
    pw = password.encode()
    t = r.tag()
    r.send(f"{t} LOGIN carol {{{len(pw)}}}\r\n".encode())
    assert r.response().startswith(b"+ ")
    r.send(pw + b"\r\n")
    assert re.match(rb"t\d+ OK ", r.until_tagged(t)[1])
    r.close()
    token = base64.b64encode(b"\0carol\0" + pw).decode()
    r = raw(server)
    assert re.match(rb"t\d+ OK ", r.cmd(f"AUTHENTICATE PLAIN {token}")[1])
    r.close()
    assert password not in server.log_text()


def test_failed_logins_are_no_with_one_answer_and_the_session_may_try_again(server):
    answers = []
    r = raw(server)
    for user, password in (("user1", "wrong-pw"), ("nobody", "user1")):
        _, tagged = r.cmd(f"LOGIN {user} {password}")
        answers.append(tagged.split(b" ", 1)[1])
    token = base64.b64encode(b"\0user1\0bad-pass").decode()
    _, tagged = r.cmd(f"AUTHENTICATE PLAIN {token}")
    answers.append(tagged.split(b" ", 1)[1])
    assert set(answers) == {b"NO [AUTHENTICATIONFAILED] Authentication failed\r\n"}
    # Acting as another user is refused; a cancelled exchange is BAD; an
    # unknown mechanism is NO.
    token = base64.b64encode(b"user2\0user1\0user1").decode()
    assert re.match(rb"t\d+ NO \[AUTHORIZATIONFAILED\]", r.cmd(f"AUTHENTICATE PLAIN {token}")[1])
    t = r.tag()
    r.send(f"{t} AUTHENTICATE PLAIN\r\n")
    assert r.response() == b"+ \r\n"
    r.send(b"*\r\n")
    assert re.match(rb"t\d+ BAD ", r.until_tagged(t)[1])
    assert re.match(rb"t\d+ NO ", r.cmd("AUTHENTICATE CRAM-MD5")[1])
    # The same connection still logs in.
    r.login("user1")
    assert re.match(rb"t\d+ BAD ", r.cmd("LOGIN user1 user1")[1])   # not twice
    r.close()
    log = server.log_text()
    assert "wrong-pw" not in log and "bad-pass" not in log


def test_logins_of_every_user_are_handed_to_the_owner_shard_with_the_commands_pipelined_after_them(server):
    subjects = {}
    for u in ("user1", "user2", "user3", "user4", "user5"):
        subjects[u] = f"for {u} only"
        deliver(server, u, make_message(unique_id(u), b"hi\r\n", to=f"{u}@example.test", subject=subjects[u]))
    # Three logins per user, LOGIN and what follows it in one write: the
    # bytes after the login travel with the session to its shard.
    for _ in range(3):
        for u, subject in subjects.items():
            r = Raw(server.imap_port)
            r.send(f"a LOGIN {u} {u}\r\nb SELECT INBOX\r\nc FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
                   f"d LOGOUT\r\n".encode())
            assert r.until_tagged("a")[1].startswith(b"a OK ")
            untagged, tagged = r.until_tagged("b")
            assert b"* 1 EXISTS\r\n" in untagged and tagged.startswith(b"b OK ")
            untagged, tagged = r.until_tagged("c")
            assert tagged.startswith(b"c OK ")
            _, items = fetch_items(untagged[0])
            assert items["BODY[HEADER.FIELDS (SUBJECT)]"] == f"Subject: {subject}\r\n\r\n".encode()
            assert r.until_tagged("d")[1].startswith(b"d OK ")
            assert r.closed()
    handoffs = imap_handoffs(server)
    assert handoffs, "with two shards some IMAP logins move to the owner shard"
    # A user's sessions always go to one shard, its owner.
    owner = {}
    for h in handoffs:
        assert owner.setdefault(h["user"], h["to_shard"]) == h["to_shard"], handoffs
    assert set(owner.values()) <= {"0", "1"}


def test_an_append_with_literal_plus_and_an_idle_pipelined_after_login_follow_the_session_to_its_shard(server):
    for u in ("user1", "user2", "user3", "user4", "user5") * 2:
        r = Raw(server.imap_port)
        r.send(f"a LOGIN {u} {u}\r\nb APPEND INBOX {{7+}}\r\nhello\r\n\r\nc SELECT INBOX\r\nd IDLE\r\n".encode())
        assert r.until_tagged("a")[1].startswith(b"a OK ")
        _, tagged = r.until_tagged("b")
        assert re.match(rb"b OK \[APPENDUID \d+ \d+\] ", tagged), tagged
        have = len(server.mailbox(u))
        assert f"* {have} EXISTS\r\n".encode() in r.until_tagged("c")[0]
        assert r.response().startswith(b"+ ")
        deliver(server, u, wait=False)
        assert r.response() == f"* {have + 1} EXISTS\r\n".encode()
        r.send(b"DONE\r\nz LOGOUT\r\n")
        assert r.until_tagged("d")[1].startswith(b"d OK ")
        assert r.until_tagged("z")[1].startswith(b"z OK ")
        r.close()
    assert imap_handoffs(server)
    for u in ("user1", "user2", "user3", "user4", "user5"):
        assert server.mailbox_messages(u).count(b"hello\r\n") == 2


def test_idle_is_woken_by_a_delivery_over_smtp_and_by_another_sessions_flags(server):
    deliver(server, "user2")
    r = raw(server, "user2")
    assert b"* 1 EXISTS\r\n" in r.ok("SELECT INBOX")
    r.send(b"i1 IDLE\r\n")
    assert r.response().startswith(b"+ ")
    # New mail while idling: EXISTS (and RECENT) arrive without a command.
    deliver(server, "user2", wait=False)
    assert r.response() == b"* 2 EXISTS\r\n"
    assert r.response() == b"* 2 RECENT\r\n"
    # Another session (whichever shard it came in on) sets a flag.
    other = imap(server, "user2")
    ok(other.select("INBOX"))
    ok(other.store("1", "+FLAGS", "(\\Flagged)"))
    got = r.response()
    n, items = fetch_items(got)
    assert n == 1 and "\\Flagged" in items["FLAGS"] and items["UID"] == "1"
    # ... and expunges one: an EXPUNGE arrives during IDLE.
    ok(other.store("2", "+FLAGS", "(\\Deleted)"))
    assert fetch_items(r.response())[0] == 2
    ok(other.expunge())
    assert r.response() == b"* 2 EXPUNGE\r\n"
    # ... and its CLOSE expunges silently for itself, not for the idler.
    deliver(server, "user2", n=2)
    while r.response() != b"* 3 EXISTS\r\n":     # one report or two, as the deliveries fell
        pass
    assert r.response() == b"* 3 RECENT\r\n"
    ok(other.noop())
    ok(other.store("2:3", "+FLAGS.SILENT", "(\\Deleted)"))
    flagged = {fetch_items(r.response())[0] for _ in range(2)}
    assert flagged == {2, 3}
    ok(other.close())
    assert [r.response(), r.response()] == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
    other.logout()
    r.send(b"DONE\r\n")
    assert r.until_tagged("i1")[1].startswith(b"i1 OK ")
    # IDLE ends only with DONE.
    r.send(b"i2 IDLE\r\n")
    assert r.response().startswith(b"+ ")
    r.send(b"NOOP\r\n")
    assert r.until_tagged("i2")[1].startswith(b"i2 BAD ")
    assert b"* 1 EXISTS\r\n" in r.ok("SELECT INBOX")
    r.close()


def test_two_sessions_on_one_mailbox_see_each_others_flags_and_expunges(server):
    deliver(server, "user3", n=3)
    a = raw(server, "user3")
    b = raw(server, "user3")
    a.ok("SELECT INBOX")     # a read-write SELECT first: a's session holds \Recent
    b.ok("SELECT INBOX")
    assert fetches(a.ok("STORE 2 +FLAGS (\\Answered)")) == {2: {"FLAGS": ["\\Answered", "\\Recent"]}}
    # b learns of it at its next command.
    assert fetches(b.ok("NOOP")) == {2: {"UID": "2", "FLAGS": ["\\Answered"]}}
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    untagged = b.ok("EXPUNGE")
    assert untagged_named(untagged, b"EXPUNGE") == [b"* 1 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
    # a: no EXPUNGE during FETCH, STORE or SEARCH (RFC 3501 §7.4.1), at NOOP.
    # (A FETCH naming the expunged ones is NO, RFC 2180 §4.1.2; the rest is answered.)
    untagged, tagged = a.cmd("FETCH 1:3 (FLAGS)")
    assert re.match(rb"t\d+ NO ", tagged)
    assert untagged == [b"* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n"]
    assert fetches(a.ok("FETCH 2 (FLAGS)")) == {2: {"FLAGS": ["\\Answered", "\\Recent"]}}
    assert untagged_named(a.ok("SEARCH ALL"), b"EXPUNGE") == []
    untagged = a.ok("NOOP")
    assert untagged_named(untagged, b"EXPUNGE") == [b"* 1 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
    assert fetches(a.ok("FETCH 1:* (UID FLAGS)")) == {1: {"UID": "2", "FLAGS": ["\\Answered", "\\Recent"]}}
    # b sees a's new flags; a fresh session sees the end state.
    a.ok("STORE 1 FLAGS (\\Seen)")
    assert fetches(b.ok("NOOP")) == {1: {"UID": "2", "FLAGS": ["\\Seen"]}}
    c = imap(server, "user3")
    ok(c.select("INBOX", readonly=True))
    assert ok(c.fetch("1:*", "(UID FLAGS)")) == [b"1 (UID 2 FLAGS (\\Seen))"]
    c.logout()
    a.close()
    b.close()


def uid_flags(c) -> list[tuple[int, set]]:
    """UID and flags (\\Recent aside: it belongs to a session) of every message of the selected folder."""
    out = []
    for line in ok(c.uid("FETCH", "1:*", "(UID FLAGS)")):
        if line is None:
            continue
        m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
        assert m, line
        out.append((int(m.group(1)), set(m.group(2).decode().split()) - {"\\Recent"}))
    return out


def test_sessions_of_every_user_in_parallel_with_deliveries_lose_nothing(server):
    users = ("user1", "user2", "user3", "user4", "user5")
    errors = []

    def worker(user: str, k: int) -> None:
        try:
            for i in range(10):
                r = raw(server, user)                   # a new login each time: handoffs
                msg = f"Subject: {user}-{k}-{i}\r\n\r\nbody {user} {k} {i}\r\n".encode()
                uid = appenduid(append(r, "INBOX", msg)[1])[1]
                r.ok("SELECT INBOX")
                got = [v for v in fetches(r.ok(f"UID FETCH {uid} BODY.PEEK[]")).values() if "BODY[]" in v]
                assert [v["BODY[]"] for v in got] == [msg]
                r.ok(f"UID STORE {uid} +FLAGS.SILENT (\\Seen)")
                r.cmd("LOGOUT")
                r.close()
        except Exception as e:   # reported below, with the others
            errors.append(f"{user}/{k}: {e!r}")

    def sender() -> None:
        try:
            for _ in range(6):
                for user in users:
                    deliver(server, user, wait=False)
        except Exception as e:
            errors.append(f"smtp: {e!r}")

    threads = [threading.Thread(target=worker, args=(u, k)) for u in users for k in range(2)]
    threads.append(threading.Thread(target=sender))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for user in users:
        box = wait_for(lambda: (lambda b: b if len(b) == 26 else None)(server.mailbox(user)),
                       what=f"26 messages for {user}")
        assert [m["uid"] for m in box] == list(range(1, 27))
        assert sum("\\Seen" in m["flags"] for m in box) == 20
    assert imap_handoffs(server)


def test_uids_flags_keywords_folders_and_uidvalidity_survive_kill_9_after_the_ok(server):
    deliver(server, "user4", n=3)
    c = imap(server, "user4")
    ok(c.create("Projects/2026"))
    ok(c.create("Doomed"))
    ok(c.select("INBOX"))
    uidvalidity = c.untagged_responses["UIDVALIDITY"][0]
    ok(c.store("1", "+FLAGS", "(\\Flagged \\Answered Work)"))
    ok(c.store("2", "+FLAGS", "(\\Deleted)"))
    ok(c.expunge())
    ok(c.copy("1", "Projects/2026"))
    ok(c.append("Projects/2026", "(\\Seen \\Draft $Forwarded)", None, b"Subject: kept\r\n\r\nkept\r\n"))
    inbox = uid_flags(c)
    assert [u for u, _ in inbox] == [1, 3] and inbox[0][1] == {"\\Flagged", "\\Answered", "Work"}
    ok(c.rename("Projects/2026", "Projects/Y2026"))
    ok(c.subscribe("Projects/Y2026"))
    ok(c.select("Projects/Y2026"))
    project = uid_flags(c)
    assert project == [(1, {"\\Flagged", "\\Answered", "Work"}), (2, {"\\Seen", "\\Draft", "$Forwarded"})]
    contents = ok(c.uid("FETCH", "1:*", "(BODY.PEEK[])"))
    status = {name: ok(c.status(name, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"))
              for name in ("INBOX", "Projects/Y2026")}
    folders = sorted(f for f in ok(c.list()) if b"Doomed" not in f)
    # The last changes, and the crash right after their OKs: none is lost.
    ok(c.store("1", "+FLAGS", "(\\Seen Urgent)"))           # Projects/Y2026 is selected; a new keyword
    project[0] = (1, project[0][1] | {"\\Seen", "Urgent"})
    status["Projects/Y2026"] = [status["Projects/Y2026"][0].replace(b"UNSEEN 1", b"UNSEEN 0")]
    ok(c.create("Late"))
    ok(c.delete("Doomed"))
    data = ok(c.append("INBOX", "(\\Draft)", None, b"Subject: last\r\n\r\nlast\r\n"))
    assert b"[APPENDUID %s 4]" % uidvalidity in data[0]
    server.kill()
    server.start()
    c = imap(server, "user4")
    ok(c.select("INBOX"))
    assert c.untagged_responses["UIDVALIDITY"][0] == uidvalidity
    assert c.untagged_responses["RECENT"] == [b"1"]     # the last APPEND alone: the rest was claimed before
    assert uid_flags(c) == inbox + [(4, {"\\Draft"})]
    assert "Work" in c.untagged_responses["FLAGS"][0].decode()
    assert ok(c.search(None, "KEYWORD", "work")) == [b"1"]
    assert ok(c.fetch("3", "(BODY.PEEK[TEXT])"))[0][1] == b"last\r\n"
    ok(c.select("Projects/Y2026"))
    assert c.untagged_responses["FLAGS"][0] == b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft Work $Forwarded Urgent)"
    assert uid_flags(c) == project
    assert ok(c.search(None, "KEYWORD", "Urgent")) == [b"1"]
    assert ok(c.search(None, "UNKEYWORD", "$Forwarded")) == [b"1"]
    assert ok(c.uid("FETCH", "1:*", "(BODY.PEEK[])")) == contents
    assert ok(c.status("Projects/Y2026", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")) == status["Projects/Y2026"]
    assert sorted(ok(c.list())) == sorted(folders + [b'(\\HasNoChildren) "/" Late'])
    assert b'"/" Projects/2026' not in b" ".join(folders) and b'"/" Projects/Y2026' in b" ".join(folders)
    assert ok(c.lsub('""', "Projects/*")) == [b'() "/" Projects/Y2026']
    # New UIDs go on from UIDNEXT, never reusing one.
    ok(c.select("INBOX"))
    uidnext = int(c.untagged_responses["UIDNEXT"][0])
    assert uidnext == 5
    deliver(server, "user4")
    ok(c.noop())
    assert ok(c.uid("SEARCH", None, "ALL")) == [b"1 3 4 5"]
    c.logout()


def test_bad_input_gets_bad_or_no_and_a_fresh_connection_is_served(server):
    deliver(server, "user5")
    r = raw(server)
    # Unknown command, missing tag, commands before login.
    assert re.match(rb"t\d+ BAD ", r.cmd("XYZZY")[1])
    r.send(b"\r\n")
    assert r.response().startswith(b"* BAD ")
    r.send(b"NOTAGONLY\r\n")
    assert r.response().startswith(b"* BAD ")
    for cmd in ("SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS", "STATUS INBOX (MESSAGES)", "IDLE"):
        assert re.match(rb"t\d+ BAD ", r.cmd(cmd)[1]), cmd
    r.close()
    # A huge synchronizing literal: refused before the client sends it (no "+").
    r = raw(server)
    t = r.tag()
    r.send(f"{t} LOGIN {{1000000000}}\r\n")
    resp = r.response()
    assert re.match(rb"t\d+ BAD ", resp), resp
    r.login("user5")
    r.ok("SELECT INBOX")
    # The same in APPEND (past the message size limit): NO [TOOBIG], no "+".
    t = r.tag()
    r.send(f"{t} APPEND INBOX {{1000000000}}\r\n")
    assert re.match(rb"t\d+ NO \[TOOBIG\]", r.response())
    # 10,000 nested parentheses in a SEARCH: BAD, nothing else happens.
    t = r.tag()
    r.send(f"{t} SEARCH {'(' * 10000}ALL{')' * 10000}\r\n".encode())
    untagged, tagged = r.until_tagged(t)
    assert untagged == [] and re.match(rb"t\d+ BAD ", tagged)
    # ... and in a FETCH attribute list and a STORE flag list.
    assert re.match(rb"t\d+ BAD ", r.cmd(f"FETCH 1 {'(' * 10000}FLAGS{')' * 10000}")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd(f"STORE 1 FLAGS {'(' * 10000}{')' * 10000}")[1])
    # A line longer than any command may be: BAD.
    t = r.tag()
    r.send(f"{t} SEARCH SUBJECT \"{'x' * 200000}\"\r\n".encode())
    assert re.match(rb"t\d+ BAD ", r.until_tagged(t)[1])
    # The session still works.
    assert fetches(r.ok("FETCH 1 (UID)"))[1]["UID"] == "1"
    r.close()
    # A non-synchronizing literal (LITERAL+) too big for a login is read,
    # dropped and answered BAD; the session goes on.
    r = raw(server)
    r.send(b"t1 LOGIN {100000+}\r\n" + b"u" * 100000 + b" user5\r\n")
    assert re.match(rb"t1 BAD ", r.response())
    r.login("user5")
    # One past what the server would read and drop: NO, BYE, closed.
    r.send(b"t2 APPEND INBOX {100000000000+}\r\nabc")
    assert re.match(rb"t2 NO \[TOOBIG\]", r.response())
    assert r.response().startswith(b"* BYE ")
    assert r.closed()
    # Ten BADs in a row: BYE and close.
    r = raw(server)
    r.send(b"".join(b"x%d BOGUS\r\n" % i for i in range(10)))
    lines = []
    with pytest.raises(Closed):
        while True:
            lines.append(r.response())
    assert len(lines) == 11 and lines[-1].startswith(b"* BYE "), lines
    # A fresh connection is served, the server lives.
    c = imap(server, "user5")
    assert ok(c.select("INBOX")) == [b"1"]
    c.logout()
    assert server.alive()
    reasons = {e.get("reason") for e in server.events("bad")}
    assert {"unknown_command", "missing_tag", "command_before_login", "nesting_too_deep"} <= reasons, reasons


def test_an_idle_client_is_logged_out_with_bye_after_the_timeout(make_server):
    server = imap_server(make_server, imap={"timeout": "2s"})
    r = raw(server)                        # not logged in
    assert r.response().startswith(b"* BYE ")
    assert r.closed()
    r = raw(server, "user1")               # logged in, handed to its shard, a mailbox selected
    r.ok("SELECT INBOX")
    assert r.response().startswith(b"* BYE ")
    assert r.closed()
    assert len(server.events("timeout")) == 2       # one log line each
    c = imap(server, "user1")
    ok(c.noop())
    c.logout()


def test_pop3_and_imap_serve_one_mailbox(server):
    """A message APPENDed over IMAP is RETRieved byte-exact over POP3; a
    POP3 DELE is an EXPUNGE for an IMAP session that has the folder open."""
    deliver(server, "user2")
    c = imap(server, "user2")
    msg = b"From: <me@example.test>\r\nSubject: via imap\r\n\r\nappended\r\n.dot line\r\n"
    ok(c.append("INBOX", None, None, msg))
    assert ok(c.select("INBOX")) == [b"2"]
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=TIMEOUT_S)
    p.user("user2")
    p.pass_("user2")
    assert p.stat()[0] == 2
    _, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == msg
    p.dele(1)
    p.quit()
    ok(c.noop())
    assert c.untagged_responses.get("EXPUNGE") == [b"1"]
    assert ok(c.fetch("1:*", "(BODY.PEEK[])"))[0][1] == msg
    c.logout()
