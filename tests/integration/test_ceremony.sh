#!/bin/bash
# The key ceremony end to end: 3 custodians and 2 admins with
# passphrase-protected P-256/P-384 keys (openssl genpkey), 2-of-3; share
# files and the ceremony record; restart -> sealed; unseal with 2 shares;
# every refusal beside its success (a custodian's key cannot open another's
# share; wrong, duplicate, foreign and other-custodian shares; expiry;
# reset; roles); seal stops a running signing loop within one request;
# unseal again.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
OPTEST=$(dirname "$KH_ITEST")/kh_optest
[ -x "$OPTEST" ] || kh_fail "kh_optest not built beside kh_itest"

mkkey() { # NAME CURVE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" \
        -aes-256-cbc -pass pass:"pw-$1" -out "$WORK/$1.pem" 2>/dev/null
    openssl pkey -in "$WORK/$1.pem" -passin pass:"pw-$1" -pubout \
        -out "$WORK/$1.pub"
    openssl pkey -in "$WORK/$1.pem" -passin pass:"pw-$1" \
        -out "$WORK/$1.plain.pem"
}
mkkey carol P-256
mkkey dave P-384
mkkey erin P-256
mkkey alice P-384
mkkey bob P-256
openssl genpkey -algorithm ed25519 -out "$WORK/ed.pem" 2>/dev/null
openssl pkey -in "$WORK/ed.pem" -pubout -out "$WORK/ed.pub"
as() { # NAME COMMAND...: khadmin signed by operator NAME
    local n=$1
    shift
    "$KHADMIN" --as "$n" --key "$WORK/$n.pem" --pass "pass:pw-$n" "$@"
}
unseal() { # NAME [SHAREFILE]
    "$KHADMIN" unseal --share "${2:-$WORK/cer/share-$1.json}" \
        --key "$WORK/$1.pem" --pass "pass:pw-$1"
}
CUST=(--custodian carol="$WORK/carol.pub" --custodian dave="$WORK/dave.pub"
      --custodian erin="$WORK/erin.pub")
ADM=(--admin alice="$WORK/alice.pub" --admin bob="$WORK/bob.pub")

kh_start --socket-group nogroup --unseal-timeout 4
mkdir -m 0777 "$WORK/nob"
chmod 0644 "$WORK"/*.pub
kh_expect_fail 1 "only root or keyholderd's user" as_nobody \
    "$KHADMIN" init --threshold 2 "${CUST[@]}" "${ADM[@]}" --out "$WORK/nob/x"
kh_expect_fail 1 "threshold 4 is not between 1 and the 3" \
    "$KHADMIN" init --threshold 4 "${CUST[@]}" "${ADM[@]}" --out "$WORK/x"
kh_expect_fail 1 "needs at least one admin" \
    "$KHADMIN" init --threshold 2 "${CUST[@]}" --out "$WORK/x"
kh_expect_fail 1 "operator 'ed': operator keys must be EC" \
    "$KHADMIN" init --threshold 1 --custodian ed="$WORK/ed.pub" "${ADM[@]}" \
    --out "$WORK/x"
"$KHADMIN" status | grep -q "state: *uninitialized" ||
    kh_fail "a refused ceremony changed the state"
kh_ok "ceremony refused for non-root, M > N, no admin, an Ed25519 key"

"$KHADMIN" init --threshold 2 "${CUST[@]}" "${ADM[@]}" \
    --auditor carol="$WORK/carol.pub" --witness "Wanda Witness" \
    --location "Vault 2, Building A" --note "first ceremony" \
    --out "$WORK/cer" >"$WORK/init.out" || kh_fail "ceremony init failed"
for c in carol dave erin; do
    [ "$(stat -c %a "$WORK/cer/share-$c.json")" = 600 ] ||
        kh_fail "share-$c.json is not 0600"
    grep -q "\"custodian\": \"$c\"" "$WORK/cer/share-$c.json" ||
        kh_fail "share-$c.json does not name its custodian"
done
grep -q '"threshold": 2' "$WORK/cer/ceremony.json" || kh_fail "record M"
grep -q '"location": "Vault 2, Building A"' "$WORK/cer/ceremony.json" ||
    kh_fail "record location"
SELF=$(sha256sum "$KEYHOLDERD" | cut -d' ' -f1)
grep -q "\"sha256\": \"$SELF\"" "$WORK/cer/ceremony.json" ||
    kh_fail "record lacks the keyholderd binary's SHA-256"
# The audit key made at init is in the record (and in status).
AUDIT_B64=$("$KHADMIN" audit pubkey | openssl pkey -pubin -outform DER | base64 -w0)
[ -n "$AUDIT_B64" ] && grep -qF "\"audit_public_key\": \"$AUDIT_B64\"" "$WORK/cer/ceremony.json" ||
    kh_fail "record lacks the audit public key"
"$KHADMIN" status | grep -q "state: *unsealed" || kh_fail "not unsealed"
"$KHADMIN" status | grep -q "mode: *production" || kh_fail "not production"
ID=$(sed -n 's/.*"ceremony_id": "\([0-9a-f]*\)".*/\1/p' "$WORK/cer/ceremony.json")
"$KHADMIN" status | grep -q "ceremony: *$ID (threshold 2)" ||
    kh_fail "status lacks the ceremony"
kh_ok "2-of-3 ceremony: share files (0600), record with the binary's hash, unsealed"

REC="$WORK/cer/ceremony.json"
kh_expect_fail 1 "signature is missing" "$KHADMIN" ceremony verify --record "$REC"
for n in carol dave erin alice bob; do
    "$KHADMIN" ceremony sign --record "$REC" --as $n --key "$WORK/$n.pem" \
        --pass "pass:pw-$n" >/dev/null || kh_fail "$n cannot sign the record"
done
"$KHADMIN" ceremony verify --record "$REC" >"$WORK/verify.out" 2>&1 ||
    kh_fail "signed record does not verify: $(cat "$WORK/verify.out")"
grep -q "not compared" "$WORK/verify.out" &&
    kh_fail "verify did not compare with the running keyholder"
kh_ok "every participant signs ceremony.json; verify passes, online against keyholderd"
# One changed byte anywhere: the location, a hex digit, a signature byte.
for edit in 's/Vault 2/Vault 3/' "s/\"threshold\": 2/\"threshold\": 1/" \
    '0,/"signature": "\(.\)/s//"signature": "A\1/'; do
    sed "$edit" "$REC" >"$WORK/bad.json"
    cmp -s "$REC" "$WORK/bad.json" && kh_fail "edit '$edit' changed nothing"
    kh_expect_fail 1 "" "$KHADMIN" ceremony verify --record "$WORK/bad.json"
done
kh_ok "verify fails after a byte of the record changes (3 places)"

# A record signed by everyone but naming another audit key: the signatures
# verify (offline passes), the comparison with the keyholder does not.
grep -q '"audit_public_key": "[A-Za-z0-9+/=]\{40,\}"' "$REC" ||
    kh_fail "the record names no audit key"
other=$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
    openssl pkey -pubout -outform DER | base64 -w0)
sed "s|\"audit_public_key\": \"[^\"]*\"|\"audit_public_key\": \"$other\"|" "$REC" >"$WORK/other-audit.json"
cmp -s "$REC" "$WORK/other-audit.json" && kh_fail "the audit key edit changed nothing"
for n in carol dave erin alice bob; do
    "$KHADMIN" ceremony sign --record "$WORK/other-audit.json" --as $n \
        --key "$WORK/$n.pem" --pass "pass:pw-$n" >/dev/null ||
        kh_fail "$n cannot sign the edited record"
done
"$KHADMIN" ceremony verify --record "$WORK/other-audit.json" --offline >/dev/null ||
    kh_fail "the re-signed record does not verify offline"
kh_expect_fail 1 "audit key (khadmin audit pubkey) is not the one the record names" \
    "$KHADMIN" ceremony verify --record "$WORK/other-audit.json"
kh_ok "verify compares the record's audit key with the keyholder's"

kh_expect_fail 1 "already initialized" \
    "$KHADMIN" init --threshold 1 "${CUST[@]}" "${ADM[@]}" --out "$WORK/y"
kh_expect_fail 1 "not a dev keyholder" "$KHADMIN" unseal --dev
as alice operator list | grep -q "^carol  *custodian,auditor" ||
    kh_fail "ceremony operators missing"
kh_ok "second init and dev unseal refused; operators stored with their roles"

for i in 1 2 3 4 5; do
    "$KHADMIN" key generate "k$i" --type ec:P-256 >/dev/null
done
"$KHADMIN" key pub k1 >"$WORK/k1.pub"
head -c 3000 /dev/urandom >"$WORK/msg"
kh_stop
kh_start --socket-group nogroup --unseal-timeout 4
"$KHADMIN" status | grep -q "state: *sealed" || kh_fail "not sealed at start"
"$KHADMIN" status | grep -q "unseal progress: 0 of 2" || kh_fail "progress"
"$KH_ITEST" expect-error "$SOCK" k1 SEALED || kh_fail "signs while sealed"
kh_ok "restart: sealed, keys refused, status shows 0 of 2"

kh_expect_fail 1 "share 1 of custodian 'carol' does not open with this key" \
    unseal erin "$WORK/cer/share-carol.json"
kh_ok "a custodian's key cannot open another custodian's share"
"$OPTEST" share "$SOCK" erin "$WORK/erin.plain.pem" \
    "$WORK/cer/share-carol.json" "$WORK/carol.plain.pem" asis BAD_SHARE \
    >"$WORK/o" || kh_fail "other-custodian share"
grep -q "share 1 belongs to custodian 'carol', not 'erin'" "$WORK/o" ||
    kh_fail "other-custodian reason: $(cat "$WORK/o")"
kh_ok "carol's share submitted by erin refused (BAD_SHARE)"
"$OPTEST" share "$SOCK" carol "$WORK/carol.plain.pem" \
    "$WORK/cer/share-carol.json" "$WORK/carol.plain.pem" flip BAD_SHARE \
    >"$WORK/o" || kh_fail "wrong share"
grep -q "does not match its commitment" "$WORK/o" || kh_fail "wrong reason"
kh_ok "a wrong share (one bit changed) refused by its commitment"
"$OPTEST" share "$SOCK" bob "$WORK/bob.plain.pem" \
    "$WORK/cer/share-carol.json" "$WORK/carol.plain.pem" asis DENIED \
    >/dev/null || kh_fail "admin submitting a share"
kh_ok "an operator without the custodian role cannot submit a share"

"$OPTEST" share "$SOCK" carol "$WORK/carol.plain.pem" \
    "$WORK/cer/share-carol.json" "$WORK/carol.plain.pem" replay ok \
    >"$WORK/o" || kh_fail "replayed share: $(cat "$WORK/o")"
grep -q "replayed share refused: share 1 does not open" "$WORK/o" ||
    kh_fail "replayed share reason: $(cat "$WORK/o")"
as carol unseal --reset >/dev/null || kh_fail "reset after replay"
kh_ok "a replayed share box (new envelope, same box) refused (BAD_SHARE)"
unseal carol | grep -q "share 1 accepted: 1 of 2" || kh_fail "carol's share"
"$KHADMIN" status | grep -q "unseal progress: 1 of 2 (carol)" ||
    kh_fail "status does not show carol's submission"
kh_expect_fail 1 "share 1 was already submitted" unseal carol
kh_ok "1 of 2 shown with who; a duplicate share refused"
sleep 7
# Wiped by the daemon's own timer, before anyone asks.
grep -q "partial unseal expired after 4 s" "$LOG" ||
    kh_fail "partial unseal not wiped on time"
"$KHADMIN" status | grep -q "unseal progress: 0 of 2" ||
    kh_fail "partial unseal did not expire"
unseal dave | grep -q "1 of 2" || kh_fail "after expiry dave is 1 of 2"
kh_ok "a partial unseal expires after --unseal-timeout"
kh_expect_fail 1 "needs an operator" "$KHADMIN" unseal --reset
as erin unseal --reset >/dev/null || kh_fail "custodian reset"
"$KHADMIN" status | grep -q "unseal progress: 0 of 2" || kh_fail "reset"
kh_ok "unseal --reset by a custodian (plain root refused)"

unseal carol >/dev/null || kh_fail "carol"
unseal erin | grep -q "2 of 2; unsealed" || kh_fail "erin did not unseal"
"$KHADMIN" status | grep -q "state: *unsealed" || kh_fail "not unsealed"
"$KHADMIN" key sign k1 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
kh_verify "$WORK/k1.pub" "$WORK/msg" "$WORK/sig" sha256 ||
    kh_fail "k1 signature does not verify after unseal"
grep -q "unsealed by 2 custodian share(s); the shares are wiped" "$LOG" ||
    kh_fail "unseal log"
kh_ok "2 shares unseal; keys made before the restart sign and verify"
kh_expect_fail 1 "already unsealed" unseal dave
kh_ok "a share after unsealing is refused"

# Seal during a running signing loop: no signature after the seal returns
# beyond the one request already in flight.
(
    while "$KHADMIN" key sign k2 --in "$WORK/msg" --out /dev/null \
        2>/dev/null; do
        echo ok
    done
    echo stopped
) >"$WORK/loop" &
LOOP=$!
for _ in $(seq 1 100); do
    [ "$(grep -c ok "$WORK/loop")" -ge 5 ] && break
    sleep 0.1
done
kh_expect_fail 1 "only root may seal, or an operator with the admin" as_nobody "$KHADMIN" seal
as dave seal >/dev/null || kh_fail "custodian dave cannot seal"
AT_SEAL=$(grep -c ok "$WORK/loop")
wait $LOOP
AFTER=$(grep -c ok "$WORK/loop")
grep -q stopped "$WORK/loop" || kh_fail "signing loop did not stop"
[ "$AFTER" -le $((AT_SEAL + 1)) ] ||
    kh_fail "$((AFTER - AT_SEAL)) signatures after the seal returned"
grep -q "sealed by operator dave" "$LOG" || kh_fail "seal log lacks dave"
kh_ok "custodian seal stops a signing loop ($AT_SEAL before, $((AFTER - AT_SEAL)) in flight); nobody cannot seal"

unseal dave >/dev/null && unseal erin >/dev/null || kh_fail "unseal again"
"$KHADMIN" key sign k3 --in "$WORK/msg" --out /dev/null 2>/dev/null ||
    kh_fail "k3 does not sign after unsealing again"
as bob seal >/dev/null || kh_fail "admin bob cannot seal"
"$KH_ITEST" expect-error "$SOCK" k3 SEALED || kh_fail "signs after seal"
kh_ok "unseal again with other custodians; an admin seals too"

# A foreign share: a second keyholder's ceremony with the same custodians.
kh_stop
MAIN_STATE=$STATE
STATE="$WORK/state2"
kh_start
"$KHADMIN" init --threshold 2 "${CUST[@]}" "${ADM[@]}" --out "$WORK/out2" \
    >/dev/null || kh_fail "second ceremony"
"$KHADMIN" seal >/dev/null
kh_expect_fail 1 "share of ceremony .*; this keyholder's ceremony is" \
    unseal carol "$WORK/cer/share-carol.json"
unseal carol "$WORK/out2/share-carol.json" >/dev/null ||
    kh_fail "own share refused on the second keyholder"
kh_ok "a share of another ceremony is refused (BAD_SHARE)"
kh_stop
STATE=$MAIN_STATE
kh_pass
