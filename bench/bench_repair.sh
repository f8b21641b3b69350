#!/usr/bin/env bash
# Repair of a lost sector against the floor of copying the same files with
# cp + sync, both from a cold page cache, in the same run on the same disk.
# Prints seconds, MiB/s and the ratio floor/repair (target >= 0.70).
#
# usage: bench/bench_repair.sh BUILD_DIR
#   BENCH_DIR=...               scratch space (default: a new dir in /var/tmp)
#   BENCH_REPAIR_MIB=2304       unique data stored (factor 3: ~half of it
#                               lands in each sector, so the lost one holds
#                               >= 1 GiB)
#   BENCH_REPAIR_JOBS=4         --parallel-jobs for the repair
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
GV=$BUILD/graviton
TOTAL_MIB=${BENCH_REPAIR_MIB:-2304}
JOBS=${BENCH_REPAIR_JOBS:-4}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-repair.XXXXXX")
trap 'rm -rf "$W"' EXIT

m() { python3 "$HERE/measure.py" "$@"; }             # prints "seconds rss_kib"
secs() { echo "${1% *}"; }
kib() { echo "${1#* }"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mibs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
q() { sqlite3 -batch "$W/data/graviton.db" "$@"; }

export GRAVITON_DATA_DIR=$W/data
"$GV" -q init --sectors 6 --racks 3 --zones 3

# Mostly 32 MiB blobs, with some of 1-4 MiB (a quarter of the bytes), so the
# repair also pays its per-blob costs.
# gen SEED: endless pseudo-random bytes (AES-CTR keystream; head cuts it,
# and the SIGPIPE that stops it is expected)
gen() { openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$1" -in /dev/zero 2>/dev/null || true; }

echo "== repair: storing $TOTAL_MIB MiB (factor 3) in $W"
stored=0
i=0
while [ "$stored" -lt "$TOTAL_MIB" ]; do
	if ((i % 4 == 3)); then
		for j in 1 2 3 4 1 2 3 4; do
			gen "$i.$j.$RANDOM" | head -c $((j * 1048576)) | "$GV" -q put - >/dev/null
			stored=$((stored + j))
		done
	else
		gen "$i.$RANDOM" | head -c $((32 * 1048576)) | "$GV" -q put - >/dev/null
		stored=$((stored + 32))
	fi
	i=$((i + 1))
done

# The sector holding the most bytes is the one we lose.
LOST=$(q "SELECT sector FROM replicas GROUP BY sector ORDER BY SUM(size) DESC LIMIT 1")
BYTES=$(q "SELECT SUM(size) FROM replicas WHERE sector = '$LOST'")
NFILES=$(q "SELECT COUNT(*) FROM replicas WHERE sector = '$LOST'")
ROOT=$(q "SELECT path FROM sectors WHERE id = '$LOST'")
case $ROOT in /*) ;; *) ROOT=$GRAVITON_DATA_DIR/$ROOT ;; esac   # relative to the data directory
echo "  sector $LOST: $NFILES blobs, $((BYTES / 1048576)) MiB"
if [ "$BYTES" -lt 1073741824 ]; then
	echo "  (less than 1 GiB: raise BENCH_REPAIR_MIB)"
fi

# Floor: the same files, cp + sync, cold cache.
drop_caches
floor=$(m bash -c "cp -r '$ROOT/objects' '$W/floor' && sync")
rm -rf "$W/floor"

# Repair: the sector is gone and marked so.
rm -rf "$ROOT"
"$GV" -q sector set-health "$LOST" unhealthy
drop_caches
rep=$(MEASURE_STDOUT="$W/repair.out" m "$GV" -q repair --once --parallel-jobs "$JOBS")
under=$("$GV" status --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["under_replicated"], j["lost"])')
[ "$under" = "0 0" ] || echo "  WARNING: after the repair: under-replicated, lost = $under"

echo "  floor cp -r + sync:           $(secs "$floor") s   $(mibs "$BYTES" "$(secs "$floor")") MiB/s"
echo "  graviton repair --once:       $(secs "$rep") s   $(mibs "$BYTES" "$(secs "$rep")") MiB/s   ratio $(ratio "$(secs "$floor")" "$(secs "$rep")") (target >= 0.70)   peak RSS $(kib "$rep") KiB   (--parallel-jobs $JOBS)"
