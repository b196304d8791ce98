#!/bin/bash
# nginx 1.22 terminates TLS with keys held in keyholderd: P-256, P-384 and
# RSA-2048 over TLS 1.3 and TLS 1.2 with openssl s_client (protocol, peer
# signature type, served certificate = khadmin key pub) and curl (known
# body, protocol as nginx saw it); RSA-PSS and PKCS#1 v1.5 for RSA; no RSA
# key exchange; Ed25519 over TLS 1.3; the master (root) loads a key that
# www-data may not use, and its handshakes fail in the workers. Both
# workers run as www-data; nothing is left on OpenSSL's error queue.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KEYHOLDER_SO [TLS_LOAD]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_nginx.sh"
kh_nginx_require
kh_setup "$1" "$2" "$3"
kh_nginx_setup "$4" "${5:-}"
cd "$WORK" || exit 1
T0=$SECONDS

kh_nginx_daemon_init
kh_ok "keyholderd as the unit runs it: socket 0660 root:www-data in a 0710 dir;" \
    "www-data reaches it, cannot list the dir; nobody cannot reach it"

declare -A TYPES=([p256]=ec:P-256 [p384]=ec:P-384 [rsa2048]=rsa:2048
    [ed25519]=ed25519)
declare -A PORT
for name in p256 p384 rsa2048 ed25519; do
    kh_nginx_key "$name" "${TYPES[$name]}"
    PORT[$name]=$(kh_free_port)
    kh_nginx_server "$name" "${PORT[$name]}"
done
# Loadable by the master (root may use every key), refused to www-data.
kh_nginx_key rootonly ec:P-256 --allow-user root
PORT[rootonly]=$(kh_free_port)
kh_nginx_server rootonly "${PORT[rootonly]}"
# Two held keys in one server: OpenSSL picks by the client's sigalgs.
PORT[dual]=$(kh_free_port)
kh_nginx_server p256 "${PORT[dual]}" "ssl_certificate $WORK/ed25519.crt;
    ssl_certificate_key $WORK/ed25519.ref.pem;"
kh_nginx_conf
kh_ok "5 held keys, certificates issued by openssl req -key keyholder:NAME," \
    "reference files from khadmin key ref"

kh_nginx_start
kh_ok "nginx -t and start: master root, 2 workers www-data ($(kh_nginx_workers))"

HS=0  # successful handshakes
REQ=0 # of which curl requests (the access log's lines)
declare -A SIG=([p256]=ECDSA [p384]=ECDSA [rsa2048]=RSA-PSS)
declare -A DIGEST=([p256]=SHA256 [p384]=SHA384 [rsa2048]=SHA256)
for name in p256 p384 rsa2048; do
    port=${PORT[$name]}
    for v in 1.3 1.2; do
        out="$WORK/sc.$name.$v"
        kh_sclient "$port" "$name.crt" "$out" -tls"${v/./_}" ||
            kh_fail "s_client $name TLS $v: $(grep -iE 'error|alert' "$out" | head -3)"
        kh_check_sclient "$out" "TLSv$v" "${SIG[$name]}" "$name"
        # TLS 1.3 binds ECDSA to the curve's digest; TLS 1.2 follows the
        # client's preference (SHA-256 first in OpenSSL's list).
        digest=$(sed -n 's/^Peer signing digest: //p' "$out")
        [ "$v" = 1.2 ] || [ "$digest" = "${DIGEST[$name]}" ] ||
            kh_fail "$name/TLS $v: digest $digest, expected ${DIGEST[$name]}"
        cipher=$(sed -n 's/^New, TLSv[0-9.]*, Cipher is //p' "$out")
        HS=$((HS + 1))
        kh_ok "s_client $name TLSv$v: $cipher, ${SIG[$name]}+$digest," \
            "certificate key = khadmin key pub $name"
    done
    body=$(kh_curl "$port" "$name.crt" --tlsv1.3) ||
        kh_fail "curl --tlsv1.3 $name"
    [[ "$body" == "keyholder-nginx $name TLSv1.3 "* ]] ||
        kh_fail "curl --tlsv1.3 $name: '$body'"
    body12=$(kh_curl "$port" "$name.crt" --tlsv1.2 --tls-max 1.2) ||
        kh_fail "curl --tlsv1.2 $name"
    [[ "$body12" == "keyholder-nginx $name TLSv1.2 "* ]] ||
        kh_fail "curl --tls-max 1.2 $name: '$body12'"
    HS=$((HS + 2))
    REQ=$((REQ + 2))
    kh_ok "curl $name: '$body' / '$body12'"
done

# RSA: PKCS#1 v1.5 when the client offers only that (TLS 1.2), and a client
# that offers only RSA key exchange gets no cipher (none configured).
out="$WORK/sc.rsa.pkcs1"
kh_sclient "${PORT[rsa2048]}" rsa2048.crt "$out" -tls1_2 -sigalgs RSA+SHA256 ||
    kh_fail "s_client rsa2048 PKCS#1: $(grep -iE 'error|alert' "$out" | head -3)"
kh_check_sclient "$out" TLSv1.2 RSA rsa2048
HS=$((HS + 1))
kh_ok "s_client rsa2048 TLSv1.2 -sigalgs RSA+SHA256: PKCS#1 v1.5 signature"
out="$WORK/sc.rsa.krsa"
if kh_sclient "${PORT[rsa2048]}" rsa2048.crt "$out" -tls1_2 \
    -cipher AES128-GCM-SHA256:AES256-GCM-SHA384; then
    kh_fail "a kRSA-only client got a session: $(grep '^New' "$out")"
fi
grep -q 'handshake failure' "$out" || kh_fail "kRSA-only client: $(tail -3 "$out")"
kh_ok "a client offering only RSA key exchange is refused (handshake failure)"

# Ed25519 over TLS 1.3 (s_client offers it; nginx picks the held key).
for v in 1.3 1.2; do
    out="$WORK/sc.ed25519.$v"
    kh_sclient "${PORT[ed25519]}" ed25519.crt "$out" -tls"${v/./_}" -sigalgs ed25519 ||
        kh_fail "s_client ed25519 TLS $v: $(grep -iE 'error|alert' "$out" | head -3)"
    kh_check_sclient "$out" "TLSv$v" ed25519 ed25519
    HS=$((HS + 1))
    kh_ok "s_client ed25519 TLSv$v -sigalgs ed25519: Ed25519 signature," \
        "certificate key = khadmin key pub ed25519"
done
body=$(kh_curl "${PORT[ed25519]}" ed25519.crt --tlsv1.3) ||
    kh_fail "curl --tlsv1.3 ed25519"
[[ "$body" == "keyholder-nginx ed25519 TLSv1.3 "* ]] || kh_fail "curl ed25519: '$body'"
HS=$((HS + 1))
REQ=$((REQ + 1))
kh_ok "curl ed25519: '$body'"

# One server, an ECDSA and an Ed25519 held key: each client gets its own.
out="$WORK/sc.dual.ed"
kh_sclient "${PORT[dual]}" ed25519.crt "$out" -tls1_3 -sigalgs ed25519 ||
    kh_fail "s_client dual/ed25519: $(grep -iE 'error|alert' "$out" | head -3)"
kh_check_sclient "$out" TLSv1.3 ed25519 ed25519
out="$WORK/sc.dual.ec"
kh_sclient "${PORT[dual]}" p256.crt "$out" -tls1_3 \
    -sigalgs ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256 ||
    kh_fail "s_client dual/p256: $(grep -iE 'error|alert' "$out" | head -3)"
kh_check_sclient "$out" TLSv1.3 ECDSA p256
HS=$((HS + 2))
kh_ok "one server with a P-256 and an Ed25519 held key: -sigalgs ed25519 gets" \
    "the Ed25519 certificate, ECDSA clients the P-256 one"

# The master loaded 'rootonly' as root; the workers (www-data) are refused.
if kh_curl "${PORT[rootonly]}" rootonly.crt --tlsv1.3 >/dev/null 2>&1; then
    kh_fail "a worker signed with a key www-data may not use"
fi
for _ in $(seq 1 20); do
    grep -q 'signing with keyholder:rootonly' "$NGX/error.log" && break
    sleep 0.05
done
grep 'signing with keyholder:rootonly' "$NGX/error.log" | grep -q 'polic' ||
    kh_fail "no policy refusal logged: $(grep rootonly "$NGX/error.log" | tail -2)"
kh_ok "key without --allow-group www-data: loads in the master, workers are DENIED"

# Every request came over TLS; the workers' share; a clean stop.
kh_nginx_stop
[ "$(grep -cE '^[0-9]+ TLSv1\.[23] ' "$NGX/access.log")" -eq "$REQ" ] ||
    kh_fail "access log has $(wc -l <"$NGX/access.log") TLS requests, expected $REQ"
workers=$(awk '{ print $1 }' "$NGX/access.log" | sort -u | wc -l)
kh_ok "$HS handshakes ($REQ HTTP requests, served by $workers worker(s));" \
    "nginx error log clean, clean exit (in $((SECONDS - T0)) s)"
kh_pass
