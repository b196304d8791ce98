#!/bin/bash
# Garbage, oversized, truncated and trailing-byte frames from raw sockets are
# refused with an error reply or a closed connection; the daemon keeps
# serving everyone else and still signs.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
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

kh_start --max-clients 4
"$KH_ITEST" limit "$SOCK" 4
grep -q "connection limit (4) reached" "$LOG" || kh_fail "limit not logged"
kh_ok "connection limit: the extra client gets BUSY, the log says so"
kh_stop
kh_pass
