#!/usr/bin/env bash
# What an operator's Prometheus sees: a real scrape of /metrics passes
# `promtool check metrics`; it carries graviton_build_info, the repair byte
# counter beside its rate, the last successful repair, scrub and rebalance
# runs, each sector's scrub age and requests by method and status code;
# docs/monitoring's alert rules pass `promtool check rules` and their unit
# tests (`promtool test rules`), and every
# metric they and the Grafana dashboard use is one the server exports.
source "$(dirname "$0")/lib.sh"

PROMTOOL=/usr/bin/promtool
SRC=$(cd "$E2E_DIR/../.." && pwd)
[ -x "$PROMTOOL" ] || { fail "promtool is installed (Debian package prometheus)" "$PROMTOOL" "missing"; finish; }

must gv init --sectors 4 --racks 2 --zones 2
randfile "$T/blob" 70000
K=$(gvx put "$T/blob")
LOG=$T/serve.log
must serve_start "$LOG"

curl -sS -o /dev/null "$SERVE_URL/v1/blobs/$K"
curl -sS -o /dev/null "$SERVE_URL/v1/blobs/${K%:*}:1"
curl -sS -o /dev/null -X DELETE "$SERVE_URL/v1/blobs/${K%:*}:1"
curl -q -sS -o /dev/null "$SERVE_URL/v1/status"

# scrape FILE: /metrics into FILE once every background loop has had a
# successful run (at most 60 s).
scrape() {
	local i

	for ((i = 0; i < 600; i++)); do
		curl -sS --max-time 10 -o "$1" "$SERVE_URL/metrics" &&
			! grep -qE '^graviton_(repair|scrub|rebalance)_last_success_timestamp_seconds 0$' "$1" &&
			grep -q '^graviton_repair_last_success' "$1" && return 0
		sleep 0.1
	done
	return 1
}
expect_true "repair, scrub and rebalance report a successful run" scrape "$T/metrics"
if "$PROMTOOL" check metrics <"$T/metrics" >"$T/lint" 2>&1; then
	ok "promtool check metrics accepts a real scrape"
else
	fail "promtool check metrics accepts a real scrape" "no lint" "$(head -n 5 "$T/lint")"
fi

out=$("$PY" - "$T/metrics" "$("$GV" --version)" "$K" "$(gvx sector list --json)" <<'PYEOF'
import json, re, sys, time
text = open(sys.argv[1]).read()
types, samples = {}, []
for l in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)", l)
    if m:
        types[m.group(1)] = m.group(2)
    elif l and not l.startswith("#"):
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', l)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
def get(name, **kw):
    return [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in kw.items())]
print("build_info", get("graviton_build_info", version=sys.argv[2].split()[-1]))
print("repair_bytes", types.get("graviton_repair_bytes_total"),
      types.get("graviton_repair_rate_bytes_per_second"))
now = time.time()
for job in ("repair", "scrub", "rebalance"):
    v = get("graviton_%s_last_success_timestamp_seconds" % job)
    print("last_success_%s" % job, types.get("graviton_%s_last_success_timestamp_seconds" % job),
          len(v) == 1 and now - 120 < v[0] <= now + 1)
ids = sorted(s["id"] for s in json.loads(sys.argv[4]))
ages = {l["sector"]: v for n, l, v in samples if n == "graviton_sector_scrub_age_seconds"}
print("scrub_age", sorted(ages) == ids, all(0 <= a < 600 for a in ages.values()),
      sum(1 for a in ages.values() if a > 0))
route = "/v1/blobs/{key}"
print("http_get_200", get("graviton_http_requests_total", method="GET", route=route, code="200"))
print("http_get_404", get("graviton_http_requests_total", method="GET", route=route, code="404"))
print("http_delete", get("graviton_http_requests_total", method="DELETE", route=route))
print("http_401", get("graviton_http_requests_total", method="GET", route="/v1/status", code="401"))
print("classes", sum(1 for n, l, v in samples
                     if n == "graviton_http_requests_total" and l.get("code", "").endswith("xx")))
PYEOF
)
note "$out"
expect_match "graviton_build_info carries the binary's version" '^build_info \[1\.0\]$' \
	"$(grep ^build_info <<<"$out")"
expect_match "repair bytes are a counter beside a rate in bytes per second" \
	'^repair_bytes counter gauge$' "$(grep ^repair_bytes <<<"$out")"
for job in repair scrub rebalance; do
	expect_match "the last successful $job run is a recent unix time" \
		"^last_success_$job gauge True\$" "$(grep "^last_success_$job " <<<"$out")"
done
expect_match "every sector has a scrub age, the blob's sectors above 0" \
	'^scrub_age True True [1-9]' "$(grep ^scrub_age <<<"$out")"
expect_match "a GET that found the blob counts under method GET, code 200" \
	'^http_get_200 \[1\.0\]$' "$(grep ^http_get_200 <<<"$out")"
expect_match "a GET of a missing blob counts as code 404" '^http_get_404 \[1\.0\]$' \
	"$(grep ^http_get_404 <<<"$out")"
expect_match "a DELETE counts under its method" '^http_delete \[1\.0\]$' \
	"$(grep ^http_delete <<<"$out")"
expect_match "a request without the token counts as 401" '^http_401 \[1\.0\]$' \
	"$(grep ^http_401 <<<"$out")"
expect_match "no status class stands in for the code" '^classes 0$' "$(grep ^classes <<<"$out")"

RULES=$SRC/docs/monitoring/graviton-alerts.yml
DASH=$SRC/docs/monitoring/grafana-dashboard.json
if "$PROMTOOL" check rules "$RULES" >"$T/rules" 2>&1; then
	ok "promtool check rules accepts docs/monitoring/graviton-alerts.yml"
else
	fail "promtool check rules accepts docs/monitoring/graviton-alerts.yml" "SUCCESS" \
		"$(tail -n 5 "$T/rules")"
fi
if "$PROMTOOL" test rules "${RULES%.yml}.test.yml" >"$T/rtest" 2>&1; then
	ok "promtool test rules: the alerts fire (and stay quiet) as their tests expect"
else
	fail "promtool test rules: the alerts fire (and stay quiet) as their tests expect" "SUCCESS" \
		"$(head -n 20 "$T/rtest")"
fi
unknown=$("$PY" - "$T/metrics" "$RULES" "$DASH" <<'PYEOF'
import json, re, sys
exported = set(re.findall(r"^# TYPE (\S+) ", open(sys.argv[1]).read(), re.M))
dash = json.load(open(sys.argv[3]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
exprs.append(open(sys.argv[2]).read())
used = set()
for e in exprs:
    for n in re.findall(r"\bgraviton_[a-z0-9_]+", e):
        used.add(re.sub(r"_(bucket|sum|count)$", "", n) if n.startswith("graviton_http_request_duration") else n)
print(" ".join(sorted(used - exported)) or "none", len(used))
PYEOF
)
expect_match "the rules and the dashboard use only exported metrics" '^none [1-9][0-9]' "$unknown"
serve_stop
expect_eq "serve stopped cleanly" 0 "$SERVE_RC"
finish
