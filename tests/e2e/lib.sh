# tests/e2e/lib.sh - shared helpers for the end-to-end tests (sourced).
#
#   bash tests/e2e/test_X.sh /abs/path/to/graviton
#
# Each test gets a fresh temporary directory $T (removed on exit; set
# GV_E2E_KEEP=1 to keep it) with the data directory at $D.  Assertions
# count passes and failures; `finish` prints "N passed, M failed" and
# exits non-zero when anything failed.  A test that dies before `finish`
# counts as failed.
#
# Tools used: bash, coreutils, sqlite3, python3, cmp, dd, openssl.

set -u -o pipefail
export LC_ALL=C

if [ $# -lt 1 ] || [ ! -x "$1" ] || [ -d "$1" ]; then
	echo "usage: bash $0 /path/to/graviton" >&2
	exit 2
fi
GV=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/gv-$TEST_NAME.XXXXXX") || exit 2
D=$T/data
# Commands pass --data-dir explicitly; the environment points at the same
# place so a forgotten flag can never touch ./graviton-data elsewhere.
export GRAVITON_DATA_DIR=$D
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$T" || exit 2

# python3 for JSON; the system one starts faster than a version-manager shim.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

PASSED=0
FAILED=0
_FINISHED=0

_on_exit() {
	local rc=$?

	if [ "$_FINISHED" = 0 ]; then
		echo "FAIL - $TEST_NAME stopped before the end (exit status $rc)"
		FAILED=$((FAILED + 1))
		echo "$PASSED passed, $FAILED failed"
		rc=1
	fi
	# A PostgreSQL server the test started (tests/pg.sh) stops first.
	declare -F _pg_reap >/dev/null && _pg_reap
	# ... and so does an S3 server (tests/s3.sh).
	declare -F _s3_reap >/dev/null && _s3_reap
	cd /
	if [ "${GV_E2E_KEEP:-0}" = 1 ]; then
		echo "# kept $T"
	else
		chmod -R u+rwx "$T" 2>/dev/null
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _on_exit EXIT
trap 'exit 130' INT TERM

# ---- reporting ------------------------------------------------------------

# ok DESC: record a pass.
ok() {
	PASSED=$((PASSED + 1))
	echo "ok   - $*"
}

# fail DESC [EXPECTED GOT]: record a failure, showing what was expected.
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $1"
	if [ $# -ge 3 ]; then
		printf '       expected: %s\n' "$2"
		printf '       got:      %s\n' "$3"
	fi
	return 0
}

# note TEXT: a comment line in the output.
note() { echo "# $*"; }

# finish: print the summary line and exit (non-zero on any failure).
finish() {
	_FINISHED=1
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] && exit 0
	exit 1
}

# ---- running the binary ---------------------------------------------------

# run CMD...: run a command, keeping its stdout in $OUT (and $T/.out), its
# stderr in $ERR (and $T/.err) and its exit status in $RC.
run() {
	"$@" >"$T/.out" 2>"$T/.err" </dev/null
	RC=$?
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
	return 0
}

# gv ARGS...: run graviton on the test's data directory (like run).
gv() { run "$GV" --data-dir "$D" "$@"; }

# gvx ARGS...: graviton on the data directory, streams left alone.
gvx() { "$GV" --data-dir "$D" "$@"; }

_show_streams() {
	[ -n "${ERR:-}" ] && printf '       stderr:   %s\n' "$(printf '%s' "$ERR" | head -c 600)"
	return 0
}

# expect_rc DESC WANT: the last run's exit status is WANT.
expect_rc() {
	if [ "$RC" = "$2" ]; then
		ok "$1"
	else
		fail "$1" "exit status $2" "exit status $RC"
		_show_streams
	fi
}

# expect_fail DESC WANT REGEX: the last run exited WANT and said something
# matching REGEX (extended, case-insensitive) on stderr, prefixed by the
# program's name.
expect_fail() {
	local desc=$1 want=$2 re=$3 bad=0

	if [ "$RC" != "$want" ]; then
		fail "$desc" "exit status $want" "exit status $RC"
		_show_streams
		return 0
	fi
	if [ -z "$ERR" ]; then
		fail "$desc" "a message on stderr matching /$re/" "nothing on stderr"
		return 0
	fi
	if ! grep -Eqi -- "$re" <<<"$ERR"; then
		fail "$desc" "stderr matching /$re/" "$(printf '%s' "$ERR" | head -c 600)"
		return 0
	fi
	if ! grep -q '^graviton' <<<"$ERR"; then
		fail "$desc" "stderr starting with 'graviton'" "$(printf '%s' "$ERR" | head -c 300)"
		bad=1
	fi
	[ "$bad" = 0 ] && ok "$desc"
	return 0
}

# expect_eq DESC WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "$2" "$3"; fi
}

# expect_match DESC REGEX TEXT (extended regex, case-insensitive)
expect_match() {
	if grep -Eqi -- "$2" <<<"$3"; then
		ok "$1"
	else
		fail "$1" "text matching /$2/" "$(printf '%s' "$3" | head -c 600)"
	fi
}

# expect_same_file DESC WANT_FILE GOT_FILE: byte-identical.
expect_same_file() {
	local why

	if [ ! -e "$3" ]; then
		fail "$1" "file $3 identical to $2" "no such file"
	elif why=$(cmp -- "$2" "$3" 2>&1); then
		ok "$1"
	else
		fail "$1" "bytes identical to $2 ($(fsize "$2") bytes)" \
			"$(fsize "$3") bytes; $why"
	fi
}

# expect_true DESC CMD...: CMD succeeds.
expect_true() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc" "'$*' to succeed" "it failed"; fi
}

# ---- files and keys -------------------------------------------------------

fsize() { stat -c %s -- "$1"; }

# randfile FILE BYTES: random content, fast for any size.
randfile() {
	local f=$1 n=$2

	if [ "$n" -ge 16777216 ]; then
		# AES-CTR keystream: fast pseudo-random bytes; head stops it.
		openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$RANDOM$RANDOM$f" \
			-in /dev/zero 2>/dev/null | head -c "$n" >"$f"
	else
		head -c "$n" /dev/urandom >"$f"
	fi
	[ "$(fsize "$f")" = "$n" ]
}

# key_of FILE: the key graviton must give FILE.
key_of() {
	local h

	h=$(sha256sum <"$1") || return 1
	printf 'sha256:%s:%s\n' "${h%% *}" "$(fsize "$1")"
}

# key_hex KEY / key_size KEY
key_hex() { local h=${1#sha256:}; printf '%s\n' "${h%%:*}"; }
key_size() { printf '%s\n' "${1##*:}"; }

# replica_path KEY SECTOR: where the layout puts KEY in SECTOR
# (objects/ab/<hex>-<size>), whether or not it is there.
replica_path() {
	local hex size

	hex=$(key_hex "$1")
	size=$(key_size "$1")
	printf '%s/sectors/%s/objects/%s/%s-%s\n' "$D" "$2" "${hex:0:2}" "$hex" "$size"
}

# replica_file KEY SECTOR: the existing replica file of KEY in SECTOR
# (the documented path, else anything of that name under the sector);
# fails when there is none.
replica_file() {
	local p hex size

	p=$(replica_path "$1" "$2")
	if [ -f "$p" ]; then
		printf '%s\n' "$p"
		return 0
	fi
	hex=$(key_hex "$1")
	size=$(key_size "$1")
	p=$(find "$D/sectors/$2" -type f -name "$hex-$size" 2>/dev/null | head -n 1)
	[ -n "$p" ] && printf '%s\n' "$p"
}

# replica_files KEY: every file of KEY under any sector, sorted.
replica_files() {
	find "$D/sectors" -type f -name "$(key_hex "$1")-$(key_size "$1")" 2>/dev/null | sort
}

# ---- JSON -----------------------------------------------------------------

# jget EXPR [TEXT]: evaluate the Python expression EXPR with j = the JSON
# document TEXT (default: the last run's stdout).  Strings print raw,
# booleans/null as JSON, anything else as compact JSON.
jget() {
	local text=${2-$OUT}

	printf '%s' "$text" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1], {"j": j, "json": json})
if isinstance(v, str):
    print(v)
else:
    print(json.dumps(v, sort_keys=True, separators=(",", ":")))
' "$1"
}

# job_lines: `repair|scrub|rebalance|sector drain --json` output (one job
# document {job, kind, dry_run, state, summary, events} per line) on stdin,
# as one line per event tagged "event": "job" (repair), "bad_replica"
# (scrub) or "move" (rebalance, drain), a failed event's error document
# flattened into "error" (its name) and "message", then the summary tagged
# "event": "summary" with dry_run and duration_s.  Other lines pass as they
# are.
job_lines() {
	"$PY" -c '
import json, sys
tag = {"repair": "job", "scrub": "bad_replica", "rebalance": "move", "drain": "move"}
for line in sys.stdin:
    try:
        o = json.loads(line)
    except ValueError:
        sys.stdout.write(line)
        continue
    if not (isinstance(o, dict) and "kind" in o and "events" in o):
        sys.stdout.write(line)
        continue
    for e in o["events"]:
        e = dict(e, event=tag[o["kind"]])
        if isinstance(e.get("error"), dict):
            e["message"] = e["error"]["message"]
            e["error"] = e["error"]["error"]
        print(json.dumps(e, separators=(",", ":")))
    s = dict(o["summary"] or {}, event="summary", dry_run=o["dry_run"], state=o["state"])
    s["duration_s"] = s.get("duration_ms", 0) / 1000.0
    print(json.dumps(s, separators=(",", ":")))
'
}

# jcheck DESC PYEXPR [TEXT]: EXPR (over j) is truthy; on failure the
# document is shown.
jcheck() {
	local desc=$1 expr=$2 text=${3-$OUT} v

	if ! v=$(jget "bool($expr)" "$text" 2>&1); then
		fail "$desc" "JSON where $expr" "$(printf '%s' "$v" | tail -n 1); document: $(printf '%s' "$text" | tr -s ' \n' ' ' | head -c 600)"
	elif [ "$v" = true ]; then
		ok "$desc"
	else
		fail "$desc" "JSON where $expr" "$(printf '%s' "$text" | tr -s ' \n' ' ' | head -c 800)"
	fi
}

# ---- "nothing changed" ----------------------------------------------------

# snapshot FILE: the index's logical content (sqlite3 .dump) plus every
# path under the data directory with its type, mode and, for files, size
# and SHA-256.  The SQLite files themselves are left out of the listing
# (their bytes move with checkpoints); the dump stands for them.
snapshot() {
	{
		echo "## index"
		if [ -f "$D/graviton.db" ]; then
			sqlite3 "$D/graviton.db" .dump 2>&1
		else
			echo "(no index)"
		fi
		echo "## tree"
		if [ -d "$D" ]; then
			# directories without their size (it moves with the
			# filesystem's bookkeeping, not with what they hold)
			(cd "$D" && find . -mindepth 1 \
				\( -name 'graviton.db' -o -name 'graviton.db-*' \) -prune -o \
				\( -type d -printf '%y %m %p\n' \) -o -printf '%y %m %s %p\n' | sort)
			echo "## content"
			(cd "$D" && find . -type f ! -name 'graviton.db' ! -name 'graviton.db-*' -print0 |
				sort -z | xargs -0 -r sha256sum)
		else
			echo "(no data dir)"
		fi
	} >"$1"
}

# expect_unchanged DESC BEFORE: a new snapshot equals the one in BEFORE.
expect_unchanged() {
	local after="$T/.snap.after" d

	snapshot "$after"
	if d=$(diff -u "$2" "$after"); then
		ok "$1"
	else
		fail "$1" "data dir and index unchanged" "differences:"
		printf '%s\n' "$d" | sed -n '3,40s/^/         /p'
	fi
}

# ---- store shortcuts ------------------------------------------------------

# must CMD...: a set-up step that has to work, or the test stops.
must() {
	if ! "$@"; then
		fail "set-up step failed: $*"
		finish
	fi
}

# put_ok FILE: store FILE, print its key; fails (status 1) when the put or
# the key is wrong.
put_ok() {
	local k want

	want=$(key_of "$1")
	if ! k=$("$GV" --data-dir "$D" put "$1" 2>"$T/.put.err"); then
		echo "put $1 failed: $(cat "$T/.put.err")" >&2
		return 1
	fi
	if [ "$k" != "$want" ]; then
		echo "put $1 printed '$k', expected '$want'" >&2
		return 1
	fi
	printf '%s\n' "$k"
}

# replica_sectors KEY: sector ids of KEY's replicas (one a line), from stat --json.
replica_sectors() {
	local j

	j=$("$GV" --data-dir "$D" stat "$1" --json 2>/dev/null) || return 1
	jget '"\n".join(r["sector"] for r in j["replicas"])' "$j"
}

# read_order KEY: KEY's replica sectors in the order a full read tries
# them (the documented order: healthy first, then most recently verified,
# ties by sector id), one a line.
read_order() {
	local j

	j=$("$GV" --data-dir "$D" stat "$1" --json 2>/dev/null) || return 1
	jget '"\n".join(r["sector"] for r in sorted(j["replicas"], key=lambda r: (not r["healthy"], -(r.get("last_verified_ms") or 0), r["sector"])))' "$j"
}

# flip_byte FILE OFFSET: invert every bit of one byte in place.
flip_byte() {
	local f=$1 off=$2 b

	chmod u+w "$f" 2>/dev/null
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' \n')
	[ -n "$b" ] || return 1
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' $((b ^ 255)))" |
		dd of="$f" bs=1 seek="$off" count=1 conv=notrunc status=none
}

# replica_field KEY SECTOR FIELD: one field of KEY's replica in SECTOR
# (from stat --json), as jget prints it.
replica_field() {
	local j

	j=$("$GV" --data-dir "$D" stat "$1" --json 2>/dev/null) || return 1
	jget "[r.get('$3') for r in j['replicas'] if r['sector'] == '$2']" "$j"
}

# verify_blobs LIST MIN_HEALTHY MAX_REPLICAS MIN_RACKS: for every original
# file named in LIST (one path a line), stat --json shows between
# MIN_HEALTHY healthy and MAX_REPLICAS replicas in distinct sectors on at
# least MIN_RACKS distinct racks, every healthy replica's file holds the
# original bytes, no sector holds a file of the key without an index row,
# and get returns the original bytes.  Prints one line per bad blob (the
# first 5 and a count) and fails when any is bad.
verify_blobs() {
	"$PY" - "$GV" "$D" "$1" "$2" "$3" "$4" <<'PYEOF'
import hashlib, json, os, subprocess, sys
gv, d, lst = sys.argv[1], sys.argv[2], sys.argv[3]
lo, hi, racks = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
bad = 0
files = [l.strip() for l in open(lst) if l.strip()]
tree = {}
for s in sorted(os.listdir(os.path.join(d, "sectors"))):
    for root, _, names in os.walk(os.path.join(d, "sectors", s)):
        for n in names:
            tree.setdefault(n, []).append((s, os.path.join(root, n)))
for f in files:
    data = open(f, "rb").read()
    hx = hashlib.sha256(data).hexdigest()
    key = "sha256:%s:%d" % (hx, len(data))
    name = "%s-%d" % (hx, len(data))
    probs = []
    p = subprocess.run([gv, "--data-dir", d, "stat", key, "--json"], capture_output=True)
    try:
        j = json.loads(p.stdout)
        reps = j["replicas"]
    except Exception:
        probs.append("stat failed: %s" % p.stderr.decode(errors="replace")[:200])
        reps = None
    if reps is not None:
        healthy = [r for r in reps if r["healthy"]]
        secs = [r["sector"] for r in reps]
        if len(healthy) < lo or len(reps) > hi:
            probs.append("%d replicas, %d healthy" % (len(reps), len(healthy)))
        if len(set(secs)) != len(secs):
            probs.append("a sector twice")
        if len(set(r["rack"] for r in healthy)) < racks:
            probs.append("healthy replicas on %d racks" % len(set(r["rack"] for r in healthy)))
        on_disk = set()
        for s, path in tree.get(name, []):
            on_disk.add(s)
            if s in [r["sector"] for r in healthy] and open(path, "rb").read() != data:
                probs.append("replica file in %s differs" % s)
        if set(r["sector"] for r in healthy) - on_disk:
            probs.append("no file in %s" % sorted(set(r["sector"] for r in healthy) - on_disk))
        if on_disk - set(secs):
            probs.append("stray file in %s" % sorted(on_disk - set(secs)))
        if probs:
            probs.append(", ".join("%s@%s%s" % (r["sector"], r["rack"], "" if r["healthy"] else "(bad)") for r in reps))
    g = subprocess.run([gv, "--data-dir", d, "get", key], capture_output=True)
    if g.returncode != 0 or g.stdout != data:
        probs.append("get: exit %d, %d bytes, %s" % (g.returncode, len(g.stdout), "identical" if g.stdout == data else "different"))
    if probs:
        bad += 1
        if bad <= 5:
            print("%s (%s): %s" % (os.path.basename(f), key[:20], "; ".join(probs)))
if bad > 5:
    print("... %d bad blobs of %d" % (bad, len(files)))
sys.exit(1 if bad else 0)
PYEOF
}

# ---- a running server -----------------------------------------------------

_SERVE_PIDS=()

# _proc_gone PID: PID has exited (gone, or a zombie waiting to be reaped).
_proc_gone() {
	local st

	[ -e "/proc/$1" ] || return 0
	st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# Kill whatever serve_start started and the test left running; keeps the
# exit status for _on_exit.
_serve_reap() {
	local rc=$? p

	for p in "${_SERVE_PIDS[@]}"; do
		_proc_gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	return "$rc"
}

# free_port: a TCP port on 127.0.0.1 nothing listens on right now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_up URL: URL answers 200 within 2 s (no proxy).
http_up() {
	"$PY" - "$1" <<'PYEOF' 2>/dev/null
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
c.request("GET", u.path or "/")
sys.exit(0 if c.getresponse().status == 200 else 1)
PYEOF
}

# serve_start LOG [GLOBAL_ARGS...]: start `graviton GLOBAL_ARGS serve` on the
# data directory $D and a free 127.0.0.1 port, in the background, stderr
# and stdout appended to LOG; wait (at most 30 s) for /healthz.  Sets
# SERVE_PID, SERVE_PORT and SERVE_URL (http://127.0.0.1:PORT).  Fails
# when the server does not come up (three ports tried).  Every server
# started this way is killed when the test exits.
# Authentication is on by default: the server's token ($GRAVITON_TOKEN when
# set, else $D/token) is exported as GRAVITON_TOKEN (the CLI and
# http_check.py send it) and written to $T/.curlrc with CURL_HOME=$T, so
# every curl carries it (curl -q skips it).
serve_start() {
	local log=$1 try i
	shift

	if [ "${#_SERVE_PIDS[@]}" = 0 ]; then
		trap '_serve_reap; _on_exit' EXIT
	fi
	for try in 1 2 3; do
		SERVE_PORT=$(free_port) || return 1
		SERVE_URL=http://127.0.0.1:$SERVE_PORT
		"$GV" --data-dir "$D" "$@" serve --listen "127.0.0.1:$SERVE_PORT" >>"$log" 2>&1 </dev/null &
		SERVE_PID=$!
		_SERVE_PIDS+=("$SERVE_PID")
		for ((i = 0; i < 300; i++)); do
			_proc_gone "$SERVE_PID" && break
			http_up "$SERVE_URL/healthz" && { _serve_token; return 0; }
			sleep 0.1
		done
		_proc_gone "$SERVE_PID" || kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
		echo "serve_start: no server on port $SERVE_PORT (try $try); log:" >&2
		tail -n 5 "$log" >&2
	done
	return 1
}

_serve_token() {
	local tok=${GRAVITON_TOKEN:-}

	[ -n "$tok" ] || tok=$(cat "$D/token" 2>/dev/null) || return 0
	[ -n "$tok" ] || return 0
	export GRAVITON_TOKEN=$tok
	printf 'header = "Authorization: Bearer %s"\n' "$tok" >"$T/.curlrc"
	export CURL_HOME=$T
}

# serve_stop [SIGNAL]: send SIGNAL (default TERM) to $SERVE_PID and wait at
# most ${SERVE_STOP_WAIT:-60} s for it to exit, then SIGKILL.  Sets
# SERVE_RC (its exit status, "killed" when it had to be killed) and
# SERVE_STOP_SECS (seconds it took).
serve_stop() {
	local sig=${1:-TERM} i t0 t1 lim=$((${SERVE_STOP_WAIT:-60} * 10))

	t0=$(date +%s%N)
	kill -s "$sig" "$SERVE_PID" 2>/dev/null
	for ((i = 0; i < lim; i++)); do
		_proc_gone "$SERVE_PID" && break
		sleep 0.1
	done
	t1=$(date +%s%N)
	SERVE_STOP_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	if _proc_gone "$SERVE_PID"; then
		wait "$SERVE_PID"
		SERVE_RC=$?
	else
		kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
		SERVE_RC=killed
	fi
}

# ---- http_check.py ----------------------------------------------------------

HTTP_CHECK=$E2E_DIR/http_check.py

# pyreport OUTFILE RC NAME: turn http_check.py's lines into passes and
# failures; a non-zero RC (the helper crashed) is a failure too.
pyreport() {
	local kind a b c

	while IFS=$'\x1f' read -r kind a b c; do
		case $kind in
		ok) ok "$a" ;;
		FAIL) fail "$a" "$b" "$c" ;;
		'#') note "$a" ;;
		*) note "$kind $a" ;;
		esac
	done <"$1"
	if [ "$2" != 0 ]; then
		fail "http_check.py $3 ran to the end" "exit 0" \
			"exit $2: $(tail -n 6 "$1.err" 2>/dev/null | tr '\n' ' ' | head -c 800)"
	fi
}

# pyc COMMAND ARGS...: run one http_check.py command and report it.
pyc() {
	local out=$T/.hc.$1.out rc

	"$PY" "$HTTP_CHECK" "$@" >"$out" 2>"$out.err" </dev/null
	rc=$?
	pyreport "$out" "$rc" "$1"
}
