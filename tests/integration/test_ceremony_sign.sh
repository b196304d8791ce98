#!/bin/bash
# khadmin ceremony sign | verify: every participant signs the record with
# their own key (plain PEM, passphrase by --pass pass:/env:/file: or
# $KHADMIN_KEY_PASS); verify passes only when all signed, and fails after
# any single byte of the signed record changes. No daemon is needed.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KH_CEREMONY_FIXTURE
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
FIXTURE=$4
unset KHADMIN_AS KHADMIN_KEY KHADMIN_KEY_PASS
cd "$WORK"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out alice.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
    -aes-256-cbc -pass pass:bob-secret -out bob.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -aes-256-cbc -pass pass:carol-secret -out carol.pem 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
openssl pkey -in alice.pem -pubout -out alice.pub
openssl pkey -in bob.pem -passin pass:bob-secret -pubout -out bob.pub
openssl pkey -in carol.pem -passin pass:carol-secret -pubout -out carol.pub
echo carol-secret >carol.pass

REC=$WORK/ceremony.json
"$FIXTURE" "$REC" 2 alice:admin,custodian:alice.pub bob:custodian:bob.pub \
    carol:auditor:carol.pub
chmod 0640 "$REC"
cp "$REC" unsigned.json

kh_expect_fail 1 "alice's signature is missing" \
    "$KHADMIN" ceremony verify --record "$REC" --offline
kh_ok "an unsigned record does not verify"

"$KHADMIN" ceremony sign --record "$REC" --as alice --key alice.pem >out
grep -q "signed $REC as alice" out || kh_fail "sign output: $(cat out)"
kh_expect_fail 1 "bob's signature is missing" \
    "$KHADMIN" ceremony verify --record "$REC" --offline
kh_ok "alice signs with a plain key; bob's signature is still missing"

kh_expect_fail 1 "key is encrypted: give --pass" \
    "$KHADMIN" ceremony sign --record "$REC" --as bob --key bob.pem </dev/null
kh_expect_fail 1 "wrong passphrase" \
    "$KHADMIN" ceremony sign --record "$REC" --as bob --key bob.pem \
    --pass pass:nope
kh_expect_fail 2 "expected pass:TEXT" \
    "$KHADMIN" ceremony sign --record "$REC" --as bob --key bob.pem \
    --pass nope
kh_ok "an encrypted key without or with a wrong passphrase is refused"

kh_expect_fail 1 "not the one the record names" \
    "$KHADMIN" ceremony sign --record "$REC" --as bob --key alice.pem
kh_expect_fail 1 "no participant named 'mallory'" \
    "$KHADMIN" ceremony sign --record "$REC" --as mallory --key alice.pem
kh_expect_fail 1 "EC P-256 or P-384" \
    "$KHADMIN" ceremony sign --record "$REC" --as alice --key ed.pem
kh_expect_fail 2 "required" "$KHADMIN" ceremony sign --record "$REC"
kh_ok "signing with another participant's key, as a stranger, or with Ed25519 is refused"

export BOB_PASS=bob-secret
KHADMIN_KEY_PASS=env:BOB_PASS "$KHADMIN" ceremony sign --record "$REC" \
    --as bob --key "file:$WORK/bob.pem" >/dev/null
KHADMIN_AS=carol KHADMIN_KEY=carol.pem \
    "$KHADMIN" ceremony sign --record "$REC" --pass file:carol.pass >/dev/null
kh_ok "bob signs by URI with \$KHADMIN_KEY_PASS=env:, carol with \$KHADMIN_AS/\$KHADMIN_KEY and --pass file:"
"$KHADMIN" --as carol --key carol.pem --pass pass:carol-secret \
    ceremony sign --record "$REC" >/dev/null
kh_ok "the global --as/--key/--pass work for ceremony sign"

"$KHADMIN" ceremony verify --record "$REC" --offline >out
[ "$(grep -c 'signature ok' out)" = 3 ] || kh_fail "verify output: $(cat out)"
grep -q "^alice  *admin,custodian  *signature ok" out ||
    kh_fail "verify output: $(cat out)"
"$KHADMIN" ceremony verify --record "$REC" >out 2>err
grep -q "not compared with the running keyholder" err ||
    kh_fail "verify without --offline: $(cat err)"
"$KHADMIN" --json ceremony verify --record "$REC" --offline >out
grep -q '"valid":true' out || kh_fail "verify --json: $(cat out)"
kh_ok "signed by all: verify passes (text, --json; the daemon check is announced as missing)"

[ "$(stat -c %a "$REC")" = 640 ] || kh_fail "mode changed: $(stat -c %a "$REC")"
ls "$WORK" | grep -q '\.tmp\.' && kh_fail "temp file left behind"
kh_ok "signing keeps the file's mode and leaves no temp file"

# Signing again replaces the signature: still exactly one per participant.
"$KHADMIN" ceremony sign --record "$REC" --as alice --key alice.pem >/dev/null
[ "$(grep -c '"name": "alice"' "$REC")" = 2 ] ||
    kh_fail "alice appears $(grep -c '"name": "alice"' "$REC") times"
"$KHADMIN" ceremony verify --record "$REC" --offline >/dev/null
kh_ok "signing twice replaces the signature"

# A signature moved from one participant to another does not verify.
awk '/"signature": "/ { n++; if (n == 1) a = $0; if (n == 2) $0 = a }
     { print }' "$REC" >bad-swap.json
cmp -s "$REC" bad-swap.json && kh_fail "the swap changed nothing"
kh_expect_fail 1 "bob's signature is invalid" \
    "$KHADMIN" ceremony verify --record bad-swap.json --offline
kh_ok "a signature copied to another participant is invalid"

# Every single byte changed: verify refuses. The record is ASCII; each
# byte is replaced by another (a <-> b), including the final newline.
content=$(cat "$REC"; printf x)
content=${content%x}
len=${#content}
accepted=0
for ((i = 0; i < len; i++)); do
    c=${content:i:1}
    if [ "$c" = a ]; then r=b; else r=a; fi
    printf '%s' "${content:0:i}$r${content:i+1}" >mutated.json
    if "$KHADMIN" ceremony verify --record mutated.json --offline \
        >/dev/null 2>&1; then
        accepted=$((accepted + 1))
        echo "accepted with byte $i changed" >&2
    fi
done
[ $accepted = 0 ] || kh_fail "$accepted single-byte changes were accepted"
kh_ok "each of the $len bytes changed: verify fails every time"

head -c $((len - 1)) "$REC" >mutated.json
kh_expect_fail 1 "not a valid ceremony record" \
    "$KHADMIN" ceremony verify --record mutated.json --offline
printf '%s ' "$content" >mutated.json
kh_expect_fail 1 "not a valid ceremony record" \
    "$KHADMIN" ceremony verify --record mutated.json --offline
kh_expect_fail 1 "cannot open" \
    "$KHADMIN" ceremony verify --record nonexistent.json --offline
kh_expect_fail 2 "record is required" "$KHADMIN" ceremony verify --offline
kh_ok "truncated, extended, missing: refused; usage errors exit 2"

# Against a real ceremony: the record khadmin init wrote, signed by all,
# matches the running keyholder; the fixture's record (another ceremony)
# does not, and a keyholder without a ceremony matches nothing.
kh_start
kh_expect_fail 1 "it has no ceremony" \
    "$KHADMIN" ceremony verify --record "$REC"
openssl pkey -in bob.pem -passin pass:bob-secret -out bob.plain.pem
openssl pkey -in carol.pem -passin pass:carol-secret -out carol.plain.pem
"$KHADMIN" init --threshold 2 --custodian alice=alice.pub \
    --custodian bob=bob.pub --admin carol=carol.pub --out "$WORK/cer" \
    >/dev/null
LIVE=$WORK/cer/ceremony.json
kh_expect_fail 1 "alice's signature is missing" \
    "$KHADMIN" ceremony verify --record "$LIVE"
for who in alice bob carol; do
    key=$who.pem
    [ $who = alice ] || key=$who.plain.pem
    "$KHADMIN" ceremony sign --record "$LIVE" --as $who --key "$key" \
        >/dev/null
done
"$KHADMIN" ceremony verify --record "$LIVE" >out 2>err ||
    kh_fail "verify of the live record: $(cat err)"
grep -q "matches the running keyholder" out || kh_fail "verify: $(cat out)"
kh_expect_fail 1 "another ceremony id" \
    "$KHADMIN" ceremony verify --record "$REC"
"$KHADMIN" ceremony verify --record "$REC" --offline >/dev/null
kh_ok "a signed record from khadmin init matches the running keyholder; another ceremony's does not"
kh_stop

kh_pass
