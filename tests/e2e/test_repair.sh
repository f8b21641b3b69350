#!/usr/bin/env bash
# Repair, small and fast (also runs under ASan):
#   (e) the bandwidth limit option parses, bad values are refused
#   (a) two sectors lost in different racks: keys left with one healthy
#       replica are repaired before keys left with two (dry-run plan and the
#       real run's JSON log), and the limit slows the run down
#   (c) a 4th replica added by hand is trimmed back to 3 over 3 racks
#   (d) `index rebuild` from the sectors alone gives back every replica set;
#       a corrupted copy comes back unhealthy ("checksum mismatch")
#   (b) a key whose every replica is gone is reported lost (status, exit 69,
#       action "lost" in the JSON log) and never "repaired" from nothing
. "$(dirname "$0")/lib.sh"

q() { sqlite3 -batch "$D/graviton.db" "$@"; }

# JSONL helpers over a file of `repair --json` output.
# jobs_of FILE: "action healthy key" for each job line, in order.
jobs_of() {
	"$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    o = json.loads(line)
    if o.get("event") == "job":
        print(o["action"], o["healthy"], o["key"], o["phase"])
' "$1"
}
# summary_of FILE EXPR: EXPR over the summary object s.
summary_of() {
	"$PY" -c '
import json, sys
s = None
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        o = json.loads(line)
        if o.get("event") == "summary":
            s = o
print(eval(sys.argv[2], {"s": s}))
' "$1" "$2"
}

# bad_keys [RACKS]: one line per key that is NOT at 3 healthy complete
# replicas on healthy sectors over at least RACKS (default 3) distinct racks,
# with no other rows.
bad_keys() {
	q "SELECT b.key,
	     (SELECT COUNT(*) FROM replicas r JOIN sectors s ON s.id = r.sector
	       WHERE r.key = b.key AND r.healthy = 1 AND r.complete = 1
	         AND s.healthy = 1 AND s.state = 0) AS h,
	     (SELECT COUNT(*) FROM replicas r WHERE r.key = b.key) AS n,
	     (SELECT COUNT(DISTINCT s.rack) FROM replicas r JOIN sectors s ON s.id = r.sector
	       WHERE r.key = b.key) AS racks
	   FROM blobs b WHERE NOT (h = 3 AND n = 3 AND racks >= ${1:-3});"
}

# replica_sets: "key sector,sector,sector" for every key, sorted.
replica_sets() {
	q "SELECT key || ' ' || (SELECT group_concat(sector, ',') FROM
	     (SELECT sector FROM replicas r WHERE r.key = b.key ORDER BY sector))
	   FROM blobs b ORDER BY key;"
}

# reads_ok: every stored file reads back byte-identical.
reads_ok() {
	local i bad=0

	for i in "${!KEYS[@]}"; do
		if ! gvx get "${KEYS[$i]}" 2>>"$T/.get.err" | cmp -s - "$T/f$i"; then
			bad=$((bad + 1))
			echo "  f$i (${KEYS[$i]}) differs" >&2
		fi
	done
	[ "$bad" = 0 ]
}

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors, 3 racks" 0
[ "$RC" = 0 ] || finish

# 40 blobs, 0 B to 300 KiB, about 2.7 MiB in all
KEYS=()
for i in $(seq 0 39); do
	case $i in
	0) n=0 ;;
	1) n=1 ;;
	2) n=300000 ;;
	3) n=250000 ;;
	4) n=200000 ;;
	*) n=$(( (i * 7919) % 90000 + 1 )) ;;
	esac
	must randfile "$T/f$i" "$n"
	k=$(put_ok "$T/f$i") || { fail "put f$i"; finish; }
	KEYS+=("$k")
done
ok "stored ${#KEYS[@]} blobs"

# ---- (e) the bandwidth limit option ---------------------------------------

for v in 1MiB 250kB 4096 10MB; do
	gv repair --dry-run --max-bytes-per-second "$v"
	expect_rc "--max-bytes-per-second $v accepted" 0
done
for v in abc -1 '' 10XB 1.5MB 99999999999999999999999 10MB/s; do
	gv repair --once --max-bytes-per-second "$v"
	expect_fail "--max-bytes-per-second '$v' refused" 64 "max-bytes-per-second"
done
gv repair --once --max-bytes-per-second
expect_fail "--max-bytes-per-second without a value refused" 64 "max-bytes-per-second"
gv repair --once --parallel-jobs 0
expect_fail "--parallel-jobs 0 refused" 64 "parallel-jobs"
gv repair --once --batch-size x
expect_fail "--batch-size x refused" 64 "batch-size"

# ---- (a) two sectors lost in different racks ------------------------------

L1=s01
L2=s02
r1=$(q "SELECT rack FROM sectors WHERE id = '$L1'")
r2=$(q "SELECT rack FROM sectors WHERE id = '$L2'")
[ -n "$r1" ] && [ "$r1" != "$r2" ] || { fail "$L1 and $L2 sit in different racks" "two racks" "'$r1' '$r2'"; finish; }

# Keys that will be left with one healthy replica: a row in both lost sectors.
q "SELECT key FROM replicas WHERE sector = '$L1' INTERSECT
   SELECT key FROM replicas WHERE sector = '$L2' ORDER BY 1" >"$T/one.want"
q "SELECT key FROM replicas WHERE sector IN ('$L1', '$L2') GROUP BY key
   HAVING COUNT(*) = 1 ORDER BY 1" >"$T/two.want"
n1=$(wc -l <"$T/one.want")
n2=$(wc -l <"$T/two.want")
note "losing $L1 ($r1) and $L2 ($r2): $n1 keys keep one healthy replica, $n2 keep two"
if [ "$n1" -lt 1 ] || [ "$n2" -lt 1 ]; then
	fail "the layout gives keys with one and with two healthy replicas" ">= 1 each" "$n1 and $n2"
	finish
fi

rm -rf "${D:?}/sectors/$L1" "$D/sectors/$L2"
gv sector set-health "$L1" unhealthy
expect_rc "mark $L1 unhealthy" 0
gv sector set-health "$L2" unhealthy
expect_rc "mark $L2 unhealthy" 0

gv status --json
jcheck "status: $((n1 + n2)) under-replicated, 0 lost" \
	"j['under_replicated'] == $((n1 + n2)) and j['lost'] == 0"

snapshot "$T/snap.before"
gv repair --dry-run --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair --dry-run --json exits 0" 0
printf '%s\n' "$OUT" >"$T/plan.jsonl"
expect_unchanged "dry run changed nothing (index and sector files)" "$T/snap.before"

# every job with healthy=1 comes before any with healthy=2
check_order() { # check_order FILE WHAT
	local f=$1 what=$2

	jobs_of "$f" >"$T/jobs.txt" || { fail "$what: JSON lines parse"; return 0; }
	awk '$1 == "copy" && $2 == 1 { print $3 }' "$T/jobs.txt" | sort >"$T/one.got"
	awk '$1 == "copy" && $2 == 2 { print $3 }' "$T/jobs.txt" | sort >"$T/two.got"
	if cmp -s "$T/one.want" "$T/one.got" && cmp -s "$T/two.want" "$T/two.got"; then
		ok "$what: a copy job for each damaged key, with its healthy count"
	else
		fail "$what: a copy job for each damaged key" "$n1 with healthy=1, $n2 with healthy=2" \
			"$(wc -l <"$T/one.got") and $(wc -l <"$T/two.got")"
	fi
	last1=$(awk '$2 == 1 { n = NR } END { print n + 0 }' "$T/jobs.txt")
	first2=$(awk '$2 == 2 { print NR; exit }' "$T/jobs.txt")
	if [ -n "$first2" ] && [ "$last1" -gt 0 ] && [ "$last1" -lt "$first2" ]; then
		ok "$what: every healthy=1 job (last at line $last1) before any healthy=2 job (first at line $first2)"
	else
		fail "$what: healthy=1 jobs first" "last healthy=1 line < first healthy=2 line" \
			"$(awk '{ printf "%s ", $2 }' "$T/jobs.txt")"
	fi
}
check_order "$T/plan.jsonl" "dry-run plan"
phases=$(awk '{ print $4 }' "$T/jobs.txt" | sort -u | tr '\n' ' ')
expect_eq "dry-run jobs are all 'planned'" "planned " "$phases"
planned_bytes=$("$PY" -c '
import json, sys
print(sum(json.loads(l)["bytes"] for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("event") == "job"))
' "$T/plan.jsonl")
note "plan: $planned_bytes bytes to copy"

# The real run, one job at a time so the done-order is the queue order, under
# a bandwidth limit that must show in the duration.
RATE=2097152
gv repair --once --json --parallel-jobs 1 --max-bytes-per-second 2MiB
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair --once exits 0" 0
printf '%s\n' "$OUT" >"$T/run.jsonl"
check_order "$T/run.jsonl" "repair --once --json log"
phases=$(awk '{ print $4 }' "$T/jobs.txt" | sort -u | tr '\n' ' ')
expect_eq "real-run jobs are all 'done'" "done " "$phases"
copied=$(summary_of "$T/run.jsonl" "s['bytes_copied']")
secs=$(summary_of "$T/run.jsonl" "s['duration_s']")
expect_eq "bytes copied as planned" "$planned_bytes" "$copied"
min=$(awk -v b="$copied" -v r="$RATE" 'BEGIN { m = (b - 1048576) / r * 0.9; printf "%.2f", m < 0 ? 0 : m }')
if awk -v s="$secs" -v m="$min" 'BEGIN { exit !(s >= m) }'; then
	ok "the bandwidth limit held: $copied bytes at 2 MiB/s took ${secs} s (>= $min s)"
else
	fail "the bandwidth limit held" ">= $min s for $copied bytes at 2 MiB/s" "$secs s"
fi

bad=$(bad_keys)
expect_eq "every key back to 3 healthy replicas over 3 racks, nothing else recorded" "" "$bad"
expect_eq "no replica rows left on $L1/$L2" 0 "$(q "SELECT COUNT(*) FROM replicas WHERE sector IN ('$L1','$L2')")"
gv status --json
jcheck "status: 0 under-replicated, 0 over, 0 lost" \
	"j['under_replicated'] == 0 and j['over_replicated'] == 0 and j['lost'] == 0"
expect_true "every blob reads back byte-identical after the repair" reads_ok
gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "a second run exits 0" 0
printf '%s\n' "$OUT" >"$T/again.jsonl"
expect_eq "a second run finds 0 keys needing repair" 0 "$(summary_of "$T/again.jsonl" "s['keys_needing_repair']")"

# ---- (c) over-replication -------------------------------------------------

K=${KEYS[2]}
mapfile -t HOLD < <(q "SELECT sector FROM replicas WHERE key = '$K' ORDER BY sector")
EXTRA=$(q "SELECT id FROM sectors WHERE healthy = 1 AND id NOT IN
             (SELECT sector FROM replicas WHERE key = '$K') ORDER BY id LIMIT 1")
[ -n "$EXTRA" ] || { fail "a healthy sector without $K"; finish; }
src=$(replica_file "$K" "${HOLD[0]}") || { fail "replica file of $K in ${HOLD[0]}"; finish; }
dst=$(replica_path "$K" "$EXTRA")
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
q "INSERT INTO replicas (key, sector, size, ranges, complete, healthy, last_verified, checksum, reason)
   SELECT key, '$EXTRA', size, ranges, complete, healthy, last_verified, checksum, reason
   FROM replicas WHERE key = '$K' AND sector = '${HOLD[0]}';"
expect_eq "4th replica of $K added in $EXTRA by hand" 4 "$(q "SELECT COUNT(*) FROM replicas WHERE key = '$K' AND healthy = 1")"
gv status --json
jcheck "status: 1 over-replicated" "j['over_replicated'] == 1"

gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair trims the surplus (exit 0)" 0
printf '%s\n' "$OUT" >"$T/trim.jsonl"
trim=$("$PY" -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    o = json.loads(l) if l.strip() else {}
    if o.get("event") == "job" and o["key"] == sys.argv[2] and o["action"] == "trim" and o["phase"] == "done" and len(o["removed"]) == 1:
        n += 1
print(n)
' "$T/trim.jsonl" "$K")
expect_eq "the JSON log has one 'trim' job removing one copy of $K" 1 "$trim"
expect_eq "$K: 3 healthy replicas in 3 distinct racks" "3 3" \
	"$(q "SELECT COUNT(*), COUNT(DISTINCT s.rack) FROM replicas r JOIN sectors s ON s.id = r.sector
	      WHERE r.key = '$K' AND r.healthy = 1" | tr '|' ' ')"
nfiles=$(replica_files "$K" | wc -l)
expect_eq "$K: 3 replica files left on disk" 3 "$nfiles"
expect_eq "every key at 3 healthy replicas over 3 racks" "" "$(bad_keys)"
expect_true "every blob reads back byte-identical after the trim" reads_ok

# ---- (d) index rebuild ----------------------------------------------------

KC=${KEYS[3]}
# The copy to corrupt sits in rack-3, which still has two sectors, so the
# repair can keep three racks.
CS=$(q "SELECT r.sector FROM replicas r JOIN sectors s ON s.id = r.sector
        WHERE r.key = '$KC' AND s.rack = 'rack-3'")
cf=$(replica_file "$KC" "$CS") || { fail "replica file of $KC in $CS"; finish; }
must flip_byte "$cf" 1000
replica_sets >"$T/sets.before"
[ "$(wc -l <"$T/sets.before")" = "${#KEYS[@]}" ] || fail "replica sets listed for every key"

gv index rebuild
expect_fail "index rebuild with an index present refuses without --force" 73 "force"
cmp -s "$T/sets.before" <(replica_sets) && ok "the refused rebuild left the index alone" ||
	fail "the refused rebuild left the index alone"

rm -f "$D/graviton.db" "$D/graviton.db-wal" "$D/graviton.db-shm"
gv index rebuild --json
expect_rc "index rebuild without an index (no --force needed)" 0
jcheck "rebuild summary: 4 sectors, ${#KEYS[@]} blobs, $((3 * ${#KEYS[@]})) replicas, 1 unhealthy" \
	"j['sectors'] == 4 and j['blobs'] == ${#KEYS[@]} and j['replicas'] == $((3 * ${#KEYS[@]})) and j['unhealthy'] == 1"
replica_sets >"$T/sets.after"
if d=$(diff "$T/sets.before" "$T/sets.after"); then
	ok "every key's replica set is as before the rebuild"
else
	fail "replica sets after the rebuild" "as before" "$(printf '%s' "$d" | head -c 600)"
fi
expect_eq "the corrupted copy of $KC in $CS is unhealthy: checksum mismatch" \
	"0|checksum mismatch" "$(q "SELECT healthy, reason FROM replicas WHERE key = '$KC' AND sector = '$CS'")"
expect_eq "no other replica is unhealthy" 0 \
	"$(q "SELECT COUNT(*) FROM replicas WHERE healthy = 0 AND NOT (key = '$KC' AND sector = '$CS')")"
expect_eq "rebuilt sectors keep their racks" "s03 rack-3|s04 rack-1|s05 rack-2|s06 rack-3" \
	"$(q "SELECT id || ' ' || rack FROM sectors ORDER BY id" | tr '\n' '|' | sed 's/|$//')"
gv stat "$KC" --json
jcheck "stat $KC: 2 healthy, the one in $CS unhealthy with reason 'checksum mismatch'" \
	"j['healthy_replicas'] == 2 and [r['reason'] for r in j['replicas'] if r['sector'] == '$CS'] == ['checksum mismatch']"
expect_true "every blob reads back byte-identical after the rebuild" reads_ok

gv index rebuild --force
expect_rc "index rebuild --force over an existing index" 0
cmp -s "$T/sets.before" <(replica_sets) && ok "--force rebuild gives the same replica sets" ||
	fail "--force rebuild gives the same replica sets"

gv repair --once
expect_rc "repair after the rebuild replaces the corrupted copy" 0
expect_eq "every key at 3 healthy replicas over 3 racks" "" "$(bad_keys)"
expect_eq "the corrupted file is gone" "" "$( [ -e "$cf" ] && echo "$cf still there")"
expect_true "every blob reads back byte-identical" reads_ok

# ---- (f) bad copies where the only room is ---------------------------------
# Two of a key's three copies go bad (flipped bytes, found by a scrub: the
# rows are marked as a scrub marks them).  Four live sectors: one free of the
# key, so the second fresh copy has to replace a bad one in place.

KB=${KEYS[5]}
mapfile -t HB < <(q "SELECT r.sector FROM replicas r JOIN sectors s ON s.id = r.sector
                     WHERE r.key = '$KB' AND s.rack IN ('rack-1', 'rack-2') ORDER BY 1")
[ "${#HB[@]}" = 2 ] || { fail "$KB has copies in rack-1 and rack-2" "2" "${#HB[@]}"; finish; }
for s in "${HB[@]}"; do
	f=$(replica_file "$KB" "$s") || { fail "replica file of $KB in $s"; finish; }
	must flip_byte "$f" 7
	q "UPDATE replicas SET healthy = 0, reason = 'checksum mismatch'
	   WHERE key = '$KB' AND sector = '$s'"
done
gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair with the only free room holding bad copies exits 0" 0
expect_eq "every key at 3 healthy replicas, no bad rows" "" "$(bad_keys 2)"
hex=$(key_hex "$KB")
nbad=0
while read -r f; do
	[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$hex" ] || nbad=$((nbad + 1))
done < <(replica_files "$KB")
expect_eq "$KB: 3 replica files on disk, all matching the key" "3 0" "$(replica_files "$KB" | wc -l) $nbad"
expect_true "every blob reads back byte-identical" reads_ok

# ---- (b) a lost key -------------------------------------------------------

KL=${KEYS[4]}
while read -r f; do rm -f "$f"; done < <(replica_files "$KL")
expect_eq "every replica file of $KL deleted" 0 "$(replica_files "$KL" | wc -l)"
gv get "$KL"
expect_rc "get $KL fails: nothing left (exit 69)" 69
gv status --json
jcheck "status --json: 1 lost" "j['lost'] == 1"
gv status
expect_rc "status exits 69 with a lost key" 69
expect_match "status text shows 1 lost" "lost: *1" "$OUT"

gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair --once exits 69 with a lost key" 69
printf '%s\n' "$OUT" >"$T/lost.jsonl"
lost=$("$PY" -c '
import json, sys
print(sorted(json.loads(l)["key"] for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("action") == "lost"))
' "$T/lost.jsonl")
expect_eq "the JSON log has action 'lost' for $KL only" "['$KL']" "$lost"
expect_eq "the JSON summary counts 1 lost" 1 "$(summary_of "$T/lost.jsonl" "s['lost']")"
expect_eq "nothing was made up for $KL" 0 "$(replica_files "$KL" | wc -l)"
expect_eq "$KL stays in the index (rows kept, none healthy)" "1 0" \
	"$(q "SELECT COUNT(DISTINCT b.key), (SELECT COUNT(*) FROM replicas WHERE key = '$KL' AND healthy = 1)
	      FROM blobs b WHERE b.key = '$KL'" | tr '|' ' ')"
gv repair --once
expect_rc "a second run still exits 69" 69
expect_match "the summary says 1 lost" "1 lost" "$OUT"

finish
