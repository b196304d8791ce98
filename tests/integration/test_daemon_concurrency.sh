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
kh_stop
kh_pass
