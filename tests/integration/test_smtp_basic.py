"""SMTP server basics with real clients: the greeting, EHLO, the three-step
transaction (smtplib and raw sockets), pipelining, the lab's lenient forms, the
relay rule, and what the spool holds afterwards (byte-exact)."""

import email.message
import email.utils

import pytest

from conftest import HOSTNAME, dot_stuff, make_message, unique_id

EXTENSIONS = ["pipelining", "size", "8bitmime", "enhancedstatuscodes", "chunking", "smtputf8", "dsn", "help"]


def test_greeting_names_the_host_and_esmtp(server):
    with server.client(read_greeting=False) as c:
        g = c.read_reply()
        assert g.code == 220, g
        assert g.raw.endswith(b"\r\n"), f"reply lines end in CRLF: {g.raw!r}"
        assert g.lines[-1].split()[:2] == [HOSTNAME, "ESMTP"], g
        c.expect("QUIT", 221)
        assert c.wait_closed()


def test_ehlo_lists_every_extension_and_the_size_limit(server):
    with server.smtp() as s:
        code, text = s.ehlo("client.test")
        assert code == 250
        assert text.decode().splitlines()[0].startswith(HOSTNAME)
        for ext in EXTENSIONS:
            assert s.has_extn(ext), f"EHLO lacks {ext.upper()}: {text!r}"
        assert s.esmtp_features["size"].strip() == str(server.smtp_config["max_message_size"])


def test_helo_gets_250_and_no_extensions(server):
    with server.client() as c:
        r = c.expect("HELO client.test", 250)
        assert len(r.lines) == 1, f"HELO answers with one line: {r}"


def test_help_gets_214_listing_the_commands(server):
    # LABS.md Lab 2 step 2: HELP lists the commands.
    with server.client() as c:
        r = c.cmd("HELP")
        assert r.code == 214, r
        for verb in ("HELO", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"):
            assert verb in r.text.upper(), f"HELP does not name {verb}: {r}"


def test_vrfy_defaults_to_252_and_expn_to_502(server):
    with server.client() as c:
        c.ehlo()
        r = c.cmd("VRFY user1")
        assert r.code == 252, r
        r = c.cmd("EXPN postmaster@example.test")
        assert r.code == 502, r


def test_vrfy_disabled_gets_502(make_server):
    srv = make_server(smtp={"vrfy": "disabled"})
    with srv.client() as c:
        c.ehlo()
        assert c.cmd("VRFY user1").code == 502


def test_vrfy_verify_answers_250_for_a_user_and_550_for_a_stranger(make_server):
    srv = make_server(smtp={"vrfy": "verify"})
    with srv.client() as c:
        c.ehlo()
        r = c.cmd("VRFY <user1@example.test>")
        assert r.code == 250, r
        r = c.cmd("VRFY <nobody@example.test>")
        assert r.code == 550, r


def test_noop_rset_and_quit(server):
    with server.client() as c:
        c.ehlo()
        c.expect("NOOP", 250)
        c.expect("MAIL FROM:<user1@example.test>", 250, "2.1.0")
        c.expect("RSET", 250)
        # RSET dropped the transaction: RCPT now needs MAIL again.
        assert c.cmd("RCPT TO:<user2@example.test>").code == 503
        c.expect("QUIT", 221)
        assert c.wait_closed()
    assert server.queue_list() == []


def test_commands_out_of_order_get_503(server):
    with server.client() as c:
        c.ehlo()
        assert c.cmd("RCPT TO:<user2@example.test>").code == 503
        assert c.cmd("DATA").code == 503
        c.expect("MAIL FROM:<user1@example.test>", 250)
        assert c.cmd("MAIL FROM:<user1@example.test>").code == 503   # nested MAIL
        r = c.cmd("DATA")                                             # no recipient yet
        assert r.code in (503, 554), r
        c.expect("QUIT", 221)


def test_mail_and_rcpt_get_enhanced_codes(server):
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test>", 250, "2.1.0")
        c.expect("RCPT TO:<user2@example.test>", 250, "2.1.5")
        c.expect("RCPT TO:<postmaster@example.test>", 250, "2.1.5")   # alias
        r = c.data(make_message(unique_id("codes")))
        assert r.code == 250 and r.enhanced == "2.0.0" and r.queue_id, r


def test_sendmail_round_trip_is_byte_exact(server):
    mid = unique_id("sendmail")
    body = b"Hello,\r\n\r\nthree lines\r\nof text.\r\n"
    msg = make_message(mid, body=body)
    with server.smtp() as s:
        refused = s.sendmail("user1@example.test", ["user2@example.test", "user3@example.test"], msg)
        assert refused == {}
    (e,) = server.queue_list()
    assert e.sender == "user1@example.test"
    assert sorted(e.rcpts) == ["user2@example.test", "user3@example.test"]
    assert e.message_id == mid
    stored = server.body(e.id)
    assert stored == msg
    # size= counts content bytes; whether it includes our Received: header is
    # the spool's choice, so accept either reading.
    assert e.size in (len(stored), len(server.queue_cat(e.id))), e.line


def test_send_message_round_trip(server):
    msg = email.message.EmailMessage()
    msg["From"] = "User One <user1@example.test>"
    msg["To"] = "User Two <user2@example.test>"
    msg["Subject"] = "send_message round trip"
    msg["Message-ID"] = email.utils.make_msgid(domain="client.test")
    msg.set_content("Body text.\nSecond line.\n")
    msg.add_attachment(b"\x00\x01binary\xff" * 50, maintype="application", subtype="octet-stream",
                       filename="blob.bin")
    with server.smtp() as s:
        assert s.send_message(msg) == {}
    (e,) = server.queue_list()
    assert e.sender == "user1@example.test" and e.rcpts == ["user2@example.test"]
    assert e.message_id == msg["Message-ID"].strip("<>")
    stored = server.body(e.id)
    assert b"Subject: send_message round trip\r\n" in stored
    assert b'filename="blob.bin"' in stored
    assert b"\n" not in stored.replace(b"\r\n", b""), "stored with CRLF line ends only"


def test_several_messages_on_one_connection_get_distinct_ids(server):
    ids = []
    with server.smtp() as s:
        s.ehlo()
        for i in range(5):
            s.mail("user1@example.test")
            s.rcpt(f"user{i % 5 + 1}@example.test")
            code, text = s.data(make_message(unique_id(f"multi{i}")))
            assert code == 250
            ids.append(text.decode().split("queued as ")[1][:16].upper())
    assert len(set(ids)) == 5
    assert {e.id for e in server.queue_list()} == set(ids)


def test_null_sender_is_accepted_and_listed_as_empty(server):
    with server.client() as c:
        c.begin(sender="")
        r = c.data(make_message(unique_id("bounce")))
        assert r.code == 250, r
    (e,) = server.queue_list()
    assert e.sender == "" and "from=<>" in e.line


def test_pipelined_transaction_in_one_write(server):
    mid = unique_id("pipelined")
    msg = make_message(mid)
    with server.client() as c:
        r = c.ehlo()
        assert any(l.upper().startswith("PIPELINING") for l in r.lines)
        c.send(b"MAIL FROM:<user1@example.test>\r\nRCPT TO:<user2@example.test>\r\n"
               b"RCPT TO:<user3@example.test>\r\nDATA\r\n")
        codes = [r.code for r in c.read_replies(4)]
        assert codes == [250, 250, 250, 354]
        c.send(msg + b".\r\n")
        r = c.read_reply()
        assert r.code == 250 and r.queue_id, r
        # A second transaction pipelined behind the first end of data.
        c.send(b"RSET\r\nMAIL FROM:<user2@example.test>\r\nRCPT TO:<user4@example.test>\r\nDATA\r\n")
        assert [r.code for r in c.read_replies(4)] == [250, 250, 250, 354]
        c.send(make_message(unique_id("pipelined2")) + b".\r\nQUIT\r\n")
        r2 = c.read_reply()
        assert r2.code == 250 and r2.queue_id and r2.queue_id != r.queue_id
        assert c.read_reply().code == 221
    listed = {e.id: e for e in server.queue_list()}
    assert sorted(listed[r.queue_id].rcpts) == ["user2@example.test", "user3@example.test"]
    assert listed[r2.queue_id].rcpts == ["user4@example.test"]


def test_lab2_by_hand_exactly_as_in_labs_md(server):
    # LABS.md Lab 2, as a student types it in telnet: HELO, lenient MAIL/RCPT
    # without brackets, upper-case unqualified names; one line at a time.
    with server.client(read_greeting=False) as c:
        g = c.read_reply()
        assert g.code == 220 and g.lines[-1].startswith(HOSTNAME), g
        assert c.cmd("HELP").code == 214
        c.expect("HELO client.test", 250)
        c.expect("MAIL FROM:USER1", 250)
        c.expect("RCPT TO:USER2", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: lab 2\r\n\r\nHello from the lab.\r\n")
        c.send(b".\r\n")
        r = c.read_reply()
        assert r.code == 250 and r.queue_id, r
        c.expect("QUIT", 221)
        assert c.wait_closed()
    (e,) = server.queue_list()
    assert e.id == r.queue_id
    # Qualified with the primary domain. Whether USER1's case is kept (RFC 5321
    # local parts are case-sensitive) or folded is the server's choice.
    assert e.sender.lower() == "user1@example.test", e.line
    assert [a.lower() for a in e.rcpts] == ["user2@example.test"], e.line
    assert server.body(e.id) == b"Subject: lab 2\r\n\r\nHello from the lab.\r\n"


@pytest.mark.parametrize("mail,rcpt,want_from,want_to", [
    ("MAIL FROM:user3", "RCPT TO:user4", "user3@example.test", "user4@example.test"),
    ("mail from:User5", "rcpt to:USER1", "user5@example.test", "user1@example.test"),
    ("MAIL FROM: <user2@example.test>", "RCPT TO: <user3@example.test>", "user2@example.test",
     "user3@example.test"),
], ids=["upper", "mixed-case", "space-after-colon"])
def test_lenient_envelope_forms_are_qualified(server, mail, rcpt, want_from, want_to):
    with server.client() as c:
        c.expect("HELO client.test", 250)
        c.expect(mail, 250)
        c.expect(rcpt, 250)
        r = c.data(b"Subject: lenient\r\n\r\nx\r\n")
        assert r.code == 250, r
    (e,) = server.queue_list()
    assert (e.sender.lower(), [a.lower() for a in e.rcpts]) == (want_from, [want_to]), e.line


def test_unknown_local_user_gets_550_511(server):
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test>", 250)
        c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<nobody@localhost>", 550, "5.1.1")
        c.expect("RCPT TO:NOBODY", 550, "5.1.1")
        c.expect("RCPT TO:<user2@example.test>", 250)   # the transaction goes on


def test_untrusted_client_cannot_relay(make_server):
    srv = make_server(smtp={"trusted_networks": []})
    with srv.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<someone@elsewhere.test>", 250)
        c.expect("RCPT TO:<victim@foreign.test>", 554, "5.7.1")
        c.expect("RCPT TO:<victim@example.test.foreign.test>", 554, "5.7.1")
        # Local mail is still welcome from anywhere, lab forms included.
        c.expect("RCPT TO:<user2@example.test>", 250, "2.1.5")
        c.expect("RCPT TO:USER3", 250)
        r = c.data(make_message(unique_id("untrusted")))
        assert r.code == 250, r
    (e,) = srv.queue_list()
    assert sorted(a.lower() for a in e.rcpts) == ["user2@example.test", "user3@example.test"]


def test_trusted_client_may_relay(server):
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test>", 250)
        c.expect("RCPT TO:<someone@foreign.test>", 250, "2.1.5")
        c.expect("RSET", 250)


def test_declared_size_within_the_limit_is_accepted(server):
    msg = make_message(unique_id("size"), body=b"x" * 1000 + b"\r\n")
    with server.client() as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<user1@example.test> SIZE={len(msg)}", 250, "2.1.0")
        c.expect("RCPT TO:<user2@example.test>", 250)
        r = c.data(msg)
        assert r.code == 250, r
    (e,) = server.queue_list()
    assert server.body(e.id) == msg


def test_8bitmime_body_is_stored_byte_exact(server):
    body = "Grüße aus Köln — ½ € ✓\r\n".encode("utf-8") + bytes(range(0x80, 0x100)) + b"\r\n"
    msg = make_message(unique_id("8bit"), body=body,
                       extra=b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             b"Content-Transfer-Encoding: 8bit\r\n")
    with server.smtp() as s:
        s.ehlo()
        assert s.sendmail("user1@example.test", ["user2@example.test"], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
    (e,) = server.queue_list()
    assert server.body(e.id) == msg


def test_smtputf8_transaction(server):
    msg = make_message(unique_id("utf8"), subject="Ünïcödé", body="Тело письма\r\n".encode())
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test> SMTPUTF8 BODY=8BITMIME", 250)
        c.expect("RCPT TO:<user2@example.test>", 250)
        r = c.data(msg)
        assert r.code == 250, r
    (e,) = server.queue_list()
    assert server.body(e.id) == msg


def test_dsn_parameters_are_accepted(server):
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<user1@example.test> RET=HDRS ENVID=QQ314159", 250, "2.1.0")
        c.expect("RCPT TO:<user2@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user2@example.test",
                 250, "2.1.5")
        c.expect("RCPT TO:<user3@example.test> NOTIFY=NEVER", 250)
        r = c.data(make_message(unique_id("dsn")))
        assert r.code == 250, r
    (e,) = server.queue_list()
    show = server.queue_show(e.id)
    assert "user1@example.test" in show and "user2@example.test" in show and "user3@example.test" in show


@pytest.mark.parametrize("body", [
    b".\r\n",                                       # a line that is only a dot
    b"..\r\n...\r\n.x\r\n",                         # lines that start with dots
    b"a\r\n.\r\n.\r\nb\r\n",                        # dot lines that must not end DATA
    b"line\r\n. \r\n .\r\n",                        # dot-space and space-dot
    b"\r\n.\r\n\r\n",                               # empty lines around a dot line
], ids=["dot-only", "leading-dots", "dot-lines", "dot-space", "empty-around"])
def test_dot_stuffing_round_trips_byte_exact(server, body):
    msg = make_message(unique_id("dots"), body=body)
    with server.client() as c:
        c.begin()
        c.expect("DATA", 354)
        c.send(dot_stuff(msg) + b".\r\n")
        r = c.read_reply()
        assert r.code == 250 and r.queue_id, r
    assert server.body(r.queue_id) == msg
    # And through smtplib, which stuffs on its own.
    msg2 = make_message(unique_id("dots-smtplib"), body=body)
    qid = server.send(msg2)
    assert server.body(qid) == msg2


def test_queue_show_prints_the_envelope(server):
    qid = server.send(make_message(unique_id("show")), rcpts=("user2@example.test", "user5@example.test"))
    show = server.queue_show(qid)
    pairs = [ln.split("=", 1) for ln in show.splitlines() if "=" in ln]
    assert pairs, f"queue show printed no key=value lines: {show!r}"
    for addr in ("user1@example.test", "user2@example.test", "user5@example.test"):
        assert addr in show, f"queue show lacks {addr}: {show!r}"


def test_quit_closes_even_mid_transaction(server):
    with server.client() as c:
        c.begin()
        c.expect("QUIT", 221)
        assert c.wait_closed()
    assert server.queue_list() == []
