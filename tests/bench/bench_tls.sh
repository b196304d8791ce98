#!/bin/bash
# bench_tls.sh - nginx full TLS handshakes/s with a key held in keyholderd
# against the same key type as a plain PEM file, in one run (DESIGN.md
# "Performance budget": held >= 0.95x file). See README.md.
#
#   bench_tls.sh [--build DIR] [--seconds S] [--threads T] [--rounds R]
#
# --build DIR: the CMake build directory (default <repo>/build). Binaries:
#   $KEYHOLDERD (default DIR/keystore/keyholderd), $KHADMIN (DIR/admin/
#   khadmin), $KEYHOLDER_SO (DIR/provider/keyholder.so), $TLS_LOAD
#   (DIR/tests/bench/tls_load), $NGINX (default: nginx on PATH).
# --seconds S: each measurement (default 5). --threads T: tls_load threads
#   (default 4). --rounds R: held/file pairs per key type, alternating
#   (default 3: held, file, file, held, held, file).
# Exit: 0 every handshake passed (whatever the ratio), 1 a handshake
#   failed or set-up failed, 2 usage.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
build="$repo/build"
seconds=5
threads=4
rounds=3
goal=0.95
# key type: keyholder type, openssl genpkey arguments for the file key
types=("ec:P-256" "rsa:2048")
declare -A genpkey_args=(
    ["ec:P-256"]="-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
    ["rsa:2048"]="-algorithm RSA -pkeyopt rsa_keygen_bits:2048"
)

usage() {
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

need_arg() {
    [ "$2" -ge 2 ] || { usage >&2; exit 2; }
}

is_number() {
    [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]
}

while [ $# -gt 0 ]; do
    case "$1" in
    --build) need_arg "$1" $#; build=$2; shift 2 ;;
    --build=*) build=${1#--build=}; shift ;;
    --seconds) need_arg "$1" $#; seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --threads) need_arg "$1" $#; threads=$2; shift 2 ;;
    --threads=*) threads=${1#--threads=}; shift ;;
    --rounds) need_arg "$1" $#; rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#--rounds=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
if ! is_number "$seconds" || ! [[ "$threads" =~ ^[1-9][0-9]*$ ]] ||
    ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    usage >&2
    exit 2
fi

keyholderd=${KEYHOLDERD:-$build/keystore/keyholderd}
khadmin=${KHADMIN:-$build/admin/khadmin}
provider_so=${KEYHOLDER_SO:-$build/provider/keyholder.so}
tls_load=${TLS_LOAD:-$build/tests/bench/tls_load}
for bin in "$keyholderd" "$khadmin" "$provider_so" "$tls_load"; do
    if [ ! -e "$bin" ]; then
        echo "bench_tls.sh: $bin not found; build first: cmake -B build" \
             "-S . && cmake --build build --target keyholderd khadmin" \
             "keyholder tls_load" >&2
        exit 1
    fi
done
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ ! -x "$nginx" ]; then
    echo "bench_tls.sh: nginx not found: apt-get install nginx" >&2
    exit 1
fi
if ldd "$provider_so" 2>/dev/null | grep -q libasan; then
    echo "bench_tls.sh: $provider_so is a sanitizer build; benchmark a" \
         "normal build (--build DIR)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kh-bench-tls.XXXXXX")
sock="$tmp/keyholder.sock"
daemon_log="$tmp/keyholderd.log"
daemon_pid=
nginx_pids=()
as_root=0
[ "$(id -u)" -eq 0 ] && as_root=1

cleanup() {
    local rc=$? pid

    for pid in ${nginx_pids[@]+"${nginx_pids[@]}"}; do
        kill -QUIT "$pid" 2>/dev/null || true
    done
    for pid in ${nginx_pids[@]+"${nginx_pids[@]}"}; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ]; then
        for f in "$daemon_log" "$tmp"/nginx-*/*.log; do
            if [ -s "$f" ]; then
                echo "bench_tls.sh: $f (last 20 lines):" >&2
                tail -n 20 "$f" >&2
            fi
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "bench_tls.sh: $*" >&2
    exit 1
}

# Other users (nginx workers as www-data) may reach the socket, not list.
chmod 0711 "$tmp"

# --- keyholderd -----------------------------------------------------------
mkdir -m 700 "$tmp/state"
daemon_args=(--foreground --socket "$sock" --state-dir "$tmp/state")
[ "$as_root" -eq 1 ] && daemon_args+=(--socket-group www-data)
"$keyholderd" "${daemon_args[@]}" 2>"$daemon_log" &
daemon_pid=$!
ready=0
for _ in $(seq 100); do
    if "$khadmin" --socket "$sock" status >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$daemon_pid" 2>/dev/null || die "keyholderd exited during start-up"
    sleep 0.1
done
[ "$ready" -eq 1 ] || die "keyholderd did not answer on $sock within 10 s"
"$khadmin" --socket "$sock" init --dev >/dev/null 2>&1 ||
    die "khadmin init --dev failed"

# The provider configuration nginx and openssl use for held keys, and one
# with the default provider only for the file keys.
cat >"$tmp/openssl-held.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
keyholder = keyholder_sect
[default_sect]
activate = 1
[keyholder_sect]
module = $provider_so
socket = $sock
activate = 1
CNF
cat >"$tmp/openssl-file.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
[default_sect]
activate = 1
CNF

# --- keys and certificates ------------------------------------------------
# tag: ec:P-256 -> ec-p-256, a name for files and keys
tag_of() {
    echo "$1" | tr 'A-Z:' 'a-z-'
}

# make_cert KEYSPEC CNF OUT: a self-signed certificate for 127.0.0.1.
make_cert() {
    OPENSSL_CONF=$2 openssl req -new -x509 -key "$1" -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -out "$3" 2>"$tmp/openssl.err" ||
        die "openssl req -key $1 failed: $(cat "$tmp/openssl.err")"
}

mkdir "$tmp/keys"
allow=()
[ "$as_root" -eq 1 ] && allow=(--allow-group www-data)
for t in "${types[@]}"; do
    tag=$(tag_of "$t")
    name="bench-tls-$tag"
    "$khadmin" --socket "$sock" key generate "$name" --type "$t" \
        --audit batched ${allow[@]+"${allow[@]}"} >/dev/null ||
        die "khadmin key generate $name --type $t failed"
    "$khadmin" --socket "$sock" key ref "$name" >"$tmp/keys/held-$tag.key"
    make_cert "keyholder:$name" "$tmp/openssl-held.cnf" \
        "$tmp/keys/held-$tag.crt"
    # shellcheck disable=SC2086 # genpkey_args holds several words
    OPENSSL_CONF="$tmp/openssl-file.cnf" openssl genpkey \
        ${genpkey_args[$t]} -out "$tmp/keys/file-$tag.key" \
        2>"$tmp/openssl.err" ||
        die "openssl genpkey ($t) failed: $(cat "$tmp/openssl.err")"
    make_cert "$tmp/keys/file-$tag.key" "$tmp/openssl-file.cnf" \
        "$tmp/keys/file-$tag.crt"
done
chmod 0644 "$tmp"/keys/*.crt

# --- nginx ----------------------------------------------------------------
# free_ports N: N distinct TCP ports on 127.0.0.1 that nothing listens on.
free_ports() {
    python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

declare -A port
read -r -a ports <<<"$(free_ports $((2 * ${#types[@]})))"
[ "${#ports[@]}" -eq $((2 * ${#types[@]})) ] || die "no free TCP ports"
# start_nginx KIND: one nginx, 2 workers, a server block per key type.
start_nginx() {
    local kind=$1 dir="$tmp/nginx-$1" conf t tag pid p
    mkdir -p "$dir"
    conf="$dir/nginx.conf"
    {
        echo "daemon off;"
        echo "master_process on;"
        echo "worker_processes 2;"
        [ "$as_root" -eq 1 ] && echo "user www-data;"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/error.log warn;"
        echo "env OPENSSL_CONF;"
        echo "events { worker_connections 1024; }"
        echo "http {"
        echo "    access_log off;"
        for p in client_body proxy fastcgi uwsgi scgi; do
            echo "    ${p}_temp_path $dir/$p;"
        done
        echo "    ssl_protocols TLSv1.2 TLSv1.3;"
        echo "    ssl_ciphers HIGH:!aNULL:!kRSA;"
        echo "    ssl_session_cache off;"
        echo "    ssl_session_tickets off;"
        for t in "${types[@]}"; do
            tag=$(tag_of "$t")
            port[$kind-$t]=${ports[0]}
            ports=("${ports[@]:1}")
            echo "    server {"
            echo "        listen 127.0.0.1:${port[$kind-$t]} ssl;"
            echo "        ssl_certificate $tmp/keys/$kind-$tag.crt;"
            echo "        ssl_certificate_key $tmp/keys/$kind-$tag.key;"
            printf '        location / { return 200 "ok\\n"; }\n'
            echo "    }"
        done
        echo "}"
    } >"$conf"
    OPENSSL_CONF="$tmp/openssl-$kind.cnf" "$nginx" -e "$dir/error.log" \
        -p "$dir/" -c "$conf" 2>"$dir/stderr.log" &
    pid=$!
    nginx_pids+=("$pid")
    # Ready once every server answers one handshake (10 s at most).
    for t in "${types[@]}"; do
        for i in $(seq 100); do
            if OPENSSL_CONF="$tmp/openssl-file.cnf" "$tls_load" \
                --connect "127.0.0.1:${port[$kind-$t]}" \
                --cafile "$tmp/keys/$kind-$(tag_of "$t").crt" \
                --handshakes 1 --quiet --timeout-ms 2000 >/dev/null 2>&1; then
                break
            fi
            kill -0 "$pid" 2>/dev/null || die "nginx ($kind) exited at start"
            [ "$i" -lt 100 ] || die "nginx ($kind) $t: no handshake in 10 s"
            sleep 0.1
        done
    done
}

start_nginx held
start_nginx file

# --- measurements ---------------------------------------------------------
# Server CPU: utime + stime (clock ticks) of a process and its threads.
cpu_ticks() {
    local sum=0 pid
    for pid in "$@"; do
        sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$sum"
}

# children_of PID: the worker processes of an nginx master.
children_of() {
    awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null
}

declare -A server_pids
server_pids[held]="$(children_of "${nginx_pids[0]}") $daemon_pid"
server_pids[file]="$(children_of "${nginx_pids[1]}")"
for k in held file; do
    n=$(echo "${server_pids[$k]}" | wc -w)
    [ "$n" -ge 2 ] || die "nginx ($k): workers not found"
done
hz=$(getconf CLK_TCK)
tick_us=$((1000000 / hz))
ncpu=$(nproc)

# busy_ticks: CPU time of the whole machine that was not idle (/proc/stat).
busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

failed=0
noisy=0
other_max=0
declare -A sum cpu_us passed_sum n_runs type_failed

# run_load KIND TYPE SECONDS|-: runs tls_load (- = warm-up: every worker
# makes its first connections), prints its result and adds it up.
run_load() {
    local kind=$1 t=$2 secs=$3 out rc=0 rate pf passed c0 c1 b0 b1 per
    local info cli other
    local args=(--connect "127.0.0.1:${port[$kind-$t]}"
                --cafile "$tmp/keys/$kind-$(tag_of "$t").crt"
                --servername 127.0.0.1 --threads "$threads" --tls1.3)
    if [ "$secs" = - ]; then
        args+=(--handshakes 200 --quiet)
    else
        args+=(--seconds "$secs")
    fi
    b0=$(busy_ticks)
    # shellcheck disable=SC2086 # server_pids holds several pids
    c0=$(cpu_ticks ${server_pids[$kind]})
    # The client never loads keyholder.so, whatever the caller exported.
    out=$(OPENSSL_CONF="$tmp/openssl-file.cnf" "$tls_load" "${args[@]}" \
        2>"$tmp/tls_load.err") || rc=$?
    # shellcheck disable=SC2086
    c1=$(cpu_ticks ${server_pids[$kind]})
    b1=$(busy_ticks)
    pf=$(echo "$out" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
        failed=1
        type_failed[$t]=1
        echo "bench_tls.sh: $kind $t: tls_load exited $rc: $pf" >&2
        sed 's/^/    /' "$tmp/tls_load.err" >&2
    fi
    [ "$secs" = - ] && return 0
    rate=$(echo "$out" | awk '/^handshakes\/s / { print $2 }')
    passed=$(echo "$pf" | awk '/ passed, / { print $1 }')
    rate=${rate:-0}
    passed=${passed:-0}
    # p50 p99 protocol signature group client-us, by keyword
    info=$(echo "$out" | awk '/^handshakes\/s / {
        p50 = p99 = pr = sg = gr = cl = "-"
        for (i = 1; i < NF; i++) {
            if ($i == "p50") p50 = $(i + 1)
            if ($i == "p99") p99 = $(i + 1)
            if ($i ~ /^TLSv/) { pr = $i; sg = $(i + 1) }
            if ($i == "group") gr = $(i + 1)
            if ($i == "client-cpu") cl = $(i + 1)
        }
        print p50, p99, pr, sg, gr, cl }')
    cli=$(echo "$info" | awk '{ print $6 }')
    [[ "$cli" =~ ^[0-9]+$ ]] || cli=0
    per=-
    [ "$passed" -gt 0 ] && per=$(( (c1 - c0) * tick_us / passed ))
    # What else ran: busy CPU minus server and client, in % of all CPUs.
    other=$(awk -v b=$((b1 - b0)) -v s=$((c1 - c0)) -v c="$cli" \
        -v n="$passed" -v hz="$hz" -v secs="$secs" -v ncpu="$ncpu" \
        'BEGIN { o = (b - s - c * n * hz / 1e6) / (secs * hz * ncpu) * 100
                 printf "%.0f", o < 0 ? 0 : o }')
    if [ "$other" -gt "$other_max" ]; then
        other_max=$other
    fi
    [ "$other" -gt 10 ] && noisy=1
    echo "$info" | awk -v t="$t" -v k="$kind" -v r="$rate" -v s="$per" \
        -v o="$other" '{
        printf "%-8s %-4s %7.1f %6s %6s %5s%% %6s %6s  %s %s %s\n",
            t, k, r, s, $6, o, $1, $2, $3, $4, $5 }'
    sum[$kind-$t]=$(awk -v a="${sum[$kind-$t]:-0}" -v b="$rate" \
        'BEGIN { print a + b }')
    cpu_us[$kind-$t]=$(( ${cpu_us[$kind-$t]:-0} + (c1 - c0) * tick_us ))
    passed_sum[$kind-$t]=$(( ${passed_sum[$kind-$t]:-0} + passed ))
    n_runs[$kind-$t]=$(( ${n_runs[$kind-$t]:-0} + 1 ))
}

nginx_ver=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')
echo "bench_tls: $ncpu CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "$nginx_ver, 2 workers; $(openssl version | cut -d' ' -f1-2)"
echo "tls_load: $threads threads, TLS 1.3, full handshakes + GET /," \
     "${seconds} s per run, $rounds held/file pairs per type (alternating)"
echo
echo "type     key     hs/s srv-us cli-us other p50-ms p99-ms  protocol" \
     "signature group"
for t in "${types[@]}"; do
    run_load held "$t" -
    run_load file "$t" -
done
for t in "${types[@]}"; do
    # held, file, file, held, ...: a steady drift of the machine's speed
    # cancels out of the averages.
    for r in $(seq "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then
            run_load held "$t" "$seconds"
            run_load file "$t" "$seconds"
        else
            run_load file "$t" "$seconds"
            run_load held "$t" "$seconds"
        fi
    done
done

echo
echo "srv-us: server CPU per handshake (us): nginx workers, plus keyholderd"
echo "for held keys. cli-us: tls_load's CPU per handshake. other: CPU of"
echo "everything else, in % of all CPUs (above 10% the run is disturbed)."
echo "cpu-ratio = file srv-us / held srv-us: what hs/s held/file tends to"
echo "when the server has its CPUs to itself and is the bottleneck."
echo
echo "ratio held/file full TLS handshakes/s (goal: DESIGN.md, >= $goal)"
printf '%-9s %9s %9s %7s %7s %8s %8s %9s  %s\n' type held/s file/s \
    held-us file-us ratio goal cpu-ratio verdict
for t in "${types[@]}"; do
    awk -v t="$t" -v h="${sum[held-$t]:-0}" -v nh="${n_runs[held-$t]:-1}" \
        -v f="${sum[file-$t]:-0}" -v nf="${n_runs[file-$t]:-1}" \
        -v hc="${cpu_us[held-$t]:-0}" -v hp="${passed_sum[held-$t]:-0}" \
        -v fc="${cpu_us[file-$t]:-0}" -v fp="${passed_sum[file-$t]:-0}" \
        -v goal="$goal" -v bad="${type_failed[$t]:-0}" 'BEGIN {
        h /= nh; f /= nf
        r = f > 0 ? h / f : 0
        hu = hp > 0 ? hc / hp : 0
        fu = fp > 0 ? fc / fp : 0
        cr = hu > 0 ? fu / hu : 0
        verdict = (r >= goal) ? "meets goal" : "MISSES goal"
        if (bad) verdict = "INVALID (handshakes failed)"
        printf "%-9s %9.1f %9.1f %7.0f %7.0f %8.3f %8s %9.3f  %s\n", \
            t, h, f, hu, fu, r, (">=" goal), cr, verdict
    }'
done
if [ "$noisy" -ne 0 ]; then
    echo "note: other processes used up to ${other_max}% of the CPUs during" \
         "some runs; rerun on a quiet machine before trusting hs/s (srv-us" \
         "is less affected)"
fi
if [ "$failed" -ne 0 ]; then
    echo "bench_tls.sh: some handshakes failed (see above)" >&2
    exit 1
fi
