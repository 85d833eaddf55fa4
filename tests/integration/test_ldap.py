"""LDAPv3 (RFC 4511) over the directory, read-only, with two real clients:
OpenLDAP's `ldapsearch`/`ldapwhoami`/`ldapadd` (Debian ldap-utils) and
python3-ldap3 (which also reads the rootDSE and the subschema and checks
our names against it). Checked: the rootDSE and cn=Subschema; anonymous and
simple binds, a wrong password and an unknown DN both 49, a DN with no
password 53, a yescrypt hash from `posthorn mkpasswd` checked as POP3
checks it; every filter type and combinations, each scope, attribute
selection (*, +, 1.1, named, typesOnly); sizeLimit (4 after the entries),
the server's size_limit, paged results over 1,200 users; groups, member
and memberOf; anonymous = false; writes refused with 53; malformed BER,
truncated PDUs, a 1 GiB length prefix and random bytes get the Notice of
Disconnection or a close, and a fresh client is served normally after;
an idle connection is closed after `[ldap] timeout`, as slapd's idletimeout.
Both io backends (the `io` fixture).
"""

from __future__ import annotations

import base64
import poplib
import random
import socket
import subprocess

import ldap3  # python3-ldap3 (tools/bootstrap.sh installs it)
import pytest

from conftest import TIMEOUT_S, posthorn_bin, to_toml

BASE = "dc=example,dc=test"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
NOTICE_OID = b"1.3.6.1.4.1.1466.20036"

USERS = [
    {"name": "alice", "password": "{PLAIN}alice pw", "display_name": "Alice Archer",
     "addresses": ["alice@example.test", "a.archer@example.test"], "given_name": "Alice", "surname": "Archer",
     "title": "Engineer", "department": "R&D", "telephone": "+1 555 0100"},
    {"name": "bob", "password": "{PLAIN}bobpw", "display_name": "Bob Baker", "addresses": ["bob@example.test"],
     "given_name": "Bob", "surname": "Baker", "title": "Manager", "department": "Sales"},
    {"name": "carol", "password": "{PLAIN}carolpw", "display_name": "Carol Clark",
     "addresses": ["carol@example.test"], "given_name": "Carol", "surname": "Clark", "title": "Engineer"},
    {"name": "dave", "password": "{PLAIN}davepw", "display_name": "", "addresses": ["dave@example.test"]},
]
GROUP_LIST = [
    {"name": "engineers", "description": "Engineering", "members": ["alice", "carol"]},
    {"name": "everyone", "description": "All of us", "members": ["alice", "bob", "carol", "dave"]},
]


def uid(name: str) -> str:
    return f"uid={name},{PEOPLE}"


def ldap_server(make_server, users=None, groups=None, **extra):
    return make_server(users=users if users is not None else USERS,
                       groups=groups if groups is not None else GROUP_LIST,
                       aliases={}, **extra)


# ---------------------------------------------------------------------------
# ldapsearch and friends (ldap-utils)

def run_tool(tool: str, server, *args: str, bind: tuple[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [tool, "-x", "-H", f"ldap://127.0.0.1:{server.ldap_port}"]
    if bind:
        cmd += ["-D", bind[0], "-w", bind[1]]
    cmd += list(args)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S * 4)


def parse_ldif(text: str) -> list[dict]:
    """-LLL -o ldif-wrap=no output: a dict per entry, 'dn' plus attr -> [values]."""
    entries = []
    for block in text.strip().split("\n\n"):
        entry: dict = {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition(":")
            assert sep, f"not an LDIF line: {line!r}"
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode()
            else:
                value = value[1:] if value.startswith(" ") else value
            entry.setdefault(name, []).append(value)
        if entry:
            entry["dn"] = entry["dn"][0]
            entries.append(entry)
    return entries


def ldapsearch(server, base: str, filt: str = "(objectClass=*)", *attrs: str, scope: str = "sub",
               options: tuple = (), bind=None, check: bool = True) -> tuple[int, list[dict]]:
    r = run_tool("ldapsearch", server, "-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope, *options, filt,
                 *attrs, bind=bind)
    if check:
        assert r.returncode == 0, f"ldapsearch {filt}: rc {r.returncode}\n{r.stderr}"
    return r.returncode, parse_ldif(r.stdout)


def dns(entries: list[dict]) -> list[str]:
    return sorted(e["dn"] for e in entries)


# ---------------------------------------------------------------------------
# ldap3

def connect(server, user: str | None = None, password: str | None = None, get_info=None):
    srv = ldap3.Server("127.0.0.1", port=server.ldap_port, get_info=get_info or ldap3.NONE,
                       connect_timeout=int(TIMEOUT_S))
    conn = ldap3.Connection(srv, user=user, password=password, receive_timeout=int(TIMEOUT_S), raise_exceptions=False)
    return conn


def l3_search(conn, base, filt, scope=ldap3.SUBTREE, attributes=None, **kw) -> list[str]:
    conn.search(base, filt, search_scope=scope, attributes=attributes or [], **kw)
    assert conn.result["result"] == 0, conn.result
    return sorted(e["dn"] for e in conn.response if e.get("type") == "searchResEntry")


# ---------------------------------------------------------------------------

def test_root_dse_and_subschema_are_read_by_both_clients(make_server):
    server = ldap_server(make_server)
    _, entries = ldapsearch(server, "", "(objectClass=*)", "+", scope="base")
    assert len(entries) == 1
    root = entries[0]
    assert root["namingContexts"] == [BASE]
    assert root["supportedLDAPVersion"] == ["3"]
    assert "1.3.6.1.4.1.4203.1.11.3" in root["supportedExtension"]
    assert "1.2.840.113556.1.4.319" in root["supportedControl"]
    assert root["subschemaSubentry"] == ["cn=Subschema"]
    # ldap3 reads the rootDSE and parses our subschema (RFC 4512 syntax).
    conn = connect(server, get_info=ldap3.ALL)
    assert conn.bind()
    info, schema = conn.server.info, conn.server.schema
    assert info is not None and BASE in info.naming_contexts
    assert 3 in info.supported_ldap_versions or "3" in info.supported_ldap_versions
    assert schema is not None
    assert "inetOrgPerson" in schema.object_classes
    assert "mail" in schema.attribute_types and "memberOf" in schema.attribute_types
    conn.unbind()


def test_anonymous_and_simple_binds_and_whoami(make_server):
    server = ldap_server(make_server)
    r = run_tool("ldapwhoami", server)
    assert r.returncode == 0 and r.stdout.strip() == "anonymous", r
    r = run_tool("ldapwhoami", server, bind=(uid("alice"), "alice pw"))
    assert r.returncode == 0 and r.stdout.strip() == f"dn:{uid('alice')}", r
    # A wrong password and an unknown DN: 49 both, nothing said of which.
    wrong = run_tool("ldapwhoami", server, bind=(uid("alice"), "nope"))
    unknown = run_tool("ldapwhoami", server, bind=(uid("mallory"), "nope"))
    assert wrong.returncode == 49 and unknown.returncode == 49
    assert wrong.stderr.replace("alice", "X") == unknown.stderr.replace("mallory", "X")
    # RFC 4513 §5.1.2: a name with no password is an unauthenticated bind.
    r = run_tool("ldapwhoami", server, bind=(uid("bob"), ""))
    assert r.returncode == 53, r
    conn = connect(server, "UID=Bob, OU=People, DC=Example, DC=Test", "bobpw")
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{uid('bob')}"
    conn.unbind()
    conn = connect(server, uid("bob"), "wrong")
    assert not conn.bind()
    assert conn.result["result"] == 49
    assert any(e.get("op") == "bind" and e.get("code") == "49" for e in server.events("result"))


FILTERS = [
    ("(mail=ALICE@example.test)", ["alice"]),
    ("(mail=a.archer@example.test)", ["alice"]),
    ("(uid=bob)", ["bob"]),
    ("(cn=carol*)", ["carol"]),
    ("(cn=*a*er)", ["alice", "bob"]),
    ("(sn=*ar*)", ["alice", "carol"]),
    ("(givenName=*)", ["alice", "bob", "carol"]),
    ("(telephoneNumber=+15550100)", ["alice"]),
    ("(sn>=C)", ["carol", "dave"]),
    ("(sn<=Baker)", ["alice", "bob"]),
    ("(cn~=alicearcher)", ["alice"]),
    ("(&(objectClass=inetOrgPerson)(title=engineer))", ["alice", "carol"]),
    ("(|(uid=dave)(mail=bob@example.test))", ["bob", "dave"]),
    ("(&(objectClass=person)(!(givenName=*)))", ["dave"]),
    ("(&(title=Engineer)(|(ou=R&D)(sn=Clark))(!(uid=carol)))", ["alice"]),
    ("(memberOf=cn=engineers,ou=groups,dc=example,dc=test)", ["alice", "carol"]),
    ("(uid:=carol)", ["carol"]),
    ("(shoeSize=42)", []),
]


def test_each_filter_type_with_both_clients(make_server):
    server = ldap_server(make_server)
    conn = connect(server)
    assert conn.bind()
    for filt, want in FILTERS:
        expected = sorted(uid(n) for n in want)
        _, entries = ldapsearch(server, PEOPLE, filt, "1.1")
        assert dns(entries) == expected, filt
        if "shoeSize" in filt or ":=" in filt:
            continue   # ldap3 refuses names it does not know, and has no extensible match parser
        assert l3_search(conn, PEOPLE, filt) == expected, filt
    conn.unbind()


def test_each_scope(make_server):
    server = ldap_server(make_server)
    assert len(ldapsearch(server, BASE, scope="base")[1]) == 1
    assert dns(ldapsearch(server, BASE, scope="one")[1]) == sorted([PEOPLE, GROUPS])
    assert len(ldapsearch(server, BASE, scope="sub")[1]) == 3 + len(USERS) + len(GROUP_LIST)
    assert len(ldapsearch(server, PEOPLE, scope="one")[1]) == len(USERS)
    rc, _ = ldapsearch(server, f"uid=ghost,{PEOPLE}", check=False)
    assert rc == 32
    conn = connect(server)
    assert conn.bind()
    assert l3_search(conn, GROUPS, "(objectClass=*)", scope=ldap3.LEVEL) == sorted(
        f"cn={g['name']},{GROUPS}" for g in GROUP_LIST)
    assert l3_search(conn, uid("bob"), "(objectClass=*)", scope=ldap3.BASE) == [uid("bob")]


def test_attribute_selection(make_server):
    server = ldap_server(make_server)
    _, [alice] = ldapsearch(server, PEOPLE, "(uid=alice)")
    assert alice["objectClass"] == ["top", "person", "organizationalPerson", "inetOrgPerson"]
    assert alice["cn"] == ["Alice Archer"] and alice["sn"] == ["Archer"] and alice["givenName"] == ["Alice"]
    assert alice["mail"] == ["alice@example.test", "a.archer@example.test"]
    assert alice["ou"] == ["R&D"] and alice["title"] == ["Engineer"] and alice["telephoneNumber"] == ["+1 555 0100"]
    assert "memberOf" not in alice and "entryDN" not in alice   # operational
    _, [dave] = ldapsearch(server, PEOPLE, "(uid=dave)")
    assert dave["cn"] == ["dave"] and dave["sn"] == ["dave"]   # sn is MUST in person
    _, [ops] = ldapsearch(server, PEOPLE, "(uid=alice)", "+")
    assert set(ops) == {"dn", "memberOf", "entryDN", "structuralObjectClass", "subschemaSubentry", "hasSubordinates"}
    assert ops["entryDN"] == [uid("alice")] and ops["structuralObjectClass"] == ["inetOrgPerson"]
    _, [one] = ldapsearch(server, PEOPLE, "(uid=alice)", "1.1")
    assert set(one) == {"dn"}
    _, [some] = ldapsearch(server, PEOPLE, "(uid=alice)", "MAIL", "cn")
    assert set(some) == {"dn", "mail", "cn"}
    r = run_tool("ldapsearch", server, "-LLL", "-A", "-b", PEOPLE, "(uid=alice)", "mail")
    assert r.returncode == 0 and "mail" in r.stdout and "alice@" not in r.stdout   # typesOnly
    conn = connect(server)
    assert conn.bind()
    conn.search(PEOPLE, "(uid=bob)", attributes=[ldap3.ALL_ATTRIBUTES, ldap3.ALL_OPERATIONAL_ATTRIBUTES])
    attrs = conn.response[0]["attributes"]
    assert attrs["mail"] == ["bob@example.test"] and attrs["memberOf"] == [f"cn=everyone,{GROUPS}"]


def test_size_limits_from_the_client_and_the_server(make_server):
    server = ldap_server(make_server, ldap={"size_limit": 3})
    rc, entries = ldapsearch(server, PEOPLE, "(objectClass=person)", "1.1", options=("-z", "2"), check=False)
    assert rc == 4 and len(entries) == 2
    rc, entries = ldapsearch(server, PEOPLE, "(objectClass=person)", "1.1", check=False)
    assert rc == 4 and len(entries) == 3   # the server's limit
    rc, entries = ldapsearch(server, PEOPLE, "(title=engineer)", "1.1")
    assert rc == 0 and len(entries) == 2
    conn = connect(server)
    assert conn.bind()
    conn.search(PEOPLE, "(objectClass=person)", size_limit=1)
    assert conn.result["result"] == 4
    assert len([e for e in conn.response if e.get("type") == "searchResEntry"]) == 1


def test_paged_results_over_1200_users(make_server):
    users = [{"name": f"u{i:04d}", "password": "{PLAIN}x", "display_name": f"Person {i:04d}",
              "addresses": [f"u{i:04d}@example.test"]} for i in range(1200)]
    server = ldap_server(make_server, users=users, groups=[])
    # Without paging the server's size limit (500, as slapd) applies.
    rc, entries = ldapsearch(server, PEOPLE, "(objectClass=inetOrgPerson)", "1.1", check=False)
    assert rc == 4 and len(entries) == 500
    rc, entries = ldapsearch(server, PEOPLE, "(objectClass=inetOrgPerson)", "uid", options=("-E", "pr=100/noprompt"))
    assert len(entries) == 1200
    assert sorted(e["uid"][0] for e in entries) == [u["name"] for u in users]
    conn = connect(server)
    assert conn.bind()
    got = list(conn.extend.standard.paged_search(PEOPLE, "(cn=person 1*)", attributes=["mail"], paged_size=64,
                                                 generator=True))
    mails = sorted(e["attributes"]["mail"][0] for e in got if e.get("type") == "searchResEntry")
    assert mails == sorted(f"u{i:04d}@example.test" for i in range(1000, 1200))
    assert conn.result["result"] == 0
    # An equality search on mail finds one among the 1,200.
    assert l3_search(conn, BASE, "(mail=U0777@EXAMPLE.TEST)") == [uid("u0777")]


def test_groups_member_and_member_of(make_server):
    server = ldap_server(make_server)
    _, groups = ldapsearch(server, GROUPS, "(objectClass=groupOfNames)", scope="one")
    by_cn = {g["cn"][0]: g for g in groups}
    assert sorted(by_cn) == ["engineers", "everyone"]
    assert by_cn["engineers"]["member"] == [uid("alice"), uid("carol")]
    assert by_cn["engineers"]["description"] == ["Engineering"]
    _, hits = ldapsearch(server, GROUPS, f"(member=UID=Carol,OU=People,{BASE.upper()})", "cn")
    assert sorted(h["cn"][0] for h in hits) == ["engineers", "everyone"]
    _, [bob] = ldapsearch(server, PEOPLE, "(uid=bob)", "memberOf")
    assert bob["memberOf"] == [f"cn=everyone,{GROUPS}"]


def test_anonymous_off_refuses_anonymous_reads_but_serves_binds(make_server):
    server = ldap_server(make_server, ldap={"anonymous": False})
    rc, _ = ldapsearch(server, BASE, check=False)
    assert rc == 50   # insufficientAccessRights
    conn = connect(server)
    assert conn.bind()
    conn.search(PEOPLE, "(uid=bob)")
    assert conn.result["result"] == 50
    _, [root] = ldapsearch(server, "", "(objectClass=*)", "namingContexts", scope="base")
    assert root["namingContexts"] == [BASE]
    _, entries = ldapsearch(server, PEOPLE, "(uid=bob)", bind=(uid("alice"), "alice pw"))
    assert dns(entries) == [uid("bob")]


def test_writes_are_refused_with_53(make_server):
    server = ldap_server(make_server)
    ldif = f"dn: uid=eve,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: eve\ncn: Eve\nsn: Eve\n"
    r = run_tool("ldapadd", server, bind=(uid("alice"), "alice pw"), stdin=ldif)
    assert r.returncode == 53, r
    r = run_tool("ldapmodify", server, bind=(uid("alice"), "alice pw"),
                 stdin=f"dn: {uid('alice')}\nchangetype: modify\nreplace: title\ntitle: Boss\n")
    assert r.returncode == 53, r
    r = run_tool("ldapdelete", server, uid("bob"), bind=(uid("alice"), "alice pw"))
    assert r.returncode == 53, r
    conn = connect(server, uid("alice"), "alice pw")
    assert conn.bind()
    assert not conn.add(f"uid=eve,{PEOPLE}", ["inetOrgPerson"], {"cn": "Eve", "sn": "Eve"})
    assert conn.result["result"] == 53
    assert not conn.modify(uid("bob"), {"title": [(ldap3.MODIFY_REPLACE, ["x"])]})
    assert conn.result["result"] == 53
    assert conn.compare(uid("bob"), "title", "manager") is True
    _, [bob] = ldapsearch(server, PEOPLE, "(uid=bob)", "title")
    assert bob["title"] == ["Manager"]


def raw_exchange(server, data: bytes, close_after_send: bool = False) -> tuple[bytes, bool]:
    """Sends bytes, reads until the server closes (or the timeout): what came back, and whether it closed."""
    s = socket.create_connection(("127.0.0.1", server.ldap_port), timeout=TIMEOUT_S)
    try:
        s.sendall(data)
        if close_after_send:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, True
            except socket.timeout:
                return got, False
            if not chunk:
                return got, True
            got += chunk
    finally:
        s.close()


def test_bad_input_gets_a_notice_of_disconnection_and_others_are_served(make_server):
    server = ldap_server(make_server)
    whoami = b"\x30\x1e\x02\x01\x01\x77\x19\x80\x17" + b"1.3.6.1.4.1.4203.1.11.3"
    cases = {
        "indefinite length": b"\x30\x80\x02\x01\x01\x42\x00\x00\x00",
        "five length bytes": b"\x30\x85\x00\x00\x00\x00\x05",
        "1 GiB length prefix": b"\x30\x84\x40\x00\x00\x00",
        "inner length past its parent": b"\x30\x06\x02\x01\x01\x42\x05\x00",
        "unknown operation": b"\x30\x05\x02\x01\x01\x99\x00",
        "not an LDAP message": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "whoami then garbage": whoami + b"\x30\x03\x02\x01\x01",
    }
    for what, data in cases.items():
        got, closed = raw_exchange(server, data)
        assert closed, what
        assert NOTICE_OID in got, f"{what}: no notice of disconnection in {got[:80]!r}"
    got, _ = raw_exchange(server, cases["whoami then garbage"])
    assert got.startswith(b"\x30") and got[5:6] == b"\x78"   # the WhoAmI before the garbage was answered
    # A truncated PDU, then the client hangs up: nothing to answer.
    got, closed = raw_exchange(server, b"\x30\x84\x00\x00\x01\x00\x02\x01", close_after_send=True)
    assert closed and got == b""
    rnd = random.Random(5)
    for _ in range(5):
        got, closed = raw_exchange(server, bytes(rnd.randrange(256) for _ in range(4096)))
        assert closed
    assert any(e.get("reason") == "pdu_too_big" for e in server.events("disconnect"))
    # Served normally afterwards, by both clients.
    _, entries = ldapsearch(server, PEOPLE, "(uid=carol)", "mail")
    assert entries[0]["mail"] == ["carol@example.test"]
    conn = connect(server, uid("carol"), "carolpw")
    assert conn.bind()
    assert server.alive()


def test_a_yescrypt_hash_binds_as_pop3_logs_in(make_server):
    hashed = subprocess.run([posthorn_bin(), "mkpasswd"], input=b"s3cret pass\n", capture_output=True, check=True,
                            timeout=60).stdout.decode().strip()
    assert hashed.startswith("$y$")
    users = USERS + [{"name": "erin", "password": hashed, "display_name": "Erin", "addresses": ["erin@example.test"]}]
    server = ldap_server(make_server, users=users)
    r = run_tool("ldapwhoami", server, bind=(uid("erin"), "s3cret pass"))
    assert r.returncode == 0 and r.stdout.strip() == f"dn:{uid('erin')}", r
    r = run_tool("ldapwhoami", server, bind=(uid("erin"), "s3cret"))
    assert r.returncode == 49
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=TIMEOUT_S)
    p.user("erin")
    p.pass_("s3cret pass")
    p.quit()
    conn = connect(server, uid("erin"), "s3cret pass")
    assert conn.bind() and conn.extend.standard.who_am_i() == f"dn:{uid('erin')}"


# ---------------------------------------------------------------------------
# raw LDAP over a socket, for pipelining and abandon

def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 128:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _int(v: int, tag: int = 0x02) -> bytes:
    return _tlv(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def _search(msgid: int, base: str, filt: bytes, attrs=(b"1.1",)) -> bytes:
    body = (_tlv(0x04, base.encode()) + _int(2, 0x0a) + _int(0, 0x0a) + _int(0) + _int(0) + _tlv(0x01, b"\x00")
            + filt + _tlv(0x30, b"".join(_tlv(0x04, a) for a in attrs)))
    return _tlv(0x30, _int(msgid) + _tlv(0x63, body))


def _whoami(msgid: int) -> bytes:
    return _tlv(0x30, _int(msgid) + _tlv(0x77, _tlv(0x80, b"1.3.6.1.4.1.4203.1.11.3")))


def _abandon(msgid: int, target: int) -> bytes:
    return _tlv(0x30, _int(msgid) + _int(target, 0x50))


def _read_messages(sock, until_id: int) -> list[tuple[int, int]]:
    """(messageID, protocolOp tag) of each message, until one with until_id that is not an entry."""
    buf, out = b"", []
    while True:
        while True:
            if len(buf) >= 2:
                n, hdr = buf[1], 2
                if n & 0x80:
                    k = n & 0x7f
                    n, hdr = (int.from_bytes(buf[2:2 + k], "big"), 2 + k) if len(buf) >= 2 + k else (None, 0)
                if n is not None and len(buf) >= hdr + n:
                    msg, buf = buf[hdr:hdr + n], buf[hdr + n:]
                    ilen = msg[1]
                    msgid, op = int.from_bytes(msg[2:2 + ilen], "big"), msg[2 + ilen]
                    out.append((msgid, op))
                    if msgid == until_id and op != 0x64:
                        return out
                    continue
            break
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(out)} messages"
        buf += chunk


def test_pipelined_requests_after_a_streamed_search_and_abandon(make_server):
    users = [{"name": f"p{i:04d}", "password": "{PLAIN}x", "display_name": f"Pipelined Person {i:04d}",
              "addresses": [f"p{i:04d}@example.test"]} for i in range(3000)]
    server = ldap_server(make_server, users=users, groups=[], ldap={"size_limit": 0})
    everyone = _tlv(0x87, b"objectClass")
    with socket.create_connection(("127.0.0.1", server.ldap_port), timeout=TIMEOUT_S) as s:
        # A search larger than one window, then a WhoAmI in the same write:
        # answered in order, after the search's result.
        s.sendall(_search(1, PEOPLE, everyone, attrs=(b"*",)) + _whoami(2))
        got = _read_messages(s, 2)
        assert sum(1 for m in got if m == (1, 0x64)) == 3001   # ou=people and its 3,000 people
        assert got[-2] == (1, 0x65) and got[-1] == (2, 0x78)
        # An Abandon right behind a search: no result for the search (if it
        # came in time), and the connection goes on.
        s.sendall(_search(3, PEOPLE, everyone, attrs=(b"*",)) + _abandon(4, 3) + _whoami(5))
        got = _read_messages(s, 5)
        entries = sum(1 for m in got if m == (3, 0x64))
        if (3, 0x65) not in got:
            assert entries < 3001
        assert got[-1] == (5, 0x78)
    assert any(e.get("msgid") == "3" for e in server.events("abandoned")) or entries == 3001


def test_a_reload_brings_a_new_tree_to_open_connections_and_new_ones(make_server):
    server = ldap_server(make_server)
    conn = connect(server, uid("alice"), "alice pw")
    assert conn.bind()
    assert l3_search(conn, PEOPLE, "(uid=frank)") == []
    conn.search(PEOPLE, "(objectClass=person)", attributes=["1.1"], paged_size=2)
    cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
    assert cookie
    frank = {"name": "frank", "password": "{PLAIN}frankpw", "display_name": "Frank Fisher",
             "addresses": ["frank@example.test"], "given_name": "Frank", "surname": "Fisher"}
    server.config = dict(server.config, users=USERS + [frank],
                         groups=[{"name": "engineers", "description": "Engineering", "members": ["frank"]}])
    server.config_path.write_text(to_toml(server.config))
    out = server.cli("reload").stdout.decode()
    assert "reloaded generation=2" in out, out
    # The connection opened before the reload sees the new tree on its next request.
    assert l3_search(conn, PEOPLE, "(mail=frank@example.test)") == [uid("frank")]
    assert l3_search(conn, GROUPS, "(member=" + uid("frank") + ")") == [f"cn=engineers,{GROUPS}"]
    assert l3_search(conn, GROUPS, "(cn=everyone)") == []
    # A paging cookie from the old tree is refused, not misread.
    conn.search(PEOPLE, "(objectClass=person)", attributes=["1.1"], paged_size=2, paged_cookie=cookie)
    assert conn.result["result"] == 53
    conn.unbind()
    # New clients too, and the new user binds.
    r = run_tool("ldapwhoami", server, bind=(uid("frank"), "frankpw"))
    assert r.returncode == 0 and r.stdout.strip() == f"dn:{uid('frank')}", r
    _, [f] = ldapsearch(server, PEOPLE, "(uid=frank)", "memberOf")
    assert f["memberOf"] == [f"cn=engineers,{GROUPS}"]


def test_an_idle_connection_is_closed_after_the_timeout_with_a_log_line(make_server):
    # As slapd's idletimeout: no word, the connection is closed; the
    # request before the silence was answered first.
    server = ldap_server(make_server, ldap={"timeout": "2s"})
    got, closed = raw_exchange(server, _whoami(1))
    assert closed
    assert got[0] == 0x30 and got[1] == len(got) - 2    # one short LDAPMessage: the WhoAmI response
    assert got[2:5] == b"\x02\x01\x01" and got[5] == 0x78
    got, closed = raw_exchange(server, b"")          # connected, never a byte
    assert closed and got == b""
    assert len(server.events("timeout")) == 2
    assert "ldap event=timeout" in server.log_text()
    conn = connect(server)
    assert conn.bind()
    assert l3_search(conn, PEOPLE, "(uid=alice)") == [uid("alice")]
    conn.unbind()
