#!/bin/bash
# Durability: keys acknowledged before a SIGKILL exist after restart and
# sign; a tampered record is refused with a clear error, never used.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
kh_start
"$KHADMIN" init --dev >/dev/null 2>&1
for t in rsa:2048 ec:P-256 ec:secp256k1 ed25519; do
    n=${t//:/-}
    "$KHADMIN" key generate "$n" --type "$t" >/dev/null
    "$KHADMIN" key pub "$n" >"$WORK/$n.pub"
done
# Load one key into the cache, then kill without any chance to clean up.
echo "before the crash" >"$WORK/msg"
"$KHADMIN" key sign ec-P-256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
kh_kill9
kh_ok "keyholderd killed with SIGKILL after generating 4 keys"

kh_start
"$KHADMIN" status | grep -q "state: *unsealed" || kh_fail "dev keyholder did not auto-unseal"
[ "$("$KHADMIN" key list --json | grep -o '"name"' | wc -l)" -eq 4 ] || kh_fail "keys missing"
for t in rsa:2048 ec:P-256 ec:secp256k1 ed25519; do
    n=${t//:/-}
    "$KHADMIN" key pub "$n" | cmp -s - "$WORK/$n.pub" || kh_fail "$n public key changed"
    d=sha256
    [ "$t" = ed25519 ] && d=none
    if [ $d = none ]; then
        "$KHADMIN" key sign "$n" --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
    else
        "$KHADMIN" key sign "$n" --in "$WORK/msg" --digest $d --out "$WORK/sig" 2>/dev/null
    fi
    kh_verify "$WORK/$n.pub" "$WORK/msg" "$WORK/sig" $d || kh_fail "$n after restart"
done
kh_ok "after restart every key is there, unchanged, and signs"

# Rapid kill/restart cycles while generating: acknowledged keys survive.
for i in 1 2 3; do
    "$KHADMIN" key generate "cycle$i" --type ec:P-256 >/dev/null
    ( "$KHADMIN" key generate "inflight$i" --type rsa:2048 >/dev/null 2>&1 || true ) &
    sleep 0.05
    kh_kill9
    wait
    kh_start
    "$KHADMIN" key sign "cycle$i" --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
        kh_fail "cycle$i lost after SIGKILL"
done
kh_ok "3 SIGKILLs during key generation: every acknowledged key survives"

# Tamper with a stored record on disk: refused, reported, others unaffected.
kh_stop
python3 - "$STATE/data.mdb" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
# In a record the name is a length-prefixed string (the LMDB key is not):
# flip a byte of the metadata that follows it (the creation time), in every
# copy LMDB keeps, so the live one is surely hit.
marker = b'\x00\x00\x00\x0cec-secp256k1'
hits, i = 0, data.find(marker)
while i >= 0:
    data[i + len(marker) + 6] ^= 0x01
    hits += 1
    i = data.find(marker, i + 1)
assert hits > 0, 'record not found'
open(path, 'wb').write(bytes(data))
PY
kh_start
kh_expect_fail 1 "failed its integrity check" "$KHADMIN" key sign ec-secp256k1 --in "$WORK/msg" --out "$WORK/sig"
grep -q "failed its integrity check: refused" "$LOG" || kh_fail "tampering not logged"
"$KHADMIN" key sign ec-P-256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null || kh_fail "other keys broken"
"$KHADMIN" key list >"$WORK/list" || kh_fail "key list fails because of one bad record"
grep -q "^ec-P-256 " "$WORK/list" || kh_fail "good keys missing from the list"
grep -q "^ec-secp256k1 " "$WORK/list" && kh_fail "the tampered key is listed"
kh_ok "a tampered record is refused with a clear error; other keys still sign and list"
kh_stop
kh_pass
