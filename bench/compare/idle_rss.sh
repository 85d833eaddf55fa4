#!/bin/bash
# Memory per idle SMTP session: opens N sessions (default 1,000) that each got
# through EHLO and then sit idle, and reports the server's memory growth per
# session.
#   posthorn: VmRSS of the process (/proc/PID/status) before and after.
#   Postfix (for context): one smtpd process per session, so RSS would count
#     the shared pages 1,000 times; PSS (/proc/PID/smaps_rollup) summed over the
#     smtpd processes, and the whole instance's PSS before and after.
# The sessions come from posthorn-loadgen --idle.
#
# usage: bench/compare/idle_rss.sh [--posthorn BIN] [--port N] [--sessions N]
#          [--only posthorn,postfix] [--keep]
# Output: a Markdown table on stdout. Exit 1 if any session failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SESSIONS=1000
ONLY=posthorn,postfix
PORT_ARG=
while (($#)); do
    case $1 in
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --port) PORT_ARG=$2; shift ;;
    --sessions) SESSIONS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --loadgen) LOADGEN=$(realpath "$2"); shift ;;
    --keep) BENCH_KEEP=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $SESSIONS =~ ^[1-9][0-9]*$ ]] || die "--sessions wants a positive number"
((EUID == 0)) || die "run as root (Postfix needs it)"
bench_tmpdir
ensure_tools
ensure_loadgen
raise_somaxconn
FAILED=0
ROWS=()

# open_idle PORT -> IDLE_PID, IDLE_OUT; waits until every session is settled.
open_idle() {
    local port=$1 i
    IDLE_OUT=$BENCH_TMP/idle.out
    : >"$IDLE_OUT"
    "$LOADGEN" --idle --port "$port" --sessions "$SESSIONS" --timeout 120 >"$IDLE_OUT" 2>&1 &
    IDLE_PID=$!
    _BG_PIDS+=("$IDLE_PID")
    for ((i = 0; i < 3000; i++)); do
        grep -q '^idle_ready' "$IDLE_OUT" && break
        kill -0 "$IDLE_PID" 2>/dev/null || { cat "$IDLE_OUT" >&2; die "posthorn-loadgen --idle exited early"; }
        sleep 0.1
    done
    grep -q '^idle_ready' "$IDLE_OUT" || die "sessions not ready after 300 s"
    IDLE_READY=$(sed -n 's/^idle_ready.* ready=\([0-9]*\).*/\1/p' "$IDLE_OUT")
    if ((IDLE_READY != SESSIONS)); then
        FAILED=1
        note "only $IDLE_READY of $SESSIONS sessions got through EHLO"
    fi
    note "$IDLE_READY sessions idle after EHLO ($(grep '^idle_ready' "$IDLE_OUT"))"
    sleep 1  # let the server finish whatever it does after EHLO
}

close_idle() {
    stop_pid "$IDLE_PID"
    grep -v '^idle_' "$IDLE_OUT" >&2
}

kib_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "–" }'; }

if [[ ,$ONLY, == *,posthorn,* ]]; then
    note "=== posthorn"
    PORT=${PORT_ARG:-$(free_port)}
    mkdir -p "$BENCH_TMP/posthorn/data"
    posthorn_config "$BENCH_TMP/posthorn/posthorn.toml" "$BENCH_TMP/posthorn/data" "$PORT"
    start_posthorn "$BENCH_TMP/posthorn/posthorn.toml" "$PORT" "$BENCH_TMP/posthorn/posthorn.log" || die "posthorn did not start"
    sleep 1
    read -r before _ < <("${BL[@]}" status "$POSTHORN_PID" VmRSS VmHWM | sed 's/[A-Za-z]*=//g')
    open_idle "$PORT"
    kill -0 "$POSTHORN_PID" 2>/dev/null || die "posthorn died with $SESSIONS sessions open"
    read -r after _ < <("${BL[@]}" status "$POSTHORN_PID" VmRSS VmHWM | sed 's/[A-Za-z]*=//g')
    close_idle
    ROWS+=("| posthorn | $IDLE_READY | VmRSS | $before | $after | $(kib_per "$before" "$after" "$IDLE_READY") |")
    stop_posthorn
fi

if [[ ,$ONLY, == *,postfix,* ]]; then
    note "=== Postfix"
    PORT=${PORT_ARG:-$(free_port)}
    PF_DIR=$BENCH_TMP/postfix
    pf_setup "$PF_DIR" "$PORT" $((SESSIONS + 100))
    pf_start "$PF_DIR" "$PORT" || die "Postfix did not start"
    sleep 1
    read -r tree0 _ < <("${BL[@]}" pss "$PF_MASTER_PID" | sed 's/[a-z_]*=//g')
    open_idle "$PORT"
    read -r smtpd_pss smtpd_n < <("${BL[@]}" pss "$PF_MASTER_PID" smtpd | sed 's/[a-z_]*=//g')
    read -r tree1 _ < <("${BL[@]}" pss "$PF_MASTER_PID" | sed 's/[a-z_]*=//g')
    close_idle
    ROWS+=("| Postfix smtpd processes ($smtpd_n) | $IDLE_READY | PSS | 0 | $smtpd_pss | $(kib_per 0 "$smtpd_pss" "$IDLE_READY") |")
    ROWS+=("| Postfix, whole instance | $IDLE_READY | PSS | $tree0 | $tree1 | $(kib_per "$tree0" "$tree1" "$IDLE_READY") |")
    pf_stop "$PF_DIR"
fi

echo "## Memory per idle SMTP session (after EHLO), $(date +%Y-%m-%d)"
echo
echo "| server | sessions | measure | before KiB | after KiB | KiB per session |"
echo "|---|---:|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "posthorn: one process, VmRSS. Postfix: one smtpd process per session; PSS splits shared pages among the processes that map them."
((FAILED == 0)) || die "some sessions failed"
