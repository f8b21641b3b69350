#!/usr/bin/env bash
# The command-line tool against a real `graviton serve` (--server URL):
# put/get round trips (empty, small, 5 MiB, standard input, -o FILE),
# range reads, stat/status documents, repair/scrub/rebalance as server
# jobs, options that only work locally refused, bearer-token
# authentication (none, wrong, right), the size limit, malformed URLs, a
# body cut short (resumed) or wrong (refused) by a stand-in server, a
# server that is not there; each server stops on SIGTERM with exit 0.
. "$(dirname "$0")/lib.sh"

# The environment must not choose a server or a token for us.
unset GRAVITON_SERVER GRAVITON_TOKEN

SERVER_PID=
URL=

# Whatever happens, no server (nor the stand-in below) outlives the test.
kill_server() {
	local i

	[ -n "$SERVER_PID" ] || return 0
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		for i in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null
	fi
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}
FAKE_PID=
stop_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}
trap 'rc=$?; kill_server; stop_fake; (exit $rc); _on_exit' EXIT

# pick_port: a loopback port nobody listens on right now.
pick_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server CONF: serve the test's data directory on a free loopback
# port; sets SERVER_PID and URL, or stops the test.  A port taken between
# the choice and the bind is retried with another.
start_server() {
	local log try i port

	for try in 1 2 3 4 5; do
		port=$(pick_port) || break
		log=$T/serve.$port.log
		"$GV" --data-dir "$D" --config "$1" serve --listen "127.0.0.1:$port" >/dev/null 2>"$log" &
		SERVER_PID=$!
		URL=
		for i in $(seq 300); do
			# log.level = warn: no listening line (an info event); ask.
			if http_up "http://127.0.0.1:$port/healthz"; then
				URL=http://127.0.0.1:$port
				break
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		[ -n "$URL" ] && break
		kill_server
	done
	if [ -z "$URL" ]; then
		fail "graviton serve starts and answers /healthz" "200" "$(head -c 600 "$log")"
		finish
	fi
	note "server $SERVER_PID at $URL"
}

# stop_server DESC: SIGTERM, and the server exits 0 within 20 s.
stop_server() {
	local i rc

	kill -TERM "$SERVER_PID"
	for i in $(seq 200); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		fail "$1" "exit within 20 s of SIGTERM" "still running"
		kill_server
		return 0
	fi
	wait "$SERVER_PID"
	rc=$?
	SERVER_PID=
	expect_eq "$1" 0 "$rc"
}

# rs ARGS...: graviton against the server (like run).
rs() { run "$GV" --server "$URL" "$@"; }

CONF=$T/graviton.conf
cat >"$CONF" <<EOF
graviton {
  server { idle-timeout = 30s }
  log.level = "warn"
  replication {
    repair { interval = 1s }
    scrub { interval = 1 minute }
    rebalance { enabled = false }
  }
}
EOF

start_server "$CONF"

# ---- put / get ---------------------------------------------------------------

: >"$T/empty"
printf 'hello, graviton\n' >"$T/small"
must randfile "$T/big" 5242880

for f in empty small big; do
	want=$(key_of "$T/$f")
	rs put "$T/$f"
	expect_rc "put $f" 0
	expect_eq "put $f prints exactly the key" "$want" "$OUT"

	rm -f "$T/$f.o"
	rs get "$want" -o "$T/$f.o"
	expect_rc "get $f -o FILE" 0
	expect_eq "get $f -o FILE prints nothing on stdout" "" "$OUT"
	expect_same_file "get $f -o FILE: identical bytes" "$T/$f" "$T/$f.o"
	left=$(find "$T" -maxdepth 1 -name "$f.o.*")
	expect_eq "get $f -o FILE leaves no temporary file" "" "$left"

	"$GV" --server "$URL" get "$want" 2>"$T/.err" | cat >"$T/$f.pipe"
	rc=$?
	expect_eq "get $f into a pipe exits 0" 0 "$rc"
	expect_same_file "get $f into a pipe: identical bytes" "$T/$f" "$T/$f.pipe"
done
K_small=$(key_of "$T/small")
K_big=$(key_of "$T/big")

# standard input: a pipe (chunked upload) and a redirected file (known length)
must randfile "$T/stdin" 300000
want=$(key_of "$T/stdin")
got=$(cat "$T/stdin" | "$GV" --server "$URL" put - 2>"$T/.err")
rc=$?
expect_eq "put - from a pipe exits 0" 0 "$rc"
expect_eq "put - from a pipe prints the key" "$want" "$got"
got=$("$GV" --server "$URL" put - <"$T/stdin" 2>"$T/.err")
expect_eq "put - from a redirected file prints the key" "$want" "$got"
rs get "$want" -o "$T/stdin.o"
expect_same_file "blob stored from a pipe reads back identical" "$T/stdin" "$T/stdin.o"

# --json has the local command's shape
rs put --json "$T/small"
expect_rc "put --json" 0
jcheck "put --json: key, size, replicas (sector ids), replica_count, quorum_met, existed" \
	"j['key'] == '$K_small' and j['size'] == $(fsize "$T/small") and j['replica_count'] >= 2 and j['quorum_met'] is True and j['existed'] is True and len(j['replicas']) == j['replica_count']"

# the global option anywhere on the line
run "$GV" get "$K_small" --server "$URL" -o "$T/late.o"
expect_rc "--server after the command's arguments" 0
expect_same_file "--server after the arguments: identical bytes" "$T/small" "$T/late.o"

# GRAVITON_SERVER
GRAVITON_SERVER=$URL run "$GV" get "$K_small" -o "$T/env.o"
expect_rc "GRAVITON_SERVER picks the server" 0
expect_same_file "GRAVITON_SERVER: identical bytes" "$T/small" "$T/env.o"

# ---- ranges ----------------------------------------------------------------

rs get "$K_big" --range 1000-1999 -o "$T/r1"
expect_rc "get --range 1000-1999" 0
dd if="$T/big" of="$T/r1.want" bs=1000 skip=1 count=1 status=none
expect_same_file "get --range 1000-1999: those 1000 bytes" "$T/r1.want" "$T/r1"

"$GV" --server "$URL" get "$K_big" --range 5242000- >"$T/r2" 2>"$T/.err"
tail -c 880 "$T/big" >"$T/r2.want"
expect_same_file "get --range A- to the end, into stdout" "$T/r2.want" "$T/r2"

rs get "$K_big" --range -16 -o "$T/r3"
tail -c 16 "$T/big" >"$T/r3.want"
expect_same_file "get --range -16: the last 16 bytes" "$T/r3.want" "$T/r3"

rs get "$K_big" --range 0-5242879 -o "$T/r4"
expect_same_file "get --range over the whole blob" "$T/big" "$T/r4"

rs get "$K_big" --range 6000000-
expect_fail "get --range past the end: 65" 65 "range|satisf"

# ---- errors for keys -------------------------------------------------------

missing=sha256:0000000000000000000000000000000000000000000000000000000000000000:5
rs get "$missing" -o "$T/missing.o"
expect_fail "get of an unknown key: 66 with the server's message" 66 "get: .*(no such|not found)"
expect_true "get of an unknown key leaves no output file" test ! -e "$T/missing.o"
left=$(find "$T" -maxdepth 1 -name "missing.o.*")
expect_eq "get of an unknown key leaves no temporary file" "" "$left"
rs stat "$missing"
expect_fail "stat of an unknown key: 66" 66 "stat: .*(no such|not found)"
rs stat sha256:xyz:1
expect_fail "stat of a malformed key: 65" 65 "key|hex|digest"

# ---- stat / status -----------------------------------------------------------

rs stat "$K_big" --json
expect_rc "stat --json" 0
jcheck "stat --json: the contract fields" \
	"j['key'] == '$K_big' and j['size'] == 5242880 and 'created' in j and j['target_replicas'] == 3 and j['healthy_replicas'] >= 2 and all(set(['sector', 'rack', 'zone', 'healthy', 'ranges', 'last_verified', 'last_verified_ms', 'reason']) <= set(r) for r in j['replicas']) and j['placement']['strategy'] == 'rack-aware' and 'constraints_met' in j['placement']"
jcheck "stat --json: distinct sectors on 2+ racks" \
	"len(set(r['sector'] for r in j['replicas'])) == len(j['replicas']) and len(set(r['rack'] for r in j['replicas'])) >= 2"

rs stat "$K_big"
expect_rc "stat (text)" 0
expect_match "stat text: key line" "^key: +$K_big" "$OUT"
expect_match "stat text: replicas line" "replicas: +[0-9]+ healthy of 3 target" "$OUT"
expect_match "stat text: the replica table" "SECTOR +RACK +ZONE +HEALTH" "$OUT"

rs placement explain "$K_big"
expect_rc "placement explain through the server" 0
expect_match "placement explain: constraints" "constraints (NOT )?met" "$OUT"

rs status --json
expect_rc "status --json" 0
jcheck "status --json: the contract fields" \
	"all(k in j for k in ['blobs', 'replicas', 'healthy_replicas', 'unhealthy_replicas', 'under_replicated', 'over_replicated', 'lost', 'bytes', 'avg_factor', 'factor', 'min_replicas', 'strategy', 'sectors', 'healthy_sectors'])"
jcheck "status --json: 4 blobs, 6 healthy sectors, nothing lost" \
	"j['blobs'] == 4 and j['sectors'] == 6 and j['healthy_sectors'] == 6 and j['lost'] == 0"

rs status
expect_rc "status (text)" 0
expect_match "status text: blobs line" "^blobs: +4 " "$OUT"

# ---- jobs ----------------------------------------------------------------------

rs repair --once
expect_rc "repair --once through the server" 0
expect_match "repair prints the local summary line" \
	"^repair: scanned [0-9]+ keys, [0-9]+ needing repair, .* 0 lost, 0 failed" "$OUT"

rs repair --json
expect_rc "repair --json" 0
jcheck "repair --json: the finished job document" \
	"j['kind'] == 'repair' and j['state'] == 'done' and j['dry_run'] is False and j['summary']['keys_scanned'] >= 4 and j['summary']['lost'] == 0 and isinstance(j['events'], list)"

rs repair --dry-run --json
expect_rc "repair --dry-run --json" 0
jcheck "repair --dry-run runs as a dry run" "j['dry_run'] is True and j['state'] == 'done'"

rs scrub --json
expect_rc "scrub --json: nothing bad" 0
jcheck "scrub --json: every replica checked" \
	"j['kind'] == 'scrub' and j['state'] == 'done' and j['summary']['checked'] >= 8 and j['summary']['newly_unhealthy'] == 0"

rs scrub
expect_rc "scrub (text)" 0
expect_match "scrub prints the local summary line" "^scrub: checked [0-9]+ replicas" "$OUT"

rs rebalance --dry-run
expect_rc "rebalance --dry-run" 0
expect_match "rebalance prints a summary" "^rebalance: " "$OUT"

# A sector marked unhealthy through the API; a repair run restores the factor.
"$PY" - "$URL" "$D/token" <<'PYEOF' >"$T/.patch" 2>&1
import sys, urllib.request
tok = open(sys.argv[2]).read().strip()  # the token init wrote for serve
req = urllib.request.Request(sys.argv[1] + "/v1/sectors/s01", data=b'{"healthy": false}',
                             method="PATCH", headers={"Content-Type": "application/json",
                                                      "Authorization": "Bearer " + tok})
print(urllib.request.urlopen(req).status)
PYEOF
expect_eq "PATCH /v1/sectors/s01 healthy=false" 200 "$(cat "$T/.patch")"
rs repair
expect_rc "repair after a sector went bad" 0
rs status --json
jcheck "after repair: nothing under-replicated" "j['under_replicated'] == 0 and j['lost'] == 0"
rs get "$K_big" -o "$T/big.after"
expect_same_file "the 5 MiB blob still reads back identical" "$T/big" "$T/big.after"

# ---- options that only work on the data directory --------------------------

rs repair --parallel-jobs 2
expect_fail "repair --parallel-jobs with --server: usage error" 64 "parallel-jobs.*server"
rs scrub --sector s02
expect_fail "scrub --sector with --server: usage error" 64 "sector.*server"
rs rebalance --max-moves 3
expect_fail "rebalance --max-moves with --server: usage error" 64 "max-moves.*server"
rs put --factor 2 "$T/small"
expect_fail "put with placement options and --server: usage error" 64 "placement|server"
rs sector sweep --dry-run
expect_fail "sector sweep with --server: not supported" 64 "not supported"
rs sector replace s01 s99 --path "$T/s99"
expect_fail "sector replace with --server: not supported" 64 "not supported"
GRAVITON_SERVER=$URL gv sector sweep --dry-run --json
expect_rc "GRAVITON_SERVER is ignored by commands that work on the data directory" 0

# ---- malformed URLs ------------------------------------------------------------

for bad in "ftp://127.0.0.1:1" "127.0.0.1:8787" "http://" "http://127.0.0.1:99999" \
	"http://127.0.0.1:80x" "http://127.0.0.1:8787?x=1" "http://user@127.0.0.1:8787" \
	"http://127.0.0.1 :8787" "http://[::1"; do
	run "$GV" --server "$bad" status
	expect_fail "--server '$bad': usage error" 64 "URL"
done
run "$GV" --server "" status
expect_fail "--server '': usage error" 64 "server"
GRAVITON_SERVER="nonsense" run "$GV" status
expect_fail "GRAVITON_SERVER=nonsense: usage error" 64 "GRAVITON_SERVER"

stop_server "the first server exits 0 on SIGTERM"

# ---- authentication ------------------------------------------------------------

TOKEN=s3cret-token-$RANDOM
CONF2=$T/graviton-auth.conf
cat "$CONF" >"$CONF2"
cat >>"$CONF2" <<EOF
graviton.server.auth-token = "$TOKEN"
graviton.server.max-body-size = 1 MiB
EOF
start_server "$CONF2"

rs status
expect_fail "no token: 77" 77 "status: .*token"
rs put "$T/small"
expect_fail "put without a token: 77" 77 "put: .*token"
rs get "$K_small"
expect_fail "get without a token: 77" 77 "token"
run "$GV" --server "$URL" --token wrong-token status
expect_fail "wrong token: 77" 77 "token"
run "$GV" --server "$URL" --token wrong-token repair
expect_fail "repair with a wrong token: 77" 77 "token"
run "$GV" --server "$URL" --token "$TOKEN" status --json
expect_rc "right token (--token): status works" 0
jcheck "right token: the blobs are there" "j['blobs'] == 4"
GRAVITON_TOKEN=$TOKEN run "$GV" --server "$URL" get "$K_big" -o "$T/auth.o"
expect_rc "right token (GRAVITON_TOKEN): get works" 0
expect_same_file "right token: identical bytes" "$T/big" "$T/auth.o"
must randfile "$T/authput" 200000
run "$GV" --server "$URL" --token "$TOKEN" put "$T/authput"
expect_rc "right token: put works" 0
expect_eq "right token: put prints the key" "$(key_of "$T/authput")" "$OUT"
run "$GV" --server "$URL" --token "$TOKEN" put "$T/big"
expect_fail "a body over max-body-size: 65 with the server's message" 65 "put: .*max-body-size"
run "$GV" --server "$URL" --token "bad token" status
expect_fail "a token with a space: usage error" 64 "token"

stop_server "the server with a token exits 0 on SIGTERM"

# ---- a server that cuts bodies short or sends wrong bytes ----------------------

# A stand-in for the server's GET /v1/blobs/{key}: "cut" sends half of a
# full body and hangs up (as graviton does when a replica fails after the
# first byte) but serves Range requests whole; "bad" flips a bit.
cat >"$T/fake.py" <<'PYEOF'
import hashlib, http.server, os, socket, sys
port, mode, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = os.urandom(3000000)
open(out, "wb").write(data)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        rng = self.headers.get("Range")
        start, end = 0, len(data)
        if rng:
            a, b = rng[len("bytes="):].split("-")
            start, end = int(a), int(b) + 1
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        body = data[start:end]
        if mode == "bad":
            body = body[:5] + bytes([body[5] ^ 1]) + body[6:]
        if mode == "cut" and not rng:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
print("ready %s:%d" % (hashlib.sha256(data).hexdigest(), len(data)), flush=True)
srv.serve_forever()
PYEOF

for mode in cut bad; do
	port=$(pick_port)
	# Empty it first: the background child truncates it only once it runs,
	# and the previous round's ready line must not be read meanwhile.
	: >"$T/fake.out"
	"$PY" "$T/fake.py" "$port" "$mode" "$T/fake.want" >"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	for i in $(seq 300); do
		grep -q '^ready' "$T/fake.out" && break
		sleep 0.1
	done
	if ! grep -q '^ready' "$T/fake.out"; then
		fail "the stand-in server ($mode) starts" "a ready line within 30 s" "$(head -c 300 "$T/fake.out")"
		stop_fake
		continue
	fi
	fk=sha256:$(sed -n 's/^ready //p' "$T/fake.out")
	rm -f "$T/fake.got"
	run "$GV" --server "http://127.0.0.1:$port" get "$fk" -o "$T/fake.got"
	if [ "$mode" = cut ]; then
		expect_rc "a body cut short is resumed with a Range request" 0
		expect_match "the resumption is reported" "cut the transfer short .*resuming" "$ERR"
		expect_same_file "the resumed blob is identical" "$T/fake.want" "$T/fake.got"
	else
		expect_fail "bytes that do not match the key: 65" 65 "not the key"
		expect_true "bytes that do not match the key never reach -o FILE" test ! -e "$T/fake.got"
	fi
	stop_fake
done

# ---- no server -----------------------------------------------------------------

rs status
expect_fail "server down: status exits 69" 69 "status: cannot connect"
rs get "$K_small" -o "$T/down.o"
expect_fail "server down: get exits 69" 69 "get: cannot connect"
expect_true "server down: get leaves no output file" test ! -e "$T/down.o"
rs put "$T/small"
expect_fail "server down: put exits 69" 69 "put: cannot connect"

finish
