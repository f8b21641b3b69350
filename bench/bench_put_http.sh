#!/usr/bin/env bash
# 4 KiB PUTs from 8 concurrent clients over HTTP: wrk (bench/http_put.lua,
# a distinct random body per request) against `graviton serve` on a
# loopback port, default layout (6 sectors, factor 3, min-replicas 2).
# Prints puts/s.  Every acknowledged put's index commit is durable (see
# docs/architecture.md, invariant 3), so this is the figure that commit
# cost shows in.
#
# With BENCH_PUT_BASE=/path/to/other/graviton the same load also runs
# against that binary (e.g. a build of the commit before a change),
# alternating rounds on fresh data directories, and the ratio
# this/base is printed (best round of each).
#
# usage: bench/bench_put_http.sh BUILD_DIR
#   BENCH_DIR=...                  parent of the scratch directory (/var/tmp)
#   BENCH_PUT_SECONDS=10           wrk duration per round
#   BENCH_PUT_ROUNDS=2             rounds (per binary)
#   BENCH_PUT_CONNS=8              concurrent clients (connections)
#   BENCH_PUT_BASE=...             a graviton binary to compare against
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${BENCH_PUT_SECONDS:-10}
ROUNDS=${BENCH_PUT_ROUNDS:-2}
CONNS=${BENCH_PUT_CONNS:-8}
BASE=${BENCH_PUT_BASE:-}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-put.XXXXXX")
SRV_PID=

cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	rm -rf "$W"
}
trap cleanup EXIT
unset GRAVITON_DATA_DIR GRAVITON_TOKEN

echo "== HTTP: 4 KiB PUTs, $CONNS clients, wrk -d${SECS}s, best of $ROUNDS"
if ! command -v wrk >/dev/null 2>&1; then
	echo "  (wrk missing: skipped; bench_http.sh installs it)"
	exit 0
fi

. "$HERE/put_round.sh"

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a > b) ? a : b }'; }

best='' best_base=''
for ((r = 1; r <= ROUNDS; r++)); do
	if [ -n "$BASE" ]; then
		b=$(put_round "$BASE")
		best_base=$(max "$b" "$best_base")
	fi
	t=$(put_round "$BUILD/graviton")
	best=$(max "$t" "$best")
	echo "  round $r: $t puts/s${BASE:+, base $b puts/s}"
done
if [ -n "$BASE" ]; then
	echo "  4 KiB PUT x$CONNS: $best puts/s, base $best_base puts/s   ratio $(awk -v a="$best" -v b="$best_base" 'BEGIN { printf "%.2f", a / b }') (target >= 0.90)"
else
	echo "  4 KiB PUT x$CONNS: $best puts/s"
fi
