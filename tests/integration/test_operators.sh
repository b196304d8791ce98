#!/bin/bash
# Operators and challenge-response authentication: operator add/list/remove
# on a dev keyholder, requests signed with passphrase-protected P-256 and
# P-384 keys, and every refusal beside its success: unknown operator, wrong
# operator's signature, missing role, replayed, stale, nested, tampered
# and another uid's challenge, non-EC and wrong-curve keys, last admin.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
OPTEST=$(dirname "$KH_ITEST")/kh_optest
[ -x "$OPTEST" ] || kh_fail "kh_optest not built beside kh_itest"
NOBODY_UID=$(id -u nobody)
NOGROUP_GID=$(getent group nogroup | cut -d: -f3)

# Operator keys: passphrase-protected PEM files made by openssl genpkey.
mkkey() { # NAME CURVE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" \
        -aes-256-cbc -pass pass:"pw-$1" -out "$WORK/$1.pem" 2>/dev/null
    openssl pkey -in "$WORK/$1.pem" -passin pass:"pw-$1" -pubout \
        -out "$WORK/$1.pub"
    openssl pkey -in "$WORK/$1.pem" -passin pass:"pw-$1" \
        -out "$WORK/$1.plain.pem"
}
mkkey alice P-256
mkkey bob P-384
mkkey carol P-256
openssl genpkey -algorithm ed25519 -out "$WORK/ed.pem" 2>/dev/null
openssl pkey -in "$WORK/ed.pem" -pubout -out "$WORK/ed.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 \
    -out "$WORK/k1.pem" 2>/dev/null
openssl pkey -in "$WORK/k1.pem" -pubout -out "$WORK/k1.pub"
as() { # NAME COMMAND...: khadmin signed by operator NAME
    local n=$1
    shift
    "$KHADMIN" --as "$n" --key "$WORK/$n.pem" --pass "pass:pw-$n" "$@"
}

kh_start --challenge-ttl 3 --socket-group nogroup
"$KHADMIN" init --dev >/dev/null 2>&1

# Dev keyholder: local root acts as every operator without --as.
"$KHADMIN" operator add alice --role admin --pubkey "$WORK/alice.pub" \
    >/dev/null
"$KHADMIN" operator add bob --role admin --role custodian \
    --pubkey "$WORK/bob.pub" >/dev/null
kh_ok "dev keyholder: root adds operators without --as"

kh_expect_fail 1 "EC P-256 or P-384, not ED25519" \
    "$KHADMIN" operator add ed --role admin --pubkey "$WORK/ed.pub"
kh_expect_fail 1 "not curve secp256k1" \
    "$KHADMIN" operator add k1 --role admin --pubkey "$WORK/k1.pub"
kh_expect_fail 1 "already exists" \
    "$KHADMIN" operator add alice --role admin --pubkey "$WORK/carol.pub"
kh_expect_fail 2 "unknown role" \
    "$KHADMIN" operator add x --role boss --pubkey "$WORK/carol.pub"
kh_ok "non-EC, wrong-curve, duplicate and bad-role operators refused"

as alice operator add carol --role auditor --pubkey "$WORK/carol.pub" \
    >/dev/null || kh_fail "admin alice (P-256) cannot add an operator"
as bob operator list | grep -q "^carol  *auditor" ||
    kh_fail "bob (P-384) does not list carol"
as carol --json operator list | grep -q '"name":"bob","roles":\["admin","custodian"\]' ||
    kh_fail "operator list --json"
grep -q "operator alice (uid 0 pid [0-9]*) added operator 'carol'" "$LOG" ||
    kh_fail "log does not name the operator"
kh_ok "signed requests with P-256 and P-384 keys; list and --json"

kh_expect_fail 1 "may not add operators (needs role admin)" \
    as carol operator add dan --role admin --pubkey "$WORK/carol.pub"
kh_ok "missing role refused (DENIED)"
kh_expect_fail 1 "no operator named 'zed'.*AUTH_FAILED" \
    "$KHADMIN" --as zed --key "$WORK/alice.pem" --pass pass:pw-alice \
    operator list
kh_ok "unknown operator refused"
kh_expect_fail 1 "does not verify with the key of operator 'alice'" \
    "$KHADMIN" --as alice --key "$WORK/carol.pem" --pass pass:pw-carol \
    operator list
kh_ok "a signature by the wrong operator's key refused"
kh_expect_fail 1 "alice.pem: " \
    "$KHADMIN" --as alice --key "$WORK/alice.pem" --pass pass:wrong \
    operator list
KHADMIN_AS=alice KHADMIN_KEY="$WORK/alice.pem" KHADMIN_KEY_PASS=pass:pw-alice \
    "$KHADMIN" operator list >/dev/null || kh_fail "\$KHADMIN_AS/KEY/KEY_PASS"
kh_ok "wrong passphrase refused; \$KHADMIN_AS, \$KHADMIN_KEY, \$KHADMIN_KEY_PASS work"

"$OPTEST" replay "$SOCK" alice "$WORK/alice.plain.pem" >/dev/null ||
    kh_fail "replay"
kh_ok "the same envelope: first accepted, replay refused"
"$OPTEST" stale "$SOCK" alice "$WORK/alice.plain.pem" 5 >/dev/null ||
    kh_fail "stale"
grep -q "operator 'alice' refused: expired challenge" "$LOG" ||
    kh_fail "stale challenge not logged"
kh_ok "a challenge older than --challenge-ttl refused"
"$OPTEST" nested "$SOCK" alice "$WORK/alice.plain.pem" >/dev/null ||
    kh_fail "nested"
"$OPTEST" tamper "$SOCK" alice "$WORK/alice.plain.pem" >/dev/null ||
    kh_fail "tamper"
as alice operator list | grep -q "^bob " || kh_fail "tamper removed bob"
kh_ok "nested envelope and a signature over another request refused"
"$OPTEST" other-uid "$SOCK" alice "$WORK/alice.plain.pem" "$NOBODY_UID" \
    >/dev/null || kh_fail "other uid"
kh_ok "a challenge fetched by root is refused when nobody sends it"
"$OPTEST" flood "$SOCK" alice "$WORK/alice.plain.pem" "$NOBODY_UID" 3000 \
    >/dev/null || kh_fail "flood"
kh_ok "3000 challenges asked by nobody do not evict root's challenge"

kh_expect_fail 1 "needs an operator" setpriv --reuid="$NOBODY_UID" \
    --regid="$NOGROUP_GID" --clear-groups "$KHADMIN" operator list
kh_ok "non-root without --as has no operator role"

as alice operator remove carol >/dev/null || kh_fail "remove carol"
as alice operator list | grep -q "^carol " && kh_fail "carol still listed"
kh_expect_fail 1 "no operator named 'carol'" as alice operator remove carol
kh_expect_fail 1 "no operator named 'carol'" as carol operator list
as alice operator remove bob >/dev/null || kh_fail "remove bob"
kh_expect_fail 1 "'alice' is the last admin" as alice operator remove alice
kh_expect_fail 1 "'alice' is the last admin" "$KHADMIN" operator remove alice
kh_ok "remove; a removed operator cannot authenticate; the last admin stays"

kh_stop
kh_start
as alice operator list | grep -q "^alice  *admin" ||
    kh_fail "operators lost on restart"
kh_ok "operators survive a restart"
kh_stop
kh_pass
