#!/bin/bash
# Certificates stored beside keys (CERT_IMPORT, CERT_GET, khadmin cert) and
# key reference files (khadmin key ref). A certificate signed by the held key
# itself is stored and served back unchanged; a certificate for another key,
# another user, the sealed state and a certificate altered on disk are
# refused.
source "$(dirname "$0")/lib.sh"
kh_setup "$@"

IS_ROOT=0
START_ARGS=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    IS_ROOT=1
    START_ARGS=(--socket-group nogroup) # so nobody can reach the socket
fi

# The DER inside a PEM file, and the DER a key reference must have, as hex.
pem_der_hex() { sed '1d;$d' "$1" | base64 -d | od -An -tx1 -v | tr -d ' \n'; }
ref_der_hex() {
    local uri=$1
    printf '30%02x020101' $((5 + ${#uri}))
    printf '0c%02x' ${#uri}
    printf '%s' "$uri" | od -An -tx1 -v | tr -d ' \n'
}

kh_start "${START_ARGS[@]}"
"$KHADMIN" init --dev >/dev/null 2>&1
"$KHADMIN" key generate web --type ec:P-256 >/dev/null
"$KHADMIN" key generate rsa --type rsa:2048 >/dev/null
"$KHADMIN" key generate ed --type ed25519 >/dev/null

kh_expect_fail 1 "key 'web' has no certificate (NOT_FOUND)" "$KHADMIN" cert show web
kh_expect_fail 1 "no key named 'nosuch' (UNKNOWN_KEY)" "$KHADMIN" cert show nosuch
kh_ok "before an import: NOT_FOUND for a key, UNKNOWN_KEY for no key"

for n in web rsa ed; do
    "$KH_ITEST" make-cert "$SOCK" "$n" "$WORK/$n.pem"
    openssl verify -CAfile "$WORK/$n.pem" "$WORK/$n.pem" >/dev/null ||
        kh_fail "$n: the self-signed certificate does not verify"
    openssl x509 -in "$WORK/$n.pem" -noout -pubkey | cmp -s - <("$KHADMIN" key pub "$n") ||
        kh_fail "$n: the certificate carries another public key"
done
kh_ok "certificates signed by the held keys themselves verify with openssl"

openssl x509 -in "$WORK/rsa.pem" -outform DER -out "$WORK/rsa.der"
"$KHADMIN" cert import web "$WORK/web.pem" 2>/dev/null
"$KHADMIN" cert import rsa "$WORK/rsa.der" 2>/dev/null
"$KHADMIN" cert import ed "$WORK/ed.pem" 2>/dev/null
grep -q "stored a certificate for key 'web' (sha256 " "$LOG" || kh_fail "import not logged"
kh_ok "cert import: a PEM and a DER file, logged with the fingerprint"

"$KHADMIN" cert show web >"$WORK/show"
fp=$(openssl x509 -in "$WORK/web.pem" -noout -fingerprint -sha256 | cut -d= -f2)
serial=$(openssl x509 -in "$WORK/web.pem" -noout -serial | cut -d= -f2)
grep -q "^subject: *CN=web$" "$WORK/show" || kh_fail "subject: $(cat "$WORK/show")"
grep -q "^issuer: *CN=web$" "$WORK/show" || kh_fail "issuer: $(cat "$WORK/show")"
grep -q "^sha256: *$fp$" "$WORK/show" || kh_fail "fingerprint is not $fp: $(cat "$WORK/show")"
grep -q "^serial: *$serial$" "$WORK/show" || kh_fail "serial is not $serial"
grep -q "^not after: *20[0-9-]*T[0-9:]*Z$" "$WORK/show" || kh_fail "validity"
"$KHADMIN" cert show rsa --json | grep -q '"subject":"CN=rsa",' || kh_fail "cert show --json"
kh_ok "cert show: subject, issuer, validity, serial and openssl's SHA-256 fingerprint"

for n in web rsa ed; do
    "$KHADMIN" cert show "$n" --pem >"$WORK/$n.out.pem"
    cmp -s "$WORK/$n.pem" "$WORK/$n.out.pem" ||
        kh_fail "$n: cert show --pem differs from the imported certificate"
done
kh_ok "cert show --pem returns each imported certificate byte for byte"

# A normal software key's certificate: well formed, but not this key's.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/soft.key" 2>/dev/null
openssl req -new -x509 -key "$WORK/soft.key" -subj /CN=web -days 1 -out "$WORK/soft.pem" 2>/dev/null
kh_expect_fail 1 "certificate public key does not match key 'web' (INVALID_ARGUMENT)" \
    "$KHADMIN" cert import web "$WORK/soft.pem"
kh_expect_fail 1 "certificate public key does not match key 'rsa'" \
    "$KHADMIN" cert import rsa "$WORK/web.pem"
"$KHADMIN" cert show web --pem | cmp -s - "$WORK/web.pem" ||
    kh_fail "a refused import changed the stored certificate"
kh_ok "a certificate for another public key is refused with the reason; the stored one stays"

# What the daemon itself accepts, past khadmin's own parsing.
openssl x509 -in "$WORK/web.pem" -outform DER -out "$WORK/web.der"
cat "$WORK/web.der" "$WORK/web.der" >"$WORK/twice.der"
head -c 200 "$WORK/web.der" >"$WORK/cut.der"
"$KH_ITEST" cert-import-raw "$SOCK" web "$WORK/twice.der" INVALID_ARGUMENT >/dev/null
"$KH_ITEST" cert-import-raw "$SOCK" web "$WORK/cut.der" INVALID_ARGUMENT >/dev/null
"$KH_ITEST" cert-import-raw "$SOCK" web "$WORK/soft.key" INVALID_ARGUMENT >/dev/null
"$KH_ITEST" cert-import-raw "$SOCK" web "$WORK/web.der" ok >/dev/null
kh_ok "the daemon refuses bytes after the certificate, a truncated one and non-certificates"

cat "$WORK/web.pem" "$WORK/rsa.pem" >"$WORK/chain.pem"
kh_expect_fail 1 "more than one certificate" "$KHADMIN" cert import web "$WORK/chain.pem"
kh_expect_fail 1 "not a PEM or DER X.509 certificate (bytes follow" \
    "$KHADMIN" cert import web "$WORK/twice.der"
kh_expect_fail 1 "no key named 'nosuch'" "$KHADMIN" cert import nosuch "$WORK/web.pem"
kh_expect_fail 1 "cannot open" "$KHADMIN" cert import web "$WORK/missing.pem"
kh_expect_fail 2 "missing NAME or FILE" "$KHADMIN" cert import web
kh_expect_fail 2 "invalid key name" "$KHADMIN" cert import ../x "$WORK/web.pem"
kh_expect_fail 2 "exclude each other" "$KHADMIN" cert show web --pem --json
kh_ok "khadmin: chains, trailing bytes and unknown keys exit 1; usage errors exit 2"

"$KH_ITEST" make-cert "$SOCK" web "$WORK/web2.pem"
"$KHADMIN" cert import web "$WORK/web2.pem" 2>/dev/null
"$KHADMIN" cert show web --pem | cmp -s - "$WORK/web2.pem" ||
    kh_fail "the new certificate did not replace the old one"
kh_ok "a new import replaces the stored certificate"

# Key reference files.
"$KHADMIN" key ref web >"$WORK/web.ref"
[ "$(head -n 1 "$WORK/web.ref")" = "-----BEGIN KEYHOLDER KEY REFERENCE-----" ] &&
    [ "$(tail -n 1 "$WORK/web.ref")" = "-----END KEYHOLDER KEY REFERENCE-----" ] ||
    kh_fail "key ref PEM label: $(cat "$WORK/web.ref")"
openssl asn1parse -in "$WORK/web.ref" >"$WORK/asn1"
[ "$(wc -l <"$WORK/asn1")" -eq 3 ] &&
    sed -n 1p "$WORK/asn1" | grep -q "d=0 .*cons: SEQUENCE" &&
    sed -n 2p "$WORK/asn1" | grep -q "d=1 .*prim: INTEGER *:01$" &&
    sed -n 3p "$WORK/asn1" | grep -q "d=1 .*prim: UTF8STRING *:keyholder:web$" ||
    kh_fail "key ref DER: $(cat "$WORK/asn1")"
[ "$(pem_der_hex "$WORK/web.ref")" = "$(ref_der_hex keyholder:web)" ] ||
    kh_fail "key ref DER bytes: $(pem_der_hex "$WORK/web.ref")"
"$KHADMIN" key ref rsa --version 1 >"$WORK/rsa.ref"
[ "$(pem_der_hex "$WORK/rsa.ref")" = "$(ref_der_hex 'keyholder:rsa;version=1')" ] ||
    kh_fail "key ref --version DER bytes: $(pem_der_hex "$WORK/rsa.ref")"
kh_expect_fail 1 "no key named 'nosuch'" "$KHADMIN" key ref nosuch
kh_expect_fail 1 "no version 7 of key 'web'" "$KHADMIN" key ref web --version 7
kh_expect_fail 2 "bad --version" "$KHADMIN" key ref web --version 0
kh_ok "key ref: PEM KEYHOLDER KEY REFERENCE around SEQUENCE {INTEGER 1, UTF8String keyholder:NAME[;version=N]}"

if [ $IS_ROOT -eq 1 ]; then
    "$KHADMIN" key generate shared --type ec:P-256 --allow-user nobody >/dev/null
    "$KH_ITEST" make-cert "$SOCK" shared "$WORK/shared.pem"
    chmod 0644 "$WORK"/*.pem
    kh_expect_fail 1 "uid $NOBODY_UID may not use key 'web' (DENIED)" as_nobody "$KHADMIN" cert show web
    kh_expect_fail 1 "may not use key 'web' (DENIED)" as_nobody "$KHADMIN" cert import web "$WORK/web2.pem"
    kh_expect_fail 1 "may not use key 'web' (DENIED)" as_nobody "$KHADMIN" key ref web
    grep -q "denied the certificate of key 'web'" "$LOG" || kh_fail "denial not logged"
    as_nobody "$KHADMIN" cert import shared "$WORK/shared.pem" 2>/dev/null
    as_nobody "$KHADMIN" cert show shared | grep -q "^subject: *CN=shared$" ||
        kh_fail "an allowed user cannot read the certificate"
    kh_ok "another uid is DENIED a key's certificate; an allowed uid imports and reads"
else
    kh_skip_part "not root (or no setpriv): other-uid checks"
fi

"$KHADMIN" seal >/dev/null
kh_expect_fail 1 "keyholder is sealed (SEALED)" "$KHADMIN" cert show web
kh_expect_fail 1 "keyholder is sealed (SEALED)" "$KHADMIN" cert import web "$WORK/web2.pem"
"$KHADMIN" unseal --dev >/dev/null
"$KHADMIN" cert show web >/dev/null || kh_fail "cert show after unseal"
kh_ok "sealed: cert import and cert show are refused with SEALED"

kh_stop
kh_start "${START_ARGS[@]}"
"$KHADMIN" cert show web --pem | cmp -s - "$WORK/web2.pem" || kh_fail "certificate lost in a restart"
kh_ok "certificates survive a restart"

# Alter the stored certificate on disk inside its SubjectPublicKeyInfo (a
# flip in its signature would go unnoticed: only the key is checked).
"$KHADMIN" key pub web | openssl pkey -pubin -outform DER -out "$WORK/web.spki"
openssl x509 -in "$WORK/web2.pem" -outform DER -out "$WORK/web2.der"
kh_stop
python3 - "$STATE/data.mdb" "$WORK/web2.der" "$WORK/web.spki" <<'PY'
import sys
path, cert_path, spki_path = sys.argv[1:4]
data = bytearray(open(path, 'rb').read())
cert = open(cert_path, 'rb').read()
spki = open(spki_path, 'rb').read()
at = cert.find(spki)
assert at > 0, 'SPKI not found in the certificate'
# A byte of the EC point's x coordinate, in every copy LMDB keeps.
hits, i = 0, data.find(cert)
while i >= 0:
    data[i + at + len(spki) - 40] ^= 0x01
    hits += 1
    i = data.find(cert, i + 1)
assert hits > 0, 'certificate not found in data.mdb'
open(path, 'wb').write(bytes(data))
PY
kh_start "${START_ARGS[@]}"
kh_expect_fail 1 "stored certificate of key 'web' failed its check against the key (TAMPERED)" \
    "$KHADMIN" cert show web
kh_expect_fail 1 "(TAMPERED)" "$KHADMIN" cert show web --pem
[ ! -s "$WORK/out" ] || kh_fail "a tampered certificate was printed"
grep -q "stored certificate of key 'web' .*: refused" "$LOG" || kh_fail "tampering not logged"
echo "still signs" >"$WORK/msg"
"$KHADMIN" key sign web --in "$WORK/msg" --out "$WORK/sig" 2>/dev/null || kh_fail "the key itself broke"
"$KHADMIN" cert show rsa >/dev/null || kh_fail "another key's certificate broke"
"$KHADMIN" cert import web "$WORK/web2.pem" 2>/dev/null
"$KHADMIN" cert show web --pem | cmp -s - "$WORK/web2.pem" || kh_fail "re-import after tampering"
kh_ok "a certificate altered on disk is refused with TAMPERED and logged; re-import repairs it"
kh_stop
kh_pass
