#!/usr/bin/env bash
# Verified reads of a blob with a block table (docs/integrity.md).  Prints,
# does not judge.
#   1. Full verified GET (HTTP, curl -o /dev/null, and the CLI `get -o
#      FILE`) against `openssl dgst -sha256` of the replica file: ratio
#      openssl/get, target >= 0.9.  Page cache warm for both.
#   2. 4 KiB Range GETs at random offsets of the same blob over one
#      keep-alive connection: median and p99 time per request (target
#      < 2 ms warm) and the bytes the server read per request (one block:
#      1 MiB by default).
# usage: bench/bench_verify.sh BUILD_DIR
#   BENCH_DIR=...                 parent of the scratch directory (/var/tmp)
#   BENCH_VERIFY_MIB=1024         blob size
#   BENCH_VERIFY_ROUNDS=3         rounds of the full reads (best kept)
#   BENCH_VERIFY_RANGES=200       4 KiB range requests
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
GV=$BUILD/graviton
MIB=${BENCH_VERIFY_MIB:-1024}
ROUNDS=${BENCH_VERIFY_ROUNDS:-3}
NRANGES=${BENCH_VERIFY_RANGES:-200}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-verify.XXXXXX")
SRV_PID=
trap '[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; rm -rf "$W"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mibs() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.0f", m / s }'; }

# One replica is enough to measure a read; no token for curl.
cat >"$W/bench.conf" <<CONF
graviton.server.auth = off
graviton.replication { factor = 1, min-replicas = 1, strategy = simple }
CONF
G() { "$GV" -q --data-dir "$W/d" --config "$W/bench.conf" "$@"; }
G init --sectors 1 >/dev/null
{ openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:bench -in /dev/zero 2>/dev/null || true; } |
	head -c $((MIB << 20)) >"$W/blob"
KEY=$(G put "$W/blob")
rm -f "$W/blob"
HEX=${KEY#sha256:}
HEX=${HEX%%:*}
FILE=$(find "$W/d/sectors" -type f -name "$HEX-*" | head -n 1)
[ -n "$FILE" ] || { echo "bench_verify: replica file not found" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=http://127.0.0.1:$port
# (not through G: $! must be the server, whose /proc/PID/io is read below)
"$GV" -q --data-dir "$W/d" --config "$W/bench.conf" serve --listen "127.0.0.1:$port" \
	>>"$W/serve.log" 2>&1 </dev/null &
SRV_PID=$!
for ((i = 0; i < 300; i++)); do
	curl -sf "$URL/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "== verified reads of a $MIB MiB blob (block table, 1 MiB blocks)"
cat "$FILE" >/dev/null
floor= http= cli=
for ((r = 0; r < ROUNDS; r++)); do
	t=$(now); openssl dgst -sha256 "$FILE" >/dev/null; floor=$(min "$(since "$t")" "$floor")
	t=$(now); curl -sf -o /dev/null "$URL/v1/blobs/$KEY"; http=$(min "$(since "$t")" "$http")
	t=$(now); G get "$KEY" -o "$W/out"; cli=$(min "$(since "$t")" "$cli")
	rm -f "$W/out"
done
echo "  openssl dgst -sha256 FILE:    $floor s   $(mibs "$MIB" "$floor") MiB/s"
echo "  HTTP GET (curl -o /dev/null): $http s   $(mibs "$MIB" "$http") MiB/s   ratio $(ratio "$floor" "$http") (target >= 0.9)"
echo "  graviton get -o FILE:         $cli s   $(mibs "$MIB" "$cli") MiB/s   ratio $(ratio "$floor" "$cli")"

# 4 KiB ranges at random offsets, one connection; rchar of the server
# tells the bytes it read.
args=()
for ((i = 0; i < NRANGES; i++)); do
	a=$(( (RANDOM * 32768 + RANDOM) % ((MIB << 20) - 4096) ))
	[ "$i" = 0 ] || args+=(--next)
	args+=(-s -w '%{time_total}\n' -H "Range: bytes=$a-$((a + 4095))" -o /dev/null "$URL/v1/blobs/$KEY")
done
rchar0=$(awk '/^rchar/ { print $2 }' "/proc/$SRV_PID/io")
curl "${args[@]}" >"$W/times"
rchar1=$(awk '/^rchar/ { print $2 }' "/proc/$SRV_PID/io")
sort -n "$W/times" | awk -v n="$NRANGES" -v rb=$((rchar1 - rchar0)) '
	{ t[NR] = $1 }
	END {
		p = int(n * 0.99) + 1
		if (p > n)
			p = n
		printf "  4 KiB Range GET:              median %.2f ms, p99 %.2f ms (target < 2 ms), server read %.2f MiB per request\n",
		       t[int(n / 2) + 1] * 1000, t[p] * 1000, rb / n / 1048576
	}'
