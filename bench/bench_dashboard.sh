#!/usr/bin/env bash
# The dashboard's data endpoint at scale (issue target: GET /v1/dashboard
# under 50 ms with 1,000,000 blobs and 100 sectors) and the page's weight
# (target: under 200 KiB).  A generated index (bench_gen_index -n 100)
# behind `graviton serve`; once the sampler has its first figures, N
# requests over one keep-alive connection are timed; the background scan
# the sampler runs (cluster.scan_ms) is printed too.  Prints, does not
# judge.
#
# usage: bench/bench_dashboard.sh BUILD_DIR
#   BENCH_DIR=...                 parent of the scratch directory (/var/tmp)
#   BENCH_DASH_KEYS=1000000       blobs
#   BENCH_DASH_SECTORS=100        sectors
#   BENCH_DASH_REQUESTS=200       timed requests
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
GV=$BUILD/graviton
KEYS=${BENCH_DASH_KEYS:-1000000}
SECTORS=${BENCH_DASH_SECTORS:-100}
REQS=${BENCH_DASH_REQUESTS:-200}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-dash.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
PY=/usr/bin/python3

cmake --build "$BUILD" --target bench_gen_index graviton >/dev/null
mkdir -p "$W/data"
"$BUILD/bench_gen_index" -n "$SECTORS" "$W/data/graviton.db" "$KEYS"
: >"$W/data/gateway" # serve lays out no sectors of its own
TOK=bench$RANDOM$RANDOM$RANDOM
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$W/bench.conf" <<CONF
graviton.server.auth-token = "$TOK"
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.reclaim.enabled = false
CONF
"$GV" --data-dir "$W/data" --config "$W/bench.conf" serve --listen "127.0.0.1:$PORT" \
	>"$W/serve.log" 2>&1 &
PID=$!

"$PY" - "$PORT" "$TOK" "$REQS" <<'PYEOF'
import http.client, json, statistics, sys, time
port, tok, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
h = {"Authorization": "Bearer " + tok}
deadline = time.monotonic() + 600
c = None
while True:
    try:
        c = c or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/v1/dashboard", headers=h)
        r = c.getresponse()
        d = json.loads(r.read())
        if r.status == 200 and d.get("cluster"):
            break
    except (OSError, http.client.HTTPException, ValueError):
        c = None
    if time.monotonic() > deadline:
        sys.exit("bench_dashboard: no figures after 600 s")
    time.sleep(0.5)
st = d["cluster"]["status"]
print("index: %d blobs, %d sectors, %d under-replicated, %d lost; background scan %.0f ms"
      % (st["blobs"], len(d["sectors"]), st["under_replicated"], st["lost"],
         d["cluster"]["scan_ms"]))
ms, size = [], 0
for _ in range(n):
    t0 = time.perf_counter()
    c.request("GET", "/v1/dashboard", headers=h)
    r = c.getresponse()
    body = r.read()
    ms.append((time.perf_counter() - t0) * 1000)
    size = len(body)
    assert r.status == 200
ms.sort()
print("GET /v1/dashboard x%d: median %.2f ms, p99 %.2f ms, max %.2f ms (%d bytes)"
      % (n, statistics.median(ms), ms[int(len(ms) * 0.99) - 1], ms[-1], size))
page = 0
for p in ("/", "/dashboard/app.js", "/dashboard/style.css"):
    c.request("GET", p)
    page += len(c.getresponse().read())
print("page weight: %d bytes (%.1f KiB)" % (page, page / 1024))
PYEOF
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
