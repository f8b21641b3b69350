#!/usr/bin/env bash
# 4 KiB PUTs from 8 concurrent clients over HTTP (wrk, bench/http_put.lua)
# through one `graviton serve`, the index on a throwaway PostgreSQL server
# (tests/pg.sh, fsync on, on the same disk) against the same on SQLite:
# same machine, same default layout (6 sectors, factor 3), rounds
# alternating between the two on fresh data directories and a fresh
# schema.  Prints the medians and their ratio against the floor the
# PostgreSQL index promises (>= 0.5x SQLite).  Prints, judges nothing.
#
# usage: bench/bench_pg.sh BUILD_DIR
#   BENCH_DIR=...            parent of the scratch directory (/var/tmp)
#   BENCH_PG_SECONDS=10      wrk duration per round
#   BENCH_PG_ROUNDS=3        rounds per index backend
#   BENCH_PG_CONNS=8         concurrent clients (connections)
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
SECS=${BENCH_PG_SECONDS:-10}
ROUNDS=${BENCH_PG_ROUNDS:-3}
CONNS=${BENCH_PG_CONNS:-8}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-pg.XXXXXX")
SRV_PID=
unset GRAVITON_DATA_DIR GRAVITON_TOKEN GRAVITON_INDEX

. "$HERE/../tests/pg.sh"
cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	pg_stop
	rm -rf "$W"
}
trap cleanup EXIT

echo "== HTTP: 4 KiB PUTs, $CONNS clients, wrk -d${SECS}s, index on PostgreSQL vs SQLite, median of $ROUNDS"
if ! command -v wrk >/dev/null 2>&1; then
	echo "  (wrk missing: skipped; bench_http.sh installs it)"
	exit 0
fi
PG_FSYNC=on pg_start "$W/pg" >/dev/null || { echo "  (no PostgreSQL server: skipped)"; exit 0; }

. "$HERE/put_round.sh"

sq=() pg=()
for ((r = 1; r <= ROUNDS; r++)); do
	s=$(put_round "$GV")
	pg_sql "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
	p=$(put_round "$GV" --index "$GV_TEST_PG_URL")
	sq+=("$s") pg+=("$p")
	echo "  round $r: SQLite $s puts/s, PostgreSQL $p puts/s"
done
ms=$(median "${sq[@]}")
mp=$(median "${pg[@]}")
echo "  4 KiB PUT x$CONNS, one gateway: PostgreSQL $mp puts/s, SQLite $ms puts/s   ratio $(awk -v a="$mp" -v b="$ms" 'BEGIN { printf "%.2f", a / b }') (target >= 0.50)"
