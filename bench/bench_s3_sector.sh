#!/usr/bin/env bash
# s3 sector benchmark (docs/s3-sectors.md).  Prints, does not judge.
# Against the S3 test server of tests/s3.sh on loopback, the floor being
# `curl --aws-sigv4` moving the same bytes to and from the same server:
#   1. PUT of a BENCH_S3_MIB blob into a store whose only sector is the
#      bucket (factor 1) vs curl -T of the file; ratio curl/graviton.
#   2. GET of it (graviton get > /dev/null, block-verified) vs curl -o
#      /dev/null of its object; ratio curl/graviton.
#   3. scrub --once of the bucket's replicas (BENCH_S3_SCRUB_BLOBS blobs of
#      BENCH_S3_SCRUB_MIB) vs curl downloading every object, with the same
#      parallelism (8); ratio curl/scrub.
# The best of BENCH_S3_ROUNDS rounds counts for each (the machine may be
# shared: say so when reporting).
#
# usage: bench/bench_s3_sector.sh BUILD_DIR
#   BENCH_DIR=...               parent of the scratch directory (/var/tmp)
#   BENCH_S3_MIB=256            size of the PUT/GET blob
#   BENCH_S3_SCRUB_BLOBS=16     blobs scrubbed
#   BENCH_S3_SCRUB_MIB=16       size of each
#   BENCH_S3_ROUNDS=3
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
MIB=${BENCH_S3_MIB:-256}
NS=${BENCH_S3_SCRUB_BLOBS:-16}
SMIB=${BENCH_S3_SCRUB_MIB:-16}
ROUNDS=${BENCH_S3_ROUNDS:-3}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-s3.XXXXXX")
. "$HERE/../tests/s3.sh"
trap '_s3_reap; rm -rf "$W"' EXIT
s3_start "$W/s3" bench >/dev/null
SIG=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -s -f)

# best CMD...: the best wall time of ROUNDS runs of CMD (stdout discarded).
best() {
	python3 - "$ROUNDS" "$@" <<'PYEOF'
import subprocess, sys, time
rounds, cmd = int(sys.argv[1]), sys.argv[2:]
best = None
for _ in range(rounds):
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    dt = time.monotonic() - t0
    best = dt if best is None or dt < best else best
print("%.3f" % best)
PYEOF
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mibs() { awk -v m="$1" -v t="$2" 'BEGIN { printf "%.0f", m / t }'; }

# tm1 CMD...: the wall time of one run of CMD (stdout discarded).
tm1() { ROUNDS=1 best "$@"; }

# store N: a fresh data directory whose only sector is the bucket's prefix gN.
store() {
	rm -rf "$W/data"
	"$GV" -q init --sectors 0
	"$GV" -q placement set --strategy simple --factor 1 --min-replicas 1 >/dev/null
	"$GV" -q sector add s3a --s3 "s3://bench/g$1" --endpoint "$S3_ENDPOINT"
}

head -c $((MIB * 1048576)) /dev/urandom >"$W/blob"
export GRAVITON_DATA_DIR=$W/data

echo "== s3 sector: ${MIB} MiB PUT and GET, scrub of ${NS} x ${SMIB} MiB (server: tests/s3.sh on loopback)"
curl_put=$(best curl "${SIG[@]}" -T "$W/blob" "$S3_ENDPOINT/bench/curl/blob")
# Every round puts into a fresh store and prefix, so every round uploads.
gv_put=
for r in $(seq 1 "$ROUNDS"); do
	store "$r"
	t=$(tm1 "$GV" -q put "$W/blob")
	gv_put=$(awk -v a="$gv_put" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
done
# The same with one PUT (the threshold over the blob): a multipart upload
# costs a file-backed server a second write of the object at completion.
printf 'graviton.s3.multipart-threshold = %d\n' $((MIB * 1048576 + 1)) >"$W/one.conf"
gv_put1=
for r in $(seq 1 "$ROUNDS"); do
	store "1$r"
	t=$(tm1 "$GV" -q --config "$W/one.conf" put "$W/blob")
	gv_put1=$(awk -v a="$gv_put1" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
done
store final
KEY=$("$GV" -q put "$W/blob")
HEX=${KEY#sha256:}
OBJ="${HEX%%:*}-${KEY##*:}"
PFX=gfinal
curl_get=$(best curl "${SIG[@]}" -o /dev/null "$S3_ENDPOINT/bench/$PFX/$OBJ")
gv_get=$(best "$GV" -q get "$KEY")
"$GV" -q get "$KEY" | cmp - "$W/blob"
echo "  curl --aws-sigv4 -T:        ${curl_put} s ($(mibs "$MIB" "$curl_put") MiB/s)"
echo "  graviton put (multipart):   ${gv_put} s ($(mibs "$MIB" "$gv_put") MiB/s)   ratio $(ratio "$curl_put" "$gv_put") (target >= 0.80)"
echo "  graviton put, one PUT:      ${gv_put1} s ($(mibs "$MIB" "$gv_put1") MiB/s)   ratio $(ratio "$curl_put" "$gv_put1")"
echo "  curl --aws-sigv4 GET:       ${curl_get} s ($(mibs "$MIB" "$curl_get") MiB/s)"
echo "  graviton get > /dev/null:   ${gv_get} s ($(mibs "$MIB" "$gv_get") MiB/s)   ratio $(ratio "$curl_get" "$gv_get") (target >= 0.80)"

: >"$W/urls"
for i in $(seq 1 "$NS"); do
	head -c $((SMIB * 1048576)) /dev/urandom >"$W/sb$i"
	k=$("$GV" -q put "$W/sb$i")
	h=${k#sha256:}
	echo "$S3_ENDPOINT/bench/$PFX/${h%%:*}-${k##*:}" >>"$W/urls"
	rm -f "$W/sb$i"
done
echo "$S3_ENDPOINT/bench/$PFX/$OBJ" >>"$W/urls"
total=$((NS * SMIB + MIB))
curl_all=$(best bash -c "xargs -P 8 -n 1 curl $(printf '%q ' "${SIG[@]}") -o /dev/null <'$W/urls'")
gv_scrub=$(best "$GV" -q scrub --once --sector s3a --parallel-reads 8)
echo "  curl GET of every object:   ${curl_all} s ($(mibs "$total" "$curl_all") MiB/s, ${total} MiB)"
echo "  graviton scrub --once:      ${gv_scrub} s ($(mibs "$total" "$gv_scrub") MiB/s)   ratio $(ratio "$curl_all" "$gv_scrub") (target >= 0.80)"
