#!/bin/bash
# keyholderd's process hardening (issue 7, "The daemon process"): the state
# dir check, inherited fds closed, not dumpable and no core, locked memory,
# the seccomp allowlist (every key type signs under it; a forbidden call
# kills, shown by khd_seccomp_probe, which loads the very same filter),
# --user, started directly as an unprivileged user (systemd User=), daemon
# mode, and the client's executable in the log.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
    kh_skip "needs root and setpriv (util-linux)"
fi
PROBE="$(dirname "$KH_ITEST")/khd_seccomp_probe"
[ -x "$PROBE" ] || kh_fail "$PROBE is not built"
KHADMIN_EXE=$(readlink -f "$KHADMIN")
ASAN=
if kh_is_asan "$KEYHOLDERD"; then
    ASAN=1 # ASan ignores mlockall; LeakSanitizer needs ptrace at exit
fi
echo hello >"$WORK/msg"
chmod 0644 "$WORK/msg"

# keyholderd must refuse to start: exit 1 and the reason (a grep pattern).
kh_refused() {
    rm -f "$SOCK" # a --user daemon cannot remove its socket from $WORK
    kh_expect_fail 1 "$1" timeout 30 "$KEYHOLDERD" --foreground \
        --state-dir "$STATE" --socket "$SOCK" "${@:2}"
    [ ! -S "$SOCK" ] || kh_fail "a refused keyholderd left a socket"
}

# /proc/PID/status field check: kh_status FIELD EXTENDED-REGEX
kh_status() {
    grep -Eq "^$1:[[:space:]]*$2\$" "/proc/$DAEMON_PID/status" ||
        kh_fail "keyholderd $(grep "^$1:" "/proc/$DAEMON_PID/status"), expected $2"
}

# Every thread of the daemon (a connection is held open meanwhile).
kh_all_threads_filtered() {
    local n=0 t
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(3)' \
        "$1" &
    local holder=$!
    for _ in $(seq 1 30); do
        [ "$(ls "/proc/$DAEMON_PID/task" | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
    for t in /proc/"$DAEMON_PID"/task/*; do
        grep -Eq "^Seccomp:[[:space:]]*2$" "$t/status" ||
            kh_fail "thread $(basename "$t") runs without the filter"
        n=$((n + 1))
    done
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    [ "$n" -ge 2 ] || kh_fail "no connection thread to check"
}

# Generates one key of TYPE as NAME, signs $WORK/msg, verifies with openssl.
kh_sign_check() {
    local name=$1 type=$2 digest=sha256
    [ "$type" = ed25519 ] && digest=none
    "$KHADMIN" key generate "$name" --type "$type" >/dev/null ||
        kh_fail "$type: generate"
    "$KHADMIN" key pub "$name" >"$WORK/$name.pub"
    "$KHADMIN" key sign "$name" --in "$WORK/msg" --out "$WORK/$name.sig" \
        2>/dev/null || kh_fail "$type: sign"
    kh_verify "$WORK/$name.pub" "$WORK/msg" "$WORK/$name.sig" $digest ||
        kh_fail "$type: openssl rejects the signature"
}

# --- The state dir --------------------------------------------------------
mkdir -m 0755 "$STATE"
kh_refused "state dir .*/state is mode 0755: its group and others can read it; chmod 700 .*/state"
chmod 0750 "$STATE"
kh_refused "is mode 0750: its group can read it; chmod 700"
chmod 0701 "$STATE"
kh_refused "is mode 0701: others can enter it; chmod 700"
chmod 0700 "$STATE"
chown nobody "$STATE"
kh_refused "state dir .*/state is owned by uid $NOBODY_UID, not by root (uid 0) that keyholderd runs as; chown root"
chown root "$STATE"
touch "$STATE/data.mdb"
chown nobody "$STATE/data.mdb"
kh_refused "holds data.mdb owned by uid $NOBODY_UID, not by root (uid 0)"
chown root "$STATE/data.mdb"
chmod 0644 "$STATE/data.mdb"
kh_refused "state file .*/data.mdb is mode 0644: its group and others can read it; chmod 600"
rm -f "$STATE/data.mdb"
kh_ok "a state dir or file others can reach, or owned by another user, is refused (exit 1, the fix named)"

kh_expect_fail 1 "no such user" timeout 30 "$KEYHOLDERD" --foreground \
    --user no-such-user-kh --state-dir "$STATE" --socket "$SOCK"
kh_expect_fail 1 "only root can switch to another user" as_nobody \
    timeout 30 "$KEYHOLDERD" --foreground --user daemon \
    --state-dir "$WORK/nostate" --socket "$WORK/no.sock"
kh_ok "--user: an unknown user, or a non-root caller, is refused"

# --- As root (tests, the dev demo): the filter, no core, locked memory ----
exec 7>"$WORK/inherited-fd"
kh_start --socket-group nogroup # nobody's khadmin gets a DENIED below
exec 7>&-
if ls -l "/proc/$DAEMON_PID/fd" | grep -q inherited-fd; then
    kh_fail "keyholderd kept the fd it inherited"
fi
kh_ok "an fd inherited from the parent is closed"

kh_status Seccomp 2
kh_status NoNewPrivs 1
grep -Eq "^Max core file size +0 +0 " "/proc/$DAEMON_PID/limits" ||
    kh_fail "core dumps allowed: $(grep -i core "/proc/$DAEMON_PID/limits")"
grep -q "warning: running as root: in production start keyholderd with --user" "$LOG" ||
    kh_fail "running as root is not warned about"
kh_ok "as root: seccomp filter mode (Seccomp: 2), no_new_privs, core size 0, a warning to use --user"

LOCKED_KB=$(awk '/^VmLck:/ { print $2 }' "/proc/$DAEMON_PID/status")
if [ -n "$ASAN" ]; then
    grep -q "memory is NOT locked (AddressSanitizer ignores mlockall)" "$LOG" ||
        kh_fail "the ASan build does not say that mlockall is ignored"
    [ "$LOCKED_KB" -gt 0 ] || kh_fail "not even the secure heap is locked"
    kh_ok "memory: ASan ignores mlockall and says so; the secure heap is locked (VmLck ${LOCKED_KB} kB)"
elif [ "$LOCKED_KB" -gt 65536 ]; then
    grep -q "seccomp on, memory locked)" "$LOG" || kh_fail "serving line"
    kh_ok "memory locked with mlockall (VmLck ${LOCKED_KB} kB: LMDB map, heap, stacks)"
else
    grep -q "memory is NOT locked (" "$LOG" ||
        kh_fail "VmLck ${LOCKED_KB} kB and no warning"
    kh_ok "memory cannot be locked here, and the log says why"
fi

"$KHADMIN" init --dev >/dev/null 2>&1
for type in rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384 ec:secp256k1 ed25519; do
    kh_sign_check "k-${type//:/-}" "$type"
done
"$KHADMIN" key sign k-rsa-2048 --pss --digest sha384 --in "$WORK/msg" \
    --out "$WORK/pss.sig" 2>/dev/null
kh_verify "$WORK/k-rsa-2048.pub" "$WORK/msg" "$WORK/pss.sig" sha384 pss ||
    kh_fail "PSS under the filter"
kh_status Seccomp 2
kh_all_threads_filtered "$SOCK"
kh_ok "under the filter every key type generates and signs; every thread is filtered"

grep -q "uid 0 pid [0-9]* exe $KHADMIN_EXE generated ed25519 key 'k-ed25519'" "$LOG" ||
    kh_fail "the generate line lacks the client's executable"
kh_expect_fail 1 "may not use key 'k-ec-P-256'" as_nobody "$KHADMIN" key sign \
    k-ec-P-256 --in "$WORK/msg" --out -
grep -q "uid $NOBODY_UID pid [0-9]* exe $KHADMIN_EXE denied key 'k-ec-P-256'" "$LOG" ||
    kh_fail "the denial does not name the client's executable"
kh_ok "the log names the client's executable: generated (root), denied (nobody's khadmin)"

cp "$KHADMIN" "$WORK/forged"$'\n'"keyholderd info: uid 0"
"$WORK/forged"$'\n'"keyholderd info: uid 0" key generate forged --type ed25519 >/dev/null
grep -qF 'exe '"$WORK"'/forged\x0akeyholderd info: uid 0 generated ed25519' "$LOG" ||
    kh_fail "a newline in the executable's name is not escaped"
grep -q "^keyholderd info: uid 0" "$LOG" && kh_fail "a client forged a log line"
kh_ok "a newline in a client's file name is logged as \\x0a: no forged log lines"

kh_stop
kh_ok "SIGTERM under the filter: clean exit 0 (ASan: LeakSanitizer ran)"

kh_start --no-seccomp
kh_status Seccomp 0
grep -q "no-seccomp: running WITHOUT the system call filter" "$LOG" ||
    kh_fail "--no-seccomp is not warned about"
kh_stop
kh_ok "--no-seccomp: no filter, and a warning"

# --- A forbidden system call kills (the filter keyholderd loads) ----------
"$PROBE" allowed >/dev/null || kh_fail "the probe's allowed calls failed"
rc=0
"$PROBE" --syslog socket-unix >/dev/null || rc=$? # 3: the call returned
[ "$rc" -eq 3 ] || kh_fail "socket(AF_UNIX) for syslog: exit $rc"
FORBIDDEN="socket-inet socket-inet6 socket-unix execve fork vm-read setuid mmap-exec kill signal setsockopt"
[ -n "$ASAN" ] || FORBIDDEN="$FORBIDDEN ptrace"
for call in $FORBIDDEN; do
    rc=0
    { "$PROBE" "$call" >"$WORK/probe.out" 2>&1 || rc=$?; } 2>/dev/null
    [ "$rc" -eq 159 ] || # 128 + SIGSYS
        kh_fail "$call: exit $rc, not killed by SIGSYS: $(cat "$WORK/probe.out")"
done
kh_ok "forbidden calls kill with SIGSYS: ${FORBIDDEN// /, }${ASAN:+ (ptrace: allowed in ASan builds for LeakSanitizer)}"

# --- --user nobody: started as root, runs as nobody -----------------------
rm -rf "$STATE" # created by keyholderd and given to nobody
kh_start --user nobody --socket-group nogroup
kh_status Uid "$NOBODY_UID[[:space:]]+$NOBODY_UID[[:space:]]+$NOBODY_UID[[:space:]]+$NOBODY_UID"
kh_status Gid "$NOGROUP_GID[[:space:]]+$NOGROUP_GID[[:space:]]+$NOGROUP_GID[[:space:]]+$NOGROUP_GID"
kh_status Groups ""
# No capability left, except CAP_IPC_LOCK (bit 14) where only it can keep
# mlockall working (RLIMIT_MEMLOCK finite and not liftable).
kh_status CapEff "(0000000000000000|0000000000004000)"
kh_status CapPrm "(0000000000000000|0000000000004000)"
kh_status Seccomp 2
[ "$(stat -c %U:%a "$STATE")" = nobody:700 ] ||
    kh_fail "state dir is $(stat -c %U:%a "$STATE")"
grep -q "running as user nobody (uid $NOBODY_UID gid $NOGROUP_GID), no supplementary groups" "$LOG" ||
    kh_fail "the switch is not logged"
kh_ok "--user nobody: uid and gid nobody, no groups, no capability but CAP_IPC_LOCK at most, filter on"

# Not dumpable: the kernel gives a non-dumpable process's /proc/PID files
# to root, and another process of the same user can neither read its
# environment nor attach to it.
[ "$(stat -c %u "/proc/$DAEMON_PID/status")" = 0 ] ||
    kh_fail "/proc/$DAEMON_PID/status is $(stat -c %U "/proc/$DAEMON_PID/status")'s: dumpable"
as_nobody cat "/proc/$DAEMON_PID/environ" >/dev/null 2>&1 &&
    kh_fail "another nobody process read keyholderd's environment"
as_nobody "$PROBE" attach "$DAEMON_PID" >"$WORK/attach" 2>&1 &&
    kh_fail "another nobody process attached with ptrace: $(cat "$WORK/attach")"
grep -q "cannot attach" "$WORK/attach" || kh_fail "attach: $(cat "$WORK/attach")"
setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --clear-groups \
    sleep 30 </dev/null >/dev/null 2>&1 &
SLEEPER=$!
sleep 0.2
[ "$(stat -c %u "/proc/$SLEEPER/status")" = "$NOBODY_UID" ] &&
    as_nobody cat "/proc/$SLEEPER/environ" >/dev/null ||
    kh_fail "control: a dumpable nobody process looks the same"
kill "$SLEEPER"
wait "$SLEEPER" 2>/dev/null || true
kh_ok "not dumpable: /proc/PID/* is root's, environ unreadable and ptrace attach refused for another nobody process"

"$KHADMIN" init --dev >/dev/null 2>&1
kh_sign_check p256 ec:P-256
kh_sign_check ed ed25519
[ -z "$(find "$STATE" ! -user nobody)" ] ||
    kh_fail "state files not nobody's: $(ls -ln "$STATE")"
kh_ok "as nobody it signs for root clients; every state file is nobody's"

kh_expect_fail 1 "may not use key 'p256'" as_nobody "$KHADMIN" key sign p256 \
    --in "$WORK/msg" --out -
grep -q "uid $NOBODY_UID pid [0-9]* exe $KHADMIN_EXE denied key 'p256'" "$LOG" ||
    kh_fail "the denial does not name nobody's khadmin"
grep -q "uid 0 pid [0-9]* exe unknown generated ec:P-256 key 'p256'" "$LOG" ||
    kh_fail "a root client's exe should be unknown to a nobody daemon"
kh_ok "as nobody: a same-uid client's executable is logged, root's is 'unknown' (no CAP_SYS_PTRACE)"

kh_stop
kh_start --user nobody
"$KHADMIN" key sign p256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
kh_verify "$WORK/p256.pub" "$WORK/msg" "$WORK/sig" sha256 ||
    kh_fail "after a restart as nobody"
kh_stop
kh_refused "state dir .*/state is owned by uid $NOBODY_UID, not by root (uid 0)"
kh_ok "restart as nobody unseals and signs; root without --user refuses nobody's state dir"

# --- Started as an unprivileged user (the systemd unit's User= way) -------
NRUN="$WORK/nrun"
mkdir -m 0700 "$NRUN"
chown nobody:nogroup "$NRUN"
NSOCK="$NRUN/kh.sock"
# ulimit -l 64: a finite RLIMIT_MEMLOCK, whatever this machine's default.
kh_expect_fail 1 "cannot lock memory (RLIMIT_MEMLOCK is 64 KiB and CAP_IPC_LOCK is missing); refusing to start (--require-mlock)" \
    bash -c 'ulimit -l 64 && exec "$@"' - setpriv --reuid="$NOBODY_UID" \
    --regid="$NOGROUP_GID" --clear-groups timeout 30 "$KEYHOLDERD" \
    --foreground --require-mlock --state-dir "$NRUN/state" --socket "$NSOCK"
kh_ok "--require-mlock: no way to lock memory, no start"

CAPBND=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
if (( (16#$CAPBND >> 14) & 1 )); then # CAP_IPC_LOCK may be granted
    REQ=--require-mlock
    [ -z "$ASAN" ] || REQ=
    bash -c 'ulimit -l 64 && exec "$@"' - setpriv --reuid="$NOBODY_UID" \
        --regid="$NOGROUP_GID" --clear-groups --inh-caps=+ipc_lock \
        --ambient-caps=+ipc_lock "$KEYHOLDERD" --foreground $REQ \
        --state-dir "$NRUN/state" --socket "$NSOCK" 2>>"$LOG" &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do
        KEYHOLDER_SOCKET="$NSOCK" "$KHADMIN" status >/dev/null 2>&1 && break
        kill -0 "$DAEMON_PID" 2>/dev/null || kh_fail "keyholderd (as nobody) exited"
        sleep 0.1
    done
    kh_status Uid "$NOBODY_UID[[:space:]]+$NOBODY_UID[[:space:]]+$NOBODY_UID[[:space:]]+$NOBODY_UID"
    kh_status CapEff 0000000000004000
    kh_status Seccomp 2
    if [ -z "$ASAN" ]; then
        [ "$(awk '/^VmLck:/ { print $2 }' "/proc/$DAEMON_PID/status")" -gt 65536 ] ||
            kh_fail "memory not locked with CAP_IPC_LOCK"
    fi
    KEYHOLDER_SOCKET="$NSOCK" "$KHADMIN" init --dev >/dev/null 2>&1
    KEYHOLDER_SOCKET="$NSOCK" kh_sign_check n-p384 ec:P-384
    kh_stop
    kh_ok "started as nobody with only CAP_IPC_LOCK (systemd User=, AmbientCapabilities=): locked, filtered, signs"
else
    kh_skip_part "CAP_IPC_LOCK is not in this machine's bounding set: start as nobody with it"
fi

# --- Daemon mode: the parent exits once serving; syslog under the filter --
"$KEYHOLDERD" --state-dir "$STATE" --socket "$SOCK" --user nobody ||
    kh_fail "daemon mode: the parent exited $?"
"$KHADMIN" status >/dev/null || kh_fail "daemon mode: not serving"
for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = keyholderd ] &&
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "--state-dir $STATE "; then
        DAEMON_PID=${p#/proc/}
    fi
done
[ -n "$DAEMON_PID" ] || kh_fail "daemon mode: no keyholderd process found"
kh_status Seccomp 2
"$KHADMIN" key sign ed --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
    kh_fail "daemon mode: sign"
kill -TERM "$DAEMON_PID"
for _ in $(seq 1 100); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$DAEMON_PID" 2>/dev/null && kh_fail "daemon mode: SIGTERM ignored"
DAEMON_PID=
kh_ok "daemon mode (syslog): detaches, serves under the filter, stops on SIGTERM"
kh_pass
