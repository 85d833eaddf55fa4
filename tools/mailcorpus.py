#!/usr/bin/env python3
"""A deterministic mail corpus for the mailbox benchmarks, and a way to load it
over SMTP. Standard library only.

  generate DIR N [--seed S]
      writes N messages as a Maildir (DIR/cur/, DIR/new/, DIR/tmp/; files in
      cur/ named so that their sort order is the corpus order, LF line ends,
      as a Maildir holds them) and DIR/manifest: key=value lines (msgs, bytes,
      search_name, search_hits, seed). Same N and seed -> the same bytes.
  smtp-send DIR HOST:PORT RCPT [--sessions K]
      sends every message of DIR/cur/ in corpus order (one connection per
      session, many transactions per connection, CRLF line ends,
      dot-stuffed) to RCPT; prints "sent=N secs=S". Exit 1 on any refusal.

The corpus: 1-4 Received headers each (no Return-Path: the delivering
server adds it), sizes mostly 2-20 KiB (some 1-2 KiB, some 20-100 KiB, ~3 % of
100-300 KiB), about 5 % multipart/mixed with a base64 attachment; From
display names from a pool of 200, and exactly 1 % of the messages (rounded
down, at least 1 when N >= 1) from "Zebulon Quackenbush" <zq@...>, so that
`SEARCH FROM "Quackenbush"` matches a known subset (search_hits in the
manifest). No other header or body contains that word.
"""
import base64
import os
import random
import smtplib
import sys
import threading
import time

SEARCH_NAME = "Quackenbush"
SEARCH_FROM = '"Zebulon Quackenbush" <zq@quack.example.org>'

FIRST = ("Anna Bruno Clara Dieter Emma Felix Greta Hans Ida Jonas Karla Lukas Mia Nils "
         "Olga Paul Rosa Sven Tina Ulf").split()
LAST = ("Albers Becker Conrad Dahl Eckert Fischer Graf Hahn Imhof Jung").split()
DOMAINS = "example.com example.net mail.example.org lists.example.edu corp.example".split()
WORDS = ("the of and to in is that for it as with was on be by this are from or at an "
         "mail server message queue delivery mailbox folder index session client reply "
         "report meeting budget schedule release review draft invoice order shipment "
         "customer project update status question answer thanks please regards team "
         "monday tuesday friday morning evening quarter number value result issue fix "
         "network storage memory latency throughput benchmark config option default").split()
SUBJ = ("Re: status of the {w} {w}", "Fwd: {w} {w} report", "{w} {w} for next week",
        "Question about the {w}", "[list] {w} {w} {w}", "Your {w} #{n}", "{w} update {n}")


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def text_body(rng, size):
    """Paragraphs of 60-76 character lines up to about size bytes."""
    out, total = [], 0
    while total < size:
        line = words(rng, rng.randint(9, 12))[:76]
        if rng.random() < 0.1:
            line = ""
        out.append(line)
        total += len(line) + 1
    return "\n".join(out) + "\n"


def pick_size(rng):
    r = rng.random()
    if r < 0.07:
        return rng.randint(1024, 2048)
    if r < 0.77:
        return rng.randint(2048, 20480)
    if r < 0.97:
        return rng.randint(20480, 102400)
    return rng.randint(102400, 307200)


def message(rng, i, marked):
    size = pick_size(rng)
    if marked:
        sender = SEARCH_FROM
    else:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        sender = f'"{first} {last}" <{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}>'
    # Dates spread over 2025, one message about every 50 minutes.
    t = 1735689600 + i * 3000 + rng.randint(0, 2999)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    subject = rng.choice(SUBJ).replace("{n}", str(rng.randint(1, 99999)))
    while "{w}" in subject:
        subject = subject.replace("{w}", rng.choice(WORDS), 1)
    to_n = rng.choice((1, 1, 1, 2, 3))
    to = ", ".join(f"user{rng.randint(1, 5)}@example.test" for _ in range(to_n))
    # Trace headers as relays leave them (the delivering server adds its own
    # Return-Path and Received, so the corpus has none of those).
    head = []
    for hop in range(rng.randint(1, 4)):
        relay = f"mx{rng.randint(1, 9)}.{rng.choice(DOMAINS)}"
        when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t - 60 * hop))
        head.append(f"Received: from {relay} ({relay} [192.0.2.{rng.randint(1, 254)}])\n"
                    f"\tby mail{hop}.example.test with ESMTPS id {rng.getrandbits(40):010x}\n"
                    f"\tfor <user{rng.randint(1, 5)}@example.test>; {when}")
    head += [
        f"From: {sender}",
        f"To: {to}",
    ]
    if rng.random() < 0.3:
        head.append(f"Cc: {rng.choice(FIRST).lower()}@{rng.choice(DOMAINS)}")
    head += [
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <corpus.{i}.{rng.getrandbits(48):x}@corpus.example>",
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        head.append(f"In-Reply-To: <corpus.{max(i - rng.randint(1, 50), 0)}.0@corpus.example>")
    multipart = rng.random() < 0.05
    if multipart:
        boundary = f"=_corpus_{i}_{rng.getrandbits(32):08x}"
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        text = text_body(rng, min(size // 4, 4096))
        attach = rng.randbytes(max(size - len(text) - 600, 512) * 3 // 4)
        enc = base64.encodebytes(attach).decode("ascii")
        name = f"{rng.choice(WORDS)}-{i}.{rng.choice(('pdf', 'png', 'zip', 'docx'))}"
        body = (f"This is a multi-part message in MIME format.\n\n--{boundary}\n"
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n"
                f"{text}\n--{boundary}\n"
                f'Content-Type: application/octet-stream; name="{name}"\n'
                "Content-Transfer-Encoding: base64\n"
                f'Content-Disposition: attachment; filename="{name}"\n\n'
                f"{enc}\n--{boundary}--\n")
    else:
        head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"]
        body = text_body(rng, max(size - 400, 200))
    return ("\n".join(head) + "\n\n" + body).encode("ascii")


def cmd_generate(args):
    if len(args) < 2:
        sys.exit("usage: generate DIR N [--seed S]")
    out, n = args[0], int(args[1])
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 20261126
    rng = random.Random(seed)
    hits = max(n // 100, 1) if n > 0 else 0
    marked = set(rng.sample(range(n), hits))
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    total = 0
    for i in range(n):
        data = message(rng, i, i in marked)
        total += len(data) + data.count(b"\n")  # as RFC822.SIZE counts it (CRLF)
        # Maildir base name: time.M<i>P<pid>.host, flags after ":2,"; the
        # zero-padded counter makes name order the corpus order.
        name = f"{1735689600 + i}.M{i:06d}P1.corpus,S={len(data)}:2,"
        with open(os.path.join(out, "cur", name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "manifest"), "w") as f:
        f.write(f"msgs={n}\nbytes_crlf={total}\nsearch_name={SEARCH_NAME}\n"
                f"search_hits={hits}\nseed={seed}\n")
    print(f"msgs={n} bytes_crlf={total} search_hits={hits}")


def corpus_files(d):
    cur = os.path.join(d, "cur")
    return [os.path.join(cur, f) for f in sorted(os.listdir(cur))]


def cmd_smtp_send(args):
    if len(args) < 3:
        sys.exit("usage: smtp-send DIR HOST:PORT RCPT [--sessions K]")
    files = corpus_files(args[0])
    host, port = args[1].rsplit(":", 1)
    rcpt = args[2]
    k = int(args[args.index("--sessions") + 1]) if "--sessions" in args else 4
    errors = []
    t0 = time.monotonic()

    # Session j sends files j, j+k, ...: the store sees them nearly in corpus
    # order (exact order is not promised with k > 1; use --sessions 1 for it).
    def run(j):
        try:
            with smtplib.SMTP(host, int(port), timeout=120) as s:
                s.ehlo("corpus.example")
                for path in files[j::k]:
                    with open(path, "rb") as f:
                        data = f.read().replace(b"\n", b"\r\n")
                    s.sendmail("bounce@example.com", [rcpt], data)  # smtplib dot-stuffs
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"session {j}: {e!r}")

    threads = [threading.Thread(target=run, args=(j,)) for j in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"sent={len(files)} secs={time.monotonic() - t0:.1f}")


if __name__ == "__main__":
    cmds = {"generate": cmd_generate, "smtp-send": cmd_smtp_send}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmds[sys.argv[1]](sys.argv[2:])
