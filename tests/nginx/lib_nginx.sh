# Helpers for the nginx tests (sourced after tests/integration/lib.sh).
#
# Each test runs its own Debian nginx (1.22) on 127.0.0.1 and free ports,
# entirely inside its temp dir (-c WORK/nginx/nginx.conf -p WORK/nginx/):
# never /etc/nginx, never port 80/443, never the package's own service.
# The set-up mirrors production (README.md, "nginx"):
#   - keyholderd runs as the systemd unit runs it (keystore/
#     keyholderd.service): root with primary group www-data and no
#     capability but CAP_IPC_LOCK, --socket-group www-data, its socket in a
#     root:www-data 0710 directory (the unit's RuntimeDirectory);
#   - nginx's master runs as root, `user www-data;` and 2 workers;
#   - OPENSSL_CONF is openssl.cnf.d/nginx.cnf with only the module path and
#     the socket changed, and nginx does not get $KEYHOLDER_SOCKET, so the
#     socket comes from that file, read once in the master;
#   - keys are generated with --allow-group www-data, certificates issued
#     for them with `openssl req -x509 -key keyholder:NAME`, and
#     ssl_certificate_key names a `khadmin key ref NAME` file.
# The TLS clients (openssl s_client, curl, tls_load) run without
# OPENSSL_CONF: they never load the provider.
#
# Test arguments: KEYHOLDERD KHADMIN KH_ITEST KEYHOLDER_SO [TLS_LOAD]

# Call first, before kh_setup: exits 0 with a skip line when this machine
# cannot run the test (no nginx; not root, which `user www-data;` needs).
kh_nginx_require() {
    NGINX_BIN=$(command -v nginx || true)
    [ -n "$NGINX_BIN" ] || NGINX_BIN=/usr/sbin/nginx
    local why=
    if [ ! -x "$NGINX_BIN" ]; then
        why="nginx is not installed (scripts/deps.sh installs Debian's nginx)"
    elif [ "$(id -u)" -ne 0 ]; then
        why="needs root (nginx master as root, workers as www-data)"
    elif ! getent group www-data >/dev/null; then
        why="no www-data group"
    fi
    if [ -n "$why" ]; then
        kh_skip "$why"
    fi
}

# kh_nginx_setup KEYHOLDER_SO [TLS_LOAD]  (after kh_setup)
kh_nginx_setup() {
    PROVIDER_SO=$1
    TLS_LOAD=${2:-}
    [ -n "$TLS_LOAD" ] && [ ! -x "$TLS_LOAD" ] && TLS_LOAD=
    unset OPENSSL_CONF
    NGX="$WORK/nginx"
    NGX_PID=
    RUN="$WORK/run" # as the unit's RuntimeDirectory: root:www-data 0710
    mkdir -p "$NGX/tmp" "$RUN"
    chmod 0711 "$NGX"
    chgrp www-data "$RUN"
    chmod 0710 "$RUN"
    SOCK="$RUN/keyholder.sock"
    export KEYHOLDER_SOCKET="$SOCK"
    : >"$NGX/servers.conf"
    : >"$NGX/error.log"
    trap kh_nginx_cleanup EXIT

    # The shipped nginx.cnf, with this build's module and this socket.
    local src
    src="$(dirname "${BASH_SOURCE[0]}")/../../openssl.cnf.d/nginx.cnf"
    NGX_CNF="$WORK/nginx-openssl.cnf"
    sed -e "s|^module = .*|module = $PROVIDER_SO|" \
        -e "s|^socket = .*|socket = $SOCK|" "$src" >"$NGX_CNF"
    grep -q "^module = $PROVIDER_SO\$" "$NGX_CNF" &&
        grep -q "^socket = $SOCK\$" "$NGX_CNF" ||
        kh_fail "cannot adapt $src"
    NGX_TIMEOUT_MS=$(sed -n 's/^timeout_ms = \([0-9]*\).*/\1/p' "$NGX_CNF")
    [ -n "$NGX_TIMEOUT_MS" ] || kh_fail "no timeout_ms in $src"

    # An ASan build of keyholder.so is dlopened by an uninstrumented openssl
    # and nginx: preload the ASan runtime into those two only. nginx's
    # workers are fork()ed from the master without exec, so they inherit
    # the runtime already mapped (their wiped environment does not matter).
    # nginx itself never frees a few pool blocks at exit: suppress leaks
    # allocated by nginx's allocators, and nothing else.
    KH_ASAN_RT=$(ldd "$PROVIDER_SO" 2>/dev/null | awk '/libasan/ { print $3 }')
    NGX_ENV=(env -u KEYHOLDER_SOCKET OPENSSL_CONF="$NGX_CNF")
    OSSL_ENV=(env OPENSSL_CONF="$NGX_CNF")
    if [ -n "$KH_ASAN_RT" ]; then
        printf 'leak:ngx_alloc\nleak:ngx_memalign\nleak:ngx_calloc\n' \
            >"$WORK/lsan.supp"
        NGX_ENV+=(LD_PRELOAD="$KH_ASAN_RT"
            LSAN_OPTIONS="suppressions=$WORK/lsan.supp:print_suppressions=0")
        OSSL_ENV+=(LD_PRELOAD="$KH_ASAN_RT")
    fi
}

# nginx and openssl with the provider configuration (and the ASan runtime).
kh_nginx() { "${NGX_ENV[@]}" "$NGINX_BIN" -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" "$@"; }
kh_ossl_prov() { "${OSSL_ENV[@]}" openssl "$@"; }

kh_nginx_cleanup() {
    local rc=$?
    set +e
    if [ -n "${NGX_PID:-}" ]; then
        kh_nginx_stop_quietly
    fi
    if [ $rc -ne 0 ] && [ -s "${NGX:-}/error.log" ]; then
        echo "---- nginx error log ($NGX/error.log) ----"
        grep -v '\[info\]' "$NGX/error.log" | tail -n 30 || true
    fi
    (exit $rc)
    kh_cleanup
}

# keyholderd as keystore/keyholderd.service runs it: root, primary group
# www-data (so --socket-group www-data needs no CAP_CHOWN), capability
# bounding set CAP_IPC_LOCK alone.
kh_nginx_daemon_start() {
    setpriv --regid www-data --clear-groups --bounding-set -all,+ipc_lock -- \
        "$KEYHOLDERD" --foreground --state-dir "$STATE" --socket "$SOCK" \
        --socket-group www-data 2>>"$LOG" &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do
        if "$KHADMIN" status >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || kh_fail "keyholderd exited"
        sleep 0.1
    done
    kh_fail "keyholderd did not start"
}

# A dev keyholder, started the unit's way; checks the socket's permissions.
kh_nginx_daemon_init() {
    kh_nginx_daemon_start
    "$KHADMIN" init --dev >/dev/null 2>&1 || kh_fail "init --dev"
    [ "$(stat -c %a:%U:%G "$SOCK")" = 660:root:www-data ] ||
        kh_fail "socket is $(stat -c %a:%U:%G "$SOCK")"
    [ "$(stat -c %a:%U:%G "$RUN")" = 710:root:www-data ] ||
        kh_fail "socket dir is $(stat -c %a:%U:%G "$RUN")"
    if setpriv --reuid www-data --regid www-data --clear-groups \
        ls "$RUN" >/dev/null 2>&1; then
        kh_fail "www-data can list the socket dir"
    fi
    setpriv --reuid www-data --regid www-data --init-groups \
        "$KHADMIN" status >/dev/null 2>&1 ||
        kh_fail "www-data cannot reach keyholderd"
    setpriv --reuid nobody --regid nogroup --clear-groups \
        "$KHADMIN" status >/dev/null 2>&1 &&
        kh_fail "nobody reached keyholderd"
    return 0
}

kh_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# kh_nginx_key NAME TYPE [khadmin generate options]: a held key usable by
# www-data (unless other options are given), its self-signed certificate
# WORK/NAME.crt (SANs 127.0.0.1 and localhost), its public key
# WORK/NAME.pub and its reference file WORK/NAME.ref.pem. A TLS key: its
# audit entries are batched (a handshake never waits for an fdatasync).
kh_nginx_key() {
    local name=$1 type=$2
    shift 2
    [ $# -gt 0 ] || set -- --allow-group www-data
    "$KHADMIN" key generate "$name" --type "$type" --audit batched "$@" \
        >/dev/null ||
        kh_fail "generate $name"
    "$KHADMIN" key pub "$name" >"$WORK/$name.pub" || kh_fail "key pub $name"
    "$KHADMIN" key ref "$name" >"$WORK/$name.ref.pem" || kh_fail "key ref $name"
    kh_ossl_prov req -new -x509 -key "keyholder:$name" -days 2 \
        -subj "/CN=localhost" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -out "$WORK/$name.crt" 2>"$WORK/err" ||
        kh_fail "certificate for $name: $(cat "$WORK/err")"
    chmod 0644 "$WORK/$name.crt" "$WORK/$name.ref.pem"
}

# kh_nginx_server NAME PORT [extra server directives]: a TLS server for
# key NAME whose every response is "keyholder-nginx NAME PROTOCOL CIPHER".
kh_nginx_server() {
    cat >>"$NGX/servers.conf" <<CONF
server {
    listen 127.0.0.1:$2 ssl;
    server_name localhost;
    ssl_certificate $WORK/$1.crt;
    ssl_certificate_key $WORK/$1.ref.pem;
    ${3:-}
    location / {
        return 200 "keyholder-nginx $1 \$ssl_protocol \$ssl_cipher\n";
    }
}
CONF
}

# The main configuration: root master, 2 www-data workers, no session
# resumption (every connection is a full handshake, so every one signs).
kh_nginx_conf() {
    cat >"$NGX/nginx.conf" <<CONF
user www-data;
worker_processes 2;
pid $NGX/nginx.pid;
lock_file $NGX/nginx.lock;
error_log $NGX/error.log notice;
env OPENSSL_CONF;
events {
    worker_connections 1024;
}
http {
    default_type text/plain;
    log_format hs '\$pid \$ssl_protocol \$ssl_cipher \$server_port';
    access_log $NGX/access.log hs;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    # No RSA key exchange (kRSA): it would need RSA decryption by the
    # held key, which the provider does not offer. ECDHE only.
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20:!PSK;
    ssl_session_cache off;
    ssl_session_tickets off;
    include $NGX/servers.conf;
}
CONF
}

# The worker pids of the running master, sorted, on one line.
# ps exits 1 while the master has no child yet: under pipefail and set -e
# that ended the caller silently (w=$(kh_nginx_workers) on a loaded run).
kh_nginx_workers() {
    { ps -o pid= --ppid "$NGX_PID" 2>/dev/null || true; } | tr -d ' ' |
        sort -n | tr '\n' ' '
}

# Waits until the master has exactly 2 workers, all www-data, none of them
# in "$1" (the workers before a reload).
kh_nginx_wait_workers() {
    local old=${1:-} w
    for _ in $(seq 1 100); do
        w=$(kh_nginx_workers)
        if [ "$(echo "$w" | wc -w)" -eq 2 ]; then
            local fresh=1 p
            for p in $w; do
                case " $old " in *" $p "*) fresh=0 ;; esac
            done
            # A worker just forked runs as root until it drops to
            # www-data: wait for that too, fail only if it never happens.
            if [ $fresh -eq 1 ]; then
                local dropped=1
                for p in $w; do
                    [ "$(ps -o user= -p "$p")" = www-data ] || dropped=0
                done
                [ $dropped -eq 0 ] || return 0
            fi
        fi
        sleep 0.05
    done
    w=$(kh_nginx_workers)
    kh_fail "nginx workers: '$w' as '$(ps -o user= -p "${w// /,}" | xargs)' \
(before: '$old'; want 2 new ones as www-data)"
}

kh_nginx_start() {
    kh_nginx -t >"$WORK/nginx-t.out" 2>&1 ||
        kh_fail "nginx -t: $(cat "$WORK/nginx-t.out")"
    kh_nginx 2>"$WORK/err" || kh_fail "nginx did not start: $(cat "$WORK/err")"
    for _ in $(seq 1 100); do
        [ -s "$NGX/nginx.pid" ] && break
        sleep 0.05
    done
    NGX_PID=$(cat "$NGX/nginx.pid" 2>/dev/null) || kh_fail "no nginx pid file"
    [ "$(ps -o user= -p "$NGX_PID")" = root ] || kh_fail "nginx master is not root"
    kh_nginx_wait_workers
}

kh_nginx_stop_quietly() {
    local pid=$NGX_PID
    NGX_PID=
    kill -QUIT "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Graceful stop; then nothing bad may be in the error log: no sanitizer
# report, no crashed worker, no stale OpenSSL error left on the queue
# (nginx logs those as alerts).
kh_nginx_stop() {
    kh_nginx_stop_quietly
    if grep -E 'Sanitizer|runtime error|exited on signal|exited with code [1-9]|stale global SSL error|\[alert\]' \
        "$NGX/error.log" >"$WORK/bad" 2>/dev/null; then
        kh_fail "nginx error log: $(head -n 20 "$WORK/bad")"
    fi
    return 0
}

# kh_sclient PORT CERT OUT [s_client options]: one handshake with openssl
# s_client, verifying the server against CERT; its output goes to OUT.
kh_sclient() {
    local port=$1 cert=$2 out=$3
    shift 3
    openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        -CAfile "$cert" -verify_return_error "$@" </dev/null >"$out" 2>&1
}

# kh_check_sclient OUT PROTO SIGTYPE NAME: s_client's output shows the
# protocol, the peer signature type, a verified chain, and a certificate
# whose public key is `khadmin key pub NAME`.
kh_check_sclient() {
    local out=$1 proto=$2 sigtype=$3 name=$4
    grep -q "^New, $proto, Cipher is " "$out" ||
        kh_fail "$name: not $proto: $(grep -E '^New|error' "$out" | head -3)"
    grep -q "^Peer signature type: $sigtype\$" "$out" ||
        kh_fail "$name/$proto: $(grep '^Peer signature type' "$out") (want $sigtype)"
    grep -q '^Verification: OK$' "$out" || kh_fail "$name/$proto: not verified"
    openssl x509 -in "$out" -pubkey -noout >"$out.pub" 2>/dev/null ||
        kh_fail "$name/$proto: no server certificate in s_client output"
    cmp -s "$out.pub" "$WORK/$name.pub" ||
        kh_fail "$name/$proto: served certificate's key is not khadmin key pub $name"
}

# kh_curl PORT CERT [curl options]: prints the response body.
kh_curl() {
    local port=$1 cert=$2
    shift 2
    curl -sS --max-time 10 --cacert "$cert" "$@" "https://127.0.0.1:$port/"
}
