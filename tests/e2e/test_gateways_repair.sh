#!/usr/bin/env bash
# Repair with two gateways on one PostgreSQL index and the same sectors,
# after a sector is lost: both repair at once and every missing copy is
# made once (each gateway logs each copy it records: event=repair_copied);
# one gateway killed (-9) mid-repair leaves its claims to run out and the
# other finishes within an interval.  Afterwards every blob has its 3
# healthy copies, and once the trim has run no sector holds a byte that no
# row counts on.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/../pg.sh"

pg_start "$T/pg" || { fail "start a throwaway PostgreSQL" "a server" "none"; finish; }
export GRAVITON_INDEX=$GV_TEST_PG_URL
D1=$T/gw1
D2=$T/gw2

# Repair every 2 s, throttled so that it lasts a while; claims last 2 s.
cat >"$T/gw.conf" <<EOF
graviton.log.level = debug
graviton.index.claim-ttl = 2s
graviton.health.interval = 200ms
graviton.replication.repair.interval = 2s
graviton.replication.repair.max-bytes-per-second = 400KiB
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.reclaim.enabled = false
EOF
D=$D1 must gv init --sectors 0
for i in 1 2 3 4 5 6; do
	D=$D1 must gvx sector add "s$i" --path "$T/sectors/s$i" --rack "rack-$(((i - 1) % 3 + 1))" \
		--zone "zone-$(((i - 1) % 3 + 1))" >/dev/null 2>&1
done
D=$D2 must gv init --sectors 0
cp "$D1/token" "$D2/token"
D=$D1 must serve_start "$T/gw1.log" --config "$T/gw.conf"
URL1=$SERVE_URL PID1=$SERVE_PID
D=$D2 must serve_start "$T/gw2.log" --config "$T/gw.conf"
URL2=$SERVE_URL PID2=$SERVE_PID

run "$PY" "$E2E_DIR/gateway_load.py" --blobs 300 --clients 8 --size-min 65536 \
	--size-max 65536 "$URL1" "$URL2"
jcheck "300 blobs of 64 KiB put through both gateways" 'j["puts"] == 300'
healthy3() {
	pg_sql "SELECT COUNT(*) FROM (SELECT b.key FROM blobs b LEFT JOIN replicas r ON r.key = b.key
		AND r.healthy = 1 AND r.complete = 1 AND r.sector IN
		(SELECT id FROM sectors WHERE healthy = 1 AND state <> 2)
		GROUP BY b.key HAVING COUNT(r.sector) <> 3) x"
}
for ((i = 0; i < 300; i++)); do
	[ "$(healthy3)" = 0 ] && break
	sleep 0.1
done
expect_eq "every blob has 3 healthy copies" 0 "$(healthy3)"
NEED=$(pg_sql "SELECT COUNT(*) FROM replicas WHERE sector = 's1'")
note "$NEED copies on s1"

# ---- lose s1: both gateways repair --------------------------------------
# (A repair pass during the puts may have copied a key whose put was still
# making its last copy, and trimmed the surplus: those copies are older.)
copied_since() { tail -n +"$(($2 + 1))" "$1" | grep -o 'event=repair_copied key=[^ ]*'; }
L1=$(wc -l <"$T/gw1.log") L2=$(wc -l <"$T/gw2.log")
rm -rf "$T/sectors/s1"
copies() {
	{ copied_since "$T/gw1.log" "$L1"; copied_since "$T/gw2.log" "$L2"; } | wc -l
}
copies1() { copied_since "$T/gw1.log" "$L1" | wc -l; }
copies2() { copied_since "$T/gw2.log" "$L2" | wc -l; }
for ((i = 0; i < 600; i++)); do
	[ "$(copies1)" -ge 3 ] && [ "$(copies2)" -ge 3 ] && break
	sleep 0.1
done
expect_true "both gateways copy (s1 found lost, repair under way)" \
	test "$(copies1)" -ge 3 -a "$(copies2)" -ge 3
BEFORE_KILL=$(copies)
kill -KILL "$PID1"
wait "$PID1" 2>/dev/null
# What gateway 1 had claimed when it died (owner: host/pid/random/thread).
pg_sql "SELECT substr(name, 5) FROM claims WHERE owner LIKE '%/$PID1/%' AND name LIKE 'key:%'
	ORDER BY 1" >"$T/held"
note "gateway 1 killed after $BEFORE_KILL of $NEED copies, holding $(wc -l <"$T/held") claims"
expect_true "... mid-repair, with claims held" test "$BEFORE_KILL" -lt "$NEED" -a -s "$T/held"

# Gateway 2 takes over what gateway 1 held once its claims run out.
for ((i = 0; i < 600; i++)); do
	[ "$(healthy3)" = 0 ] && break
	sleep 0.1
done
expect_eq "gateway 2 finishes: every blob has 3 healthy copies" 0 "$(healthy3)"
expect_eq "... and no more rows than that on healthy sectors" "$(pg_sql "SELECT 3 * COUNT(*) FROM blobs")" \
	"$(pg_sql "SELECT COUNT(*) FROM replicas WHERE sector <> 's1'")"
expect_match "gateway 2 skipped work gateway 1 had claimed" "event=claimed_elsewhere" \
	"$(grep -m1 -o 'event=claimed_elsewhere' "$T/gw2.log")"
copied_since "$T/gw2.log" "$L2" | sed 's/.*key=//' | sort >"$T/copied2"
expect_true "... and, once its claims ran out, copied keys gateway 1 held when killed" \
	test -n "$(comm -12 "$T/held" "$T/copied2")"
{ copied_since "$T/gw1.log" "$L1"; copied_since "$T/gw2.log" "$L2"; } | sort >"$T/copied"
expect_eq "no key was copied twice" "" "$(uniq -d "$T/copied" | head -n 3)"
# A copy gateway 1 recorded just before the kill may lack its log line.
N=$(wc -l <"$T/copied")
expect_true "each missing copy made once ($N logged of $NEED)" \
	test "$N" -le "$NEED" -a "$N" -ge "$((NEED - 1))"

# ---- the trim: no byte left that no row counts on -----------------------
SERVE_PID=$PID2 serve_stop
expect_eq "gateway 2 stops cleanly" 0 "$SERVE_RC"
D=$D2 gv sector sweep --grace 1ms --json
expect_rc "sector sweep (the trim)" 0
pg_sql "SELECT s.path || '/objects/' || substr(r.key, 8, 2) || '/' || substr(r.key, 8, 64) || '-' ||
	split_part(r.key, ':', 3) FROM replicas r JOIN sectors s ON s.id = r.sector
	WHERE s.id <> 's1' ORDER BY 1" >"$T/rows"
find "$T"/sectors/*/objects -type f | sort >"$T/files"
expect_eq "one committed file per replica row, and no other" "" "$(comm -3 "$T/rows" "$T/files" | head -n 5)"
expect_eq "no temporary or partial file left" "" \
	"$(find "$T"/sectors/*/tmp "$T"/sectors/*/partial -type f 2>/dev/null | head -n 5)"
finish
