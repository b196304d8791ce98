#!/bin/bash
# Audit durability under SIGKILL. audit=sync: after a kill at a random
# moment, every signature a client got back has its entry in the log.
# audit=batched: after a kill the daemon appends a gap marker saying how
# many entries may be missing, and the chain still verifies.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KH_AUDIT_ITEST
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
AUDIT_ITEST=$4

kh_start
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate ks --type ec:P-256 --audit sync >/dev/null
"$KHADMIN" key generate kb --type ec:P-256 --audit batched >/dev/null

for round in 1 2 3 4 5; do
    : >"$WORK/returned"
    "$AUDIT_ITEST" sign-record "$SOCK" ks 4 1000000 "$WORK/returned" \
        >/dev/null 2>&1 &
    CL=$!
    # A random moment between 200 and 1000 ms into the run.
    sleep "0.$(printf '%03d' $((200 + RANDOM % 800)))"
    kh_kill9
    wait $CL 2>/dev/null || true
    kh_start
    [ -s "$WORK/returned" ] || kh_fail "round $round: no signature returned before the kill"
    "$KHADMIN" audit export | grep -F '"key":"ks"' | grep -F '"result":"OK"' |
        sed 's/.*"data_sha256":"\([0-9a-f]*\)".*/\1/' | sort -u >"$WORK/logged"
    sort -u "$WORK/returned" >"$WORK/ret.sorted"
    missing=$(comm -23 "$WORK/ret.sorted" "$WORK/logged" | wc -l)
    [ "$missing" -eq 0 ] ||
        kh_fail "round $round: $missing returned signatures have no audit entry"
    "$KHADMIN" audit verify >/dev/null || kh_fail "round $round: chain does not verify"
    echo "round $round: $(wc -l <"$WORK/ret.sorted") returned signatures, all in the log"
done
kh_ok "audit=sync: 5 SIGKILLs at random moments, no returned signature lacks its entry"

"$AUDIT_ITEST" sign-record "$SOCK" kb 4 1000000 "$WORK/batched" >/dev/null 2>&1 &
CL=$!
sleep 0.5
kh_kill9
wait $CL 2>/dev/null || true
kh_start
"$KHADMIN" audit export >"$WORK/all"
gap=$(grep -F '"kind":"gap"' "$WORK/all" || true)
[ "$(printf '%s' "$gap" | grep -c .)" -eq 1 ] ||
    kh_fail "expected one gap marker after killing a batched workload: $gap"
[[ $gap =~ \"aux\":[1-9] ]] || kh_fail "gap marker without a count: $gap"
[[ $gap == *"batched entries after seq"* ]] || kh_fail "gap reason: $gap"
"$KHADMIN" audit verify >"$WORK/v" || kh_fail "chain with a gap marker does not verify"
grep -q "gap marker" "$WORK/v" || kh_fail "verify does not mention the gap: $(cat "$WORK/v")"
kh_ok "audit=batched: SIGKILL leaves a gap marker with a count; the chain verifies"

# audit=batched promises durability within 100 ms: 200 batched signatures
# (2 clients x 100),
# then 200 ms of quiet, then SIGKILL: every one of them is in the log.
: >"$WORK/quiet"
"$AUDIT_ITEST" sign-record "$SOCK" kb 2 100 "$WORK/quiet" >/dev/null 2>&1 ||
    kh_fail "batched signing failed"
sleep 0.2
kh_kill9
kh_start
"$KHADMIN" audit export | grep -F '"key":"kb"' | grep -F '"result":"OK"' |
    sed 's/.*"data_sha256":"\([0-9a-f]*\)".*/\1/' | sort -u >"$WORK/logged"
sort -u "$WORK/quiet" >"$WORK/ret.sorted"
[ "$(wc -l <"$WORK/ret.sorted")" -eq 200 ] || kh_fail "expected 200 batched signatures"
missing=$(comm -23 "$WORK/ret.sorted" "$WORK/logged" | wc -l)
[ "$missing" -eq 0 ] ||
    kh_fail "$missing batched entries were not durable 200 ms after their reply"
kh_ok "audit=batched: entries are durable within 200 ms of the reply (SIGKILL after quiet)"

# A clean stop leaves no gap marker.
kh_stop
kh_start
"$KHADMIN" audit export >"$WORK/all"
[ "$(grep -cF '"kind":"gap"' "$WORK/all")" -eq 2 ] || kh_fail "a gap marker after a clean stop"
[[ $(grep -F '"kind":"start"' "$WORK/all" | tail -n 1) == *"started after a clean stop"* ]] ||
    kh_fail "no clean start entry"
kh_ok "a clean stop is recorded; the next start has no gap marker"
kh_stop
kh_pass
