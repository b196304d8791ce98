#!/bin/bash
# Hostile clients. Part 1: garbage, oversized, truncated and trailing-byte
# frames from raw sockets are refused with an error reply or a closed
# connection; the daemon keeps serving everyone else and still signs.
# Part 2: the connection limits, in all and per uid. Part 3: a crowd at
# once (idle, 1 byte/s, 1,000 connections, disconnects mid-request, huge
# and dribbled length headers) while a well-behaved client keeps signing
# with bounded latency; the daemon's memory stays bounded and every limit
# hit has its log line.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
KH_HOSTILE=$(dirname "$KH_ITEST")/kh_hostile
kh_start --io-timeout-ms 2000
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate h-p256 --type ec:P-256 >/dev/null
"$KH_ITEST" hostile "$SOCK"
kh_ok "every hostile frame refused; daemon kept serving"
grep -q "frame length of 2147483647 bytes" "$LOG" || kh_fail "oversized frame not logged"
echo x >"$WORK/msg"
"$KHADMIN" key sign h-p256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
kh_ok "signing still works afterwards"
kh_stop

# --- Part 2: connection limits ------------------------------------------
kh_start --max-clients 4 --max-clients-per-uid 4
"$KH_ITEST" limit "$SOCK" 4
grep -q "connection limit (4, --max-clients) reached" "$LOG" || kh_fail "limit not logged"
kh_ok "connection limit: the extra client gets BUSY, the log says so"
kh_stop

kh_start --max-clients 8 --max-clients-per-uid 3
"$KH_ITEST" limit "$SOCK" 3
grep -q "per-user connection limit (3, --max-clients-per-uid) reached by uid $(id -u)" "$LOG" ||
    kh_fail "per-uid limit not logged"
kh_ok "per-uid limit: a uid's 4th connection gets BUSY with 5 slots free"
kh_stop

kh_expect_fail 2 "bad --max-clients-per-uid" "$KEYHOLDERD" --max-clients-per-uid 0
kh_expect_fail 2 "bad --idle-timeout-ms" "$KEYHOLDERD" --idle-timeout-ms -5
kh_ok "bad limit values refused"

# --- Part 3: a hostile crowd while a client keeps signing ---------------
# The flood comes from another uid (nobody), so the per-uid limit leaves
# root's well-behaved client room for fresh connections.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
    kh_skip_part "the 1,000-connection flood needs root and setpriv (another uid)"
    kh_pass
    exit 0
fi

# 512 connections, 128 per uid, I/O timeout 2 s, idle 10 s (longer than
# the flood takes to open its connections on a loaded ASan run, so that
# its count of accepted connections is not muddled by idle closes). The
# flood (nobody) and the big headers (daemon) come from two other uids
# than the well-behaved client (root), and so do the mid-request
# disconnects (bin): a storm of short connections has up to a per-uid
# share of them alive until the daemon's threads catch up, which would
# turn away root's fresh connections if they shared root's share. The
# total leaves room for all: each attacker meets its own uid's limit.
as_daemon() { setpriv --reuid="$(id -u daemon)" --regid="$NOGROUP_GID" --clear-groups "$@"; }
as_bin() { setpriv --reuid="$(id -u bin)" --regid="$NOGROUP_GID" --clear-groups "$@"; }
kh_start --io-timeout-ms 2000 --idle-timeout-ms 10000 --max-clients 512 \
    --max-clients-per-uid 128 --socket-group nogroup
# VmHWM is the kernel's own peak of VmRSS: nothing between samples is missed.
vm() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$DAEMON_PID/status"; }
HWM0=$(vm VmHWM)

"$KH_HOSTILE" victim "$SOCK" h-p256 14000 2000 >"$WORK/victim" 2>&1 &
VICTIM=$!
sleep 0.5
"$KH_HOSTILE" idle "$SOCK" 10 16000 >"$WORK/idle" 2>&1 &
IDLE=$!
"$KH_HOSTILE" slow "$SOCK" 3 >"$WORK/slow" 2>&1 &
SLOW=$!
as_nobody "$KH_HOSTILE" flood "$SOCK" 1000 6000 128 >"$WORK/flood" 2>&1 &
FLOOD=$!
as_bin "$KH_HOSTILE" midreq "$SOCK" 200 h-p256 >"$WORK/midreq" 2>&1 &
MIDREQ=$!
as_daemon "$KH_HOSTILE" bighdr "$SOCK" 80 >"$WORK/bighdr" 2>&1 &
BIGHDR=$!

status=0
for job in IDLE SLOW FLOOD MIDREQ BIGHDR VICTIM; do
    rc=0
    wait "${!job}" || rc=$?
    out="$WORK/$(echo "$job" | tr 'A-Z' 'a-z')"
    cat "$out"
    [ $rc -eq 0 ] || { echo "FAIL: $job exited $rc" >&2; status=1; }
done
[ $status -eq 0 ] || kh_fail "a hostile client or the victim failed (above)"
kh_ok "idle, 1 byte/s, 1,000-connection flood, mid-request disconnects, big headers: each cut off"
kh_ok "meanwhile the well-behaved client signed with bounded latency"

HWM1=$(vm VmHWM)
echo "daemon memory: VmHWM $HWM0 kB before the crowd, $HWM1 kB after; VmRSS now $(vm VmRSS) kB"
LIMIT_KB=$((HWM0 + 65536))
if kh_is_asan "$KEYHOLDERD"; then
    LIMIT_KB=$((HWM0 + 262144)) # ASan: shadow memory, quarantine, fake stacks
fi
[ "$HWM1" -le "$LIMIT_KB" ] ||
    kh_fail "daemon memory peaked at $HWM1 kB (limit $LIMIT_KB kB)"
kh_ok "daemon memory bounded: peak $HWM1 kB <= $LIMIT_KB kB"

for line in "idle for 10000 ms (the idle timeout); closing" \
    "timed out in the middle of a frame's length prefix (I/O timeout 2000 ms)" \
    "per-user connection limit (128, --max-clients-per-uid) reached by uid $NOBODY_UID" \
    "frame length of 2147483647 bytes" \
    "large-frame buffers at their limit" \
    "timed out in the middle of a 262144-byte frame (I/O timeout 2000 ms)" \
    "connection I/O failed in the middle of a"; do
    grep -qF "$line" "$LOG" || kh_fail "no log line: $line"
done
kh_ok "each limit hit is logged"
"$KHADMIN" key sign h-p256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
    kh_fail "no signature after the crowd left"
kh_ok "the daemon signs after the crowd left"
kh_stop
kh_pass
