#!/bin/bash
# 16 clients signing at once with several key types all get valid
# signatures (verified with OpenSSL's default provider).
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
kh_start
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate c-p256 --type ec:P-256 >/dev/null
"$KHADMIN" key generate c-ed --type ed25519 >/dev/null
"$KHADMIN" key generate c-k1 --type ec:secp256k1 >/dev/null
"$KHADMIN" key generate c-rsa --type rsa:2048 >/dev/null
"$KH_ITEST" concurrent "$SOCK" 16 25 c-p256 c-ed c-k1 c-rsa
kh_ok "16 concurrent clients x 25 rounds x 4 key types: all valid"

# SIGTERM while 8 clients are signing: a clean exit (status 0; in the
# ASan build also no leak of any connection thread's state).
"$KH_ITEST" concurrent "$SOCK" 8 100000 c-p256 c-ed >/dev/null 2>&1 &
LOAD=$!
sleep 0.5
kh_stop
wait $LOAD 2>/dev/null || true
kh_ok "SIGTERM under load: keyholderd closes every connection and exits 0"
kh_start
"$KHADMIN" key sign c-p256 --in "$LOG" --out "$WORK/sig" 2>/dev/null ||
    kh_fail "no signing after the restart"
kh_stop
kh_pass
