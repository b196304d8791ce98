#!/bin/bash
# scripts/build.sh [DIR [cmake args...]]: configure and build into DIR
# (default build/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build}
shift || true
cmake -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$DIR" -j"$(nproc)"
