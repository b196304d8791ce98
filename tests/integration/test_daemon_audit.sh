#!/bin/bash
# The audit trail: a signature, a refusal, undecodable or unauthorized
# requests and a failed operator authentication each leave one entry with
# the right fields (an auditor operator reads the log); 10,000 signatures
# from 8 clients leave exactly one entry each and the chain verifies (with
# signed checkpoints, online and offline); export + archive, then the
# archive and the live log verify together; changing one byte of a stored
# entry, deleting one, swapping two or truncating the tail is named by
# `khadmin audit verify` (exit 1).
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KH_AUDIT_ITEST
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
AUDIT_ITEST=$4
kh_need_setpriv

kh_start --socket-group nogroup --checkpoint-every 500 --syslog
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate k1 --type ec:P-256 >/dev/null
# (No `| grep -q` under pipefail: grep -q may exit before the writer is
# done, which then dies of SIGPIPE and fails the pipeline.)
[[ $("$KHADMIN" key show k1) == *"audit:       sync"* ]] || kh_fail "default audit mode is not sync"
[[ $("$KHADMIN" key generate kb --type ed25519 --audit batched --json) == *'"audit":"batched"'* ]] ||
    kh_fail "--audit batched not stored"
kh_expect_fail 2 "sync or batched" "$KHADMIN" key generate kx --type ed25519 --audit never
kh_ok "key generate --audit sync|batched (default sync); a bad mode is a usage error"

# One signature, one refusal, an unauthorized audit read, garbage frames.
echo "audit me" >"$WORK/msg"
"$KHADMIN" key sign k1 --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null
want=$(openssl dgst -sha256 -r "$WORK/msg" | cut -d' ' -f1)
kh_expect_fail 1 "may not use key 'k1'" as_nobody "$KHADMIN" key sign k1 --in "$WORK/msg" --out "$WORK/sig2"
as_nobody "$KH_ITEST" expect-error "$SOCK" k1 DENIED >/dev/null # 32 zero bytes
zeros=66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925
kh_expect_fail 1 "may not read the audit log" as_nobody "$KHADMIN" audit export
"$KH_ITEST" hostile "$SOCK" >/dev/null
# Undecodable frames are audited batched; a sync entry after them (status)
# is durable only once every earlier entry is: the writer commits in order.
"$KHADMIN" status >/dev/null
"$KHADMIN" audit export >"$WORK/e1.jsonl"

pick() { grep -F "$1" "$WORK/e1.jsonl" | grep -F "$2" | grep -F "${3:-}" | grep -F "${4:-}" || true; }
line=$(pick '"op":"key-sign"' '"result":"OK"' '"key":"k1"')
[ "$(printf '%s\n' "$line" | grep -c .)" -eq 1 ] || kh_fail "expected one successful key-sign entry: $line"
for f in '"category":"sign"' '"severity":"info"' '"uid":0' '"key_version":1' \
    "\"data_sha256\":\"$want\"" '"alg":"ec:P-256 input=message digest=sha256 padding=none"' \
    "\"exe\":\"$(readlink -f "$KHADMIN")\"" '"kind":"event"'; do
    [[ $line == *"$f"* ]] || kh_fail "sign entry lacks $f: $line"
done
kh_ok "a signature: caller (uid, exe), key and version, SHA-256 of the data, algorithm, result"

line=$(pick '"op":"key-sign"' '"result":"DENIED"' "\"uid\":$NOBODY_UID")
[ -n "$line" ] || kh_fail "no DENIED key-sign entry for nobody"
for f in '"category":"policy"' '"severity":"warning"' '"key":"k1"' "\"data_sha256\":\"$zeros\"" \
    '"alg":"ec:P-256 input=digest digest=sha256 padding=none"' "may not use key 'k1'"; do
    [[ $line == *"$f"* ]] || kh_fail "refusal entry lacks $f: $line"
done
[ -n "$(pick '"op":"key-info"' '"result":"DENIED"' "\"uid\":$NOBODY_UID")" ] ||
    kh_fail "khadmin's refused key lookup is not audited"
kh_ok "a refusal: DENIED, category policy, severity warning, who and what"

line=$(pick '"op":"audit-read"' '"result":"DENIED"' "\"uid\":$NOBODY_UID")
[ -n "$line" ] || kh_fail "no DENIED audit-read entry"
n=$(grep -F '"category":"protocol"' "$WORK/e1.jsonl" | grep -cF '"severity":"warning"')
[ "$n" -ge 5 ] || kh_fail "only $n protocol entries from the hostile frames"
for r in BAD_VERSION TOO_LARGE UNKNOWN_TYPE TRAILING_DATA; do
    [ "$(grep -F '"category":"protocol"' "$WORK/e1.jsonl" | grep -cF "\"result\":\"$r\"")" -ge 1 ] ||
        kh_fail "no protocol entry with $r"
done
kh_ok "unauthorized (audit read by nobody) and undecodable requests are audited ($n protocol entries)"

# Operators: an auditor reads the log through a signed envelope and the
# entry names the operator; another role is refused; a bad signature is a
# failed authentication (category auth).
mkop() { # NAME
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$WORK/$1.pem" 2>/dev/null
    openssl pkey -in "$WORK/$1.pem" -pubout -out "$WORK/$1.pub"
    chmod 0644 "$WORK/$1.pem"
}
mkop carol
mkop dave
"$KHADMIN" operator add carol --role auditor --pubkey "$WORK/carol.pub" >/dev/null
"$KHADMIN" operator add dave --role approver --pubkey "$WORK/dave.pub" >/dev/null
as_nobody "$KHADMIN" --as carol --key "$WORK/carol.pem" audit verify >/dev/null ||
    kh_fail "auditor carol (uid nobody) cannot verify the log"
kh_expect_fail 1 "may not read the audit log" \
    as_nobody "$KHADMIN" --as dave --key "$WORK/dave.pem" audit export
kh_expect_fail 1 "AUTH_FAILED" \
    as_nobody "$KHADMIN" --as carol --key "$WORK/dave.pem" audit export
"$KHADMIN" audit export >"$WORK/e1.jsonl"
line=$(pick '"op":"audit-read"' '"operator":"carol"' '"result":"OK"' "\"uid\":$NOBODY_UID" | head -n 1)
[ -n "$line" ] || kh_fail "no audit-read entry naming operator carol"
[ -n "$(pick '"op":"audit-read"' '"operator":"dave"' '"result":"DENIED"' '"category":"policy"')" ] ||
    kh_fail "no DENIED audit-read entry for approver dave"
line=$(pick '"result":"AUTH_FAILED"' '"category":"auth"' "\"uid\":$NOBODY_UID" '"severity":"warning"' | head -n 1)
[ -n "$line" ] || kh_fail "no AUTH_FAILED entry (category auth)"
kh_ok "operators: an auditor reads (entry names carol), an approver is refused, a bad signature is audited as auth failure"

# 10,000 signatures from 8 concurrent clients: exactly one entry each.
"$KHADMIN" key generate conc --type ec:P-256 >/dev/null
"$AUDIT_ITEST" sign-record "$SOCK" conc 8 1250 "$WORK/conc.digests" >/dev/null ||
    kh_fail "concurrent signing failed"
"$KHADMIN" audit export --since 1 >"$WORK/e2.jsonl"
grep -F '"op":"key-sign"' "$WORK/e2.jsonl" | grep -F '"key":"conc"' | grep -F '"result":"OK"' |
    sed 's/.*"data_sha256":"\([0-9a-f]*\)".*/\1/' | sort >"$WORK/conc.logged"
sort "$WORK/conc.digests" >"$WORK/conc.returned"
[ "$(wc -l <"$WORK/conc.returned")" -eq 10000 ] || kh_fail "not 10000 signatures returned"
cmp -s "$WORK/conc.returned" "$WORK/conc.logged" ||
    kh_fail "entries differ from returned signatures: $(diff "$WORK/conc.returned" "$WORK/conc.logged" | head -3)"
[ "$(uniq "$WORK/conc.logged" | wc -l)" -eq 10000 ] || kh_fail "duplicate entries"
kh_ok "10,000 signatures from 8 clients: exactly one entry each"

"$KHADMIN" audit verify >"$WORK/v" || kh_fail "verify failed: $(cat "$WORK/v")"
cps=$(sed -n 's/.* \([0-9]*\) checkpoint signatures verified.*/\1/p' "$WORK/v")
# --checkpoint-every 500: a checkpoint follows the batch that reaches 500
# entries, so consecutive checkpoints are 500 plus at most one batch (8
# waiting clients here) apart; over the ~10,000 entries that is 19 or 20.
gap=$(grep -F '"kind":"checkpoint"' "$WORK/e2.jsonl" | sed 's/^{"seq":\([0-9]*\),.*/\1/' |
    awk 'NR > 1 { d = $1 - p; if (d > m) m = d } { p = $1 } END { print m + 0 }')
echo "checkpoints: $cps, at most $gap entries apart"
[ "$gap" -ge 500 ] && [ "$gap" -le 532 ] ||
    kh_fail "checkpoints $gap entries apart at most, not 500 plus a batch"
[ "${cps:-0}" -ge 19 ] || kh_fail "only ${cps:-0} checkpoints over 10,000 entries: $(cat "$WORK/v")"
"$KHADMIN" audit pubkey >"$WORK/audit.pem"
"$KHADMIN" audit export >"$WORK/all.jsonl"
"$KHADMIN" audit verify --file "$WORK/all.jsonl" --pubkey "$WORK/audit.pem" >/dev/null ||
    kh_fail "offline verify of the export failed"
kh_ok "the chain verifies online and offline, $cps checkpoint signatures"

# Offline verify refuses an edited readable field, a forged key, a cut file.
sed '5s/"uid":0/"uid":1/' "$WORK/all.jsonl" >"$WORK/edit.jsonl"
kh_expect_fail 1 "line 5: not an exported audit entry" \
    "$KHADMIN" audit verify --file "$WORK/edit.jsonl" --pubkey "$WORK/audit.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
    openssl pkey -pubout >"$WORK/other.pem"
kh_expect_fail 1 "checkpoint signature does not verify" \
    "$KHADMIN" audit verify --file "$WORK/all.jsonl" --pubkey "$WORK/other.pem"
sed '7d' "$WORK/all.jsonl" >"$WORK/cut.jsonl"
kh_expect_fail 1 "FAILED at seq 7: seq 7 is missing" \
    "$KHADMIN" audit verify --file "$WORK/cut.jsonl" --pubkey "$WORK/audit.pem"
kh_ok "offline verify names an edited line, a wrong audit key, a missing entry"

# Archive the first half; the archive and the live log verify together.
head_seq=$("$KHADMIN" status --json | sed 's/.*"audit_head":\([0-9]*\).*/\1/')
before=$((head_seq / 2))
"$KHADMIN" audit archive --before "$before" --out "$WORK/arch1.jsonl" >/dev/null ||
    kh_fail "archive failed"
[ "$(wc -l <"$WORK/arch1.jsonl")" -eq $((before - 1)) ] || kh_fail "archive line count"
kh_expect_fail 1 "exists\|File exists" "$KHADMIN" audit archive --before "$before" --out "$WORK/arch1.jsonl"
"$KHADMIN" audit export >"$WORK/live.jsonl"
[[ $(head -n 1 "$WORK/live.jsonl") == "{\"anchor_seq\":$before,"* ]] ||
    kh_fail "export does not start with the anchor"
"$KHADMIN" audit verify >/dev/null || kh_fail "live log alone does not verify from its anchor"
"$KHADMIN" audit verify --archive "$WORK/arch1.jsonl" >"$WORK/v" ||
    kh_fail "archive + live log do not verify: $(cat "$WORK/v")"
grep -q "entries up to" "$WORK/v" || kh_fail "verify output: $(cat "$WORK/v")"
"$KHADMIN" audit verify --file "$WORK/arch1.jsonl" --file "$WORK/live.jsonl" \
    --pubkey "$WORK/audit.pem" >/dev/null || kh_fail "offline archive + live export"
# A second archive continues from the first one's anchor.
before2=$((before + 100))
"$KHADMIN" audit archive --before "$before2" --out "$WORK/arch2.jsonl" >/dev/null
"$KHADMIN" audit verify --archive "$WORK/arch1.jsonl" --archive "$WORK/arch2.jsonl" >/dev/null ||
    kh_fail "two archives + live log do not verify"
kh_expect_fail 1 "FAILED" "$KHADMIN" audit verify --archive "$WORK/arch2.jsonl" --archive "$WORK/arch1.jsonl"
mkdir "$WORK/nb" && chown nobody "$WORK/nb"
kh_expect_fail 1 "DENIED" as_nobody "$KHADMIN" audit archive --before 2 --out "$WORK/nb/a.jsonl"
kh_ok "archive twice: archives + live log verify together; order matters; admins only"

# Sealed: entries keep chaining, no checkpoint; archive refused.
"$KHADMIN" seal >/dev/null
for _ in 1 2 3; do "$KHADMIN" status >/dev/null; done
kh_expect_fail 1 "sealed" "$KHADMIN" audit archive --before $((before2 + 50)) --out "$WORK/sealed.jsonl"
"$KHADMIN" audit verify >/dev/null || kh_fail "verify while sealed"
"$KHADMIN" unseal --dev >/dev/null
kh_ok "sealed: entries still chain and verify; archiving needs the unsealed key"
kh_stop

# Tampering with the stopped daemon's database: each one is named.
last=$("$AUDIT_ITEST" tamper "$STATE" last)
mid=$(( (before2 + last) / 2 ))
for t in flip delete swap truncate; do
    rm -rf "$WORK/t-$t"
    cp -a "$STATE" "$WORK/t-$t"
done
"$AUDIT_ITEST" tamper "$WORK/t-flip" flip "$mid"
"$AUDIT_ITEST" tamper "$WORK/t-delete" delete $((mid + 1))
"$AUDIT_ITEST" tamper "$WORK/t-swap" swap $((mid + 2)) $((mid + 3))
"$AUDIT_ITEST" tamper "$WORK/t-truncate" truncate 3
check_tamper() {
    local dir=$1 want=$2
    "$KEYHOLDERD" --foreground --state-dir "$dir" --socket "$WORK/t.sock" 2>>"$LOG" &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do
        "$KHADMIN" --socket "$WORK/t.sock" status >/dev/null 2>&1 && break
        sleep 0.1
    done
    kh_expect_fail 1 "$want" "$KHADMIN" --socket "$WORK/t.sock" audit verify
    kh_stop
}
check_tamper "$WORK/t-flip" "FAILED at seq $mid: seq $mid: hash mismatch"
check_tamper "$WORK/t-delete" "FAILED at seq $((mid + 1)): seq $((mid + 1)) is missing"
check_tamper "$WORK/t-swap" "FAILED at seq $((mid + 2)): seq $((mid + 2)): holds the entry of seq $((mid + 3))"
check_tamper "$WORK/t-truncate" "FAILED at seq $((last - 2)): seq $((last - 2)) is missing"
kh_ok "one byte changed, one entry deleted, two swapped, the tail truncated: each named, exit 1"
kh_pass
