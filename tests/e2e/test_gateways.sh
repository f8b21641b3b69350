#!/usr/bin/env bash
# Two gateways (graviton serve, each with its own data directory and
# configuration) on one PostgreSQL index and the same sectors:
#  - 8 clients put and read 2,000 blobs through both at once, 200 of them
#    through both gateways at the same moment: every blob is recorded once,
#    with factor healthy replicas on distinct racks and a file behind each,
#    no file without a row; a blob put through one reads through the other
#    at once;
#  - a scrub through both at once verifies each replica about once;
#  - a sector added and marked unhealthy through one is seen by the other;
#  - PostgreSQL restarted while clients put: puts fail cleanly (503) while
#    it is down, succeed again afterwards, nothing is half-recorded.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/../pg.sh"

pg_start "$T/pg" || { fail "start a throwaway PostgreSQL" "a server" "none"; finish; }
export GRAVITON_INDEX=$GV_TEST_PG_URL
LOAD=$E2E_DIR/gateway_load.py
D1=$T/gw1
D2=$T/gw2

# The sectors live outside both data directories; both gateways use them.
cat >"$T/gw.conf" <<EOF
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.health.interval = 200ms
EOF
D=$D1 gv init --sectors 0
expect_rc "init gateway 1 (index in PostgreSQL)" 0
for i in 1 2 3 4 5 6; do
	D=$D1 gv sector add "s$i" --path "$T/sectors/s$i" --rack "rack-$(((i - 1) % 3 + 1))" \
		--zone "zone-$(((i - 1) % 3 + 1))"
	[ "$RC" = 0 ] || fail "sector add s$i" 0 "$RC: $ERR"
done
D=$D2 gv init --sectors 0
expect_rc "init gateway 2 on the same index" 0
cp "$D1/token" "$D2/token"
expect_eq "sector paths are kept absolute in a shared index" 6 \
	"$(pg_sql "SELECT COUNT(*) FROM sectors WHERE path LIKE '/%'")"

D=$D1 must serve_start "$T/gw1.log" --config "$T/gw.conf"
URL1=$SERVE_URL PID1=$SERVE_PID
D=$D2 must serve_start "$T/gw2.log" --config "$T/gw.conf"
URL2=$SERVE_URL PID2=$SERVE_PID

# ---- 8 clients, 2,000 blobs, through both at once ---------------------------
run "$PY" "$LOAD" --blobs 2000 --clients 8 --same 200 --read-back --keys "$T/keys" \
	"$URL1" "$URL2"
expect_rc "the clients ran" 0
note "load: $OUT"
jcheck "every put succeeded (2,200 PUTs: 200 blobs twice)" \
	'j["puts"] == 2200 and j["put_errors"] == {} and j["distinct_keys"] == 2000'
jcheck "a blob put through one gateway reads through the other at once" \
	'j["nread_mismatches"] == 0'

expect_eq "2,000 blobs recorded" 2000 "$(pg_sql "SELECT COUNT(*) FROM blobs")"
expect_eq "... each once, with 3 healthy complete replicas on 3 racks" 0 \
	"$(pg_sql "SELECT COUNT(*) FROM (SELECT r.key FROM replicas r JOIN sectors s ON s.id = r.sector
		GROUP BY r.key HAVING COUNT(*) <> 3 OR COUNT(DISTINCT s.rack) <> 3
		OR MIN(r.healthy) = 0 OR MIN(r.complete) = 0) x")"
expect_eq "... and no blob without its replicas" 0 \
	"$(pg_sql "SELECT COUNT(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM replicas r WHERE r.key = b.key)")"
# Every row has its file and every file its row: no put of the same bytes
# through the other gateway left a copy of its own.
pg_sql "SELECT s.path || '/objects/' || substr(r.key, 8, 2) || '/' || substr(r.key, 8, 64) || '-' ||
	split_part(r.key, ':', 3) FROM replicas r JOIN sectors s ON s.id = r.sector ORDER BY 1" >"$T/rows"
find "$T"/sectors/*/objects -type f | sort >"$T/files"
expect_eq "one committed file per replica row, and no other" "$(wc -l <"$T/rows")" "$(wc -l <"$T/files")"
expect_eq "... the files the rows name" "" "$(comm -3 "$T/rows" "$T/files" | head -n 5)"

# ---- a scrub through both at once verifies each replica about once ----------
S0=$(pg_sql "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
"$GV" --data-dir "$D1" --server "$URL1" scrub --once --json >"$T/scrub1.json" 2>"$T/scrub1.err" &
SP=$!
run "$GV" --data-dir "$D2" --server "$URL2" scrub --once --json
expect_rc "scrub through gateway 2" 0
wait "$SP"
expect_eq "scrub through gateway 1 at the same time" 0 "$?"
C1=$(jget 'j["summary"]["checked"]' "$(tail -n 1 "$T/scrub1.json")")
C2=$(jget 'j["summary"]["checked"]')
note "replicas checked: $C1 through gateway 1, $C2 through gateway 2, of 6000"
expect_eq "every replica verified by this scrub" 0 \
	"$(pg_sql "SELECT COUNT(*) FROM replicas WHERE last_verified < $S0")"
# Each walks the same order; a replica one verified is skipped by the
# other (claimed, or verified since its batch was read), but for those the
# first verified before the second began: not twice the work.
expect_true "... about once: $((C1 + C2)) checks for 6000 replicas" \
	test "$((C1 + C2))" -ge 6000 -a "$((C1 + C2))" -le 9000

# ---- sectors and their health, decided by one, seen by the other -----------
D=$D2 run "$GV" --data-dir "$D2" --server "$URL2" sector add s7 --path "$T/sectors/s7" \
	--rack rack-1 --zone zone-1
expect_rc "sector s7 added through gateway 2" 0
D=$D1 run "$GV" --data-dir "$D1" --server "$URL1" sector set-health s7 unhealthy
expect_rc "... marked unhealthy through gateway 1" 0
run "$GV" --data-dir "$D2" --server "$URL2" sector list --json
jcheck "gateway 2 sees gateway 1's mark and its reason" \
	'[s for s in j if s["id"] == "s7" and not s["healthy"] and "operator" in s.get("reason", "")]'
run "$GV" --data-dir "$D2" --server "$URL2" sector set-health s7 healthy
expect_rc "... back to healthy through gateway 2" 0
# Gateway 1 opens the sector gateway 2 added within a health round and
# places on it: a blob put through gateway 1 may land there.
for ((i = 0; i < 150; i++)); do
	grep -q "event=sector_opened sector=s7" "$T/gw1.log" && break
	sleep 0.1
done
expect_match "gateway 1 opened the sector gateway 2 added" "sector_opened sector=s7" \
	"$(grep -o "event=sector_opened sector=s7" "$T/gw1.log")"

# ---- PostgreSQL restarted while clients put ---------------------------------
NB=$(pg_sql "SELECT COUNT(*) FROM blobs")
"$PY" "$LOAD" --blobs 400 --clients 8 --seed 2 --size-min 4096 --size-max 4096 \
	--min-seconds 120 --until "$T/load2.stop" "$URL1" "$URL2" >"$T/load2.json" 2>"$T/load2.err" &
LOADPID=$!
# Stop PostgreSQL once some of these puts are in and start it again a
# moment later, while the clients go on putting until 2 s after that.
for ((i = 0; i < 300; i++)); do
	[ "$(pg_sql "SELECT COUNT(*) FROM blobs")" -gt "$((NB + 20))" ] && break
	sleep 0.05
done
pg_stop
sleep 1
pg_restart || fail "PostgreSQL restarts" up down
sleep 2
touch "$T/load2.stop"
wait "$LOADPID"
expect_eq "the clients ran through the restart" 0 "$?"
OUT=$(cat "$T/load2.json")
note "load during the restart: $OUT"
jcheck "puts failed only with 503 while PostgreSQL was down" \
	'set(j["put_errors"]) <= {"503"} and j["put_errors"].get("503", 0) > 0'
jcheck "... and succeeded again after it came back" \
	'j["last_put_s"] is not None and j["last_put_s"] > j["last_error_s"]'
# The failed ones again, now that the index is back: all succeed.
run "$PY" "$LOAD" --blobs 400 --clients 8 --seed 2 --size-min 4096 --size-max 4096 \
	"$URL1" "$URL2"
jcheck "every put succeeds once PostgreSQL is back" \
	'j["puts"] == 400 and j["put_errors"] == {}'
expect_eq "... 400 more blobs" "$((NB + 400))" "$(pg_sql "SELECT COUNT(*) FROM blobs")"
# A put acknowledged before the index went away has its quorum (2); the
# copy it made later could not be recorded then, and repair restores it.
expect_eq "nothing half-recorded: every blob has at least its quorum of replicas" 0 \
	"$(pg_sql "SELECT COUNT(*) FROM (SELECT b.key FROM blobs b LEFT JOIN replicas r ON r.key = b.key
		AND r.healthy = 1 AND r.complete = 1 GROUP BY b.key HAVING COUNT(r.sector) < 2) x")"
run "$GV" --data-dir "$D1" --server "$URL1" repair
expect_rc "repair through gateway 1" 0
expect_eq "... then every blob has its 3 healthy replicas" 0 \
	"$(pg_sql "SELECT COUNT(*) FROM (SELECT b.key FROM blobs b LEFT JOIN replicas r ON r.key = b.key
		AND r.healthy = 1 AND r.complete = 1 GROUP BY b.key HAVING COUNT(r.sector) <> 3) x")"

D=$D1 SERVE_PID=$PID1 serve_stop
expect_eq "gateway 1 stops cleanly" 0 "$SERVE_RC"
D=$D2 SERVE_PID=$PID2 serve_stop
expect_eq "gateway 2 stops cleanly" 0 "$SERVE_RC"
finish
