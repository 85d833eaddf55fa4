"""Reloading the directory of a running daemon (`posthorn reload`, SIGHUP)
without dropping sessions, on both io backends and two shards.

The config file the server started with is rewritten, then reloaded:
a user added is accepted at RCPT, gets mail delivered and logs in over POP3
and IMAP; an IMAP session opened before the reload (even one whose user the
reload removes) keeps working through NOOP, FETCH and LOGOUT; a removed
user's new logins fail; a broken file (bad TOML, a group naming nobody) is
refused with its reason, on the command line and in the log, and the old
directory stays; keys outside the directory part are reported as needing a
restart and not applied.
"""

from __future__ import annotations

import json
import os
import poplib
import signal
import socket
import subprocess

import pytest

from conftest import TIMEOUT_S, free_port, posthorn_bin, to_toml, wait_for
from imap_helpers import deliver, imap, imap_server, ok


def rcpt_code(server, address: str) -> int:
    with server.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<someone@remote.test>", 250)
        return c.cmd(f"RCPT TO:<{address}>").code


def user_entry(name: str) -> dict:
    return {"name": name, "password": "{PLAIN}" + name, "display_name": f"User {name}",
            "addresses": [f"{name}@example.test"]}


def rewrite(srv, users: list[str] | None = None, groups: list[dict] | None = None, **sections) -> None:
    """Writes the server's config file anew with these users (and groups, sections)."""
    cfg = dict(srv.config)
    if users is not None:
        cfg["users"] = [user_entry(u) for u in users]
    if groups is not None:
        cfg["groups"] = groups
    for name, values in sections.items():
        cfg[name] = dict(cfg.get(name, {}), **values)
    srv.config = cfg
    srv.config_path.write_text(to_toml(cfg))


def pop3_login(server, user: str, password: str | None = None) -> poplib.POP3:
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=TIMEOUT_S)
    p.user(user)
    p.pass_(password if password is not None else user)
    return p


def pop3_login_fails(server, user: str) -> bool:
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=TIMEOUT_S)
    try:
        p.user(user)
        p.pass_(user)
    except poplib.error_proto:
        return True
    finally:
        p.close()
    return False


def imap_login_fails(server, user: str) -> bool:
    c = imap(server)
    try:
        typ, _ = c.login(user, user)
        return False
    except c.error:
        return True
    finally:
        c.shutdown()


def logout(c) -> None:
    typ, data = c.logout()
    assert typ == "BYE", (typ, data)


def reload_cli(server, check: bool = True):
    return server.cli("reload", check=check)


def sighup_and_wait(server, event: str, count_before: int) -> dict:
    server.proc.send_signal(signal.SIGHUP)
    lines = wait_for(lambda: len(server.events(event)) > count_before and server.events(event),
                     what=f"event={event} after SIGHUP")
    return lines[-1]


def control(server, request: dict) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT_S)
        s.connect(str(server.data_dir / "control.sock"))
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def test_reload_command_adds_a_user_for_rcpt_delivery_pop3_and_imap(make_server):
    server = imap_server(make_server)
    assert rcpt_code(server, "user9@example.test") == 550
    assert pop3_login_fails(server, "user9")
    rewrite(server, users=["user1", "user2", "user3", "user4", "user5", "user9"])
    p = reload_cli(server)
    out = p.stdout.decode()
    assert "reloaded generation=2 users=6 groups=0 aliases=1" in out, out
    ev = server.events("reloaded")[-1]
    assert (ev["users"], ev["groups"], ev["aliases"], ev["generation"]) == ("6", "0", "1", "2")
    assert ev["shards"] == str(server.shards)
    assert rcpt_code(server, "user9@example.test") == 250
    sent = deliver(server, "user9")
    pop = pop3_login(server, "user9")
    try:
        count, _ = pop.stat()
        assert count == 1
        assert b"message 0 for user9" in b"\r\n".join(pop.retr(1)[1])
    finally:
        pop.quit()
    c = imap(server, "user9")
    ok(c.select("INBOX"))
    data = ok(c.fetch("1", "(BODY.PEEK[TEXT])"))
    assert b"message 0 for user9" in data[0][1], (data, sent)
    logout(c)


def test_sighup_reloads_the_directory(make_server):
    server = imap_server(make_server)
    assert rcpt_code(server, "newcomer@example.test") == 550
    rewrite(server, users=["user1", "user2", "newcomer"])
    ev = sighup_and_wait(server, "reloaded", 0)
    assert ev["trigger"] == "sighup" and ev["users"] == "3"
    assert server.alive()
    assert rcpt_code(server, "newcomer@example.test") == 250
    pop3_login(server, "newcomer").quit()
    logout(imap(server, "newcomer"))
    # A second SIGHUP reloads again (the signal stays handled).
    rewrite(server, users=["user1", "user2", "newcomer", "another"])
    ev = sighup_and_wait(server, "reloaded", 1)
    assert ev["generation"] == "3" and ev["users"] == "4"
    assert rcpt_code(server, "another@example.test") == 250


def test_an_imap_session_opened_before_a_reload_keeps_working_even_when_its_user_is_removed(make_server):
    server = imap_server(make_server)
    deliver(server, "user1")
    c = imap(server, "user1")
    ok(c.select("INBOX"))
    # The reload removes user1 itself: the session logged in before it may
    # finish (as Dovecot and Postfix let a running session finish).
    rewrite(server, users=["user2", "user3"])
    assert "reloaded" in reload_cli(server).stdout.decode()
    ok(c.noop())
    data = ok(c.fetch("1", "(BODY.PEEK[TEXT] FLAGS)"))
    assert b"message 0 for user1" in data[0][1]
    logout(c)
    # New logins of the removed user fail; a remaining user's work.
    assert imap_login_fails(server, "user1")
    assert pop3_login_fails(server, "user1")
    logout(imap(server, "user2"))


def test_a_pop3_session_opened_before_a_reload_keeps_its_maildrop(make_server):
    server = imap_server(make_server)
    deliver(server, "user2", n=2)
    pop = pop3_login(server, "user2")
    rewrite(server, users=["user1"])
    reload_cli(server)
    assert pop.stat()[0] == 2
    assert b"message 1 for user2" in b"\r\n".join(pop.retr(2)[1])
    pop.quit()
    assert pop3_login_fails(server, "user2")


def test_removing_a_user_refuses_its_new_logins_and_its_mail(make_server):
    server = imap_server(make_server)
    pop3_login(server, "user3").quit()
    rewrite(server, users=["user1", "user2", "user4", "user5"])
    assert "users=4" in reload_cli(server).stdout.decode()
    assert rcpt_code(server, "user3@example.test") == 550
    assert pop3_login_fails(server, "user3")
    assert imap_login_fails(server, "user3")
    pop3_login(server, "user4").quit()


def test_bad_toml_is_refused_with_its_reason_and_the_old_users_keep_working(make_server):
    server = imap_server(make_server)
    good = server.config_path.read_text()
    server.config_path.write_text(good + "\n[[users]\nname = \"broken\"\n")
    p = reload_cli(server, check=False)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "reload: failed" in err and str(server.config_path) in err, err
    # The daemon's own check (it re-reads the file it started with).
    failed = sighup_and_wait(server, "reload_failed", 0)
    assert failed["trigger"] == "sighup" and str(server.config_path) in failed["reason"], failed
    reply = control(server, {"cmd": "reload"})
    assert reply["ok"] is False and str(server.config_path) in reply["error"], reply
    assert not server.events("reloaded")
    assert server.alive()
    assert rcpt_code(server, "user2@example.test") == 250
    pop3_login(server, "user2").quit()
    logout(imap(server, "user2"))
    # Fixed, the next reload applies it.
    server.config_path.write_text(good)
    assert "generation=2" in reload_cli(server).stdout.decode()


def test_a_group_naming_an_unknown_member_is_refused_and_the_old_directory_stays(make_server):
    server = imap_server(make_server)
    rewrite(server, users=["user1", "user2", "user9"],
            groups=[{"name": "staff", "members": ["user1", "nobody"]}])
    p = reload_cli(server, check=False)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "groups.members" in err and "nobody" in err, err
    reply = control(server, {"cmd": "reload"})
    assert reply["ok"] is False and '"nobody"' in reply["error"], reply
    failed = server.events("reload_failed")[-1]
    assert "nobody" in failed["reason"] and failed["trigger"] == "control"
    assert rcpt_code(server, "user9@example.test") == 550, "the refused file's new user is not there"
    assert rcpt_code(server, "user5@example.test") == 250, "the old users are"
    pop3_login(server, "user5").quit()


def test_keys_outside_the_directory_are_reported_as_needing_a_restart_and_not_applied(make_server):
    server = imap_server(make_server)
    rewrite(server, users=["user1", "user2", "user7"], smtp={"max_recipients": 1},
            server={"hostname": "other.example.test"})
    out = reload_cli(server).stdout.decode()
    assert "users=3" in out
    assert "not applied until a restart: server.hostname,smtp.max_recipients" in out, out
    ev = server.events("reload_needs_restart")[-1]
    assert ev["keys"] == "server.hostname,smtp.max_recipients"
    with server.client() as c:
        assert "mx.example.test" in c.greeting.text, "the hostname keeps its running value"
        c.ehlo()
        c.expect("MAIL FROM:<a@remote.test>", 250)
        c.expect("RCPT TO:<user7@example.test>", 250)
        c.expect("RCPT TO:<user1@example.test>", 250)  # max_recipients is still 100


def test_reload_without_a_daemon_says_it_cannot_reach_it(make_server):
    server = make_server(start=False)
    p = reload_cli(server, check=False)
    assert p.returncode == 1
    assert b"cannot reach the daemon" in p.stderr


def test_metrics_show_each_shards_directory_generation_and_the_reloads_by_outcome(make_server):
    from test_metrics import scrape
    mport = free_port()
    server = imap_server(make_server, listen={"metrics": [f"127.0.0.1:{mport}"]})
    m = scrape(mport)
    assert [m[f'posthorn_directory_generation{{shard="{i}"}}'] for i in range(server.shards)] == [1] * server.shards
    rewrite(server, users=["user1", "user8"])
    reload_cli(server)
    server.config_path.write_text("[[users]\n")
    assert reload_cli(server, check=False).returncode == 1  # refused by the command line, the daemon not asked
    sighup_and_wait(server, "reload_failed", 0)
    m = scrape(mport)
    assert [m[f'posthorn_directory_generation{{shard="{i}"}}'] for i in range(server.shards)] == [2] * server.shards
    assert m['posthorn_directory_reloads_total{result="ok"}'] == 1
    assert m['posthorn_directory_reloads_total{result="failed"}'] == 1


def test_a_user_added_with_a_crypt_hash_logs_in_through_the_auth_thread(make_server):
    server = imap_server(make_server)
    hashed = subprocess.run([posthorn_bin(), "mkpasswd"], input=b"s3cret pass\n", capture_output=True,
                            check=True, timeout=60).stdout.decode().strip()
    rewrite(server, users=["user1", "user2"])
    server.config["users"].append({"name": "hashed", "password": hashed, "addresses": ["hashed@example.test"]})
    server.config_path.write_text(to_toml(server.config))
    reload_cli(server)
    pop3_login(server, "hashed", "s3cret pass").quit()
    c = imap(server, "hashed", "s3cret pass")
    logout(c)
    with pytest.raises(poplib.error_proto):
        pop3_login(server, "hashed", "wrong")
