#!/usr/bin/env bash
# Leftover files are reclaimed while `graviton serve` runs:
#   - temporary files of CLI puts killed with SIGKILL are swept from tmp/,
#     while a live writer's temporary file is left and its put completes;
#   - a committed file no replica row counts on, older than the grace, is
#     deleted; a young unrecorded file and every recorded file (however
#     old) stay;
#   - `graviton sector sweep --dry-run --json` counts without removing.
. "$(dirname "$0")/lib.sh"

must gv init --sectors 4 --factor 3 --min-replicas 2
cat >"$T/s.conf" <<'CONF'
graviton.replication.rebalance.enabled = false
graviton.replication.reclaim.interval = 1s
CONF

# start_put FIFO: a local CLI put reading FIFO, fed 3 MiB (so its temporary
# file exists) and kept open on fd $1's writer; sets PUT_PID.
start_put() {
	mkfifo "$T/$1"
	"$GV" --data-dir "$D" put - <"$T/$1" >"$T/$1.key" 2>"$T/$1.err" &
	PUT_PID=$!
}
tmp_of() { find "$D"/sectors/*/tmp -name "w-$1-*" 2>/dev/null; }
wait_tmp() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ -n "$(tmp_of "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

# Recorded blobs, their files aged far past the grace.
for i in 1 2 3; do
	randfile "$T/r$i" 5000
	must put_ok "$T/r$i" >"$T/r$i.key"
done
find "$D/sectors" -path '*/objects/*' -type f -exec touch -d '3 hours ago' {} +

# Unrecorded copies: one old (reclaimable), one young (within the grace).
K1=$(cat "$T/r1.key")
K2=$(cat "$T/r2.key")
spare_of() {
	local s
	for s in s01 s02 s03 s04; do
		[ -f "$(replica_path "$1" "$s")" ] || { echo "$s"; return; }
	done
}
S1=$(spare_of "$K1")
S2=$(spare_of "$K2")
OLD=$(replica_path "$K1" "$S1")
YOUNG=$(replica_path "$K2" "$S2")
mkdir -p "$(dirname "$OLD")" "$(dirname "$YOUNG")"
cp "$T/r1" "$OLD"
touch -d '2 hours ago' "$OLD"
cp "$T/r2" "$YOUNG"

# Writers: two killed, one alive (each a local CLI process).
start_put p1; exec 5>"$T/p1"; head -c 3145728 /dev/urandom >&5; P1=$PUT_PID
start_put p2; exec 6>"$T/p2"; head -c 3145728 /dev/urandom >&6; P2=$PUT_PID
start_put live; exec 7>"$T/live"; head -c 3145728 /dev/urandom >&7; PL=$PUT_PID
must wait_tmp "$P1"
must wait_tmp "$P2"
must wait_tmp "$PL"
kill -KILL "$P1" "$P2"
wait "$P1" "$P2" 2>/dev/null
exec 5>&- 6>&-
expect_true "the killed puts left their temporary files" test -n "$(tmp_of "$P1")$(tmp_of "$P2")"

# A put streams into every target at once: one temporary file per target.
DEAD_TMP=$({ tmp_of "$P1"; tmp_of "$P2"; } | wc -l)
gv sector sweep --dry-run --json
jcheck "sweep --dry-run counts the dead writers' $DEAD_TMP files and the old orphan" \
	"$DEAD_TMP >= 2 and j['dry_run'] and j['tmp_files'] == $DEAD_TMP and j['tmp_bytes'] >= 2 * 1048576 and j['orphan_files'] == 1 and j['orphan_bytes'] == 5000 and j['young'] == 1"
expect_true "sweep --dry-run removed nothing" test -f "$OLD" -a -n "$(tmp_of "$P1")"

LOG=$T/serve.log
# (the server must not hold the live writer's pipe open)
must serve_start "$LOG" --config "$T/s.conf" 7>&-
for ((t = 0; t < 300; t++)); do
	[ -z "$(tmp_of "$P1")$(tmp_of "$P2")" ] && [ ! -e "$OLD" ] && break
	sleep 0.1
done
expect_eq "the server swept the killed puts' temporary files" "" "$(tmp_of "$P1")$(tmp_of "$P2")"
expect_true "the server reclaimed the unrecorded file older than the grace" test ! -e "$OLD"
expect_match "the server logged what it reclaimed" 'event=reclaim .*orphan_files=1' "$(cat "$LOG")"

# One more run in another process, while the live writer still writes.
gv sector sweep --json
jcheck "a second sweep finds nothing more" "j['tmp_files'] == 0 and j['orphan_files'] == 0"
expect_true "the live writer's temporary file is still there" test -n "$(tmp_of "$PL")"
expect_true "the young unrecorded file is still there" test -f "$YOUNG"

exec 7>&-
wait "$PL"
expect_eq "the live put completes" 0 "$?"
KL=$(cat "$T/live.key")
gv get "$KL" -o "$T/live.out"
expect_eq "its blob reads back" 0 "$RC"

for i in 1 2 3; do
	gv get "$(cat "$T/r$i.key")" -o "$T/r$i.out"
	expect_same_file "recorded blob $i reads back" "$T/r$i" "$T/r$i.out"
done
gv status --json
jcheck "every recorded replica is still there" "j['lost'] == 0 and j['under_replicated'] == 0"
serve_stop TERM

finish
