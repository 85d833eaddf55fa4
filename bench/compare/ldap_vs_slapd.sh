#!/bin/bash
# LDAP search throughput, posthorn against OpenLDAP's slapd, in one run, on
# the same directory: an equality search by mail and a substring search on cn.
#   Directory: tools/ldapcorpus.py generate (fixed seed): --users people under
#           ou=people,dc=example,dc=test (inetOrgPerson: cn, sn, givenName,
#           displayName, mail, uid) and a few groupOfNames under ou=groups;
#           the same people as posthorn [[users]]/[[groups]] and as an LDIF.
#   slapd:  a private instance (lib/slapd.sh): its own slapd.conf and back-mdb
#           database in the temp dir, indexes eq on objectClass, mail, uid and
#           eq,sub on cn, sn, givenName, displayName, loglevel 0, loaded with
#           slapadd, on a free 127.0.0.1 port; threads: --slapd-threads
#           (default: slapd's own default, 16, which served (cn=ab*) faster
#           than threads 2 in a quick check on 2 cores).
#   posthorn: `posthorn serve -c` the generated config, [listen] ldap on a free
#           127.0.0.1 port and no other listener. If nothing answers LDAP there
#           the script says so ("posthorn has no LDAP listener yet") and
#           measures slapd alone.
# Before any run each server must answer two checked searches (ldapsearch):
# (mail=<a sample address>) gives exactly that person's entry, and
# (cn=<prefix>*) gives as many entries as the corpus says.
# Per mode: one unrecorded warm-up run per server (--warmup seconds), then
# --runs recorded runs alternating between the servers (slapd, posthorn;
# posthorn, slapd; ...). A run is posthorn-ldapload with --conns connections,
# each with --depth SearchRequests outstanding, for --seconds; every result is
# checked (resultCode 0; eq-mail: exactly one entry, holding the address
# asked for; sub-cn: exactly the corpus's count). Server CPU per search: the
# server's process tree (/proc utime+stime), from the start of a run until
# it is quiet again.
#
# usage: bench/compare/ldap_vs_slapd.sh [--users 10000] [--runs 5] [--seconds 5]
#          [--conns 16] [--depth 8] [--threads 1] [--modes "eq-mail sub-cn"]
#          [--prefix ab] [--warmup 1] [--only slapd,posthorn] [--shards N]
#          [--slapd-threads N|default] [--bind] [--posthorn BIN] [--ldapload BIN]
#          [--seed N] [--out DIR] [--keep]
#   --shards: posthorn's shards (default "auto", one per core); on a 2-core
#     machine, --shards 1 leaves the load generator a core.
#   --threads: the load generator's epoll threads (connections dealt out).
#   --bind: every connection first binds as one of the people (simple bind);
#     default anonymous, as an address book does.
# Output: Markdown on stdout and in bench/compare/results/ldap_vs_slapd-<date>.md
# (raw runs beside it as .tsv). Exit 1 if any run failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/slapd.sh"

USERS=10000
RUNS=5
SECONDS_RUN=5
CONNS=16
DEPTH=8
THREADS=1
MODES="eq-mail sub-cn"
PREFIX=ab
WARMUP=1
ONLY=slapd,posthorn
SLAPD_THREADS=default
BIND=0
OUT_DIR=$REPO/bench/compare/results
SEED=20261126
LDAPLOAD=${LDAPLOAD:-$REPO/build-bench/tools/posthorn-ldapload}
CORPUS_TOOL=$REPO/tools/ldapcorpus.py
while (($#)); do
    case $1 in
    --users) USERS=$2; shift ;;
    --runs | --reps) RUNS=$2; shift ;;
    --seconds | --secs) SECONDS_RUN=$2; shift ;;
    --conns | --clients) CONNS=$2; shift ;;
    --depth) DEPTH=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --prefix) PREFIX=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --shards) export POSTHORN_SHARDS=$2; shift ;;
    --slapd-threads) SLAPD_THREADS=$2; shift ;;
    --bind) BIND=1 ;;
    --posthorn) POSTHORN=$(realpath "$2"); shift ;;
    --ldapload) LDAPLOAD=$(realpath "$2"); shift ;;
    --seed) SEED=$2; shift ;;
    --out) OUT_DIR=$2; shift ;;
    --keep) BENCH_KEEP=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
for v in USERS RUNS CONNS DEPTH THREADS SEED; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} wants a positive number (got '${!v}')"
done
[[ $SECONDS_RUN =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds wants a number"
[[ $WARMUP =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--warmup wants a number (0: none)"
[[ $SLAPD_THREADS == default || $SLAPD_THREADS =~ ^[1-9][0-9]*$ ]] || die "--slapd-threads wants a number or 'default'"
[[ -z ${POSTHORN_SHARDS:-} || $POSTHORN_SHARDS =~ ^([1-9][0-9]*|auto)$ ]] || die "--shards wants a number or auto"
[[ $PREFIX =~ ^[A-Za-z]+$ ]] || die "--prefix wants letters"
for m in $MODES; do
    [[ $m =~ ^(eq-mail|sub-cn)$ ]] || die "--modes: unknown mode '$m' (eq-mail, sub-cn)"
done
TARGETS=()
for t in ${ONLY//,/ }; do [[ $t =~ ^(slapd|posthorn)$ ]] || die "--only: unknown target '$t' (slapd, posthorn)"; done
for t in slapd posthorn; do [[ ,$ONLY, == *,$t,* ]] && TARGETS+=("$t"); done
((${#TARGETS[@]})) || die "--only selects no target"
[[ ,$ONLY, != *,posthorn,* || -x $POSTHORN ]] ||
    die "no posthorn binary at $POSTHORN (build it, pass --posthorn BIN, or use --only slapd)"

bench_tmpdir
if [[ ! -x $SLAPD || ! -x $SLAPADD || ! -x /usr/bin/ldapsearch ]]; then
    note "installing the benchmark's packages (tools/bootstrap-bench.sh)"
    "$REPO/tools/bootstrap-bench.sh" >&2 || die "tools/bootstrap-bench.sh failed"
fi
raise_somaxconn
mkdir -p "$OUT_DIR" || die "mkdir $OUT_DIR"
STAMP=$(date +%Y-%m-%dT%H%M)
# Fewer people, runs or seconds than the issue's setting: a smoke run, and
# its file name and title say so.
SMOKE=0
awk -v u="$USERS" -v r="$RUNS" -v s="$SECONDS_RUN" 'BEGIN { exit !(u < 10000 || r < 3 || s < 5) }' && SMOKE=1
SUFFIX=$( ((SMOKE)) && echo -smoke)
REPORT=$OUT_DIR/ldap_vs_slapd-$STAMP$SUFFIX.md
RAW=$OUT_DIR/ldap_vs_slapd-$STAMP$SUFFIX.tsv
printf 'target\tmode\trep\tconns\tdepth\tsearches\tsecs\tsearches_per_s\tentries_per_s\tmb_per_s\tp50_us\tp99_us\terrors\tclient_cpu_pct\tserver_cpu_us_per_op\tserver_cpu_pct\tbg_cpu_pct\n' >"$RAW"
FAILED=0
NOTES=()       # for the report: what was not measured, and why
T_START=$(date +%s)

# ---- the load generator -------------------------------------------------------
ensure_load_tool LDAPLOAD ldapload

# ---- the directory ----------------------------------------------------------------
CORPUS=$BENCH_TMP/corpus
PH_DIR=$BENCH_TMP/posthorn
PH_PORT=$(free_port)
mkdir -p "$PH_DIR/data"
note "generating $USERS people (seed $SEED)"
"${BL[0]}" "$CORPUS_TOOL" generate "$CORPUS" --users "$USERS" --seed "$SEED" --prefix "$PREFIX" \
    --port "$PH_PORT" --data-dir "$PH_DIR/data" --shards "${POSTHORN_SHARDS:-auto}" >&2 ||
    die "generating the directory failed"
manifest() { sed -n "s/^$1=//p" "$CORPUS/manifest"; }
SUB_HITS=$(manifest sub_hits)
SAMPLE_MAIL=$(manifest sample_mail)
SAMPLE_UID=$(manifest sample_uid)
BASE_DN=$(manifest base)
SAMPLE_DN="uid=$SAMPLE_UID,ou=people,$BASE_DN"
BIND_ARGS=()
((BIND)) && BIND_ARGS=(--bind-dn "$SAMPLE_DN" --bind-password "pw-$SAMPLE_UID")

# verify_server NAME PORT: the two checked searches; prints what is wrong and
# returns 1 if either fails.
verify_server() {
    local name=$1 port=$2 out dns n ok=0
    out=$(timeout 30 ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$port/" -b "$BASE_DN" \
        "(mail=$SAMPLE_MAIL)" cn mail uid 2>&1)
    dns=$(grep -c '^dn:' <<<"$out")
    if ((dns != 1)) || ! grep -qix "dn: $SAMPLE_DN" <<<"$out" || ! grep -qix "mail: $SAMPLE_MAIL" <<<"$out" ||
        ! grep -qix "uid: $SAMPLE_UID" <<<"$out"; then
        note "$name: (mail=$SAMPLE_MAIL) did not give exactly the entry $SAMPLE_DN; it gave:"
        head -20 <<<"$out" >&2
        ok=1
    else
        note "$name: (mail=$SAMPLE_MAIL) -> $(grep -i '^dn:' <<<"$out")"
    fi
    out=$(timeout 30 ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$port/" -b "$BASE_DN" \
        "(cn=$PREFIX*)" 1.1 2>&1)
    n=$(grep -c '^dn:' <<<"$out")
    if ((n != SUB_HITS)); then
        note "$name: (cn=$PREFIX*) gave $n entries, the corpus has $SUB_HITS; ldapsearch said: $(grep -v '^dn:' <<<"$out" | grep . | head -3 | tr '\n' ' ')"
        ok=1
    else
        note "$name: (cn=$PREFIX*) -> $n entries, as in the corpus"
    fi
    return $ok
}

# ---- servers -----------------------------------------------------------------------
# start_<target> sets SERVER_PID and PORT; returns 1 if the target cannot be
# measured at all (the reason is in NOTES).
start_slapd() {
    local t0=$SECONDS
    SL_DIR=$BENCH_TMP/slapd
    PORT=$(free_port)
    sl_setup "$SL_DIR" "$PORT" "$SLAPD_THREADS"
    sl_load "$SL_DIR" "$CORPUS/directory.ldif" || { NOTES+=("slapadd failed"); return 1; }
    note "slapd: $USERS people loaded with slapadd in $((SECONDS - t0)) s"
    sl_start "$SL_DIR" "$PORT" || { NOTES+=("slapd did not start (see its log)"); return 1; }
    verify_server slapd "$PORT" || { NOTES+=("slapd failed the checked searches"); return 1; }
    SERVER_PID=$SL_PID
}

start_posthorn_ldap() {
    local conf=$CORPUS/posthorn.toml log=$PH_DIR/posthorn.log i why
    PORT=$PH_PORT
    [[ -x $POSTHORN ]] || { NOTES+=("no posthorn binary at $POSTHORN"); return 1; }
    "$POSTHORN" serve -c "$conf" >>"$log" 2>&1 &
    POSTHORN_PID=$!
    _POSTHORN_PIDS+=("$POSTHORN_PID")
    for ((i = 0; i < 300; i++)); do
        kill -0 "$POSTHORN_PID" 2>/dev/null || break
        ldap_answers "$PORT" && break
        # A posthorn without the LDAP server logs this for the listener at once.
        grep -q "event=listener_not_built.*127\.0\.0\.1:$PORT" "$log" 2>/dev/null && ((i >= 10)) && break
        sleep 0.1
    done
    if ! kill -0 "$POSTHORN_PID" 2>/dev/null; then
        tail -10 "$log" >&2
        note "posthorn exited at start with the generated config (log above: $log)"
        NOTES+=("posthorn exited at start with the generated config ($(grep -m1 -iE 'error|fatal|panic' "$log" | cut -c1-200)): not measured")
        stop_posthorn
        return 1
    fi
    if ! ldap_answers "$PORT"; then
        why=$({ grep -m1 -F "127.0.0.1:$PORT" "$log" || grep -m1 -i ldap "$log"; } | cut -c1-200)
        note "posthorn has no LDAP listener yet: nothing answers LDAP on 127.0.0.1:$PORT${why:+ (its log: $why)}"
        NOTES+=("posthorn has no LDAP listener yet (nothing answered an LDAP search on its \`[listen] ldap\` port 127.0.0.1:$PORT${why:+; its log: \`$why\`}): posthorn was not measured")
        stop_posthorn
        return 1
    fi
    if ! verify_server posthorn "$PORT"; then
        FAILED=1
        NOTES+=("posthorn answered LDAP but failed the checked searches (see the script's output); its runs are measured all the same and every failed search counts as an error")
    fi
    SERVER_PID=$POSTHORN_PID
}

# ---- one run -------------------------------------------------------------------------
# measure TARGET MODE REP SECS: one posthorn-ldapload run; appends a row to RAW
# (REP "warmup" rows are kept but not counted). Returns 1 if the server died.
measure() {
    local target=$1 mode=$2 rep=$3 secs=$4
    local out=$BENCH_TMP/run.out err=$BENCH_TMP/run.err c0 c1 t0 t1 others rc extra=()
    [[ $mode == sub-cn ]] && extra=(--prefix "$PREFIX" --expect-entries "$SUB_HITS")
    settle_ticks "$SERVER_PID" 60 >/dev/null || return 1
    [[ $rep == warmup ]] || wait_machine_quiet
    "${BL[@]}" snap "$BENCH_TMP/snap0"
    c0=$(cpu_ticks "$SERVER_PID") || return 1
    t0=$(date +%s%N)
    "$LDAPLOAD" --mode "$mode" --port "$PORT" --conns "$CONNS" --depth "$DEPTH" --threads "$THREADS" \
        --seconds "$secs" --base "$BASE_DN" --mails "$CORPUS/mails.txt" "${extra[@]}" "${BIND_ARGS[@]}" \
        --seed "$((SEED + ${rep//[!0-9]/0}))" >"$out" 2>"$err"
    rc=$?
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$err" >&2; return 1; }
    c1=$(settle_ticks "$SERVER_PID" 60) || return 1
    t1=$(date +%s%N)
    "${BL[@]}" snap "$BENCH_TMP/snap1"
    others=$("${BL[@]}" others "$BENCH_TMP/snap0" "$BENCH_TMP/snap1" "$SERVER_PID" "$$") || others=0
    if ((rc != 0)); then
        FAILED=1
        note "$target $mode rep $rep: posthorn-ldapload failed (exit $rc):"
        head -5 "$err" >&2
    fi
    # key=value line -> TSV row
    awk -v target="$target" -v mode="$mode" -v rep="$rep" -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" \
        -v others="$others" -v wall="$((t1 - t0))" -v rc="$rc" -v conns="$CONNS" -v depth="$DEPTH" '
        /^mode=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } found = 1 }
        END {
            if (!found) { v["searches"] = 0; v["secs"] = "-"; v["searches_per_s"] = "-"; v["entries_per_s"] = "-";
                v["mb_per_s"] = "-"; v["p50_us"] = "-"; v["p99_us"] = "-"; v["errors"] = 1; v["client_cpu_pct"] = "-" }
            if (rc != 0 && v["errors"] == 0) v["errors"] = 1
            cpu = (v["searches"] > 0) ? sprintf("%.1f", ticks * 1e6 / hz / v["searches"]) : "-"
            # server CPU over the load generator'"'"'s run (secs), in % of one core
            spct = (v["secs"] > 0) ? sprintf("%.0f", ticks * 100 / hz / v["secs"]) : "-"
            bg = sprintf("%.0f", others / hz * 100 / (wall / 1e9))
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", target, mode, rep, conns, depth,
                v["searches"], v["secs"], v["searches_per_s"], v["entries_per_s"], v["mb_per_s"], v["p50_us"],
                v["p99_us"], v["errors"], v["client_cpu_pct"], cpu, spct, bg
        }' "$out" >>"$RAW"
    note "$target $mode rep=$rep: $(tail -1 "$RAW" | awk -F'\t' '{ printf "searches/s=%s entries/s=%s p99_us=%s errors=%s client_cpu=%s%% server_cpu_us/search=%s server_cpu=%s%% others=%s%%", $8, $9, $12, $13, $14, $15, $16, $17 }')"
}

# ---- the runs ------------------------------------------------------------------------------
# Both servers run side by side (their own ports and directories), so the
# runs can alternate between them.
ACTIVE=()
for t in "${TARGETS[@]}"; do
    note "=== starting $t"
    if [[ $t == slapd ]]; then
        if start_slapd; then
            ACTIVE+=(slapd) SL_SERVER=$SERVER_PID SL_LDAP=$PORT
        else
            FAILED=1
            sl_stop
        fi
    elif start_posthorn_ldap; then
        ACTIVE+=(posthorn) PH_SERVER=$SERVER_PID
    else
        # posthorn without an LDAP listener is a note when slapd is measured
        [[ ,$ONLY, == *,slapd,* ]] || FAILED=1
    fi
done
((${#ACTIVE[@]})) || die "no server to measure: ${NOTES[*]}"

use() {  # use TARGET: SERVER_PID and PORT of that target
    if [[ $1 == slapd ]]; then
        SERVER_PID=$SL_SERVER PORT=$SL_LDAP
    else
        SERVER_PID=$PH_SERVER PORT=$PH_PORT
    fi
}

note "servers: ${ACTIVE[*]}; users=$USERS (cn=$PREFIX* hits $SUB_HITS) runs=$RUNS seconds=$SECONDS_RUN conns=$CONNS depth=$DEPTH; tmp=$BENCH_TMP"
for mode in $MODES; do
    note "=== $mode"
    if [[ $WARMUP != 0 ]]; then
        for t in "${ACTIVE[@]}"; do
            use "$t"
            measure "$t" "$mode" warmup "$WARMUP" || die "$t died during $mode"
        done
    fi
    for ((rep = 1; rep <= RUNS; rep++)); do
        # A B, B A, A B, ...: a drift over the runs (caches, other load) does
        # not always favour the same server.
        order=("${ACTIVE[@]}")
        ((rep % 2 == 0 && ${#ACTIVE[@]} == 2)) && order=("${ACTIVE[1]}" "${ACTIVE[0]}")
        for t in "${order[@]}"; do
            use "$t"
            measure "$t" "$mode" "$rep" "$SECONDS_RUN" || die "$t died during $mode"
        done
    done
done
for t in "${ACTIVE[@]}"; do
    if [[ $t == slapd ]]; then
        sl_stop
    else
        POSTHORN_PID=$PH_SERVER
        stop_posthorn
    fi
done

# ---- report ------------------------------------------------------------------------------------
title="LDAP search: posthorn vs slapd, $USERS entries, $CONNS connections × $DEPTH pipelined ($STAMP)"
[[ " ${ACTIVE[*]} " != *" posthorn "* ]] && title="LDAP search: slapd only (posthorn not measured), $USERS entries, $CONNS connections × $DEPTH pipelined ($STAMP)"
[[ " ${ACTIVE[*]} " != *" slapd "* ]] && title="LDAP search: posthorn only (slapd not measured), $USERS entries, $CONNS connections × $DEPTH pipelined ($STAMP)"
((SMOKE)) && title="SMOKE RUN ($USERS entries, $RUNS run(s) of $SECONDS_RUN s: checks the script, not a result): $title"
slapd_threads_note="threads = $SLAPD_THREADS"
[[ $SLAPD_THREADS == default ]] && slapd_threads_note="threads at slapd's default (16; threads 2 served (cn=ab*) slower in a quick check)"
{
    echo "<!-- generated by bench/compare/ldap_vs_slapd.sh -->"
    "${BL[@]}" ldap-report "$RAW" "$title"
    if ((${#NOTES[@]})); then
        echo "## Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
        echo
    fi
    echo "## Setup"
    echo
    echo "- directory: tools/ldapcorpus.py, seed $SEED: $USERS people under ou=people,$BASE_DN (inetOrgPerson: cn = displayName = \"given surname\", sn, givenName, mail = uid@example.test, uid) and $(manifest groups) groupOfNames under ou=groups; \`(cn=$PREFIX*)\` matches $SUB_HITS; the same people as posthorn \`[[users]]\`/\`[[groups]]\` and as an LDIF for slapd"
    echo "- searches: base $BASE_DN, scope subtree, attributes cn, sn, givenName, displayName, mail, uid; \`eq-mail\`: (mail=ADDRESS), ADDRESS random among the $USERS addresses; \`sub-cn\`: (cn=$PREFIX*); $( ((BIND)) && echo "each connection bound as $SAMPLE_DN first" || echo "anonymous")"
    warm="one ${WARMUP} s warm-up per server (not counted)"
    [[ $WARMUP == 0 ]] && warm="no warm-up"
    echo "- client: posthorn-ldapload (one epoll loop$( ((THREADS > 1)) && echo "s: $THREADS")), $CONNS connections each with $DEPTH SearchRequests outstanding, ${SECONDS_RUN} s per run; every result checked (resultCode 0; eq-mail exactly one entry holding the address; sub-cn exactly $SUB_HITS entries)"
    echo "- runs: per mode $warm, then $RUNS runs alternating between the servers (the order swapped every other run); medians of runs without errors. Server CPU: user+system of the server's process tree from the start of a run until it was quiet again, per search, and over the run's length in % of one core"
    echo "- slapd $($SLAPD -VV 2>&1 | sed -n 's/.*slapd \([0-9][^ ]*\).*/\1/p' | head -1): private instance (own slapd.conf, database and port on 127.0.0.1, \`slapd -d 0\`), back-mdb loaded with slapadd, indexes eq on objectClass, mail, uid and eq,sub on cn, sn, givenName, displayName; loglevel 0; $slapd_threads_note; sizelimit unlimited; no access directives (slapd's default, read by anyone: its cheapest; an ACL hiding userPassword cost ~10 % more CPU per search in a quick check)"
    if [[ " ${ACTIVE[*]} " == *" posthorn "* ]]; then
        echo "- posthorn at $POSTHORN (script at $(git -C "$REPO" describe --always --dirty 2>/dev/null)): the generated config (only \`[listen] ldap\`, \`[ldap] size_limit = 100000\`), shards ${POSTHORN_SHARDS:-auto}"
    fi
    echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); total $(($(date +%s) - T_START)) s"
    echo "- raw runs: $(basename "$RAW")"
} >"$REPORT"
cat "$REPORT"
note "report: $REPORT"
((FAILED == 0)) || die "some runs failed (see 'Runs with errors' and the messages above)"
