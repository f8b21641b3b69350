#!/usr/bin/env bash
# Losing a sector: its directory deleted, or replaced by another sector's
# identity.  Every blob still reads back byte-identical, the lost
# replicas and the sector are reported unhealthy with a reason, and the
# directory is never silently recreated or adopted.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish

# ~20 files of mixed sizes
SIZES="0 1 2 17 100 511 512 4095 4096 4097 10000 65535 65536 65537 100000 262144 500000 1048576 1048577 2000000"
KEYS=()
i=0
for n in $SIZES; do
	must randfile "$T/f$i" "$n"
	k=$(put_ok "$T/f$i") || { fail "put f$i ($n bytes)"; finish; }
	KEYS+=("$k")
	i=$((i + 1))
done
NF=$i
ok "stored $NF files of mixed sizes"

# Which sectors hold what.
replicas_in() { # replicas_in SECTOR: indexes (into KEYS) of keys with a replica there
	local i
	for i in "${!KEYS[@]}"; do
		grep -qx "$1" "$T/holders.$i" && echo "$i"
	done
	return 0
}
for i in "${!KEYS[@]}"; do
	replica_sectors "${KEYS[$i]}" >"$T/holders.$i" || { fail "stat f$i"; finish; }
done
# The lost sector: the one holding the most replicas.
LOST=$(cat "$T"/holders.* | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR==1{print $2}')
mapfile -t IN_LOST < <(replicas_in "$LOST")
note "losing sector $LOST, which holds ${#IN_LOST[@]} of the replicas"
[ "${#IN_LOST[@]}" -gt 0 ] || { fail "some replica lives in $LOST"; finish; }

# ---- rm -rf one sector -----------------------------------------------------

rm -rf "$D/sectors/$LOST"

all_ok=1
for i in "${!KEYS[@]}"; do
	rm -f "$T/o$i"
	gv get "${KEYS[$i]}" -o "$T/o$i"
	if [ "$RC" != 0 ] || ! cmp -s "$T/f$i" "$T/o$i"; then
		all_ok=0
		fail "after losing $LOST: get f$i -o FILE" "exit 0 and identical bytes" "exit $RC; $(cmp "$T/f$i" "$T/o$i" 2>&1 | head -c 200); $ERR"
	fi
done
[ "$all_ok" = 1 ] && ok "after losing $LOST: all $NF blobs read back byte-identical (-o FILE)"

all_ok=1
for i in "${!KEYS[@]}"; do
	if ! gvx get "${KEYS[$i]}" 2>"$T/.err" | cmp -s - "$T/f$i"; then
		all_ok=0
		fail "after losing $LOST: get f$i into a pipe" "identical bytes" "$(head -c 300 "$T/.err")"
	fi
done
[ "$all_ok" = 1 ] && ok "after losing $LOST: all $NF blobs read back byte-identical (pipe)"

# stat: the replicas in the lost sector are unhealthy, with a reason
bad=0
for i in "${IN_LOST[@]}"; do
	gv stat "${KEYS[$i]}" --json
	v=$(jget "[(r['healthy'], r['reason']) for r in j['replicas'] if r['sector'] == '$LOST']" 2>&1)
	hr=$(jget "j['healthy_replicas']" 2>&1)
	others=$(jget "all(r['healthy'] for r in j['replicas'] if r['sector'] != '$LOST')" 2>&1)
	if ! jget "all(r['healthy'] is False and isinstance(r['reason'], str) and r['reason'] != '' for r in j['replicas'] if r['sector'] == '$LOST') and any(r['sector'] == '$LOST' for r in j['replicas'])" >"$T/.v" 2>&1 ||
		[ "$(cat "$T/.v")" != true ] || [ "$others" != true ] || [ "$hr" != 2 ]; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && fail "stat f$i after losing $LOST" \
			"replica in $LOST healthy=false with a reason, the other 2 healthy, healthy_replicas 2" \
			"$LOST replica: $v; others healthy: $others; healthy_replicas: $hr"
	fi
done
[ "$bad" = 0 ] && ok "stat: every replica in $LOST is unhealthy with a reason (${#IN_LOST[@]} keys), the others healthy"
if [ "${#IN_LOST[@]}" -gt 0 ]; then
	gv stat "${KEYS[${IN_LOST[0]}]}" --json
	note "reason given: $(jget "[r['reason'] for r in j['replicas'] if r['sector'] == '$LOST']")"
	gv stat "${KEYS[${IN_LOST[0]}]}"
	expect_match "stat (text) flags the lost replica" "$LOST.*unhealthy" "$OUT"
fi

gv sector list --json
expect_rc "sector list --json after the loss" 0
jcheck "sector list: $LOST is unhealthy, the 5 others healthy" \
	"[s['id'] for s in j if not s['healthy']] == ['$LOST']"

gv status --json
jcheck "status: the ${#IN_LOST[@]} lost replicas count as unhealthy" \
	"j['unhealthy_replicas'] == ${#IN_LOST[@]} and j['healthy_replicas'] == j['replicas'] - ${#IN_LOST[@]}"
jcheck "status: the ${#IN_LOST[@]} keys that lost a copy are under-replicated" \
	"j['under_replicated'] == ${#IN_LOST[@]}"

# set-health healthy on a sector whose directory is gone
gv sector set-health "$LOST" healthy
expect_fail "sector set-health $LOST healthy fails, naming the problem" 66 \
	"$LOST.*(missing|no such|not found|does not exist|cannot open)|(missing|no such|not found|does not exist|cannot open).*$LOST"
gv sector list --json
jcheck "sector list: $LOST still unhealthy after the refused set-health" \
	"[s['healthy'] for s in j if s['id'] == '$LOST'] == [False]"

# registering the lost sector again does not bring it back as a new, empty one
gv sector add "$LOST" --path "$D/sectors/$LOST"
expect_fail "sector add $LOST again (same path) is refused as already registered" 73 "already"
if [ -e "$D/sectors/$LOST" ]; then
	fail "sector add $LOST again does not recreate the lost directory" "no $D/sectors/$LOST" "it exists again"
	rm -rf "$D/sectors/$LOST"
else
	ok "sector add $LOST again does not recreate the lost directory"
fi

# writes go elsewhere
must randfile "$T/after" 200000
k=$(put_ok "$T/after")
if [ -n "$k" ]; then
	ok "put after the loss succeeds"
	hs=$(replica_sectors "$k" | tr '\n' ' ')
	case " $hs " in
	*" $LOST "*) fail "put after the loss avoids $LOST" "replicas outside $LOST" "$hs" ;;
	*) ok "put after the loss avoids $LOST ($hs)" ;;
	esac
	rm -f "$T/after.o"
	gv get "$k" -o "$T/after.o"
	expect_same_file "blob written after the loss reads back" "$T/after" "$T/after.o"
else
	fail "put after the loss succeeds"
fi

if [ -e "$D/sectors/$LOST" ]; then
	fail "the lost sector's directory is not recreated" "no $D/sectors/$LOST" \
		"$(find "$D/sectors/$LOST" | head -n 5 | tr '\n' ' ')"
else
	ok "the lost sector's directory is not recreated (after get, stat, status, list, set-health, put)"
fi

# ---- another sector's identity ---------------------------------------------

# A sector that holds replicas, other than the lost one.
SWAP=
for s in $(cat "$T"/holders.* | sort | uniq -c | sort -k1,1nr -k2 | awk '{print $2}'); do
	[ "$s" != "$LOST" ] && { SWAP=$s; break; }
done
OWNER=
for s in $(cat "$T"/holders.* | sort -u); do
	[ "$s" != "$LOST" ] && [ "$s" != "$SWAP" ] && { OWNER=$s; break; }
done
mapfile -t IN_SWAP < <(replicas_in "$SWAP")
note "giving sector $SWAP the identity of $OWNER (${#IN_SWAP[@]} replicas in $SWAP)"
cp "$D/sectors/$OWNER/GRAVITON-SECTOR" "$D/sectors/$SWAP/GRAVITON-SECTOR"
cp "$D/sectors/$SWAP/GRAVITON-SECTOR" "$T/swapped-identity"

gv sector list --json
jcheck "sector list: $SWAP (with $OWNER's identity) is unhealthy" \
	"[s['healthy'] for s in j if s['id'] == '$SWAP'] == [False]"
jcheck "sector list: $OWNER itself stays healthy" \
	"[s['healthy'] for s in j if s['id'] == '$OWNER'] == [True]"

bad=0
for i in "${IN_SWAP[@]}"; do
	gv stat "${KEYS[$i]}" --json
	if [ "$(jget "all(r['healthy'] is False and bool(r['reason']) for r in j['replicas'] if r['sector'] == '$SWAP')" 2>&1)" != true ]; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && fail "stat f$i: replica in $SWAP (foreign identity) unhealthy with a reason" \
			"healthy false, reason set" "$(jget "[r for r in j['replicas'] if r['sector'] == '$SWAP']" 2>&1)"
	fi
done
[ "$bad" = 0 ] && ok "stat: replicas in $SWAP are reported unhealthy with a reason"

objs_before=$(find "$D/sectors/$SWAP" -type f | sort | xargs -r sha256sum)
all_ok=1
for i in "${!KEYS[@]}"; do
	rm -f "$T/o$i"
	gv get "${KEYS[$i]}" -o "$T/o$i"
	if [ "$RC" != 0 ] || ! cmp -s "$T/f$i" "$T/o$i"; then
		all_ok=0
		fail "with $LOST lost and $SWAP foreign: get f$i" "identical bytes" "exit $RC; $ERR"
	fi
done
[ "$all_ok" = 1 ] && ok "with $LOST lost and $SWAP foreign: all $NF blobs still read back byte-identical"

must randfile "$T/after2" 300000
k=$(put_ok "$T/after2")
if [ -n "$k" ]; then
	hs=$(replica_sectors "$k" | tr '\n' ' ')
	case " $hs " in
	*" $SWAP "* | *" $LOST "*) fail "put avoids the foreign and the lost sector" "not $SWAP nor $LOST" "$hs" ;;
	*) ok "put avoids the foreign and the lost sector ($hs)" ;;
	esac
else
	fail "put with one sector lost and one foreign succeeds"
fi
objs_after=$(find "$D/sectors/$SWAP" -type f | sort | xargs -r sha256sum)
expect_eq "nothing written into the foreign directory" "$objs_before" "$objs_after"
expect_true "the foreign identity file is left as it is" cmp -s "$T/swapped-identity" "$D/sectors/$SWAP/GRAVITON-SECTOR"

gv sector set-health "$SWAP" healthy
if [ "$RC" != 0 ] && grep -Eqi "$OWNER|identity|belongs|another|foreign|owned" <<<"$ERR"; then
	ok "sector set-health $SWAP healthy is refused (directory belongs to $OWNER)"
else
	fail "sector set-health $SWAP healthy is refused, naming the other owner" \
		"non-zero exit, message naming $OWNER or the identity" "exit $RC: $ERR"
fi
gv sector list --json
jcheck "sector list: $SWAP still unhealthy" "[s['healthy'] for s in j if s['id'] == '$SWAP'] == [False]"

# ---- health marks on an intact sector --------------------------------------

for s in s01 s02 s03 s04 s05 s06; do
	[ "$s" != "$LOST" ] && [ "$s" != "$SWAP" ] && { INTACT=$s; break; }
done
gv sector set-health "$INTACT" unhealthy
expect_rc "sector set-health $INTACT unhealthy" 0
gv sector list --json
jcheck "sector list: $INTACT marked unhealthy" "[s['healthy'] for s in j if s['id'] == '$INTACT'] == [False]"
gv sector set-health "$INTACT" healthy
expect_rc "sector set-health $INTACT healthy again (its directory is intact)" 0
gv sector list --json
jcheck "sector list: $INTACT healthy again" "[s['healthy'] for s in j if s['id'] == '$INTACT'] == [True]"
gv sector set-health "$INTACT" healthy
expect_rc "sector set-health $INTACT healthy twice is fine" 0

finish
