#!/bin/bash
# Load: nginx with 2 workers (www-data) serves 2000 new handshakes (no
# session resumption: every one is signed by keyholderd) from the tls_load
# client for each of P-256 over TLS 1.3, RSA-2048 over TLS 1.2 and
# Ed25519 over TLS 1.3; every one succeeds, nginx's access log counts
# exactly the passed connections, and both workers signed.
# Without tls_load (not built) it falls back to 200 curl handshakes.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KEYHOLDER_SO [TLS_LOAD]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_nginx.sh"
kh_nginx_require
kh_setup "$1" "$2" "$3"
kh_nginx_setup "$4" "${5:-}"
cd "$WORK" || exit 1
T0=$SECONDS
N=2000

kh_nginx_daemon_init
declare -A PORT
kh_nginx_key p256 ec:P-256
kh_nginx_key rsa2048 rsa:2048
kh_nginx_key ed25519 ed25519
for name in p256 rsa2048 ed25519; do
    PORT[$name]=$(kh_free_port)
    kh_nginx_server "$name" "${PORT[$name]}"
done
kh_nginx_conf
kh_nginx_start
WORKERS=$(kh_nginx_workers)
kh_ok "nginx: master root, 2 workers www-data ($WORKERS)"

# served PORT: "COUNT by PID, COUNT by PID" from the access log.
served() {
    awk -v p="$1" '$4 == p { n[$1]++ } END { for (w in n) printf "%s%d by %s", (s++ ? ", " : ""), n[w], w }' \
        "$NGX/access.log"
}
# check_served NAME COUNT: the access log has COUNT requests on NAME's
# port, from both workers.
check_served() {
    local name=$1 want=$2 got nw
    for _ in $(seq 1 40); do # the log line follows the response
        got=$(awk -v p="${PORT[$name]}" '$4 == p' "$NGX/access.log" | wc -l)
        [ "$got" -ge "$want" ] && break
        sleep 0.05
    done
    [ "$got" -eq "$want" ] || kh_fail "$name: nginx logged $got requests, expected $want"
    nw=$(awk -v p="${PORT[$name]}" '$4 == p { print $1 }' "$NGX/access.log" | sort -u | wc -l)
    [ "$nw" -eq 2 ] || kh_fail "$name: only one worker signed ($(served "${PORT[$name]}"))"
}

if [ -n "$TLS_LOAD" ]; then
    # load NAME PROTO [tls_load options]
    load() {
        local name=$1 proto=$2 rc=0 t=$SECONDS
        shift 2
        "$TLS_LOAD" --connect "127.0.0.1:${PORT[$name]}" --cafile "$name.crt" \
            --handshakes "$N" --threads 4 --"$proto" "$@" \
            >"$WORK/load.$name" 2>&1 || rc=$?
        [ $rc -eq 0 ] || kh_fail "tls_load $name (exit $rc): $(tail -n 5 "$WORK/load.$name")"
        tail -n 1 "$WORK/load.$name" | grep -qx "$N passed, 0 failed" ||
            kh_fail "tls_load $name: $(tail -n 2 "$WORK/load.$name")"
        check_served "$name" "$N"
        kh_ok "$name $proto: $N passed, 0 failed ($(grep "^handshakes/s" "$WORK/load.$name" |
            sed 's/  */ /g')); nginx: $(served "${PORT[$name]}")"
    }
    load p256 tls1.3
    load rsa2048 tls1.2
    load ed25519 tls1.3 --sigalgs ed25519
else
    echo "tls_load not built: 200 curl handshakes instead of $N per key"
    N=200
    for name in p256 rsa2048 ed25519; do
        opts=(--tlsv1.3)
        [ "$name" = rsa2048 ] && opts=(--tlsv1.2 --tls-max 1.2)
        for _ in $(seq 1 $N); do
            kh_curl "${PORT[$name]}" "$name.crt" "${opts[@]}" >/dev/null ||
                kh_fail "curl $name"
        done
        check_served "$name" "$N"
        kh_ok "$name: $N curl handshakes passed; nginx: $(served "${PORT[$name]}")"
    done
fi

[ "$(kh_nginx_workers)" = "$WORKERS" ] || kh_fail "workers changed under load"
kh_nginx_stop
kh_stop
kh_ok "same 2 workers throughout; nginx and keyholderd stop cleanly" \
    "(in $((SECONDS - T0)) s)"
kh_pass
