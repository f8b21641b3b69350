#!/usr/bin/env bash
# Progress of jobs over HTTP: a long repair (rate-limited) reports in its
# job document bytes done that only grow, of a fixed total, items done of
# their total, a rate and an ETA while it runs, and none once it is done;
# GET /v1/jobs lists it; after a restart GET /v1/jobs/{id} still answers
# for it and the next job gets the next id, not 1 again; a job the server
# was killed in reads failed (canceled) after the restart.  A scrub's
# progress moves by the bytes read, inside a replica too.
. "$(dirname "$0")/lib.sh"

cat >"$T/slow.conf" <<'EOF'
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.repair.max-bytes-per-second = 256KiB
graviton.replication.repair.parallel-jobs = 2
EOF

# poll_job ID: its job document every 0.2 s, one a line, to its end
# (bounded: 120 s).
poll_job() {
	"$PY" - "$SERVE_URL" "$1" "$GRAVITON_TOKEN" <<'PYEOF'
import json, sys, time, urllib.request
url, job, tok = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    req = urllib.request.Request(f"{url}/v1/jobs/{job}",
                                 headers={"Authorization": "Bearer " + tok})
    d = json.load(urllib.request.urlopen(req, timeout=10))
    print(json.dumps(d), flush=True)
    if d["state"] != "running":
        break
    time.sleep(0.2)
PYEOF
}

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
# 12 blobs of 384 KiB: with one sector of six out, about 2 MiB to copy at
# 256 KiB/s, some 8 s.
for i in $(seq 1 12); do
	must randfile "$T/f$i" $((384 * 1024))
	put_ok "$T/f$i" >/dev/null || fail "put f$i"
done
must serve_start "$T/serve.log" --config "$T/slow.conf"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -d '{"healthy":false}' \
	"$SERVE_URL/v1/sectors/s01")
expect_eq "PATCH s01 unhealthy" 200 "$code"

OUT=$(curl -s -X POST "$SERVE_URL/v1/repair")
jcheck "POST /v1/repair starts a job" "j['job'] >= 1"
JOB=$(jget "j['job']")

poll_job "$JOB" >"$T/samples"
expect_eq "the job was polled to its end" "done" \
	"$(tail -n 1 "$T/samples" | jget "j['state']" "$(tail -n 1 "$T/samples")")"
RUN=$(grep '"state": "running"' "$T/samples")
expect_true "at least 4 samples while it ran" [ "$(printf '%s\n' "$RUN" | grep -c .)" -ge 4 ]
if [ -z "$RUN" ]; then
	# What the job said, and what the server logged, for the failure above.
	note "first job document: $(head -n 1 "$T/samples")"
	tail -n 20 "$T/serve.log" | sed 's/^/# /'
fi
"$PY" - "$T/samples" <<'PYEOF' >"$T/check" 2>&1
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
run = [d for d in docs if d["state"] == "running"]
p = [d["progress"] for d in run]
done = [x["bytes_done"] for x in p]
tot = {x["bytes_total"] for x in p}
print("monotonic", all(a <= b for a, b in zip(done, done[1:])))
print("grew", done[-1] > done[0])
print("fixed_total", len(tot) == 1 and min(tot) > 0 and max(done) <= min(tot))
print("partial", any(0 < x["bytes_done"] < x["bytes_total"] for x in p))
print("items", all(x["items_done"] <= x["items_total"] and x["items_total"] > 0 for x in p))
print("eta", any(isinstance(x["eta_seconds"], int) and x["eta_seconds"] > 0 for x in p))
print("rate", any(x["rate_bytes_per_second"] > 0 for x in p))
print("eta_keys", all("eta_seconds" in x and "elapsed_seconds" in x for x in p))
print("final_no_progress", "progress" not in docs[-1])
PYEOF
for k in monotonic grew fixed_total partial items eta rate eta_keys final_no_progress; do
	expect_eq "running job document: $k" "$k True" "$(grep "^$k " "$T/check")"
done

OUT=$(curl -s "$SERVE_URL/v1/jobs")
jcheck "GET /v1/jobs lists the repair, finished" \
	"[x for x in j['jobs'] if x['job'] == $JOB and x['kind'] == 'repair' and x['state'] == 'done' and x['finished_ms'] >= x['started_ms'] > 0]"

# Scrub counts bytes as it reads them, not per finished replica: one blob
# of 6 MiB (three copies) read at 3 MiB/s by one reader shows amounts
# that are no whole number of copies.
for i in $(seq 1 12); do
	curl -s -o /dev/null -X DELETE "$SERVE_URL/v1/blobs/$(key_of "$T/f$i")"
done
serve_stop
cat >"$T/scrub.conf" <<'EOF2'
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.scrub.max-bytes-per-second = 3MiB
graviton.replication.scrub.parallel-reads = 1
EOF2
must randfile "$T/six" $((6 * 1024 * 1024))
put_ok "$T/six" >/dev/null || fail "put six"
must serve_start "$T/serve.log" --config "$T/scrub.conf"
OUT=$(curl -s -X POST "$SERVE_URL/v1/scrub")
SJOB=$(jget "j['job']")
poll_job "$SJOB" >"$T/scrub.samples"
"$PY" - "$T/scrub.samples" $((6 * 1024 * 1024)) <<'PYEOF' >"$T/scrub.check" 2>&1
import json, sys
copy = int(sys.argv[2])
docs = [json.loads(l) for l in open(sys.argv[1])]
p = [d["progress"] for d in docs if d["state"] == "running"]
print("total", all(x["bytes_total"] == 3 * copy for x in p) and len(p) > 0)
print("within", any(x["bytes_done"] % copy != 0 for x in p))
print("done", docs[-1]["state"] == "done" and docs[-1]["summary"]["bytes"] == 3 * copy)
PYEOF
for k in total within done; do
	expect_eq "scrub job progress: $k" "$k True" "$(grep "^$k " "$T/scrub.check")"
done

# Ids survive a restart.
serve_stop
must serve_start "$T/serve2.log" --config "$T/slow.conf"
OUT=$(curl -s "$SERVE_URL/v1/jobs/$JOB")
jcheck "after a restart GET /v1/jobs/$JOB still answers, done, with its summary" \
	"j['job'] == $JOB and j['state'] == 'done' and j['summary']['keys_repaired'] >= 1"
OUT=$(curl -s -X POST "$SERVE_URL/v1/rebalance?dry_run=1")
jcheck "the next job gets the next id" "j['job'] == $SJOB + 1"

# A server killed in the middle of a job: after the restart the job reads
# failed (canceled), not running for ever.
S6=$(replica_sectors "$(key_of "$T/six")" | head -n 1)
curl -s -o /dev/null -X PATCH -d '{"healthy":false}' "$SERVE_URL/v1/sectors/$S6"
OUT=$(curl -s -X POST "$SERVE_URL/v1/repair")
KJOB=$(jget "j['job']")
for ((i = 0; i < 300; i++)); do
	OUT=$(curl -s "$SERVE_URL/v1/jobs/$KJOB")
	[ "$(jget "j['state'] == 'running' and j['progress']['bytes_done'] > 0")" = true ] && break
	sleep 0.1
done
jcheck "the repair of $S6's copy is under way" "j['state'] == 'running'"
serve_stop KILL
must serve_start "$T/serve3.log" --config "$T/slow.conf"
OUT=$(curl -s "$SERVE_URL/v1/jobs/$KJOB")
jcheck "after a kill the interrupted job reads failed, canceled" \
	"j['job'] == $KJOB and j['state'] == 'failed' and j['summary']['error']['error'] == 'canceled'"
OUT=$(curl -s "$SERVE_URL/v1/jobs")
jcheck "GET /v1/jobs lists it, finished" \
	"[x for x in j['jobs'] if x['job'] == $KJOB and x['state'] == 'failed' and x['finished_ms']]"
serve_stop
finish
