#!/bin/bash
# Memory for one big message: sends one 100 MiB message (--size) to posthorn
# and reports how far its resident memory grew. DESIGN.md promises that a
# message is streamed to the spool, never collected in RAM, so the growth
# should be a small bounded window, not the message size.
#   VmRSS and RssAnon are sampled every 20 ms from before the connect until
#   posthorn is quiet again (delivery included); VmHWM (the kernel's peak) is
#   read before and after as a cross-check that no spike fell between samples.
#   VmRSS also counts file pages posthorn maps (RssFile, e.g. mmapped spool
#   segments: page cache, not heap); RssAnon is the memory posthorn holds.
#
# usage: bench/compare/big_message_rss.sh [--posthorn BIN] [--port N]
#          [--size BYTES] [--durability fsync|none] [--keep]
# Output: one Markdown table on stdout. Exit 1 if the message was not accepted.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZE=$((100 * 1024 * 1024))
PORT=
DURABILITY=fsync
while (($#)); do
    case $1 in
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --port) PORT=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --durability) DURABILITY=$2; shift ;;
    --loadgen) LOADGEN=$(realpath "$2"); shift ;;
    --keep) BENCH_KEEP=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $SIZE =~ ^[1-9][0-9]*$ ]] || die "--size wants a number of bytes"
bench_tmpdir
ensure_loadgen
[[ -x $POSTHORN ]] || die "no posthorn binary at $POSTHORN (build it or pass --posthorn BIN)"
PORT=${PORT:-$(free_port)}

# vm_kib PID FIELD -> the field of /proc/PID/status in KiB
vm_kib() {
    local k v _
    while read -r k v _; do
        [[ $k == "$2:" ]] && { echo "$v"; return 0; }
    done <"/proc/$1/status"
    return 1
}

# sample PID -> updates PEAK_RSS and PEAK_ANON (no fork per sample)
sample() {
    local k v _ seen=0
    while read -r k v _; do
        case $k in
        VmRSS:) ((v > PEAK_RSS)) && PEAK_RSS=$v; seen=$((seen + 1)) ;;
        RssAnon:) ((v > PEAK_ANON)) && PEAK_ANON=$v; seen=$((seen + 1)) ;;
        esac
    done <"/proc/$1/status" 2>/dev/null
    ((seen == 2))
}

dir=$BENCH_TMP/posthorn
mkdir -p "$dir/data"
# Room for the message and its headers, whatever the default limit is.
posthorn_config "$dir/posthorn.toml" "$dir/data" "$PORT" $((SIZE * 2 + 1048576)) "$DURABILITY"
start_posthorn "$dir/posthorn.toml" "$PORT" "$dir/posthorn.log" || die "posthorn did not start"
settle_ticks "$POSTHORN_PID" 30 >/dev/null
rss0=$(vm_kib "$POSTHORN_PID" VmRSS) || die "posthorn died"
anon0=$(vm_kib "$POSTHORN_PID" RssAnon)
hwm0=$(vm_kib "$POSTHORN_PID" VmHWM)
PEAK_RSS=$rss0
PEAK_ANON=$anon0

"$LOADGEN" --port "$PORT" --sessions 1 --messages 1 --size "$SIZE" --timeout 300 >"$BENCH_TMP/loadgen.out" 2>&1 &
lg=$!
_BG_PIDS+=("$lg")
while kill -0 "$lg" 2>/dev/null; do
    sample "$POSTHORN_PID" || die "posthorn died during the message (log: $dir/posthorn.log)"
    sleep 0.02
done
wait "$lg"
rc=$?
# Go on sampling while posthorn works on the message (delivery), up to 60 s.
t_end=$((SECONDS + 60))
quiet=0
prev=$(cpu_ticks "$POSTHORN_PID")
while ((SECONDS < t_end && quiet < 10)); do
    for _ in 1 2 3 4 5; do
        sample "$POSTHORN_PID" || die "posthorn died after the message"
        sleep 0.02
    done
    cur=$(cpu_ticks "$POSTHORN_PID")
    if ((cur - prev <= 1)); then quiet=$((quiet + 1)); else quiet=0; fi
    prev=$cur
done
rss1=$(vm_kib "$POSTHORN_PID" VmRSS)
anon1=$(vm_kib "$POSTHORN_PID" RssAnon)
file1=$(vm_kib "$POSTHORN_PID" RssFile)
hwm1=$(vm_kib "$POSTHORN_PID" VmHWM)
summary=$(grep '^msgs=' "$BENCH_TMP/loadgen.out")

echo "## posthorn memory for one $((SIZE / 1048576)) MiB message (durability=$DURABILITY), $(date +%Y-%m-%d)"
echo
echo "| KiB | before | peak (sampled every 20 ms) | growth | after |"
echo "|---|---:|---:|---:|---:|"
echo "| VmRSS | $rss0 | $PEAK_RSS | $((PEAK_RSS - rss0)) | $rss1 |"
echo "| RssAnon (heap, stacks) | $anon0 | $PEAK_ANON | $((PEAK_ANON - anon0)) | $anon1 |"
echo "| VmHWM (kernel's peak VmRSS) | $hwm0 | $hwm1 | $((hwm1 - hwm0)) | |"
echo
echo "RssFile after: $file1 KiB (file pages mapped by posthorn, e.g. spool segments; page cache, not heap)."
echo
echo "loadgen: ${summary:-no summary}"
if ((rc != 0)); then
    grep -v '^msgs=' "$BENCH_TMP/loadgen.out" >&2
    die "the message was not accepted (loadgen exit $rc)"
fi
