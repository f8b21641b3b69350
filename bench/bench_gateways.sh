#!/usr/bin/env bash
# Several gateways on one PostgreSQL index (docs/postgresql.md), on a
# throwaway server (tests/pg.sh, fsync on, on the same disk):
#
# 1. The gap scan over 1,000,000 keys with the index in PostgreSQL (issue
#    target: < 10 s, peak RSS of the scanning process < 64 MiB): the index
#    bench_gen_index makes is copied into PostgreSQL with COPY, then
#    bench_gap_scan walks it in batches of 100 and of 1000.
# 2. 4 KiB PUTs from 8 clients (wrk, bench/http_put.lua) through one
#    gateway, then through two sharing the index and six sectors (4
#    clients each, at the same time), rounds alternating on a fresh schema
#    and fresh sectors; prints the medians and their ratio (target: two >=
#    1.6x one).  Both gateways, PostgreSQL and wrk share this machine's
#    cores: on a small machine that caps the ratio, not the design.
#
# Prints, judges nothing.
# usage: bench/bench_gateways.sh BUILD_DIR
#   BENCH_DIR=...              parent of the scratch directory (/var/tmp)
#   BENCH_GAP_KEYS=1000000     keys of the gap scan
#   BENCH_GW_SECONDS=10        wrk duration per round
#   BENCH_GW_ROUNDS=3          rounds of each
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
N=${BENCH_GAP_KEYS:-1000000}
SECS=${BENCH_GW_SECONDS:-10}
ROUNDS=${BENCH_GW_ROUNDS:-3}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-gw.XXXXXX")
PIDS=()
unset GRAVITON_DATA_DIR GRAVITON_TOKEN GRAVITON_INDEX

. "$HERE/../tests/pg.sh"
cleanup() {
	local p

	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pg_stop
	rm -rf "$W"
}
trap cleanup EXIT
[ "${BENCH_KEEP:-0}" = 1 ] && trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; pg_stop; echo "kept $W"' EXIT

PG_FSYNC=on pg_start "$W/pg" >/dev/null || { echo "  (no PostgreSQL server: skipped)"; exit 0; }
URL=$GV_TEST_PG_URL
chmod o+rx "$W" # the server's user reads the COPY files
psql_c() { _pg_as "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d graviton "$@"; }
fresh_schema() {
	pg_sql "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
}

# ---- 1. gap scan --------------------------------------------------------------
cmake --build "$BUILD" --target bench_gen_index bench_gap_scan >/dev/null
echo "== gap scan over $N keys, index in PostgreSQL (scratch: $W)"
"$BUILD/bench_gen_index" -g 15 "$W/index.db" "$N" >/dev/null
"$GV" --index "$URL" --data-dir "$W/gen" -q init --sectors 0 >/dev/null
for t in sectors blobs replicas; do
	case $t in
	sectors) cols="id, kind, path, capacity, used, healthy, rack, zone, state" ;;
	blobs) cols="key, size, created" ;;
	replicas) cols="key, sector, size, ranges, complete, healthy, last_verified,
		CASE WHEN checksum IS NULL THEN NULL ELSE '\\x' || lower(hex(checksum)) END, reason" ;;
	esac
	sqlite3 -csv "$W/index.db" "SELECT $cols FROM $t ORDER BY 1" >"$W/$t.csv"
	chmod o+r "$W/$t.csv"
done
t0=$(date +%s.%N)
psql_c <<EOF
ALTER TABLE replicas DISABLE TRIGGER replicas_used;
\copy sectors FROM '$W/sectors.csv' CSV
\copy blobs FROM '$W/blobs.csv' CSV
\copy replicas (key, sector, size, ranges, complete, healthy, last_verified, checksum, reason) FROM '$W/replicas.csv' CSV
ALTER TABLE replicas ENABLE TRIGGER replicas_used;
VACUUM ANALYZE;
EOF
echo "  loaded in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
rm -f "$W"/*.csv
# Batches of 100 (graviton.replication.repair.batch-size's default) and
# of 1000: each batch is one round trip to the server.
for b in 100 1000; do
	"$BUILD/bench_gap_scan" "$URL" "$b" | sed 's/^/  /'
done

# ---- 2. 4 KiB PUTs: one gateway, then two -------------------------------------
echo "== HTTP: 4 KiB PUTs, 8 clients, wrk -d${SECS}s: one gateway vs two on one PostgreSQL index, median of $ROUNDS"
if ! command -v wrk >/dev/null 2>&1; then
	echo "  (wrk missing: skipped; bench_http.sh installs it)"
	exit 0
fi
printf 'graviton.server.auth = off\n' >"$W/bench.conf"
. "$HERE/put_round.sh" # free_port, median
# gateways N: a fresh schema and six fresh sectors, N gateways on them;
# sets GW_URLS.
gateways() {
	local n=$1 g port i

	fresh_schema
	rm -rf "$W/sectors" "$W"/gw*
	GW_URLS=() PIDS=()
	for ((g = 1; g <= n; g++)); do
		"$GV" --index "$URL" --data-dir "$W/gw$g" -q init --sectors 0 >/dev/null
		if [ "$g" = 1 ]; then
			for i in 1 2 3 4 5 6; do
				"$GV" --index "$URL" --data-dir "$W/gw1" -q sector add "s$i" \
					--path "$W/sectors/s$i" --rack "rack-$(((i - 1) % 3 + 1))" \
					--zone "zone-$(((i - 1) % 3 + 1))" >/dev/null
			done
		fi
		port=$(free_port)
		"$GV" --index "$URL" --data-dir "$W/gw$g" --config "$W/bench.conf" serve \
			--listen "127.0.0.1:$port" >>"$W/serve$g.log" 2>&1 </dev/null &
		PIDS+=($!)
		GW_URLS+=("http://127.0.0.1:$port")
	done
	for u in "${GW_URLS[@]}"; do
		for ((i = 0; i < 300; i++)); do
			curl -sf "$u/healthz" >/dev/null 2>&1 && break
			sleep 0.1
		done
		curl -sf "$u/healthz" >/dev/null || { echo "  no gateway at $u" >&2; exit 1; }
	done
	sync
}
stop_gateways() {
	local p

	for p in "${PIDS[@]}"; do
		kill "$p"
		wait "$p" || { echo "  a gateway exited non-zero" >&2; exit 1; }
	done
	PIDS=()
}
# wrk_rate OUT: requests/s of a wrk output, after checking every PUT passed.
wrk_rate() {
	if grep -q 'Non-2xx or 3xx responses:' "$1"; then
		echo "  PUTs failed: $(grep 'Non-2xx' "$1")" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"
}

one=() two=()
for ((r = 1; r <= ROUNDS; r++)); do
	gateways 1
	wrk -t2 -c8 -d"${SECS}s" -s "$HERE/http_put.lua" "${GW_URLS[0]}" >"$W/wrk1.out"
	stop_gateways
	a=$(wrk_rate "$W/wrk1.out")
	gateways 2
	wrk -t1 -c4 -d"${SECS}s" -s "$HERE/http_put.lua" "${GW_URLS[0]}" >"$W/wrk2a.out" &
	wa=$!
	wrk -t1 -c4 -d"${SECS}s" -s "$HERE/http_put.lua" "${GW_URLS[1]}" >"$W/wrk2b.out"
	wait "$wa"
	stop_gateways
	b=$(($(wrk_rate "$W/wrk2a.out") + $(wrk_rate "$W/wrk2b.out")))
	one+=("$a") two+=("$b")
	echo "  round $r: one gateway $a puts/s, two gateways $b puts/s"
done
m1=$(median "${one[@]}")
m2=$(median "${two[@]}")
echo "  4 KiB PUT x8 on PostgreSQL: two gateways $m2 puts/s, one $m1 puts/s   ratio $(awk -v a="$m2" -v b="$m1" 'BEGIN { printf "%.2f", a / b }') (target >= 1.60; $(nproc) cores shared by the gateways, PostgreSQL and wrk)"
