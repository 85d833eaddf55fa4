#!/bin/bash
# SMTP reception, side by side: smtp-sink (no storage: the protocol ceiling),
# a private Postfix instance (edge MTA for example.test, Maildir delivery,
# fsync on) and posthorn (durability = "fsync"), all on 127.0.0.1, in one run.
#
# Cells: message size 1, 10, 100 KiB x clients
#   smtp-source -s 1, smtp-source -s 16, posthorn-loadgen 16 (cross-check),
#   posthorn-loadgen 128 (smtp-source stalls on dropped SYNs above ~64 sessions)
# plus connection reuse at 1 KiB x 16: smtp-source -d / loadgen --reuse.
# Per cell: one unrecorded warm-up run that also sizes the runs to last about
# --secs seconds, then --reps recorded runs; the report gives medians.
#
# Per run: msgs/s and MB/s (client wall clock; payload bytes = --size), server
# CPU µs per message (user+system of every process of the server, read from
# /proc before and after; after = once the server is quiet again, and for
# Postfix once its queue is empty, so delivery is counted), p99 latency from
# the loadgen (end of DATA -> 250).
#
# usage: bench/compare/smtp_vs_postfix.sh [--quick] [--only sink,postfix,posthorn]
#          [--reps N] [--secs S] [--sizes "1024 10240 102400"] [--posthorn BIN]
#          [--loadgen BIN] [--out DIR] [--keep] [--shards N]
#   --shards N: posthorn's [server] shards (default "auto", one per core; on a
#   2-core machine the client needs a core too)
# Output: Markdown on stdout and in bench/compare/results/smtp_vs_postfix-<date>.md
# (raw runs beside it as .tsv). Exit 1 if any run failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QUICK=0
ONLY=sink,postfix,posthorn
REPS=3
SECS=3
SIZES="1024 10240 102400"
OUT_DIR=$REPO/bench/compare/results
MAX_MSGS=400000
NOISE_MAX=25       # % of one core used by other processes during a run: repeat it
NOISY_RETRIES=10   # repeats in all

while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --secs) SECS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --loadgen) LOADGEN=$(realpath "$2"); shift ;;
    --out) OUT_DIR=$2; shift ;;
    --keep) BENCH_KEEP=1 ;;
    --shards) export POSTHORN_SHARDS=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
if ((QUICK)); then
    REPS=1
    SECS=1
fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps wants a positive number"
[[ $SECS =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--secs wants a number of seconds"

TARGETS=()
for t in sink postfix posthorn; do
    [[ ,$ONLY, == *,$t,* ]] && TARGETS+=("$t")
done
for t in ${ONLY//,/ }; do
    [[ $t =~ ^(sink|postfix|posthorn)$ ]] || die "--only: unknown target '$t' (sink, postfix, posthorn)"
done
((${#TARGETS[@]})) || die "--only selects no target"
[[ ,$ONLY, != *,posthorn,* || -x $POSTHORN ]] ||
    die "no posthorn binary at $POSTHORN (build it, pass --posthorn BIN, or use --only sink,postfix)"

((EUID == 0)) || die "run as root (Postfix needs it)"
bench_tmpdir
ensure_tools
ensure_loadgen
raise_somaxconn
mkdir -p "$OUT_DIR" || die "mkdir $OUT_DIR"
STAMP=$(date +%Y-%m-%dT%H%M)
SUFFIX=$( ((QUICK)) && echo -quick)
REPORT=$OUT_DIR/smtp_vs_postfix-$STAMP$SUFFIX.md
RAW=$OUT_DIR/smtp_vs_postfix-$STAMP$SUFFIX.tsv
printf 'target\tsize\tclient\tsessions\tmode\trep\tmsgs\tsecs\tmsgs_per_s\tmb_per_s\tcpu_ticks\tcpu_us_per_msg\tp99_us\terrors\tbg_cpu_pct\tkernel_us_per_msg\n' >"$RAW"
FAILED=0
T_START=$(date +%s)

# Cells: "size client sessions mode"
CELLS=()
for size in $SIZES; do
    CELLS+=("$size smtp-source 1 one" "$size smtp-source 16 one" "$size loadgen 16 one" "$size loadgen 128 one")
done
CELLS+=("1024 smtp-source 16 reuse" "1024 loadgen 16 reuse")
MAX_SESSIONS=128

# ---- one run ----------------------------------------------------------------
# run_client TARGET PORT CLIENT SESSIONS SIZE MODE MSGS
#   -> sets R_MSGS R_SECS R_P99 R_ERRORS (R_ERRORS>0: output shown on stderr)
run_client() {
    local port=$2 client=$3 sessions=$4 size=$5 mode=$6 msgs=$7 out=$BENCH_TMP/client.out rc t0 t1
    R_P99=-
    R_ERRORS=0
    if [[ $client == smtp-source ]]; then
        local flags=(-s "$sessions" -m "$msgs" -l "$size" -f loadgen@loadgen.test -t user1@example.test)
        [[ $mode == reuse ]] && flags+=(-d)
        t0=$(date +%s%N)
        timeout 900 "$SMTP_SOURCE" "${flags[@]}" "127.0.0.1:$port" >"$out" 2>&1
        rc=$?
        t1=$(date +%s%N)
        R_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        R_MSGS=$msgs
        if ((rc != 0)); then
            R_ERRORS=1
            R_MSGS=0
        fi
    else
        local flags=(--port "$port" --sessions "$sessions" --messages "$msgs" --size "$size" --pipelining --timeout 60)
        [[ $mode == reuse ]] && flags+=(--reuse)
        timeout 900 "$LOADGEN" "${flags[@]}" >"$out" 2>&1
        rc=$?
        local line
        line=$(grep '^msgs=' "$out" | tail -1)
        R_MSGS=$(sed -n 's/^msgs=\([0-9]*\).*/\1/p' <<<"$line")
        R_SECS=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<<"$line")
        R_P99=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
        R_ERRORS=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
        [[ -n $R_MSGS && -n $R_SECS ]] || { R_MSGS=0; R_SECS=0; R_ERRORS=1; }
        ((rc != 0 && R_ERRORS == 0)) && R_ERRORS=1
    fi
    if ((R_ERRORS > 0)); then
        printf '\n*** %s %s s=%s size=%s %s against %s: exit %s\n' "$client" "$mode" "$sessions" "$size" \
            "$msgs" "$1" "$rc" >&2
        tail -15 "$out" >&2
    fi
}

# Server state for the current target: SERVER_PID, PORT, PF_DIR.
wait_server_quiet() {
    local target=$1
    if [[ $target == postfix ]]; then pf_drain "$PF_DIR"; fi
    settle_ticks "$SERVER_PID"
}

server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }

# size_run SESSIONS -> the message count for a run of about SECS at BEST_RATE
size_run() {
    awk -v r="$BEST_RATE" -v t="$SECS" -v ses="$1" -v max="$MAX_MSGS" 'BEGIN {
        n = int(r * t); lo = ses * 4; if (lo < 100) lo = 100;
        if (n < lo) n = lo; if (n > max) n = max;
        print int((n + ses - 1) / ses) * ses }'
}

# measure_run TARGET SIZE CLIENT SESSIONS MODE N -> R_* from run_client plus
# R_TICKS (server CPU), R_BG (CPU of other user processes, % of one core) and
# R_KTICKS (CPU charged to no process: kernel threads, I/O completions that
# came in while the CPU idled; mostly work done for the server's writes).
# Returns 1 if the server died.
measure_run() {
    local target=$1 size=$2 client=$3 sessions=$4 mode=$5 n=$6 c0 c1 s0 b0 b1 w0 w1 others
    wait_server_quiet "$target" >/dev/null || return 1
    [[ $target == postfix ]] && pf_wipe_mail "$PF_DIR"
    wait_machine_quiet
    "${BL[@]}" snap "$BENCH_TMP/snap0"
    c0=$(cpu_ticks "$SERVER_PID") || return 1
    snap_self
    s0=$SELF_TICKS
    b0=$(machine_busy_ticks)
    w0=$(date +%s%N)
    run_client "$target" "$PORT" "$client" "$sessions" "$size" "$mode" "$n"
    server_alive || return 1
    c1=$(wait_server_quiet "$target") || return 1
    b1=$(machine_busy_ticks)
    w1=$(date +%s%N)
    "${BL[@]}" snap "$BENCH_TMP/snap1"
    snap_self
    R_TICKS=$((c1 - c0))
    others=$("${BL[@]}" others "$BENCH_TMP/snap0" "$BENCH_TMP/snap1" "$SERVER_PID" "$$") || others=0
    R_KTICKS=$((b1 - b0 - R_TICKS - (SELF_TICKS - s0) - others))
    ((R_KTICKS < 0)) && R_KTICKS=0
    R_BG=$(awk -v b="$others" -v hz="$CLK_TCK" -v w="$((w1 - w0))" 'BEGIN { printf "%.0f", b / hz * 100 / (w / 1e9) }')
    if [[ $target == postfix && $R_ERRORS -eq 0 ]]; then
        local delivered
        delivered=$(pf_delivered "$PF_DIR")
        if ((delivered != R_MSGS)); then
            note "Postfix delivered $delivered of $R_MSGS accepted messages"
            R_ERRORS=$((R_ERRORS + 1))
        fi
    fi
    if [[ $R_ERRORS -eq 0 && $R_MSGS -gt 0 ]]; then
        BEST_RATE=$(awk -v m="$R_MSGS" -v s="$R_SECS" -v b="$BEST_RATE" 'BEGIN {
            r = (s > 0) ? m / s : b; print (r > b) ? r : b }')
    fi
    return 0
}

# record TARGET SIZE CLIENT SESSIONS MODE REP -> one row of RAW from R_*
record() {
    local rate mbs cpu
    local rate mbs cpu kcpu
    read -r rate mbs cpu kcpu < <(awk -v m="$R_MSGS" -v s="$R_SECS" -v z="$2" -v t="$R_TICKS" -v k="$R_KTICKS" \
        -v hz="$CLK_TCK" 'BEGIN {
            if (m > 0 && s > 0) printf "%.1f %.3f %.2f %.2f\n", m / s, m * z / 1e6 / s, t * 1e6 / hz / m, k * 1e6 / hz / m;
            else print "- - - -" }')
    [[ $rate == - ]] && { rate=; mbs=; cpu=; kcpu=; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" \
        "$R_MSGS" "$R_SECS" "$rate" "$mbs" "$R_TICKS" "$cpu" "$R_P99" "$R_ERRORS" "$R_BG" "$kcpu" >>"$RAW"
    note "$1 size=$2 $3 s=$4 $5 rep=$6 msgs=$R_MSGS secs=$R_SECS msgs/s=${rate:--} cpu_us/msg=${cpu:--} kernel_us/msg=${kcpu:--} p99_us=$R_P99 errors=$R_ERRORS others=${R_BG}%"
}

# run_cell TARGET CELL -> a warm-up (unrecorded: sizes the runs, lets Postfix
# spawn its processes) and REPS recorded runs. A run during which other
# processes used more than NOISE_MAX % of a core is recorded as "noisy" and
# repeated (NOISY_RETRIES in all per script run). Returns 1 if the server died.
run_cell() {
    local target=$1 size client sessions mode rep n
    read -r size client sessions mode <<<"$2"
    BEST_RATE=0
    n=$((sessions * 4 > 200 ? sessions * 4 : 200))
    ((QUICK)) && n=$((sessions * 2 > 100 ? sessions * 2 : 100))
    measure_run "$target" "$size" "$client" "$sessions" "$mode" "$n" || return 1
    if ((R_ERRORS > 0)); then
        FAILED=1
        record "$target" "$size" "$client" "$sessions" "$mode" warmup
        return 0
    fi
    for ((rep = 1; rep <= REPS; rep++)); do
        n=$(size_run "$sessions")
        measure_run "$target" "$size" "$client" "$sessions" "$mode" "$n" || return 1
        ((R_ERRORS > 0)) && FAILED=1
        if ((R_ERRORS == 0 && R_BG > NOISE_MAX && NOISY_RETRIES > 0)); then  # others were busy
            NOISY_RETRIES=$((NOISY_RETRIES - 1))
            record "$target" "$size" "$client" "$sessions" "$mode" noisy
            note "other processes used ${R_BG}% > ${NOISE_MAX}% of a core: repeating the run ($NOISY_RETRIES repeats left)"
            rep=$((rep - 1))
            continue
        fi
        record "$target" "$size" "$client" "$sessions" "$mode" "$rep"
    done
    return 0
}

# ---- targets ---------------------------------------------------------------------
run_target_sink() {
    PORT=$(free_port)
    start_sink "$PORT" || { FAILED=1; return; }
    SERVER_PID=$SINK_PID
    local cell
    for cell in "${CELLS[@]}"; do
        run_cell sink "$cell" || { FAILED=1; note "smtp-sink failed (died?): skipping the rest"; break; }
    done
    stop_pid "$SINK_PID"
}

run_target_postfix() {
    PORT=$(free_port)
    PF_DIR=$BENCH_TMP/postfix
    pf_setup "$PF_DIR" "$PORT" $((MAX_SESSIONS * 2))
    if ! pf_start "$PF_DIR" "$PORT"; then
        FAILED=1
        pf_stop "$PF_DIR"
        return
    fi
    SERVER_PID=$PF_MASTER_PID
    local cell
    for cell in "${CELLS[@]}"; do
        if ! run_cell postfix "$cell"; then
            FAILED=1
            note "Postfix failed (master died or queue stuck): skipping the rest"
            tail -20 "$PF_DIR/log/maillog" >&2
            break
        fi
    done
    grep -E 'warning|fatal|panic' "$PF_DIR/log/maillog" | sort | uniq -c | sort -rn | head -5 >&2
    pf_stop "$PF_DIR"
}

# posthorn starts fresh (new data_dir) for every cell, so its store does not
# grow across the run.
run_target_posthorn() {
    local cell i=0 dir
    for cell in "${CELLS[@]}"; do
        i=$((i + 1))
        PORT=$(free_port)
        dir=$BENCH_TMP/posthorn-$i
        mkdir -p "$dir/data"
        posthorn_config "$dir/posthorn.toml" "$dir/data" "$PORT" 52428800 fsync
        if ! start_posthorn "$dir/posthorn.toml" "$PORT" "$dir/posthorn.log"; then
            FAILED=1
            note "posthorn did not start: skipping posthorn"
            break
        fi
        SERVER_PID=$POSTHORN_PID
        if ! run_cell posthorn "$cell"; then
            FAILED=1
            note "posthorn failed (died?) during cell '$cell': skipping the rest"
            tail -20 "$dir/posthorn.log" >&2
            break
        fi
        stop_posthorn
        rm -rf --one-file-system "$dir/data"
    done
    stop_posthorn
}

note "targets: ${TARGETS[*]}; reps=$REPS secs=$SECS sizes=$SIZES; tmp=$BENCH_TMP"
for t in "${TARGETS[@]}"; do
    note "=== $t"
    "run_target_$t"
done

# ---- report ------------------------------------------------------------------------
{
    echo "<!-- generated by bench/compare/smtp_vs_postfix.sh -->"
    "${BL[@]}" report "$RAW" "SMTP reception: posthorn vs Postfix vs smtp-sink ($STAMP$SUFFIX)"
    echo "## Setup"
    echo
    echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "- Postfix $(postconf -d -h mail_version 2>/dev/null) (smtp-source/smtp-sink from the same package); posthorn $(git -C "$REPO" describe --always --dirty 2>/dev/null) at $POSTHORN"
    echo "- runs: $REPS recorded per cell after one warm-up, each sized to about ${SECS}s; medians shown; total $(( $(date +%s) - T_START ))s"
    echo "- clients: smtp-source (HELO, no pipelining, one connection per message; -d reuses the connection); posthorn-loadgen --pipelining (one connection per message; --reuse: MAIL after 250 on the same connection)"
    echo "- MB/s counts the message payload (--size / smtp-source -l) only; server CPU is user+system time over all the server's processes, measured until the server is quiet again (Postfix: until its queue is empty and every message is in the Maildir, verified by count)"
    echo "- posthorn: durability = \"fsync\", shards ${POSTHORN_SHARDS:-auto}, max_connections_per_ip lifted, fresh data_dir per cell; Postfix: virtual(8) Maildir delivery, in_flow_delay = 0s, process limits $((MAX_SESSIONS * 2)), connection limits off, no chroot, fsync on"
    echo "- raw runs: $(basename "$RAW")"
} >"$REPORT"
cat "$REPORT"
note "report: $REPORT"
((FAILED == 0)) || die "some runs failed (see 'Runs with errors' and the messages above)"
