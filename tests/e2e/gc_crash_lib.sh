# tests/e2e/gc_crash_lib.sh - kill -9 of `serve` (and of some `cp`s) at
# random moments while names and raw blobs come and go and the collector
# runs every 100 ms with a 300 ms grace (sourced by test_gc_crash.sh and
# test_gc_crash_slow.sh, which set ROUNDS and OPS).
#
# A worker does OPS random operations a round on a pool of 8 files: `cp`
# of a pool file to one of 12 names (a tenth of them killed at once, so
# some puts die between storing and naming), `rm` of a name, PUT and
# DELETE of raw blobs over HTTP; it journals each with its outcome.  The
# server is killed once a round at a random moment and started again.
# After each round, against the journal: every name listed reads back
# (cat, verified) as the bytes of its key, which is one the name can hold
# (the last acknowledged cp, or any cp since whose outcome is unknown),
# no acknowledged name is missing, and every blob pinned for sure reads
# back over HTTP.  Then, with serve stopped, `gc --grace 1ms` and the same
# checks again: the collector took nothing referenced.
. "$(dirname "$0")/lib.sh"

: "${ROUNDS:?}" "${OPS:?}"

must gv init --sectors 3 --factor 2 --min-replicas 2
mkdir -p "$T/pool"
for i in 0 1 2 3 4 5 6 7; do
	must randfile "$T/pool/p$i" $((1000 + i * 37000))
done
printf 'graviton { gc { interval = 100ms, grace = 300ms } }\n' >"$T/gc.conf"
JOURNAL=$T/journal
: >"$JOURNAL"

# The worker: OPS operations, journalled "op target arg outcome".
worker() {
	"$PY" - "$GV" "$D" "$T" "$OPS" "$1" <<'PYEOF'
import os, random, subprocess, sys
gv, d, t, ops, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)
j = open(os.path.join(t, "journal"), "a")
def url():
    try:
        return open(os.path.join(t, "url")).read().strip()
    except OSError:
        return ""
def key(p):
    import hashlib
    b = open(p, "rb").read()
    return "sha256:%s:%d" % (hashlib.sha256(b).hexdigest(), len(b))
for _ in range(ops):
    p = "p%d" % rnd.randrange(8)
    path = os.path.join(t, "pool", p)
    op = rnd.choice(["cp", "cp", "cp", "rm", "put", "del"])
    if op == "cp":
        name = "n%d" % rnd.randrange(12)
        kill = rnd.random() < 0.1
        argv = [gv, "--data-dir", d, "-q", "cp", path, "crash/" + name]
        if kill:
            argv = ["timeout", "-s", "KILL", "%.3f" % rnd.uniform(0.005, 0.08)] + argv
        rc = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        j.write("cp %s %s %s\n" % (name, key(path), "ok" if rc == 0 else "unknown"))
    elif op == "rm":
        name = "n%d" % rnd.randrange(12)
        rc = subprocess.call([gv, "--data-dir", d, "-q", "rm", "crash/" + name],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        j.write("rm %s - %s\n" % (name, "ok" if rc in (0, 66) else "unknown"))
    else:
        u = url()
        k = key(path)
        if op == "put":
            argv = ["curl", "-sf", "-m", "20", "-X", "PUT", "--data-binary", "@" + path,
                    u + "/v1/blobs"]
        else:
            argv = ["curl", "-sf", "-m", "20", "-X", "DELETE", u + "/v1/blobs/" + k]
        rc = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # 22: an HTTP error (DELETE of a key not stored: nothing changed)
        outcome = "ok" if rc == 0 else ("none" if rc in (7, 22) else "unknown")
        j.write("%s %s %s %s\n" % (op, k, k, outcome))
    j.flush()
PYEOF
}

# check WHEN: the journal against the store (serve running or not).
check() {
	local when=$1 listing

	listing=$("$GV" --data-dir "$D" ls crash --limit 1000 --json 2>"$T/.ls.err")
	if [ $? != 0 ] && ! grep -q "no such bucket" "$T/.ls.err"; then
		fail "$when: ls crash" "exit 0" "$(cat "$T/.ls.err")"
		return
	fi
	[ -n "$listing" ] || listing='{"objects": []}'
	printf '%s' "$listing" >"$T/listing.json"
	"$PY" - "$T" "$GV" "$D" "${SERVE_URL:-}" "$when" <<'PYEOF' >"$T/check.out" 2>&1
import hashlib, json, os, subprocess, sys
t, gv, d, url, when = sys.argv[1:6]
names, pins = {}, {}
for line in open(os.path.join(t, "journal")):
    op, a, b, outcome = line.split()
    if op == "cp":
        names[a] = {b} if outcome == "ok" else names.get(a, {None}) | {b}
    elif op == "rm":
        names[a] = {None} if outcome == "ok" else names.get(a, {None}) | {None}
    elif op == "put":
        pins[a] = {True} if outcome == "ok" else pins.get(a, {False}) | ({True} if outcome == "unknown" else set())
    elif op == "del":
        pins[a] = {False} if outcome == "ok" else pins.get(a, {False}) | ({False} if outcome == "unknown" else set())
listed = {o["name"]: o["key"] for o in json.load(open(os.path.join(t, "listing.json")))["objects"]}
bad = 0
def report(ok, what):
    global bad
    print(("ok   - " if ok else "FAIL - ") + when + ": " + what)
    bad += not ok
for name, want in sorted(names.items()):
    got = listed.get(name)
    report(got in want, "%s holds one of its possible keys (%s)" % (name, "none" if got is None else got[:20]))
for name, k in sorted(listed.items()):
    out = subprocess.run([gv, "--data-dir", d, "cat", "crash/" + name], capture_output=True)
    h = "sha256:%s:%d" % (hashlib.sha256(out.stdout).hexdigest(), len(out.stdout))
    report(out.returncode == 0 and h == k, "%s reads back as its key (cat rc %d)" % (name, out.returncode))
for k, st in sorted(pins.items()):
    if st != {True}:
        continue
    if url:
        out = subprocess.run(["curl", "-sf", url + "/v1/blobs/" + k], capture_output=True)
        data = out.stdout
    else:
        out = subprocess.run([gv, "--data-dir", d, "get", k], capture_output=True)
        data = out.stdout
    h = "sha256:%s:%d" % (hashlib.sha256(data).hexdigest(), len(data))
    report(out.returncode == 0 and h == k, "pinned %s reads back" % k[:20])
sys.exit(1 if bad else 0)
PYEOF
	local rc=$?
	local n_ok n_fail
	n_ok=$(grep -c '^ok' "$T/check.out")
	n_fail=$(grep -c '^FAIL' "$T/check.out")
	if [ "$rc" = 0 ] && [ "$n_fail" = 0 ]; then
		ok "$when: $n_ok checks of names and pins"
	else
		fail "$when: names and pins" "no failure" "$(grep -v '^ok' "$T/check.out" | head -n 8 | tr '\n' ' ')"
	fi
}

for round in $(seq 1 "$ROUNDS"); do
	serve_start "$T/serve.log" --config "$T/gc.conf" || { fail "round $round: serve starts"; finish; }
	echo "$SERVE_URL" >"$T/url"
	worker "$round" &
	WPID=$!
	# Kill the server at a random moment of the round, then start it again.
	sleep "$("$PY" -c "import random; print(random.uniform(0.2, 1.5))")"
	kill -KILL "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null
	serve_start "$T/serve.log" --config "$T/gc.conf" || { fail "round $round: serve restarts"; finish; }
	echo "$SERVE_URL" >"$T/url"
	wait "$WPID"
	check "round $round"
	serve_stop KILL
done
gv gc --grace 1ms
expect_rc "gc --grace 1ms after the rounds" 0
SERVE_URL=
check "after a final gc"
expect_match "the collector ran in serve" 'event=gc ' "$(cat "$T/serve.log")"
finish
