#!/bin/bash
# Mailbox access, posthorn against Dovecot, in one run, on the same messages:
# IMAP SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), SEARCH FROM,
# FETCH n BODY[] with --clients clients, POP3 RETR of the whole mailbox, and
# the memory of 1,000 idle logged-in IMAP sessions.
#   Corpus: tools/mailcorpus.py generate (fixed seed): --msgs messages, the
#           same bytes for both servers, in the INBOX of user `bench`.
#   Dovecot: a private instance (lib/dovecot.sh): its own config in the temp
#           dir, sdbox, index cache on, high-performance login processes, on
#           free 127.0.0.1 ports; loaded with `doveadm import`.
#   posthorn: [listen] smtp, imap, pop3 (and metrics) on free 127.0.0.1 ports;
#           loaded over SMTP (tools/mailcorpus.py smtp-send) with
#           durability = "none", then restarted with durability = "fsync" on
#           the same data_dir before anything is measured. If it has no IMAP
#           (or no POP3) listener yet, the script says so ("posthorn has no
#           IMAP listener yet") and measures those modes on Dovecot only.
# Per mode: one unrecorded warm-up run per server (--warmup seconds), then
# --runs recorded runs alternating between the servers (Dovecot, posthorn;
# posthorn, Dovecot; ...); the report
# gives medians and posthorn/Dovecot. A run is posthorn-mailload with
# --clients clients, each logged in once, repeating the operation for
# --seconds; every response is checked (counts, literal sizes against
# RFC822.SIZE, LIST sizes against RETR). Server CPU per operation: the
# server's whole process tree (/proc), from the start of a run until it is
# quiet again.
# Idle: --idle-sessions sessions (LOGIN, SELECT INBOX, IDLE) on a server
# restarted for it (one session has SELECTed INBOX since), memory before and
# after: posthorn VmRSS; Dovecot RSS summed over all its processes (master,
# imap-login, auth, one imap per session, ...) and PSS summed likewise.
#
# usage: bench/compare/mailbox_vs_dovecot.sh [--msgs 10000] [--runs 5]
#          [--seconds 5] [--clients 16] [--pop3-clients 1] [--idle-sessions 1000]
#          [--warmup 1] [--modes "imap-select ..."] [--only dovecot,posthorn]
#          [--shards N] [--posthorn BIN] [--mailload BIN] [--seed N] [--out DIR] [--keep]
#   --shards: posthorn's shards (default "auto", one per core); on a 2-core
#     machine, --shards 1 leaves the load generator a core, as in the SMTP runs.
#   --pop3-clients: POP3 clients at once, each on its own user's maildrop
#     (RFC 1939 locks a maildrop per session): with K > 1 the corpus is loaded
#     into bench1..benchK as well; 1 (default): user bench.
#   --modes: a subset of imap-select imap-fetch-envelope imap-search-from
#     imap-fetch-body pop3-retr-all idle
# Output: Markdown on stdout and in bench/compare/results/mailbox_vs_dovecot-<date>.md
# (raw runs beside it as .tsv). Exit 1 if any run failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/dovecot.sh"

MSGS=10000
RUNS=5
SECONDS_RUN=5
CLIENTS=16
POP3_CLIENTS=1
IDLE_SESSIONS=1000
WARMUP=1
MODES="imap-select imap-fetch-envelope imap-search-from imap-fetch-body pop3-retr-all idle"
ONLY=dovecot,posthorn
OUT_DIR=$REPO/bench/compare/results
SEED=20261126
MAILLOAD=${MAILLOAD:-$REPO/build-bench/tools/posthorn-mailload}
CORPUS_TOOL=$REPO/tools/mailcorpus.py
LOAD_TIMEOUT=${LOAD_TIMEOUT:-1800}   # seconds, for loading the corpus into one server
while (($#)); do
    case $1 in
    --msgs | --messages) MSGS=$2; shift ;;
    --runs | --reps) RUNS=$2; shift ;;
    --seconds | --secs) SECONDS_RUN=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --pop3-clients) POP3_CLIENTS=$2; shift ;;
    --idle-sessions) IDLE_SESSIONS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --shards) export POSTHORN_SHARDS=$2; shift ;;
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --mailload) MAILLOAD=$(realpath "$2"); shift ;;
    --seed) SEED=$2; shift ;;
    --out) OUT_DIR=$2; shift ;;
    --keep) BENCH_KEEP=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
for v in MSGS RUNS CLIENTS POP3_CLIENTS IDLE_SESSIONS SEED; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive number (got '${!v}')"
done
[[ $SECONDS_RUN =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds wants a number"
[[ $WARMUP =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--warmup wants a number (0: none)"
for m in $MODES; do
    [[ $m =~ ^(imap-select|imap-fetch-envelope|imap-search-from|imap-fetch-body|pop3-retr-all|idle)$ ]] ||
        die "--modes: unknown mode '$m'"
done
TARGETS=()
for t in ${ONLY//,/ }; do [[ $t =~ ^(dovecot|posthorn)$ ]] || die "--only: unknown target '$t' (dovecot, posthorn)"; done
for t in dovecot posthorn; do [[ ,$ONLY, == *,$t,* ]] && TARGETS+=("$t"); done
((${#TARGETS[@]})) || die "--only selects no target"
[[ ,$ONLY, != *,posthorn,* || -x $POSTHORN ]] ||
    die "no posthorn binary at $POSTHORN (build it, pass --posthorn BIN, or use --only dovecot)"
((EUID == 0)) || die "run as root (Dovecot's mail processes change to their own user)"

bench_tmpdir
if [[ ! -x /usr/sbin/dovecot || ! -x /usr/bin/doveadm ]]; then
    note "installing the benchmark's packages (tools/bootstrap-bench.sh)"
    "$REPO/tools/bootstrap-bench.sh" >&2 || die "tools/bootstrap-bench.sh failed"
fi
raise_somaxconn
mkdir -p "$OUT_DIR" || die "mkdir $OUT_DIR"
STAMP=$(date +%Y-%m-%dT%H%M)
# Fewer messages, runs or seconds than the issue's setting: a smoke run, and
# its file name and title say so.
SMOKE=0
awk -v m="$MSGS" -v r="$RUNS" -v s="$SECONDS_RUN" 'BEGIN { exit !(m < 10000 || r < 3 || s < 5) }' && SMOKE=1
SUFFIX=$( ((SMOKE)) && echo -smoke)
REPORT=$OUT_DIR/mailbox_vs_dovecot-$STAMP$SUFFIX.md
RAW=$OUT_DIR/mailbox_vs_dovecot-$STAMP$SUFFIX.tsv
printf 'target\tmode\trep\tclients\tops\tsecs\tops_per_s\tmb_per_s\tp50_us\tp99_us\terrors\tclient_cpu_pct\tserver_cpu_us_per_op\tbg_cpu_pct\n' >"$RAW"
FAILED=0
NOTES=()       # for the report: what was not measured, and why
IDLE_ROWS=()
T_START=$(date +%s)
MAX_SESSIONS=$((IDLE_SESSIONS > CLIENTS ? IDLE_SESSIONS : CLIENTS))
POP3_USER=bench
EXTRA_USERS=()   # one maildrop per POP3 client when there are several
if ((POP3_CLIENTS > 1)); then
    POP3_USER='bench%d'
    for ((k = 1; k <= POP3_CLIENTS; k++)); do EXTRA_USERS+=("bench$k"); done
fi

# ---- the load generator -------------------------------------------------------
ensure_load_tool MAILLOAD mailload

# ---- the corpus -----------------------------------------------------------------
CORPUS=$BENCH_TMP/corpus
note "generating $MSGS messages (seed $SEED)"
"${BL[0]}" "$CORPUS_TOOL" generate "$CORPUS" "$MSGS" --seed "$SEED" >&2 || die "corpus generation failed"
HITS=$(sed -n 's/^search_hits=//p' "$CORPUS/manifest")
SEARCH_NAME=$(sed -n 's/^search_name=//p' "$CORPUS/manifest")
CORPUS_BYTES=$(sed -n 's/^bytes_crlf=//p' "$CORPUS/manifest")

# ---- servers -----------------------------------------------------------------------
# Per target: SERVER_PID, IMAP_PORT, POP3_PORT, HAS_IMAP and HAS_POP3 (0
# when the server has no such listener: its modes are skipped, and said so).
# start_<target> returns 1 if it cannot be measured at all (the reason is in
# NOTES).
HAS_IMAP=1
HAS_POP3=1

start_dovecot() {
    DC_DIR=$BENCH_TMP/dovecot
    IMAP_PORT=$(free_port)
    POP3_PORT=$(free_port)
    dc_setup "$DC_DIR" "$IMAP_PORT" "$POP3_PORT" "$MAX_SESSIONS" "${EXTRA_USERS[*]}"
    dc_start "$DC_DIR" "$IMAP_PORT" || { NOTES+=("Dovecot did not start (see its log)"); return 1; }
    local t0=$SECONDS u
    for u in bench "${EXTRA_USERS[@]}"; do
        dc_load "$DC_DIR" "$u" "$CORPUS" "$MSGS" || { NOTES+=("loading the corpus into Dovecot ($u) failed"); return 1; }
    done
    note "Dovecot: corpus imported in $((SECONDS - t0)) s"
    SERVER_PID=$DC_PID
    HAS_IMAP=1
    HAS_POP3=1
}

stop_dovecot() { dc_stop; }

# posthorn_mail_config FILE DATA_DIR DURABILITY: smtp, imap, pop3 and metrics
# listeners on the current ports; users user1..user5 (password userN) and
# bench (and bench1..benchK) with password bench.
posthorn_mail_config() {
    local file=$1 data=$2 dur=$3 u
    posthorn_config "$file" "$data" "$SMTP_PORT" 52428800 "$dur" 5 "$METRICS_PORT"
    sed -i "s|^pop3 = \[\]|pop3 = [\"127.0.0.1:$POP3_PORT\"]|; s|^imap = \[\]|imap = [\"127.0.0.1:$IMAP_PORT\"]|" "$file"
    for u in bench "${EXTRA_USERS[@]}"; do
        printf '\n[[users]]\nname = "%s"\npassword = "{PLAIN}bench"\naddresses = ["%s@example.test"]\n' \
            "$u" "$u" >>"$file"
    done
}

# Which of IMAP_PORT and POP3_PORT greet (HAS_IMAP, HAS_POP3), with a clear
# note for each that does not; returns 1 if neither does. With argument 1 the
# notes also go into the report (once, at the first start).
posthorn_check_listeners() {
    local record=${1:-0} why
    HAS_IMAP=1
    HAS_POP3=1
    if ! wait_greeting "$IMAP_PORT" '* OK' 10 "$POSTHORN_PID"; then
        HAS_IMAP=0
        why=$(grep -m1 -F "127.0.0.1:$IMAP_PORT" "$PH_DIR/posthorn.log")
        note "posthorn has no IMAP listener yet: nothing greets on 127.0.0.1:$IMAP_PORT${why:+ (its log: $why)}"
        ((record)) && NOTES+=("posthorn has no IMAP listener yet (nothing greeted with \`* OK\` on its \`[listen] imap\` port): the IMAP modes and idle sessions were not measured on posthorn")
    fi
    if ! wait_greeting "$POP3_PORT" '+OK' 10 "$POSTHORN_PID"; then
        HAS_POP3=0
        note "posthorn has no POP3 listener yet: nothing greets on 127.0.0.1:$POP3_PORT"
        ((record)) && NOTES+=("posthorn has no POP3 listener yet (nothing greeted with \`+OK\` on its \`[listen] pop3\` port): \`pop3-retr-all\` was not measured on posthorn")
    fi
    ((HAS_IMAP || HAS_POP3))
}

start_posthorn_target() {
    local conf t0 u
    PH_DIR=$BENCH_TMP/posthorn
    mkdir -p "$PH_DIR/data"
    conf=$PH_DIR/posthorn.toml
    SMTP_PORT=$(free_port)
    IMAP_PORT=$(free_port)
    POP3_PORT=$(free_port)
    METRICS_PORT=$(free_port)
    # Loading: durability "none" (loading is not what is measured).
    posthorn_mail_config "$conf.load" "$PH_DIR/data" none
    start_posthorn "$conf.load" "$SMTP_PORT" "$PH_DIR/posthorn.log" ||
        { NOTES+=("posthorn did not start (see its log)"); return 1; }
    # No point loading 10,000 messages into a server that cannot serve them.
    posthorn_check_listeners 1 || { NOTES+=("posthorn was not measured"); stop_posthorn; return 1; }
    t0=$SECONDS
    "${BL[@]}" metric "$METRICS_PORT" posthorn_local_deliveries_total >/dev/null 2>&1 ||
        { NOTES+=("posthorn exports no posthorn_local_deliveries_total: cannot tell when the corpus is in the mailbox"); stop_posthorn; return 1; }
    local n_users=0
    for u in bench "${EXTRA_USERS[@]}"; do
        n_users=$((n_users + 1))
        "${BL[0]}" "$CORPUS_TOOL" smtp-send "$CORPUS" "127.0.0.1:$SMTP_PORT" "$u@example.test" --sessions 4 >&2 ||
            { NOTES+=("loading the corpus into posthorn over SMTP failed"); stop_posthorn; return 1; }
    done
    "${BL[@]}" wait-metric "$METRICS_PORT" posthorn_local_deliveries_total $((MSGS * n_users)) "$LOAD_TIMEOUT" >/dev/null ||
        { NOTES+=("posthorn did not deliver the corpus to the mailbox"); stop_posthorn; return 1; }
    note "posthorn: corpus delivered in $((SECONDS - t0)) s; restarting with durability = fsync"
    stop_posthorn
    # Measured: the normal configuration, on the loaded data_dir.
    posthorn_mail_config "$conf" "$PH_DIR/data" fsync
    start_posthorn "$conf" "$SMTP_PORT" "$PH_DIR/posthorn.log" ||
        { NOTES+=("posthorn did not restart on the loaded data_dir"); return 1; }
    posthorn_check_listeners || { NOTES+=("posthorn's listeners did not answer after the restart"); stop_posthorn; return 1; }
    SERVER_PID=$POSTHORN_PID
}

stop_posthorn_target() { stop_posthorn; }

# ---- one run -------------------------------------------------------------------------
# measure TARGET MODE REP SECS: one posthorn-mailload run; appends a row to RAW
# (REP "warmup" rows are kept but not counted). Returns 1 if the server died.
measure() {
    local target=$1 mode=$2 rep=$3 secs=$4 port=$IMAP_PORT clients=$CLIENTS user=bench
    local out=$BENCH_TMP/run.out err=$BENCH_TMP/run.err c0 c1 t0 t1 others rc
    if [[ $mode == pop3-retr-all ]]; then
        port=$POP3_PORT
        clients=$POP3_CLIENTS
        user=$POP3_USER
    fi
    settle_ticks "$SERVER_PID" 60 >/dev/null || return 1
    [[ $rep == warmup ]] || wait_machine_quiet
    "${BL[@]}" snap "$BENCH_TMP/snap0"
    c0=$(cpu_ticks "$SERVER_PID") || return 1
    t0=$(date +%s%N)
    "$MAILLOAD" --mode "$mode" --port "$port" --clients "$clients" --seconds "$secs" \
        --user "$user" --password bench --search "$SEARCH_NAME" \
        --expect-msgs "$MSGS" --expect-hits "$HITS" --seed "$((SEED + ${rep//[!0-9]/0}))" >"$out" 2>"$err"
    rc=$?
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$err" >&2; return 1; }
    c1=$(settle_ticks "$SERVER_PID" 60) || return 1
    t1=$(date +%s%N)
    "${BL[@]}" snap "$BENCH_TMP/snap1"
    others=$("${BL[@]}" others "$BENCH_TMP/snap0" "$BENCH_TMP/snap1" "$SERVER_PID" "$$") || others=0
    if ((rc != 0)); then
        FAILED=1
        note "$target $mode rep $rep: posthorn-mailload failed (exit $rc):"
        head -5 "$err" >&2
    fi
    # key=value line -> TSV row
    awk -v target="$target" -v mode="$mode" -v rep="$rep" -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" \
        -v others="$others" -v wall="$((t1 - t0))" -v rc="$rc" '
        /^mode=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } found = 1 }
        END {
            if (!found) { v["clients"] = "-"; v["ops"] = 0; v["secs"] = "-"; v["ops_per_s"] = "-";
                v["mb_per_s"] = "-"; v["p50_us"] = "-"; v["p99_us"] = "-"; v["errors"] = 1; v["client_cpu_s"] = "" }
            if (rc != 0 && v["errors"] == 0) v["errors"] = 1
            cpu = (v["ops"] > 0) ? sprintf("%.1f", ticks * 1e6 / hz / v["ops"]) : "-"
            ccpu = (v["client_cpu_s"] != "" && v["secs"] > 0) ? sprintf("%.0f", v["client_cpu_s"] * 100 / v["secs"]) : "-"
            bg = sprintf("%.0f", others / hz * 100 / (wall / 1e9))
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", target, mode, rep, v["clients"],
                v["ops"], v["secs"], v["ops_per_s"], v["mb_per_s"], v["p50_us"], v["p99_us"], v["errors"], ccpu, cpu, bg
        }' "$out" >>"$RAW"
    note "$target $mode rep=$rep: $(tail -1 "$RAW" | awk -F'\t' '{ printf "ops/s=%s MB/s=%s p99_us=%s errors=%s client_cpu=%s%% server_cpu_us/op=%s others=%s%%", $7, $8, $10, $11, $12, $13, $14 }')"
}

# ---- idle sessions ------------------------------------------------------------------------
# measure_idle TARGET: IDLE_SESSIONS sessions in IDLE; memory of the server
# before and after, into IDLE_ROWS.
mem_of() {  # -> "RSS PSS PROCS" of the server's tree, kB
    "${BL[@]}" mem "$SERVER_PID" | sed 's/[a-z_]*=//g'
}

# restart_target TARGET: the server stopped and started again on the same
# data (the memory the throughput runs left behind, in caches and
# allocators, would otherwise be reused by the idle sessions and hide their
# cost); then one session SELECTs INBOX, so what the mailbox itself costs,
# shared by all its sessions, is in "before". Sets SERVER_PID (and the
# target's saved pid).
restart_target() {
    if [[ $1 == dovecot ]]; then
        dc_stop
        dc_start "$DC_DIR" "$DC_IMAP" || return 1
        DC_SERVER=$DC_PID SERVER_PID=$DC_PID
    else
        POSTHORN_PID=$PH_SERVER
        stop_posthorn
        start_posthorn "$PH_DIR/posthorn.toml" "$SMTP_PORT" "$PH_DIR/posthorn.log" || return 1
        wait_greeting "$IMAP_PORT" '* OK' 30 "$POSTHORN_PID" || return 1
        PH_SERVER=$POSTHORN_PID SERVER_PID=$POSTHORN_PID
    fi
    "$MAILLOAD" --mode imap-select --port "$IMAP_PORT" --clients 1 --seconds 0.1 --user bench \
        --password bench --expect-msgs "$MSGS" >/dev/null 2>"$BENCH_TMP/idle-warm.err" ||
        { cat "$BENCH_TMP/idle-warm.err" >&2; return 1; }
}

measure_idle() {
    local target=$1 out=$BENCH_TMP/idle.out pid i ready rss0 pss0 n0 rss1 pss1 n1
    restart_target "$target" || { note "$target did not restart for the idle sessions"; return 1; }
    settle_ticks "$SERVER_PID" 60 >/dev/null || return 1
    sleep 1
    read -r rss0 pss0 n0 < <(mem_of)
    [[ $target == posthorn ]] && rss0=$("${BL[@]}" status "$SERVER_PID" VmRSS | sed 's/.*=//')
    : >"$out"
    "$MAILLOAD" --mode imap-idle --port "$IMAP_PORT" --clients "$IDLE_SESSIONS" --threads 8 \
        --user bench --password bench --timeout-ms 120000 >"$out" 2>&1 &
    pid=$!
    _BG_PIDS+=("$pid")
    for ((i = 0; i < 3000; i++)); do
        grep -q '^idle_ready' "$out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^idle_ready' "$out"; then
        cat "$out" >&2
        stop_pid "$pid"
        forget_bg "$pid"
        FAILED=1
        IDLE_ROWS+=("| $target | – | – | – | – | – | sessions did not open |")
        return 0
    fi
    ready=$(sed -n 's/^idle_ready.* ready=\([0-9]*\).*/\1/p' "$out")
    ((ready == IDLE_SESSIONS)) || { FAILED=1; note "$target: only $ready of $IDLE_SESSIONS idle sessions opened"; grep -v '^idle_' "$out" | head -5 >&2; }
    settle_ticks "$SERVER_PID" 60 >/dev/null
    sleep 1
    read -r rss1 pss1 n1 < <(mem_of)
    [[ $target == posthorn ]] && rss1=$("${BL[@]}" status "$SERVER_PID" VmRSS | sed 's/.*=//')
    note "$target idle: $(grep '^idle_ready' "$out"); RSS $rss0 -> $rss1 kB, PSS $pss0 -> $pss1 kB, processes $n0 -> $n1"
    stop_pid "$pid"
    forget_bg "$pid"
    local per_rss per_pss
    per_rss=$(awk -v a="$rss0" -v b="$rss1" -v n="$ready" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "–" }')
    per_pss=$(awk -v a="$pss0" -v b="$pss1" -v n="$ready" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "–" }')
    if [[ $target == posthorn ]]; then
        IDLE_ROWS+=("| posthorn (VmRSS, one process) | $ready | $rss0 | $rss1 | **$per_rss** | $per_pss (PSS) | $n0 → $n1 |")
    else
        IDLE_ROWS+=("| Dovecot (RSS summed over its processes) | $ready | $rss0 | $rss1 | **$per_rss** | $per_pss (PSS) | $n0 → $n1 |")
    fi
}

# ---- the runs ------------------------------------------------------------------------------
# Both servers run side by side (their own ports and directories), so the
# runs can alternate between them.
ACTIVE=()
for t in "${TARGETS[@]}"; do
    note "=== starting $t and loading $MSGS messages"
    if [[ $t == dovecot ]]; then
        if start_dovecot; then
            ACTIVE+=(dovecot) DC_SERVER=$SERVER_PID DC_IMAP=$IMAP_PORT DC_POP3=$POP3_PORT
        else
            FAILED=1
            stop_dovecot
        fi
    elif start_posthorn_target; then
        ACTIVE+=(posthorn) PH_SERVER=$SERVER_PID PH_IMAP=$IMAP_PORT PH_POP3=$POP3_PORT
        PH_HAS_IMAP=$HAS_IMAP PH_HAS_POP3=$HAS_POP3
    else
        # posthorn without listeners is a note when Dovecot is measured
        [[ ,$ONLY, == *,dovecot,* ]] || FAILED=1
        stop_posthorn
    fi
done
((${#ACTIVE[@]})) || die "no server to measure: ${NOTES[*]}"

serves() {  # serves MODE: the current target has the listener MODE needs
    if [[ $1 == pop3-* ]]; then ((HAS_POP3)); else ((HAS_IMAP)); fi
}

use() {  # use TARGET: SERVER_PID and the ports of that target
    if [[ $1 == dovecot ]]; then
        SERVER_PID=$DC_SERVER IMAP_PORT=$DC_IMAP POP3_PORT=$DC_POP3 HAS_IMAP=1 HAS_POP3=1
    else
        SERVER_PID=$PH_SERVER IMAP_PORT=$PH_IMAP POP3_PORT=$PH_POP3 HAS_IMAP=$PH_HAS_IMAP HAS_POP3=$PH_HAS_POP3
    fi
}

note "servers: ${ACTIVE[*]}; msgs=$MSGS (search hits $HITS) runs=$RUNS seconds=$SECONDS_RUN clients=$CLIENTS pop3_clients=$POP3_CLIENTS; tmp=$BENCH_TMP"
for mode in $MODES; do
    [[ $mode == idle ]] && continue
    note "=== $mode"
    if [[ $WARMUP != 0 ]]; then
        for t in "${ACTIVE[@]}"; do
            use "$t"
            serves "$mode" || continue
            measure "$t" "$mode" warmup "$WARMUP" || die "$t died during $mode"
        done
    fi
    for ((rep = 1; rep <= RUNS; rep++)); do
        # A B, B A, A B, ...: a drift over the runs (page cache, the store's
        # files, other load) does not always favour the same server.
        order=("${ACTIVE[@]}")
        ((rep % 2 == 0 && ${#ACTIVE[@]} == 2)) && order=("${ACTIVE[1]}" "${ACTIVE[0]}")
        for t in "${order[@]}"; do
            use "$t"
            serves "$mode" || continue
            measure "$t" "$mode" "$rep" "$SECONDS_RUN" || die "$t died during $mode"
        done
    done
done
if [[ " $MODES " == *" idle "* ]]; then
    note "=== $IDLE_SESSIONS idle IMAP sessions"
    for t in "${ACTIVE[@]}"; do
        use "$t"
        serves idle || continue
        measure_idle "$t" || die "$t died with idle sessions"
    done
fi
for t in "${ACTIVE[@]}"; do
    if [[ $t == dovecot ]]; then
        grep -E 'Error|Fatal|Panic' "$DC_DIR/log/dovecot.log" | sed 's/^[^:]*: //' | sort | uniq -c | sort -rn | head -5 >&2
        stop_dovecot
    else
        use posthorn
        POSTHORN_PID=$PH_SERVER
        stop_posthorn
    fi
done

# ---- report ------------------------------------------------------------------------------------
title="Mailbox access: posthorn vs Dovecot, $MSGS messages, $CLIENTS clients ($STAMP)"
[[ " ${ACTIVE[*]} " != *" posthorn "* ]] && title="Mailbox access: Dovecot only (posthorn not measured), $MSGS messages, $CLIENTS clients ($STAMP)"
((SMOKE)) && title="SMOKE RUN ($MSGS messages, $RUNS run(s) of $SECONDS_RUN s: checks the script, not a result): $title"
{
    echo "<!-- generated by bench/compare/mailbox_vs_dovecot.sh -->"
    "${BL[@]}" mailbox-report "$RAW" "$title"
    if ((${#IDLE_ROWS[@]})); then
        echo "## Memory per idle IMAP session (LOGIN, SELECT INBOX, IDLE)"
        echo
        echo "| server | sessions | before KiB | after KiB | KiB per session | PSS KiB per session | processes |"
        echo "|---|---:|---:|---:|---:|---:|---|"
        printf '%s\n' "${IDLE_ROWS[@]}"
        echo
        echo "Target: posthorn ≤ 32 KiB per session. Dovecot runs one imap process per session (its default); RSS counts the pages those processes share once in each, PSS splits them."
        echo
    fi
    if ((${#NOTES[@]})); then
        echo "## Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
        echo
    fi
    echo "## Setup"
    echo
    echo "- corpus: tools/mailcorpus.py, seed $SEED: $MSGS messages, $CORPUS_BYTES bytes (with CRLF line ends), 1-300 KiB (mostly 2-20 KiB), ~5 % multipart with a base64 attachment; \`SEARCH FROM \"$SEARCH_NAME\"\` matches $HITS; all in the INBOX of user \`bench\`"
    echo "- clients: posthorn-mailload, $CLIENTS IMAP clients (blocking, one thread each), each logged in once and repeating the operation for ${SECONDS_RUN} s; POP3: $POP3_CLIENTS client(s), each pass LOGIN, LIST, RETR 1..N, QUIT on a new connection, msgs/s = RETRs per second; every response checked (FETCH 1:* gives $MSGS envelopes, SEARCH gives $HITS, BODY[] literal = RFC822.SIZE, RETR size = LIST size)"
    warm="one ${WARMUP} s warm-up per server (not counted)"
    [[ $WARMUP == 0 ]] && warm="no warm-up"
    echo "- runs: per mode $warm, then $RUNS runs alternating between the servers (the order swapped every other run); medians of runs without errors. MB/s: all bytes the clients received. Server CPU: user+system of the server's process tree until it was quiet again, per operation"
    echo "- Dovecot $(/usr/sbin/dovecot --version 2>/dev/null | cut -d' ' -f1): private instance (own dovecot.conf, base_dir, ports on 127.0.0.1), sdbox with its index and cache (default settings), loaded with \`doveadm import\`; imap-login/pop3-login in high-performance mode (service_count = 0, process_min_avail = $(nproc)); one imap/pop3 process per session (default); ssl = no; passwd-file passdb, static userdb"
    if [[ " ${ACTIVE[*]} " == *" posthorn "* ]]; then
        echo "- posthorn at $POSTHORN (script at $(git -C "$REPO" describe --always --dirty 2>/dev/null)): loaded over SMTP with durability = \"none\", measured after a restart with durability = \"fsync\", shards ${POSTHORN_SHARDS:-auto}"
    fi
    echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); total $(($(date +%s) - T_START)) s"
    echo "- raw runs: $(basename "$RAW")"
} >"$REPORT"
cat "$REPORT"
note "report: $REPORT"
((FAILED == 0)) || die "some runs failed (see 'Runs with errors' and the messages above)"
