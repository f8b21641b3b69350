#!/usr/bin/env bash
# A sector that dies under a running `graviton serve` is declared unhealthy
# with its reason, and placement moves on:
#   1. its directory replaced by a file while puts arrive: after at most
#      3 failed writes (the threshold) the sector is unhealthy in
#      /v1/sectors and `sector list --json`, with a reason; every later put
#      reaches the full factor on the other sectors; /readyz stays ready
#      (3 healthy sectors still meet min-replicas = 2);
#   2. its directory removed with no traffic: the periodic check (each
#      repair interval) marks it unhealthy; with too few healthy sectors
#      left for min-replicas, /readyz answers 503.
. "$(dirname "$0")/lib.sh"

# http_get PATH: GET $SERVE_URL/PATH; the body in OUT, the status in HTTP_CODE.
http_get() {
	"$PY" - "$SERVE_URL$1" >"$T/.http" <<'PYEOF'
import http.client, os, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
c.request("GET", u.path, headers={"Authorization": "Bearer " + os.environ.get("GRAVITON_TOKEN", "")})
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode())
PYEOF
	HTTP_CODE=$(head -n 1 "$T/.http")
	OUT=$(tail -n +2 "$T/.http")
}

# good_copies KEY: healthy, complete replica rows of KEY off sector $DEAD.
good_copies() {
	sqlite3 "$D/graviton.db" "SELECT COUNT(*) FROM replicas WHERE key = '$1' AND sector <> '$DEAD' AND healthy = 1 AND complete = 1"
}

# ---- 1: replaced by a file, under traffic -------------------------------------
must gv init --sectors 4 --factor 3 --min-replicas 2
# A long repair interval: the periodic check (at most once a minute) must
# not be what finds the sector here; the failing writes must.
printf 'graviton.replication.repair.interval = 1 hour\ngraviton.replication.rebalance.enabled = false\n' >"$T/a.conf"
LOG=$T/a.log
must serve_start "$LOG" --config "$T/a.conf"
DEAD=s02
mv "$D/sectors/$DEAD" "$D/sectors/$DEAD.gone"
touch "$D/sectors/$DEAD"

keys=()
for i in $(seq 1 40); do
	randfile "$T/f$i" 3000
	if k=$("$GV" --server "$SERVE_URL" put "$T/f$i" 2>>"$T/put.err"); then
		keys+=("$k")
	fi
done
expect_eq "all 40 puts were acknowledged" 40 "${#keys[@]}"

# Late copies record themselves after the put returns: wait (bounded) until
# the count of keys short of the factor stops mattering.
short=40
for ((t = 0; t < 300; t++)); do
	short=0
	for k in "${keys[@]}"; do
		[ "$(good_copies "$k")" -ge 3 ] || short=$((short + 1))
	done
	[ "$short" -le 3 ] && break
	sleep 0.1
done
if [ "$short" -le 3 ]; then
	ok "at most 3 of 40 puts short of 3 copies off the dead sector ($short)"
else
	fail "at most 3 of 40 puts short of 3 copies off the dead sector" "<= 3" "$short"
fi
expect_eq "at most 3 replicas went to the dead sector's old directory" 0 \
	"$(find "$D/sectors/$DEAD.gone/objects" -type f | wc -l | awk -v m=3 '{ print ($1 > m) }')"

http_get /v1/sectors
jcheck "/v1/sectors: $DEAD unhealthy with a reason" \
	"[s for s in j if s['id'] == '$DEAD' and not s['healthy'] and s.get('reason')]"
jcheck "/v1/sectors: the other sectors stay healthy" \
	"all(s['healthy'] for s in j if s['id'] != '$DEAD')"
expect_match "the server logged the sector unhealthy once, for its failed writes" \
	'^1 .*writes in a row failed' \
	"$(grep -c 'event=sector_unhealthy' "$LOG") $(grep 'event=sector_unhealthy' "$LOG")"
http_get /readyz
expect_eq "/readyz: ready with 3 healthy sectors (min-replicas 2)" 200 "$HTTP_CODE"

gv sector list --json
jcheck "sector list --json: $DEAD unhealthy with a reason" \
	"[s for s in j if s['id'] == '$DEAD' and not s['healthy'] and s.get('reason')]"
serve_stop TERM

# ---- 2: removed, no traffic: the periodic check --------------------------------
D=$T/data2
export GRAVITON_DATA_DIR=$D
must gv init --sectors 3 --factor 2 --min-replicas 2 --min-racks 1
printf 'graviton.replication.repair.interval = 1s\ngraviton.replication.rebalance.enabled = false\n' >"$T/b.conf"
LOG=$T/b.log
must serve_start "$LOG" --config "$T/b.conf"
http_get /readyz
expect_eq "/readyz: ready with 3 healthy sectors" 200 "$HTTP_CODE"
DEAD=s03
rm -rf "$D/sectors/$DEAD"
for ((t = 0; t < 300; t++)); do
	http_get /v1/sectors
	[ "$(jget "[s['healthy'] for s in j if s['id'] == '$DEAD'][0]")" = false ] && break
	sleep 0.1
done
jcheck "/v1/sectors: the removed $DEAD is found unhealthy with a reason, without traffic" \
	"[s for s in j if s['id'] == '$DEAD' and not s['healthy'] and 'gone' in s.get('reason', '')]"
rm -rf "$D/sectors/s02"
for ((t = 0; t < 300; t++)); do
	http_get /readyz
	[ "$HTTP_CODE" = 503 ] && break
	sleep 0.1
done
expect_eq "/readyz: not ready once 1 healthy sector cannot meet min-replicas 2" 503 "$HTTP_CODE"
serve_stop TERM
expect_eq "the server exits 0" 0 "$SERVE_RC"

finish
