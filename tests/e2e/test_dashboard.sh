#!/usr/bin/env bash
# The dashboard in a real browser (Debian's headless Chromium): `serve`
# with data in it, one sector out and a long repair running; the page
# opened with the token in the URL fragment shows every sector id, the
# under-replicated count of GET /v1/dashboard and the running repair's
# progress; a screenshot goes under the build directory; the page
# reaches nothing but the server (the browser's network log: every
# connection to the server's address, every request of the page to its
# origin).  The page itself loads without a token and asks for one; the
# read-only token sees everything, gets 403 for what changes state, and
# the page hides its buttons, and SIGHUP replaces it; /readyz is open
# unless readyz-auth; the page weighs under 200 KiB; `make run` prints a
# link that opens it logged in.
RUN_SH=$(cd "$(dirname "$0")/../../scripts" && pwd)/run.sh
. "$(dirname "$0")/lib.sh"

CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] || { fail "$CHROMIUM is missing (scripts/install-deps.sh installs chromium)"; finish; }
SHOT=$(dirname "$GV")/dashboard.png
RO=ro$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

cat >"$T/dash.conf" <<EOF
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.repair.max-bytes-per-second = 64KiB
graviton.replication.repair.parallel-jobs = 1
graviton.server.dashboard-interval = 1s
graviton.server.read-only-token = "$RO"
EOF

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
for i in $(seq 1 12); do
	must randfile "$T/f$i" $((512 * 1024))
	put_ok "$T/f$i" >/dev/null || fail "put f$i"
done
must serve_start "$T/serve.log" --config "$T/dash.conf"
code() { curl -q -s -o /dev/null -w '%{http_code}' "$@"; }
AUTH="Authorization: Bearer $GRAVITON_TOKEN"
ROH="Authorization: Bearer $RO"

# ---- without a browser: the page, its weight, the tokens -----------------
expect_eq "GET / needs no token" 200 "$(code "$SERVE_URL/")"
weight=0
for f in / /dashboard/app.js /dashboard/style.css; do
	n=$(curl -q -s "$SERVE_URL$f" | wc -c)
	weight=$((weight + n))
done
expect_true "the page weighs under 200 KiB ($weight bytes)" [ "$weight" -gt 1000 ] && [ "$weight" -lt $((200 * 1024)) ]
expect_eq "GET /v1/dashboard without a token -> 401" 401 "$(code "$SERVE_URL/v1/dashboard")"
OUT=$(curl -q -s -H "$ROH" "$SERVE_URL/v1/dashboard")
jcheck "the read-only token reads the dashboard, marked read_only" "j['read_only'] is True"
OUT=$(curl -q -s -H "$AUTH" "$SERVE_URL/v1/dashboard")
jcheck "the admin token's dashboard is not read_only" "j['read_only'] is False"
expect_eq "the read-only token may GET /v1/status" 200 "$(code -H "$ROH" "$SERVE_URL/v1/status")"
expect_eq "the read-only token gets 403 for POST /v1/repair" 403 \
	"$(code -H "$ROH" -X POST "$SERVE_URL/v1/repair")"
expect_eq "... and for PATCH /v1/sectors/s02" 403 \
	"$(code -H "$ROH" -X PATCH -d '{"healthy":false}' "$SERVE_URL/v1/sectors/s02")"
expect_eq "... and for PUT /v1/blobs" 403 \
	"$(code -H "$ROH" -X PUT --data-binary @"$T/f1" "$SERVE_URL/v1/blobs")"
OUT=$(curl -q -s -H "$ROH" "$SERVE_URL/v1/sectors")
jcheck "... which changed nothing: s02 still healthy" \
	"[s['healthy'] for s in j if s['id'] == 's02'] == [True]"
OUT=$(curl -q -s -H "$ROH" -X DELETE "$SERVE_URL/v1/blobs/$(key_of "$T/f1")")
jcheck "the refusal is the error document 'forbidden'" \
	"j['error'] == 'forbidden' and j['status'] == 403"
run "$GV" --data-dir "$D" --config "$T/dash.conf" config check
expect_true "config check hides the read-only token" \
	eval "printf '%s' \"\$OUT\" | grep -q 'read-only-token is set (hidden)' && ! printf '%s' \"\$OUT\" | grep -qF -- '$RO'"
expect_true "the read-only token is not in the server's log" \
	eval "! grep -qF -- '$RO' '$T/serve.log'"

# ---- a sector out, a long repair running -------------------------------------
expect_eq "PATCH s01 unhealthy" 200 \
	"$(code -H "$AUTH" -X PATCH -d '{"healthy":false}' "$SERVE_URL/v1/sectors/s01")"
UNDER=0
for ((i = 0; i < 300 && UNDER == 0; i++)); do
	UNDER=$(curl -q -s -H "$AUTH" "$SERVE_URL/v1/dashboard" |
		jget "(j['cluster'] or {}).get('status', {}).get('under_replicated', 0)" "$(cat)")
	[ "$UNDER" != 0 ] || sleep 0.1
done
expect_true "the dashboard counts under-replicated keys ($UNDER)" [ "$UNDER" -gt 0 ]
OUT=$(curl -q -s -H "$AUTH" -X POST "$SERVE_URL/v1/repair")
JOB=$(jget "j['job']")
# Until the job has copied something (bounded), so its bar is partway.
for ((i = 0; i < 300; i++)); do
	OUT=$(curl -q -s -H "$AUTH" "$SERVE_URL/v1/jobs/$JOB")
	[ "$(jget "j['state'] == 'running' and j['progress']['bytes_done'] > 0")" = true ] && break
	sleep 0.1
done
jcheck "the repair runs and has copied bytes" \
	"j['state'] == 'running' and j['progress']['bytes_done'] > 0"

chrome() { # chrome PROFILE NETLOG ARGS...: Chromium kept off every network but loopback
	local prof=$1 netlog=$2
	shift 2
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --disable-default-apps --disable-extensions \
		--no-default-browser-check --disable-client-side-phishing-detection \
		--disable-domain-reliability \
		--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter \
		--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" \
		--user-data-dir="$T/$prof" --log-net-log="$netlog" "$@" 2>>"$T/chrome.err"
}

chrome admin "$T/net.json" --virtual-time-budget=6000 --dump-dom \
	"$SERVE_URL/#token=$GRAVITON_TOKEN" >"$T/dom.html"
expect_rc "chromium --dump-dom" 0
for s in s01 s02 s03 s04 s05 s06; do
	expect_true "the DOM shows sector $s" grep -q "data-sector=\"$s\"" "$T/dom.html"
done
got=$(grep -o 'id="under_replicated">[^<]*' "$T/dom.html" | sed 's/.*>//; s/,//g')
expect_true "the DOM shows the under-replicated count ($got, the API said $UNDER)" \
	[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -le "$UNDER" ]
"$PY" - "$T/dom.html" "$JOB" >"$T/jobdom" <<'PYEOF'
import re, sys
html, job = open(sys.argv[1]).read(), sys.argv[2]
m = re.search(r'data-job="%s" data-state="running">(.*?)ETA[^<]*' % job, html, re.S)
print(m.group(0) if m else "")
PYEOF
expect_match "the DOM shows the running repair's progress" \
	'repair.*running.*[0-9.]+% · [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B.*ETA [0-9]+:[0-9]{2}' \
	"$(tr '\n' ' ' <"$T/jobdom")"
expect_true "the admin token shows the buttons" \
	grep -q '<span id="actions">' "$T/dom.html"
expect_true "the token left the address bar (history.replaceState)" \
	eval "! grep -q 'token=' '$T/dom.html'"

rm -f "$SHOT"
chrome shot "$T/net-shot.json" --hide-scrollbars --window-size=1280,1600 \
	--virtual-time-budget=6000 --screenshot="$SHOT" "$SERVE_URL/#token=$GRAVITON_TOKEN" >/dev/null
expect_true "a screenshot is written ($SHOT)" [ -s "$SHOT" ]

# Every connection the browser opened went to the server; every request
# made for the page (the navigation and what it loaded) went to its origin.
"$PY" - "$SERVE_URL" "$T/net.json" "$T/net-shot.json" >"$T/netcheck" <<'PYEOF'
import json, sys
origin = sys.argv[1]
addr = origin.split("//")[1]
bad, page = [], 0
for path in sys.argv[2:]:
    d = json.load(open(path))
    names = {v: k for k, v in d["constants"]["logEventTypes"].items()}
    for e in d["events"]:
        p, t = e.get("params", {}), names.get(e["type"], "")
        if t in ("TCP_CONNECT_ATTEMPT", "TCP_CONNECT") and "address" in p and p["address"] != addr:
            bad.append("connect " + p["address"])
        if t == "URL_REQUEST_START_JOB" and (p.get("initiator") == origin or
                                              p.get("url", "").startswith(origin + "/")):
            page += 1
            if not p["url"].startswith(origin + "/"):
                bad.append("request " + p["url"])
        if t == "URL_REQUEST_START_JOB" and p.get("initiator") == origin and \
           not p["url"].startswith(origin + "/"):
            bad.append("page request " + p["url"])
print("page_requests", page)
print("outside", len(bad), " ".join(bad[:5]))
PYEOF
expect_match "the browser loaded the page's files from the server" '^page_requests ([4-9]|[1-9][0-9]+)$' \
	"$(grep page_requests "$T/netcheck")"
expect_eq "nothing outside the server was reached" "outside 0 " "$(grep outside "$T/netcheck")"

# ---- without a token; with the read-only one ---------------------------------
chrome anon "$T/net-anon.json" --virtual-time-budget=4000 --dump-dom "$SERVE_URL/" >"$T/anon.html"
expect_true "without a token the page asks for one" \
	grep -q '<section id="login">' "$T/anon.html"
expect_true "... and shows no cluster data" eval "! grep -q 'data-sector=' '$T/anon.html'"
chrome ro "$T/net-ro.json" --virtual-time-budget=4000 --dump-dom "$SERVE_URL/#token=$RO" >"$T/ro.html"
expect_true "the read-only token sees the sectors" grep -q 'data-sector="s02"' "$T/ro.html"
expect_true "... but not the buttons that change state" \
	grep -q '<span id="actions" hidden="">' "$T/ro.html"

# SIGHUP reloads the read-only token: the old one stops working.
RO2=ro2$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
sed -i "s/$RO/$RO2/" "$T/dash.conf"
expect_eq "before the reload the old read-only token reads" 200 \
	"$(code -H "$ROH" "$SERVE_URL/v1/status")"
kill -HUP "$SERVE_PID"
for ((i = 0; i < 300; i++)); do
	[ "$(code -H "Authorization: Bearer $RO2" "$SERVE_URL/v1/status")" = 200 ] && break
	sleep 0.1
done
expect_eq "after SIGHUP the new read-only token reads" 200 \
	"$(code -H "Authorization: Bearer $RO2" "$SERVE_URL/v1/status")"
expect_eq "... and the old one is refused" 401 "$(code -H "$ROH" "$SERVE_URL/v1/status")"
expect_eq "/readyz needs no token by default" 200 "$(code "$SERVE_URL/readyz")"
serve_stop
printf 'graviton.server.readyz-auth = true\n' >"$T/readyz.conf"
must serve_start "$T/serve.log" --config "$T/readyz.conf"
expect_eq "with readyz-auth /readyz without a token -> 401" 401 "$(code "$SERVE_URL/readyz")"
expect_eq "... and with the token -> 200" 200 "$(code -H "$AUTH" "$SERVE_URL/readyz")"
expect_eq "... /healthz stays open" 200 "$(code "$SERVE_URL/healthz")"
serve_stop

# `make run` (scripts/run.sh) prints a link that opens the dashboard
# logged in: the token in the fragment.
RUN_PORT=$(free_port)
env -u GRAVITON_TOKEN GRAVITON_DATA_DIR="$T/run" GRAVITON_LISTEN="127.0.0.1:$RUN_PORT" \
	bash "$RUN_SH" "$GV" >"$T/run.out" 2>&1 </dev/null &
RUN_PID=$!
_SERVE_PIDS+=("$RUN_PID")
# run.sh prints its lines once the server answers: wait for them (30 s).
for ((i = 0; i < 300; i++)); do
	grep -q "#token=" "$T/run.out" 2>/dev/null && break
	sleep 0.1
done
LINK=$(grep -o "http://127.0.0.1:$RUN_PORT/#token=[0-9a-f]*" "$T/run.out" | head -n 1)
expect_eq "make run prints the dashboard's link with the token in its fragment" \
	"http://127.0.0.1:$RUN_PORT/#token=$(cat "$T/run/token" 2>/dev/null)" "$LINK"
expect_eq "... a token the server takes" 200 \
	"$(code -H "Authorization: Bearer ${LINK#*#token=}" "http://127.0.0.1:$RUN_PORT/v1/dashboard")"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
finish
