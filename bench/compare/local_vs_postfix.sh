#!/bin/bash
# End-to-end local delivery: smtp-source -> MTA -> local mailboxes, posthorn
# against Postfix delivering to Maildir, in one run. The clock runs from the
# start of the clients until the last message is in a mailbox, so it covers
# acceptance with fsync, the queue and local delivery with fsync.
#   Postfix: the bench instance (lib/common.sh pf_setup), virtual(8) delivery
#            to Maildirs mail/user1/ .. mail/user16/ (fsync on, as always);
#            done when the files in every mail/userN/new/ number N (polled
#            every 50 ms).
#   posthorn: durability = "fsync", local domain example.test with users
#            user1..user16; done when the counter posthorn_local_deliveries_total
#            on its metrics endpoint (GET /metrics, polled every 50 ms) has
#            grown by N.
# Load: the N messages go to user1..user16 in equal shares: one smtp-source
# per user (smtp-source has a single recipient address), the sessions split
# among them (16 sessions: 16 x -s 1; 128: 16 x -s 8), one connection per
# message. Cells: 1 KiB and 100 KiB x 16 and 128 sessions.
# Per cell: Postfix gets one unrecorded warm-up run (it forks its processes);
# posthorn is restarted with an empty data_dir for every run (Postfix's
# Maildirs are emptied before every run). Then REPS recorded runs; the report
# gives medians of msgs/s (N / elapsed) and of server CPU µs per message
# (user+system of the whole server process tree until it is quiet again).
# Before each run the script waits for the machine to be quiet; a run during
# which other processes used more than 25 % of a core is repeated (10 in all)
# and kept in the raw file as "noisy".
#
# usage: bench/compare/local_vs_postfix.sh [--reps N] [--msgs N] [--shards N]
#          [--sizes "1024 102400"] [--sessions "16 128"] [--users 16]
#          [--only postfix,posthorn] [--posthorn BIN] [--out DIR] [--keep]
#          [--posthorn-counter NAME] [--posthorn-relay-to-sink]
#   --messages and --runs are accepted for --msgs and --reps.
#   --posthorn-counter NAME: the counter that says "in the mailbox"
#     (posthorn_local_deliveries_total).
#   --posthorn-relay-to-sink: VALIDATION ONLY, for builds without local
#     delivery: posthorn relays example.test to an smtp-sink instead (the local
#     domain becomes local.invalid) and the counter defaults to
#     posthorn_recipients_delivered_total. The report says so in its title and
#     its file name ends in -relaycheck.
# Output: Markdown on stdout and in bench/compare/results/local_vs_postfix-<date>.md
# (raw runs beside it as .tsv). Exit 1 if any run failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPS=3
MSGS=20000
SIZES="1024 102400"
SESSIONS="16 128"
USERS=16
ONLY=postfix,posthorn
OUT_DIR=$REPO/bench/compare/results
COUNTER=
RELAY_CHECK=0
RUN_TIMEOUT=${RUN_TIMEOUT:-900}   # seconds, per run, until the last delivery
NOISE_MAX=25       # % of one core used by other processes during a run: repeat it
NOISY_RETRIES=10   # repeats in all
while (($#)); do
    case $1 in
    --reps | --runs) REPS=$2; shift ;;
    --msgs | --messages) MSGS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --sessions) SESSIONS=$2; shift ;;
    --users) USERS=$2; shift ;;
    --shards) export POSTHORN_SHARDS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --out) OUT_DIR=$2; shift ;;
    --keep) BENCH_KEEP=1 ;;
    --posthorn-counter) COUNTER=$2; shift ;;
    --posthorn-relay-to-sink) RELAY_CHECK=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ -n $COUNTER ]] || COUNTER=$( ((RELAY_CHECK)) && echo posthorn_recipients_delivered_total || echo posthorn_local_deliveries_total)
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps wants a positive number"
[[ $MSGS =~ ^[1-9][0-9]*$ ]] || die "--msgs wants a positive number"
[[ $USERS =~ ^[1-9][0-9]*$ ]] || die "--users wants a positive number"
for s in $SESSIONS; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "--sessions: '$s' is not a positive number"; done
for s in $SIZES; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "--sizes: '$s' is not a positive number"; done
TARGETS=()
for t in ${ONLY//,/ }; do
    [[ $t =~ ^(postfix|posthorn)$ ]] || die "--only: unknown target '$t' (postfix, posthorn)"
done
for t in postfix posthorn; do [[ ,$ONLY, == *,$t,* ]] && TARGETS+=("$t"); done
((${#TARGETS[@]})) || die "--only selects no target"
[[ ,$ONLY, != *,posthorn,* || -x $POSTHORN ]] ||
    die "no posthorn binary at $POSTHORN (build it, pass --posthorn BIN, or use --only postfix)"

((EUID == 0)) || die "run as root (Postfix needs it)"
bench_tmpdir
ensure_tools
raise_somaxconn
mkdir -p "$OUT_DIR" || die "mkdir $OUT_DIR"
STAMP=$(date +%Y-%m-%dT%H%M)
SUFFIX=$( ((RELAY_CHECK)) && echo -relaycheck)
REPORT=$OUT_DIR/local_vs_postfix-$STAMP$SUFFIX.md
RAW=$OUT_DIR/local_vs_postfix-$STAMP$SUFFIX.tsv
printf 'target\tsize\tsessions\trep\tmsgs\tsecs\tmsgs_per_s\tcpu_ticks\tcpu_us_per_msg\terrors\tbg_cpu_pct\n' >"$RAW"
FAILED=0
FAIL_NOTES=()   # targets that stopped early, for the report
T_START=$(date +%s)
MAX_SESSIONS=0
for s in $SESSIONS; do ((s > MAX_SESSIONS)) && MAX_SESSIONS=$s; done

# ---- the load -----------------------------------------------------------------
# start_clients PORT SIZE SESSIONS N -> CLIENT_PIDS: min(SESSIONS, USERS)
# smtp-source processes, the k-th sending to user<k>@example.test; sessions and
# messages are split as evenly as integers allow.
start_clients() {
    local port=$1 size=$2 ses=$3 n=$4 p k s m
    p=$((ses < USERS ? ses : USERS))
    CLIENT_PIDS=()
    for ((k = 0; k < p; k++)); do
        s=$((ses / p + (k < ses % p)))
        m=$((n / p + (k < n % p)))
        ((m > 0)) || continue
        timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$s" -m "$m" -l "$size" -f loadgen@loadgen.test \
            -t "user$((k + 1))@example.test" "127.0.0.1:$port" >"$BENCH_TMP/source.$k.out" 2>&1 &
        CLIENT_PIDS+=($!)
        _BG_PIDS+=($!)
    done
}

# wait_clients -> number of smtp-source processes that failed (output shown)
wait_clients() {
    local pid k=0 bad=0
    for pid in "${CLIENT_PIDS[@]}"; do
        if ! wait "$pid"; then
            bad=$((bad + 1))
            note "smtp-source #$k failed:"
            tail -5 "$BENCH_TMP/source.$k.out" >&2
        fi
        k=$((k + 1))
    done
    return "$bad"
}

# ---- servers -------------------------------------------------------------------
# State of the current target: SERVER_PID, PORT; PF_DIR (Postfix); MPORT,
# PH_DIR (posthorn).

wait_server_quiet() {
    [[ $1 == postfix ]] && pf_drain "$PF_DIR"
    settle_ticks "$SERVER_PID"
}

# completed TARGET -> the count that says "in the mailbox", now
completed() {
    if [[ $1 == postfix ]]; then
        pf_delivered "$PF_DIR"
    else
        "${BL[@]}" metric "$MPORT" "$COUNTER"
    fi
}

# posthorn_fresh RUN_ID: a new posthorn with an empty data_dir (the previous
# one stopped); checks that it exports COUNTER. Returns 1 on failure.
posthorn_fresh() {
    local id=$1 conf
    stop_posthorn
    [[ -n ${PH_DIR:-} ]] && rm -rf --one-file-system "$PH_DIR"
    PH_DIR=$BENCH_TMP/posthorn-$id
    mkdir -p "$PH_DIR/data"
    conf=$PH_DIR/posthorn.toml
    PORT=$(free_port)
    MPORT=$(free_port)
    while [[ $MPORT == "$PORT" ]]; do MPORT=$(free_port); done
    if ((RELAY_CHECK)); then
        # Validation only: example.test is a remote domain routed to smtp-sink.
        posthorn_config "$conf" "$PH_DIR/data" "$PORT" 52428800 fsync 1 "$MPORT"
        sed -i 's/example\.test/local.invalid/g' "$conf"
        printf '\n[routes]\n"example.test" = "127.0.0.1:%s"\n' "$SINK_PORT" >>"$conf"
    else
        posthorn_config "$conf" "$PH_DIR/data" "$PORT" 52428800 fsync "$USERS" "$MPORT"
    fi
    start_posthorn "$conf" "$PORT" "$PH_DIR/posthorn.log" || return 1
    SERVER_PID=$POSTHORN_PID
    local i
    for ((i = 0; i < 50; i++)); do
        "${BL[@]}" metric "$MPORT" "$COUNTER" >/dev/null 2>"$BENCH_TMP/metric.err" && return 0
        grep -q 'no metric' "$BENCH_TMP/metric.err" && break
        sleep 0.1
    done
    cat "$BENCH_TMP/metric.err" >&2
    note "posthorn does not export $COUNTER on 127.0.0.1:$MPORT/metrics (a build without local delivery? to check this script on one, use --posthorn-relay-to-sink)"
    return 1
}

# ---- one run --------------------------------------------------------------------
# measure_run TARGET SIZE SESSIONS N -> R_MSGS (reached the mailboxes), R_SECS,
# R_TICKS (server CPU), R_BG (other processes, % of one core), R_ERRORS.
# Returns 1 if the server died.
measure_run() {
    local target=$1 size=$2 ses=$3 n=$4 c0 c1 base t0 t1 w1 others got
    R_ERRORS=0
    wait_server_quiet "$target" >/dev/null || return 1
    [[ $target == postfix ]] && pf_wipe_mail "$PF_DIR"
    base=$(completed "$target") || return 1
    wait_machine_quiet
    "${BL[@]}" snap "$BENCH_TMP/snap0"
    c0=$(cpu_ticks "$SERVER_PID") || return 1
    t0=$(date +%s%N)
    # The poller runs from the start, so it sees the last delivery within 50 ms.
    if [[ $target == postfix ]]; then
        "${BL[@]}" wait-maildir "$PF_DIR/mail" "$n" "$RUN_TIMEOUT" >"$BENCH_TMP/done.out" 2>"$BENCH_TMP/done.err" &
    else
        "${BL[@]}" wait-metric "$MPORT" "$COUNTER" $((base + n)) "$RUN_TIMEOUT" >"$BENCH_TMP/done.out" 2>"$BENCH_TMP/done.err" &
    fi
    local poller=$!
    _BG_PIDS+=("$poller")
    start_clients "$PORT" "$size" "$ses" "$n"
    wait_clients || R_ERRORS=$((R_ERRORS + $?))
    if ((R_ERRORS)); then
        stop_pid "$poller"   # a client failed: not all N will arrive
    elif ! wait "$poller"; then
        R_ERRORS=$((R_ERRORS + 1))
        note "$target: $(cat "$BENCH_TMP/done.err")"
    fi
    read -r t1 got <"$BENCH_TMP/done.out" 2>/dev/null
    _BG_PIDS=()   # all reaped: never signal a pid that may have been reused
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    c1=$(wait_server_quiet "$target") || return 1
    w1=$(date +%s%N)
    "${BL[@]}" snap "$BENCH_TMP/snap1"
    others=$("${BL[@]}" others "$BENCH_TMP/snap0" "$BENCH_TMP/snap1" "$SERVER_PID" "$$") || others=0
    R_TICKS=$((c1 - c0))
    R_BG=$(awk -v b="$others" -v hz="$CLK_TCK" -v w="$((w1 - t0))" 'BEGIN { printf "%.0f", b / hz * 100 / (w / 1e9) }')
    # Exactly N, once the server is quiet: nothing lost, nothing doubled.
    got=$(completed "$target") || return 1
    R_MSGS=$((got - base))
    if ((R_MSGS != n)); then
        note "$target: $R_MSGS of $n messages in the mailboxes"
        R_ERRORS=$((R_ERRORS + 1))
    fi
    if ((R_ERRORS == 0)) && [[ -n $t1 ]]; then
        R_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    else
        R_SECS=
    fi
    return 0
}

# record TARGET SIZE SESSIONS REP -> one row of RAW from R_*
record() {
    local rate cpu
    read -r rate cpu < <(awk -v m="$R_MSGS" -v s="$R_SECS" -v t="$R_TICKS" -v hz="$CLK_TCK" -v e="$R_ERRORS" 'BEGIN {
        if (e == 0 && m > 0 && s > 0) printf "%.1f %.1f\n", m / s, t * 1e6 / hz / m; else print "- -" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$R_MSGS" "${R_SECS:--}" \
        "$rate" "$R_TICKS" "$cpu" "$R_ERRORS" "$R_BG" >>"$RAW"
    note "$1 size=$2 s=$3 rep=$4 msgs=$R_MSGS secs=${R_SECS:--} msgs/s=$rate cpu_us/msg=$cpu errors=$R_ERRORS others=${R_BG}%"
}

# run_cell TARGET SIZE SESSIONS -> warm-up (Postfix) and REPS recorded runs.
# Returns 1 if the server died or did not start.
run_cell() {
    local target=$1 size=$2 ses=$3 rep
    if [[ $target == postfix ]]; then
        measure_run postfix "$size" "$ses" $((ses * 4 > 200 ? ses * 4 : 200)) || return 1
        ((R_ERRORS)) && { FAILED=1; record postfix "$size" "$ses" warmup; return 0; }
    fi
    for ((rep = 1; rep <= REPS; rep++)); do
        if [[ $target == posthorn ]]; then
            RUN_ID=$((RUN_ID + 1))
            posthorn_fresh "$RUN_ID" || return 1
        fi
        measure_run "$target" "$size" "$ses" "$MSGS" || return 1
        ((R_ERRORS)) && FAILED=1
        if ((R_ERRORS == 0 && R_BG > NOISE_MAX && NOISY_RETRIES > 0)); then
            NOISY_RETRIES=$((NOISY_RETRIES - 1))
            record "$target" "$size" "$ses" noisy
            note "other processes used ${R_BG}% > ${NOISE_MAX}% of a core: repeating the run ($NOISY_RETRIES repeats left)"
            rep=$((rep - 1))
            continue
        fi
        record "$target" "$size" "$ses" "$rep"
    done
}

run_target_postfix() {
    PORT=$(free_port)
    PF_DIR=$BENCH_TMP/postfix
    pf_setup "$PF_DIR" "$PORT" $((MAX_SESSIONS * 2 > 100 ? MAX_SESSIONS * 2 : 100)) "$USERS"
    pf_start "$PF_DIR" "$PORT" || { FAILED=1; FAIL_NOTES+=("Postfix did not start"); pf_stop "$PF_DIR"; return; }
    SERVER_PID=$PF_MASTER_PID
    local size ses
    for size in $SIZES; do for ses in $SESSIONS; do
        if ! run_cell postfix "$size" "$ses"; then
            FAILED=1
            FAIL_NOTES+=("Postfix failed at $size B x $ses sessions (master died or queue stuck); later cells not run")
            note "Postfix failed (master died or queue stuck): skipping the rest"
            tail -20 "$PF_DIR/log/maillog" >&2
            break 2
        fi
    done; done
    grep -E 'warning|fatal|panic' "$PF_DIR/log/maillog" | sort | uniq -c | sort -rn | head -5 >&2
    pf_stop "$PF_DIR"
}

run_target_posthorn() {
    local size ses
    RUN_ID=0
    PH_DIR=
    if ((RELAY_CHECK)); then
        SINK_PORT=$(free_port)
        start_sink "$SINK_PORT" || { FAILED=1; FAIL_NOTES+=("smtp-sink did not start"); return; }
    fi
    for size in $SIZES; do for ses in $SESSIONS; do
        if ! run_cell posthorn "$size" "$ses"; then
            FAILED=1
            FAIL_NOTES+=("posthorn failed at $size B x $ses sessions (did not start, died, or does not export $COUNTER); later cells not run")
            note "posthorn failed (did not start, died, or lacks $COUNTER): skipping the rest"
            [[ -n $PH_DIR ]] && tail -20 "$PH_DIR/posthorn.log" >&2
            break 2
        fi
    done; done
    stop_posthorn
    # --keep keeps the last run's data_dir (posthorn mailbox list -c its config)
    ((BENCH_KEEP == 0)) && [[ -n $PH_DIR ]] && rm -rf --one-file-system "$PH_DIR"
    ((RELAY_CHECK)) && stop_pid "$SINK_PID"
}

note "targets: ${TARGETS[*]}; reps=$REPS msgs=$MSGS sizes=$SIZES sessions=$SESSIONS users=$USERS counter=$COUNTER; tmp=$BENCH_TMP"
((RELAY_CHECK)) && note "VALIDATION MODE: posthorn relays to smtp-sink, not local delivery"
for t in "${TARGETS[@]}"; do
    note "=== $t"
    "run_target_$t"
done

# ---- report ---------------------------------------------------------------------
title="Local delivery end to end: smtp-source -> MTA -> mailboxes ($STAMP)"
((RELAY_CHECK)) && title="VALIDATION of the script, not a result: posthorn relayed to smtp-sink ($STAMP)"
{
    echo "<!-- generated by bench/compare/local_vs_postfix.sh -->"
    "${BL[@]}" e2e-report "$RAW" "$title"
    if ((${#FAIL_NOTES[@]})); then
        echo "## Failures"
        echo
        printf -- '- %s\n' "${FAIL_NOTES[@]}"
        echo
    fi
    echo "## Setup"
    echo
    echo "- $MSGS messages per run to user1..user$USERS@example.test in equal shares, median of $REPS runs; msgs/s = messages / time from the clients' start until the last message was in a mailbox (polled every 50 ms)"
    echo "- clients: one smtp-source per user, the sessions split among them, one connection per message (HELO, no pipelining)"
    echo "- Postfix $(postconf -d -h mail_version 2>/dev/null): virtual(8) to Maildir, fsync on (queue files and Maildir deliveries; Postfix has no switch for it), virtual_destination_concurrency_limit 20 (default), in_flow_delay = 0s, process limits $((MAX_SESSIONS * 2 > 100 ? MAX_SESSIONS * 2 : 100)), no chroot; done = files in every Maildir new/; one warm-up run per cell, Maildirs emptied before every run"
    if ((RELAY_CHECK)); then
        echo "- posthorn at $POSTHORN (script at $(git -C "$REPO" describe --always --dirty 2>/dev/null)): VALIDATION MODE, example.test relayed to smtp-sink (not local delivery); done = $COUNTER; durability = \"fsync\", shards ${POSTHORN_SHARDS:-auto}"
    else
        echo "- posthorn at $POSTHORN (script at $(git -C "$REPO" describe --always --dirty 2>/dev/null)): local domain example.test, durability = \"fsync\", shards ${POSTHORN_SHARDS:-auto}; done = $COUNTER; restarted with an empty data_dir for every run"
    fi
    echo "- server CPU: user+system of the server's whole process tree from the start of a run until it is quiet again (Postfix: queue empty), per message"
    echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); total $(($(date +%s) - T_START))s"
    echo "- raw runs: $(basename "$RAW")"
} >"$REPORT"
cat "$REPORT"
note "report: $REPORT"
((FAILED == 0)) || die "some runs failed (see 'Runs with errors' and the messages above)"
