#!/usr/bin/env bash
# Presence audit: a replica file deleted behind a running server is found
# from the sector listing alone, queued and restored, with no read of the
# blob by any client.
#   (a) serve with presence-interval = 1s, the full scrub off and the
#       periodic repair scan a day away: one replica file of a blob is
#       deleted; within a bounded wait the row is marked unhealthy with
#       reason "missing" by the presence pass, and the repair loop brings
#       the key back to 3 healthy replicas with their files; /metrics
#       counts it (graviton_presence_missing_total) and shows no request
#       to /v1/blobs/{key}
#   (b) presence-interval = off: no pass runs (the listening line says
#       presence=off); `scrub --presence --json --server` reports exactly
#       the deleted replica (missing 1, its key, sector and reason) in a
#       job document of kind "presence", exit 65, and the repair loop
#       restores it; a stray file no row counts on is reported as
#       unrecorded and left in place
#   (c) the local `scrub --presence --json` gives the same document shape;
#       a truncated replica is reported as wrong_size
. "$(dirname "$0")/lib.sh"

q() { sqlite3 -batch "$D/graviton.db" "$@"; }

# healthy_files KEY: healthy complete rows of KEY whose file is there.
healthy_files() {
	local k=$1 n=0 s

	for s in $(q "SELECT sector FROM replicas WHERE key = '$k' AND healthy = 1 AND complete = 1"); do
		[ -f "$(replica_path "$k" "$s")" ] && n=$((n + 1))
	done
	echo "$n"
}

# wait_restored KEY SECS: poll until KEY has 3 healthy rows with files.
wait_restored() {
	local i

	for ((i = 0; i < $2 * 5; i++)); do
		[ "$(healthy_files "$1")" = 3 ] && return 0
		sleep 0.2
	done
	return 1
}

# expect_restored DESC KEY: within 60 s KEY is back to 3 healthy replicas.
expect_restored() {
	if wait_restored "$2" 60; then
		ok "$1"
	else
		fail "$1" "3 healthy replicas with files" "$(healthy_files "$2")"
	fi
}

# wait_log PATTERN SECS: poll until the server log matches PATTERN.
wait_log() {
	local i

	for ((i = 0; i < $2 * 5; i++)); do
		grep -Eq -- "$1" "$LOG" && return 0
		sleep 0.2
	done
	return 1
}

# serve_with INTERVAL NAME ON: serve with that presence interval, the full
# scrub off and the periodic repair scan a day away; log in $LOG.
serve_with() {
	printf 'graviton.replication {\n  scrub { enabled = false, presence-interval = %s }\n  repair { interval = 1 day }\n  rebalance.enabled = false\n  reclaim.enabled = false\n}\n' "$1" >"$T/$2.conf"
	LOG=$T/serve-$2.log
	must serve_start "$LOG" --config "$T/$2.conf"
	expect_true "the listening line says presence=$3" grep -q "presence=$3" "$LOG"
}

metric() {
	curl -sS --max-time 10 "$SERVE_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

gv init
expect_rc "init" 0
randfile "$T/blob" 300000
K=$(put_ok "$T/blob") || { fail "put"; finish; }
randfile "$T/other" 5000
K2=$(put_ok "$T/other") || { fail "put other"; finish; }
S1=$(q "SELECT sector FROM replicas WHERE key = '$K' ORDER BY sector LIMIT 1")
expect_eq "the blob has 3 replicas with files" 3 "$(healthy_files "$K")"

# ---- (a) the scheduled pass -------------------------------------------------
serve_with 1s a on
# The startup repair scan has run (it would not notice a deleted file: it
# reads the index only); the deletion comes after it.
wait_log 'event=repair_end' 30 || true
rm -f -- "$(replica_path "$K" "$S1")"
expect_true "replica file on $S1 deleted" test ! -e "$(replica_path "$K" "$S1")"
if wait_log "event=replica_unhealthy key=$K sector=$S1 reason=\"missing\"" 60; then
	ok "the presence pass marked the replica on $S1 missing"
else
	fail "the presence pass marked the replica on $S1 missing" "a replica_unhealthy line" \
		"$(grep -E 'presence|unhealthy' "$LOG" | tail -n 5)"
fi
expect_restored "the repair loop restored the key to 3 healthy replicas with files" "$K"
M=$(metric graviton_presence_missing_total)
expect_true "graviton_presence_missing_total counts it ($M)" test "${M:-0}" -ge 1
GETS=$(curl -sS --max-time 10 "$SERVE_URL/metrics" |
	grep -c '^graviton_http_requests_total{.*route="/v1/blobs/{key}"' || true)
expect_eq "no request read a blob (no /v1/blobs/{key} requests)" 0 "$GETS"
# The probe sees a read when there is one.
curl -sS --max-time 30 -o "$T/got" "$SERVE_URL/v1/blobs/$K"
GETS=$(curl -sS --max-time 10 "$SERVE_URL/metrics" |
	grep -c '^graviton_http_requests_total{.*route="/v1/blobs/{key}"' || true)
expect_eq "a GET afterwards shows in that count" 1 "$GETS"
expect_true "the blob's bytes are intact" cmp -s "$T/blob" "$(replica_file "$K" \
	"$(q "SELECT sector FROM replicas WHERE key = '$K' AND healthy = 1 LIMIT 1")")"
serve_stop
expect_eq "serve stopped cleanly" 0 "$SERVE_RC"

# ---- (b) on demand, through the server ---------------------------------------
serve_with off b off
S2=$(q "SELECT sector FROM replicas WHERE key = '$K2' ORDER BY sector DESC LIMIT 1")
rm -f -- "$(replica_path "$K2" "$S2")"
STRAY=$D/sectors/$S2/objects/ab/$(printf 'ab%.0s' {1..32})-6
mkdir -p "$(dirname "$STRAY")" && printf 'stray\n' >"$STRAY"
sleep 2 # two intervals of (a): nothing may notice it now
expect_eq "with presence off nothing marked it" 1 \
	"$(q "SELECT healthy FROM replicas WHERE key = '$K2' AND sector = '$S2'")"
run "$GV" --server "$SERVE_URL" scrub --presence --json
expect_rc "scrub --presence --json --server exits 65" 65
jcheck "a presence job document" 'j["kind"] == "presence" and j["state"] == "done" and j["job"] > 0'
jcheck "summary: one missing, one unrecorded, every row checked" \
	'j["summary"]["missing"] == 1 and j["summary"]["wrong_size"] == 0 and j["summary"]["unrecorded"] == 1 and j["summary"]["rows_checked"] == 6 and j["summary"]["sectors"] == 6'
jcheck "its event names the key, sector and reason" \
	"[(e['key'], e['sector'], e['reason']) for e in j['events']] == [('$K2', '$S2', 'missing')]"
expect_true "the stray file is left in place" test -f "$STRAY"
expect_restored "the queued key was restored by the repair loop" "$K2"
expect_true "serve log has the run" grep -q 'event=presence_end.*missing=1' "$LOG"
serve_stop
expect_eq "serve stopped cleanly" 0 "$SERVE_RC"

# ---- (c) locally --------------------------------------------------------------
S3=$(q "SELECT sector FROM replicas WHERE key = '$K' AND healthy = 1 ORDER BY sector LIMIT 1")
truncate -s 1000 "$(replica_path "$K" "$S3")"
gv scrub --presence --json
expect_rc "local scrub --presence --json exits 65" 65
jcheck "local document: job 0, kind presence, one wrong size" \
	'j["job"] == 0 and j["kind"] == "presence" and j["summary"]["wrong_size"] == 1 and j["summary"]["missing"] == 0 and sorted(j["summary"]) == ["duration_ms", "missing", "rows_checked", "sectors", "unrecorded", "wrong_size"]'
jcheck "its event: size mismatch on $S3" \
	"[(e['key'], e['sector'], e['reason'], e['newly_unhealthy']) for e in j['events']] == [('$K', '$S3', 'size mismatch', True)]"
expect_eq "the row is marked" "0|size mismatch" \
	"$(q "SELECT healthy, reason FROM replicas WHERE key = '$K' AND sector = '$S3'")"
gv scrub --presence --once
expect_fail "--once is refused with --presence" 64 'cannot be given with --presence'

finish
