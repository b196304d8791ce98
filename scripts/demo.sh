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

# --- nginx (issue 4): one HTTPS request served with a key held in keyholderd.
# nginx runs as in production: master root, workers www-data, OPENSSL_CONF =
# openssl.cnf.d/nginx.cnf, ssl_certificate_key = a `khadmin key ref` file.
# Its own config, pid and logs live in the demo dir, on 127.0.0.1 and a free
# port: /etc/nginx and the system's nginx service are never touched.
step "nginx: serve one HTTPS request with a held key (TLS 1.3)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ] || [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root and Debian's nginx (scripts/deps.sh installs it)"
    exit 0
fi
NGX="$DEMO/nginx"
NGX_PID=
cleanup() {
    [ -n "${NGX_PID:-}" ] && kill -QUIT "$NGX_PID" 2>/dev/null
    for _ in $(seq 50); do
        [ -n "${NGX_PID:-}" ] && kill -0 "$NGX_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DEMO"
}
mkdir -p "$NGX"
chmod 0711 "$DEMO" "$NGX" # www-data may reach the socket, not list files
echo "restart keyholderd with --socket-group www-data: nginx's workers run as www-data"
kill "$PID" && wait "$PID" || true
"$KHD" --foreground --state-dir "$DEMO/state" --socket-group www-data \
    2>>"$DEMO/keyholderd.log" &
PID=$!
for _ in $(seq 50); do "$KHADMIN" status >/dev/null 2>&1 && break; sleep 0.1; done
sed -e "s|^module = .*|module = $ROOT/build/provider/keyholder.so|" \
    -e "s|^socket = .*|socket = $KEYHOLDER_SOCKET|" \
    "$ROOT/openssl.cnf.d/nginx.cnf" >"$DEMO/nginx-openssl.cnf"
run "$KHADMIN" key generate demo-web --type ec:P-256 --allow-group www-data
run "$KHADMIN" key ref demo-web >"$DEMO/demo-web.pem"
run env OPENSSL_CONF="$DEMO/nginx-openssl.cnf" openssl req -new -x509 \
    -key keyholder:demo-web -days 1 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -out "$DEMO/demo-web.crt"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$NGX/nginx.conf" <<CONF
user www-data;
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/error.log notice;
env OPENSSL_CONF;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    server {
        listen 127.0.0.1:$PORT ssl;
        server_name localhost;
        ssl_certificate $DEMO/demo-web.crt;
        ssl_certificate_key $DEMO/demo-web.pem;   # a key reference: no key material
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20:!PSK;
        default_type text/plain;
        location / {
            return 200 "Hello over \$ssl_protocol/\$ssl_cipher, signed by key demo-web in keyholderd\n";
        }
    }
}
CONF
echo "nginx.conf: $NGX/nginx.conf (127.0.0.1:$PORT; ssl_certificate_key $DEMO/demo-web.pem)"
run env OPENSSL_CONF="$DEMO/nginx-openssl.cnf" "$NGINX" -p "$NGX/" -c "$NGX/nginx.conf" \
    -e "$NGX/error.log"
for _ in $(seq 50); do [ -s "$NGX/nginx.pid" ] && break; sleep 0.1; done
NGX_PID=$(cat "$NGX/nginx.pid")
ps -o user=,pid=,args= --ppid "$NGX_PID" -p "$NGX_PID"
run curl -sS --cacert "$DEMO/demo-web.crt" "https://127.0.0.1:$PORT/"
echo "the handshake, as openssl s_client saw it:"
openssl s_client -brief -connect "127.0.0.1:$PORT" -servername localhost \
    -CAfile "$DEMO/demo-web.crt" </dev/null 2>&1 |
    grep -E '^(Protocol version|Ciphersuite|Signature type|Hash used|Server Temp Key|Verification):'
kill -QUIT "$NGX_PID"
for _ in $(seq 50); do kill -0 "$NGX_PID" 2>/dev/null || break; sleep 0.1; done
NGX_PID=
step "done: nginx served HTTPS with a key that never left keyholderd"
