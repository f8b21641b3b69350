#!/usr/bin/env bash
# The HTTP server under load and abuse, against a real `graviton serve` on
# loopback, driven by http_check.py:
#   - 1,000 connections open at once (from 127.0.1.1-10, within the default
#     per-address limit): the server waits with poll(), so descriptors past
#     1024 work, and every client gets its blob;
#   - a per-address connection limit: 127.0.0.2 at its limit (stalled
#     downloads) cannot open one more, 127.0.0.1 keeps /healthz and /metrics;
#   - slow-header clients (a byte every 0.3 s) are closed after the header
#     timeout, while 127.0.0.1 keeps being answered;
#   - Range per RFC 9110, HEAD as GET, conflicting Content-Length -> 400;
#   - parallel /metrics scrapes share one computation of the gauges;
#   - uploads refused mid-body (over max-body-size, full sectors) get their
#     JSON error (413, 507) and `--server put` exits as a local put does;
#   - SIGTERM during a slow download: every byte still arrives.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# ---- server M: 1,000 clients at once, default limits -------------------------

D=$T/m
LOG=$T/m.log
randfile "$T/small" 4096
must serve_start "$LOG"
note "server M at $SERVE_URL (pid $SERVE_PID)"
run "$GV" --server "$SERVE_URL" put "$T/small"
SMALL=$(key_of "$T/small")
pyc many "$SERVE_URL" 1000 "$SMALL"
if grep -q FD_SETSIZE "$LOG"; then
	fail "no connection refused for FD_SETSIZE" "none" "$(grep -c FD_SETSIZE "$LOG") in the log"
else
	ok "no connection refused for FD_SETSIZE"
fi
serve_stop TERM
expect_eq "server M exits 0 on SIGTERM" 0 "$SERVE_RC"

# ---- server L: per-address limit, header timeout, ranges, metrics, drain ------

D=$T/l
LOG=$T/l.log
cat >"$T/l.conf" <<'CONF'
graviton {
  server {
    max-body-size = 1 MiB
    max-connections-per-address = 8
    header-timeout = 3 seconds
    shutdown-grace = 60 seconds
  }
  replication.rebalance.enabled = false
}
CONF
randfile "$T/big" $((30 * 1024 * 1024))
BIG=$(key_of "$T/big")
must gv --config "$T/l.conf" init
must gv --config "$T/l.conf" put "$T/big"
must serve_start "$LOG" --config "$T/l.conf"
note "server L at $SERVE_URL (pid $SERVE_PID)"

pyc per-address "$SERVE_URL" 8 "$BIG"
pyc slow-headers "$SERVE_URL" 8 3
pyc ranges "$SERVE_URL"
# Fewer scrapers than server L's per-address limit (8), all from
# 127.0.0.1: more would be refused at accept whenever the scrapes overlap
# long enough, which is that limit working, not a failure of the cache.
pyc metrics-cache "$SERVE_URL" 6
pyc refusals "$SERVE_URL" 1048576

# HEAD answers as GET would: no replica file left -> 503 for both.
run "$GV" --server "$SERVE_URL" put "$T/small"
for f in $(replica_files "$SMALL"); do rm -f "$f"; done
pyc head-unhealthy "$SERVE_URL" "$SMALL"

# SIGTERM during a slow download of 30 MiB: it still completes.
pyc drain "$SERVE_URL" "$BIG" "$SERVE_PID" "$T/drained"
SERVE_STOP_WAIT=60 serve_stop TERM
expect_eq "server L exits 0 after draining" 0 "$SERVE_RC"
expect_match "server L logged its stop" 'event=stopped' "$(tail -n 5 "$LOG")"

# ---- server F: full sectors ---------------------------------------------------

D=$T/f
LOG=$T/f.log
cat >"$T/f.conf" <<'CONF'
graviton {
  sectors = [
    { id = "f1", capacity = 1 MiB, rack = "r1", zone = "z1" }
    { id = "f2", capacity = 1 MiB, rack = "r2", zone = "z2" }
    { id = "f3", capacity = 1 MiB, rack = "r3", zone = "z3" }
  ]
  replication.rebalance.enabled = false
}
CONF
randfile "$T/three" 3000000
must serve_start "$LOG" --config "$T/f.conf"
note "server F at $SERVE_URL (pid $SERVE_PID)"
pyc full-put "$SERVE_URL" 3000000
# From a pipe (no size known: chunked): the sector fills mid-upload.
"$GV" --server "$SERVE_URL" put - <"$T/three" >"$T/f.remote.out" 2>&1
REMOTE_RC=$?
"$GV" --server "$SERVE_URL" put "$T/three" >"$T/f.remote2.out" 2>&1
REMOTE2_RC=$?
serve_stop TERM
expect_eq "server F exits 0 on SIGTERM" 0 "$SERVE_RC"
"$GV" --data-dir "$D" --config "$T/f.conf" put - <"$T/three" >"$T/f.local.out" 2>&1
LOCAL_RC=$?
"$GV" --data-dir "$D" --config "$T/f.conf" put "$T/three" >"$T/f.local2.out" 2>&1
LOCAL2_RC=$?
note "local put from a pipe: $(head -c 300 "$T/f.local.out")"
note "--server put from a pipe: $(head -c 300 "$T/f.remote.out")"
expect_true "a put from a pipe onto full sectors fails locally" [ "$LOCAL_RC" != 0 ]
expect_eq "\`--server put\` from a pipe onto full sectors exits as the local put" \
	"$LOCAL_RC" "$REMOTE_RC"
expect_true "a put of a file onto full sectors fails locally" [ "$LOCAL2_RC" != 0 ]
expect_eq "\`--server put\` of a file onto full sectors exits as the local put" \
	"$LOCAL2_RC" "$REMOTE2_RC"
finish
