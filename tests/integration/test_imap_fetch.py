"""IMAP FETCH, STORE and SEARCH (RFC 3501 §6.4.4-6.4.6, §7.4.2) on real
messages: the bytes identical to what was sent (over SMTP and by APPEND),
every FETCH item and section of a multipart/mixed message with an
attachment and a nested message/rfc822 (ENVELOPE and BODYSTRUCTURE checked
field by field), \\Seen set by a fetch unless PEEK, every STORE form, and
every SEARCH key of §6.4.4 with the charsets US-ASCII and UTF-8. Raw
sockets where the exact bytes matter, imaplib elsewhere. Both io backends.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import make_message, unique_id
from imap_helpers import (MULTIPART, append, appenduid, deliver, fetches, imap, imap_server, mime_part, ok, raw,
                          search_result, text)

@pytest.fixture
def server(make_server):
    return imap_server(make_server)


def header_and_body(msg: bytes) -> tuple[bytes, bytes]:
    head, sep, body = msg.partition(b"\r\n\r\n")
    return head + sep, body


def flagset(v) -> set:
    return set(v) - {"\\Recent"}


# ---------------------------------------------------------------------------
# bytes

def test_every_fetch_of_content_gives_the_bytes_identical_to_what_was_sent(server):
    body = ("line one\r\n.leading dot\r\n..two dots\r\n.\r\ntrailing space \r\n\ttab\r\n"
            "8-bit: caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442\r\n" + "x" * 998 + "\r\nlast\r\n").encode()
    sent = make_message(unique_id("bytes"), body, sender="alice@remote.test", to="user1@example.test")
    deliver(server, "user1", sent)
    stored = server.mailbox_cat("user1", 1)
    assert stored.endswith(sent) and stored.startswith(b"Return-Path: <alice@remote.test>\r\n")
    r = raw(server, "user1")
    r.ok("SELECT INBOX")
    got = fetches(r.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] RFC822.HEADER)"))[1]
    head, text_ = header_and_body(stored)
    assert got["BODY[]"] == stored
    assert int(got["RFC822.SIZE"]) == len(stored) == server.mailbox("user1")[0]["size"]
    assert got["BODY[HEADER]"] == got["RFC822.HEADER"] == head
    assert got["BODY[TEXT]"] == text_ == body
    # Partial fetches: <offset.length>, cut at the end, past the end.
    got = fetches(r.ok("FETCH 1 (BODY.PEEK[]<0.20> BODY.PEEK[TEXT]<9.4> BODY.PEEK[TEXT]<%d.100> "
                       "BODY.PEEK[]<%d.5>)" % (len(body) - 6, len(stored) + 10)))[1]
    assert got["BODY[]<0>"] == stored[:20]
    assert got["BODY[TEXT]<9>"] == body[9:13]
    assert got[f"BODY[TEXT]<{len(body) - 6}>"] == body[-6:]
    assert got[f"BODY[]<{len(stored) + 10}>"] == b""
    assert server.mailbox("user1")[0]["flags"] == []       # PEEK, RFC822.HEADER: still unseen
    got = fetches(r.ok("FETCH 1 (RFC822 RFC822.TEXT)"))[1]
    assert got["RFC822"] == stored and got["RFC822.TEXT"] == body
    assert flagset(got["FLAGS"]) == {"\\Seen"}             # RFC822 sets \Seen and says so
    # A message APPENDed (LITERAL+ and synchronizing) comes back as sent, to the byte.
    for sync in (False, True):
        msg = b"Subject: appended\r\n\r\n" + body + (b"no final newline" if sync else b"")
        _, tagged = append(r, "INBOX", msg, sync=sync)
        _, uid = appenduid(tagged)
        got = fetches(r.ok(f"UID FETCH {uid} (BODY.PEEK[] RFC822.SIZE)"))
        (item,) = got.values()
        assert item["BODY[]"] == msg and int(item["RFC822.SIZE"]) == len(msg)
        assert server.mailbox_cat("user1", uid) == msg
    r.close()


def test_big_messages_go_in_and_out_whole_and_byte_exact(server):
    line = b".dotted line of a big message " + b"z" * 70 + b"\r\n"
    sent = make_message(unique_id("big"), line * 30000, to="user2@example.test")   # ~3 MiB
    deliver(server, "user2", sent)
    c = imap(server, "user2")
    ok(c.select("INBOX"))
    data = ok(c.fetch("1", "(BODY.PEEK[] BODY.PEEK[TEXT]<1000000.100>)"))
    content = data[0][1]
    assert content.endswith(sent) and len(content) == server.mailbox("user2")[0]["size"]
    assert data[1][1] == (line * 30000)[1000000:1000100]
    c.logout()
    # 5 MB APPENDed with both kinds of literal (streamed into the store), then
    # several big literals in one FETCH (streamed out), a big partial among them.
    big = b"Subject: big\r\n\r\n" + b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % i
                                               for i in range(120000))
    r = raw(server, "user2")
    assert appenduid(append(r, "INBOX", big, sync=True)[1])[1] == 2
    assert appenduid(append(r, "INBOX", big)[1])[1] == 3
    r.ok("SELECT INBOX")
    got = fetches(r.ok("FETCH 2:3 (BODY.PEEK[] UID BODY.PEEK[TEXT] RFC822.SIZE BODY.PEEK[]<100.200000> FLAGS)"))
    for n in (2, 3):
        assert got[n]["BODY[]"] == big and got[n]["BODY[TEXT]"] == big[len(b"Subject: big\r\n\r\n"):]
        assert got[n]["BODY[]<100>"] == big[100:200100] and int(got[n]["RFC822.SIZE"]) == len(big)
        assert got[n]["UID"] == str(n) and got[n]["FLAGS"] == ["\\Recent"]
    assert server.mailbox_messages("user2")[1:] == [big, big]
    r.close()


def test_a_fetch_of_many_messages_goes_out_whole_past_the_output_window(server):
    r = raw(server, "user3")
    sent = []
    for i in range(40):   # 40 x 20 KB: several times the session's output window
        msg = f"Subject: m{i}\r\n\r\n".encode() + (f"line {i} ".encode() + b"y" * 90 + b"\r\n") * 200
        sent.append(msg)
        append(r, "INBOX", msg)
    r.ok("SELECT INBOX")
    got = fetches(r.ok("FETCH 1:* (UID BODY.PEEK[] FLAGS)"))
    assert sorted(got) == list(range(1, 41))
    assert [got[n]["BODY[]"] for n in range(1, 41)] == sent
    assert [got[n]["UID"] for n in range(1, 41)] == [str(n) for n in range(1, 41)]
    r.close()


# ---------------------------------------------------------------------------
# structure

def test_envelope_and_bodystructure_of_a_multipart_with_an_attachment_and_a_nested_message(server):
    deliver(server, "user3", MULTIPART)
    r = raw(server, "user3")
    r.ok("EXAMINE INBOX")
    got = fetches(r.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)"))[1]
    env = got["ENVELOPE"]
    assert len(env) == 10
    date, subject, frm, sender, reply_to, to, cc, bcc, in_reply_to, message_id = env
    assert text(date) == "Tue, 03 Nov 2026 10:20:30 +0100"
    assert text(subject) == "=?UTF-8?Q?caf=C3=A9?= report"        # ENVELOPE strings are not decoded
    assert frm == [["Alice Example", None, "alice", "remote.test"]]
    assert sender == [[None, None, "secretary", "remote.test"]]
    assert reply_to == [[None, None, "replies", "remote.test"]]
    assert to == [["User One", None, "user1", "example.test"], [None, None, "user2", "example.test"]]
    assert cc == [[None, None, "Team", None], [None, None, "carol", "remote.test"],
                  [None, None, "dave", "remote.test"], [None, None, None, None],
                  [None, None, "erin", "remote.test"]]              # a group: start, members, end
    assert bcc is None
    assert text(in_reply_to) == "<earlier@remote.test>"
    assert text(message_id) == "<multi-1@remote.test>"

    top_head, top_body = header_and_body(server.mailbox_cat("user3", 1))
    h1, b1 = mime_part(top_body, b"outer-b", 1)
    h2, b2 = mime_part(top_body, b"outer-b", 2)
    h3, b3 = mime_part(top_body, b"outer-b", 3)
    inner_head, inner_body = header_and_body(b3)
    _, ib1 = mime_part(inner_body, b"inner-b", 1)
    _, ib2 = mime_part(inner_body, b"inner-b", 2)

    bs = got["BODYSTRUCTURE"]
    assert len(bs) == 3 + 1 + 4, bs        # three parts, subtype, params, disposition, language, location
    text_part, pdf, message, subtype, params, disposition, language, location = bs
    assert subtype == "MIXED"
    assert [p.upper() if i % 2 == 0 else p for i, p in enumerate(params)] == ["BOUNDARY", "outer-b"]
    assert disposition is None and language is None and location is None
    # 1: text/plain, quoted-printable; size and lines of its body.
    assert text_part[:7] == ["TEXT", "PLAIN", ["CHARSET", "utf-8"], None, None, "QUOTED-PRINTABLE", str(len(b1))]
    assert text_part[7] == str(b1.count(b"\n"))
    assert text_part[8:] == [None, None, None, None]                  # md5, disposition, language, location
    # 2: the attachment: name, id, description, base64, disposition and filename.
    assert pdf[:7] == ["APPLICATION", "PDF", ["NAME", "report.pdf"], "<att1@remote.test>", "The report", "BASE64",
                       str(len(b2))]
    assert pdf[7] is None                                             # md5
    assert pdf[8] == ["ATTACHMENT", ["FILENAME", "report.pdf"]]
    assert pdf[9:] == [None, None]
    # 3: message/rfc822: its envelope, its own body structure, its lines.
    assert message[:7] == ["MESSAGE", "RFC822", None, None, None, "7BIT", str(len(b3))]
    inner_env = message[7]
    assert [text(x) for x in inner_env[:2]] == ["Mon, 02 Nov 2026 09:00:00 +0000", "inner"]
    assert inner_env[2] == inner_env[3] == inner_env[4] == [["Bob", None, "bob", "remote.test"]]
    assert inner_env[5] == [[None, None, "alice", "remote.test"]]
    assert inner_env[6:9] == [None, None, None]
    assert text(inner_env[9]) == "<inner-1@remote.test>"
    inner = message[8]
    alt_plain, alt_html = inner[0], inner[1]
    assert alt_plain == ["TEXT", "PLAIN", ["CHARSET", "US-ASCII"], None, None, "7BIT", str(len(ib1)),
                         str(ib1.count(b"\n")), None, None, None, None]
    assert alt_html == ["TEXT", "HTML", ["CHARSET", "us-ascii"], None, None, "7BIT", str(len(ib2)),
                        str(ib2.count(b"\n")), None, None, "en", None]
    assert inner[2] == "ALTERNATIVE" and inner[3] == ["BOUNDARY", "inner-b"]
    assert message[9] == str(b3.count(b"\n"))
    assert message[10:] == [None, None, None, None]
    # BODY: the same without extension data.
    body = got["BODY"]
    assert len(body) == 4 and body[3] == "MIXED"
    assert body[0] == text_part[:8] and body[1] == pdf[:7]
    assert body[2][:8] == message[:8] and body[2][9] == message[9]
    assert body[2][8] == [alt_plain[:8], alt_html[:8], "ALTERNATIVE"]
    r.close()


def test_envelope_addresses_in_their_harder_forms(server):
    msg = (b'From: "Doe, John" <john@remote.test>\r\n'
           b"Sender: =?UTF-8?B?SsO8cmdlbg==?= <j@remote.test>\r\n"
           b"Reply-To: \r\n"
           b"To: undisclosed-recipients:;\r\n"
           b'Cc: <@route.test:user@host.test>, "Q \\"quoted\\" name" <q@remote.test>\r\n'
           b"Bcc: plain@remote.test (A Comment)\r\n"
           b"Subject: a folded\r\n subject line\r\n"
           b"Date: Tue, 03 Nov 2026 23:30:00 -0500\r\n"
           b"Message-ID: <id@remote.test>\r\n"
           b"\r\nbody\r\n")
    r = raw(server, "user5")
    append(r, "INBOX", msg)
    r.ok("SELECT INBOX")
    env = fetches(r.ok("FETCH 1 ENVELOPE"))[1]["ENVELOPE"]
    assert [text(x) for x in env[:2]] == ["Tue, 03 Nov 2026 23:30:00 -0500", "a folded subject line"]
    assert env[2] == [["Doe, John", None, "john", "remote.test"]]
    assert env[3] == [["=?UTF-8?B?SsO8cmdlbg==?=", None, "j", "remote.test"]]    # names are not decoded
    assert env[4] == env[2]                                  # an empty Reply-To is the From (§7.4.2)
    assert env[5] == [[None, None, "undisclosed-recipients", None], [None, None, None, None]]
    assert env[6] == [[None, "@route.test", "user", "host.test"], [b'Q "quoted" name', None, "q", "remote.test"]]
    assert env[7] == [["A Comment", None, "plain", "remote.test"]]
    assert env[8] is None and text(env[9]) == "<id@remote.test>"
    # SENTON compares the Date: header's own day, whatever its zone (§6.4.4).
    got = fetches(r.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT Bcc)]"))[1]
    assert got["BODY[HEADER.FIELDS (SUBJECT Bcc)]"] == \
        b"Bcc: plain@remote.test (A Comment)\r\nSubject: a folded\r\n subject line\r\n\r\n"   # folds kept
    assert search_result(r.ok("SEARCH SENTON 3-Nov-2026")) == [1]
    assert search_result(r.ok('SEARCH SUBJECT "folded subject"')) == [1]
    assert search_result(r.ok('SEARCH FROM "Doe, John"')) == [1]
    r.close()


def test_body_sections_name_headers_parts_and_nested_parts_by_number(server):
    deliver(server, "user4", MULTIPART)
    stored = server.mailbox_cat("user4", 1)
    top_head, top_body = header_and_body(stored)
    h1, b1 = mime_part(top_body, b"outer-b", 1)
    h2, b2 = mime_part(top_body, b"outer-b", 2)
    h3, b3 = mime_part(top_body, b"outer-b", 3)
    inner_head, inner_body = header_and_body(b3)
    ih1, ib1 = mime_part(inner_body, b"inner-b", 1)
    ih2, ib2 = mime_part(inner_body, b"inner-b", 2)
    r = raw(server, "user4")
    r.ok("SELECT INBOX")
    sections = {
        "HEADER": top_head, "TEXT": top_body,
        "1": b1, "1.MIME": h1, "2": b2, "2.MIME": h2, "3": b3, "3.MIME": h3,
        "3.HEADER": inner_head, "3.TEXT": inner_body,
        "3.1": ib1, "3.1.MIME": ih1, "3.2": ib2, "3.2.MIME": ih2,
        "HEADER.FIELDS (SUBJECT message-id)":
            b"Subject: =?UTF-8?Q?caf=C3=A9?= report\r\nMessage-ID: <multi-1@remote.test>\r\n\r\n",
        "HEADER.FIELDS (X-Absent)": b"\r\n",
        "3.HEADER.FIELDS (From Subject)": b"From: Bob <bob@remote.test>\r\nSubject: inner\r\n\r\n",
        "HEADER.FIELDS.NOT (Return-Path Delivered-To Received From Sender Reply-To To Cc Subject Date Message-ID "
        "In-Reply-To MIME-Version)":
            b"X-Mailer: hand typed\r\nContent-Type: multipart/mixed; boundary=\"outer-b\"\r\n\r\n",
        "4": b"", "3.3": b"", "1.2": b"",                               # no such part: empty
    }
    spec = " ".join(f"BODY.PEEK[{s}]" for s in sections)
    got = fetches(r.ok(f"FETCH 1 ({spec})"))[1]
    for s, want in sections.items():
        assert got[f"BODY[{s}]"] == want, s
    # A partial of a part; a non-PEEK section fetch sets \Seen.
    got = fetches(r.ok("FETCH 1 (BODY[2]<4.10> BODY[3.1]<0.5>)"))[1]
    assert got["BODY[2]<4>"] == b2[4:14] and got["BODY[3.1]<0>"] == ib1[:5]
    assert flagset(got["FLAGS"]) == {"\\Seen"}
    r.close()


# ---------------------------------------------------------------------------
# the other FETCH items

def test_flags_internaldate_size_uid_and_the_macros(server):
    before = time.gmtime(time.time() - 5)
    deliver(server, "user5", n=2)
    r = raw(server, "user5")
    _, tagged = append(r, "INBOX", b"Subject: dated\r\n\r\nold\r\n", flags="\\Seen \\Flagged",
                       date="15-Mar-2026 12:34:56 +0200")
    _, uid = appenduid(tagged)
    assert uid == 3
    r.ok("SELECT INBOX")
    got = fetches(r.ok("FETCH 1:* (INTERNALDATE UID RFC822.SIZE FLAGS)"))
    assert sorted(got) == [1, 2, 3]
    assert got[3]["INTERNALDATE"] == "15-Mar-2026 10:34:56 +0000"
    assert int(got[3]["RFC822.SIZE"]) == len(b"Subject: dated\r\n\r\nold\r\n")
    assert flagset(got[3]["FLAGS"]) == {"\\Seen", "\\Flagged"} and "\\Recent" in got[3]["FLAGS"]
    assert [got[n]["UID"] for n in (1, 2, 3)] == ["1", "2", "3"]
    box = server.mailbox("user5")
    for n in (1, 2):
        d = time.strptime(got[n]["INTERNALDATE"], "%d-%b-%Y %H:%M:%S +0000")
        assert time.strftime("%Y%m%d", d) >= time.strftime("%Y%m%d", before)
        assert int(got[n]["RFC822.SIZE"]) == box[n - 1]["size"]
        assert got[n]["FLAGS"] == ["\\Recent"]
    # The macros (§6.4.5).
    fast = fetches(r.ok("FETCH 3 FAST"))[3]
    assert set(fast) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    al = fetches(r.ok("FETCH 3 ALL"))[3]
    assert set(al) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    assert text(al["ENVELOPE"][1]) == "dated"
    full = fetches(r.ok("FETCH 3 FULL"))[3]
    assert set(full) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}
    assert full["BODY"] == ["TEXT", "PLAIN", ["CHARSET", "US-ASCII"], None, None, "7BIT", "5", "1"]
    # UID FETCH answers UID even when not asked, and takes UID ranges.
    got = fetches(r.ok("UID FETCH 2:* (FLAGS)"))
    assert {n: v["UID"] for n, v in got.items()} == {2: "2", 3: "3"}
    assert fetches(r.ok("UID FETCH 4:10 FLAGS")) == {}        # no such UIDs
    assert sorted(fetches(r.ok("UID FETCH 9:* FLAGS"))) == [3]  # n:* names the last one (§6.4.8)
    # "*" and sequence ranges; a number past EXISTS is BAD.
    assert sorted(fetches(r.ok("FETCH 2:* UID"))) == [2, 3]
    assert sorted(fetches(r.ok("FETCH * UID"))) == [3]
    assert sorted(fetches(r.ok("FETCH 1,3 UID"))) == [1, 3]
    assert re.match(rb"t\d+ BAD ", r.cmd("FETCH 4 UID")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("FETCH 1 (NOSUCHITEM)")[1])
    r.close()


def test_a_fetch_of_content_sets_seen_unless_peek_or_examine(server):
    deliver(server, "user1", n=4)
    r = raw(server, "user1")
    r.ok("EXAMINE INBOX")
    got = fetches(r.ok("FETCH 1:4 (BODY[TEXT] RFC822.TEXT FLAGS)"))
    assert all(v["FLAGS"] == ["\\Recent"] or v["FLAGS"] == [] for v in got.values())
    assert [m["flags"] for m in server.mailbox("user1")] == [[], [], [], []]   # read-only: nothing set
    r.ok("SELECT INBOX")
    for n, item in ((1, "BODY.PEEK[TEXT]"), (2, "RFC822.HEADER"), (3, "BODY[1]"), (4, "RFC822.TEXT")):
        r.ok(f"FETCH {n} ({item})")
    flags = [m["flags"] for m in server.mailbox("user1")]
    assert flags == [[], [], ["\\Seen"], ["\\Seen"]]
    # The untagged FETCH of a fetch that set \Seen carries FLAGS.
    got = fetches(r.ok("FETCH 1 BODY[HEADER]"))[1]
    assert flagset(got["FLAGS"]) == {"\\Seen"}
    r.close()


# ---------------------------------------------------------------------------
# STORE

def test_store_replaces_adds_and_removes_flags_silently_or_not_and_by_uid(server):
    deliver(server, "user2", n=3)
    r = raw(server, "user2")
    r.ok("SELECT INBOX")
    got = fetches(r.ok("STORE 1 FLAGS (\\Seen \\Flagged)"))
    assert list(got) == [1] and flagset(got[1]["FLAGS"]) == {"\\Seen", "\\Flagged"}
    got = fetches(r.ok("STORE 1:2 +FLAGS (\\Answered \\Draft)"))
    assert flagset(got[1]["FLAGS"]) == {"\\Seen", "\\Flagged", "\\Answered", "\\Draft"}
    assert flagset(got[2]["FLAGS"]) == {"\\Answered", "\\Draft"}
    got = fetches(r.ok("STORE 1 -FLAGS (\\Seen \\Draft)"))
    assert flagset(got[1]["FLAGS"]) == {"\\Flagged", "\\Answered"}
    assert r.ok("STORE 3 FLAGS.SILENT (\\Deleted)") == []
    assert r.ok("STORE 3 +FLAGS.SILENT (\\Seen)") == []
    assert r.ok("STORE 2 -FLAGS.SILENT (\\Draft)") == []
    got = fetches(r.ok("UID STORE 2:3 +FLAGS \\Flagged"))       # a flag without parentheses, by UID
    assert {n: v["UID"] for n, v in got.items()} == {2: "2", 3: "3"}
    assert flagset(got[3]["FLAGS"]) == {"\\Deleted", "\\Seen", "\\Flagged"}
    # A keyword is kept like a system flag (PERMANENTFLAGS has \*); \Recent is not settable.
    got = fetches(r.ok("STORE 2 +FLAGS ($Important)"))
    assert flagset(got[2]["FLAGS"]) == {"\\Answered", "\\Flagged", "$Important"}
    assert re.match(rb"t\d+ BAD ", r.cmd("STORE 2 +FLAGS (\\Recent)")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("STORE 4 +FLAGS (\\Seen)")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("STORE 1 FLAGGED (\\Seen)")[1])
    assert [(m["uid"], set(m["flags"])) for m in server.mailbox("user2")] == [
        (1, {"\\Flagged", "\\Answered"}), (2, {"\\Answered", "\\Flagged", "$Important"}),
        (3, {"\\Deleted", "\\Seen", "\\Flagged"})]
    # Read-only: NO.
    r.ok("EXAMINE INBOX")
    assert re.match(rb"t\d+ NO ", r.cmd("STORE 1 +FLAGS (\\Deleted)")[1])
    r.close()
    c = imap(server, "user2")
    ok(c.select("INBOX"))
    assert ok(c.store("1:*", "FLAGS", "()"))
    assert [m["flags"] for m in server.mailbox("user2")] == [[], [], []]
    c.logout()


# ---------------------------------------------------------------------------
# SEARCH

SEARCH_MESSAGES = [
    # (message, flags, internal date)
    (b"From: Alice <alice@remote.test>\r\nTo: user1@example.test\r\nCc: carol@remote.test\r\n"
     b"Subject: Quarterly report\r\nDate: Mon, 02 Feb 2026 10:00:00 +0000\r\nX-Priority: 1\r\n"
     b"Message-ID: <s1@remote.test>\r\n\r\nthe budget numbers\r\n",
     "\\Seen \\Answered", "02-Feb-2026 12:00:00 +0000"),
    (b"From: bob@remote.test\r\nTo: dave@remote.test\r\nBcc: user1@example.test\r\n"
     b"Subject: =?UTF-8?Q?caf=C3=A9?= menu\r\nDate: Sun, 15 Mar 2026 09:30:00 +0000\r\n"
     b"Message-ID: <s2@remote.test>\r\n\r\nlunch at noon\r\n" + b"padding line\r\n" * 400,
     "\\Flagged \\Draft", "15-Mar-2026 12:00:00 +0000"),
    (b"From: \"Carol\" <carol@remote.test>\r\nTo: user1@example.test\r\nSubject: Re: Quarterly report\r\n"
     b"Date: Wed, 01 Apr 2026 08:00:00 +0000\r\nMessage-ID: <s3@remote.test>\r\n\r\n"
     + "caf\u00e9 au lait\r\n".encode(),
     "\\Deleted \\Seen", "01-Apr-2026 12:00:00 +0000"),
]


def test_every_search_key_of_rfc_3501(server):
    r = raw(server, "user1")
    # A first message, expunged, so that UIDs and sequence numbers differ.
    append(r, "INBOX", b"Subject: gone\r\n\r\ngone\r\n", flags="\\Deleted")
    r.ok("SELECT INBOX")
    r.ok("EXPUNGE")
    r.ok("UNSELECT")
    for msg, flags, date in SEARCH_MESSAGES[:2]:
        _, tagged = append(r, "INBOX", msg, flags=flags, date=date)
        assert b" OK " in tagged
    # Another session takes \Recent of the first two ...
    other = imap(server, "user1")
    ok(other.select("INBOX"))
    other.logout()
    msg, flags, date = SEARCH_MESSAGES[2]
    append(r, "INBOX", msg, flags=flags, date=date)
    # ... and the fourth comes over SMTP, with no Date: (its sent date is its arrival).
    deliver(server, "user1", b"From: <dan@other.test>\r\nTo: <user1@example.test>\r\nSubject: hello\r\n"
                             b"Message-ID: <s4@other.test>\r\n\r\nplain hello\r\n", sender="dan@other.test")
    r.ok("SELECT INBOX")

    def search(keys: str, uid: bool = False) -> list[int]:
        return search_result(r.ok(f"{'UID ' if uid else ''}SEARCH {keys}"))

    cases = {
        "ALL": [1, 2, 3, 4],
        "ANSWERED": [1], "UNANSWERED": [2, 3, 4],
        "DELETED": [3], "UNDELETED": [1, 2, 4],
        "DRAFT": [2], "UNDRAFT": [1, 3, 4],
        "FLAGGED": [2], "UNFLAGGED": [1, 3, 4],
        "SEEN": [1, 3], "UNSEEN": [2, 4],
        "RECENT": [3, 4], "OLD": [1, 2], "NEW": [4],
        "KEYWORD $Important": [], "UNKEYWORD $Important": [1, 2, 3, 4],
        "FROM alice": [1], "FROM remote.test": [1, 2, 3], "FROM \"Carol\"": [3], "FROM DAN@OTHER": [4],
        "TO dave": [2], "TO user1": [1, 3, 4],
        "CC carol": [1], "BCC user1": [2], "BCC nobody": [],
        "SUBJECT quarterly": [1, 3], "SUBJECT \"Re: Quarterly\"": [3],
        "HEADER X-Priority 1": [1], "HEADER X-Priority \"\"": [1], "HEADER message-id remote.test": [1, 2, 3],
        "BODY budget": [1], "BODY Quarterly": [], "TEXT Quarterly": [1, 3], "TEXT \"plain hello\"": [4],
        "BEFORE 1-Mar-2026": [1], "ON 15-Mar-2026": [2], "SINCE 15-Mar-2026": [2, 3, 4],
        "SENTBEFORE 1-Mar-2026": [1], "SENTON 15-Mar-2026": [2], "SENTSINCE 1-Apr-2026": [3, 4],
        "SENTON \"1-Apr-2026\"": [3],
        "LARGER 3000": [2], "SMALLER 3000": [1, 3, 4],
        "UID 3:4": [2, 3], "UID *": [4], "2,4": [2, 4], "3:*": [3, 4], "*": [4],
        "NOT SEEN": [2, 4], "OR FLAGGED DELETED": [2, 3], "(SEEN ANSWERED)": [1],
        "OR (SEEN UNDELETED) DRAFT": [1, 2], "FROM remote.test UNSEEN": [2],
        "NOT OR FROM alice FROM bob": [3, 4], "all seen": [1, 3],
    }
    for keys, want in cases.items():
        assert search(keys) == want, keys
    # UID SEARCH answers UIDs (the expunged first one shifts them by one).
    assert search("DRAFT", uid=True) == [3]
    assert search("UID 3:4", uid=True) == [3, 4]
    assert search("ALL", uid=True) == [2, 3, 4, 5]
    # Syntax errors are BAD.
    for bad in ("BEFORE 2026-03-01", "LARGER x", "NOSUCHKEY", "OR SEEN", "(SEEN", "HEADER X-Priority"):
        assert re.match(rb"t\d+ BAD ", r.cmd(f"SEARCH {bad}")[1]), bad
    r.close()


def test_search_with_charset_us_ascii_and_utf_8_and_an_unknown_one(server):
    r = raw(server, "user2")
    for msg, flags, date in SEARCH_MESSAGES:
        append(r, "INBOX", msg, flags=flags, date=date)
    r.ok("SELECT INBOX")
    assert search_result(r.ok("SEARCH CHARSET US-ASCII SUBJECT report")) == [1, 3]
    assert search_result(r.ok("SEARCH CHARSET us-ascii FROM bob")) == [2]
    cafe = "caf\u00e9".encode()
    # UTF-8 strings as literals, non-synchronizing and synchronizing: the
    # encoded-word subject is decoded; the 8-bit body is matched as is.
    t = r.tag()
    r.send(f"{t} SEARCH CHARSET UTF-8 SUBJECT {{{len(cafe)}+}}\r\n".encode() + cafe + b"\r\n")
    assert search_result(r.until_tagged(t)[0]) == [2]
    t = r.tag()
    r.send(f"{t} SEARCH CHARSET UTF-8 BODY {{{len(cafe)}}}\r\n".encode())
    assert r.response().startswith(b"+ ")
    r.send(cafe + b"\r\n")
    assert search_result(r.until_tagged(t)[0]) == [3]
    assert search_result(r.ok('SEARCH CHARSET UTF-8 SUBJECT "menu"')) == [2]
    _, tagged = r.cmd("SEARCH CHARSET KOI8-R SUBJECT menu")
    assert re.match(rb"t\d+ NO \[BADCHARSET", tagged), tagged
    r.close()
    c = imap(server, "user2")
    ok(c.select("INBOX"))
    assert ok(c.search("UTF-8", "SUBJECT", "report")) == [b"1 3"]
    c.logout()


def test_search_body_finds_the_decoded_text_of_messages_python_encoded(server):
    # Python's email package picks the transfer encodings: base64 for a
    # UTF-8 text part, quoted-printable for a Latin-1 one; SEARCH BODY must
    # see the text, as Dovecot's does, and not the base64 of an attachment.
    from email.message import EmailMessage
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "dora@remote.test", "user3@example.test", "encoded parts"
    m.set_content("Übersicht: die Zahlen für März\n", charset="utf-8", cte="base64")
    m.add_alternative("<p>Café crème, très bien</p>\n", subtype="html", charset="iso-8859-1",
                      cte="quoted-printable")
    m.add_attachment(b"secret attachment words", maintype="application", subtype="octet-stream",
                     filename="blob.bin")
    raw_bytes = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"Zahlen" not in raw_bytes and b"cr\xe8me" not in raw_bytes     # nothing readable undecoded
    deliver(server, "user3", raw_bytes, sender="dora@remote.test")
    deliver(server, "user3")                                               # a plain one beside it
    c = imap(server, "user3")
    ok(c.select("INBOX"))
    assert ok(c.search(None, "BODY", "Zahlen")) == [b"1"]
    assert ok(c.search(None, "BODY", "\"zahlen F\"")) == [b"1"]
    c.literal = "März".encode()
    assert ok(c.search("UTF-8", "BODY")) == [b"1"]
    c.literal = "crème".encode()
    assert ok(c.search("UTF-8", "TEXT")) == [b"1"]
    assert ok(c.search(None, "BODY", "attachment")) == [b""]
    assert ok(c.search(None, "TEXT", "\"encoded parts\"")) == [b"1"]
    assert ok(c.search(None, "BODY", "message")) == [b"2"]
    c.logout()
