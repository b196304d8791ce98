#!/bin/bash
# Load: 64 concurrent clients (one connection each; the daemon's defaults,
# 256 connections and 128 per uid, fit them), 100,000 signatures in all
# over P-256, Ed25519, secp256k1, P-384 and RSA-2048 (weights 8:5:3:3:1),
# every signature
# verified with the key's public key. kh_load prints per-client p50/p99 and
# fails if any client did not finish its quota, if the worst client's p99
# is over 10x the median client's, or if the daemon's VmRSS grew more than
# the slack after the warm-up tenth of the run.
#
# ASan+UBSan build: the same 100,000 signatures (measured: about 30 s on
# 2 busy vCPUs), with ASan's quarantine of freed memory cut to 4 MiB and
# its per-thread quarantines (1 MiB each by default, so 64 MiB for 64
# connection threads, filling slowly) cut to 16 KiB, so that RSS measures the
# daemon rather than the quarantines filling up. ASan's per-thread allocator
# caches still fill over the whole run (measured: +22 to +34 MB after the
# warm-up tenth, ending near 80 MB, where the normal build grows by about
# 150 kB), hence a slack of 64 MiB there; leaks there are LeakSanitizer's
# job at exit, and the normal build's 4 MiB is the real bound.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
KH_LOAD=$(dirname "$KH_ITEST")/kh_load
CLIENTS=64
TOTAL=100000
SLACK_KB=4096
if kh_is_asan "$KEYHOLDERD"; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=16"
    SLACK_KB=65536
    echo "ASan build: $TOTAL signatures, RSS slack $SLACK_KB kB (quarantine 4 MiB)"
fi
kh_start
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate l-p256 --type ec:P-256 >/dev/null
"$KHADMIN" key generate l-ed --type ed25519 >/dev/null
"$KHADMIN" key generate l-k1 --type ec:secp256k1 >/dev/null
"$KHADMIN" key generate l-p384 --type ec:P-384 >/dev/null
"$KHADMIN" key generate l-rsa --type rsa:2048 >/dev/null

"$KH_LOAD" "$SOCK" "$DAEMON_PID" "$CLIENTS" "$TOTAL" 10 "$SLACK_KB" \
    l-p256:8 l-ed:5 l-k1:3 l-p384:3 l-rsa:1 | tee "$WORK/load.out" ||
    kh_fail "load run failed (see above)"
grep -q "^load: $CLIENTS clients, $TOTAL signatures .*: $TOTAL valid, 0 failed" \
    "$WORK/load.out" || kh_fail "load summary missing"
[ "$(grep -c '^client ' "$WORK/load.out")" -eq "$CLIENTS" ] ||
    kh_fail "not every client reported"
kh_ok "$CLIENTS clients, $TOTAL signatures, all valid, none starved, RSS flat"

# A refusal beside the success: sealing the daemon in the middle of a run
# makes every signature fail with SEALED; the driver must say so and fail.
"$KH_LOAD" "$SOCK" "$DAEMON_PID" 8 200000 10 "$SLACK_KB" l-p256:1 l-ed:1 \
    >"$WORK/sealed.out" 2>&1 &
LOAD=$!
sleep 1
"$KHADMIN" seal >/dev/null 2>&1 || kh_fail "khadmin seal failed"
rc=0
wait $LOAD || rc=$?
[ $rc -eq 1 ] || kh_fail "kh_load exited $rc after the seal, expected 1"
grep -q "FAIL: client .*sealed" "$WORK/sealed.out" ||
    kh_fail "no SEALED failure reported: $(tail -3 "$WORK/sealed.out")"
kh_ok "sealed mid-run: the driver reports the failed signatures and fails"
kh_stop
kh_pass
