#!/usr/bin/env bash
# Repair under SIGKILL: `graviton repair --once` is killed at random moments
# (TORTURE_ROUNDS times, default 20) and started again.  Work comes from a
# lost sector, then from sectors marked unhealthy once the store has
# converged, always including a blob of at least 100 MiB so resumable copies
# are cut mid-way and resumed.  After every kill:
#   - no complete replica row whose object file is missing or short,
#   - an incomplete row's recorded ranges are on disk (in partial/, or in
#     objects/ when the kill fell between the commit and the record),
#   - no partial/ file without its incomplete row.
# One last run is killed right after it has recorded part of the big copy,
# so the final run must resume it.  At the end a run without kills exits 0 with nothing under-replicated,
# no incomplete row, nothing in tmp/ or partial/, and every blob reads back
# byte-identical.
#
#   TORTURE_ROUNDS=N   kills to make (default 20)
#   TORTURE_SEED=N     seed for the kill moments (default: random, printed)
#   KILL_BIG_MIB=N     size of the big blob (default 144)
#   KILL_PARALLEL=N    --parallel-jobs of the killed runs (default 2)
#   KILL_RATE=SIZE     --max-bytes-per-second of the killed runs (default 48MiB)
. "$(dirname "$0")/lib.sh"

ROUNDS=${TORTURE_ROUNDS:-20}
SEED=${TORTURE_SEED:-$(( $(date +%s%N) % 32768 ))}
BIG_MIB=${KILL_BIG_MIB:-144}
RATE=${KILL_RATE:-48MiB}
JOBS=${KILL_PARALLEL:-2}
RANDOM=$SEED
note "rounds $ROUNDS, seed $SEED, big blob $BIG_MIB MiB, repair limited to $RATE/s, $JOBS parallel jobs"

q() { sqlite3 -batch "$D/graviton.db" "$@"; }

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors, 3 racks" 0
[ "$RC" = 0 ] || finish

# ---- data: one big blob, 200 small ones -----------------------------------

mkdir -p "$T/src"
must randfile "$T/src/big" $((BIG_MIB * 1048576))
"$PY" - "$T/src" 200 <<'PYEOF' || { fail "generate the small blobs"; finish; }
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    size = 0 if i == 0 else (i * 2654435761) % (256 * 1024) + 1
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(os.urandom(size))
PYEOF
NAMES=(big $(seq 0 199))
KEYS=()
for n in "${NAMES[@]}"; do
	k=$(put_ok "$T/src/$n") || { fail "put $n"; finish; }
	KEYS+=("$k")
done
BIG=${KEYS[0]}
ok "stored the $BIG_MIB MiB blob and 200 small ones"

# ---- the checks -----------------------------------------------------------

cat >"$T/check.py" <<'PYEOF'
# check.py DATA_DIR DEAD_SECTOR FINAL < "key|sector|complete|ranges" rows
import os, sys

d, dead, final = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
problems = []
incomplete = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    key, sector, complete, ranges = line.split("|")
    _, h, size = key.split(":")
    size = int(size)
    name = "%s-%d" % (h, size)
    obj = os.path.join(d, "sectors", sector, "objects", h[:2], name)
    part = os.path.join(d, "sectors", sector, "partial", name)
    if sector == dead:
        if final:
            problems.append("row left on the lost sector: %s %s" % (key, sector))
        continue
    if complete == "1":
        if not os.path.isfile(obj) or os.path.getsize(obj) != size:
            problems.append("complete row without its object file: %s %s" % (key, sector))
        continue
    incomplete[(sector, name)] = key
    if final:
        problems.append("incomplete row after convergence: %s %s ranges=%r" % (key, sector, ranges))
    recorded = 0
    for r in filter(None, ranges.split(",")):
        a, _, b = r.partition("-")
        recorded = max(recorded, int(b or a) + 1)
    if recorded == 0:
        continue  # an intent row: nothing promised yet
    if os.path.isfile(obj) and os.path.getsize(obj) == size:
        # committed, killed before the row said so (a later run may have
        # opened a new, empty partial beside it before it was killed too)
        continue
    if os.path.isfile(part) and os.path.getsize(part) >= recorded:
        continue
    problems.append("incomplete row %s %s records %d bytes, partial/ has %s" % (
        key, sector, recorded,
        os.path.getsize(part) if os.path.isfile(part) else "no file"))
sroot = os.path.join(d, "sectors")
for s in sorted(os.listdir(sroot)):
    for sub in ("partial", "tmp"):
        p = os.path.join(sroot, s, sub)
        if not os.path.isdir(p):
            continue
        for f in os.listdir(p):
            if final:
                problems.append("stray file %s/%s/%s" % (s, sub, f))
            elif sub == "partial" and (s, f) not in incomplete:
                problems.append("partial/ file without its row: %s/partial/%s" % (s, f))
for p in problems[:10]:
    print(p)
if len(problems) > 10:
    print("... and %d more" % (len(problems) - 10))
sys.exit(1 if problems else 0)
PYEOF

# check_state DEAD FINAL: run check.py; prints problems, fails on any.
check_state() {
	q "SELECT key, sector, complete, ranges FROM replicas" |
		"$PY" "$T/check.py" "$D" "$1" "$2"
}

# ---- damage: lose a sector holding the big blob ---------------------------

LOST=$(q "SELECT sector FROM replicas WHERE key = '$BIG' ORDER BY sector LIMIT 1")
rm -rf "${D:?}/sectors/$LOST"
gv sector set-health "$LOST" unhealthy
expect_rc "lost $LOST (it held a copy of the big blob)" 0
FLAPPED=""

# flap: once the store has converged, make more work: bring the sector
# marked unhealthy last back, and mark another that holds the big blob.
flap() {
	local s

	if [ -n "$FLAPPED" ]; then
		"$GV" --data-dir "$D" -q sector set-health "$FLAPPED" healthy ||
			{ fail "mark $FLAPPED healthy again"; return 1; }
	fi
	mapfile -t cand < <(q "SELECT r.sector FROM replicas r JOIN sectors s ON s.id = r.sector
	                       WHERE r.key = '$BIG' AND r.healthy = 1 AND s.healthy = 1
	                         AND r.sector != '$LOST' ORDER BY 1")
	[ "${#cand[@]}" -gt 0 ] || { fail "a healthy sector holding the big blob"; return 1; }
	s=${cand[$((RANDOM % ${#cand[@]}))]}
	"$GV" --data-dir "$D" -q sector set-health "$s" unhealthy ||
		{ fail "mark $s unhealthy"; return 1; }
	FLAPPED=$s
	CYCLES=$((CYCLES + 1))
}

# ---- the kill loop --------------------------------------------------------

kills=0
selfexit=0
bad_exit=0
bad_state=0
iter=0
CYCLES=1
t0=$(date +%s)
mkdir -p "$T/logs"
while [ "$kills" -lt "$ROUNDS" ] && [ "$iter" -lt $((ROUNDS * 3 + 10)) ]; do
	iter=$((iter + 1))
	# kill moments: one in five within the first 100 ms (opening, the
	# survey), the rest up to 2.6 s (well into a 144 MiB copy at 48 MiB/s)
	if ((RANDOM % 5 == 0)); then
		ms=$((RANDOM % 100))
	else
		ms=$((100 + RANDOM % 2500))
	fi
	"$GV" --data-dir "$D" -q repair --once --events --parallel-jobs "$JOBS" \
		--max-bytes-per-second "$RATE" >"$T/logs/$iter.jsonl" 2>"$T/logs/$iter.err" &
	pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
	rc=$?
	if [ "$rc" -ge 128 ]; then
		kills=$((kills + 1))
		how="killed after ${ms} ms"
	else
		selfexit=$((selfexit + 1))
		how="exited $rc before ${ms} ms"
		if [ "$rc" != 0 ]; then
			bad_exit=$((bad_exit + 1))
			note "round $iter: repair exited $rc: $(head -c 400 "$T/logs/$iter.err")"
		fi
	fi
	if ! out=$(check_state "$LOST" 0); then
		bad_state=$((bad_state + 1))
		note "round $iter ($how): $out"
	fi
	# Converged (a run finished by itself and left nothing to do)?  Make
	# more work.
	if [[ $how == exited* ]]; then
		gv status --json
		if [ "$(jget "j['under_replicated']")" = 0 ]; then
			flap || finish
		fi
	fi
done
# One more kill at a chosen moment: once a run has recorded a durable
# prefix of the big copy, so the final run has to resume it.
if [ "$(q "SELECT COUNT(*) FROM replicas r JOIN sectors s ON s.id = r.sector
          WHERE r.key = '$BIG' AND r.healthy = 1 AND r.complete = 1 AND s.healthy = 1")" -ge 3 ]; then
	flap || finish
fi
"$GV" --data-dir "$D" -q repair --once --events --parallel-jobs "$JOBS" \
	--max-bytes-per-second "$RATE" >"$T/logs/prefix.jsonl" 2>"$T/logs/prefix.err" &
pid=$!
recorded=""
for ((n = 0; n < 400; n++)); do
	recorded=$(q "SELECT sector || ' ' || ranges FROM replicas
	              WHERE key = '$BIG' AND complete = 0 AND ranges != '' LIMIT 1" 2>/dev/null)
	[ -n "$recorded" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
[ $? -ge 128 ] && kills=$((kills + 1))
if [ -n "$recorded" ]; then
	ok "killed a run once it had recorded part of the big copy ($recorded)"
else
	fail "a run records part of the big copy before it ends" "an incomplete row with ranges" "none"
fi
if ! out=$(check_state "$LOST" 0); then
	bad_state=$((bad_state + 1))
	note "after the chosen kill: $out"
fi

elapsed=$(( $(date +%s) - t0 ))
note "$kills kills, $selfexit runs ended by themselves, $CYCLES damage cycles, $iter rounds in $elapsed s"
expect_true "killed the repair at least $ROUNDS times" [ "$kills" -ge "$ROUNDS" ]
expect_eq "every run that ended by itself exited 0" 0 "$bad_exit"
expect_eq "after every kill: complete rows have their bytes, recorded ranges are on disk, no orphan partial" 0 "$bad_state"

# ---- converge -------------------------------------------------------------

gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "a final repair --once (no kill) exits 0" 0
printf '%s\n' "$OUT" >"$T/logs/final.jsonl"
gv status --json
jcheck "status: 0 under-replicated, 0 over-replicated, 0 lost" \
	"j['under_replicated'] == 0 and j['over_replicated'] == 0 and j['lost'] == 0"
if out=$(check_state "$LOST" 1); then
	ok "converged: every row complete with its object file, none on $LOST, nothing in tmp/ or partial/"
else
	fail "converged state" "no problem" "$out"
fi
expect_eq "every key: 3 healthy replicas on healthy sectors, no other rows" "" \
	"$(q "SELECT b.key FROM blobs b WHERE
	      (SELECT COUNT(*) FROM replicas r JOIN sectors s ON s.id = r.sector
	        WHERE r.key = b.key AND r.healthy = 1 AND r.complete = 1 AND s.healthy = 1) != 3
	      OR (SELECT COUNT(*) FROM replicas r WHERE r.key = b.key) != 3 LIMIT 3")"

# The big blob's copies are all good, byte for byte.
hex=$(key_hex "$BIG")
nbad=0
while read -r s; do
	f=$(replica_path "$BIG" "$s")
	[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$hex" ] || nbad=$((nbad + 1))
done < <(q "SELECT sector FROM replicas WHERE key = '$BIG'")
expect_eq "the big blob's 3 replica files match its key" 0 "$nbad"

resumed=$("$PY" -c '
import json, sys
n = b = 0
for path in sys.argv[1:]:
    for l in open(path):
        try:
            o = json.loads(l)
        except ValueError:
            continue  # the last line of a killed run
        # --events: each repair event on its line as it happens
        if "action" in o and "phase" in o and o.get("resumed_bytes", 0) > 0:
            n += 1
            b += o["resumed_bytes"]
print(n, b // 1048576)
' "$T"/logs/*.jsonl)
note "copies resumed from an earlier run: ${resumed% *} (${resumed#* } MiB kept)"
final_resumed=$("$PY" -c '
import json, sys
print(sum(o.get("resumed_bytes", 0) for o in map(json.loads, filter(str.strip, open(sys.argv[1])))
          if o.get("event") == "job" and o["key"] == sys.argv[2]))
' "$T/logs/final.jsonl" "$BIG")
# Resuming from recorded ranges must happen: across the killed runs and the
# final one, some copy kept bytes an earlier run had recorded.  (Whether the
# final run resumes the particular prefix killed above depends on whether
# that sector is still the best target for the key, so it is reported.)
expect_true "copies resumed from recorded ranges (${resumed% *} copies, ${resumed#* } MiB kept)" \
	[ "${resumed% *}" -ge 1 ]
rsector=${recorded%% *}
note "final run: $final_resumed bytes of the big copy resumed; prefix was on ${rsector:-none}"

bad=0
for i in "${!KEYS[@]}"; do
	if ! gvx get "${KEYS[$i]}" -o "$T/out" 2>/dev/null || ! cmp -s "$T/src/${NAMES[$i]}" "$T/out"; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && note "${NAMES[$i]} (${KEYS[$i]}) did not read back identical"
	fi
	rm -f "$T/out"
done
expect_eq "no blob lost: all ${#KEYS[@]} read back byte-identical" 0 "$bad"

nobj=$( (cd "$D/sectors" && find . -path './*/objects/*' -type f) | wc -l)
nrows=$(q "SELECT COUNT(*) FROM replicas")
note "object files on disk: $nobj for $nrows rows$([ "$nobj" -gt "$nrows" ] && echo " (the extra ones lost their row to a kill before their bytes went)")"

finish
