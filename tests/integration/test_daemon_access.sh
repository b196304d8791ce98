#!/bin/bash
# Who may use a key (owner, root, --allow-user, --allow-group; anyone else
# DENIED), socket permissions, and the sealed state.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"
kh_need_setpriv

as_nobody_in() { setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --groups "$1" "${@:2}"; }

kh_start
[ "$(stat -c %a "$SOCK")" = 600 ] || kh_fail "socket mode $(stat -c %a "$SOCK")"
as_nobody "$KHADMIN" status >/dev/null 2>&1 && kh_fail "nobody reached a 0600 socket"
kh_ok "default socket is 0600: other users cannot connect"
kh_stop

kh_start --socket-group nogroup
[ "$(stat -c %a:%G "$SOCK")" = 660:nogroup ] || kh_fail "socket $(stat -c %a:%G "$SOCK")"
kh_ok "--socket-group makes the socket 0660 for that group"

"$KHADMIN" init --dev >/dev/null 2>&1
kh_expect_fail 1 "only root may initialize" as_nobody "$KHADMIN" init --dev
"$KHADMIN" key generate private --type ec:P-256 >/dev/null
"$KHADMIN" key generate for-nobody --type ec:P-256 --allow-user nobody >/dev/null
"$KHADMIN" key generate for-group --type ed25519 --allow-group daemon >/dev/null
echo hello >"$WORK/msg"
chmod 0644 "$WORK/msg"

kh_expect_fail 1 "may not use key 'private'" as_nobody "$KHADMIN" key sign private --in "$WORK/msg" --out -
as_nobody "$KH_ITEST" expect-error "$SOCK" private DENIED >/dev/null
kh_ok "another user is DENIED a key that is not theirs"

as_nobody "$KHADMIN" key sign for-nobody --in "$WORK/msg" --out - >"$WORK/sig"
"$KHADMIN" key pub for-nobody >"$WORK/pub"
kh_verify "$WORK/pub" "$WORK/msg" "$WORK/sig" sha256 || kh_fail "allowed user's signature"
kh_ok "--allow-user lets that user sign"

kh_expect_fail 1 "may not use key 'for-group'" as_nobody "$KHADMIN" key sign for-group --in "$WORK/msg" --out -
as_nobody_in daemon "$KHADMIN" key sign for-group --in "$WORK/msg" --out - >"$WORK/sig"
"$KHADMIN" key pub for-group >"$WORK/pub"
kh_verify "$WORK/pub" "$WORK/msg" "$WORK/sig" none || kh_fail "group member's signature"
kh_ok "--allow-group admits a supplementary group member, no one else"

# A key nobody creates is theirs: root may use it too, others may not.
as_nobody "$KHADMIN" key generate nobodys --type ec:P-384 >/dev/null
as_nobody "$KHADMIN" key sign nobodys --in "$WORK/msg" --out - >/dev/null
"$KHADMIN" key sign nobodys --in "$WORK/msg" --out - >/dev/null
as_nobody "$KHADMIN" key list | grep -q "^nobodys" || kh_fail "own key not listed"
as_nobody "$KHADMIN" key list | grep -q "^private" && kh_fail "listed a key it may not use"
kh_ok "the creator and root may use a key; list shows only usable keys"

kh_expect_fail 1 "only root may seal" as_nobody "$KHADMIN" seal
"$KHADMIN" seal >/dev/null
"$KHADMIN" status | grep -q "state: *sealed" || kh_fail "not sealed"
"$KH_ITEST" expect-error "$SOCK" private SEALED >/dev/null
kh_expect_fail 1 "keyholder is sealed" "$KHADMIN" key sign private --in "$WORK/msg" --out -
kh_expect_fail 1 "keyholder is sealed" "$KHADMIN" key pub private
kh_expect_fail 1 "keyholder is sealed" "$KHADMIN" key list
kh_expect_fail 1 "keyholder is sealed" "$KHADMIN" key generate new --type ed25519
grep -q "sealed by uid 0" "$LOG" || kh_fail "seal not logged"
kh_ok "sealed: every key operation is refused with SEALED"

"$KHADMIN" unseal --dev >/dev/null
"$KHADMIN" key sign private --in "$WORK/msg" --out - >/dev/null
kh_ok "unseal --dev restores service"
kh_pass
