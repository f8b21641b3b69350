#!/usr/bin/env bash
# One big PUT over HTTP against three parallel `dd conv=fsync` of the same
# bytes, in the same run: factor 3 (min-replicas 2) on three sectors of one
# disk, so both sides write the blob three times to the same device.
# Rounds alternate dd and graviton; the median of each is printed, with
# the load average (the machine may be shared).
#
# usage: bench/bench_put_big.sh BUILD_DIR
#   BENCH_DIR=...              parent of the scratch directory (/var/tmp)
#   BENCH_BIG_MIB=256          blob size
#   BENCH_BIG_ROUNDS=5         rounds
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
GV=$BUILD/graviton
MIB=${BENCH_BIG_MIB:-256}
ROUNDS=${BENCH_BIG_ROUNDS:-5}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-big.XXXXXX")
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

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== HTTP: PUT of $MIB MiB, factor 3 on 3 sectors of one disk, vs 3 parallel dd conv=fsync, median of $ROUNDS"
head -c $((MIB * 1048576)) /dev/urandom >"$W/blob"
printf 'graviton.server.auth = off\n' >"$W/bench.conf"
: >"$W/dd.t"
: >"$W/put.t"
for ((r = 1; r <= ROUNDS; r++)); do
	sync
	t0=$(now)
	for i in 1 2 3; do
		dd if="$W/blob" of="$W/out.$i" bs=1M conv=fsync status=none &
	done
	wait
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >>"$W/dd.t"
	rm -f "$W"/out.?

	rm -rf "$W/data"
	"$GV" -q --data-dir "$W/data" init --sectors 3 --racks 3 --zones 3
	port=$(free_port)
	"$GV" --data-dir "$W/data" --config "$W/bench.conf" serve --listen "127.0.0.1:$port" \
		>>"$W/serve.log" 2>&1 </dev/null &
	SRV_PID=$!
	for ((i = 0; i < 300; i++)); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	sync
	t0=$(now)
	curl -sf -T "$W/blob" "http://127.0.0.1:$port/v1/blobs" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >>"$W/put.t"
	kill "$SRV_PID"
	wait "$SRV_PID" || { echo "bench_put_big: the server exited non-zero" >&2; exit 1; }
	SRV_PID=
	echo "  round $r: dd $(tail -n 1 "$W/dd.t") s, put $(tail -n 1 "$W/put.t") s, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
dd_s=$(median <"$W/dd.t")
put_s=$(median <"$W/put.t")
echo "  floor 3x dd conv=fsync: $dd_s s   graviton PUT: $put_s s   ratio $(awk -v a="$dd_s" -v b="$put_s" 'BEGIN { printf "%.2f", a / b }') (target >= 0.90)"
