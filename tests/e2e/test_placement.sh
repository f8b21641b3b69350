#!/usr/bin/env bash
# Rack-aware placement through the real binary (issue 3): 9 sectors over 3
# racks; every put spans 3 racks; with one rack down puts still succeed on
# the other 2; with two racks down put fails with the rack-diversity error
# and writes nothing.  placement explain reports whether a key meets its
# constraints.
. "$(dirname "$0")/lib.sh"

gv init --sectors 9 --racks 3 --zones 3 --strategy rack-aware
expect_rc "init --sectors 9 --racks 3 --zones 3 --strategy rack-aware" 0
[ "$RC" = 0 ] || finish
gv status --json
jcheck "cluster settings: rack-aware, factor 3, min-replicas 2" \
	"j['strategy'] == 'rack-aware' and j['factor'] == 3 and j['min_replicas'] == 2"

gv sector list --json
jcheck "9 sectors, 3 per rack" \
	"len(j) == 9 and sorted(__import__('collections').Counter(s['rack'] for s in j).values()) == [3, 3, 3]"
RACKMAP=$(jget '" ".join(s["id"] + "=" + s["rack"] for s in j)')
rack_sectors() { # rack_sectors RACK: its sector ids
	local p
	for p in $RACKMAP; do [ "${p#*=}" = "$1" ] && echo "${p%%=*}"; done
	return 0
}
RACKS=$(jget '" ".join(sorted(set(s["rack"] for s in j)))')
set -- $RACKS
R1=$1 R2=$2 R3=$3

# check_spread DIR WANT_RACKS BANNED_RACKS: for every DIR/files/N, the put
# printed its key (DIR/put/N) and stat --json (DIR/stat/N.json) shows 3
# healthy replicas in 3 distinct sectors over exactly WANT_RACKS racks,
# none in BANNED_RACKS, each rack the one its sector is in.  Prints one
# line per bad key.
check_spread() {
	"$PY" - "$1" "$2" "$3" "$RACKMAP" <<'PYEOF'
import hashlib, json, os, sys
d, want, banned = sys.argv[1], int(sys.argv[2]), set(sys.argv[3].split())
rack = dict(p.split("=", 1) for p in sys.argv[4].split())
bad = 0
for n in sorted(os.listdir(os.path.join(d, "files")), key=int):
    data = open(os.path.join(d, "files", n), "rb").read()
    key = "sha256:%s:%d" % (hashlib.sha256(data).hexdigest(), len(data))
    probs = []
    printed = open(os.path.join(d, "put", n)).read().strip()
    if printed != key:
        probs.append("put printed %r" % printed[:80])
    try:
        j = json.load(open(os.path.join(d, "stat", n + ".json")))
    except Exception as e:
        probs.append("no stat --json (%s)" % e)
    else:
        reps = j["replicas"]
        secs = [r["sector"] for r in reps]
        racks = set(r["rack"] for r in reps)
        if j["key"] != key:
            probs.append("stat of another key")
        if len(reps) != 3 or j["healthy_replicas"] != 3:
            probs.append("%d replicas, %d healthy" % (len(reps), j["healthy_replicas"]))
        if len(set(secs)) != len(secs):
            probs.append("a sector twice")
        if len(racks) != want:
            probs.append("%d racks" % len(racks))
        if racks & banned:
            probs.append("replica on %s" % sorted(racks & banned))
        if any(rack.get(r["sector"]) != r["rack"] for r in reps):
            probs.append("a replica's rack is not its sector's")
        if probs:
            probs.append(", ".join(r["sector"] + "@" + r["rack"] for r in reps))
    if probs:
        bad += 1
        if bad <= 5:
            print("blob %s: %s" % (n, "; ".join(probs)))
sys.exit(1 if bad else 0)
PYEOF
}

# put_many DIR N TEXT: N puts of distinct small files, then stat --json of
# each; prints how many puts succeeded.
put_many() {
	local dir=$1 n=$2 text=$3 i good=0

	rm -rf "$dir" && mkdir -p "$dir/files" "$dir/put" "$dir/stat"
	for i in $(seq 1 "$n"); do
		printf '%s %d\n' "$text" "$i" >"$dir/files/$i"
		if "$GV" --data-dir "$D" put "$dir/files/$i" >"$dir/put/$i" 2>"$T/.err"; then
			good=$((good + 1))
		else
			echo "put $i failed: $(cat "$T/.err")" >&2
		fi
	done
	# one at a time: concurrent commands are test_concurrent's business
	for i in $(seq 1 "$n"); do
		"$GV" --data-dir "$D" stat "$(cat "$dir/put/$i")" --json >"$dir/stat/$i.json" 2>/dev/null
	done
	echo "$good"
}

# ---- 200 puts on 3 healthy racks -------------------------------------------

n_ok=$(put_many "$T/all" 200 "placement test blob")
expect_eq "200 puts succeed" 200 "$n_ok"
if why=$(check_spread "$T/all" 3 ""); then
	ok "all 200 blobs have 3 healthy replicas on 3 distinct racks (stat --json)"
else
	fail "all 200 blobs on 3 distinct racks" "3 replicas, 3 racks each" "$why"
fi
counts=$("$PY" -c '
import json, os, sys, collections
d = sys.argv[1]
c = collections.Counter(r["sector"] for f in os.listdir(d) for r in json.load(open(os.path.join(d, f)))["replicas"])
print(" ".join("%s:%d" % kv for kv in sorted(c.items())))' "$T/all/stat")
note "replicas per sector: $counts"
spread_ok=$("$PY" -c '
import sys
c = [int(p.split(":")[1]) for p in sys.argv[1].split()]
print(len(c) == 9 and min(c) >= 20)' "$counts")
expect_eq "every one of the 9 sectors receives a share (>= 20 of 600 replicas)" True "$spread_ok"

K1=$(key_of "$T/all/files/1")
gv placement explain "$K1" --json
expect_rc "placement explain KEY --json" 0
jcheck "placement explain: constraints_met, 3 racks, rack-aware" \
	"j['placement']['constraints_met'] is True and j['placement']['racks'] == 3 and j['placement']['strategy'] == 'rack-aware'"
jcheck "placement explain: each replica names its sector, rack and zone" \
	"all(r['sector'] and r['rack'] and r['zone'] for r in j['replicas'])"
gv placement explain "$K1"
expect_rc "placement explain KEY (text)" 0
expect_match "placement explain (text) says the constraints are met" "constraints met" "$OUT"

# ---- one rack down ---------------------------------------------------------

for s in $(rack_sectors "$R1"); do
	gv sector set-health "$s" unhealthy
	[ "$RC" = 0 ] || fail "sector set-health $s unhealthy" "exit 0" "exit $RC: $ERR"
done
gv sector list --json
jcheck "all sectors of $R1 unhealthy, the 6 others healthy" \
	"sorted(s['rack'] for s in j if not s['healthy']) == ['$R1'] * 3 and sum(1 for s in j if s['healthy']) == 6"

n_ok=$(put_many "$T/down1" 30 "one rack down")
expect_eq "with $R1 down, 30 puts succeed" 30 "$n_ok"
if why=$(check_spread "$T/down1" 2 "$R1"); then
	ok "with $R1 down, every new blob has 3 healthy replicas spanning $R2 and $R3"
else
	fail "with $R1 down, new blobs span the 2 healthy racks" "3 replicas over 2 racks, none on $R1" "$why"
fi
KR=$(key_of "$T/down1/files/1")
gv placement explain "$KR" --json
jcheck "placement explain with $R1 down: constraints met with 2 racks" \
	"j['placement']['constraints_met'] is True and j['placement']['racks'] == 2"

# an old key lost its replica on $R1 but still spans 2 healthy racks
gv placement explain "$K1" --json
jcheck "placement explain of an old key with $R1 down: 2 healthy, 2 racks, constraints met" \
	"j['healthy_replicas'] == 2 and j['placement']['racks'] == 2 and j['placement']['constraints_met'] is True"

# ---- two racks down --------------------------------------------------------

for s in $(rack_sectors "$R2"); do
	gv sector set-health "$s" unhealthy
	[ "$RC" = 0 ] || fail "sector set-health $s unhealthy" "exit 0" "exit $RC: $ERR"
done
gv sector list --json
jcheck "only the sectors of $R3 are healthy" \
	"sorted(s['rack'] for s in j if s['healthy']) == ['$R3'] * 3"

printf 'two racks down\n' >"$T/down2"
KD=$(key_of "$T/down2")
snapshot "$T/snap-down2"
gv put "$T/down2"
expect_fail "with $R1 and $R2 down, put fails (69) with the rack-diversity error" 69 \
	"InsufficientRackDiversity|rack"
expect_eq "the failed put prints no key" "" "$OUT"
expect_unchanged "the failed put writes nothing (index and files unchanged)" "$T/snap-down2"
gv stat "$KD"
expect_rc "the failed put's key is unknown (66)" 66
expect_eq "no file of the failed put, tmp/ and partial/ empty" "" \
	"$({ replica_files "$KD"; find "$D/sectors" -mindepth 2 -maxdepth 2 \( -name tmp -o -name partial \) -exec find {} -mindepth 1 \; ; } | sort)"

gvx put - <"$T/down2" >"$T/.out" 2>"$T/.err"
RC=$? OUT=$(cat "$T/.out") ERR=$(cat "$T/.err")
expect_fail "the same through stdin fails (69) with the rack-diversity error" 69 \
	"InsufficientRackDiversity|rack"
expect_unchanged "the failed put from stdin writes nothing" "$T/snap-down2"

gv placement explain "$K1" --json
expect_rc "placement explain of an old key with 2 racks down" 0
jcheck "placement explain: 1 healthy rack < min-racks 2, constraints not met" \
	"j['placement']['constraints_met'] is False and j['placement']['racks'] == 1"
gv placement explain "$K1"
expect_match "placement explain (text) says the constraints are not met" "not met" "$OUT"

# reads still work from the one healthy rack (or, verified, from the rest)
rm -f "$T/one.o"
gv get "$K1" -o "$T/one.o"
expect_same_file "with 2 racks down, an old blob still reads back" "$T/all/files/1" "$T/one.o"

finish
