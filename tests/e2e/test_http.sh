#!/usr/bin/env bash
# The HTTP API end to end, against a real `graviton serve` on a free
# loopback port, driven by http_check.py (python3 standard library):
#   - put/get/head/range/delete, replicas (= stat --json), status (= status
#     --json), healthz, readyz (503 below min-replicas healthy sectors),
#     sectors (POST, PATCH), jobs (POST /v1/repair?dry_run=1 ... done);
#   - 100 concurrent clients putting and reading 1,000 blobs;
#   - /metrics through a strict Prometheus text-format parser; the
#     under-replicated gauge rises when a sector is marked unhealthy and
#     falls back to 0 once the background repair (every 1 s) has run;
#   - malformed requests (bad keys and ranges, header floods, bodies over
#     max-body-size, slow clients) get errors and the server stays up;
#   - auth-token: no or wrong token -> 401, right token -> ok, /healthz and
#     /metrics open; SIGHUP picks up a new token;
#   - SIGTERM during 50 in-flight uploads: exit 0 in bounded time, nothing
#     half-recorded in the data directory.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
HC=$HERE/http_check.py

# stop_ok DESC [SIGNAL]: stop the current server, expect exit 0.
stop_ok() {
	serve_stop "${2:-TERM}"
	expect_eq "$1 (in $SERVE_STOP_SECS s)" 0 "$SERVE_RC"
	[ "$SERVE_RC" = 0 ] || tail -n 20 "$LOG" | sed 's/^/       log: /'
}

# ---- the Prometheus parser itself -------------------------------------------

pyc metrics-selftest

# ---- server A: the API, concurrency, metrics, malformed requests -------------

D=$T/a
LOG=$T/a.log
cat >"$T/a.conf" <<'EOF'
graviton {
  server {
    max-body-size = 1 MiB
    idle-timeout = 3 seconds
  }
  replication {
    repair.interval = 1s
    rebalance.enabled = false
  }
}
EOF
mkdir -p "$T/extra"
must serve_start "$LOG" --config "$T/a.conf"
note "server A at $SERVE_URL (pid $SERVE_PID)"
A_PID=$SERVE_PID

pyc api "$SERVE_URL" "$GV" "$D" "$T/extra"
pyc concurrent "$SERVE_URL" 100 1000
pyc metrics "$SERVE_URL"
pyc under-replicated "$SERVE_URL" s01 120
pyc malformed "$SERVE_URL" 1048576 3
pyc metrics "$SERVE_URL"

if _proc_gone "$A_PID"; then
	fail "server A is still running after all of that" "running" "exited"
else
	ok "server A is still running after all of that"
fi
stop_ok "server A exits 0 on SIGTERM"
expect_match "server A logged its stop" 'event=stopped' "$(tail -n 5 "$LOG")"
gv status --json
jcheck "the CLI reads server A's data directory afterwards" "j['blobs'] >= 999 and j['lost'] == 0 and j['unhealthy_replicas'] == 0"

# ---- server B: authentication ----------------------------------------------------

D=$T/b
LOG=$T/b.log
TOKEN=tok-$(openssl rand -hex 16)
cat >"$T/b.conf" <<'EOF'
graviton.server.auth-token = ${?GRAVITON_TOKEN}
graviton.replication.rebalance.enabled = false
EOF
export GRAVITON_TOKEN=$TOKEN
must serve_start "$LOG" --config "$T/b.conf"
unset GRAVITON_TOKEN
note "server B at $SERVE_URL (pid $SERVE_PID)"
pyc auth "$SERVE_URL" "$TOKEN"
expect_match "the server log says auth=on" 'auth=on' "$(grep event=listening "$LOG")"
if grep -qF -- "$TOKEN" "$LOG"; then
	fail "the token does not appear in the server's log" "absent" "present"
else
	ok "the token does not appear in the server's log"
fi

# SIGHUP: a new token from the file replaces the old one.
NEW_TOKEN=new-$(openssl rand -hex 16)
printf 'graviton.server.auth-token = "%s"\ngraviton.replication.rebalance.enabled = false\n' \
	"$NEW_TOKEN" >"$T/b.conf"
kill -HUP "$SERVE_PID"
reloaded=0
for ((i = 0; i < 100; i++)); do
	grep -q 'event=reload result=ok' "$LOG" && { reloaded=1; break; }
	sleep 0.1
done
expect_eq "SIGHUP reloads the configuration" 1 "$reloaded"
pyc auth "$SERVE_URL" "$NEW_TOKEN"
stop_ok "server B exits 0 on SIGINT" INT

# ---- server C: SIGTERM during 50 in-flight uploads ----------------------------

D=$T/c
LOG=$T/c.log
mkdir -p "$T/sig"
must serve_start "$LOG"
note "server C at $SERVE_URL (pid $SERVE_PID)"
"$PY" "$HC" sigterm-load "$SERVE_URL" "$T/sig/ready" "$T/sig" 50 10 \
	>"$T/.hc.sig.out" 2>"$T/.hc.sig.out.err" </dev/null &
LOADER=$!
for ((i = 0; i < 1200; i++)); do
	[ -f "$T/sig/ready" ] && break
	_proc_gone "$LOADER" && break
	sleep 0.1
done
if [ -f "$T/sig/ready" ]; then
	ok "50 slow uploads in flight"
	SERVE_STOP_WAIT=30 serve_stop TERM
	expect_eq "SIGTERM with 50 uploads in flight: exit 0 (in $SERVE_STOP_SECS s)" 0 "$SERVE_RC"
	expect_true "... within 30 s" test "$SERVE_RC" != killed
else
	fail "50 slow uploads in flight" "the loader ready" "it stopped first"
	SERVE_STOP_WAIT=30 serve_stop TERM
fi
wait "$LOADER"
pyreport "$T/.hc.sig.out" $? sigterm-load
expect_match "server C logged its stop" 'event=stopped' "$(tail -n 5 "$LOG")"
pyc after-sigterm "$GV" "$D" "$T/sig" 2

finish
