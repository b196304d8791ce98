#!/bin/bash
# run_bench.sh - starts a throw-away keyholderd, initializes it (--dev) and
# runs bench_sign against it. See README.md.
#
#   run_bench.sh [--build DIR] [bench_sign options...]
#
# --build DIR: the CMake build directory (default <repo>/build). Binaries:
#   $KEYHOLDERD (default DIR/keystore/keyholderd), $KHADMIN (default
#   DIR/admin/khadmin), $BENCH_SIGN (default DIR/tests/bench/bench_sign).
# Every other argument goes to bench_sign, e.g. --seconds 1,
# --types rsa:2048,rsa:4096, --json out.json.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
build="$repo/build"
bench_args=()

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
    --build)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        build=$2
        shift 2
        ;;
    --build=*)
        build=${1#--build=}
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        bench_args+=("$1")
        shift
        ;;
    esac
done

keyholderd=${KEYHOLDERD:-$build/keystore/keyholderd}
khadmin=${KHADMIN:-$build/admin/khadmin}
bench_sign=${BENCH_SIGN:-$build/tests/bench/bench_sign}
for bin in "$keyholderd" "$khadmin" "$bench_sign"; do
    if [ ! -x "$bin" ]; then
        echo "run_bench.sh: $bin not found; build first:" \
             "cmake -B build -S . && cmake --build build" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kh-bench.XXXXXX")
sock="$tmp/keyholder.sock"
log="$tmp/keyholderd.log"
daemon_pid=

cleanup() {
    local rc=$?

    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$log" ]; then
        echo "run_bench.sh: keyholderd log (last 20 lines):" >&2
        tail -n 20 "$log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -m 700 "$tmp/state"
"$keyholderd" --foreground --socket "$sock" --state-dir "$tmp/state" \
    2>"$log" &
daemon_pid=$!

# Wait up to 10 s for the daemon to answer.
ready=0
for _ in $(seq 100); do
    if "$khadmin" --socket "$sock" status >/dev/null 2>&1; then
        ready=1
        break
    fi
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "run_bench.sh: keyholderd exited during start-up" >&2
        exit 1
    fi
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    echo "run_bench.sh: keyholderd did not answer on $sock within 10 s" >&2
    exit 1
fi

"$khadmin" --socket "$sock" init --dev >/dev/null
"$bench_sign" --socket "$sock" ${bench_args[@]+"${bench_args[@]}"}
