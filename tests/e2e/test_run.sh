#!/usr/bin/env bash
# `make run` (scripts/run.sh): the lines to try come once the server
# answers, below its start-up output (they used to come first, scrolled
# away by the server's own lines), on the port GRAVITON_LISTEN names; the
# lines it prints work when pasted; Ctrl-C (SIGINT to the process group,
# as a terminal sends it) stops the server cleanly and the script exits 0.
source "$(dirname "$0")/lib.sh"

RUN=$E2E_DIR/../../scripts/run.sh
PORT=$(free_port)
OUT=$T/run.out
GRAVITON_DATA_DIR=$T/rundata GRAVITON_LISTEN=127.0.0.1:$PORT \
	setsid bash "$RUN" "$GV" >"$OUT" 2>&1 </dev/null &
RUN_PID=$!
trap 'rc=$?; kill -KILL -- -$RUN_PID 2>/dev/null; (exit $rc); _on_exit' EXIT

printed() { grep -q 'Try, from another shell' "$OUT"; }
for ((i = 0; i < 300; i++)); do
	printed && break
	sleep 0.1
done
expect_true "make run prints the lines to try" printed
tried=$(grep -n 'Try, from another shell' "$OUT" | cut -d: -f1)
listening=$(grep -n 'event=listening' "$OUT" | cut -d: -f1)
expect_true "... after the server's start-up output (listening at line ${listening:-none}, lines at ${tried:-none})" \
	test "${listening:-999999}" -lt "${tried:-0}"
expect_match "... for the port GRAVITON_LISTEN names" "serving http://127.0.0.1:$PORT " "$(cat "$OUT")"

# The printed lines, pasted: store and read back hello.
{
	echo 'set -e'
	grep -E '^  (AUTH=|echo |KEY=)' "$OUT" | sed 's|/tmp/hello.txt|'"$T"'/hello.txt|g'
	grep -E '^  curl -s -H "\$AUTH" http://[^ ]*/v1/blobs/\$KEY$' "$OUT"
} >"$T/paste.sh"
got=$(cd "$T" && PATH=/usr/bin:/bin bash "$T/paste.sh" 2>&1)
expect_eq "the printed lines store a blob and read it back" "hello, graviton" "$got"

kill -INT -- -"$RUN_PID"
rc=killed
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$RUN_PID" 2>/dev/null; then
		wait "$RUN_PID"
		rc=$?
		break
	fi
	sleep 0.1
done
expect_eq "Ctrl-C stops make run with exit status 0" 0 "$rc"
expect_match "... after the server stopped cleanly" 'event=stopped' "$(tail -n 3 "$OUT")"
finish
