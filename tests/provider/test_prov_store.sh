#!/bin/bash
# The keyholder: store, the key reference decoder and the encoders, through
# the openssl CLI: listing and loading keys (and their certificates) by URI,
# public keys byte for byte equal to `khadmin key pub`, private export
# refused without writing a key, reference files (hand-made and from
# `khadmin key ref`), clear errors for bad URIs, unknown keys, malformed
# references and a stopped daemon.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_prov.sh"
kh_setup "$1" "$2" "$3"
kh_prov_setup "$4"
kh_prov_start
cd "$WORK"

# name:type of every key used below
KEYS="ec1:ec:P-256 ec384:ec:P-384 k1:ec:secp256k1 rsa1:rsa:2048 ed1:ed25519"
for kt in $KEYS; do
    "$KHADMIN" key generate "${kt%%:*}" --type "${kt#*:}" >/dev/null ||
        kh_fail "key generate $kt"
done

# A key reference by hand: DER SEQUENCE { INTEGER VERSION, UTF8String URI }
# (short-form lengths), base64 in 64 columns between the PEM lines.
ref_der() { # URI [VERSION_BYTE_HEX]
    local uri=$1 ver=${2:-01} n=${#1}
    local seq ulen
    seq=$(printf %02x $((n + 5)))
    ulen=$(printf %02x "$n")
    printf "\\x30\\x$seq\\x02\\x01\\x$ver\\x0c\\x$ulen%s" "$uri"
}
ref_pem() { # URI [VERSION_BYTE_HEX]
    echo "-----BEGIN KEYHOLDER KEY REFERENCE-----"
    ref_der "$@" | base64 -w 64
    echo "-----END KEYHOLDER KEY REFERENCE-----"
}
# The body of a PEM file as DER, without openssl.
pem2der() { sed '1d;$d' "$1" | base64 -d; }

# --- storeutl lists every key; single keys by name and by version
openssl storeutl -noout keyholder: >list.out 2>err ||
    kh_fail "storeutl keyholder: $(cat err)"
[ "$(grep -c ': Pkey$' list.out)" -eq 5 ] && grep -q "Total found: 5" list.out ||
    kh_fail "storeutl keyholder: did not list 5 keys: $(cat list.out)"
kh_ok "storeutl keyholder: lists every key"

for uri in keyholder:rsa1 'keyholder:rsa1;version=1'; do
    openssl storeutl -noout "$uri" >one.out 2>err ||
        kh_fail "storeutl $uri: $(cat err)"
    grep -q "^0: Pkey$" one.out && grep -q "Total found: 1" one.out ||
        kh_fail "storeutl $uri: $(cat one.out)"
done
openssl storeutl -noout -text 'keyholder:ed1;version=1' >one.out 2>err ||
    kh_fail "storeutl -text: $(cat err)"
grep -q "Keyholder key keyholder:ed1;version=1 (held in keyholderd" one.out ||
    kh_fail "storeutl -text lacks the URI: $(cat one.out)"
kh_expect_fail 1 "unknown key" openssl storeutl -noout 'keyholder:ec1;version=2'
kh_ok "storeutl keyholder:NAME and keyholder:NAME;version=N load one key"

# --- the public half, byte for byte what khadmin prints, for every type
for kt in $KEYS; do
    k=${kt%%:*}
    "$KHADMIN" key pub "$k" >"$k.kpub" || kh_fail "khadmin key pub $k"
    openssl pkey -in "keyholder:$k" -pubout -out "$k.pub" 2>err ||
        kh_fail "pkey -pubout keyholder:$k: $(cat err)"
    cmp -s "$k.pub" "$k.kpub" || kh_fail "pkey -pubout keyholder:$k differs"
    openssl pkey -in "keyholder:$k" -pubout -outform DER -out "$k.der" \
        2>err || kh_fail "pkey -pubout -outform DER keyholder:$k: $(cat err)"
    pem2der "$k.kpub" | cmp -s - "$k.der" ||
        kh_fail "pkey -pubout -outform DER keyholder:$k differs"
    # -pubin: the store hands out the public half by value
    openssl pkey -pubin -in "keyholder:$k" -pubout 2>err | cmp -s - "$k.kpub" ||
        kh_fail "pkey -pubin -in keyholder:$k: $(cat err)"
done
kh_ok "pkey -pubout (PEM, DER, -pubin) equals khadmin key pub for every type"

# --- private export: refused, clearly, and nothing written
for k in ec1 rsa1 ed1; do
    kh_expect_fail 1 "not exportable" \
        openssl pkey -in "keyholder:$k" -out "$k.priv.pem"
    grep -q "keyholder:$k is held in keyholderd" "$WORK/err" &&
        grep -q "khadmin key ref $k" "$WORK/err" ||
        kh_fail "private export message: $(cat "$WORK/err")"
    [ ! -s "$k.priv.pem" ] || kh_fail "pkey wrote something: $(cat "$k.priv.pem")"
    kh_expect_fail 1 "not exportable" \
        openssl pkey -in "keyholder:$k" -outform DER -out "$k.priv.der"
    [ ! -s "$k.priv.der" ] || kh_fail "pkey -outform DER wrote a key"
    kh_expect_fail 1 "not exportable" openssl pkey -in "keyholder:$k" \
        -aes256 -passout pass:secret -out "$k.enc.pem"
    [ ! -s "$k.enc.pem" ] || kh_fail "pkey -aes256 wrote a key"
done
kh_expect_fail 1 "not exportable" openssl rsa -in keyholder:rsa1 -out r.pem
kh_expect_fail 1 "not exportable" openssl ec -in keyholder:ec1 -out e.pem
if grep -l "PRIVATE KEY" ./*.pem 2>/dev/null; then
    kh_fail "a private key was written"
fi
kh_ok "pkey/rsa/ec private export fails (not exportable) and writes no key"

# --- text: the URI and the public part
openssl pkey -in keyholder:ec1 -text -noout >text.out 2>err ||
    kh_fail "pkey -text: $(cat err)"
want="Keyholder key keyholder:ec1;version=1 (held in keyholderd; private"
want="$want part not available)"
grep -qxF "$want" text.out && grep -q "NIST CURVE: P-256" text.out ||
    kh_fail "pkey -text output: $(cat text.out)"
openssl pkey -in keyholder:rsa1 -text_pub -noout >text.out 2>err ||
    kh_fail "pkey -text_pub: $(cat err)"
grep -q "keyholder:rsa1;version=1" text.out && grep -q "Modulus:" text.out ||
    kh_fail "pkey -text_pub output: $(cat text.out)"
kh_ok "pkey -text shows the URI and the public part"

# --- bad URIs and unknown keys
kh_expect_fail 1 "invalid keyholder URI" \
    openssl pkey -in 'keyholder:no/such' -pubout
grep -q "keyholder:no/such" "$WORK/err" ||
    kh_fail "bad URI not named: $(cat "$WORK/err")"
kh_expect_fail 1 "invalid keyholder URI" \
    openssl pkey -in 'keyholder:ec1;version=0' -pubout
kh_expect_fail 1 "unknown key" openssl pkey -in keyholder:nosuch -pubout
grep -q "keyholder:nosuch" "$WORK/err" ||
    kh_fail "unknown key not named: $(cat "$WORK/err")"
kh_ok "bad URIs and unknown keys fail with clear messages"

# --- certificates stored beside a key come out of the store too
openssl req -new -x509 -key keyholder:ec1 -subj "/CN=store test" -days 2 \
    -out ec1.crt 2>err || kh_fail "req -x509 -key keyholder:ec1: $(cat err)"
"$KHADMIN" cert import ec1 ec1.crt >/dev/null 2>err ||
    kh_fail "khadmin cert import: $(cat err)"
openssl storeutl -noout keyholder:ec1 >one.out 2>err || kh_fail "storeutl: $(cat err)"
grep -q "^0: Pkey$" one.out && grep -q "^1: Certificate$" one.out ||
    kh_fail "storeutl keyholder:ec1 with a certificate: $(cat one.out)"
openssl storeutl -noout -certs keyholder: >list.out 2>err || kh_fail "storeutl -certs: $(cat err)"
grep -q "Total found: 1" list.out || kh_fail "storeutl -certs: $(cat list.out)"
openssl storeutl -noout -keys keyholder: >list.out 2>err || kh_fail "storeutl -keys: $(cat err)"
grep -q "Total found: 5" list.out || kh_fail "storeutl -keys: $(cat list.out)"
openssl x509 -in keyholder:ec1 -outform DER -out got.der 2>err ||
    kh_fail "x509 -in keyholder:ec1: $(cat err)"
openssl x509 -in ec1.crt -outform DER | cmp -s - got.der ||
    kh_fail "the stored certificate differs"
kh_ok "a stored certificate is listed beside its key and loads by URI"

# --- key reference files (decoder)
for kt in $KEYS; do
    k=${kt%%:*}
    ref_pem "keyholder:$k" >"$k.ref.pem"
    openssl pkey -in "$k.ref.pem" -pubout 2>err | cmp -s - "$k.kpub" ||
        kh_fail "pkey -in $k.ref.pem -pubout: $(cat err)"
done
ref_pem 'keyholder:ec1;version=1' >ec1v1.ref.pem
openssl pkey -in ec1v1.ref.pem -text -noout 2>err | grep -q "keyholder:ec1;version=1" ||
    kh_fail "pinned reference: $(cat err)"
if "$KHADMIN" key ref ec1 >ec1.khref.pem 2>/dev/null; then
    cmp -s ec1.khref.pem ec1.ref.pem || kh_fail "khadmin key ref differs from the format"
    "$KHADMIN" key ref ec1 --version 1 | cmp -s - ec1v1.ref.pem ||
        kh_fail "khadmin key ref --version differs from the format"
    for kt in $KEYS; do
        k=${kt%%:*}
        "$KHADMIN" key ref "$k" >"$k.khref.pem" || kh_fail "khadmin key ref $k"
        openssl pkey -in "$k.khref.pem" -pubout 2>err | cmp -s - "$k.kpub" ||
            kh_fail "pkey -in $k.khref.pem: $(cat err)"
    done
    kh_ok "khadmin key ref writes the reference format the decoder reads"
fi
# signing through a reference file uses the held key
echo "signed through a reference" >msg
openssl dgst -sha256 -sign ec1.ref.pem -out msg.sig msg 2>err ||
    kh_fail "dgst -sign ec1.ref.pem: $(cat err)"
kh_verify ec1.kpub msg msg.sig sha256 || kh_fail "signature by reference does not verify"
# read as a public key (OSSL_STORE_expect PUBKEY): the public half
openssl pkey -pubin -in ec1.ref.pem -pubout 2>err | cmp -s - ec1.kpub ||
    kh_fail "pkey -pubin -in ec1.ref.pem: $(cat err)"
openssl dgst -sha256 -verify ec1.ref.pem -signature msg.sig msg >/dev/null \
    2>err || kh_fail "dgst -verify ec1.ref.pem: $(cat err)"
openssl dgst -sha256 -verify keyholder:ec1 -signature msg.sig msg >/dev/null \
    2>err || kh_fail "dgst -verify keyholder:ec1: $(cat err)"
# a bare DER reference, and a reference followed by a certificate
pem2der ec384.ref.pem >ec384.ref.der
openssl pkey -inform DER -in ec384.ref.der -pubout 2>err | cmp -s - ec384.kpub ||
    kh_fail "DER reference: $(cat err)"
cat ec1.ref.pem ec1.crt >bundle.pem
openssl storeutl -noout bundle.pem >one.out 2>err || kh_fail "storeutl bundle: $(cat err)"
grep -q "^0: Pkey$" one.out && grep -q "^1: Certificate$" one.out ||
    kh_fail "reference + certificate file: $(cat one.out)"
kh_ok "reference files: every type, pinned, -pubin, DER, signing, +certificate"

# malformed references fail with a reason, never as someone else's key
ref_pem keyholder:ec1 02 >bad_version.pem
kh_expect_fail 1 "unsupported reference format version" \
    openssl pkey -in bad_version.pem -pubout
{ echo "-----BEGIN KEYHOLDER KEY REFERENCE-----"
  { ref_der keyholder:ec1; printf '\x00'; } | base64 -w 64
  echo "-----END KEYHOLDER KEY REFERENCE-----"; } >bad_trailing.pem
kh_expect_fail 1 "malformed key reference" openssl pkey -in bad_trailing.pem -pubout
ref_pem keyholder: >bad_list.pem
kh_expect_fail 1 "names no key" openssl pkey -in bad_list.pem -pubout
ref_pem 'keyholder:ec1;version=01' >bad_uri.pem
kh_expect_fail 1 "invalid keyholder URI" openssl pkey -in bad_uri.pem -pubout
ref_pem keyholder:nosuch >unknown.pem
kh_expect_fail 1 "unknown key" openssl pkey -in unknown.pem -pubout
head -n 2 ec1.ref.pem >truncated.pem
kh_expect_fail 1 "truncated key reference" openssl pkey -in truncated.pem -pubout
kh_ok "malformed and dangling references fail with clear messages"

# ordinary key files still load with the provider active
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out plain.pem 2>err ||
    kh_fail "genpkey: $(cat err)"
openssl pkey -in plain.pem -noout 2>err || kh_fail "plain key: $(cat err)"
openssl pkey -in plain.pem -outform DER -out plain.der
openssl pkey -inform DER -in plain.der -noout 2>err || kh_fail "plain DER key: $(cat err)"
rm -f plain.pem plain.der
kh_ok "ordinary PEM and DER keys are unaffected"

# --- daemon stopped: failures name the socket
kh_stop
kh_expect_fail 1 "$SOCK" openssl pkey -in keyholder:ec1 -pubout
grep -q "keyholderd is not reachable" "$WORK/err" ||
    kh_fail "daemon down message: $(cat "$WORK/err")"
kh_expect_fail 1 "$SOCK" openssl pkey -in ec1.ref.pem -pubout
kh_expect_fail 1 "$SOCK" openssl storeutl -noout keyholder:
kh_ok "with keyholderd stopped, loads fail naming $SOCK"

kh_pass
