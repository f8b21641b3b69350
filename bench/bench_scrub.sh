#!/usr/bin/env bash
# Scrub benchmark.  Prints, does not judge.
#   1. `graviton scrub --once` over >= 1 GiB of replicas against a floor:
#      `openssl dgst -sha256` over the same object files with the same
#      parallelism (xargs -P N), page cache dropped before each measured run
#      where permitted (else the figures say "warm").  Ratio floor/scrub,
#      target >= 0.80.
#   2. The rate limit: `scrub --once --max-bytes-per-second 50MB` over
#      >= 500 MB; the measured rate should be within +-10% of 50 MB/s.
#
# usage: bench/bench_scrub.sh BUILD_DIR
#   BENCH_DIR=...                 parent of the scratch directory (/var/tmp)
#   BENCH_SCRUB_BLOBS=64          blobs stored (factor 3)
#   BENCH_SCRUB_BLOB_MIB=16       size of each
#   BENCH_SCRUB_PARALLEL=8        parallel reads (scrub) = processes (floor)
#   BENCH_SCRUB_ROUNDS=3          measured rounds of each; the best counts
#   BENCH_SCRUB_RATE=50MB         rate limit to check
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
GV=$BUILD/graviton
NBLOBS=${BENCH_SCRUB_BLOBS:-64}
BLOB_MIB=${BENCH_SCRUB_BLOB_MIB:-16}
P=${BENCH_SCRUB_PARALLEL:-8}
ROUNDS=${BENCH_SCRUB_ROUNDS:-3}
RATE=${BENCH_SCRUB_RATE:-50MB}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-scrub.XXXXXX")
trap 'rm -rf "$W"' EXIT
export GRAVITON_DATA_DIR=$W/data

# tm CMD...: run CMD (stdout to $TM_STDOUT or /dev/null); print "wall_s cpu_s"
# (cpu: user + system time of CMD and its children).
tm() {
	python3 -c '
import os, resource, subprocess, sys, time
out = os.environ.get("TM_STDOUT") or os.devnull
with open(out, "wb") as f:
    t0 = time.monotonic()
    rc = subprocess.call(sys.argv[1:], stdout=f)
    dt = time.monotonic() - t0
if rc != 0:
    sys.exit("bench_scrub: %s exited %d" % (sys.argv[1:], rc))
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %.3f" % (dt, ru.ru_utime + ru.ru_stime))
' "$@"
}
secs() { echo "${1% *}"; }
cpu() { echo "${1#* }"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
CACHE=cold
drop_caches() {
	sync
	if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		CACHE="warm (page cache could not be dropped)"
	fi
}
json_field() {   # json_field FILE FIELD: FIELD of the job document's summary
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if isinstance(o.get("summary"), dict):
        print(o["summary"][sys.argv[2]])
' "$1" "$2"
}

echo "== scrub: $NBLOBS blobs of $BLOB_MIB MiB, factor 3, $P parallel reads (scratch: $W)"
"$GV" -q init --sectors 6 --racks 3 --zones 3 --factor 3
for _ in $(seq 1 "$NBLOBS"); do
	head -c $((BLOB_MIB * 1048576)) /dev/urandom >"$W/blob"
	"$GV" -q put "$W/blob" >/dev/null
done
rm -f "$W/blob"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
find "$W/data/sectors" -path '*/objects/*' -type f | sort >"$W/files"
NFILES=$(wc -l <"$W/files")
BYTES=$(xargs -a "$W/files" stat -c %s | awk '{ s += $1 } END { printf "%.0f", s }')
PER=$(( (NFILES + P - 1) / P ))
echo "  replicas: $NFILES files, $BYTES bytes ($(awk -v b="$BYTES" 'BEGIN { printf "%.2f", b / 1073741824 }') GiB)"

run_floor() {
	drop_caches
	f=$(tm bash -c "xargs -a '$W/files' -P $P -n $PER openssl dgst -sha256 | wc -l >'$W/floor.n'")
	[ "$(cat "$W/floor.n")" = "$NFILES" ] ||
		{ echo "floor hashed $(cat "$W/floor.n") files, expected $NFILES" >&2; exit 1; }
}
run_scrub() {
	local checked healthy

	drop_caches
	s=$(TM_STDOUT="$W/scrub.json" tm "$GV" scrub --once --json --parallel-reads "$P")
	checked=$(json_field "$W/scrub.json" checked)
	healthy=$(json_field "$W/scrub.json" healthy)
	if [ "$checked" != "$NFILES" ] || [ "$healthy" != "$NFILES" ]; then
		echo "scrub checked $checked, healthy $healthy, expected $NFILES" >&2
		exit 1
	fi
}
# Rounds alternate which one goes first.
best_floor=
best_scrub=
cpu_floor=
cpu_scrub=
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run_floor; run_scrub; else run_scrub; run_floor; fi
	echo "  round $r: floor $(secs "$f") s wall ($(mbs "$BYTES" "$(secs "$f")") MB/s), $(cpu "$f") s cpu;" \
		"scrub $(secs "$s") s wall ($(mbs "$BYTES" "$(secs "$s")") MB/s), $(cpu "$s") s cpu"
	best_floor=$(min "$(secs "$f")" "$best_floor")
	best_scrub=$(min "$(secs "$s")" "$best_scrub")
	cpu_floor=$(min "$(cpu "$f")" "$cpu_floor")
	cpu_scrub=$(min "$(cpu "$s")" "$cpu_scrub")
done
echo "  page cache: $CACHE; load average before: $LOAD"
echo "  floor openssl dgst -sha256 (xargs -P $P -n $PER): $best_floor s wall, $cpu_floor s cpu (best of $ROUNDS)"
echo "  graviton scrub --once --parallel-reads $P:       $best_scrub s wall, $cpu_scrub s cpu (best of $ROUNDS)"
echo "  ratio floor/scrub: $(ratio "$best_floor" "$best_scrub") wall (target >= 0.80), $(ratio "$cpu_floor" "$cpu_scrub") cpu"

# The rate limit: the fullest sector if it holds >= 500 MB, else everything.
read -r SEC SEC_BYTES < <(sqlite3 -separator ' ' "$W/data/graviton.db" \
	"SELECT sector, SUM(size) FROM replicas GROUP BY sector ORDER BY 2 DESC LIMIT 1")
if [ "$SEC_BYTES" -ge 500000000 ]; then
	scope=(--sector "$SEC")
	what="sector $SEC, $SEC_BYTES bytes"
else
	scope=()
	what="every sector, $BYTES bytes"
fi
WANT=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)(MB|kB|GB|)", sys.argv[1])
print(int(m.group(1)) * {"": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9}[m.group(2)])
' "$RATE")
echo "== scrub rate limit: --max-bytes-per-second $RATE ($what)"
drop_caches
s=$(TM_STDOUT="$W/rate.json" tm "$GV" scrub --once --json "${scope[@]}" --max-bytes-per-second "$RATE")
rb=$(json_field "$W/rate.json" bytes)
rd=$(awk -v ms="$(json_field "$W/rate.json" duration_ms)" 'BEGIN { printf "%.3f", ms / 1000 }')
wall=$(secs "$s")
python3 - "$rb" "$rd" "$wall" "$WANT" <<'EOF'
import sys
b, d, wall, want = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
for name, t in (("scrub's own duration", d), ("wall clock (process)", wall)):
    rate = b / t
    dev = (rate - want) / want * 100
    print("  %-22s %d bytes in %.2f s: %.1f MB/s, %+.1f%% of %.0f MB/s (target within +-10%%: %s)"
          % (name + ":", b, t, rate / 1e6, dev, want / 1e6, "yes" if abs(dev) <= 10 else "NO"))
EOF
