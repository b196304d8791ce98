#!/bin/bash
# Quick start, command 1: install what is missing, build, and show
# Keyholder at work: a dev keyholderd in a local state dir, one key of every
# type generated inside it, a signature from each, every signature verified
# by the openssl CLI with the public key khadmin exports.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/deps.sh"
echo "== building (build/)"
"$ROOT/scripts/build.sh" "$ROOT/build" >/dev/null

DEMO=$(mktemp -d /tmp/keyholder-demo.XXXXXX)
KHD="$ROOT/build/keystore/keyholderd"
KHADMIN="$ROOT/build/admin/khadmin"
export KEYHOLDER_SOCKET="$DEMO/keyholder.sock"
cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DEMO"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "start keyholderd (state $DEMO/state, socket $KEYHOLDER_SOCKET)"
"$KHD" --foreground --state-dir "$DEMO/state" 2>"$DEMO/keyholderd.log" &
PID=$!
for _ in $(seq 50); do "$KHADMIN" status >/dev/null 2>&1 && break; sleep 0.1; done
run "$KHADMIN" status

step "create a dev keyholder (INSECURE: its master key stays in the state dir)"
run "$KHADMIN" init --dev

echo "Keyholder signs this demo message." >"$DEMO/message.txt"
for type in rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384 ec:secp256k1 ed25519; do
    name=demo-${type//:/-}
    step "$type: generate inside keyholderd, sign, verify with openssl"
    run "$KHADMIN" key generate "$name" --type "$type" >/dev/null
    run "$KHADMIN" key pub "$name" >"$DEMO/$name.pub.pem"
    if [ "$type" = ed25519 ]; then
        run "$KHADMIN" key sign "$name" --in "$DEMO/message.txt" --out "$DEMO/$name.sig"
        run openssl pkeyutl -verify -pubin -inkey "$DEMO/$name.pub.pem" -rawin \
            -in "$DEMO/message.txt" -sigfile "$DEMO/$name.sig"
    else
        run "$KHADMIN" key sign "$name" --in "$DEMO/message.txt" --digest sha256 \
            --out "$DEMO/$name.sig"
        run openssl dgst -sha256 -verify "$DEMO/$name.pub.pem" \
            -signature "$DEMO/$name.sig" "$DEMO/message.txt"
    fi
done

step "RSA-PSS with SHA-384"
run "$KHADMIN" key sign demo-rsa-2048 --pss --digest sha384 \
    --in "$DEMO/message.txt" --out "$DEMO/pss.sig"
run openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 \
    -verify "$DEMO/demo-rsa-2048.pub.pem" -signature "$DEMO/pss.sig" "$DEMO/message.txt"

step "plain openssl through the keyholder provider: a certificate signed by a held key"
cat >"$DEMO/openssl.cnf" <<CNF
openssl_conf = init
[init]
providers = provs
[provs]
default = default_sect
keyholder = keyholder_sect
[default_sect]
activate = 1
[keyholder_sect]
module = $ROOT/build/provider/keyholder.so
socket = $KEYHOLDER_SOCKET
activate = 1
CNF
export OPENSSL_CONF="$DEMO/openssl.cnf"
run openssl req -new -x509 -key keyholder:demo-ec-P-256 -subj "/CN=Keyholder demo" \
    -days 1 -out "$DEMO/demo.crt"
run openssl x509 -in "$DEMO/demo.crt" -noout -subject -issuer
run openssl verify -CAfile "$DEMO/demo.crt" "$DEMO/demo.crt"
run openssl dgst -sha256 -sign keyholder:demo-rsa-2048 -out "$DEMO/dgst.sig" "$DEMO/message.txt"
run openssl dgst -sha256 -verify "$DEMO/demo-rsa-2048.pub.pem" -signature "$DEMO/dgst.sig" \
    "$DEMO/message.txt"
echo "(private export is refused:)"
openssl pkey -in keyholder:demo-ec-P-256 -out "$DEMO/stolen.pem" 2>&1 | grep -o "key keyholder:.*exported" || true

step "the keys, as keyholderd lists them (private halves never left it)"
run "$KHADMIN" key list

step "seal: every key operation is refused until unsealed"
run "$KHADMIN" seal
"$KHADMIN" key sign demo-ec-P-256 --in "$DEMO/message.txt" --out "$DEMO/x.sig" || true
run "$KHADMIN" unseal --dev

step "done: 7 key types generated, signed and verified by openssl; a certificate made with plain openssl and a held key"
