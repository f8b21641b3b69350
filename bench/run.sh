#!/usr/bin/env bash
# Benchmarks: each figure is printed as a ratio against a floor measured in
# the same run on the same machine.  Not a test: it prints, it does not judge.
#
# usage: bench/run.sh BUILD_DIR   (BENCH_DIR=... for the scratch space,
#                                  BENCH_SIZE_MIB=1024 for the big blob)
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/graviton-bench.XXXXXX)}
trap 'rm -rf "$W"' EXIT
cmake --build "$BUILD" --target bench_small_put >/dev/null

m() { python3 "$HERE/measure.py" "$@"; }             # prints "seconds rss_kib"
secs() { echo "${1% *}"; }
kib() { echo "${1#* }"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

echo "== big blob: ${SIZE_MIB} MiB, factor 3 (scratch: $W)"
head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$W/blob"
sync

drop_caches
floor_put=$(m bash -c "for i in 1 2 3; do dd if='$W/blob' of='$W/dd.\$i' bs=1M conv=fsync status=none; done")
rm -f "$W"/dd.*

export GRAVITON_DATA_DIR=$W/data
"$GV" -q init --sectors 6 --racks 3 --zones 3
drop_caches
put=$(MEASURE_STDOUT="$W/key" m "$GV" put "$W/blob")
KEY=$(cat "$W/key")

drop_caches
floor_get=$(m openssl dgst -sha256 "$W/blob")
drop_caches
get=$(m "$GV" get "$KEY" -o "$W/out")
cmp "$W/blob" "$W/out"
rm -f "$W/out"
drop_caches
get_pipe=$(m "$GV" get "$KEY")

echo "  floor dd conv=fsync x3:       $(secs "$floor_put") s"
echo "  graviton put:                 $(secs "$put") s   ratio $(ratio "$(secs "$floor_put")" "$(secs "$put")") (target >= 0.80)   peak RSS $(kib "$put") KiB (target < 32768)"
echo "  floor openssl dgst -sha256:   $(secs "$floor_get") s"
echo "  graviton get -o FILE:         $(secs "$get") s   ratio $(ratio "$(secs "$floor_get")" "$(secs "$get")") (target >= 0.80)   peak RSS $(kib "$get") KiB (target < 32768)"
echo "  graviton get > /dev/null:     $(secs "$get_pipe") s   ratio $(ratio "$(secs "$floor_get")" "$(secs "$get_pipe")")   (stdout not rewindable: verified before the first byte)"

echo "== small puts"
"$BUILD/bench_small_put" "$W/small" "${BENCH_SMALL_COUNT:-5000}"
bash "$HERE/bench_scrub.sh" "$BUILD"
bash "$HERE/bench_http.sh" "$BUILD"
bash "$HERE/bench_verify.sh" "$BUILD"
bash "$HERE/bench_put_http.sh" "$BUILD"
bash "$HERE/bench_pg.sh" "$BUILD"
bash "$HERE/bench_put_big.sh" "$BUILD"
bash "$HERE/bench_repair.sh" "$BUILD"
bash "$HERE/bench_cluster.sh" "$BUILD"
bash "$HERE/bench_gap.sh" "$BUILD"
bash "$HERE/bench_gateways.sh" "$BUILD"
bash "$HERE/bench_s3.sh" "$BUILD"
bash "$HERE/bench_s3_sector.sh" "$BUILD"
