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

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# run_once GRAVITON: one round on a fresh data directory; prints puts/s.
run_once() {
	local gv=$1 port url i rps bad

	rm -rf "$W/data"
	port=$(free_port)
	url=http://127.0.0.1:$port
	# Without a token, so that wrk needs none (see bench_http.sh).
	printf 'graviton.server.auth = off\n' >"$W/bench.conf"
	# A build from before authentication existed knows no such key (and
	# needs none).
	"$gv" config check "$W/bench.conf" >/dev/null 2>&1 || : >"$W/bench.conf"
	"$gv" --data-dir "$W/data" --config "$W/bench.conf" serve --listen "127.0.0.1:$port" \
		>>"$W/serve.log" 2>&1 </dev/null &
	SRV_PID=$!
	for ((i = 0; i < 300; i++)); do
		curl -sf "$url/healthz" >/dev/null 2>&1 && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	curl -sf "$url/healthz" >/dev/null 2>&1 || { echo "bench_put_http: no server" >&2; tail -n 5 "$W/serve.log" >&2; exit 1; }
	sync
	wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$HERE/http_put.lua" "$url" >"$W/wrk.out"
	kill "$SRV_PID"
	wait "$SRV_PID" || { echo "bench_put_http: the server exited non-zero" >&2; exit 1; }
	SRV_PID=
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$W/wrk.out")
	if [ -n "$bad" ]; then
		echo "bench_put_http: $bad PUTs failed" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$W/wrk.out"
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a > b) ? a : b }'; }

best='' best_base=''
for ((r = 1; r <= ROUNDS; r++)); do
	if [ -n "$BASE" ]; then
		b=$(run_once "$BASE")
		best_base=$(max "$b" "$best_base")
	fi
	t=$(run_once "$BUILD/graviton")
	best=$(max "$t" "$best")
	echo "  round $r: $t puts/s${BASE:+, base $b puts/s}"
done
if [ -n "$BASE" ]; then
	echo "  4 KiB PUT x$CONNS: $best puts/s, base $best_base puts/s   ratio $(awk -v a="$best" -v b="$best_base" 'BEGIN { printf "%.2f", a / b }') (target >= 0.90)"
else
	echo "  4 KiB PUT x$CONNS: $best puts/s"
fi
