#!/usr/bin/env bash
# HTTP benchmark: `graviton serve` on a loopback port.  Prints, does not judge.
#   1. PUT of 64 MiB blobs (curl -T, streamed) against the CLI's in-process
#      `graviton put` of the same files into a data directory of the same
#      layout (6 sectors, 3 racks, factor 3).  Ratio cli/http time, target
#      >= 0.80.
#   2. GET of the same blobs (curl -o /dev/null; verified while streaming)
#      against the in-process verified read, `graviton get KEY -o FILE` and
#      `graviton get KEY > /dev/null`.  Ratio, target >= 0.80.
#   3. 4 KiB GETs with wrk (bench/http_keys.lua cycles through the keys),
#      closed loop at 8, 16, 32 and 64 connections: requests/s (target
#      >= 10,000) and p99 latency (target < 5 ms).  In a closed loop the
#      mean latency is connections / throughput, so once the server is
#      saturated the p99 grows with the connection count.
# Each timed figure is the best of BENCH_HTTP_ROUNDS rounds; the page cache
# is warm for both sides alike (the sources and replicas were just written).
#
# usage: bench/bench_http.sh BUILD_DIR
#   BENCH_DIR=...                  parent of the scratch directory (/var/tmp)
#   BENCH_HTTP_BLOBS=4             big blobs per round
#   BENCH_HTTP_BLOB_MIB=64         size of each
#   BENCH_HTTP_ROUNDS=3            rounds of the PUT and GET measurements
#   BENCH_HTTP_SMALL=1000          4 KiB blobs for wrk
#   BENCH_HTTP_WRK_SECONDS=10      wrk duration
#   BENCH_HTTP_WRK_THREADS=2       wrk threads
#   BENCH_HTTP_WRK_CONNS="8 16 32 64"  wrk connection counts, one run each
#   BENCH_HTTP_VERBOSE=1           show wrk's own output
# wrk comes from the Debian package of that name, installed when missing.
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
NBLOBS=${BENCH_HTTP_BLOBS:-4}
BLOB_MIB=${BENCH_HTTP_BLOB_MIB:-64}
ROUNDS=${BENCH_HTTP_ROUNDS:-3}
NSMALL=${BENCH_HTTP_SMALL:-1000}
WRK_SECS=${BENCH_HTTP_WRK_SECONDS:-10}
WRK_THREADS=${BENCH_HTTP_WRK_THREADS:-2}
WRK_CONNS=${BENCH_HTTP_WRK_CONNS:-8 16 32 64}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-http.XXXXXX")
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

if ! command -v wrk >/dev/null 2>&1; then
	echo "bench_http: installing wrk (Debian package)" >&2
	if ! { apt-get install -y -q wrk >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; }; }; then
		echo "bench_http: cannot install wrk; the 4 KiB figures will be missing" >&2
	fi
fi
command -v curl >/dev/null || { echo "bench_http: curl is needed" >&2; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mibs() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.0f", m / s }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server DIR: `graviton serve` on DIR (default layout), URL in $URL.
start_server() {
	local i port

	port=$(free_port)
	URL=http://127.0.0.1:$port
	# Without a token, so that curl, wrk and the Python clients need none
	# (a token check costs a header lookup and a constant-time compare).
	printf 'graviton.server.auth = off\n' >"$W/bench.conf"
	"$GV" --data-dir "$1" --config "$W/bench.conf" serve --listen "127.0.0.1:$port" \
		>>"$W/serve.log" 2>&1 </dev/null &
	SRV_PID=$!
	for ((i = 0; i < 300; i++)); do
		curl -sf "$URL/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench_http: the server did not start:" >&2
	tail -n 5 "$W/serve.log" >&2
	exit 1
}

stop_server() {
	kill "$SRV_PID"
	wait "$SRV_PID" || { echo "bench_http: the server exited non-zero" >&2; exit 1; }
	SRV_PID=
}

echo "== HTTP: $NBLOBS x $BLOB_MIB MiB blobs, factor 3, best of $ROUNDS (scratch: $W)"
for ((i = 0; i < NBLOBS; i++)); do
	# (openssl dies of SIGPIPE once head has its bytes)
	{ openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:bench$i$RANDOM" -in /dev/zero 2>/dev/null ||
		true; } | head -c $((BLOB_MIB * 1048576)) >"$W/blob.$i"
	sha256sum <"$W/blob.$i" | awk -v n=$((BLOB_MIB * 1048576)) '{ print "sha256:" $1 ":" n }' >"$W/key.$i"
done
cat "$W"/blob.* >/dev/null
TOTAL_MIB=$((NBLOBS * BLOB_MIB))

best_cli_put='' best_http_put='' best_cli_get='' best_cli_getnull='' best_http_get=''
for ((r = 1; r <= ROUNDS; r++)); do
	rm -rf "$W/cli" "$W/srv"
	"$GV" -q --data-dir "$W/cli" init --sectors 6 --racks 3 --zones 3
	start_server "$W/srv"
	sync

	t=$(now)
	for ((i = 0; i < NBLOBS; i++)); do
		k=$("$GV" --data-dir "$W/cli" put "$W/blob.$i")
		[ "$k" = "$(cat "$W/key.$i")" ] || { echo "bench_http: cli put gave $k" >&2; exit 1; }
	done
	cli_put=$(since "$t")
	sync

	t=$(now)
	for ((i = 0; i < NBLOBS; i++)); do
		out=$(curl -sS -f -H 'Expect:' -T "$W/blob.$i" "$URL/v1/blobs")
		case $out in
		*"\"key\":\"$(cat "$W/key.$i")\""*) ;;
		*) echo "bench_http: http put answered: $out" >&2; exit 1 ;;
		esac
	done
	http_put=$(since "$t")
	sync

	t=$(now)
	for ((i = 0; i < NBLOBS; i++)); do
		"$GV" --data-dir "$W/cli" get "$(cat "$W/key.$i")" -o "$W/out"
		rm -f "$W/out"
	done
	cli_get=$(since "$t")

	t=$(now)
	for ((i = 0; i < NBLOBS; i++)); do
		"$GV" --data-dir "$W/cli" get "$(cat "$W/key.$i")" >/dev/null
	done
	cli_getnull=$(since "$t")

	t=$(now)
	for ((i = 0; i < NBLOBS; i++)); do
		curl -sS -f -o /dev/null "$URL/v1/blobs/$(cat "$W/key.$i")"
	done
	http_get=$(since "$t")

	if [ "$r" = 1 ]; then
		curl -sS -f -o "$W/out" "$URL/v1/blobs/$(cat "$W/key.0")"
		cmp "$W/blob.0" "$W/out" || { echo "bench_http: GET returned wrong bytes" >&2; exit 1; }
		rm -f "$W/out"
	fi
	stop_server
	echo "  round $r: put cli $cli_put s, http $http_put s; get cli -o $cli_get s, cli >null $cli_getnull s, http $http_get s"
	best_cli_put=$(min "$cli_put" "$best_cli_put")
	best_http_put=$(min "$http_put" "$best_http_put")
	best_cli_get=$(min "$cli_get" "$best_cli_get")
	best_cli_getnull=$(min "$cli_getnull" "$best_cli_getnull")
	best_http_get=$(min "$http_get" "$best_http_get")
done
rm -rf "$W/cli"

echo "  graviton put (in-process):      $best_cli_put s  $(mibs $TOTAL_MIB "$best_cli_put") MiB/s"
echo "  HTTP PUT (curl -T):             $best_http_put s  $(mibs $TOTAL_MIB "$best_http_put") MiB/s   ratio $(ratio "$best_cli_put" "$best_http_put") (target >= 0.80)"
echo "  graviton get -o FILE:           $best_cli_get s  $(mibs $TOTAL_MIB "$best_cli_get") MiB/s"
echo "  graviton get > /dev/null:       $best_cli_getnull s  $(mibs $TOTAL_MIB "$best_cli_getnull") MiB/s"
echo "  HTTP GET (curl -o /dev/null):   $best_http_get s  $(mibs $TOTAL_MIB "$best_http_get") MiB/s   ratio $(ratio "$best_cli_get" "$best_http_get") vs get -o, $(ratio "$best_cli_getnull" "$best_http_get") vs get > /dev/null (target >= 0.80)"

echo "== HTTP: 4 KiB GETs, wrk -t$WRK_THREADS -d${WRK_SECS}s over $NSMALL keys, closed loop"
if ! command -v wrk >/dev/null 2>&1; then
	echo "  (wrk missing: skipped)"
	exit 0
fi
rm -rf "$W/srv"
start_server "$W/srv"
python3 - "$URL" "$NSMALL" "$W/small.keys" <<'EOF'
import hashlib, http.client, os, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
with open(sys.argv[3], "w") as f:
    for i in range(int(sys.argv[2])):
        data = os.urandom(4096)
        c.request("PUT", "/v1/blobs", body=data)
        r = c.getresponse()
        r.read()
        if r.status != 201:
            sys.exit("bench_http: PUT answered %d" % r.status)
        f.write("sha256:%s:4096\n" % hashlib.sha256(data).hexdigest())
EOF
# wrk prints latencies as 123.45us, 1.23ms, 1.02s
pct() {
	awk -v p="$1" '$1 == p {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
		printf "%.2f", v }' "$W/wrk.out"
}
# a short warm-up, then one measured run per connection count
wrk -t"$WRK_THREADS" -c16 -d2s -s "$HERE/http_keys.lua" "$URL" -- "$W/small.keys" >/dev/null
for conns in $WRK_CONNS; do
	wrk -t"$WRK_THREADS" -c"$conns" -d"${WRK_SECS}s" --latency -s "$HERE/http_keys.lua" "$URL" \
		-- "$W/small.keys" >"$W/wrk.out"
	if [ "${BENCH_HTTP_VERBOSE:-0}" = 1 ]; then sed 's/^/  | /' "$W/wrk.out"; fi
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$W/wrk.out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { printf "non-2xx %s ", $NF }
		/Socket errors:/ { $1 = $2 = ""; printf "socket%s", $0 }' "$W/wrk.out")
	printf '  -c %-3s %6s requests/s (target >= 10000)   p50 %s ms, p99 %s ms (target < 5)%s\n' \
		"$conns" "$rps" "$(pct 50%)" "$(pct 99%)" "${bad:+   errors: $bad}"
done
stop_server
