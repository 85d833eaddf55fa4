#!/usr/bin/env python3
"""Helpers for the bench/compare shell scripts: /proc accounting, free ports
and the Markdown report. Standard library only; every subcommand prints its
answer on stdout and exits non-zero (with a message on stderr) on failure.

  free-port                      a free TCP port on 127.0.0.1
  tree-ticks PID                 CPU clock ticks (user+system) of PID and all its
                                 live descendants, plus what their reaped
                                 children used (cutime+cstime); a before/after
                                 difference is the CPU the whole tree used
  clk-tck                        clock ticks per second
  status PID FIELD...            fields of /proc/PID/status in kB (VmRSS, VmHWM)
  pss ROOT [COMM]                summed PSS in kB (smaps_rollup) of ROOT and its
                                 descendants, or only those whose comm is COMM;
                                 prints "pss_kb=N procs=N"
  mem ROOT                       summed RSS and PSS in kB (smaps_rollup) of ROOT and
                                 its descendants; "rss_kb=N pss_kb=N procs=N"
  snap FILE                      writes every process's pid, ppid and CPU ticks
                                 (utime+stime+cutime+cstime) to FILE
  others BEFORE AFTER ROOT...    CPU ticks used between two snaps by user-space
                                 processes outside the trees of the ROOT pids
                                 (kernel threads excluded)
  report RAW.tsv TITLE           the Markdown report of a smtp_vs_postfix run
  metric PORT NAME               the value of NAME at http://127.0.0.1:PORT/metrics
                                 (summed over label sets); exit 1 if absent
  wait-maildir BASE N TIMEOUT    polls every 50 ms until the files in BASE/*/new
                                 number at least N; prints "T_NS COUNT" (T_NS:
                                 wall clock in ns when N was first seen);
                                 exit 1 (last count on stdout) on TIMEOUT seconds
                                 or after STALL seconds without progress
  wait-metric PORT NAME N TIMEOUT
                                 the same for a Prometheus counter: until NAME
                                 reaches N
  e2e-report RAW.tsv TITLE       the Markdown table of an end-to-end run
                                 (local_vs_postfix): medians of msgs/s and CPU
  mailbox-report RAW.tsv TITLE   the Markdown table of mailbox_vs_dovecot: medians
                                 per mode and server, posthorn/Dovecot
  ldap-report RAW.tsv TITLE      the Markdown table of ldap_vs_slapd: medians per
                                 mode and server, posthorn/slapd
Environment: BENCH_STALL_S (60) for the wait-* commands.
"""
import glob
import os
import socket
import statistics
import sys
import time
import urllib.request


def die(msg):
    print(f"benchlib: {msg}", file=sys.stderr)
    sys.exit(1)


def read_stat(pid):
    """(ppid, ticks, comm) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    # comm may hold spaces and parentheses: split at the last ')'.
    lpar, rpar = data.find("("), data.rfind(")")
    comm = data[lpar + 1:rpar]
    fields = data[rpar + 2:].split()
    # fields[0] is field 3 (state): ppid=4, utime=14, stime=15, cutime=16, cstime=17
    ppid = int(fields[1])
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ppid, ticks, comm


def all_procs():
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st is not None:
                procs[int(name)] = st
    return procs


def tree(root, procs):
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def cmd_tree_ticks(args):
    root = int(args[0])
    procs = all_procs()
    if root not in procs:
        die(f"no process {root}")
    print(sum(procs[p][1] for p in tree(root, procs)))


def cmd_snap(args):
    with open(args[0], "w") as f:
        for pid, (ppid, ticks, comm) in all_procs().items():
            f.write(f"{pid} {ppid} {ticks} {comm.replace(' ', '_') or '?'}\n")


def load_snap(path):
    procs = {}
    with open(path) as f:
        for line in f:
            pid, ppid, ticks, comm = line.split(maxsplit=3)
            procs[int(pid)] = (int(ppid), int(ticks), comm.strip())
    return procs


def cmd_others(args):
    """CPU of everyone else: processes alive in both snaps count their
    difference (which includes children they reaped meanwhile), new ones count
    in full, and gone ones subtract what they had used before, since their
    parent's cutime now holds all of it. Kernel threads (kthreadd's children)
    and the trees of the ROOT pids are left out."""
    before, after = load_snap(args[0]), load_snap(args[1])
    roots = {int(a) for a in args[2:]} | {2}  # 2: kthreadd, parent of kernel threads
    excluded = set()
    for snap in (before, after):
        children = {}
        for pid, (ppid, _, _) in snap.items():
            children.setdefault(ppid, []).append(pid)
        seen, todo = set(), list(roots)
        while todo:
            pid = todo.pop()
            if pid not in seen:
                seen.add(pid)
                todo.extend(children.get(pid, []))
        excluded |= seen
    parts = []
    for pid, (_, ticks, comm) in after.items():
        if pid not in excluded:
            parts.append((ticks - before[pid][1] if pid in before else ticks, pid, comm))
    for pid, (_, ticks, comm) in before.items():
        if pid not in excluded and pid not in after:
            parts.append((-ticks, pid, comm + " (gone)"))
    if os.environ.get("BENCH_DEBUG_OTHERS"):
        top = sorted(parts, key=lambda p: -abs(p[0]))[:6]
        print("others: " + ", ".join(f"{c}[{p}]={t}" for t, p, c in top if t), file=sys.stderr)
    print(max(sum(t for t, _, _ in parts), 0))


def cmd_status(args):
    pid, fields = args[0], args[1:]
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                vals[k] = v.split()[0] if v.split() else ""
    except OSError as e:
        die(f"/proc/{pid}/status: {e}")
    print(" ".join(f"{k}={vals.get(k, '?')}" for k in fields))


def cmd_pss(args):
    root = int(args[0])
    comm = args[1] if len(args) > 1 else None
    procs = all_procs()
    total, n = 0, 0
    for pid in tree(root, procs):
        if comm is not None and procs[pid][2] != comm:
            continue
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        n += 1
                        break
        except OSError:
            pass
    print(f"pss_kb={total} procs={n}")


def cmd_mem(args):
    """RSS counts a page shared by several processes once in each; PSS splits
    it among them. Both summed over ROOT's process tree."""
    root = int(args[0])
    procs = all_procs()
    rss = pss = n = 0
    for pid in tree(root, procs):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            pass
    print(f"rss_kb={rss} pss_kb={pss} procs={n}")


def cmd_free_port(_args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


# ---- report -----------------------------------------------------------------

TARGETS = [("sink", "smtp-sink"), ("postfix", "Postfix"), ("posthorn", "posthorn")]


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def cmd_report(args):
    raw, title = args[0], args[1]
    all_rows = []
    with open(raw) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                all_rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    # Medians come from recorded runs only (not "warmup" or "noisy" ones).
    rows = [r for r in all_rows if r["rep"].isdigit()]
    # cell key -> target -> list of runs
    cells, order = {}, []
    for r in all_rows:
        key = (r["size"], r["client"], r["sessions"], r["mode"])
        if key not in cells:
            cells[key] = {}
            order.append(key)
        runs = cells[key].setdefault(r["target"], [])
        if r["rep"].isdigit():
            runs.append(r)
    present = [t for t in TARGETS if any(t[0] in c for c in cells.values())]

    def med(runs, field):
        vals = [float(r[field]) for r in runs if r.get(field) not in (None, "", "-")]
        return statistics.median(vals) if vals else None

    def label(key):
        size, client, sessions, mode = key
        kib = int(size) // 1024
        return f"{kib} KiB | {sessions} | {client}{' reuse' if mode == 'reuse' else ''}"

    out = [f"# {title}", ""]
    metrics = [
        ("Throughput, messages/s (median; higher is better)", "msgs_per_s", 0),
        ("Throughput, MB/s of message payload (median)", "mb_per_s", 2),
        ("Server CPU per message, µs user+system, all server processes, "
         "delivery included (median; lower is better)", "cpu_us_per_msg", 1),
        ("Latency p99, µs from end of DATA to 250 (loadgen cells only; lower is better)",
         "p99_us", 0),
    ]
    for title_m, field, digits in metrics:
        out.append(f"## {title_m}")
        out.append("")
        head = "| size | sessions | client | " + " | ".join(n for _, n in present)
        sep = "|---|---:|---|" + "---:|" * len(present)
        have_ph = any(t == "posthorn" for t, _ in present)
        have_pf = any(t == "postfix" for t, _ in present)
        have_sk = any(t == "sink" for t, _ in present)
        if have_ph and have_pf:
            head += " | posthorn/Postfix"
            sep += "---:|"
        if have_ph and have_sk:
            head += " | posthorn/smtp-sink"
            sep += "---:|"
        out += [head + " |", sep]
        for key in order:
            if field == "p99_us" and key[1] != "loadgen":
                continue
            vals = {t: med(cells[key].get(t, []), field) for t, _ in present}
            line = f"| {label(key)} | " + " | ".join(fmt(vals[t], digits) for t, _ in present)
            if have_ph and have_pf:
                line += " | " + ratio(vals["posthorn"], vals["postfix"])
            if have_ph and have_sk:
                line += " | " + ratio(vals["posthorn"], vals["sink"])
            out.append(line + " |")
        out.append("")
    bg = [(float(r["bg_cpu_pct"]), r) for r in rows if r.get("bg_cpu_pct") not in (None, "", "-")]
    if bg:
        vals = sorted(v for v, _ in bg)
        noisy = [(v, r) for v, r in bg if v > 10]
        out.append("## Other processes")
        out.append("")
        out.append(f"CPU used during a run by user processes other than the server and the clients "
                   f"(the machine may be shared), in % of one core: median "
                   f"{statistics.median(vals):.0f}, max {vals[-1]:.0f}; runs above 10 %: "
                   f"{len(noisy)} of {len(vals)}.")
        for v, r in noisy[:20]:
            out.append(f"- {r['target']} {label((r['size'], r['client'], r['sessions'], r['mode']))}"
                       f" rep {r['rep']}: {v:.0f} %")
        out.append("")
    noisy_runs = sum(1 for r in all_rows if r["rep"] == "noisy")
    if noisy_runs:
        out.append(f"{noisy_runs} run(s) were repeated because other processes used more than 25 % "
                   f"of a core (kept in the raw file as 'noisy').")
        out.append("")
    errs = [r for r in all_rows if r.get("errors", "0") not in ("0", "")]
    if errs:
        out.append("## Runs with errors")
        out.append("")
        for r in errs:
            out.append(f"- {r['target']} {label((r['size'], r['client'], r['sessions'], r['mode']))}"
                       f" rep {r['rep']}: errors={r['errors']}")
        out.append("")
    print("\n".join(out))


# ---- end-to-end completion ---------------------------------------------------

def metric_value(port, name):
    """NAME's value (summed over its label sets) or None if posthorn does not
    export it. Raises OSError if the endpoint does not answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode("utf-8", "replace")
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name):len(name) + 1] in (" ", "{")):
            total += float(line.rsplit(None, 1)[1])
            found = True
    return int(total) if found else None


def cmd_metric(args):
    port, name = args[0], args[1]
    try:
        v = metric_value(port, name)
    except OSError as e:
        die(f"GET http://127.0.0.1:{port}/metrics: {e}")
    if v is None:
        die(f"no metric {name} at http://127.0.0.1:{port}/metrics")
    print(v)


def wait_count(count, target, timeout_s):
    """Polls count() every 50 ms until it reaches target. Prints "T_NS COUNT"
    with the wall-clock time the target was first seen; exit 1 on timeout or
    when the count has not moved for BENCH_STALL_S seconds."""
    stall_s = float(os.environ.get("BENCH_STALL_S", "60"))
    start = time.monotonic()
    last, last_change = -1, start
    while True:
        n = count()
        now = time.monotonic()
        if n >= target:
            print(f"{time.time_ns()} {n}")
            return
        if n != last:
            last, last_change = n, now
        if now - start > timeout_s or now - last_change > stall_s:
            print(f"{time.time_ns()} {n}")
            why = "timeout" if now - start > timeout_s else f"no progress for {stall_s:.0f}s"
            die(f"{n} of {target} after {now - start:.1f}s ({why})")
        time.sleep(0.05)


def cmd_wait_maildir(args):
    base, target, timeout_s = args[0], int(args[1]), float(args[2])

    def count():
        n = 0
        for d in glob.glob(os.path.join(base, "*", "new")):
            try:
                n += len(os.listdir(d))
            except OSError:
                pass
        return n
    wait_count(count, target, timeout_s)


def cmd_wait_metric(args):
    port, name, target, timeout_s = args[0], args[1], int(args[2]), float(args[3])

    def count():
        try:
            v = metric_value(port, name)
        except OSError as e:
            die(f"GET http://127.0.0.1:{port}/metrics: {e}")
        if v is None:
            die(f"no metric {name} at http://127.0.0.1:{port}/metrics")
        return v
    wait_count(count, target, timeout_s)


def cmd_e2e_report(args):
    """RAW columns: target size sessions rep msgs secs msgs_per_s cpu_ticks
    cpu_us_per_msg errors bg_cpu_pct. Medians over the numbered reps."""
    raw, title = args[0], args[1]
    with open(raw) as f:
        header = f.readline().rstrip("\n").split("\t")
        all_rows = [dict(zip(header, l.rstrip("\n").split("\t"))) for l in f if l.strip()]
    rows = [r for r in all_rows if r["rep"].isdigit()]
    cells = []
    for r in all_rows:
        if (r["size"], r["sessions"]) not in cells:
            cells.append((r["size"], r["sessions"]))

    def med(target, cell, field):
        vals = [float(r[field]) for r in rows
                if r["target"] == target and (r["size"], r["sessions"]) == cell
                and r["errors"] == "0" and r.get(field) not in (None, "", "-")]
        return (statistics.median(vals), len(vals)) if vals else (None, 0)

    out = [f"# {title}", "",
           "| size | sessions | Postfix msgs/s | posthorn msgs/s | posthorn/Postfix "
           "| Postfix CPU µs/msg | posthorn CPU µs/msg | runs (Postfix, posthorn) |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for cell in cells:
        pf, npf = med("postfix", cell, "msgs_per_s")
        ph, nph = med("posthorn", cell, "msgs_per_s")
        pfc, _ = med("postfix", cell, "cpu_us_per_msg")
        phc, _ = med("posthorn", cell, "cpu_us_per_msg")
        size = int(cell[0])
        label = f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"
        out.append(f"| {label} | {cell[1]} | {fmt(pf)} | {fmt(ph)} | {ratio(ph, pf)} "
                   f"| {fmt(pfc)} | {fmt(phc)} | {npf}, {nph} |")
    out.append("")
    bg = [(float(r["bg_cpu_pct"]), r) for r in rows if r.get("bg_cpu_pct") not in (None, "", "-")]
    if bg:
        vals = sorted(v for v, _ in bg)
        noisy = [(v, r) for v, r in bg if v > 10]
        out += ["## Other processes", "",
                f"CPU used during a run by user processes other than the server and the clients "
                f"(the machine may be shared), in % of one core: median "
                f"{statistics.median(vals):.0f}, max {vals[-1]:.0f}; runs above 10 %: "
                f"{len(noisy)} of {len(vals)}."]
        for v, r in noisy[:20]:
            out.append(f"- {r['target']} {r['size']} B x {r['sessions']} rep {r['rep']}: {v:.0f} %")
        out.append("")
    noisy_runs = sum(1 for r in all_rows if r["rep"] == "noisy")
    if noisy_runs:
        out += [f"{noisy_runs} run(s) were repeated because other processes used more than 25 % "
                f"of a core (kept in the raw file as 'noisy').", ""]
    errs = [r for r in all_rows if r.get("errors", "0") not in ("0", "")]
    if errs:
        out += ["## Runs with errors", ""]
        for r in errs:
            out.append(f"- {r['target']} {r['size']} B x {r['sessions']} rep {r['rep']}: "
                       f"{r['msgs']} of the messages delivered, errors={r['errors']}")
        out.append("")
    print("\n".join(out))


MAILBOX_MODES = [
    ("imap-select", "SELECT INBOX", "ops/s"),
    ("imap-fetch-envelope", "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", "ops/s"),
    ("imap-search-from", "SEARCH FROM \"<name>\"", "ops/s"),
    ("imap-fetch-body", "FETCH n BODY[] (random n)", "ops/s"),
    ("pop3-retr-all", "POP3 RETR 1..N (whole mailbox)", "msgs/s"),
]


def cmd_mailbox_report(args):
    """RAW columns: target mode rep clients ops secs ops_per_s mb_per_s p50_us
    p99_us errors client_cpu_pct server_cpu_us_per_op bg_cpu_pct. Medians over
    the numbered reps without errors."""
    raw, title = args[0], args[1]
    with open(raw) as f:
        header = f.readline().rstrip("\n").split("\t")
        all_rows = [dict(zip(header, l.rstrip("\n").split("\t"))) for l in f if l.strip()]
    rows = [r for r in all_rows if r["rep"].isdigit()]

    def med(target, mode, field):
        vals = [float(r[field]) for r in rows
                if r["target"] == target and r["mode"] == mode and r["errors"] == "0"
                and r.get(field) not in (None, "", "-")]
        return (statistics.median(vals), len(vals)) if vals else (None, 0)

    def verdict(ph, dc):
        if ph is None or dc is None or dc == 0:
            return "–"
        return "yes" if ph / dc >= 2 else "**no**"

    modes = [m for m in MAILBOX_MODES if any(r["mode"] == m[0] for r in all_rows)]
    out = [f"# {title}", "",
           "| operation | unit | Dovecot | posthorn | posthorn/Dovecot | ≥ 2× | Dovecot MB/s "
           "| posthorn MB/s | Dovecot p99 ms | posthorn p99 ms | server CPU µs/op (Dovecot, posthorn) "
           "| clients | runs (Dovecot, posthorn) |",
           "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|"]
    for mode, label, unit in modes:
        dc, ndc = med("dovecot", mode, "ops_per_s")
        ph, nph = med("posthorn", mode, "ops_per_s")
        dmb, _ = med("dovecot", mode, "mb_per_s")
        pmb, _ = med("posthorn", mode, "mb_per_s")
        d99, _ = med("dovecot", mode, "p99_us")
        p99, _ = med("posthorn", mode, "p99_us")
        dcpu, _ = med("dovecot", mode, "server_cpu_us_per_op")
        pcpu, _ = med("posthorn", mode, "server_cpu_us_per_op")
        clients = sorted({r["clients"] for r in all_rows if r["mode"] == mode})
        ms = lambda v: None if v is None else v / 1000  # noqa: E731
        out.append(f"| `{label}` | {unit} | {fmt(dc, 1 if dc and dc < 100 else 0)} "
                   f"| {fmt(ph, 1 if ph and ph < 100 else 0)} | {ratio(ph, dc)} | {verdict(ph, dc)} "
                   f"| {fmt(dmb, 1)} | {fmt(pmb, 1)} | {fmt(ms(d99), 2)} | {fmt(ms(p99), 2)} "
                   f"| {fmt(dcpu)}, {fmt(pcpu)} | {', '.join(clients)} | {ndc}, {nph} |")
    out.append("")
    cpu = [(float(r["client_cpu_pct"]), r) for r in rows if r.get("client_cpu_pct") not in (None, "", "-")]
    if cpu:
        top = max(cpu, key=lambda x: x[0])
        busy = sorted({f"{r['target']} {r['mode']}" for v, r in cpu if v > 70})
        out += [f"Load generator CPU (whole process, setup included) in % of one core: max "
                f"{top[0]:.0f} ({top[1]['target']} {top[1]['mode']} rep {top[1]['rep']}) on "
                f"{os.cpu_count()} cores." +
                (f" Above 70 % in: {', '.join(busy)} — there the client, sharing the cores "
                 f"with the server, may be what limits the rate (posthorn `--shards 1` leaves it "
                 f"a core)." if busy else ""), ""]
    bg = sorted(float(r["bg_cpu_pct"]) for r in rows if r.get("bg_cpu_pct") not in (None, "", "-"))
    if bg:
        out += [f"Other processes during a run (the machine may be shared), % of one core: median "
                f"{statistics.median(bg):.0f}, max {bg[-1]:.0f}.", ""]
    errs = [r for r in all_rows if r.get("errors", "0") not in ("0", "")]
    if errs:
        out += ["## Runs with errors", ""]
        for r in errs:
            out.append(f"- {r['target']} {r['mode']} rep {r['rep']}: errors={r['errors']} "
                       f"(ops={r['ops']})")
        out.append("")
    print("\n".join(out))


LDAP_MODES = [
    ("eq-mail", "(mail=<address>), one entry"),
    ("sub-cn", "(cn=<prefix>*), substring"),
]


def cmd_ldap_report(args):
    """RAW columns: target mode rep conns depth searches secs searches_per_s
    entries_per_s mb_per_s p50_us p99_us errors client_cpu_pct
    server_cpu_us_per_op server_cpu_pct bg_cpu_pct. Medians over the numbered
    reps without errors."""
    raw, title = args[0], args[1]
    with open(raw) as f:
        header = f.readline().rstrip("\n").split("\t")
        all_rows = [dict(zip(header, l.rstrip("\n").split("\t"))) for l in f if l.strip()]
    rows = [r for r in all_rows if r["rep"].isdigit()]

    def med(target, mode, field):
        vals = [float(r[field]) for r in rows
                if r["target"] == target and r["mode"] == mode and r["errors"] == "0"
                and r.get(field) not in (None, "", "-")]
        return (statistics.median(vals), len(vals)) if vals else (None, 0)

    def verdict(ph, sl):
        if ph is None or sl is None or sl == 0:
            return "–"
        return "yes" if ph / sl >= 2 else "**no**"

    known = {m for m, _ in LDAP_MODES}
    modes = [m for m in LDAP_MODES if any(r["mode"] == m[0] for r in all_rows)]
    modes += [(m, m) for m in dict.fromkeys(r["mode"] for r in all_rows) if m not in known]
    ms = lambda v: None if v is None else v / 1000  # noqa: E731
    out = [f"# {title}", "",
           "| search | slapd searches/s | posthorn searches/s | posthorn/slapd | ≥ 2× "
           "| entries/s (slapd, posthorn) | p99 ms (slapd, posthorn) "
           "| server CPU µs/search (slapd, posthorn) | server CPU % of a core (slapd, posthorn) "
           "| conns × depth | runs (slapd, posthorn) |",
           "|---|---:|---:|---:|---|---|---|---|---|---|---|"]
    for mode, label in modes:
        sl, nsl = med("slapd", mode, "searches_per_s")
        ph, nph = med("posthorn", mode, "searches_per_s")
        sle, _ = med("slapd", mode, "entries_per_s")
        phe, _ = med("posthorn", mode, "entries_per_s")
        s99, _ = med("slapd", mode, "p99_us")
        p99, _ = med("posthorn", mode, "p99_us")
        scpu, _ = med("slapd", mode, "server_cpu_us_per_op")
        pcpu, _ = med("posthorn", mode, "server_cpu_us_per_op")
        spct, _ = med("slapd", mode, "server_cpu_pct")
        ppct, _ = med("posthorn", mode, "server_cpu_pct")
        shape = sorted({f"{r['conns']} × {r['depth']}" for r in all_rows if r["mode"] == mode})
        out.append(f"| `{mode}` {label} | {fmt(sl)} | {fmt(ph)} | {ratio(ph, sl)} | {verdict(ph, sl)} "
                   f"| {fmt(sle)}, {fmt(phe)} | {fmt(ms(s99), 2)}, {fmt(ms(p99), 2)} "
                   f"| {fmt(scpu, 1)}, {fmt(pcpu, 1)} | {fmt(spct)}, {fmt(ppct)} "
                   f"| {', '.join(shape)} | {nsl}, {nph} |")
    out.append("")
    cpu = [(float(r["client_cpu_pct"]), r) for r in rows if r.get("client_cpu_pct") not in (None, "", "-")]
    if cpu:
        top = max(cpu, key=lambda x: x[0])
        busy = sorted({f"{r['target']} {r['mode']}" for v, r in cpu if v > 70})
        per = {}
        for v, r in cpu:
            per.setdefault((r["target"], r["mode"]), []).append(v)
        meds = ", ".join(f"{t} {m} {statistics.median(v):.0f}" for (t, m), v in sorted(per.items()))
        out += [f"Load generator CPU (user+system of posthorn-ldapload during the run, loopback TCP "
                f"work included) in % of one core, medians: {meds}; max {top[0]:.0f} "
                f"({top[1]['target']} {top[1]['mode']} rep {top[1]['rep']}) on {os.cpu_count()} cores." +
                (f" Above 70 % in: {', '.join(busy)} — there the client, sharing the cores with the "
                 f"server, may be what limits the rate." if busy else ""), ""]
    bg = sorted(float(r["bg_cpu_pct"]) for r in rows if r.get("bg_cpu_pct") not in (None, "", "-"))
    if bg:
        out += [f"Other processes during a run (the machine may be shared), % of one core: median "
                f"{statistics.median(bg):.0f}, max {bg[-1]:.0f}.", ""]
    errs = [r for r in all_rows if r.get("errors", "0") not in ("0", "")]
    if errs:
        out += ["## Runs with errors", ""]
        for r in errs:
            out.append(f"- {r['target']} {r['mode']} rep {r['rep']}: errors={r['errors']} "
                       f"(searches={r['searches']})")
        out.append("")
    print("\n".join(out))


COMMANDS = {
    "free-port": cmd_free_port,
    "tree-ticks": cmd_tree_ticks,
    "clk-tck": lambda _a: print(os.sysconf("SC_CLK_TCK")),
    "status": cmd_status,
    "snap": cmd_snap,
    "others": cmd_others,
    "pss": cmd_pss,
    "report": cmd_report,
    "metric": cmd_metric,
    "wait-maildir": cmd_wait_maildir,
    "wait-metric": cmd_wait_metric,
    "e2e-report": cmd_e2e_report,
    "mailbox-report": cmd_mailbox_report,
    "ldap-report": cmd_ldap_report,
    "mem": cmd_mem,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
