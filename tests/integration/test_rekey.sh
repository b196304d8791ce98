#!/bin/bash
# rekey and rotate-master: M current custodians submit their shares for
# the purpose, an admin prepares the new share set, khadmin writes the new
# share files, then commits (one LMDB transaction). rekey changes the
# custodians and threshold (old shares stop working); rotate-master makes
# a new master key and re-wraps ~100 keys and a certificate's MAC. SIGKILLs
# between prepare and commit and at random moments of repeated rotations
# leave either the old or the new state: every key signs after restart +
# unseal with the share set that is current.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"

mkkey() { # NAME CURVE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" \
        -aes-256-cbc -pass pass:"pw-$1" -out "$WORK/$1.pem" 2>/dev/null
    openssl pkey -in "$WORK/$1.pem" -passin pass:"pw-$1" -pubout \
        -out "$WORK/$1.pub"
}
for n in carol erin frank; do mkkey $n P-256; done
for n in dave gina alice; do mkkey $n P-384; done
as() { local n=$1; shift; "$KHADMIN" --as "$n" --key "$WORK/$n.pem" --pass "pass:pw-$n" "$@"; }
share() { # NAME DIR [unseal options]
    local n=$1 d=$2
    shift 2
    "$KHADMIN" unseal --share "$d/share-$n.json" --key "$WORK/$n.pem" \
        --pass "pass:pw-$n" "$@"
}
# Unseals with the first two custodians that have a share file in DIR.
unseal_dir() { # DIR [--for PURPOSE]
    local d=$1 n=0 f
    shift
    for f in "$d"/share-*.json; do
        f=$(basename "$f" .json)
        share "${f#share-}" "$d" "$@" >/dev/null || return 1
        n=$((n + 1))
        [ $n -eq 2 ] && return 0
    done
    return 1
}
all_sign() { # every key signs; the first P-256 key's signature verifies
    local i
    for i in $(seq 1 $NKEYS); do
        "$KHADMIN" key sign "k$i" --in "$WORK/msg" --out "$WORK/sig" \
            2>/dev/null || kh_fail "key k$i does not sign ($*)"
    done
    "$KHADMIN" key sign k1 --in "$WORK/msg" --out "$WORK/sig.k1" 2>/dev/null
    kh_verify "$WORK/k1.pub" "$WORK/msg" "$WORK/sig.k1" sha256 ||
        kh_fail "k1 signature does not verify ($*)"
    "$KHADMIN" cert show k1 >/dev/null 2>&1 ||
        kh_fail "k1's certificate fails its MAC ($*)"
}

kh_start
"$KHADMIN" init --threshold 2 --custodian carol="$WORK/carol.pub" \
    --custodian dave="$WORK/dave.pub" --custodian erin="$WORK/erin.pub" \
    --admin alice="$WORK/alice.pub" --out "$WORK/s0" >/dev/null ||
    kh_fail "ceremony"
NKEYS=100
for i in $(seq 1 $NKEYS); do
    t=ec:P-256
    [ $((i % 10)) -eq 0 ] && t=ed25519
    [ $((i % 25)) -eq 0 ] && t=ec:P-384
    "$KHADMIN" key generate "k$i" --type $t >/dev/null
done
"$KHADMIN" key pub k1 >"$WORK/k1.pub"
"$KH_ITEST" make-cert "$SOCK" k1 "$WORK/k1.crt" >/dev/null
"$KHADMIN" cert import k1 "$WORK/k1.crt" >/dev/null || kh_fail "cert import"
head -c 1000 /dev/urandom >"$WORK/msg"
kh_ok "2-of-3 ceremony, $NKEYS keys, a certificate"

# rekey: new custodians and threshold, same master key.
kh_expect_fail 1 "no master key rebuilt for rekey" as alice rekey \
    --threshold 1 --custodian frank="$WORK/frank.pub" --out "$WORK/x"
share carol "$WORK/s0" --for rekey | grep -q "1 of 2" || kh_fail "rekey share"
kh_expect_fail 1 "may not prepare a rekey (needs role admin)" as carol rekey \
    --threshold 1 --custodian frank="$WORK/frank.pub" --out "$WORK/x"
share dave "$WORK/s0" --for rekey | grep -q "threshold reached" ||
    kh_fail "rekey threshold"
as alice rekey --threshold 2 --custodian frank="$WORK/frank.pub" \
    --custodian carol="$WORK/carol.pub" --custodian gina="$WORK/gina.pub" \
    --out "$WORK/s1" >/dev/null || kh_fail "rekey"
grep -q '"kind": "rekey"' "$WORK/s1/ceremony.json" || kh_fail "rekey record"
kh_ok "rekey: refused without M shares and for a non-admin; new share set written and committed"
for n in frank carol gina; do
    "$KHADMIN" ceremony sign --record "$WORK/s1/ceremony.json" --as $n \
        --key "$WORK/$n.pem" --pass "pass:pw-$n" >/dev/null ||
        kh_fail "$n cannot sign the rekey record"
done
"$KHADMIN" ceremony verify --record "$WORK/s1/ceremony.json" >/dev/null ||
    kh_fail "the rekey record does not verify against the keyholder"
for n in carol dave erin alice; do
    "$KHADMIN" ceremony sign --record "$WORK/s0/ceremony.json" --as $n \
        --key "$WORK/$n.pem" --pass "pass:pw-$n" >/dev/null
done
kh_expect_fail 1 "ceremony" \
    "$KHADMIN" ceremony verify --record "$WORK/s0/ceremony.json"
kh_ok "the signed rekey record verifies online; the old record no longer matches"
"$KHADMIN" seal >/dev/null
kh_expect_fail 1 "share of ceremony" share carol "$WORK/s0"
kh_expect_fail 1 "no operator named 'dave'" share dave "$WORK/s0"
unseal_dir "$WORK/s1" || kh_fail "new shares do not unseal"
all_sign "after rekey"
kh_ok "after rekey the old shares are refused, the new ones unseal; every key signs"

# rotate-master, SIGKILL between prepare and commit, then abort.
CUR="$WORK/s1"
unseal_dir "$CUR" --for rotate-master || kh_fail "rotate shares"
as alice rotate-master --out "$WORK/r1" --prepare-only >/dev/null ||
    kh_fail "prepare"
kh_kill9
kh_start
"$KHADMIN" status | grep -q "pending: *a prepared rotate-master" ||
    kh_fail "pending not reported after restart"
unseal_dir "$CUR" || kh_fail "current shares after a kill before commit"
all_sign "killed after prepare"
as alice rotate-master --abort >/dev/null || kh_fail "abort"
"$KHADMIN" status | grep -q "pending" && kh_fail "pending after abort"
kh_expect_fail 1 "no prepared rekey or rotation" as alice rotate-master --commit
kh_ok "SIGKILL after prepare: old state, pending reported; abort"

# Prepare, SIGKILL, restart, unseal with the old shares, commit.
unseal_dir "$CUR" --for rotate-master || kh_fail "rotate shares"
as alice rotate-master --out "$WORK/r2" --prepare-only >/dev/null ||
    kh_fail "prepare 2"
kh_expect_fail 1 "is pending" as alice rotate-master --out "$WORK/r3"
kh_kill9
kh_start
unseal_dir "$CUR" || kh_fail "old shares before the commit"
as alice rotate-master --commit >/dev/null || kh_fail "commit after restart"
grep -q "committed rotate-master .*new master key.*($NKEYS key records re-wrapped, 1 certificates, 0 skipped)" "$LOG" ||
    kh_fail "commit log: $(grep committed "$LOG" | tail -1)"
all_sign "committed after a restart"
kh_kill9
kh_start
kh_expect_fail 1 "share of ceremony" share frank "$CUR"
CUR="$WORK/r2"
unseal_dir "$CUR" || kh_fail "rotated shares do not unseal"
all_sign "rotated"
kh_ok "SIGKILL after prepare, commit after restart: $NKEYS keys re-wrapped, old shares refused"

# Keys generated while a rotation commits are wrapped under one KEK or the
# other, never lost between the two.
(
    for i in $(seq 1 40); do
        "$KHADMIN" key generate "g$i" --type ec:P-256 >/dev/null || exit 1
    done
) &
GEN=$!
unseal_dir "$CUR" --for rotate-master || kh_fail "rotate shares (gen)"
as alice rotate-master --out "$WORK/rg" >/dev/null || kh_fail "rotate (gen)"
wait $GEN || kh_fail "key generation during a rotation failed"
CUR="$WORK/rg"
for i in $(seq 1 40); do
    "$KHADMIN" key sign "g$i" --in "$WORK/msg" --out /dev/null 2>/dev/null ||
        kh_fail "key g$i generated during a rotation does not sign"
done
kh_ok "40 keys generated during a rotation all sign afterwards"

# Random SIGKILLs during repeated rotations.
KILLS=0
for round in 1 2 3 4 5 6; do
    NEW="$WORK/rr$round"
    (
        unseal_dir "$CUR" --for rotate-master &&
            as alice rotate-master --out "$NEW"
    ) >/dev/null 2>&1 &
    CYCLE=$!
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
    kh_kill9
    KILLS=$((KILLS + 1))
    wait $CYCLE 2>/dev/null || true
    kh_start
    # Either the new set (committed) or the old one unseals; never both.
    if [ -f "$NEW/ceremony.json" ] && unseal_dir "$NEW" 2>/dev/null; then
        "$KHADMIN" seal >/dev/null
        ! unseal_dir "$CUR" 2>/dev/null || kh_fail "round $round: both sets work"
        unseal_dir "$NEW" || kh_fail "round $round: new set, second time"
        CUR=$NEW
        STATE_OF="new"
    else
        unseal_dir "$CUR" || kh_fail "round $round: neither share set unseals"
        STATE_OF="old"
    fi
    if "$KHADMIN" status | grep -q pending; then
        as alice rotate-master --abort >/dev/null || kh_fail "abort $round"
        STATE_OF="$STATE_OF+pending aborted"
    fi
    all_sign "random kill, round $round"
    echo "round $round: $STATE_OF"
done
kh_ok "$KILLS random SIGKILLs during rotations: each time old or new state, every key signs"
# The audit key is re-wrapped with the keys: it still loads at unseal, and
# the audit chain (checkpoints included) verifies across every rotation.
grep -q "audit key fail" "$LOG" && kh_fail "audit key lost: $(grep "audit key fail" "$LOG" | head -1)"
"$KHADMIN" audit verify >/dev/null || kh_fail "audit chain after rotations"
kh_ok "the audit key survives rotate-master; the audit chain verifies"
kh_stop
kh_pass
