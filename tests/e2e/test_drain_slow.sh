#!/usr/bin/env bash
# Draining a sector through the real binary (issue 6): a sector holding
# 300+ replicas is drained while reads go on, the drain is killed with
# SIGKILL 10 times along the way and resumed with `sector drain ID`; it
# ends retired with no replica row and no object file, every key keeps 3
# healthy replicas on 3 racks and every blob reads back.  `sector remove`
# takes only a retired (or empty) sector.
. "$(dirname "$0")/lib.sh"

SRC=s01
KILLS=10

# rows_on SECTOR: replica rows of SECTOR in the index.
rows_on() {
	sqlite3 "$D/graviton.db" "select count(*) from replicas where sector = '$1'" 2>/dev/null
}

# weak_keys: keys with fewer than 3 healthy replica rows, or a healthy row
# on an unhealthy sector, or spanning fewer than 3 racks (index view).
weak_keys() {
	sqlite3 "$D/graviton.db" "
		select count(*) from blobs b where
		  (select count(*) from replicas r join sectors s on s.id = r.sector
		    where r.key = b.key and r.healthy = 1 and r.complete = 1 and s.healthy = 1) < 3
		  or (select count(distinct s.rack) from replicas r join sectors s on s.id = r.sector
		    where r.key = b.key and r.healthy = 1 and s.healthy = 1) < 3" 2>/dev/null
}

# state_of SECTOR: its state from sector list --json.
state_of() {
	local j

	j=$("$GV" --data-dir "$D" sector list --json 2>/dev/null) || return 1
	jget "[s['state'] for s in j if s['id'] == '$1'][0]" "$j"
}

# read_check N: get N random blobs of the list, compare; prints how many
# did not read back identical.
read_check() {
	local n=$1 f bad=0

	for f in $(shuf -n "$n" "$T/list"); do
		if ! "$GV" --data-dir "$D" get "$(key_of "$f")" -o "$T/.rd" 2>>"$T/reads.err" ||
			! cmp -s "$f" "$T/.rd"; then
			bad=$((bad + 1))
		fi
	done
	echo "$bad"
}

# ---- 3 full racks, then 3 more sectors ----------------------------------------

gv init --sectors 3 --racks 3 --zones 3
expect_rc "init --sectors 3 --racks 3 --zones 3" 0
[ "$RC" = 0 ] || finish

mkdir -p "$T/files"
: >"$T/list"
for i in $(seq 1 320); do
	must randfile "$T/files/a$i" $((512 + (RANDOM % 8192)))
	echo "$T/files/a$i" >>"$T/list"
done
if xargs -P 4 -n 1 "$GV" --data-dir "$D" put <"$T/list" >"$T/puts" 2>"$T/puts.err"; then
	ok "320 puts on 3 sectors"
else
	fail "320 puts on 3 sectors" "all exit 0" "$(head -c 400 "$T/puts.err")"
fi
for r in 1 2 3; do
	gv sector add "s0$((r + 3))" --path "$D/sectors/s0$((r + 3))" --rack "rack-$r" --zone "zone-$r"
	expect_rc "sector add s0$((r + 3)) on rack-$r" 0
done
for i in $(seq 1 30); do
	must randfile "$T/files/b$i" $((512 + (RANDOM % 8192)))
	echo "$T/files/b$i" >>"$T/list"
done
if tail -n 30 "$T/list" | xargs -P 4 -n 1 "$GV" --data-dir "$D" put >>"$T/puts" 2>"$T/puts.err"; then
	ok "30 more puts on 6 sectors"
else
	fail "30 more puts on 6 sectors" "all exit 0" "$(head -c 400 "$T/puts.err")"
fi
NBLOBS=$(wc -l <"$T/list")
N0=$(rows_on "$SRC")
note "$SRC holds $N0 replicas of $NBLOBS blobs"
expect_true "$SRC holds at least 300 replicas" [ "${N0:-0}" -ge 300 ]
expect_eq "every key has 3 healthy replicas on 3 racks before the drain" 0 "$(weak_keys)"

# ---- remove refuses an active sector with data ---------------------------------

gv sector remove "$SRC"
expect_fail "sector remove refuses an active sector holding replicas" 75 'drain'
expect_eq "$SRC still registered and active" active "$(state_of "$SRC")"

# ---- dry run ---------------------------------------------------------------

snapshot "$T/snap.before"
gv sector drain "$SRC" --dry-run --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "sector drain --dry-run exits 0" 0
planned=$(printf '%s\n' "$OUT" | grep -c '"phase":"planned"')
expect_eq "dry run plans one move per replica on $SRC" "$N0" "$planned"
expect_unchanged "dry run changes nothing (state, index, files)" "$T/snap.before"

# ---- the two crash windows of a move, laid out by hand --------------------------

# keys of $SRC whose other two replicas are on s02 and s03, so that s04 is
# the rack-1 sector a move of theirs goes to
mapfile -t pair < <(sqlite3 "$D/graviton.db" "
	select key from replicas where sector = '$SRC' and key in
	  (select key from replicas where sector = 's02') and key in
	  (select key from replicas where sector = 's03') and key not in
	  (select key from replicas where sector = 's04') order by key limit 2")
K1=${pair[0]:-}
K2=${pair[1]:-}
must [ -n "$K1" ] && must [ -n "$K2" ]
# copy_to_s04 KEY: the new copy written and recorded, the old one kept.
copy_to_s04() {
	local p

	p=$(replica_path "$1" s04)
	mkdir -p "$(dirname "$p")" && cp "$(replica_file "$1" "$SRC")" "$p" &&
		sqlite3 "$D/graviton.db" "insert into replicas
		  select key, 's04', size, ranges, complete, healthy, last_verified, checksum, reason
		  from replicas where key = '$1' and sector = '$SRC'"
}
# K1: killed after recording the new copy, before dropping the old row
must copy_to_s04 "$K1"
# K2: killed after dropping the old row, before deleting its bytes
must copy_to_s04 "$K2"
must sqlite3 "$D/graviton.db" "delete from replicas where key = '$K2' and sector = '$SRC'"
N0=$(rows_on "$SRC")
expect_eq "K1 has a 4th replica, K2 has 3 rows and a leftover file in $SRC" "4 3 yes" \
	"$(replica_sectors "$K1" | wc -l) $(replica_sectors "$K2" | wc -l) $([ -n "$(replica_file "$K2" "$SRC")" ] && echo yes)"

# ---- drain, killed with SIGKILL 10 times ---------------------------------------

step=$((N0 / (KILLS + 2)))
killed=0
read_bad=0
reads=0
: >"$T/reads.err"
for i in $(seq 1 "$KILLS"); do
	target=$((N0 - i * step))
	"$GV" --data-dir "$D" sector drain "$SRC" >"$T/drain.$i.out" 2>"$T/drain.$i.err" </dev/null &
	pid=$!
	# reads go on while the drain runs
	read_check 2 >"$T/reads.$i" &
	rpid=$!
	polls=0
	while kill -0 "$pid" 2>/dev/null && [ "$polls" -lt 3000 ]; do
		n=$(rows_on "$SRC")
		[ -n "$n" ] && [ "$n" -le "$target" ] && break
		polls=$((polls + 1))
		sleep 0.01
	done
	if kill -KILL "$pid" 2>/dev/null; then
		killed=$((killed + 1))
	fi
	wait "$pid" 2>/dev/null
	wait "$rpid"
	read_bad=$((read_bad + $(cat "$T/reads.$i")))
	reads=$((reads + 2))
	n=$(rows_on "$SRC")
	w=$(weak_keys)
	if [ "$w" != 0 ]; then
		fail "after SIGKILL $i no key is below 3 healthy replicas on 3 racks" "0 weak keys" "$w weak keys"
	fi
	if [ "$i" = 3 ]; then
		expect_eq "after a SIGKILL the sector stays draining" draining "$(state_of "$SRC")"
		# no new placements on a draining sector
		must randfile "$T/files/c1" 5000
		k=$(put_ok "$T/files/c1")
		expect_rc "a put while $SRC is draining succeeds" 0
		echo "$T/files/c1" >>"$T/list"
		expect_eq "the new blob has no replica on the draining $SRC" "" \
			"$(replica_sectors "$k" | grep -x "$SRC")"
	fi
	note "SIGKILL $i: $n replicas left on $SRC"
done
expect_eq "the drain was killed $KILLS times while running" "$KILLS" "$killed"
n=$(rows_on "$SRC")
expect_true "the killed drains made progress and left work to resume ($n of $N0 left)" \
	[ "$n" -lt "$N0" -a "$n" -gt 0 ]
expect_eq "reads during the killed drains all returned the original bytes ($reads reads)" 0 "$read_bad"

# ---- resume to the end, reading all along ---------------------------------------

"$GV" --data-dir "$D" sector drain "$SRC" >"$T/drain.final.out" 2>"$T/drain.final.err" </dev/null &
pid=$!
rounds=0
bad=0
while kill -0 "$pid" 2>/dev/null; do
	bad=$((bad + $(read_check 3)))
	rounds=$((rounds + 3))
done
wait "$pid"
rc=$?
expect_eq "the resumed drain exits 0" 0 "$rc"
expect_match "and says the sector is retired" "sector $SRC retired" "$(cat "$T/drain.final.err")"
note "$rounds reads during the final drain"
expect_eq "reads during the final drain all returned the original bytes" 0 "$bad"
[ -s "$T/reads.err" ] && note "read messages: $(sort "$T/reads.err" | uniq -c | head -n 3 | tr '\n' ' ')"

# ---- end state ----------------------------------------------------------------

expect_eq "$SRC is retired" retired "$(state_of "$SRC")"
expect_eq "no replica row on $SRC" 0 "$(rows_on "$SRC")"
left=$(find "$D/sectors/$SRC/objects" -type f 2>/dev/null | wc -l)
expect_eq "no object file left in $SRC" 0 "$left"
expect_eq "no key below 3 healthy replicas on 3 racks (index)" 0 "$(weak_keys)"
expect_eq "K1's surplus copy in $SRC was dropped, not moved: s02 s03 s04" "s02 s03 s04" \
	"$(replica_sectors "$K1" | sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "K2's leftover file in $SRC is gone, its 3 replicas stay" "3 " \
	"$(replica_sectors "$K2" | wc -l) $(replica_file "$K2" "$SRC")"
gv status --json
jcheck "status: $((NBLOBS + 1)) blobs, none under-replicated or lost" \
	"j['blobs'] == $((NBLOBS + 1)) and j['under_replicated'] == 0 and j['lost'] == 0"
if why=$(verify_blobs "$T/list" 3 3 3); then
	ok "every key has 3 healthy replicas on 3 racks, files match the index, every blob reads back"
else
	fail "every key keeps 3 healthy replicas on 3 racks and reads back" "no bad blob" "$why"
fi

snapshot "$T/snap.retired"
gv sector drain "$SRC"
expect_rc "draining a retired sector again exits 0" 0
expect_unchanged "and changes nothing" "$T/snap.retired"

# ---- sector remove ---------------------------------------------------------------

gv sector remove s02
expect_fail "sector remove refuses an active sector holding replicas (s02)" 75 'drain'
gv sector remove "$SRC"
expect_rc "sector remove of the retired $SRC" 0
gv sector list --json
jcheck "$SRC is gone, the other 5 stay" \
	"sorted(s['id'] for s in j) == ['s02', 's03', 's04', 's05', 's06']"
gv sector add s07 --path "$D/sectors/s07" --rack rack-1 --zone zone-1
must [ "$RC" = 0 ]
gv sector remove s07
expect_rc "sector remove of an empty active sector" 0
gv sector remove s07
expect_fail "sector remove of an unknown sector fails" 66 's07'
gv status --json
jcheck "status after the removals: nothing under-replicated or lost" \
	"j['under_replicated'] == 0 and j['lost'] == 0"

finish
