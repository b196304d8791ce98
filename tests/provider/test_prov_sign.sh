#!/bin/bash
# Signing through the provider with the real openssl CLI: pkeyutl on a
# digest (PKCS#1 v1.5, PSS with every salt length form, ECDSA), dgst
# streaming with SHA-256/384/512, Ed25519 one-shot (-rawin), PSS and
# Ed25519 certificates (algorithm-id), verification through a held key,
# and refusals. Every signature is verified by the default provider
# against `khadmin key pub` output.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KEYHOLDER_SO [PROV_CLIENT]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_prov.sh"
kh_setup "$1" "$2" "$3"
kh_prov_setup "$4"
kh_prov_start
cd "$WORK" || exit 1

RSA_KEYS=(rsa2048 rsa3072 rsa4096)
EC_KEYS=(p256 p384 k1)
declare -A TYPES=(
    [rsa2048]=rsa:2048 [rsa3072]=rsa:3072 [rsa4096]=rsa:4096
    [p256]=ec:P-256 [p384]=ec:P-384 [k1]=ec:secp256k1 [ed]=ed25519
)
for name in "${!TYPES[@]}"; do
    "$KHADMIN" key generate "$name" --type "${TYPES[$name]}" >/dev/null ||
        kh_fail "generate $name"
    "$KHADMIN" key pub "$name" >"$name.pub" || kh_fail "key pub $name"
done
head -c 5000 /dev/urandom >msg
cp msg other
printf 'x' >>other
for d in sha256 sha384 sha512; do
    openssl dgst -"$d" -binary msg >msg."$d"
    openssl dgst -"$d" -binary other >other."$d"
done
kh_ok "seven keys generated; message, other message and their digests ready"

# Runs openssl and fails the test with its stderr if it fails.
ossl() {
    openssl "$@" 2>err >/dev/null || kh_fail "openssl $*: $(cat err)"
}

# pk_verify PUB DIGEST SIG D [pkeyutl options]: the default provider checks
# SIG over the digest file DIGEST with the public key file PUB.
pk_verify() {
    local pub=$1 in=$2 sig=$3 d=$4
    shift 4
    openssl pkeyutl -verify -pubin -inkey "$pub" -in "$in" -sigfile "$sig" \
        -pkeyopt digest:"$d" "$@" >/dev/null 2>&1
}

# --- pkeyutl -sign on a digest: every RSA and EC key, every digest
for name in "${RSA_KEYS[@]}" "${EC_KEYS[@]}"; do
    for d in sha256 sha384 sha512; do
        ossl pkeyutl -sign -inkey keyholder:"$name" -in msg."$d" \
            -pkeyopt digest:"$d" -out sig."$name.$d"
        pk_verify "$name.pub" msg."$d" sig."$name.$d" "$d" ||
            kh_fail "pkeyutl $name/$d: signature does not verify"
        if pk_verify "$name.pub" other."$d" sig."$name.$d" "$d"; then
            kh_fail "pkeyutl $name/$d: verified over another digest"
        fi
    done
done
kh_ok "pkeyutl -sign -pkeyopt digest:sha256|384|512:" \
    "RSA 2048/3072/4096, P-256, P-384, secp256k1 verify"

# --- pkeyutl PSS: salt length digest, -1, max, 20 (verified with that length)
for name in "${RSA_KEYS[@]}"; do
    for salt in digest -1 max 20; do
        for d in sha256 sha512; do
            pss=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:"$salt")
            ossl pkeyutl -sign -inkey keyholder:"$name" -in msg."$d" \
                -pkeyopt digest:"$d" "${pss[@]}" -out sig
            pk_verify "$name.pub" msg."$d" sig "$d" "${pss[@]}" ||
                kh_fail "pkeyutl PSS $name/$d/salt $salt does not verify"
            if pk_verify "$name.pub" other."$d" sig "$d" "${pss[@]}"; then
                kh_fail "pkeyutl PSS $name/$d: verified over another digest"
            fi
        done
    done
done
# Salt length is really what was asked: a "max" signature fails as "digest".
ossl pkeyutl -sign -inkey keyholder:rsa2048 -in msg.sha256 \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
    -pkeyopt rsa_pss_saltlen:max -out sig
if pk_verify rsa2048.pub msg.sha256 sig sha256 -pkeyopt rsa_padding_mode:pss \
    -pkeyopt rsa_pss_saltlen:digest; then
    kh_fail "a PSS max-salt signature verified as digest-salt"
fi
kh_ok "pkeyutl PSS, rsa_pss_saltlen digest, -1, max, 20 (SHA-256, SHA-512):" \
    "verifies with that salt length"

# --- dgst -sign: streaming through the provider
for name in "${RSA_KEYS[@]}" "${EC_KEYS[@]}"; do
    for d in sha256 sha384 sha512; do
        ossl dgst -"$d" -sign keyholder:"$name" -out sig msg
        openssl dgst -"$d" -verify "$name.pub" -signature sig msg \
            >/dev/null 2>&1 || kh_fail "dgst $name/$d does not verify"
        if openssl dgst -"$d" -verify "$name.pub" -signature sig other \
            >/dev/null 2>&1; then
            kh_fail "dgst $name/$d: verified over another message"
        fi
    done
done
for name in "${RSA_KEYS[@]}"; do
    pss=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest)
    ossl dgst -sha384 -sign keyholder:"$name" "${pss[@]}" -out sig msg
    openssl dgst -sha384 -verify "$name.pub" "${pss[@]}" -signature sig msg \
        >/dev/null 2>&1 || kh_fail "dgst PSS $name does not verify"
done
# Larger than one protocol frame: hashed locally, one digest sent.
head -c 600000 /dev/urandom >big
ossl dgst -sha256 -sign keyholder:p256 -out sig big
openssl dgst -sha256 -verify p256.pub -signature sig big >/dev/null 2>&1 ||
    kh_fail "dgst over 600 kB does not verify"
kh_ok "dgst -sha256|384|512 -sign (streaming), PSS via -sigopt," \
    "and a 600 kB message verify"

# --- Ed25519: one shot over the message
ossl pkeyutl -sign -rawin -inkey keyholder:ed -in msg -out sig.ed
openssl pkeyutl -verify -rawin -pubin -inkey ed.pub -in msg -sigfile sig.ed \
    >/dev/null 2>&1 || kh_fail "Ed25519 signature does not verify"
if openssl pkeyutl -verify -rawin -pubin -inkey ed.pub -in other \
    -sigfile sig.ed >/dev/null 2>&1; then
    kh_fail "Ed25519 signature verified over another message"
fi
[ "$(stat -c %s sig.ed)" -eq 64 ] || kh_fail "Ed25519 signature is not 64 bytes"
kh_ok "pkeyutl -sign -rawin with keyholder:ed (Ed25519) verifies"

# --- certificates: the AlgorithmIdentifier comes from our signature ctx
ossl req -new -x509 -key keyholder:rsa3072 -subj /CN=pss -days 1 -sha256 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out pss.pem
openssl verify -CAfile pss.pem pss.pem >/dev/null 2>&1 ||
    kh_fail "self-signed RSASSA-PSS certificate does not verify"
openssl x509 -in pss.pem -noout -text >pss.txt
for want in "Signature Algorithm: rsassaPss" "Hash Algorithm: sha256" \
    "Mask Algorithm: mgf1 with sha256" "Salt Length: 0x20"; do
    grep -q "$want" pss.txt ||
        kh_fail "PSS certificate lacks '$want': $(cat pss.txt)"
done
ossl req -new -x509 -key keyholder:ed -subj /CN=ed -days 1 -out ed.pem
openssl verify -CAfile ed.pem ed.pem >/dev/null 2>&1 ||
    kh_fail "self-signed Ed25519 certificate does not verify"
openssl x509 -in ed.pem -noout -text >ed.txt
grep -q "Signature Algorithm: ED25519" ed.txt ||
    kh_fail "Ed25519 certificate algorithm"
ossl req -new -key keyholder:k1 -subj /CN=k1 -sha512 -out k1.csr
openssl req -in k1.csr -verify -noout >/dev/null 2>&1 ||
    kh_fail "secp256k1 CSR does not verify"
openssl req -in k1.csr -noout -text >k1.txt
grep -q "ecdsa-with-SHA512" k1.txt || kh_fail "secp256k1 CSR algorithm"
kh_ok "RSASSA-PSS (salt 32, MGF1-SHA256) and Ed25519 self-signed" \
    "certificates and a secp256k1 SHA-512 CSR verify"

# --- verification with the held key itself (delegated to the default provider)
ossl dgst -sha384 -sign keyholder:p384 -out sig msg
openssl dgst -sha384 -verify keyholder:p384 -signature sig msg >/dev/null \
    2>err || kh_fail "dgst -verify keyholder:p384: $(cat err)"
if openssl dgst -sha384 -verify keyholder:p384 -signature sig other \
    >/dev/null 2>&1; then
    kh_fail "dgst -verify keyholder:p384 accepted another message"
fi
openssl pkeyutl -verify -inkey keyholder:rsa2048 -in msg.sha256 \
    -sigfile sig.rsa2048.sha256 -pkeyopt digest:sha256 >/dev/null 2>err ||
    kh_fail "pkeyutl -verify -inkey keyholder:rsa2048: $(cat err)"
if openssl pkeyutl -verify -inkey keyholder:rsa2048 -in other.sha256 \
    -sigfile sig.rsa2048.sha256 -pkeyopt digest:sha256 >/dev/null 2>&1; then
    kh_fail "pkeyutl -verify -inkey keyholder:rsa2048 accepted another digest"
fi
kh_ok "dgst -verify and pkeyutl -verify with a keyholder: key accept good" \
    "and reject bad signatures"

# --- refusals: digests keyholderd does not sign with, bad inputs
kh_expect_fail 1 "not supported by keyholder" \
    openssl dgst -md5 -sign keyholder:p256 -out sig msg
grep -q "MD5" "$WORK/err" || kh_fail "the MD5 refusal does not name MD5"
kh_expect_fail 1 "not supported by keyholder" \
    openssl dgst -sha1 -sign keyholder:rsa2048 -out sig msg
kh_expect_fail 1 "not supported by keyholder" \
    openssl pkeyutl -sign -inkey keyholder:p256 -in msg.sha256 \
    -pkeyopt digest:sha224
kh_expect_fail 1 "not supported by keyholder" \
    openssl pkeyutl -sign -inkey keyholder:rsa2048 -in msg.sha256
kh_expect_fail 1 "is not a sha384 digest" \
    openssl pkeyutl -sign -inkey keyholder:p256 -in msg.sha256 \
    -pkeyopt digest:sha384
kh_expect_fail 1 "not supported by keyholder" \
    openssl pkeyutl -sign -inkey keyholder:rsa2048 -in msg.sha256 \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:x931
kh_expect_fail 1 "not supported by keyholder" \
    openssl pkeyutl -sign -rawin -inkey keyholder:ed -in msg -digest sha256
kh_ok "refused with a keyholder error and exit 1: MD5, SHA-1, SHA-224," \
    "RSA without a digest, wrong digest length, X9.31 padding," \
    "Ed25519 with a digest"

kh_pass
