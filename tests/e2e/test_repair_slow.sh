#!/usr/bin/env bash
# Repair at scale: 6 sectors over 3 racks, factor 3, 1,000 blobs from 0 B to
# 8 MiB.  One sector's directory is deleted and the sector marked unhealthy;
# a dry run changes nothing; `repair --once` brings every key back to 3
# healthy replicas over 3 racks, every blob reads back byte-identical, every
# replica file matches its key, and the dead sector holds no live replica.
. "$(dirname "$0")/lib.sh"

NBLOBS=${REPAIR_BLOBS:-1000}

q() { sqlite3 -batch "$D/graviton.db" "$@"; }

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors, 3 racks, factor 3" 0
[ "$RC" = 0 ] || finish

# ---- 1,000 blobs: mostly small, some hundreds of KiB, a few MiB -----------

# Sizes: edge cases, then a deterministic mix: ~890 under 64 KiB, ~80 from
# 64 KiB to 1 MiB, ~20 from 1 to 8 MiB (about 180 MiB in all).  One Python
# process writes the files and their expected keys (KEYS[i] is src/i).
mkdir -p "$T/src"
"$PY" - "$T/src" "$NBLOBS" >"$T/keys.want" <<'PYEOF' || { fail "generate the blobs"; finish; }
import hashlib, os, sys
d, n = sys.argv[1], int(sys.argv[2])
sizes = [0, 1, 2, 4095, 4096, 4097, 65536, 1048575, 1048576, 1048577, 8388608, 8388607]
for i in range(len(sizes), n):
    if i % 50 == 0:
        sizes.append((i * 104729) % (8388608 - 1048576) + 1048576)
    elif i % 10 == 0:
        sizes.append((i * 7919) % 1048576 + 65536)
    else:
        sizes.append((i * 2654435761) % 65536)
for i, size in enumerate(sizes[:n]):
    b = os.urandom(size)
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(b)
    print("sha256:%s:%d" % (hashlib.sha256(b).hexdigest(), size))
PYEOF
mapfile -t KEYS <"$T/keys.want"
total=$(du -sm --apparent-size "$T/src" | cut -f1)
t0=$(date +%s)
: >"$T/keys.got"
for i in "${!KEYS[@]}"; do
	"$GV" --data-dir "$D" put "$T/src/$i" >>"$T/keys.got" 2>"$T/.put.err" ||
		{ fail "put blob $i" "exit 0" "$(cat "$T/.put.err")"; finish; }
done
if cmp -s "$T/keys.want" "$T/keys.got"; then
	ok "stored ${#KEYS[@]} blobs, $total MiB, in $(( $(date +%s) - t0 )) s; put printed every key right"
else
	fail "put printed the expected keys" "$(head -n 2 "$T/keys.want")" "$(head -n 2 "$T/keys.got")"
	finish
fi
nkeys=$(q "SELECT COUNT(*) FROM blobs")
expect_eq "the index holds $NBLOBS distinct keys" "$NBLOBS" "$nkeys"

# ---- lose the sector holding the most replicas ------------------------------

LOST=$(q "SELECT sector FROM replicas GROUP BY sector ORDER BY COUNT(*) DESC, sector LIMIT 1")
NLOST=$(q "SELECT COUNT(*) FROM replicas WHERE sector = '$LOST'")
note "losing $LOST: $NLOST replicas, $(q "SELECT SUM(size) / 1048576 FROM replicas WHERE sector = '$LOST'") MiB"
rm -rf "${D:?}/sectors/$LOST"
gv sector set-health "$LOST" unhealthy
expect_rc "mark $LOST unhealthy" 0
gv status --json
jcheck "status: $NLOST under-replicated, 0 lost" "j['under_replicated'] == $NLOST and j['lost'] == 0"

# ---- dry run changes nothing ----------------------------------------------

snapshot "$T/snap.before"
gv repair --dry-run --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair --dry-run exits 0" 0
printf '%s\n' "$OUT" >"$T/plan.jsonl"
expect_unchanged "dry run: index dump and file tree byte-identical" "$T/snap.before"
planned=$("$PY" -c '
import json, sys
jobs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
jobs = [j for j in jobs if j.get("event") == "job"]
ok = all(j["action"] == "copy" and j["phase"] == "planned" and j["healthy"] == 2
         and len(j["targets"]) == 1 and j["removed"] == [sys.argv[2]] for j in jobs)
print(len(jobs), ok)
' "$T/plan.jsonl" "$LOST")
expect_eq "plan: one copy per key of $LOST (healthy=2, one target, removes $LOST)" "$NLOST True" "$planned"
gv repair --dry-run
expect_rc "repair --dry-run (text) exits 0" 0
expect_eq "the text plan lists $NLOST jobs" "$NLOST" "$(printf '%s\n' "$OUT" | grep -c '^plan ')"
expect_unchanged "text dry run: unchanged too" "$T/snap.before"

# ---- the repair -----------------------------------------------------------

t0=$(date +%s.%N)
gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "repair --once exits 0" 0
t1=$(date +%s.%N)
printf '%s\n' "$OUT" >"$T/run.jsonl"
jsum() { "$PY" -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
print(eval(sys.argv[2], {"s": s}))
' "$T/run.jsonl" "$1"; }
expect_eq "summary: $NLOST repaired, $NLOST written, $NLOST removed, 0 lost, 0 failed" \
	"$NLOST $NLOST $NLOST 0 0" \
	"$(jsum "s['keys_repaired'], s['replicas_written'], s['replicas_removed'], s['lost'], s['failed']" | tr -d '(),')"
note "repair: $(jsum "s['bytes_copied'] // 1048576") MiB in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

bad=$(q "SELECT b.key,
     (SELECT COUNT(*) FROM replicas r JOIN sectors s ON s.id = r.sector
       WHERE r.key = b.key AND r.healthy = 1 AND r.complete = 1
         AND s.healthy = 1 AND s.state = 0) AS h,
     (SELECT COUNT(*) FROM replicas r WHERE r.key = b.key) AS n,
     (SELECT COUNT(DISTINCT s.rack) FROM replicas r JOIN sectors s ON s.id = r.sector
       WHERE r.key = b.key) AS racks
   FROM blobs b WHERE NOT (h = 3 AND n = 3 AND racks = 3) LIMIT 5;")
expect_eq "every key: 3 healthy complete replicas on healthy sectors, 3 distinct racks, no other rows" "" "$bad"
gv status --json
jcheck "status: 0 under-replicated, 0 over-replicated, 0 lost, all replicas healthy" \
	"j['under_replicated'] == 0 and j['over_replicated'] == 0 and j['lost'] == 0 and j['healthy_replicas'] == j['replicas'] == 3 * $NBLOBS"
expect_eq "no replica row left on $LOST" 0 "$(q "SELECT COUNT(*) FROM replicas WHERE sector = '$LOST'")"
expect_eq "$LOST is still unhealthy and was not recreated" "0 absent" \
	"$(q "SELECT healthy FROM sectors WHERE id = '$LOST'") $([ -e "$D/sectors/$LOST" ] && echo present || echo absent)"

# a sample through stat --json agrees with the index
bad=0
for i in 0 1 10 11 50 500 999; do
	[ "$i" -lt "$NBLOBS" ] || continue
	gv stat "${KEYS[$i]}" --json
	v=$(jget "(j['healthy_replicas'], len(j['replicas']), len({r['rack'] for r in j['replicas']}), j['placement']['constraints_met'], any(r['sector'] == '$LOST' for r in j['replicas']))")
	[ "$v" = '[3,3,3,true,false]' ] || { bad=$((bad + 1)); note "stat ${KEYS[$i]}: $v"; }
done
expect_eq "stat --json on a sample: 3 healthy over 3 racks, constraints met, nothing on $LOST" 0 "$bad"

# every row has its file, every replica file matches its key, no stray files
q "SELECT key || ' ' || sector FROM replicas" | "$PY" -c '
import os, sys
d = sys.argv[1]
for line in sys.stdin:
    k, s = line.split()
    _, h, size = k.split(":")
    p = "%s/sectors/%s/objects/%s/%s-%s" % (d, s, h[:2], h, size)
    if not os.path.isfile(p) or os.path.getsize(p) != int(size):
        print(k, s)
' "$D" >"$T/missing"
expect_eq "every replica row has its object file, of the right size" 0 "$(wc -l <"$T/missing")"
(cd "$D/sectors" && find . -path './*/objects/*' -type f) >"$T/objects"
expect_eq "object files on disk = replica rows" "$((3 * NBLOBS))" "$(wc -l <"$T/objects")"
(cd "$D/sectors" && xargs -r -P 2 -n 300 sha256sum <"$T/objects") |
	awk '{ n = split($2, p, "/"); split(p[n], a, "-"); if (a[1] != $1) print $2 }' >"$T/corrupt"
expect_eq "every replica file's SHA-256 matches its name" 0 "$(wc -l <"$T/corrupt")"
expect_eq "no files left in tmp/ or partial/" "" \
	"$(cd "$D/sectors" && find . -mindepth 3 \( -path './*/tmp/*' -o -path './*/partial/*' \) | head -n 3)"

# every blob reads back byte-identical (one process at a time: a sector
# root is held by one process)
mkdir -p "$T/out"
t0=$(date +%s)
for i in "${!KEYS[@]}"; do
	"$GV" --data-dir "$D" get "${KEYS[$i]}" -o "$T/out/$i" 2>/dev/null
done
note "read $NBLOBS blobs in $(( $(date +%s) - t0 )) s"
bad=0
for i in "${!KEYS[@]}"; do
	if ! cmp -s "$T/src/$i" "$T/out/$i"; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && note "blob $i (${KEYS[$i]}) did not read back identical"
	fi
done
expect_eq "all $NBLOBS blobs read back byte-identical" 0 "$bad"
rm -rf "$T/out"

# a second run has nothing to do and changes nothing
snapshot "$T/snap.after"
gv repair --once --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "a second repair exits 0" 0
printf '%s\n' "$OUT" >"$T/run.jsonl"
expect_eq "a second repair: 0 jobs, 0 bytes" "0 0" "$(jsum "s['keys_needing_repair'], s['bytes_copied']" | tr -d '(),')"
expect_unchanged "a second repair changed nothing (index and sector files)" "$T/snap.after"

finish
