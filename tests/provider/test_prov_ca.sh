#!/bin/bash
# A small certificate authority run entirely on held keys, CMS signing,
# key generation through `openssl genpkey`, fork and daemon-restart safety,
# and clear failures while keyholderd is down. Every signature is checked
# by the default provider (openssl verify / cms -verify / prov_client).
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_prov.sh"
kh_setup "$1" "$2" "$3"
kh_prov_setup "$4"
PROV_CLIENT=$5
kh_prov_start
cd "$WORK"

"$KHADMIN" key generate root --type ec:P-384 >/dev/null
"$KHADMIN" key generate inter --type rsa:3072 >/dev/null

# --- root: self-signed by the held key
openssl req -new -x509 -key keyholder:root -subj "/CN=Keyholder Test Root" \
    -days 30 -sha384 -out root.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>err ||
    kh_fail "req -x509 with keyholder:root: $(cat err)"
openssl verify -CAfile root.pem root.pem >/dev/null || kh_fail "root does not verify"
"$KHADMIN" key pub root >root.pub
openssl x509 -in root.pem -noout -pubkey | cmp -s - root.pub ||
    kh_fail "root certificate's public key is not the held key's"
kh_ok "req -new -x509 -key keyholder:root makes a root that verifies"

# --- intermediate: CSR by the held RSA key, signed by the held root
cat >ext.cnf <<'CNF'
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl req -new -key keyholder:inter -subj "/CN=Keyholder Test Intermediate" \
    -out inter.csr 2>err || kh_fail "req -new with keyholder:inter: $(cat err)"
openssl req -in inter.csr -verify -noout 2>/dev/null || kh_fail "CSR signature"
openssl x509 -req -in inter.csr -CA root.pem -CAkey keyholder:root \
    -CAcreateserial -days 20 -sha384 -extfile ext.cnf -extensions v3_inter \
    -out inter.pem 2>err || kh_fail "x509 -req -CAkey keyholder:root: $(cat err)"
openssl verify -CAfile root.pem inter.pem >/dev/null || kh_fail "inter does not verify"
kh_ok "intermediate CSR by a held key, signed with x509 -CAkey keyholder:root"

# --- openssl ca with the held intermediate: two leaves and a CRL
mkdir -p ca/newcerts
: >ca/index.txt
echo 1000 >ca/serial
echo 1000 >ca/crlnumber
cat >ca.cnf <<CNF
[ca]
default_ca = inter_ca
[inter_ca]
dir = $WORK/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $WORK/inter.pem
private_key = keyholder:inter
default_md = sha256
default_days = 10
default_crl_days = 7
policy = policy_any
x509_extensions = v3_leaf
unique_subject = no
[policy_any]
commonName = supplied
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
for leaf in leaf1 leaf2; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout $leaf.key -subj "/CN=$leaf.example" -out $leaf.csr 2>/dev/null
    openssl ca -batch -config ca.cnf -keyfile keyholder:inter -cert inter.pem \
        -in $leaf.csr -out $leaf.pem 2>err || kh_fail "ca issuing $leaf: $(cat err)"
    openssl verify -CAfile root.pem -untrusted inter.pem $leaf.pem >/dev/null ||
        kh_fail "$leaf does not verify"
done
openssl ca -config ca.cnf -keyfile keyholder:inter -cert inter.pem \
    -revoke leaf2.pem 2>err >/dev/null || kh_fail "revoke: $(cat err)"
openssl ca -config ca.cnf -keyfile keyholder:inter -cert inter.pem -gencrl \
    -out inter.crl 2>err || kh_fail "gencrl: $(cat err)"
openssl crl -in inter.crl -CAfile inter.pem -noout 2>&1 | grep -q "verify OK" ||
    kh_fail "CRL signature does not verify"
cat root.pem inter.pem >chain.pem
openssl verify -crl_check -CAfile chain.pem -CRLfile inter.crl leaf1.pem >/dev/null ||
    kh_fail "leaf1 with CRL"
if openssl verify -crl_check -CAfile chain.pem -CRLfile inter.crl leaf2.pem \
    >/dev/null 2>&1; then
    kh_fail "revoked leaf2 verified"
fi
kh_ok "openssl ca -keyfile keyholder:inter: two leaves and a CRL; chain and revocation verify"

# --- CMS with a held RSA key and a held EC key
echo "a signed message" >msg.txt
openssl cms -sign -in msg.txt -signer inter.pem -inkey keyholder:inter \
    -certfile root.pem -binary -nodetach -outform PEM -out rsa.p7 2>err || kh_fail "cms -sign RSA: $(cat err)"
openssl cms -verify -in rsa.p7 -inform PEM -CAfile root.pem -purpose any \
    -out out.txt 2>/dev/null || kh_fail "cms -verify RSA"
cmp -s out.txt msg.txt || kh_fail "cms RSA content"
openssl cms -sign -in msg.txt -signer root.pem -inkey keyholder:root -binary \
    -nodetach -outform PEM -out ec.p7 2>err || kh_fail "cms -sign EC: $(cat err)"
openssl cms -verify -in ec.p7 -inform PEM -CAfile root.pem -purpose any \
    -out out.txt 2>/dev/null || kh_fail "cms -verify EC"
kh_ok "cms -sign with a held RSA and a held EC key; cms -verify passes"

# --- genpkey creates keys inside keyholderd
for spec in "EC -pkeyopt group:P-256" "RSA -pkeyopt rsa_keygen_bits:2048" "ED25519"; do
    alg=${spec%% *}
    name=gen-$(echo "$alg" | tr 'A-Z' 'a-z')
    # shellcheck disable=SC2086
    openssl genpkey -propquery '?provider=keyholder' -algorithm $spec \
        -pkeyopt name:$name -out $name.pem 2>err || true
    "$KHADMIN" key show "$name" >/dev/null || kh_fail "genpkey did not create $name: $(cat err)"
    grep -q "PRIVATE KEY" $name.pem 2>/dev/null && kh_fail "genpkey wrote key material"
done
openssl genpkey -propquery '?provider=keyholder' -algorithm EC \
    -pkeyopt group:P-256 -out x.pem 2>err && kh_fail "genpkey without a name"
grep -q "name:NAME" err || kh_fail "missing-name error unclear: $(cat err)"
kh_ok "openssl genpkey creates EC, RSA and Ed25519 keys in keyholderd (khadmin shows them)"

# --- fork: 4 children x 100 signatures from one loaded key
"$KHADMIN" key generate forky --type ec:P-256 >/dev/null
"$KHADMIN" key pub forky >forky.pub
"$PROV_CLIENT" fork keyholder:forky forky.pub 4 100 || kh_fail "fork test"
"$KHADMIN" key generate forked --type ed25519 >/dev/null
"$KHADMIN" key pub forked >forked.pub
"$PROV_CLIENT" fork keyholder:forked forked.pub 4 100 || kh_fail "fork test ed25519"
kh_ok "4 forked children x 100 signatures each, all verified (P-256 and Ed25519)"

# --- daemon restart between two signatures of one process
mkfifo go
"$PROV_CLIENT" restart keyholder:forky forky.pub <go >restart.out 2>restart.err &
CLIENT=$!
exec 3>go
for _ in $(seq 100); do grep -q "signed 1" restart.out && break; sleep 0.05; done
grep -q "signed 1" restart.out || kh_fail "first signature: $(cat restart.err)"
kh_stop
kh_start
echo go >&3
exec 3>&-
wait $CLIENT || kh_fail "signature after restart: $(cat restart.err)"
grep -q "signed 2" restart.out || kh_fail "no second signature"
kh_ok "keyholderd restarted between two signatures of one process: both verify"

# --- daemon down: every command names the socket
kh_stop
for cmd in "openssl pkeyutl -sign -inkey keyholder:root -in msg.txt" \
    "openssl req -new -x509 -key keyholder:root -subj /CN=x" \
    "openssl storeutl keyholder:"; do
    # shellcheck disable=SC2086
    if $cmd >out 2>err </dev/null; then
        kh_fail "'$cmd' succeeded with keyholderd down"
    fi
    grep -q "$SOCK" err || kh_fail "'$cmd' does not name the socket: $(cat err)"
done
kh_ok "with keyholderd down, pkeyutl, req and storeutl fail naming $SOCK"
kh_pass
