#!/usr/bin/env bash
# Gap scan over a generated index of 1,000,000 keys (issue target: < 10 s,
# peak RSS < 64 MiB).  usage: bench/bench_gap.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${BENCH_GAP_KEYS:-1000000}
W=$(mktemp -d /var/tmp/graviton-bench-gap.XXXXXX)
trap 'rm -rf "$W"' EXIT
cmake --build "$BUILD" --target bench_gen_index bench_gap_scan >/dev/null
echo "== gap scan over $N keys (generated index in $W)"
"$BUILD/bench_gen_index" -g 15 "$W/index.db" "$N" >/dev/null
"$BUILD/bench_gap_scan" "$W/index.db" 100
