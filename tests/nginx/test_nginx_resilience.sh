#!/bin/bash
# nginx keeps working with a held key through what happens to it in
# production, never restarted: `nginx -s reload` (new workers, key loaded
# again by the master); keyholderd killed with SIGKILL in the middle of a
# load run (handshakes fail at once while it is down, succeed after it is
# restarted); `khadmin seal` (handshakes fail, a reload is refused and the
# running workers stay) and `khadmin unseal --dev`; a stopped (SIGSTOP)
# daemon costs each handshake at most timeout_ms, then fails it.
# Arguments: KEYHOLDERD KHADMIN KH_ITEST KEYHOLDER_SO [TLS_LOAD]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib_nginx.sh"
kh_nginx_require
kh_setup "$1" "$2" "$3"
kh_nginx_setup "$4" "${5:-}"
cd "$WORK" || exit 1
T0=$SECONDS

kh_nginx_daemon_init
kh_nginx_key web ec:P-256
PORT=$(kh_free_port)
kh_nginx_server web "$PORT"
kh_nginx_conf
kh_nginx_start
MASTER=$NGX_PID

# ok_n N [curl options]: N requests, every one must succeed.
ok_n() {
    local n=$1 body
    shift
    for _ in $(seq 1 "$n"); do
        body=$(kh_curl "$PORT" web.crt "$@" 2>"$WORK/curl.err") ||
            kh_fail "handshake failed: $(cat "$WORK/curl.err")"
        [[ "$body" == "keyholder-nginx web TLSv1."* ]] || kh_fail "body '$body'"
    done
}
# fail_n N: N handshakes, every one must fail; prints the slowest in ms.
fail_n() {
    local n=$1 t max=0
    for _ in $(seq 1 "$n"); do
        if t=$(curl -sS --max-time 10 --cacert web.crt -o /dev/null \
            -w '%{time_total}' "https://127.0.0.1:$PORT/" 2>/dev/null); then
            kh_fail "a handshake succeeded"
        fi
        t=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
        [ "$t" -gt "$max" ] && max=$t
    done
    echo "$max"
}
same_nginx() {
    [ "$NGX_PID" = "$MASTER" ] && kill -0 "$MASTER" || kh_fail "nginx master changed"
    [ "$(kh_nginx_workers)" = "$1" ] ||
        kh_fail "workers changed: '$1' -> '$(kh_nginx_workers)'"
}
# log_has PATTERN: nginx logged it (error lines are written as they happen).
log_has() {
    for _ in $(seq 1 40); do
        grep -q -- "$1" "$NGX/error.log" && return 0
        sleep 0.05
    done
    kh_fail "nginx error log lacks '$1'"
}

ok_n 4
ok_n 2 --tlsv1.2 --tls-max 1.2
kh_ok "nginx serves with the held key (master $MASTER, workers $(kh_nginx_workers))"

# --- reload: the master loads the key again; new workers sign.
old=$(kh_nginx_workers)
kh_nginx -s reload 2>"$WORK/err" || kh_fail "nginx -s reload: $(cat "$WORK/err")"
kh_nginx_wait_workers "$old"
ok_n 6
kh_ok "nginx -s reload: workers '$old' replaced by '$(kh_nginx_workers)', serving"
old=$(kh_nginx_workers)
kh_nginx -s reload 2>"$WORK/err" || kh_fail "second reload: $(cat "$WORK/err")"
kh_nginx_wait_workers "$old"
ok_n 4
kh_ok "second reload: serving"
WORKERS=$(kh_nginx_workers)

# --- SIGKILL in the middle of a load run, restart, no nginx restart.
if [ -n "$TLS_LOAD" ]; then
    "$TLS_LOAD" --connect "127.0.0.1:$PORT" --cafile web.crt --seconds 4 \
        --threads 2 --timeout-ms 3000 --quiet >"$WORK/load.out" 2>&1 &
    LOAD_PID=$!
    sleep 1
fi
kh_kill9
fail_ms=$(fail_n 5)
log_has "keyholderd is not reachable"
[ "$fail_ms" -lt "$NGX_TIMEOUT_MS" ] ||
    kh_fail "handshakes with a dead daemon took $fail_ms ms"
kh_ok "keyholderd SIGKILLed: handshakes fail at once (slowest ${fail_ms} ms)," \
    "nginx logs 'keyholderd is not reachable'"
sleep 0.5
kh_nginx_daemon_start
ok_n 8
ok_n 2 --tlsv1.2 --tls-max 1.2
same_nginx "$WORKERS"
kh_ok "keyholderd restarted: handshakes succeed again, same master and workers"
if [ -n "$TLS_LOAD" ]; then
    rc=0
    wait "$LOAD_PID" || rc=$?
    summary=$(tail -n 1 "$WORK/load.out")
    passed=${summary%% passed*}
    failed=${summary#*, }
    failed=${failed%% failed*}
    [[ "$passed" =~ ^[0-9]+$ && "$failed" =~ ^[0-9]+$ ]] ||
        kh_fail "tls_load: $(cat "$WORK/load.out")"
    [ "$rc" -eq 1 ] && [ "$passed" -gt 0 ] && [ "$failed" -gt 0 ] ||
        kh_fail "tls_load through the kill (exit $rc): $summary"
    kh_ok "tls_load (2 threads, 4 s) through the kill and restart: $summary"
fi

# --- seal / unseal: nginx keeps running, no restart.
"$KHADMIN" seal >/dev/null || kh_fail "seal"
fail_n 4 >/dev/null
log_has "keyholder is sealed"
kh_ok "khadmin seal: handshakes fail, nginx logs 'keyholder is sealed'"
if kh_nginx -s reload 2>"$WORK/err"; then
    kh_fail "nginx -s reload succeeded while sealed"
fi
grep -q 'sealed' "$WORK/err" || kh_fail "reload while sealed: $(cat "$WORK/err")"
same_nginx "$WORKERS"
kh_ok "nginx -s reload while sealed is refused ('keyholder is sealed'); the" \
    "running master and workers stay"
"$KHADMIN" unseal --dev >/dev/null || kh_fail "unseal"
ok_n 8
same_nginx "$WORKERS"
kh_ok "khadmin unseal --dev: handshakes succeed again, same master and workers"

# --- a stopped daemon: each handshake waits at most timeout_ms, then fails.
kill -STOP "$DAEMON_PID"
stop_ms=$(fail_n 2)
kill -CONT "$DAEMON_PID"
log_has "did not answer within $NGX_TIMEOUT_MS ms"
[ "$stop_ms" -ge $((NGX_TIMEOUT_MS - 50)) ] &&
    [ "$stop_ms" -lt $((NGX_TIMEOUT_MS * 3)) ] ||
    kh_fail "handshake with a stopped daemon took $stop_ms ms (timeout_ms $NGX_TIMEOUT_MS)"
ok_n 6
same_nginx "$WORKERS"
kh_ok "SIGSTOPped keyholderd: handshakes fail after ${stop_ms} ms" \
    "(timeout_ms $NGX_TIMEOUT_MS); after SIGCONT they succeed, no restart"

kh_nginx_stop
kh_stop
kh_ok "nginx and keyholderd stop cleanly (in $((SECONDS - T0)) s)"
kh_pass
