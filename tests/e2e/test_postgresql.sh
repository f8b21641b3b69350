#!/usr/bin/env bash
# PostgreSQL as the index: a throwaway server (tests/pg.sh) holds the index
# of a store; `index migrate` copies SQLite -> PostgreSQL -> SQLite with the
# same status and rows; put/get/stat/scrub/repair work on it; with the
# server stopped, puts fail cleanly (CLI exit 69, HTTP 503), record
# nothing, and succeed again once it is back.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/../pg.sh"

pg_start "$T/pg" || { fail "start a throwaway PostgreSQL" "a server" "none"; finish; }
URL=$GV_TEST_PG_URL

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init (SQLite index)" 0
for i in 1 2 3 4 5 6; do
	randfile "$T/f$i" $((i * 7000 + 13))
	put_ok "$T/f$i" >/dev/null || fail "put f$i" 0 1
done

# ---- migrate is refused while serve runs --------------------------------
serve_start "$T/serve0.log" || fail "serve starts" up down
gv index migrate --to "$URL"
expect_fail "index migrate while serve runs -> 75" 75 "serve is running"
serve_stop
expect_eq "... and the target stays empty" 0 "$(pg_sql "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'blobs'")"

# ---- SQLite -> PostgreSQL -> SQLite --------------------------------------
# Two repair queue rows, one a dead letter, travel with the index.
sqlite3 "$D/graviton.db" "INSERT INTO repair_queue VALUES
	('$(key_of "$T/f1")', 'scrub', 2, 'sector s1 unreachable', 123, 45, 0),
	('$(key_of "$T/f2")', 'read', 9, 'no healthy replica', 0, 67, 1)"
gv status --json
S0=$OUT
gv index migrate --to "$URL" --json
expect_rc "index migrate --to postgresql://" 0
expect_eq "... copies 6 blobs" 6 "$(jget 'j["blobs"]')"
expect_eq "... and 18 replicas" 18 "$(jget 'j["replicas"]')"
expect_eq "... and 2 repair queue rows" 2 "$(jget 'j["repair_queue"]')"
expect_eq "... which PostgreSQL holds" "2 1" "$(pg_sql "SELECT COUNT(*), SUM(dead) FROM repair_queue" | tr '|' ' ')"
gv --index "$URL" status --json
expect_eq "status --json on PostgreSQL = on SQLite" "$S0" "$OUT"
gv index migrate --to "$URL"
expect_fail "migrating into a non-empty index -> 73" 73 "must be empty"

gv --index "$URL" index migrate --to "sqlite:$T/back.db"
expect_rc "index migrate PostgreSQL -> sqlite:" 0
gv --index "sqlite:$T/back.db" status --json
expect_eq "status --json after the round trip" "$S0" "$OUT"
rows() {
	sqlite3 "$1" "SELECT * FROM sectors ORDER BY id;
		SELECT * FROM blobs ORDER BY key;
		SELECT key, sector, size, ranges, complete, healthy, last_verified,
		       hex(checksum), reason FROM replicas ORDER BY key, sector;
		SELECT * FROM settings ORDER BY name;
		SELECT key, hex(tab) FROM blocks ORDER BY key;
		SELECT * FROM repair_queue ORDER BY key;"
}
expect_eq "identical rows after the round trip" "$(rows "$D/graviton.db")" "$(rows "$T/back.db")"

# ---- the store on PostgreSQL ----------------------------------------------
export GRAVITON_INDEX=$URL
randfile "$T/g1" 50000
K=$(put_ok "$T/g1") || fail "put with the PostgreSQL index" 0 1
gv get "$K" -o "$T/g1.out"
expect_rc "get" 0
expect_same_file "... the same bytes" "$T/g1" "$T/g1.out"
gv stat "$K" --json
expect_rc "stat" 0
expect_eq "... 3 replicas" 3 "$(pg_sql "SELECT COUNT(*) FROM replicas WHERE key = '$K'")"
S=$(replica_sectors "$K" | head -n 1)
rm -f "$(replica_file "$K" "$S")"
gv scrub --once
expect_rc "scrub finds the missing replica (exit 65)" 65
gv repair --once
expect_rc "repair" 0
gv status --json
expect_eq "after repair nothing is under-replicated" 0 "$(jget 'j["under_replicated"]')"
expect_eq "... nor lost" 0 "$(jget 'j["lost"]')"

# ---- PostgreSQL down during puts (CLI) -------------------------------------
NB=$(pg_sql "SELECT COUNT(*) FROM blobs")
NR=$(pg_sql "SELECT COUNT(*) FROM replicas")
pg_stop
randfile "$T/h1" 30000
KH=$(key_of "$T/h1")
gv put "$T/h1"
expect_fail "put with PostgreSQL stopped -> 69" 69 "PostgreSQL"
pg_restart || fail "PostgreSQL restarts" up down
expect_eq "nothing recorded: blobs" "$NB" "$(pg_sql "SELECT COUNT(*) FROM blobs")"
expect_eq "nothing recorded: replicas" "$NR" "$(pg_sql "SELECT COUNT(*) FROM replicas")"
gv put "$T/h1"
expect_rc "put after the restart" 0
expect_eq "... records the blob once with 3 replicas" 3 "$(pg_sql "SELECT COUNT(*) FROM replicas WHERE key = '$KH'")"

# ---- PostgreSQL down during puts (HTTP) ------------------------------------
serve_start "$T/serve.log" || fail "serve on the PostgreSQL index" up down
randfile "$T/h2" 20000
pput() { curl -sS -o "$T/put.json" -w '%{http_code}' -X PUT --data-binary @"$1" "$SERVE_URL/v1/blobs"; }
expect_match "PUT with PostgreSQL up" '^20[01]$' "$(pput "$T/h1")"
NB=$(pg_sql "SELECT COUNT(*) FROM blobs")
pg_stop
expect_eq "PUT with PostgreSQL stopped -> 503" 503 "$(pput "$T/h2")"
expect_match "... names the error" '"unavailable"' "$(cat "$T/put.json")"
pg_restart || fail "PostgreSQL restarts" up down
expect_eq "nothing recorded by the failed PUT" "$NB" "$(pg_sql "SELECT COUNT(*) FROM blobs")"
expect_match "PUT after the restart" '^20[01]$' "$(pput "$T/h2")"
expect_eq "... recorded with 3 replicas" 3 "$(pg_sql "SELECT COUNT(*) FROM replicas WHERE key = '$(key_of "$T/h2")'")"
serve_stop
finish
