#!/bin/bash
# Quick start, command 2: install what is missing, build, and run every
# test twice: a normal build and an AddressSanitizer+UBSan build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/deps.sh"

run_suite() {
    local dir=$1
    shift
    echo "== build $dir $*"
    mkdir -p "$dir"
    "$ROOT/scripts/build.sh" "$dir" "$@" >"$dir.build.log" 2>&1 || {
        cat "$dir.build.log"
        echo "== build failed" >&2
        exit 1
    }
    echo "== test $dir"
    (cd "$dir" && ctest --output-on-failure -j2 --timeout 900)
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "$ROOT/build"
run_suite "$ROOT/build-asan" -DKH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== all tests passed in both builds"
