#!/usr/bin/env bash
# Load-based rebalancing through the real binary (issue 6): three sectors
# filled to ~95%, three empty ones of the same capacity added on the same
# racks; rebalance runs until it has nothing to do and leaves the spread
# within the threshold, every key with 3 healthy replicas on 3 racks and
# every blob readable.  --max-moves is honoured exactly, --dry-run changes
# nothing, and rebalance refuses while keys are under-replicated unless
# --force.
. "$(dirname "$0")/lib.sh"

THRESHOLD=0.1

# util_spread: max - min used/capacity over the active sectors, from
# sector list --json.
util_spread() {
	local j

	j=$("$GV" --data-dir "$D" sector list --json 2>/dev/null) || return 1
	jget 'round(max(u) - min(u), 4) if (u := [s["used"] / s["capacity"] for s in j if s["state"] == "active"]) else 0' "$j"
}

# count_phase PHASE: "move" events of that phase in the last --json output.
count_phase() {
	printf '%s\n' "$OUT" | "$PY" -c '
import json, sys
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        e = json.loads(line)
        n += e.get("event") == "move" and e.get("phase") == sys.argv[1]
print(n)' "$1"
}

# summary_of: the summary object of the last --json output.
summary_of() {
	printf '%s\n' "$OUT" | grep '"event":"summary"' | tail -n 1
}

# ---- three full sectors, three empty ones ----------------------------------

gv init --sectors 3 --racks 3 --zones 3 --capacity 40MiB
expect_rc "init --sectors 3 --racks 3 --zones 3 --capacity 40MiB" 0
[ "$RC" = 0 ] || finish

# 40 blobs of ~1 MB: 40,020,000 bytes per sector, 95.4% of 40 MiB
mkdir -p "$T/files"
: >"$T/list"
for i in $(seq 1 40); do
	must randfile "$T/files/$i" $((980000 + i * 1000))
	must put_ok "$T/files/$i" >/dev/null
	echo "$T/files/$i" >>"$T/list"
done
gv sector list --json
jcheck "the 3 sectors are ~95% full" \
	"len(j) == 3 and all(0.93 < s['used'] / s['capacity'] < 0.97 for s in j)"

for r in 1 2 3; do
	gv sector add "s0$((r + 3))" --path "$D/sectors/s0$((r + 3))" --capacity 40MiB \
		--rack "rack-$r" --zone "zone-$r"
	expect_rc "sector add s0$((r + 3)) (40MiB, rack-$r)" 0
done
gv sector list --json
jcheck "6 active sectors of 40 MiB, 2 per rack, the new ones empty" \
	"len(j) == 6 and all(s['capacity'] == 40 * 1048576 and s['state'] == 'active' for s in j) and sorted(__import__('collections').Counter(s['rack'] for s in j).values()) == [2, 2, 2] and all(s['used'] == 0 for s in j if s['id'] in ('s04', 's05', 's06'))"
note "spread before: $(util_spread)"

# ---- dry run ---------------------------------------------------------------

snapshot "$T/snap.before"
gv rebalance --dry-run
expect_rc "rebalance --dry-run exits 0" 0
expect_match "dry run prints planned moves: key, from, to, size (human-readable)" \
	'^planned +sha256:[0-9a-f]{64}:[0-9]+ s0[123] -> s0[456] [0-9.]+ (B|KiB|MiB|GiB)$' "$OUT"
expect_match "its summary gives the bytes human-readable" \
	'^rebalance: [0-9]+ planned, 0 moved, 0 failed, [0-9.]+ (B|KiB|MiB|GiB); spread' "$OUT"
expect_match "dry run prints each sector's utilisation before and after" \
	's04 +active +0\.0% +[1-9][0-9]?\.[0-9]%' "$OUT"
if grep -q '^done' <<<"$OUT"; then
	fail "dry run moves nothing" "no 'done' line" "$(printf '%s' "$OUT" | grep '^done' | head -n 2)"
else
	ok "dry run prints no 'done' line"
fi
gv rebalance --dry-run --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --dry-run --json exits 0" 0
n_planned=$(count_phase planned)
n_done=$(count_phase done)
S=$(summary_of)
jcheck "dry run summary: planned = planned events > 0, nothing moved" \
	"j['dry_run'] and j['planned'] == $n_planned > 0 and j['moved'] == 0 and $n_done == 0 and j['bytes'] == 0" "$S"
jcheck "dry run summary: utilisation before/after per sector, the full ones going down" \
	"len(j['sectors']) == 6 and all(s['utilisation_after'] < s['utilisation_before'] for s in j['sectors'] if s['id'] in ('s01', 's02', 's03')) and all(s['utilisation_after'] > s['utilisation_before'] == 0 for s in j['sectors'] if s['id'] in ('s04', 's05', 's06'))" "$S"
expect_unchanged "dry runs change nothing (index and file tree)" "$T/snap.before"

# ---- --max-moves is exact --------------------------------------------------

gv rebalance --max-moves 7 --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --max-moves 7 exits 0" 0
expect_eq "--max-moves 7: exactly 7 'done' moves" 7 "$(count_phase done)"
jcheck "--max-moves 7: summary planned 7, moved 7, none failed" \
	"j['planned'] == 7 and j['moved'] == 7 and j['failed'] == 0 and not j['nothing_to_do']" "$(summary_of)"
moved_rows=$(sqlite3 "$D/graviton.db" "select count(*) from replicas where sector in ('s04','s05','s06')")
expect_eq "the index shows 7 replicas on the new sectors" 7 "$moved_rows"
expect_eq "every blob still has 3 replica rows" "40 120" \
	"$(sqlite3 "$D/graviton.db" "select count(distinct key), count(*) from replicas" | tr '|' ' ')"

gv rebalance --max-moves 1
expect_rc "rebalance --max-moves 1 exits 0" 0
expect_eq "--max-moves 1: exactly one 'done' line" 1 "$(printf '%s\n' "$OUT" | grep -c '^done')"

# ---- until nothing to do ---------------------------------------------------

runs=0
done_moves=8
settled=0
while [ "$runs" -lt 20 ]; do
	runs=$((runs + 1))
	gv rebalance --json
	OUT=$(printf '%s\n' "$OUT" | job_lines)
	if [ "$RC" != 0 ]; then
		fail "rebalance run $runs exits 0" "exit status 0" "exit status $RC: $ERR"
		break
	fi
	S=$(summary_of)
	if [ "$(jget 'j["failed"]' "$S")" != 0 ]; then
		fail "rebalance run $runs: no failed move" "failed 0" "$S"
		break
	fi
	done_moves=$((done_moves + $(count_phase done)))
	if [ "$(jget 'j["nothing_to_do"]' "$S")" = true ]; then
		settled=1
		break
	fi
done
note "$runs runs, $done_moves moves in all"
expect_eq "rebalance reaches 'nothing to do' within 20 runs" 1 "$settled"
sp=$(util_spread)
note "spread after: $sp"
expect_eq "max - min utilisation <= $THRESHOLD (sector list --json)" True \
	"$("$PY" -c "print($sp <= $THRESHOLD)")"
gv sector list --json
jcheck "all 6 sectors active and healthy, none above 90%" \
	"len(j) == 6 and all(s['state'] == 'active' and s['healthy'] and s['used'] / s['capacity'] <= 0.9 for s in j)"
jcheck "sector used matches the replica rows" \
	"sum(s['used'] for s in j) == $(sqlite3 "$D/graviton.db" "select sum(size) from replicas")"
if why=$(verify_blobs "$T/list" 3 3 3); then
	ok "every key has 3 healthy replicas on 3 racks, files match the index, every blob reads back"
else
	fail "every key keeps 3 healthy replicas on 3 racks and reads back" "no bad blob" "$why"
fi
gv rebalance
expect_rc "a settled store: rebalance exits 0" 0
expect_match "and says there is nothing to do" 'nothing to do' "$OUT"

# ---- under-replicated: refused unless --force --------------------------------

# a second store, so the first one's end state stays as checked above
D=$T/data2
export GRAVITON_DATA_DIR=$D
gv init --sectors 3 --racks 3 --zones 3 --capacity 10MiB
must [ "$RC" = 0 ]
: >"$T/list2"
for i in $(seq 1 9); do
	must randfile "$T/files/b$i" $((1000000 + i * 1000))
	must put_ok "$T/files/b$i" >/dev/null
	echo "$T/files/b$i" >>"$T/list2"
done
for r in 1 2 3; do
	gv sector add "s0$((r + 3))" --path "$D/sectors/s0$((r + 3))" --capacity 10MiB \
		--rack "rack-$r" --zone "zone-$r"
	must [ "$RC" = 0 ]
done
rm -rf "$D/sectors/s01"
gv sector set-health s01 unhealthy
expect_rc "sector s01 lost (directory deleted) and marked unhealthy" 0
gv status --json
jcheck "status: 9 keys under-replicated" "j['under_replicated'] == 9"
snapshot "$T/snap.under"
gv rebalance
expect_fail "rebalance refuses while keys are under-replicated" 75 'under-replicated.*repair|repair.*under-replicated'
gv rebalance --dry-run
expect_fail "so does a dry run" 75 'under-replicated'
expect_unchanged "a refused rebalance changes nothing" "$T/snap.under"

gv rebalance --force --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --force runs anyway" 0
S=$(summary_of)
jcheck "--force: moves done, none failed" "j['moved'] > 0 and j['moved'] == $(count_phase done) and j['failed'] == 0" "$S"
jcheck "--force: nothing moved onto or off the unhealthy sector" \
	"all(s['used_after'] == s['used_before'] for s in j['sectors'] if s['id'] == 's01')" "$S"
if why=$(verify_blobs "$T/list2" 2 3 2); then
	ok "--force: every key keeps its 2 healthy replicas on 2 racks and reads back"
else
	fail "--force lowers no key's protection" "no bad blob" "$why"
fi

finish
