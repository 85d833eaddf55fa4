"""IMAP with a second, independent client: imapflow (Node), the library
behind several mail programs, installed from npm by tools/bootstrap.sh
into tests/integration/imapflow/node_modules (pinned by package-lock.json).
Where npm cannot install it (bootstrap warns and goes on) these tests skip
with that reason; test_imap_mbsync.py is the independent client from a
Debian package, which always runs.

imapflow/drive.mjs logs in and lists, creates, renames, deletes and
subscribes folders, asks STATUS, SELECTs, fetches envelope, body structure
and source, downloads an attachment decoded, fetches parts, searches, sets
flags, appends (LITERAL+), copies and moves (UIDPLUS, MOVE), deletes, and
IDLEs until a message sent over SMTP arrives; it prints what it got as
JSON, checked here against the store (`posthorn mailbox`) and the bytes
that were sent. imapflow parses every response with its own parser, so a
reply it reads differently from imaplib shows up here. Both io backends.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imap_helpers import MULTIPART, deliver, imap_server, mime_part, raw

DRIVER = Path(__file__).resolve().parent / "imapflow"
PLAIN = (b"From: Bob <bob@remote.test>\r\nTo: user1@example.test\r\nSubject: plain\r\n\r\n"
         b"plain text body\r\n")
APPENDED = (b"From: imapflow <imapflow@example.test>\r\nSubject: appended by imapflow\r\n"
            b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nappended body\r\n.dot line\r\n")


def run_driver(server, user: str) -> dict:
    node = shutil.which("node")
    if not node or not (DRIVER / "node_modules" / "imapflow" / "package.json").exists():
        pytest.skip("imapflow is not installed (no node, or `npm ci` in tests/integration/imapflow failed: "
                    "tools/bootstrap.sh warns why, e.g. SELF_SIGNED_CERT_IN_CHAIN from a TLS-intercepting proxy); "
                    "mbsync (test_imap_mbsync.py) is the second client that always runs")
    args = json.dumps({"imapPort": server.imap_port, "smtpPort": server.port, "user": user, "password": user})
    p = subprocess.run([node, str(DRIVER / "drive.mjs"), args], capture_output=True, timeout=180, cwd=DRIVER)
    assert p.returncode == 0, f"drive.mjs exited {p.returncode}\n{p.stderr.decode()[-3000:]}"
    out = json.loads(p.stdout)
    failed = [s for s in out["steps"] if s.endswith(":error")]
    assert not failed, {s: out[s.split(":")[0]] for s in failed} | {"raw": out["raw"][-4000:]}
    return out


def b64(v: dict) -> bytes:
    return base64.b64decode(v["base64"])


def test_imapflow_lists_fetches_searches_flags_appends_copies_moves_deletes_and_idles(make_server):
    server = imap_server(make_server)
    deliver(server, "user1", MULTIPART)
    deliver(server, "user1", PLAIN, sender="bob@remote.test")
    stored = [server.mailbox_cat("user1", uid) for uid in (1, 2)]
    out = run_driver(server, "user1")

    caps = set(out["connect"]["capabilities"])
    assert caps >= {"IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "LITERAL+", "NAMESPACE", "ID", "SPECIAL-USE"}
    assert out["connect"]["serverInfo"]["name"] == "posthorn"
    assert out["connect"]["namespace"] == {"prefix": "", "delimiter": "/"}

    # Folders: created, one renamed and deleted; special use from the names; hierarchy.
    listed = {m["path"]: m for m in out["list"]}
    assert set(listed) == {"INBOX", "Archive", "Projects", "Projects/Alpha", "Sent", "Entw\u00fcrfe"}
    # A non-ASCII name travels in modified UTF-7 (RFC 3501 §5.1.3) and is kept as such.
    r = raw(server, "user1")
    assert b'* LIST (\\HasNoChildren) "/" Entw&APw-rfe\r\n' in r.ok('LIST "" Entw*')
    r.close()
    assert listed["Sent"]["specialUse"] == "\\Sent" and listed["Archive"]["specialUse"] == "\\Archive"
    assert "\\HasChildren" in listed["Projects"]["flags"] and listed["Projects/Alpha"]["parent"] == "Projects"
    assert listed["Projects/Alpha"]["subscribed"] is True
    assert all(m["delimiter"] == "/" for m in out["list"])

    status, opened = out["status"], out["open"]
    assert (status["messages"], status["uidNext"], status["unseen"]) == (2, 3, 2)
    assert opened["exists"] == 2 and opened["uidValidity"] == status["uidValidity"] and not opened["readOnly"]
    assert set(opened["permanentFlags"]) == {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\*"}

    # FETCH: sources byte-exact; envelope and body structure as imapflow parses them.
    first, second = out["fetch"]
    assert [b64(first["source"]), b64(second["source"])] == stored
    assert stored[0].endswith(MULTIPART) and stored[1].endswith(PLAIN)
    assert first["size"] == len(stored[0]) and second["size"] == len(stored[1])
    env = first["envelope"]
    assert env["subject"] == "caf\u00e9 report"                      # imapflow decodes the encoded word
    assert env["from"] == [{"name": "Alice Example", "address": "alice@remote.test"}]
    assert env["sender"] == [{"name": "", "address": "secretary@remote.test"}]
    assert env["replyTo"] == [{"name": "", "address": "replies@remote.test"}]
    assert env["to"] == [{"name": "User One", "address": "user1@example.test"},
                         {"name": "", "address": "user2@example.test"}]
    assert [a["address"] for a in env["cc"] if a["address"]] == ["carol@remote.test", "dave@remote.test",
                                                                 "erin@remote.test"]
    assert env["messageId"] == "<multi-1@remote.test>" and env["inReplyTo"] == "<earlier@remote.test>"
    assert env["date"] == "2026-11-03T09:20:30.000Z"
    _, body = stored[0].split(b"\r\n\r\n", 1)
    _, b1 = mime_part(body, b"outer-b", 1)
    _, b2 = mime_part(body, b"outer-b", 2)
    _, b3 = mime_part(body, b"outer-b", 3)
    bs = first["bodyStructure"]
    assert bs["type"] == "multipart/mixed" and bs["parameters"] == {"boundary": "outer-b"}
    text, pdf, msg = bs["childNodes"]
    assert (text["part"], text["type"], text["parameters"], text["encoding"], text["size"]) == \
        ("1", "text/plain", {"charset": "utf-8"}, "quoted-printable", len(b1))
    assert (pdf["part"], pdf["type"], pdf["parameters"], pdf["encoding"], pdf["size"]) == \
        ("2", "application/pdf", {"name": "report.pdf"}, "base64", len(b2))
    assert (pdf["id"], pdf["description"], pdf["disposition"], pdf["dispositionParameters"]) == \
        ("<att1@remote.test>", "The report", "attachment", {"filename": "report.pdf"})
    assert (msg["part"], msg["type"], msg["size"], msg["lineCount"]) == ("3", "message/rfc822", len(b3),
                                                                          b3.count(b"\n"))
    assert msg["envelope"]["subject"] == "inner" and msg["envelope"]["messageId"] == "<inner-1@remote.test>"
    alt = msg["childNodes"][0]
    assert alt["type"] == "multipart/alternative"
    assert [(c["part"], c["type"]) for c in alt["childNodes"]] == [("3.1", "text/plain"), ("3.2", "text/html")]
    assert alt["childNodes"][1]["language"] == ["en"]
    assert second["bodyStructure"]["type"] == "text/plain" and second["bodyStructure"]["size"] == 17

    # The attachment alone, decoded; parts by number.
    assert out["download"]["meta"]["filename"] == "report.pdf"
    assert b64(out["download"]["content"]) == base64.b64decode(b2)
    assert b64(out["parts"]["1"]) == b1
    assert b64(out["parts"]["3.1"]) == b"plain inner\r\nsecond line"

    assert out["search"] == {"fromAlice": [1], "unseen": [1, 2], "subject": [1], "body": [2], "larger": [1],
                             "orFrom": [1, 2], "uids": [1, 2]}
    flags = {m["uid"]: set(m["flags"]) - {"\\Recent"} for m in out["flags"]}
    assert flags == {1: {"\\Flagged", "$Label1"}, 2: {"\\Answered", "\\Draft"}}

    # APPEND (imapflow sends LITERAL+): UID from APPENDUID, bytes, flags and date kept.
    app = out["append"]
    assert app["result"]["uid"] == 3 and app["result"]["uidValidity"] == status["uidValidity"]
    assert b64(app["source"]) == APPENDED and "\\Seen" in app["flags"]
    assert app["internalDate"] == "2026-01-02T03:04:05.000Z"
    assert app["literal"] == "{%d+}\r\n" % len(APPENDED)

    # COPY, MOVE (COPYUID maps), delete: the store agrees.
    assert out["copy"]["uidMap"] == {"1": 1, "2": 2} and out["copy"]["destination"] == "Archive"
    assert out["move"]["uidMap"] == {"3": 1}
    assert out["delete"] == {"ok": True, "left": [1]}
    assert out["statusAfter"]["inbox"]["messages"] == 1
    assert (out["statusAfter"]["archive"]["messages"], out["statusAfter"]["archive"]["uidNext"]) == (2, 3)
    assert [m["flags"] for m in server.mailbox("user1", "Archive")] == [["\\Flagged", "$Label1"], ["\\Answered", "\\Draft"]]
    assert server.mailbox_messages("user1", "Archive") == stored
    assert server.mailbox_messages("user1", "Projects/Alpha") == [APPENDED]

    # IDLE: the "+" came, then the EXISTS of the SMTP delivery, then imapflow's DONE.
    idle = out["idle"]
    assert idle["exists"] == [{"path": "INBOX", "count": 2, "prevCount": 1}]
    order = idle["order"]
    assert 0 <= order["idleAt"] < order["contAt"] < order["existsAt"] < order["doneAt"], order
    assert idle["newest"] == {"uid": 4, "subject": "wakes idle"}
    assert [m["uid"] for m in server.mailbox("user1")] == [1, 4]
    assert out["logout"] is True
