"""IMAP mailboxes (RFC 3501 §6.3, §6.4.1-3, §6.4.7-8; RFC 4315 UIDPLUS,
RFC 6851 MOVE, RFC 3691 UNSELECT, RFC 6154 SPECIAL-USE, RFC 3348
CHILDREN, RFC 7888 LITERAL+): SELECT and EXAMINE, CREATE, DELETE,
RENAME (INBOX too), SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND
(synchronizing and LITERAL+, refusals before the literal), CHECK, CLOSE,
UNSELECT, EXPUNGE and UID EXPUNGE, COPY, MOVE and their UID forms. imaplib
for the common path, raw sockets for exact replies. Both io backends.
"""

from __future__ import annotations

import re

import pytest

from imap_helpers import Raw, append, appenduid, deliver, fetches, imap, imap_server, ok, raw, untagged_named


@pytest.fixture
def server(make_server):
    return imap_server(make_server)


def listed(untagged: list[bytes]) -> dict[str, set]:
    """LIST/LSUB responses -> {name: attributes}."""
    out = {}
    for r in untagged:
        m = re.fullmatch(rb'\* (?:LIST|LSUB) \(([^)]*)\) "/" ("(?:[^"\\]|\\.)*"|\S+)\r\n', r)
        assert m, r
        name = m.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[name] = set(m.group(1).decode().split())
    return out


def status(r: Raw, name: str, items: str = "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN") -> dict[str, int]:
    (line,) = r.ok(f"STATUS {name} ({items})")
    m = re.fullmatch(rb"\* STATUS (.+) \(([^)]*)\)\r\n", line)
    assert m, line
    v = m.group(2).decode().split()
    return {v[i]: int(v[i + 1]) for i in range(0, len(v), 2)}


def select_info(untagged: list[bytes]) -> dict:
    info = {}
    for r in untagged:
        if m := re.fullmatch(rb"\* (\d+) (EXISTS|RECENT)\r\n", r):
            info[m.group(2).decode()] = int(m.group(1))
        elif m := re.match(rb"\* OK \[(UIDVALIDITY|UIDNEXT|UNSEEN) (\d+)\]", r):
            info[m.group(1).decode()] = int(m.group(2))
        elif m := re.match(rb"\* OK \[PERMANENTFLAGS \(([^)]*)\)\]", r):
            info["PERMANENTFLAGS"] = m.group(1).decode().split()
        elif m := re.match(rb"\* FLAGS \(([^)]*)\)", r):
            info["FLAGS"] = m.group(1).decode().split()
    return info


# ---------------------------------------------------------------------------
# folders

def test_create_delete_rename_and_list_with_hierarchy_children_and_special_use(server):
    r = raw(server, "user1")
    for name in ("Work", "Work/2026/Q1", '"My Folder/"', "Sent", "Trash", "Drafts", "Junk", "Archive", "INBOX/Sub"):
        r.ok(f"CREATE {name}")
    got = listed(r.ok('LIST "" *'))
    assert list(got)[0] == "INBOX"                                    # INBOX first
    assert got == {
        "INBOX": {"\\HasChildren"}, "INBOX/Sub": {"\\HasNoChildren"},
        "Work": {"\\HasChildren"}, "Work/2026": {"\\HasChildren"},   # a missing superior is created too
        "Work/2026/Q1": {"\\HasNoChildren"}, "My Folder": {"\\HasNoChildren"},
        "Sent": {"\\HasNoChildren", "\\Sent"}, "Trash": {"\\HasNoChildren", "\\Trash"},
        "Drafts": {"\\HasNoChildren", "\\Drafts"}, "Junk": {"\\HasNoChildren", "\\Junk"},
        "Archive": {"\\HasNoChildren", "\\Archive"},
    }
    # Patterns: % stops at the delimiter, * does not; the reference is prepended; INBOX in any case.
    assert set(listed(r.ok('LIST "" %'))) == {"INBOX", "Work", "My Folder", "Sent", "Trash", "Drafts", "Junk",
                                              "Archive"}
    assert set(listed(r.ok('LIST "" Work/%'))) == {"Work/2026"}
    assert set(listed(r.ok('LIST Work/ *'))) == {"Work/2026", "Work/2026/Q1"}
    assert set(listed(r.ok('LIST "" "*/Q1"'))) == {"Work/2026/Q1"}
    assert set(listed(r.ok('LIST "" inbox'))) == {"INBOX"}
    assert r.ok('LIST "" ""') == [b'* LIST (\\Noselect) "/" ""\r\n']   # the delimiter
    assert r.ok('LIST "" nothing*here') == []
    # Refusals.
    for cmd, want in (("CREATE Work", rb"NO \[ALREADYEXISTS\]"), ("CREATE inbox", rb"NO \[ALREADYEXISTS\]"),
                      ("CREATE /rooted", rb"NO \[CANNOT\]"), ("DELETE INBOX", rb"NO "),
                      ("DELETE Nope", rb"NO \[NONEXISTENT\]"), ("RENAME Nope Other", rb"NO \[NONEXISTENT\]"),
                      ("RENAME Sent Trash", rb"NO \[ALREADYEXISTS\]"), ("CREATE", rb"BAD ")):
        tagged = r.cmd(cmd)[1]
        assert re.match(rb"t\d+ " + want, tagged), (cmd, tagged)
    # RENAME takes the inferiors along; DELETE of a parent leaves its
    # children and the parent as a \Noselect level.
    r.ok("RENAME Work Jobs")
    got = listed(r.ok('LIST "" *'))
    assert {"Jobs", "Jobs/2026", "Jobs/2026/Q1"} <= set(got) and not any(n.startswith("Work") for n in got)
    r.ok("DELETE Jobs/2026")
    got = listed(r.ok('LIST "" Jobs*'))
    assert got == {"Jobs": {"\\HasChildren"}, "Jobs/2026": {"\\Noselect", "\\HasChildren"},
                   "Jobs/2026/Q1": {"\\HasNoChildren"}}
    assert re.match(rb"t\d+ NO ", r.cmd("SELECT Jobs/2026")[1])
    r.ok("DELETE Trash")
    r.ok('DELETE "My Folder"')
    assert "Trash" not in listed(r.ok('LIST "" *')) and "My Folder" not in listed(r.ok('LIST "" *'))
    r.close()


def test_rename_refuses_when_an_inferior_would_take_a_name_in_use(server):
    deliver(server, "user2", n=2)
    r = raw(server, "user2")
    r.ok("CREATE A/x")
    r.ok("CREATE B/x")
    r.ok("DELETE B")                       # B/x stays, B is a \Noselect level
    r.ok("SELECT INBOX")
    r.ok("COPY 1 A/x")
    r.ok("COPY 2 B/x")
    _, tagged = r.cmd("RENAME A B")
    if re.match(rb"t\d+ OK ", tagged):
        # Done: then every message is still reachable, under one name each.
        names = listed(r.ok('LIST "" *'))
        selectable = [n for n, attrs in names.items() if "\\Noselect" not in attrs]
        assert sum(status(r, n, "MESSAGES")["MESSAGES"] for n in selectable) == 4, names
        assert len(r.ok('LIST "" B/x')) == 1
    else:
        # Refused: nothing changed.
        assert re.match(rb"t\d+ NO ", tagged)
        assert status(r, "A/x", "MESSAGES") == {"MESSAGES": 1}
        assert status(r, "B/x", "MESSAGES") == {"MESSAGES": 1}
    r.close()


def test_a_refused_rename_changes_nothing(server):
    r = raw(server, "user1")
    deep = "A/" + "x" * 250                                    # 252 bytes: fits
    r.ok("CREATE A")
    r.ok(f"CREATE {deep}")
    _, tagged = r.cmd("RENAME A BBBBBBBBBB")                  # its inferior would need 261 bytes
    assert re.match(rb"t\d+ NO ", tagged), tagged
    assert listed(r.ok('LIST "" %')) == {"INBOX": {"\\HasNoChildren"}, "A": {"\\HasChildren"}}
    r.close()


def test_rename_inbox_moves_its_messages_and_leaves_it_empty(server):
    deliver(server, "user3", n=2)
    c = imap(server, "user3")
    ok(c.create("INBOX/kept"))
    ok(c.rename("INBOX", '"Old Mail"'))
    assert ok(c.status("INBOX", "(MESSAGES)")) == [b"INBOX (MESSAGES 0)"]
    assert ok(c.status('"Old Mail"', "(MESSAGES)")) == [b'"Old Mail" (MESSAGES 2)']
    names = b"\n".join(ok(c.list()))
    assert b'"/" INBOX/kept' in names and b'"/" "Old Mail"' in names   # inferiors of INBOX stay
    # New mail still arrives in INBOX.
    deliver(server, "user3")
    assert ok(c.select("INBOX")) == [b"1"]
    c.logout()


def test_subscribe_unsubscribe_and_lsub(server):
    r = raw(server, "user4")
    r.ok("CREATE News")
    r.ok("CREATE News/Local")
    r.ok("SUBSCRIBE News")
    r.ok("SUBSCRIBE News/Local")
    r.ok("SUBSCRIBE Gone")                     # a name that is no folder may be subscribed (§6.3.6)
    r.ok("SUBSCRIBE INBOX")
    assert listed(r.ok('LSUB "" *')) == {"News": set(), "News/Local": set(), "Gone": {"\\Noselect"},
                                         "INBOX": set()}
    assert set(listed(r.ok('LSUB "" News/%'))) == {"News/Local"}
    assert set(listed(r.ok('LSUB "" %'))) == {"News", "Gone", "INBOX"}
    r.ok("UNSUBSCRIBE News")
    r.ok("UNSUBSCRIBE Gone")
    assert set(listed(r.ok('LSUB "" *'))) == {"News/Local", "INBOX"}
    assert r.ok('LSUB "" ""') == [b'* LSUB (\\Noselect) "/" ""\r\n']
    r.close()
    c = imap(server, "user4")
    assert sorted(ok(c.lsub())) == [b'() "/" INBOX', b'() "/" News/Local']
    c.logout()


def test_status_reports_every_item_without_selecting(server):
    deliver(server, "user5", n=3)
    r = raw(server, "user5")
    before = status(r, "INBOX")
    assert before["MESSAGES"] == 3 and before["UNSEEN"] == 3 and before["RECENT"] == 3 and before["UIDNEXT"] == 4
    r.ok("SELECT INBOX")
    r.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    r.ok("UNSELECT")
    after = status(r, "INBOX")
    assert after["UNSEEN"] == 2 and after["RECENT"] == 0              # the SELECT took \Recent
    assert after["UIDVALIDITY"] == before["UIDVALIDITY"]
    r.ok("CREATE Empty")
    empty = status(r, "Empty")
    assert empty["MESSAGES"] == 0 and empty["UIDNEXT"] == 1 and empty["UIDVALIDITY"] > 0
    assert empty["UIDVALIDITY"] != before["UIDVALIDITY"]
    assert status(r, "inbox", "UIDNEXT") == {"UIDNEXT": 4}
    # A folder deleted and made again under its name gets a new UIDVALIDITY (§2.3.1.1).
    seen = {before["UIDVALIDITY"], empty["UIDVALIDITY"]}
    for _ in range(3):
        r.ok("DELETE Empty")
        r.ok("CREATE Empty")
        v = status(r, "Empty", "UIDVALIDITY")["UIDVALIDITY"]
        assert v not in seen
        seen.add(v)
    assert re.match(rb"t\d+ NO \[NONEXISTENT\]", r.cmd("STATUS Nope (MESSAGES)")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("STATUS INBOX (BOGUS)")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("STATUS INBOX")[1])
    r.close()


# ---------------------------------------------------------------------------
# SELECT, EXAMINE, CHECK, CLOSE, UNSELECT, EXPUNGE

def test_select_and_examine_answer_every_required_response(server):
    deliver(server, "user1", n=3)
    r = raw(server, "user1")
    untagged, tagged = r.cmd("EXAMINE INBOX")
    assert re.match(rb"t\d+ OK \[READ-ONLY\]", tagged)
    info = select_info(untagged)
    assert info["EXISTS"] == 3 and info["RECENT"] == 3 and info["UNSEEN"] == 1 and info["UIDNEXT"] == 4
    assert info["FLAGS"] == ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
    assert info["PERMANENTFLAGS"] == []
    assert re.match(rb"t\d+ NO ", r.cmd("EXPUNGE")[1])
    assert re.match(rb"t\d+ NO ", r.cmd("STORE 1 +FLAGS (\\Seen)")[1])
    untagged, tagged = r.cmd("select inbox")
    assert re.match(rb"t\d+ OK \[READ-WRITE\]", tagged)
    info2 = select_info(untagged)
    assert info2["EXISTS"] == 3 and info2["RECENT"] == 3 and info2["UIDVALIDITY"] == info["UIDVALIDITY"]
    assert set(info2["PERMANENTFLAGS"]) == {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\*"}
    r.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    # A second session: \Recent was taken by the first; UNSEEN is now 2.
    other = raw(server, "user1")
    info3 = select_info(other.ok("SELECT INBOX"))
    assert info3["EXISTS"] == 3 and info3["RECENT"] == 0 and info3["UNSEEN"] == 2
    other.close()
    # A failed SELECT leaves the session with no mailbox selected.
    assert re.match(rb"t\d+ NO ", r.cmd("SELECT Nope")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("FETCH 1 FLAGS")[1])
    r.ok("CREATE Empty")
    info4 = select_info(r.ok("SELECT Empty"))
    assert info4["EXISTS"] == 0 and info4["UIDNEXT"] == 1 and "UNSEEN" not in info4
    r.close()


def test_expunge_close_unselect_and_check(server):
    deliver(server, "user2", n=5)
    r = raw(server, "user2")
    r.ok("SELECT INBOX")
    assert r.ok("CHECK") == []
    r.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    untagged = r.ok("EXPUNGE")
    assert untagged == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]     # 4 is 3 once 2 is gone
    assert [m["uid"] for m in server.mailbox("user2")] == [1, 3, 5]
    # UID EXPUNGE (RFC 4315): only the named UIDs among the \Deleted.
    r.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert r.ok("UID EXPUNGE 3:4") == [b"* 2 EXPUNGE\r\n"]
    assert [m["uid"] for m in server.mailbox("user2")] == [1, 5]
    r.ok("UID STORE 5 -FLAGS.SILENT (\\Deleted)")
    # UNSELECT does not expunge; CLOSE does, silently.
    r.ok("UNSELECT")
    assert [m["uid"] for m in server.mailbox("user2")] == [1, 5]
    assert re.match(rb"t\d+ BAD ", r.cmd("CLOSE")[1])              # nothing selected
    r.ok("SELECT INBOX")
    assert r.ok("CLOSE") == []
    assert [m["uid"] for m in server.mailbox("user2")] == [5]
    # CLOSE of an EXAMINEd mailbox expunges nothing.
    r.ok("SELECT INBOX")
    r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r.ok("EXAMINE INBOX")
    r.ok("CLOSE")
    assert [m["uid"] for m in server.mailbox("user2")] == [5]
    r.close()


def test_deleting_the_folder_another_session_has_selected_says_bye_to_it(server):
    deliver(server, "user3")
    a = raw(server, "user3")
    a.ok("CREATE Shared")
    a.ok("SELECT INBOX")
    a.ok("COPY 1 Shared")
    a.ok("SELECT Shared")
    b = raw(server, "user3")
    b.ok("DELETE Shared")
    a.send(b"n1 NOOP\r\n")
    assert a.response().startswith(b"* BYE ")
    assert a.closed()
    b.ok("SELECT INBOX")
    b.close()


# ---------------------------------------------------------------------------
# APPEND

def test_append_with_synchronizing_and_non_synchronizing_literals_flags_and_date(server):
    r = raw(server, "user4")
    r.ok("CREATE Drafts")
    validity = status(r, "Drafts", "UIDVALIDITY")["UIDVALIDITY"]
    msgs = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n", b"Subject: three\r\n\r\n"]
    _, tagged = append(r, "Drafts", msgs[0], sync=True)
    assert appenduid(tagged) == (validity, 1)
    _, tagged = append(r, "Drafts", msgs[1], flags="\\Draft \\Seen", date="01-Jan-2026 00:00:00 +0000")
    assert appenduid(tagged) == (validity, 2)
    _, tagged = append(r, "Drafts", msgs[2], flags="")
    assert appenduid(tagged) == (validity, 3)
    r.ok("SELECT Drafts")
    got = fetches(r.ok("FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])"))
    assert [got[n]["BODY[]"] for n in (1, 2, 3)] == msgs
    assert set(got[2]["FLAGS"]) - {"\\Recent"} == {"\\Draft", "\\Seen"}
    assert got[2]["INTERNALDATE"] == "01-Jan-2026 00:00:00 +0000"
    assert set(got[1]["FLAGS"]) - {"\\Recent"} == set()
    # APPEND to the selected mailbox: EXISTS arrives with the tagged OK.
    untagged, tagged = append(r, "Drafts", b"Subject: four\r\n\r\n4\r\n")
    assert b"* 4 EXISTS\r\n" in untagged and appenduid(tagged) == (validity, 4)
    # imaplib's APPEND (synchronizing) to INBOX.
    c = imap(server, "user4")
    typ, data = c.append("INBOX", "(\\Flagged)", None, b"Subject: via imaplib\r\n\r\nbody\r\n")
    assert typ == "OK" and b"APPENDUID" in data[0]
    ok(c.select("INBOX"))
    assert ok(c.fetch("1", "(FLAGS BODY.PEEK[])"))[0][1] == b"Subject: via imaplib\r\n\r\nbody\r\n"
    c.logout()
    r.close()


def test_append_is_refused_before_the_literal_is_sent(server):
    r = raw(server, "user5")
    # No such mailbox: NO [TRYCREATE] instead of "+" (synchronizing) ...
    t = r.tag()
    r.send(f"{t} APPEND Nope {{20}}\r\n")
    assert re.match(rb"t\d+ NO \[TRYCREATE\]", r.response())
    # ... and a non-synchronizing literal is read and dropped.
    t = r.tag()
    r.send(f"{t} APPEND Nope {{20+}}\r\n".encode() + b"x" * 20 + b"\r\n")
    assert re.match(rb"t\d+ NO \[TRYCREATE\]", r.response())
    # Past the message size limit (10 MiB here): NO [TOOBIG], no "+".
    t = r.tag()
    r.send(f"{t} APPEND INBOX {{{20 * 1024 * 1024}}}\r\n")
    assert re.match(rb"t\d+ NO \[TOOBIG\]", r.response())
    # Bad flags or date: BAD (before or after the literal).
    for args in ("(\\Recent)", '"32-Foo-2026 00:00:00 +0000"', "(\\Seen"):
        t = r.tag()
        r.send(f"{t} APPEND INBOX {args} {{4}}\r\n")
        got = r.response()
        if got.startswith(b"+ "):
            r.send(b"abc\n\r\n")
            got = r.until_tagged(t)[1]
        assert re.match(rb"t\d+ BAD ", got), (args, got)
    # A second message in one APPEND (MULTIAPPEND is not offered): BAD, nothing stored.
    t = r.tag()
    r.send(f"{t} APPEND INBOX {{4+}}\r\nabc\n {{4+}}\r\ndef\n\r\n")
    assert re.match(rb"t\d+ BAD ", r.until_tagged(t)[1])
    assert server.mailbox("user5") == []
    # The session goes on.
    _, tagged = append(r, "INBOX", b"ok\r\n")
    assert appenduid(tagged)[1] == 1
    r.close()


# ---------------------------------------------------------------------------
# COPY, MOVE

def test_copy_and_move_by_sequence_number_and_uid_with_copyuid(server):
    deliver(server, "user1", n=5)
    r = raw(server, "user1")
    r.ok("CREATE Archive")
    validity = status(r, "Archive", "UIDVALIDITY")["UIDVALIDITY"]
    r.ok("SELECT INBOX")
    r.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    contents = fetches(r.ok("FETCH 1:5 BODY.PEEK[]"))
    # COPY keeps flags and bytes, answers COPYUID (source UIDs, new UIDs).
    _, tagged = r.cmd("COPY 1:2 Archive")
    assert re.match(rb"t\d+ OK \[COPYUID %d 1:2 1:2\]" % validity, tagged), tagged
    _, tagged = r.cmd("UID COPY 4,5 Archive")
    assert re.match(rb"t\d+ OK \[COPYUID %d 4:5 3:4\]" % validity, tagged), tagged
    assert [m["uid"] for m in server.mailbox("user1")] == [1, 2, 3, 4, 5]
    # MOVE: an untagged OK with COPYUID, then EXPUNGE, then the tagged OK.
    untagged, tagged = r.cmd("MOVE 3 Archive")
    assert re.match(rb"\* OK \[COPYUID %d 3 5\]" % validity, untagged[0]), untagged
    assert untagged[1:] == [b"* 3 EXPUNGE\r\n"] and re.match(rb"t\d+ OK ", tagged)
    untagged, tagged = r.cmd("UID MOVE 1:2 Archive")
    assert re.match(rb"\* OK \[COPYUID %d 1:2 6:7\]" % validity, untagged[0]), untagged
    assert untagged[1:] == [b"* 1 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"]
    assert [m["uid"] for m in server.mailbox("user1")] == [4, 5]
    box = server.mailbox("user1", "Archive")
    assert [m["uid"] for m in box] == [1, 2, 3, 4, 5, 6, 7]
    assert box[1]["flags"] == ["\\Flagged"] and box[6]["flags"] == ["\\Flagged"]
    r.ok("SELECT Archive")
    archived = fetches(r.ok("FETCH 1:7 BODY.PEEK[]"))
    order = [1, 2, 4, 5, 3, 1, 2]                 # the original sequence numbers, in Archive UID order
    assert [archived[i + 1]["BODY[]"] for i in range(7)] == [contents[n]["BODY[]"] for n in order]
    # Refusals: no such mailbox (TRYCREATE), MOVE to itself, a number past EXISTS.
    assert re.match(rb"t\d+ NO \[TRYCREATE\]", r.cmd("COPY 1 Nope")[1])
    assert re.match(rb"t\d+ NO \[TRYCREATE\]", r.cmd("MOVE 1 Nope")[1])
    assert re.match(rb"t\d+ NO ", r.cmd("MOVE 1 Archive")[1])
    assert re.match(rb"t\d+ BAD ", r.cmd("COPY 9 INBOX")[1])
    # A UID set naming nothing copies nothing, and says OK.
    assert re.match(rb"t\d+ OK ", r.cmd("UID COPY 100:200 INBOX")[1])
    # MOVE out of an EXAMINEd mailbox is NO; COPY out of it is fine.
    r.ok("EXAMINE Archive")
    assert re.match(rb"t\d+ NO ", r.cmd("MOVE 1 INBOX")[1])
    assert re.match(rb"t\d+ OK \[COPYUID ", r.cmd("COPY 1 INBOX")[1])
    r.close()
    # imaplib's COPY, and UID SEARCH in the target.
    c = imap(server, "user1")
    ok(c.select("Archive"))
    ok(c.copy("1", "INBOX"))
    ok(c.select("INBOX"))
    assert len(ok(c.uid("SEARCH", None, "ALL"))[0].split()) == 4
    c.logout()


def test_a_session_sees_copies_and_moves_into_its_selected_folder(server):
    deliver(server, "user2", n=2)
    watcher = raw(server, "user2")
    watcher.ok("CREATE Later")
    watcher.ok("SELECT Later")
    mover = imap(server, "user2")
    ok(mover.select("INBOX"))
    ok(mover.copy("1", "Later"))
    typ, _ = mover._simple_command("MOVE", "2", "Later")
    assert typ == "OK"
    untagged = watcher.ok("NOOP")
    assert untagged_named(untagged, b"EXISTS") == [b"* 2 EXISTS\r\n"]
    assert sorted(fetches(watcher.ok("FETCH 1:* UID"))) == [1, 2]
    ok(mover.noop())
    assert ok(mover.search(None, "ALL")) == [b"1"]
    mover.logout()
    watcher.close()
