#!/bin/bash
# Forwarding the audit trail to a SIEM, end to end.
# `khadmin audit export --since N --follow`: every entry committed while it
# runs (sync and batched signatures, a refusal) appears exactly once, in seq
# order from N, each line's prev_hash the previous line's hash, byte for
# byte the line a plain export gives; SIGTERM ends it with exit 0; a user
# who may not read the log is refused; an output it cannot write stops it.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KH_AUDIT_ITEST
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
AUDIT_ITEST=$4
[ "$(id -u)" -eq 0 ] || kh_skip "needs root to switch users"
command -v setpriv >/dev/null || kh_fail "setpriv (util-linux) is required"
NOBODY_UID=$(id -u nobody)
NOGROUP_GID=$(getent group nogroup | cut -d: -f3)
as_nobody() { setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --clear-groups "$@"; }

# The audit head (last committed seq); `status` itself is a sync entry.
audit_head() { "$KHADMIN" status --json | sed 's/.*"audit_head":\([0-9]*\).*/\1/'; }

# Waits (up to 10 s: a loaded machine) until FILE holds a line for seq SEQ.
wait_for_seq() { # FILE SEQ
    for _ in $(seq 1 100); do
        grep -q "^{\"seq\":$2," "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    kh_fail "seq $2 did not reach $1 within 10 s: $(tail -c 300 "$1" 2>/dev/null)"
}

# Checks that FILE's lines are seqs FROM, FROM+1, ... each chained to the
# line before (prev_hash = previous hash); prints the last seq.
check_chain() { # FILE FROM
    local file=$1 want=$2 prev= seq hash ph line
    while IFS= read -r line; do
        seq=$(sed -n 's/^{"seq":\([0-9]*\),.*/\1/p' <<<"$line")
        ph=$(sed -n 's/.*"prev_hash":"\([0-9a-f]*\)".*/\1/p' <<<"$line")
        hash=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' <<<"$line")
        [ "$seq" = "$want" ] || kh_fail "$file: seq $seq where $want was due"
        [ ${#hash} -eq 64 ] && [ ${#ph} -eq 64 ] || kh_fail "$file: seq $seq lacks its hashes"
        [ -z "$prev" ] || [ "$ph" = "$prev" ] ||
            kh_fail "$file: seq $seq's prev_hash is not seq $((seq - 1))'s hash"
        prev=$hash
        want=$((want + 1))
    done <"$file"
    echo $((want - 1))
}

kh_start --socket-group nogroup
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate ks --type ec:P-256 >/dev/null
"$KHADMIN" key generate kb --type ed25519 --audit batched >/dev/null
echo "forward me" >"$WORK/msg"

# --- audit export --follow ----------------------------------------------
N=$(audit_head)
"$KHADMIN" audit export --since "$N" --follow >"$WORK/follow.jsonl" 2>"$WORK/follow.err" &
FOLLOW_PID=$!
wait_for_seq "$WORK/follow.jsonl" "$N"
for i in 1 2 3; do
    "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
    "$KHADMIN" key sign kb --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
done
kh_expect_fail 1 "may not use key 'ks'" as_nobody "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig2"
as_nobody "$KH_ITEST" expect-error "$SOCK" ks DENIED >/dev/null # a refused KEY_SIGN
H=$(audit_head)
wait_for_seq "$WORK/follow.jsonl" "$H"
kill -0 "$FOLLOW_PID" 2>/dev/null || kh_fail "audit export --follow ended by itself: $(cat "$WORK/follow.err")"
kill -TERM "$FOLLOW_PID"
rc=0
wait "$FOLLOW_PID" || rc=$?
[ $rc -eq 0 ] || kh_fail "audit export --follow exited $rc on SIGTERM: $(cat "$WORK/follow.err")"
[ ! -s "$WORK/follow.err" ] || kh_fail "audit export --follow wrote to stderr: $(cat "$WORK/follow.err")"
last=$(check_chain "$WORK/follow.jsonl" "$N")
[ "$last" -ge "$H" ] || kh_fail "follow stopped at seq $last, head was $H"
kh_ok "export --follow from seq $N: seqs $N..$last once each, in order, each prev_hash the previous hash; SIGTERM exits 0"

# The same lines as a plain export, and the requests made meanwhile.
"$KHADMIN" audit export --since "$N" | head -n $((last - N + 1)) >"$WORK/plain.jsonl"
cmp -s "$WORK/follow.jsonl" "$WORK/plain.jsonl" ||
    kh_fail "follow and plain export differ: $(diff "$WORK/follow.jsonl" "$WORK/plain.jsonl" | head -4)"
count() { grep -F "\"op\":\"$1\"" "$WORK/follow.jsonl" | grep -F "$2" | grep -cF "$3" || true; }
[ "$(count key-sign '"key":"ks"' '"result":"OK"')" -eq 3 ] || kh_fail "not 3 sync signatures followed"
[ "$(count key-sign '"key":"kb"' '"result":"OK"')" -eq 3 ] || kh_fail "not 3 batched signatures followed"
[ "$(count key-sign '"key":"ks"' '"result":"DENIED"')" -eq 1 ] || kh_fail "the refused signature was not followed"
[ "$(count key-info '"key":"ks"' '"result":"DENIED"')" -eq 1 ] || kh_fail "khadmin's refused lookup was not followed"
kh_ok "follow lines are byte for byte a plain export's: 3 sync, 3 batched signatures, 2 refusals"

# Refusals: a user who may not read the log; an output that cannot be written.
kh_expect_fail 1 "may not read the audit log" \
    timeout 10 setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --clear-groups \
    "$KHADMIN" audit export --since "$N" --follow
kh_expect_fail 1 "cannot write the entries: No space left on device" \
    timeout 10 bash -c 'exec "$0" audit export --since "$1" --follow >/dev/full' "$KHADMIN" "$N"
kh_ok "export --follow: refused for nobody (DENIED, with the reason); a full output stops it (exit 1)"

kh_stop
kh_pass
