#!/usr/bin/env bash
# The durable repair queue:
#   - a read that meets a rotten replica queues the key (reason "read: ...");
#     the entry survives `kill -9` of the server (`graviton repair queue
#     --json` lists it), and a restarted server with the periodic full scan
#     off repairs the key from the queue alone, which then empties;
#   - a key with no copy left to repair from is retried with backoff and
#     becomes a dead letter after graviton.replication.repair.max-attempts
#     failures: listed (GET /v1/repair/queue, the dead-letter gauge), no
#     longer retried.
. "$(dirname "$0")/lib.sh"

must gv init --sectors 4 --racks 2 --factor 3 --min-replicas 2
# First server: nothing repairs, so what the read queued is still there.
cat >"$T/norepair.conf" <<'CONF'
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
CONF
# Second server: repair from the queue only (no full scan, not even at
# start), a small max-attempts and short backoff.
cat >"$T/queue.conf" <<'CONF'
graviton.replication.repair.full-scan = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.repair.max-attempts = 3
graviton.replication.repair.backoff-base = 200ms
graviton.replication.repair.backoff-max = 400ms
CONF

# queue_doc: GET /v1/repair/queue (the server's document), or "".
queue_doc() { curl -sf "$SERVE_URL/v1/repair/queue" 2>/dev/null; }

# healthy_count KEY: healthy replicas of KEY (local stat).
healthy_count() {
	local j

	j=$("$GV" --data-dir "$D" stat "$1" --json 2>/dev/null) || return 1
	jget 'sum(1 for r in j["replicas"] if r["healthy"])' "$j"
}

must randfile "$T/a" 300000
KA=$(put_ok "$T/a") || { fail "put a"; finish; }
S=$(read_order "$KA")
S=${S%%$'\n'*}
F=$(replica_file "$KA" "$S")
expect_true "the first replica read has a file" test -n "$F"
must flip_byte "$F" 1000

# ---- a read queues the key; the entry survives kill -9 -----------------------

must serve_start "$T/serve1.log" --config "$T/norepair.conf"
curl -sf "$SERVE_URL/v1/blobs/$KA" -o "$T/a.out"
expect_eq "GET returns the blob despite the rotten replica" 0 $?
expect_same_file "GET's bytes" "$T/a" "$T/a.out"
for ((i = 0; i < 300; i++)); do
	case $(queue_doc) in *"$KA"*) break ;; esac
	sleep 0.1
done
jcheck "GET /v1/repair/queue lists the key, queued by the read" \
	"j['queued'] == 1 and j['dead'] == 0 and [e['key'] for e in j['entries']] == ['$KA'] and j['entries'][0]['reason'].startswith('read: replica on $S: ')" \
	"$(queue_doc)"
serve_stop KILL
expect_eq "the server was killed" 137 "$SERVE_RC"

gv repair queue --json
expect_rc "repair queue --json on the data directory" 0
jcheck "after kill -9 the queue still holds the key, with its reason" \
	"j['queued'] == 1 and j['dead'] == 0 and len(j['entries']) == 1 and j['entries'][0]['key'] == '$KA' and j['entries'][0]['reason'].startswith('read: ') and j['entries'][0]['attempts'] == 0 and j['entries'][0]['dead'] is False and isinstance(j['entries'][0]['next_attempt_ms'], int) and isinstance(j['entries'][0]['enqueued_ms'], int) and j['entries'][0]['last_error'] == ''" \
	"$OUT"
gv repair queue
expect_rc "repair queue (text)" 0
expect_match "the text form names the key and the reason" "$KA .*reason=\"read: " "$OUT"
expect_eq "the key has two healthy replicas before the restart" 2 "$(healthy_count "$KA")"

# ---- a restarted server repairs it from the queue alone --------------------

must serve_start "$T/serve2.log" --config "$T/queue.conf"
for ((i = 0; i < 600; i++)); do
	[ "$(healthy_count "$KA")" = 3 ] && q=$(queue_doc) &&
		[ "$(jget 'j["queued"] + j["dead"]' "$q")" = 0 ] && break
	sleep 0.1
done
expect_eq "the key is back to three healthy replicas" 3 "$(healthy_count "$KA")"
jcheck "the queue is empty" "j['queued'] == 0 and j['dead'] == 0 and j['entries'] == []" \
	"$(queue_doc)"
expect_true "no full scan ran (the queue did it)" \
	bash -c "! grep -q 'event=repair_start' '$T/serve2.log'"
expect_match "a queued run repaired one key" 'event=repair_end scanned=1 repaired=1' \
	"$(cat "$T/serve2.log")"
curl -sf "$SERVE_URL/v1/blobs/$KA" -o "$T/a.out2"
expect_same_file "GET after the repair" "$T/a" "$T/a.out2"

# ---- a key that cannot be repaired becomes a dead letter -------------------

must randfile "$T/b" 5000
curl -sf -X PUT --data-binary "@$T/b" "$SERVE_URL/v1/blobs" -o "$T/b.put"
expect_eq "PUT b" 0 $?
KB=$(jget 'j["key"]' "$(cat "$T/b.put")")
for f in $(replica_files "$KB"); do rm -f "$f"; done
expect_eq "every copy of b is gone" "" "$(replica_files "$KB")"
curl -s "$SERVE_URL/v1/blobs/$KB" -o /dev/null -w '%{http_code}' >"$T/b.code"
expect_match "GET b fails: nothing to read" '^5' "$(cat "$T/b.code")"
for ((i = 0; i < 600; i++)); do
	[ "$(jget "[e['dead'] for e in j['entries'] if e['key'] == '$KB']" "$(queue_doc)")" = "[true]" ] &&
		break
	sleep 0.1
done
jcheck "b is a dead letter after max-attempts (3) failures, with the last error" \
	"j['dead'] == 1 and j['queued'] == 0 and [(e['attempts'], e['dead']) for e in j['entries'] if e['key'] == '$KB'] == [(3, True)] and [e['last_error'] for e in j['entries'] if e['key'] == '$KB'][0] != ''" \
	"$(queue_doc)"
expect_match "the dead-letter gauge counts it" '^graviton_repair_queue_dead 1$' \
	"$(curl -sf "$SERVE_URL/metrics")"
# Well past the backoff (400 ms) and the queue's 1 s look: not retried.
sleep 2.5
jcheck "a dead letter is not retried" \
	"[e['attempts'] for e in j['entries'] if e['key'] == '$KB'] == [3]" "$(queue_doc)"

serve_stop
expect_eq "the server exits 0" 0 "$SERVE_RC"
finish
