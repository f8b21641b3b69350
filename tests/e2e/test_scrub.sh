#!/usr/bin/env bash
# Scrub: every replica re-read and checked against its key.
#   (a) option errors: an unknown --sector is refused clearly
#   (b) a clean store: every replica checked, nothing reported, exit 0, no
#       object file touched, every replica's last_verified (stat --json)
#       moved into the run
#   (c) the scheduled form (--interval 1h) right after a full scrub checks
#       nothing; replicas set back past the interval are checked, exactly
#       those (ones set back less than the interval stay skipped)
#   (d) --sector ID checks that sector's replicas only
#   (e) 500 blobs x 3: 10 flipped bytes, 3 truncations, 2 deletions (one
#       replica per key) are reported exactly, with the right reason each,
#       exit 65, damaged files left as they were; `repair --once` brings
#       every key back to 3 healthy replicas; a second scrub finds nothing
#   (f) unreadable sectors: one whose blob files cannot be read (each
#       replaced by a directory, so the read fails with EISDIR) and one whose
#       directory cannot be opened (chmod 000; as root, where that does not
#       stop reads, its objects/ directory replaced by a file) - their
#       replicas are reported with "io error: ...", every other sector is
#       still checked; once readable again a scrub restores them
#
# GV_SCRUB_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"

NBLOBS=500
q() { sqlite3 -batch "$D/graviton.db" "$@"; }
now_ms() { date +%s%3N; }

# scrub_eval FILE EXPR: EXPR over bad (list of bad_replica objects) and
# s (the summary, None when there is none) from `scrub --json` output.
scrub_eval() {
	"$PY" -c '
import json, sys
bad, s, other = [], None, []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    o = json.loads(line)
    if o.get("event") == "bad_replica":
        bad.append(o)
    elif o.get("event") == "summary":
        s = o
    else:
        other.append(o)
v = eval(sys.argv[2], {"bad": bad, "s": s, "other": other})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
' "$1" "$2"
}

# scrub_check DESC FILE EXPR: EXPR (over bad, s) is truthy.
scrub_check() {
	local v

	if ! v=$(scrub_eval "$2" "bool($3)" 2>&1); then
		fail "$1" "scrub output where $3" "$(printf '%s' "$v" | tail -n 1)"
	elif [ "$v" = true ]; then
		ok "$1"
	else
		fail "$1" "scrub output where $3" "$(head -c 800 "$2")"
	fi
}

# object_hashes FILE: path, mode, size and SHA-256 of every file under the
# sectors, sorted.
object_hashes() {
	(cd "$D/sectors" && find . -type f -printf '%m %s %p\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$1"
}

# expect_hashes_unchanged DESC BEFORE
expect_hashes_unchanged() {
	local d

	object_hashes "$T/.hashes.after"
	if d=$(diff -u "$2" "$T/.hashes.after"); then
		ok "$1"
	else
		fail "$1" "every sector file unchanged" "differences:"
		printf '%s\n' "$d" | sed -n '3,30s/^/         /p'
	fi
}

# scheduled OUT ARGS...: run the scheduled form (`scrub ARGS` without
# --once) in the background until its first summary line is in OUT, then
# stop it with SIGINT.  $RC is its exit status.
scheduled() {
	local out=$1 pid i
	shift

	"$GV" --data-dir "$D" scrub "$@" >"$out" 2>"$T/.sched.err" </dev/null &
	pid=$!
	for i in $(seq 1 600); do
		grep -q '"summary":' "$out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	job_lines <"$out" >"$out.lines" && mv "$out.lines" "$out"
	ERR=$(cat "$T/.sched.err")
}

# bad_keys: keys NOT at 3 healthy complete replicas on healthy sectors over
# 3 racks (with no other rows).
bad_keys() {
	q "SELECT b.key,
	     (SELECT COUNT(*) FROM replicas r JOIN sectors s ON s.id = r.sector
	       WHERE r.key = b.key AND r.healthy = 1 AND r.complete = 1
	         AND s.healthy = 1 AND s.state = 0) AS h,
	     (SELECT COUNT(*) FROM replicas r WHERE r.key = b.key) AS n,
	     (SELECT COUNT(DISTINCT s.rack) FROM replicas r JOIN sectors s ON s.id = r.sector
	       WHERE r.key = b.key) AS racks
	   FROM blobs b WHERE NOT (h = 3 AND n = 3 AND racks = 3);"
}

SEED=${GV_SCRUB_SEED:-$((RANDOM * 32768 + RANDOM))}
note "seed $SEED (GV_SCRUB_SEED=$SEED repeats this run's choices)"

gv init --sectors 6 --racks 3 --zones 3 --factor 3
expect_rc "init 6 sectors, 3 racks, factor 3" 0
[ "$RC" = 0 ] || finish

# 500 blobs of 64 B to 4 KiB
mkdir -p "$T/in"
must "$PY" -c '
import os, random, sys
rnd = random.Random(int(sys.argv[2]))
for i in range(int(sys.argv[3])):
    with open(os.path.join(sys.argv[1], "f%d" % i), "wb") as f:
        f.write(os.urandom(rnd.randint(64, 4096)))
' "$T/in" "$SEED" "$NBLOBS"
KEYS=()
for i in $(seq 0 $((NBLOBS - 1))); do
	k=$(put_ok "$T/in/f$i") || { fail "put f$i"; finish; }
	KEYS+=("$k")
done
NREP=$(q "SELECT COUNT(*) FROM replicas WHERE healthy = 1 AND complete = 1")
TOTAL_BYTES=$(q "SELECT SUM(size) FROM replicas")
expect_eq "stored $NBLOBS blobs, 3 replicas each" "$((NBLOBS * 3))" "$NREP"

# ---- (a) options ----------------------------------------------------------

gv scrub --once --sector s99
expect_fail "scrub --sector s99 (no such sector) refused" 66 "s99"
expect_match "the error says the sector does not exist" "no sector|unknown sector|not found" "$ERR"
gv scrub --once --sector ../x
expect_fail "scrub --sector ../x (invalid id) refused" 64 "sector"
gv scrub --once --sector
expect_fail "scrub --sector without a value refused" 64 "sector"
gv scrub --once --parallel-reads 0
expect_fail "scrub --parallel-reads 0 refused" 64 "parallel-reads"
gv scrub --once --max-bytes-per-second 10XB
expect_fail "scrub --max-bytes-per-second 10XB refused" 64 "max-bytes-per-second"
gv scrub --interval 0
expect_fail "scrub --interval 0 refused" 64 "interval"

# ---- (b) a clean store ----------------------------------------------------

object_hashes "$T/hashes.clean"
SAMPLE=${KEYS[7]}
before=$(replica_field "$SAMPLE" s01 last_verified_ms)
t0=$(now_ms)
gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
t1=$(now_ms)
printf '%s\n' "$OUT" >"$T/scrub.clean"
expect_rc "scrub --once on a clean store exits 0" 0
scrub_check "clean store: $NREP replicas checked, all healthy, nothing reported" "$T/scrub.clean" \
	"s is not None and s['checked'] == $NREP and s['healthy'] == $NREP and not bad and s['newly_unhealthy'] == 0 and s['still_unhealthy'] == 0 and s['skipped'] == 0"
scrub_check "clean store: every byte read ($TOTAL_BYTES)" "$T/scrub.clean" "s['bytes'] == $TOTAL_BYTES"
expect_hashes_unchanged "scrub changed no file in any sector (clean store)" "$T/hashes.clean"
expect_eq "every replica's last_verified is within the run" 0 \
	"$(q "SELECT COUNT(*) FROM replicas WHERE last_verified < $t0 OR last_verified > $t1")"
gv stat "$SAMPLE" --json
jcheck "stat --json: last_verified_ms of each replica moved into the run [$t0, $t1] (was $before)" \
	"len(j['replicas']) == 3 and all($t0 <= r['last_verified_ms'] <= $t1 for r in j['replicas'])"
jcheck "stat --json: last_verified is the same instant as a UTC timestamp" \
	"all(__import__('calendar').timegm(__import__('time').strptime(r['last_verified'], '%Y-%m-%dT%H:%M:%SZ')) == r['last_verified_ms'] // 1000 for r in j['replicas'])"
gv stat "$SAMPLE"
expect_match "stat shows the last verification" "LAST VERIFIED" "$OUT"
expect_match "stat shows the verification time" "$(date -u -d "@$((t1 / 1000))" +%Y-%m-%d)T" "$OUT"

# ---- (c) the scheduled form ---------------------------------------------

scheduled "$T/sched.1" --interval 1h --json
expect_eq "scheduled scrub stopped by SIGINT after its first run exits 0" 0 "$RC"
scrub_check "scheduled scrub right after a full scrub checks 0 replicas" "$T/sched.1" \
	"s is not None and s['checked'] == 0 and not bad"

# 7 replicas verified 2 h ago (due), 3 verified 30 min ago (not due)
mapfile -t DUE < <(q "SELECT key || '|' || sector FROM replicas ORDER BY key, sector LIMIT 7")
mapfile -t FRESH < <(q "SELECT key || '|' || sector FROM replicas ORDER BY key DESC, sector LIMIT 3")
tb=$(now_ms)
for ks in "${DUE[@]}"; do
	q "UPDATE replicas SET last_verified = $((tb - 2 * 3600 * 1000)) WHERE key = '${ks%|*}' AND sector = '${ks#*|}'"
done
for ks in "${FRESH[@]}"; do
	q "UPDATE replicas SET last_verified = $((tb - 1800 * 1000)) WHERE key = '${ks%|*}' AND sector = '${ks#*|}'"
done
t2=$(now_ms)
scheduled "$T/sched.2" --interval 1h --json
expect_eq "scheduled scrub (second) exits 0" 0 "$RC"
scrub_check "scheduled scrub checks exactly the 7 replicas verified more than 1h ago" "$T/sched.2" \
	"s is not None and s['checked'] == 7 and s['healthy'] == 7 and not bad"
got=$(q "SELECT key || '|' || sector FROM replicas WHERE last_verified >= $t2 ORDER BY key, sector")
expect_eq "the replicas it verified are the 7 due ones" "$(printf '%s\n' "${DUE[@]}" | sort)" "$got"
expect_eq "the 3 replicas verified 30 min ago were left alone" 3 \
	"$(q "SELECT COUNT(*) FROM replicas WHERE last_verified = $((tb - 1800 * 1000))")"

# ---- (d) --sector ---------------------------------------------------------

N2=$(q "SELECT COUNT(*) FROM replicas WHERE sector = 's02'")
t3=$(now_ms)
gv scrub --once --sector s02 --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.s02"
expect_rc "scrub --once --sector s02 exits 0" 0
scrub_check "--sector s02 checks its $N2 replicas" "$T/scrub.s02" \
	"s is not None and s['checked'] == $N2 and s['healthy'] == $N2 and not bad"
expect_eq "only s02's replicas were verified" "$N2 0" \
	"$(q "SELECT SUM(sector = 's02'), SUM(sector != 's02') FROM replicas WHERE last_verified >= $t3" | tr '|' ' ')"

# ---- (e) damage: 10 flipped bytes, 3 truncations, 2 deletions -------------

# One line per damaged replica: "reason|key|sector|arg", 15 distinct keys
# (so every key keeps 2 good copies for repair).
q "SELECT key || '|' || sector || '|' || size FROM replicas ORDER BY key, sector" >"$T/replicas.txt"
"$PY" -c '
import random, sys
rnd = random.Random(int(sys.argv[2]))
reps = {}
for line in open(sys.argv[1]):
    k, s, n = line.strip().split("|")
    reps.setdefault(k, []).append((s, int(n)))
keys = rnd.sample(sorted(reps), 15)
kinds = ["checksum mismatch"] * 10 + ["size mismatch"] * 3 + ["missing"] * 2
for k, why in zip(keys, kinds):
    s, n = rnd.choice(sorted(reps[k]))
    arg = rnd.randrange(n)  # byte to flip / length to truncate to
    print("%s|%s|%s|%d" % (why, k, s, arg))
' "$T/replicas.txt" "$SEED" >"$T/damage.txt"
expect_eq "15 replicas of 15 distinct keys chosen" "15 15" \
	"$(wc -l <"$T/damage.txt") $(cut -d'|' -f2 "$T/damage.txt" | sort -u | wc -l)"
while IFS='|' read -r why k s arg; do
	f=$(replica_file "$k" "$s") || { fail "no replica file for $k in $s"; continue; }
	case $why in
	"checksum mismatch") must flip_byte "$f" "$arg" ;;
	"size mismatch") chmod u+w "$f"; must truncate -s "$arg" "$f" ;;
	missing) must rm -f "$f" ;;
	esac
done <"$T/damage.txt"
note "damaged: $(cut -d'|' -f1,3 "$T/damage.txt" | sort | uniq -c | tr -s ' \n' ' ')"

object_hashes "$T/hashes.damaged"
gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.damaged"
expect_rc "scrub --once over the damage exits 65" 65
want=$(awk -F'|' '{ print $2 "|" $3 "|" $1 }' "$T/damage.txt" | sort)
got=$(scrub_eval "$T/scrub.damaged" '"\n".join(sorted("%s|%s|%s" % (b["key"], b["sector"], b["reason"]) for b in bad))')
if [ "$got" = "$want" ]; then
	ok "scrub reports exactly the 15 damaged replicas, each with its reason"
else
	fail "scrub reports exactly the 15 damaged replicas, each with its reason" "(see diff)" "(see diff)"
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed -n '1,40s/^/         /p'
fi
scrub_check "every report is a newly unhealthy replica, listed once" "$T/scrub.damaged" \
	"len(bad) == 15 and all(b['newly_unhealthy'] is True for b in bad) and len(set((b['key'], b['sector']) for b in bad)) == 15"
scrub_check "summary: $NREP checked, $((NREP - 15)) healthy, 15 newly unhealthy" "$T/scrub.damaged" \
	"s is not None and s['checked'] == $NREP and s['healthy'] == $((NREP - 15)) and s['newly_unhealthy'] == 15 and s['still_unhealthy'] == 0"
expect_hashes_unchanged "scrub left every file as it was, damaged ones included" "$T/hashes.damaged"
want_idx=$(awk -F'|' '{ print $2 "|" $3 "|" $1 }' "$T/damage.txt" | sort)
expect_eq "the index marks exactly those 15 unhealthy, with their reasons" "$want_idx" \
	"$(q "SELECT key || '|' || sector || '|' || reason FROM replicas WHERE healthy = 0 ORDER BY 1")"
IFS='|' read -r why k s _ < <(head -n 1 "$T/damage.txt")
gv stat "$k" --json
jcheck "stat --json shows the damaged replica unhealthy with reason '$why'" \
	"[(r['healthy'], r['reason']) for r in j['replicas'] if r['sector'] == '$s'] == [(False, '$why')]"

gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.again"
expect_rc "scrub again before repair: still exit 65" 65
scrub_check "scrub again: the 15 are reported as already marked" "$T/scrub.again" \
	"len(bad) == 15 and s['still_unhealthy'] == 15 and s['newly_unhealthy'] == 0 and not any(b['newly_unhealthy'] for b in bad)"

gv repair --once
expect_rc "repair --once exits 0" 0
b=$(bad_keys)
expect_eq "after repair every key has 3 healthy replicas on 3 racks" "" "$b"
bad_reads=0
while IFS='|' read -r why k s _; do
	for i in "${!KEYS[@]}"; do
		[ "${KEYS[$i]}" = "$k" ] || continue
		gvx get "$k" 2>/dev/null | cmp -s - "$T/in/f$i" || bad_reads=$((bad_reads + 1))
	done
done <"$T/damage.txt"
expect_eq "the 15 repaired keys read back byte-identical" 0 "$bad_reads"

NREP2=$(q "SELECT COUNT(*) FROM replicas")
gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.repaired"
expect_rc "scrub after repair exits 0" 0
scrub_check "scrub after repair: $NREP2 checked, nothing found" "$T/scrub.repaired" \
	"s is not None and not bad and s['checked'] == $NREP2 and s['healthy'] == $NREP2 and s['newly_unhealthy'] == 0 and s['still_unhealthy'] == 0"

# ---- (f) unreadable sectors -----------------------------------------------

A=s03   # blob files replaced by directories: the read fails (EISDIR)
B=s05   # the sector directory cannot be opened
object_hashes "$T/hashes.before_io"
mkdir -p "$T/saveA"
(cd "$D/sectors/$A" && find objects -type f) >"$T/filesA"
NA=$(wc -l <"$T/filesA")
expect_eq "sector $A holds a file per replica" "$(q "SELECT COUNT(*) FROM replicas WHERE sector = '$A'")" "$NA"
while read -r rel; do
	mkdir -p "$T/saveA/$(dirname "$rel")"
	mv "$D/sectors/$A/$rel" "$T/saveA/$rel" && mkdir "$D/sectors/$A/$rel"
done <"$T/filesA"
if [ "$(id -u)" != 0 ]; then
	how="chmod 000"
	chmod 000 "$D/sectors/$B"
else
	how="objects/ replaced by a file (root reads through chmod 000)"
	mv "$D/sectors/$B/objects" "$T/saveB-objects"
	echo "not a directory" >"$D/sectors/$B/objects"
fi
note "sector $A: blob files replaced by directories; sector $B: $how"

t4=$(now_ms)
gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.io"
expect_rc "scrub with unreadable sectors exits 65" 65
want=$(q "SELECT key || '|' || sector FROM replicas WHERE sector IN ('$A', '$B') ORDER BY 1")
NAB=$(printf '%s\n' "$want" | wc -l)
got=$(scrub_eval "$T/scrub.io" '"\n".join(sorted("%s|%s" % (b["key"], b["sector"]) for b in bad))')
if [ "$got" = "$want" ]; then
	ok "scrub reports exactly the $NAB replicas of $A and $B"
else
	fail "scrub reports exactly the $NAB replicas of $A and $B" "(see diff)" "(see diff)"
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed -n '1,20s/^/         /p'
fi
scrub_check "every one with an I/O reason ('io error: ...')" "$T/scrub.io" \
	"len(bad) == $NAB and all(b['reason'].startswith('io error') for b in bad)"
scrub_check "the I/O reason of $A names the failing read (directory)" "$T/scrub.io" \
	"all('directory' in b['reason'].lower() for b in bad if b['sector'] == '$A')"
scrub_check "the scrub carried on: $NREP2 checked, $((NREP2 - NAB)) healthy" "$T/scrub.io" \
	"s is not None and s['checked'] == $NREP2 and s['healthy'] == $((NREP2 - NAB)) and s['newly_unhealthy'] == $NAB"
expect_eq "every replica of the other sectors was verified in this run" 0 \
	"$(q "SELECT COUNT(*) FROM replicas WHERE sector NOT IN ('$A', '$B') AND last_verified < $t4")"
expect_eq "the index holds the I/O reason for each of them" "$NAB" \
	"$(q "SELECT COUNT(*) FROM replicas WHERE healthy = 0 AND reason LIKE 'io error%'")"

# readable again: the next scrub restores them
while read -r rel; do
	rmdir "$D/sectors/$A/$rel" && mv "$T/saveA/$rel" "$D/sectors/$A/$rel"
done <"$T/filesA"
if [ "$(id -u)" != 0 ]; then
	chmod 755 "$D/sectors/$B"
else
	rm -f "$D/sectors/$B/objects"
	mv "$T/saveB-objects" "$D/sectors/$B/objects"
fi
expect_hashes_unchanged "no sector file changed by the scrub over unreadable sectors" "$T/hashes.before_io"
gv scrub --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
printf '%s\n' "$OUT" >"$T/scrub.restored"
expect_rc "scrub once the sectors are readable again exits 0" 0
scrub_check "it restores the $NAB replicas, nothing bad" "$T/scrub.restored" \
	"s is not None and not bad and s['restored'] == $NAB and s['healthy'] == $NREP2"
expect_eq "every replica healthy again" 0 "$(q "SELECT COUNT(*) FROM replicas WHERE healthy = 0")"

finish
