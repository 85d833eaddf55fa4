# shellcheck shell=bash
# Shared by the bench/compare scripts (sourced, not run): tool checks, servers
# (smtp-sink, posthorn, a private Postfix instance) that register themselves
# for the EXIT trap, /proc CPU accounting, and waiting for quiet.
#
# A script sets `trap bench_cleanup EXIT` (done below), calls bench_tmpdir, and
# starts servers only through the start_* functions so cleanup finds them.
# Every failure is loud: die prints to stderr and exits non-zero, and the trap
# stops whatever was started.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_LIB/../../.." && pwd)
# Debian's python3 when there is one: a version manager's shim costs ~50 ms
# of CPU per call, and the helpers run several times per measured run.
BL=("$([[ -x /usr/bin/python3 ]] && echo /usr/bin/python3 || echo python3)" "$BENCH_LIB/benchlib.py")
LOADGEN=${LOADGEN:-$REPO/build-bench/tools/posthorn-loadgen}
POSTHORN=${POSTHORN:-$REPO/build/posthorn}
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink

BENCH_TMP=
BENCH_KEEP=0
_SINK_PIDS=()
_POSTHORN_PIDS=()
_PF_DIRS=()
_BG_PIDS=()
_SOMAXCONN_OLD=

note() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf '\n*** %s: FAILED: %s\n\n' "$(basename "$0")" "$*" >&2
    exit 1
}

bench_cleanup() {
    local rc=$? pid d
    trap - EXIT INT TERM
    for pid in "${_BG_PIDS[@]}"; do stop_pid "$pid"; done
    for pid in "${_SINK_PIDS[@]}"; do stop_pid "$pid"; done
    for pid in "${_POSTHORN_PIDS[@]}"; do stop_pid "$pid"; done
    for d in "${_PF_DIRS[@]}"; do pf_stop "$d"; done
    if [[ -n $_SOMAXCONN_OLD ]]; then sysctl -qw net.core.somaxconn="$_SOMAXCONN_OLD" || true; fi
    if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
        if ((BENCH_KEEP)); then
            note "kept $BENCH_TMP"
        else
            rm -rf --one-file-system "$BENCH_TMP"
        fi
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM

# Stops one process we started: TERM, up to 10 s, then KILL.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "pid $pid ignored SIGTERM for 10 s; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

# forget_bg PID: drops PID from _BG_PIDS once it has been stopped and reaped,
# so that the EXIT trap never signals a pid the kernel may have reused.
forget_bg() {
    local p keep=()
    for p in "${_BG_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    _BG_PIDS=("${keep[@]}")
}

bench_tmpdir() {
    BENCH_TMP=$(mktemp -d /tmp/posthorn-bench.XXXXXX) || die "mktemp"
    chmod 755 "$BENCH_TMP"   # Postfix's unprivileged daemons walk through it
}

ensure_tools() {
    local need=0 b
    for b in "$SMTP_SOURCE" "$SMTP_SINK" /usr/sbin/postfix /usr/sbin/postconf; do
        [[ -x $b ]] || need=1
    done
    command -v python3 >/dev/null || need=1
    if ((need)); then
        note "installing the benchmark's packages (tools/bootstrap-bench.sh)"
        "$REPO/tools/bootstrap-bench.sh" >&2 || die "tools/bootstrap-bench.sh failed"
    fi
}

# ensure_load_tool VAR NAME: the load generator tools/NAME (posthorn-NAME),
# built in build-bench/ with meson, or compiled directly when the project's
# meson setup is broken (load generators link no posthorn library). VAR names
# the variable holding its path; a binary the user gave is only checked.
ensure_load_tool() {
    local -n tool_path=$1
    local name=$2
    local default=$REPO/build-bench/tools/posthorn-$name direct=$REPO/build-bench/posthorn-$name-direct
    local log=${BENCH_TMP:-/tmp}/$name-build.log
    if [[ $tool_path != "$default" && $tool_path != "$direct" ]]; then
        [[ -x $tool_path ]] || die "no load generator at $tool_path"
        return
    fi
    if { [[ -f $REPO/build-bench/build.ninja ]] ||
        (cd "$REPO" && meson setup build-bench >"$log" 2>&1); } &&
        ninja -C "$REPO/build-bench" "tools/posthorn-$name" >>"$log" 2>&1; then
        tool_path=$default
        return
    fi
    note "meson build of posthorn-$name failed ($(grep -m1 -E 'ERROR|error' "$log")); compiling it directly"
    mkdir -p "$REPO/build-bench"
    g++ -std=c++20 -O2 -g -Wall -Wextra -pthread -o "$direct" "$REPO"/tools/"$name"/*.cc >>"$log" 2>&1 ||
        { tail -30 "$log" >&2; die "building posthorn-$name failed"; }
    tool_path=$direct
}
ensure_loadgen() { ensure_load_tool LOADGEN loadgen; }

# Large accept queues where we control them (smtp-sink and posthorn take their
# backlog from this cap). Restored at exit.
raise_somaxconn() {
    local cur
    cur=$(sysctl -n net.core.somaxconn 2>/dev/null) || return 0
    if ((cur < 4096)) && sysctl -qw net.core.somaxconn=4096 2>/dev/null; then
        _SOMAXCONN_OLD=$cur
    fi
}

free_port() { "${BL[@]}" free-port || die "no free port"; }
cpu_ticks() { "${BL[@]}" tree-ticks "$1" || die "cannot read CPU of pid $1 (did the server die?)"; }
CLK_TCK=$(getconf CLK_TCK)

# Waits until 127.0.0.1:PORT greets with 220 (PID, if given, must stay alive).
wait_smtp() {
    local port=$1 secs=$2 pid=${3:-} i
    for ((i = 0; i < secs * 10; i++)); do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r -t 2 l <&3 &&
               [[ \$l == 220* ]] && printf 'QUIT\r\n' >&3" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# wait_greeting PORT PREFIX SECS [PID]: until 127.0.0.1:PORT sends a first
# line starting with PREFIX ("* OK" for IMAP, "+OK" for POP3); PID, if given,
# must stay alive. Returns 1 on timeout.
wait_greeting() {
    local port=$1 prefix=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 10; i++)); do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r -t 2 l <&3 &&
               [[ \$l == \"\$0\"* ]]" "$prefix" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Waits until the process tree of PID has used at most one clock tick in two
# consecutive 250 ms windows; prints its CPU ticks at the start of that quiet
# period (so idle polling is not charged to the run). Gives up after MAX_S.
settle_ticks() {
    local pid=$1 max_s=${2:-120} prev cur start quiet=0 i
    prev=$(cpu_ticks "$pid") || return 1
    start=$prev
    for ((i = 0; i < max_s * 4; i++)); do
        sleep 0.25
        cur=$(cpu_ticks "$pid") || return 1
        if ((cur - prev <= 1)); then
            quiet=$((quiet + 1))
        else
            quiet=0
            start=$cur
        fi
        prev=$cur
        if ((quiet >= 2)); then
            echo "$start"
            return 0
        fi
    done
    note "warning: pid $pid still busy after ${max_s}s"
    echo "$cur"
}

# ---- noise from the rest of the machine ---------------------------------------
# The machine may be shared (builds, tests). Before each run we wait for it to
# be quiet, and during each run we measure the CPU that neither the server nor
# this script and its children (the client) used: the "background" share.

machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# SELF_TICKS = CPU of this shell plus every child it has reaped (the clients,
# the helpers). `times` must run in this shell, not in a $(...) subshell.
snap_self() {
    times >"$BENCH_TMP/.times"
    SELF_TICKS=$(awk -v hz="$CLK_TCK" '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } }
        END { printf "%d\n", t * hz + 0.5 }' "$BENCH_TMP/.times")
}

QUIET_BUDGET_S=${QUIET_BUDGET_S:-180}  # in all, per script run
_QUIET_WAITED=0
# Waits (up to 20 s, and up to QUIET_BUDGET_S over the whole script) until the
# machine is at most 10 % busy over half a second.
wait_machine_quiet() {
    local b0 b1 i
    for ((i = 0; i < 40; i++)); do
        b0=$(machine_busy_ticks)
        sleep 0.5
        b1=$(machine_busy_ticks)
        ((b1 - b0 <= CLK_TCK / 20)) && return 0
        ((_QUIET_WAITED >= QUIET_BUDGET_S * 2)) && break  # counted in half seconds
        _QUIET_WAITED=$((_QUIET_WAITED + 1))
    done
    note "machine busy ($(top -b -n 2 -d 0.3 -o %CPU 2>/dev/null | awk '/^top -/ { f++ }
        f == 2 && $1 ~ /^[0-9]+$/ && n < 3 { printf "%s %s%%; ", $12, $9; n++ }'))going on anyway"
}

# ---- smtp-sink ---------------------------------------------------------------

# start_sink PORT -> SINK_PID. Postfix's protocol-only server: no storage.
start_sink() {
    local port=$1
    "$SMTP_SINK" -u nobody -m 4000 "127.0.0.1:$port" 4096 >"$BENCH_TMP/smtp-sink.log" 2>&1 &
    SINK_PID=$!
    _SINK_PIDS+=("$SINK_PID")
    wait_smtp "$port" 10 "$SINK_PID" || { cat "$BENCH_TMP/smtp-sink.log" >&2; note "smtp-sink did not start"; return 1; }
}

# ---- posthorn -----------------------------------------------------------------

# posthorn_config FILE DATA_DIR PORT [MAX_MESSAGE_SIZE] [DURABILITY] [USERS] [METRICS_PORT]
#   USERS: user1..userN@example.test (1); METRICS_PORT: [listen] metrics on
#   127.0.0.1 (none)
posthorn_config() {
    local file=$1 data=$2 port=$3 max=${4:-52428800} dur=${5:-fsync} users=${6:-1} mport=${7:-} i
    local shards_value=${POSTHORN_SHARDS:-'"auto"'} metrics=
    [[ -n $mport ]] && metrics="\"127.0.0.1:$mport\""
    cat >"$file" <<EOF
# generated by bench/compare ($(basename "$0")); throwaway
[server]
hostname = "mx.example.test"
shards = $shards_value
io = "auto"
data_dir = "$data"
durability = "$dur"

[listen]
smtp = ["127.0.0.1:$port"]
pop3 = []
imap = []
ldap = []
rpc = []
metrics = [$metrics]

[smtp]
max_message_size = $max
trusted_networks = ["127.0.0.0/8"]
# every client is 127.0.0.1: lift the per-address cap (Postfix's is off too)
max_connections_per_ip = 100000

[domains]
local = ["example.test"]
EOF
    for ((i = 1; i <= users; i++)); do
        printf '\n[[users]]\nname = "user%d"\npassword = "{PLAIN}user%d"\naddresses = ["user%d@example.test"]\n' \
            "$i" "$i" "$i" >>"$file"
    done
}

# start_posthorn CONFIG PORT LOG -> POSTHORN_PID; returns 1 (log shown) if it
# does not greet within 30 s.
start_posthorn() {
    local conf=$1 port=$2 log=$3
    [[ -x $POSTHORN ]] || { note "no posthorn binary at $POSTHORN (build it, pass --posthorn BIN, or leave posthorn out with --only)"; return 1; }
    "$POSTHORN" serve -c "$conf" >>"$log" 2>&1 &
    POSTHORN_PID=$!
    _POSTHORN_PIDS+=("$POSTHORN_PID")
    if ! wait_smtp "$port" 30 "$POSTHORN_PID"; then
        tail -20 "$log" >&2
        note "posthorn did not answer on 127.0.0.1:$port (log above: $log)"
        stop_posthorn
        return 1
    fi
}

stop_posthorn() {
    stop_pid "${POSTHORN_PID:-}"
    # as forget_bg: the EXIT trap must not signal a reused pid
    local p keep=()
    for p in "${_POSTHORN_PIDS[@]}"; do [[ $p == "${POSTHORN_PID:-}" ]] || keep+=("$p"); done
    _POSTHORN_PIDS=("${keep[@]}")
    POSTHORN_PID=
}

# ---- a private Postfix instance ---------------------------------------------
# Everything under DIR: etc/ (config_directory), spool/ (queue_directory),
# data/, mail/ (virtual Maildirs), log/maillog. Edge MTA for example.test,
# virtual mailboxes in Maildir, no chroot, fsync left on (Postfix always
# fsyncs queue files and Maildir deliveries), in_flow_delay off, process limits
# at least the session count.

# pf_setup DIR PORT PROCESS_LIMIT [USERS]
#   USERS: Maildirs mail/user1/ .. mail/userN/ for userK@example.test (1)
pf_setup() {
    local d=$1 port=$2 procs=$3 users=${4:-1} i
    mkdir -p "$d/etc" "$d/spool" "$d/data" "$d/mail" "$d/log" || die "mkdir $d"
    chown postfix "$d/data"
    chown nobody:nogroup "$d/mail"
    cat >"$d/etc/main.cf" <<EOF
# generated by bench/compare ($(basename "$0")); throwaway
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-bench.example.net
mydomain = example.net
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.test
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$d/etc/vmailbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
virtual_minimum_uid = 100
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
maillog_file = $d/log/maillog
maillog_file_prefixes = $d/log
# high-volume settings
in_flow_delay = 0s
default_process_limit = $procs
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
EOF
    for ((i = 1; i <= users; i++)); do echo "user$i@example.test user$i/"; done >"$d/etc/vmailbox"
    # chroot column (5th) is n everywhere.
    cat >"$d/etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$port inet n   -       n       -       $procs  smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_start DIR PORT -> PF_MASTER_PID; returns 1 (reason shown) on failure.
# Postfix prints its fatal errors only to a terminal, so the command runs
# under script(1) to capture them.
pf_start() {
    local d=$1 port=$2 i
    _PF_DIRS+=("$d")
    if ! script -qec "postfix -c $d/etc start" /dev/null >"$d/start.log" 2>&1; then
        cat "$d/start.log" >&2
        note "postfix -c $d/etc start failed"
        return 1
    fi
    PF_MASTER_PID=
    for ((i = 0; i < 100; i++)); do
        PF_MASTER_PID=$(tr -dc 0-9 <"$d/spool/pid/master.pid" 2>/dev/null)
        [[ -n $PF_MASTER_PID ]] && kill -0 "$PF_MASTER_PID" 2>/dev/null && break
        PF_MASTER_PID=
        sleep 0.1
    done
    [[ -n $PF_MASTER_PID ]] || { cat "$d/start.log" "$d/log/maillog" >&2; note "Postfix master did not start"; return 1; }
    wait_smtp "$port" 30 "$PF_MASTER_PID" || { tail -20 "$d/log/maillog" >&2; note "Postfix smtpd did not answer on $port"; return 1; }
}

# Stops the instance and makes sure none of its processes is left.
pf_stop() {
    local d=$1 pid i
    [[ -d $d/spool ]] || return 0
    pid=$(tr -dc 0-9 <"$d/spool/pid/master.pid" 2>/dev/null)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    script -qec "postfix -c $d/etc stop" /dev/null >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    note "Postfix in $d did not stop; aborting it"
    script -qec "postfix -c $d/etc abort" /dev/null >/dev/null 2>&1
    sleep 0.5
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null  # its own process group
    return 0
}

# Messages still in the queue (incoming, active, deferred, hold, maildrop).
pf_queue_count() {
    find "$1/spool/incoming" "$1/spool/active" "$1/spool/deferred" "$1/spool/hold" \
        "$1/spool/maildrop" -type f 2>/dev/null | wc -l
}

# Waits until Postfix has delivered everything; fails loudly on a deferral.
pf_drain() {
    local d=$1 max_s=${2:-600} i n deferred
    for ((i = 0; i < max_s * 10; i++)); do
        n=$(pf_queue_count "$d")
        ((n == 0)) && return 0
        deferred=$(find "$d/spool/deferred" -type f 2>/dev/null | wc -l)
        if ((deferred > 0)); then
            grep -E 'status=(deferred|bounced)|warning|fatal|panic' "$d/log/maillog" | tail -5 >&2
            die "Postfix deferred $deferred message(s): delivery is failing (see $d/log/maillog)"
        fi
        sleep 0.1
    done
    die "Postfix queue did not drain in ${max_s}s ($n left)"
}

# Messages in all Maildirs (new/ and cur/ of every mail/userN/); emptying them.
# (Missing dirs are not an error: Maildirs appear with their first message.)
pf_delivered() { { find "$1"/mail/*/new "$1"/mail/*/cur -type f 2>/dev/null || true; } | wc -l; }
pf_wipe_mail() { find "$1/mail" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +; }
