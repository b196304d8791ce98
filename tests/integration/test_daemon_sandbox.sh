#!/bin/bash
# keystore/keyholderd.service and keystore/keyholder.sysusers, as far as
# they can be checked without systemd as PID 1 (none here, and none in CI):
#  1. `systemd-analyze verify` accepts the unit; `systemd-analyze security
#     --offline=true` rates it at most 1.0 (it was 0.5 SAFE when written).
#  2. systemd-sysusers, on a scratch root, creates the user keyholder and
#     puts www-data in its group.
#  3. keyholderd runs with the unit's own ExecStart= arguments under an
#     emulation of the unit's key restrictions, and signs:
#       User=/Group= (nobody/nogroup stand in for keyholder), one ambient,
#       bounding and effective capability CAP_IPC_LOCK, NoNewPrivileges,
#       LimitCORE=0, UMask=0077 (setpriv, prlimit); PrivateNetwork and
#       PrivateIPC (a new network and IPC namespace); ProtectSystem=strict
#       and ProtectHome (a mount namespace with / read-only, the state and
#       socket dirs bound read-write, /home and /root empty).
#     Not emulated: SystemCallFilter= (keyholderd's own, stricter filter is
#     on), PrivateTmp, PrivateDevices, ProtectProc, ProtectKernel*,
#     RestrictAddressFamilies, MemoryDenyWriteExecute (its own filter
#     refuses PROT_EXEC), the cgroup options.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
UNIT="$(dirname "$0")/../../keystore/keyholderd.service"
SYSUSERS="$(dirname "$0")/../../keystore/keyholder.sysusers"
ASAN=
kh_is_asan "$KEYHOLDERD" && ASAN=1

# --- 1. systemd-analyze -------------------------------------------------
command -v systemd-analyze >/dev/null || kh_skip "systemd-analyze is not installed"
sed "s#/usr/local/sbin/keyholderd#$KEYHOLDERD#" "$UNIT" >"$WORK/keyholderd.service"
systemd-analyze verify "$WORK/keyholderd.service" >"$WORK/verify" 2>&1 ||
    kh_fail "systemd-analyze verify: $(cat "$WORK/verify")"
[ ! -s "$WORK/verify" ] || kh_fail "systemd-analyze verify warns: $(cat "$WORK/verify")"
kh_ok "systemd-analyze verify: no error, no warning"
systemd-analyze security --offline=true "$WORK/keyholderd.service" \
    >"$WORK/security" 2>&1 || true
SCORE=$(sed -n 's/.*Overall exposure level for keyholderd.service: \([0-9.]*\).*/\1/p' "$WORK/security")
[ -n "$SCORE" ] || kh_fail "no exposure level: $(tail -3 "$WORK/security")"
awk -v s="$SCORE" 'BEGIN { exit !(s <= 1.0) }' ||
    kh_fail "exposure level $SCORE > 1.0: $(grep '✗' "$WORK/security")"
kh_ok "systemd-analyze security: exposure $SCORE (<= 1.0); left: $(grep -c '✗' "$WORK/security") items"

# --- 2. sysusers ----------------------------------------------------------
mkdir -p "$WORK/root/etc"
getent passwd www-data >"$WORK/root/etc/passwd"
getent group www-data >"$WORK/root/etc/group"
systemd-sysusers --root="$WORK/root" "$SYSUSERS" >/dev/null 2>&1 ||
    kh_fail "systemd-sysusers refused keyholder.sysusers"
grep -q '^keyholder:x:[0-9]*:[0-9]*:Keyholder key daemon:/var/lib/keyholder:/usr/sbin/nologin$' \
    "$WORK/root/etc/passwd" || kh_fail "no keyholder user: $(cat "$WORK/root/etc/passwd")"
grep -q '^keyholder:x:[0-9]*:www-data$' "$WORK/root/etc/group" ||
    kh_fail "www-data is not in group keyholder: $(cat "$WORK/root/etc/group")"
kh_ok "systemd-sysusers: user keyholder, www-data in group keyholder"

# --- 3. keyholderd under the emulated sandbox -----------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null ||
    ! unshare --net --mount --ipc --fork true 2>/dev/null; then
    kh_skip_part "the sandboxed run needs root, setpriv and unshare"
    kh_pass
    exit 0
fi
NOBODY_UID=$(id -u nobody)
NOGROUP_GID=$(getent group nogroup | cut -d: -f3)
# The unit's ExecStart= arguments, with this test's paths and group.
ARGS=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | sed 's/^ExecStart=//; s/\\$//' |
    tr '\n' ' ' | sed "s#/usr/local/sbin/keyholderd##;
        s#/run/keyholder/keyholder.sock#$WORK/run/keyholder.sock#;
        s#/var/lib/keyholder#$STATE#; s#--socket-group keyholder#--socket-group nogroup#")
case "$ARGS" in *--require-mlock*) ;; *) kh_fail "the unit lost --require-mlock: $ARGS" ;; esac
if [ -n "$ASAN" ]; then
    ARGS=${ARGS//--require-mlock/} # ASan's mlockall locks nothing
    echo "ASan build: --require-mlock left out (ASan's mlockall is a no-op)"
fi
SOCK="$WORK/run/keyholder.sock"
export KEYHOLDER_SOCKET="$SOCK"
install -d -m 0710 -o nobody -g nogroup "$WORK/run"   # RuntimeDirectory=
install -d -m 0700 -o nobody -g nogroup "$STATE"      # StateDirectory=
cat >"$WORK/sandbox.sh" <<EOF
set -e
mount --make-rprivate /
mount --bind "$STATE" "$STATE"
mount --bind "$WORK/run" "$WORK/run"
for d in /home /root; do [ -d \$d ] && mount -t tmpfs -o ro,mode=0755 none \$d; done
mount -o remount,bind,ro /
umask 0077
# shellcheck disable=SC2086
exec prlimit --core=0 setpriv --reuid=$NOBODY_UID --regid=$NOGROUP_GID --clear-groups \
    --inh-caps=-all,+ipc_lock --ambient-caps=-all,+ipc_lock \
    --bounding-set=-all,+ipc_lock --no-new-privs "$KEYHOLDERD" $ARGS
EOF
unshare --net --mount --ipc --fork --kill-child=SIGTERM bash "$WORK/sandbox.sh" 2>>"$LOG" &
DAEMON_PID=$!
for _ in $(seq 1 100); do
    "$KHADMIN" status >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || kh_fail "sandboxed keyholderd exited"
    sleep 0.1
done
"$KHADMIN" status >/dev/null 2>&1 || kh_fail "sandboxed keyholderd did not start"
KPID=$(pgrep -P "$DAEMON_PID")
[ "$(readlink "/proc/$KPID/exe")" = "$(readlink -f "$KEYHOLDERD")" ] ||
    kh_fail "pid $KPID is not keyholderd"
st() { awk -v k="$1:" '$1 == k {$1 = ""; print substr($0, 2)}' "/proc/$KPID/status"; }
[ "$(st Uid | awk '{print $1 $2 $3 $4}')" = "$NOBODY_UID$NOBODY_UID$NOBODY_UID$NOBODY_UID" ] ||
    kh_fail "Uid: $(st Uid)"
[ "$(st Groups)" = "" ] || kh_fail "supplementary groups: $(st Groups)"
for c in CapEff CapPrm CapBnd CapAmb; do
    [ "$(st $c)" = 0000000000004000 ] || kh_fail "$c is $(st $c), not CAP_IPC_LOCK only"
done
[ "$(st NoNewPrivs)" = 1 ] || kh_fail "NoNewPrivs: $(st NoNewPrivs)"
[ "$(st Seccomp)" = 2 ] || kh_fail "Seccomp: $(st Seccomp)"
[ "$(readlink "/proc/$KPID/ns/net")" != "$(readlink /proc/self/ns/net)" ] ||
    kh_fail "not in its own network namespace"
awk '$5 == "/" && $6 !~ /(^|,)ro(,|$)/ { exit 1 }' "/proc/$KPID/mountinfo" ||
    kh_fail "/ is writable for the daemon"
grep -q "serving $SOCK .*user nobody, seccomp on, memory ${ASAN:+NOT }locked" "$LOG" ||
    kh_fail "serving line: $(grep serving "$LOG")"
kh_ok "running as nobody, CAP_IPC_LOCK only (eff/prm/bnd/amb), NoNewPrivs, seccomp, own netns, / read-only${ASAN:-, memory locked}"
ls -ln "$SOCK" | grep -q "^srw-rw---- 1 $NOBODY_UID $NOGROUP_GID " ||
    kh_fail "socket: $(ls -ln "$SOCK")"
kh_ok "socket 0660 nobody:nogroup (born in the group: no chown under @privileged)"

"$KHADMIN" init --dev >/dev/null 2>&1 || kh_fail "init --dev"
"$KHADMIN" key generate sb-p256 --type ec:P-256 >/dev/null
"$KHADMIN" key pub sb-p256 >"$WORK/pub.pem"
echo "signed inside the sandbox" >"$WORK/msg"
"$KHADMIN" key sign sb-p256 --in "$WORK/msg" --out "$WORK/sig" >/dev/null
kh_verify "$WORK/pub.pem" "$WORK/msg" "$WORK/sig" sha256 ||
    kh_fail "the signature does not verify"
ls -ln "$STATE" | awk 'NR > 1 && ($3 != '"$NOBODY_UID"' || $1 !~ /^-rw-------/) { exit 1 }' ||
    kh_fail "state files not nobody's 0600: $(ls -ln "$STATE")"
kh_ok "init, generate, sign, verify; state files nobody's, 0600"
DAEMON_USER_UID=$(id -u daemon)
kh_expect_fail 1 "Permission denied" setpriv --reuid="$DAEMON_USER_UID" \
    --regid="$(id -g daemon)" --clear-groups "$KHADMIN" status
kh_ok "a user outside the socket group cannot even connect"
# As a dedicated user, keyholderd may not read another user's
# /proc/PID/exe (ptrace access check): a root client's exe is not known.
grep -q "uid 0 pid [0-9]* exe [^ ]* generated ec:P-256 key 'sb-p256'" "$LOG" ||
    kh_fail "no generate line"
echo "generate line: $(grep -o "uid 0 pid [0-9]* exe [^ ]* generated" "$LOG")"

kill -TERM "$KPID"
wait "$DAEMON_PID" || kh_fail "sandboxed keyholderd exited with $? on SIGTERM"
DAEMON_PID=
kh_ok "SIGTERM: clean exit"
kh_pass
