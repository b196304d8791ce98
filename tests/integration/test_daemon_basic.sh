#!/bin/bash
# keyholderd end to end: init, generate every key type with khadmin, sign
# through khadmin and through the client library, verify every signature
# with the openssl CLI against `khadmin key pub`.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
kh_start

"$KHADMIN" status | grep -q "state: *uninitialized" || kh_fail "not uninitialized"
kh_ok "a new keyholder is uninitialized"
kh_expect_fail 1 "not initialized" "$KHADMIN" key generate early --type ec:P-256
kh_ok "key generation before init is refused"

"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" status | grep -q "state: *unsealed" || kh_fail "not unsealed"
"$KHADMIN" status | grep -q "INSECURE" || kh_fail "dev mode not flagged"
"$KHADMIN" status --json | grep -q '"insecure_dev":true' || kh_fail "json"
grep -q "INSECURE dev keyholder" "$LOG" || kh_fail "log lacks the warning"
kh_ok "init --dev unseals and is marked insecure in status and log"
kh_expect_fail 1 "already initialized" "$KHADMIN" init --dev
kh_ok "a second init is refused"

head -c 5000 /dev/urandom >"$WORK/msg"
declare -A TYPES=(
    [rsa2048]=rsa:2048 [rsa3072]=rsa:3072 [rsa4096]=rsa:4096
    [p256]=ec:P-256 [p384]=ec:P-384 [k1]=ec:secp256k1 [ed]=ed25519
)
for name in "${!TYPES[@]}"; do
    "$KHADMIN" key generate "$name" --type "${TYPES[$name]}" >/dev/null
    "$KHADMIN" key pub "$name" >"$WORK/$name.pub"
    openssl pkey -pubin -in "$WORK/$name.pub" -noout ||
        kh_fail "$name: public key does not parse"
done
kh_ok "generated one key of every type; every public key parses"

[ "$("$KHADMIN" key list --json | grep -o '"name"' | wc -l)" -eq 7 ] ||
    kh_fail "key list --json does not show 7 keys"
"$KHADMIN" key list | grep -q "^rsa4096 .*rsa:4096" || kh_fail "key list text"
"$KHADMIN" key show k1 | grep -q "type: *ec:secp256k1" || kh_fail "key show"
"$KHADMIN" key show --json p256 | grep -q '"uri":"keyholder:p256"' ||
    kh_fail "key show --json"
kh_ok "key list, list --json, show, show --json"

# khadmin key sign: message in, the daemon hashes it.
for name in rsa2048 rsa3072 rsa4096 p256 p384 k1; do
    for d in sha256 sha384 sha512; do
        "$KHADMIN" key sign "$name" --in "$WORK/msg" --digest $d \
            --out "$WORK/sig" 2>/dev/null
        kh_verify "$WORK/$name.pub" "$WORK/msg" "$WORK/sig" $d ||
            kh_fail "$name/$d: openssl rejects the signature"
    done
done
for name in rsa2048 rsa4096; do
    "$KHADMIN" key sign "$name" --in "$WORK/msg" --pss --digest sha384 \
        --out "$WORK/sig" 2>/dev/null
    kh_verify "$WORK/$name.pub" "$WORK/msg" "$WORK/sig" sha384 pss ||
        kh_fail "$name PSS: openssl rejects the signature"
done
"$KHADMIN" key sign ed --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
kh_verify "$WORK/ed.pub" "$WORK/msg" "$WORK/sig" none ||
    kh_fail "ed25519: openssl rejects the signature"
kh_ok "khadmin key sign: every type and digest (and PSS) verifies with openssl"

# A message larger than one frame is hashed by khadmin and sent as a digest.
head -c 600000 /dev/urandom >"$WORK/big"
"$KHADMIN" key sign p256 --in "$WORK/big" --out "$WORK/sig" 2>/dev/null
kh_verify "$WORK/p256.pub" "$WORK/big" "$WORK/sig" sha256 ||
    kh_fail "large message signature does not verify"
kh_expect_fail 1 "limited to" "$KHADMIN" key sign ed --in "$WORK/big" --out "$WORK/sig"
kh_ok "a 600 kB message signs by digest; Ed25519 refuses it clearly"

# The client library directly, message and digest modes.
for name in rsa2048 p256 p384 k1; do
    "$KH_ITEST" sign "$SOCK" "$name" "$WORK/msg" "$WORK/sig" sha256
    kh_verify "$WORK/$name.pub" "$WORK/msg" "$WORK/sig" sha256 ||
        kh_fail "$name client message mode"
    "$KH_ITEST" sign-digest "$SOCK" "$name" "$WORK/msg" "$WORK/sig" sha512
    kh_verify "$WORK/$name.pub" "$WORK/msg" "$WORK/sig" sha512 ||
        kh_fail "$name client digest mode"
done
"$KH_ITEST" sign-digest "$SOCK" rsa3072 "$WORK/msg" "$WORK/sig" sha256 pss
kh_verify "$WORK/rsa3072.pub" "$WORK/msg" "$WORK/sig" sha256 pss ||
    kh_fail "rsa3072 client PSS digest mode"
"$KH_ITEST" sign "$SOCK" ed "$WORK/msg" "$WORK/sig" none
kh_verify "$WORK/ed.pub" "$WORK/msg" "$WORK/sig" none || kh_fail "ed client"
kh_ok "client library: message and digest modes verify with openssl"

# A tampered signature must fail, or the checks above prove nothing.
"$KHADMIN" key sign p256 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
printf 'x' >>"$WORK/msg"
if kh_verify "$WORK/p256.pub" "$WORK/msg" "$WORK/sig" sha256 2>/dev/null; then
    kh_fail "a signature over another message verified"
fi
kh_ok "verification rejects a signature over a different message"

# Refusals with their reasons and exit codes.
kh_expect_fail 1 "no key named 'nosuch'" "$KHADMIN" key pub nosuch
kh_expect_fail 1 "already exists" "$KHADMIN" key generate p256 --type ec:P-256
kh_expect_fail 1 "no version 9" "$KHADMIN" key show p256 --version 9
kh_expect_fail 2 "unknown key type" "$KHADMIN" key generate x --type rsa:1024
kh_expect_fail 2 "invalid key name" "$KHADMIN" key generate ../x --type ed25519
kh_expect_fail 2 "missing key NAME" "$KHADMIN" key pub
kh_expect_fail 2 "needs an RSA key" "$KHADMIN" key sign p256 --pss --in "$WORK/msg" --out "$WORK/s"
kh_expect_fail 2 "unknown digest" "$KHADMIN" key sign p256 --digest md5 --in "$WORK/msg" --out "$WORK/s"
kh_expect_fail 2 "unknown command" "$KHADMIN" frobnicate
kh_ok "refusals: exit 1 with the daemon's reason, exit 2 for usage"

kh_stop
"$KHADMIN" status >/dev/null 2>&1 && kh_fail "status works with the daemon down"
kh_expect_fail 1 "cannot connect to keyholderd at $SOCK" "$KHADMIN" status
kh_ok "daemon down: a clear error naming the socket"
kh_pass
