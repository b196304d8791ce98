#!/bin/bash
# Forwarding the audit trail to a SIEM, end to end.
# `khadmin audit export --since N --follow`: every entry committed while it
# runs (sync and batched signatures, a refusal) appears exactly once, in seq
# order from N, each line's prev_hash the previous line's hash, byte for
# byte the line a plain export gives; SIGTERM ends it with exit 0; a user
# who may not read the log is refused; an output it cannot write stops it.
# `keyholderd --syslog-socket PATH` (what --syslog does with /dev/log) to a
# test receiver bound at PATH: every committed entry arrives once, as the
# export's JSON line, with facility authpriv and the entry's severity in its
# PRI (a refusal: <84>, warning); the receiver going away does not hurt the
# daemon (seccomp on), the log names the seqs it could not deliver, and
# delivery resumes when a receiver is back.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KH_AUDIT_ITEST
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
AUDIT_ITEST=$4
kh_need_setpriv

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
    local file=$1 want=$2 prev='' seq hash ph line
    while IFS= read -r line; do
        seq=$(sed -n 's/^{"seq":\([0-9]*\),.*/\1/p' <<<"$line")
        ph=$(sed -n 's/.*"prev_hash":"\([0-9a-f]*\)".*/\1/p' <<<"$line")
        hash=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' <<<"$line")
        [ "$seq" = "$want" ] || kh_fail "$file: seq $seq where $want was due"
        { [ ${#hash} -eq 64 ] && [ ${#ph} -eq 64 ]; } || kh_fail "$file: seq $seq lacks its hashes"
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
for _ in 1 2 3; do
    "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
    "$KHADMIN" key sign kb --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
done
kh_expect_fail 1 "may not use key 'ks'" as_nobody "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig2"
as_nobody "$KH_ITEST" expect-error "$SOCK" ks DENIED >/dev/null # a refused KEY_SIGN
H=$(audit_head)
wait_for_seq "$WORK/follow.jsonl" "$H"
sleep 1.2 # a few more of the follower's 500 ms polls, with nothing new
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

# The follow session is one audit-read entry (its first read), however
# many times it polled: its reads do not fill the trail with themselves.
reads=$(grep -F '"op":"audit-read"' "$WORK/follow.jsonl" | grep -cF '"result":"OK"' || true)
[ "$reads" -eq 1 ] || kh_fail "the follow session left $reads audit-read entries, not 1"
kh_ok "a follow session is audited once, at its first read"

# Refusals: a user who may not read the log; an output that cannot be written.
kh_expect_fail 1 "may not read the audit log" \
    timeout 10 setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --clear-groups \
    "$KHADMIN" audit export --since "$N" --follow
kh_expect_fail 1 "cannot write the entries: No space left on device" \
    timeout 10 bash -c 'exec "$0" audit export --since "$1" --follow >/dev/full' "$KHADMIN" "$N"
kh_ok "export --follow: refused for nobody (DENIED, with the reason); a full output stops it (exit 1)"

kh_stop

# --- keyholderd --syslog-socket ---------------------------------------------
DEVLOG="$WORK/devlog"
RECV_PID=
start_receiver() { # OUT [stall]
    local out=$1
    shift
    "$AUDIT_ITEST" syslog-recv "$DEVLOG" "$out" 300 "$@" >/dev/null &
    RECV_PID=$!
    for _ in $(seq 1 100); do
        [ -S "$DEVLOG" ] && return 0
        sleep 0.05
    done
    kh_fail "the syslog receiver did not bind $DEVLOG"
}
stop_receiver() {
    kill -TERM "$RECV_PID"
    wait "$RECV_PID" || kh_fail "the syslog receiver failed"
    RECV_PID=
}
# kh_cleanup's exit status is the test's: hand it this trap's $?.
recv_cleanup() {
    local rc=$?
    [ -z "$RECV_PID" ] || kill "$RECV_PID" 2>/dev/null || true
    set +e
    (exit $rc)
    kh_cleanup
}
trap recv_cleanup EXIT

# Waits until the receiver's FILE holds the datagram of seq SEQ.
wait_for_datagram() { # FILE SEQ
    for _ in $(seq 1 100); do
        grep -q ": {\"seq\":$2," "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    kh_fail "seq $2 did not reach syslog within 10 s: $(tail -c 300 "$1" 2>/dev/null)"
}

# Splits received datagrams into FILE.json (the messages) after checking
# each header: <PRI>Mmm dd hh:mm:ss keyholderd[DAEMON_PID]: , PRI authpriv
# (10 * 8) plus the severity the JSON names.
check_datagrams() { # FILE
    local line pri sev want n=0
    : >"$1.json"
    while IFS= read -r line; do
        [[ $line =~ ^\<([0-9]+)\>[A-Z][a-z][a-z]\ [\ 0-9][0-9]\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ keyholderd\[$DAEMON_PID\]:\ (\{.*\})$ ]] ||
            kh_fail "not a syslog datagram from keyholderd[$DAEMON_PID]: ${line:0:120}"
        pri=${BASH_REMATCH[1]}
        printf '%s\n' "${BASH_REMATCH[2]}" >>"$1.json"
        sev=$(sed -n 's/.*"severity":"\([a-z]*\)".*/\1/p' <<<"$line")
        case $sev in
        error) want=83 ;; warning) want=84 ;; notice) want=85 ;; info) want=86 ;;
        *) kh_fail "datagram with severity '$sev'" ;;
        esac
        [ "$pri" -eq "$want" ] || kh_fail "PRI <$pri> for a $sev entry (authpriv.$sev is <$want>): ${line:0:120}"
        n=$((n + 1))
    done <"$1"
    [ $n -gt 0 ] || kh_fail "$1: no datagram"
}

start_receiver "$WORK/sys1"
kh_start --socket-group nogroup --syslog-socket "$DEVLOG"
S=$(sed -n 's/.*"seq":\([0-9]*\),.*"kind":"start".*/\1/p' "$WORK/sys1" | tail -n 1)
[ -n "$S" ] || kh_fail "the start entry did not reach syslog: $(head -c 300 "$WORK/sys1")"
for _ in 1 2; do
    "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
    "$KHADMIN" key sign kb --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
done
as_nobody "$KH_ITEST" expect-error "$SOCK" ks DENIED >/dev/null
H=$(audit_head)
wait_for_datagram "$WORK/sys1" "$H"
check_datagrams "$WORK/sys1"
last=$(check_chain "$WORK/sys1.json" "$S")
[ "$last" -ge "$H" ] || kh_fail "syslog stopped at seq $last, head was $H"
"$KHADMIN" audit export --since "$S" | head -n $((last - S + 1)) >"$WORK/plain.jsonl"
cmp -s "$WORK/sys1.json" "$WORK/plain.jsonl" ||
    kh_fail "syslog messages differ from the export: $(diff "$WORK/sys1.json" "$WORK/plain.jsonl" | head -4)"
kh_ok "syslog: seqs $S..$last once each, in order, chained, each the export's JSON line, PRI authpriv + the entry's severity"

pick() { grep -F "\"op\":\"$1\"" "$WORK/sys1" | grep -F "$2" | grep -F "$3" || true; }
[ "$(pick key-sign '"key":"ks"' '"result":"OK"' | grep -c '^<86>')" -eq 2 ] || kh_fail "not 2 sync signatures as <86> (authpriv.info)"
[ "$(pick key-sign '"key":"kb"' '"result":"OK"' | grep -c '^<86>')" -eq 2 ] || kh_fail "not 2 batched signatures as <86>"
line=$(pick key-sign '"key":"ks"' '"result":"DENIED"')
[[ $line == "<84>"* && $line == *'"severity":"warning"'* && $line == *"\"uid\":$NOBODY_UID"* ]] ||
    kh_fail "the refused signature is not one <84> (authpriv.warning) datagram: ${line:0:200}"
kh_ok "syslog: sync and batched signatures arrive as <86> authpriv.info, the refusal as <84> authpriv.warning"

# The receiver goes away: signing goes on (seccomp on), the log says so.
stop_receiver
for _ in 1 2; do
    "$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
        kh_fail "signing failed while syslog is gone"
    "$KHADMIN" key sign kb --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
        kh_fail "batched signing failed while syslog is gone"
done
gone=$(audit_head)
kill -0 "$DAEMON_PID" 2>/dev/null || kh_fail "keyholderd died when the syslog socket went away"
# What the first receiver got in all (the export above was audited too).
check_datagrams "$WORK/sys1"
lost_first=$(($(check_chain "$WORK/sys1.json" "$S") + 1))
grep -q "audit: cannot send entry $lost_first to syslog $DEVLOG: " "$LOG" ||
    kh_fail "no warning naming entry $lost_first: $(grep syslog "$LOG" | tail -3)"
[ "$(grep -c 'audit: cannot send entry' "$LOG")" -eq 1 ] ||
    kh_fail "not one warning for the whole outage: $(grep syslog "$LOG" | tail -3)"
kh_ok "syslog receiver gone: keyholderd (seccomp on) signs on, warns once from seq $lost_first"

# It comes back at the same path: delivery resumes, the gap is named.
start_receiver "$WORK/sys2"
"$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
H=$(audit_head)
wait_for_datagram "$WORK/sys2" "$H"
check_datagrams "$WORK/sys2"
back=$(head -n 1 "$WORK/sys2.json" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
[ "$back" -gt "$gone" ] || kh_fail "seq $back arrived, but it was committed while no receiver was there (head $gone)"
last2=$(check_chain "$WORK/sys2.json" "$back")
[ "$last2" -ge "$H" ] || kh_fail "syslog stopped at seq $last2, head was $H"
grep -q "audit: syslog $DEVLOG takes entries again from seq $back; $((back - lost_first)) entries (seq $lost_first..$((back - 1))) were not delivered: khadmin audit export --since $lost_first" "$LOG" ||
    kh_fail "the log does not name the undelivered seqs $lost_first..$((back - 1)): $(grep syslog "$LOG" | tail -3)"
kh_ok "syslog receiver back: delivery resumes at seq $back; the log names seqs $lost_first..$((back - 1)) as not delivered"

# A clean stop's entry is delivered too.
kh_stop
wait_for_datagram "$WORK/sys2" $((last2 + 1))
grep -F "\"seq\":$((last2 + 1))," "$WORK/sys2" | grep -qF '"op":"stop"' ||
    kh_fail "the stop entry did not reach syslog: $(tail -c 300 "$WORK/sys2")"
stop_receiver
kh_ok "the clean stop entry reaches syslog"

# A hung receiver (its queue full, never read): signing goes on. Each entry
# waiting 100 ms for room, 1000 sync signatures would take 100 s; they get
# 60 s (a loaded machine), and the log warns once.
start_receiver "$WORK/sys3" stall
: >"$LOG"
kh_start --syslog-socket "$DEVLOG"
t0=$SECONDS
timeout 60 "$AUDIT_ITEST" sign-record "$SOCK" ks 1 1000 "$WORK/stall.digests" >/dev/null ||
    kh_fail "1000 signatures with a hung syslog receiver did not finish in 60 s ($(wc -l <"$WORK/stall.digests") done)"
[ "$(grep -c "audit: cannot send entry .* the receiver's queue is full" "$LOG")" -eq 1 ] ||
    kh_fail "not one 'queue is full' warning: $(grep syslog "$LOG" | tail -3)"
stop_receiver
check_datagrams "$WORK/sys3"
kh_stop
kh_ok "a hung syslog receiver: 1000 sync signatures in $((SECONDS - t0)) s, one warning, $(wc -l <"$WORK/sys3") entries queued"

# No receiver at all at start: a warning, then keyholderd serves as usual.
: >"$LOG"
kh_start --syslog-socket "$WORK/nothing-here"
grep -q "audit: syslog $WORK/nothing-here is not reachable now" "$LOG" ||
    kh_fail "no warning about the missing syslog socket: $(head -5 "$LOG")"
grep -q "seccomp on" "$LOG" || kh_fail "seccomp is not on: $(grep serving "$LOG")"
"$KHADMIN" key sign ks --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null ||
    kh_fail "signing failed without a syslog socket"
kh_stop
grep -q "audit: [0-9]* entries (seq [0-9]*\.\.[0-9]*) were not delivered to syslog $WORK/nothing-here" "$LOG" ||
    kh_fail "the stop does not name the undelivered entries: $(tail -3 "$LOG")"
kh_ok "no syslog socket at start: a warning, signing works (seccomp on), the stop names what was not delivered"
kh_pass
