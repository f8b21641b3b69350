#!/usr/bin/env bash
# The S3 front door against the native API on one loopback server (default
# layout: 6 sectors, factor 3):
#   PutObject / GetObject of 256 MiB vs PUT / GET /v1/blobs  (curl both;
#       S3 signed by curl --aws-sigv4 with an unsigned payload)   target >= 0.8x
#   4 KiB PutObject vs 4 KiB PUT /v1/blobs from 8 clients
#       (bench/s3_bench.py, the same client both ways)            target >= 0.7x
#   ListObjectsV2 over 1,000,000 names, pages of 1,000           target >= 50,000 names/s
#       (the names are rows copied in the index from one stored object, so
#       setting up takes seconds; the listing is what is measured)
#   CopyObject of a 1 GiB object (a new reference, no bytes)      target < 50 ms
# Best of BENCH_S3_ROUNDS rounds for the throughputs.  Prints; does not judge.
#
# usage: bench/bench_s3.sh BUILD_DIR   (BENCH_DIR=... parent of the scratch space)
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
PY=/usr/bin/python3
ROUNDS=${BENCH_S3_ROUNDS:-2}
NAMES=${BENCH_S3_NAMES:-1000000}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-s3.XXXXXX")
SRV_PID=
AK=AKBENCH
SK=bench-secret-0123456789

stop() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
		SRV_PID=
	fi
}
trap 'stop; rm -rf "$W"' EXIT
unset GRAVITON_DATA_DIR GRAVITON_TOKEN AWS_CA_BUNDLE
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

"$GV" -q --data-dir "$W/data" init
TOKEN=$(cat "$W/data/token")
NPORT=$(port)
SPORT=$(port)
NATIVE=http://127.0.0.1:$NPORT
S3=http://127.0.0.1:$SPORT
cat >"$W/s3.conf" <<CONF
graviton.s3 { enabled = true, listen = "127.0.0.1:$SPORT", keys = [ { access-key = "$AK", secret-key = "$SK" } ] }
CONF
start() {
	"$GV" --data-dir "$W/data" --config "$W/s3.conf" serve --listen "127.0.0.1:$NPORT" \
		>>"$W/serve.log" 2>&1 &
	SRV_PID=$!
	for _ in $(seq 1 100); do
		[ "$(curl -q -s -o /dev/null -w '%{http_code}' "$S3/")" = 403 ] && return 0
		sleep 0.1
	done
	echo "serve did not start" >&2
	exit 1
}
s3curl() { curl -q -sS -f --aws-sigv4 aws:amz:us-east-1:s3 --user "$AK:$SK" -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$@"; }
ncurl() { curl -q -sS -f -H "Authorization: Bearer $TOKEN" "$@"; }
start
s3curl -X PUT "$S3/bench" -o /dev/null

echo "== S3 vs native: 256 MiB, best of $ROUNDS (scratch: $W; a shared, noisy machine)"
np='' sp='' ng='' sg=''
for ((r = 1; r <= ROUNDS; r++)); do
	head -c $((256 << 20)) /dev/urandom >"$W/a"
	head -c $((256 << 20)) /dev/urandom >"$W/b"
	# each put starts with no dirty pages of the one before (writeback
	# throttling would land on whichever runs second)
	sync
	t=$(secs ncurl -T "$W/a" "$NATIVE/v1/blobs" -o "$W/key.json"); np=$(min "$t" "$np")
	KEY=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["key"])' "$W/key.json")
	sync
	t=$(secs s3curl -T "$W/b" "$S3/bench/big$r" -o /dev/null); sp=$(min "$t" "$sp")
	sync
	t=$(secs ncurl "$NATIVE/v1/blobs/$KEY" -o /dev/null); ng=$(min "$t" "$ng")
	t=$(secs s3curl "$S3/bench/big$r" -o /dev/null); sg=$(min "$t" "$sg")
done
echo "  PUT  native $np s   S3 $sp s   ratio $(ratio "$np" "$sp") (target >= 0.80)"
echo "  GET  native $ng s   S3 $sg s   ratio $(ratio "$ng" "$sg") (target >= 0.80)"
rm -f "$W/a" "$W/b"

echo "== 4 KiB puts from 8 clients, ${BENCH_S3_SECONDS:-10} s each, best of $ROUNDS"
bn='' bs=''
for ((r = 1; r <= ROUNDS; r++)); do
	read -r _ n _ s < <("$PY" "$HERE/s3_bench.py" small "$S3" "$AK" "$SK" "$NATIVE" "$TOKEN" 8 \
		"${BENCH_S3_SECONDS:-10}")
	echo "  round $r: native $n puts/s, S3 $s puts/s"
	bn=$(awk -v a="$n" -v b="$bn" 'BEGIN { print (b == "" || a > b) ? a : b }')
	bs=$(awk -v a="$s" -v b="$bs" 'BEGIN { print (b == "" || a > b) ? a : b }')
done
echo "  best: native $bn puts/s, S3 $bs puts/s, ratio $(ratio "$bs" "$bn") (target >= 0.70)"

echo "== CopyObject of a 1 GiB object"
head -c $((1 << 30)) /dev/urandom >"$W/gib"
s3curl -T "$W/gib" "$S3/bench/gib" -o /dev/null
rm -f "$W/gib"
echo "  $("$PY" "$HERE/s3_bench.py" copy "$S3" "$AK" "$SK" bench gib 20) (target < 50 ms)"

echo "== ListObjectsV2 over $NAMES names"
s3curl -X PUT "$S3/list" -o /dev/null
printf 'x' >"$W/seed"
s3curl -T "$W/seed" "$S3/list/seed" -o /dev/null
stop
sqlite3 "$W/data/graviton.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NAMES)
INSERT INTO ns_objects (bucket, name, key, size, parts, etag, ctype, meta, mtime)
SELECT o.bucket, printf('d%03d/name-%09d', n.i % 1000, n.i), o.key, o.size, o.parts, o.etag,
       o.ctype, o.meta, o.mtime
FROM n, ns_objects o WHERE o.bucket = 'list' AND o.name = 'seed';
DELETE FROM ns_objects WHERE bucket = 'list' AND name = 'seed';
SQL
start
echo "  $("$PY" "$HERE/s3_bench.py" list "$S3" "$AK" "$SK" list) (target >= 50000 names/s)"
