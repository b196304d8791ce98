#!/bin/bash
# Crash consistency: SIGKILL keyholderd at 20 random moments while clients
# generate keys (EC and RSA) and sign. After every restart LMDB opens, every
# key whose generation was acknowledged exists, has the same public key and
# signs, and nothing half-written is ever listed or used.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
kh_start
"$KHADMIN" init --dev >/dev/null 2>&1
ACKED="$WORK/acked"
: >"$ACKED"
echo "crash test message" >"$WORK/msg"

# Generates keys until killed; a name is written to $ACKED (with its
# public key) only after khadmin reported success.
generator() {
    local id=$1 n=0 type
    while :; do
        n=$((n + 1))
        type=ec:P-256
        [ $((n % 5)) -eq 0 ] && type=rsa:2048
        [ $((n % 7)) -eq 0 ] && type=ed25519
        if "$KHADMIN" key generate "g$id-$n-$RANDOM" --type $type --json \
            >"$WORK/gen$id.out" 2>/dev/null; then
            name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' "$WORK/gen$id.out")
            "$KHADMIN" key pub "$name" >"$WORK/pub.$name" 2>/dev/null &&
                echo "$name" >>"$ACKED"
        fi
    done
}

for round in $(seq 1 20); do
    generator a &
    GA=$!
    generator b &
    GB=$!
    # A random moment between 50 and 450 ms into the run.
    sleep "0.$(printf '%03d' $((50 + RANDOM % 400)))"
    kh_kill9
    kill $GA $GB 2>/dev/null || true
    wait $GA $GB 2>/dev/null || true
    kh_start
    "$KHADMIN" status | grep -q "state: *unsealed" || kh_fail "round $round: not unsealed"
    "$KHADMIN" key list >"$WORK/list" || kh_fail "round $round: key list fails"
done
kh_ok "20 SIGKILLs at random moments during generation; LMDB opened every time"

[ -s "$ACKED" ] || kh_fail "no key generation was acknowledged at all"
total=$(wc -l <"$ACKED")
while read -r name; do
    [ -s "$WORK/pub.$name" ] || continue
    "$KHADMIN" key pub "$name" | cmp -s - "$WORK/pub.$name" ||
        kh_fail "acknowledged key $name lost or changed"
    "$KHADMIN" key sign "$name" --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
        kh_fail "acknowledged key $name does not sign"
done <"$ACKED"
kh_ok "all $total acknowledged keys exist, unchanged, and sign"

# Whatever the daemon lists (acknowledged or caught mid-flight) is whole:
# every listed key authenticates and signs.
listed=0
while read -r name _; do
    [ "$name" = NAME ] && continue
    listed=$((listed + 1))
    "$KHADMIN" key sign "$name" --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
        kh_fail "listed key $name is unusable (half-written?)"
done <"$WORK/list"
[ "$listed" -ge "$total" ] || kh_fail "$listed listed < $total acknowledged"
grep -q "TAMPERED\|integrity" "$LOG" && kh_fail "a record failed its integrity check"
kh_ok "all $listed listed keys sign; no record ever failed its integrity check"
kh_stop
kh_pass
