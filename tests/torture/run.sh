#!/usr/bin/env bash
# Fault loops, longer than the test suite runs them (`make torture`):
#   repair killed with SIGKILL at random moments, then resumed
#     (tests/e2e/test_repair_kill_slow.sh), with 2 and with 4 parallel jobs
#   index rebuild killed with SIGKILL, with and without --force
#     (tests/torture/rebuild_kill.sh)
#   SIGKILL of CLI puts, of `serve` under PUT load, of drain and of scrub
#     (tests/torture/kill.sh): every acknowledged blob reads back
#
# usage: bash tests/torture/run.sh path/to/graviton
#   TORTURE_ROUNDS=N   kills per loop (default 100)
#   TORTURE_SEED=N     seed for the kill moments (default: random, printed)
#   TORTURE_PUT_KILLS=N, TORTURE_SERVE_KILLS=N, TORTURE_DRAIN_KILLS=N,
#   TORTURE_SCRUB_KILLS=N   kills of each (defaults 30, 10, 15, 15)
set -u -o pipefail
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: bash $0 path/to/graviton" >&2
	exit 2
fi
GV=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
E2E=$(cd "$HERE/../e2e" && pwd)
export TORTURE_ROUNDS=${TORTURE_ROUNDS:-100}

failed=0
summary=()

# loop NAME SCRIPT [VAR=VALUE...]: run one fault loop, show its notes and
# verdict, keep a one-line figure for the summary.
loop() {
	local name=$1 script=$2 log t0 t1 rc line
	shift 2
	log=$(mktemp "${TMPDIR:-/tmp}/graviton-torture.XXXXXX")
	echo "== $name (TORTURE_ROUNDS=$TORTURE_ROUNDS${*:+ $*})"
	t0=$(date +%s)
	env "$@" bash "$script" "$GV" >"$log" 2>&1
	rc=$?
	t1=$(date +%s)
	# notes (figures) and failures; passes only counted
	grep -E '^(# |FAIL|       )' "$log"
	line=$(tail -n 1 "$log")
	echo "   $line, $((t1 - t0)) s"
	[ "$rc" = 0 ] || failed=$((failed + 1))
	summary+=("$(printf '%-34s %s  %4d s  %s' "$name" "$([ "$rc" = 0 ] && echo PASS || echo FAIL)" $((t1 - t0)) "$line")")
	rm -f "$log"
}

loop "repair kill, 2 jobs" "$E2E/test_repair_kill_slow.sh"
loop "repair kill, 4 jobs, 96 MiB/s" "$E2E/test_repair_kill_slow.sh" KILL_PARALLEL=4 KILL_RATE=96MiB
loop "index rebuild kill" "$HERE/rebuild_kill.sh"
loop "CLI put kill" "$HERE/kill.sh" KILL_MODE=put
loop "serve kill under PUT load" "$HERE/kill.sh" KILL_MODE=serve
loop "drain kill" "$HERE/kill.sh" KILL_MODE=drain
loop "scrub kill" "$HERE/kill.sh" KILL_MODE=scrub

echo
echo "== torture summary"
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ]
