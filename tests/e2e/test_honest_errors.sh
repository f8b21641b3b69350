#!/usr/bin/env bash
# Failures say what happened, exit with a documented code and change
# nothing: a damaged index (65, with how to rebuild it), `index rebuild`
# over an existing index (73, a JSON error document under --json), an empty
# --data-dir (64, never ./graviton-data), `serve` on a port in use (75,
# before anything is created, no stray libmicrohttpd line), and `serve` on
# a directory another daemon holds (75, nothing created but the lock).
. "$(dirname "$0")/lib.sh"

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
must randfile "$T/a" 50000
K=$(put_ok "$T/a") || finish

# A damaged index: 65 with the hint, and nothing changes.
dd if=/dev/urandom of="$D/graviton.db" bs=4096 count=2 conv=notrunc status=none
snapshot "$T/corrupt"
gv status
expect_fail "status on a damaged index" 65 "index.*run 'graviton index rebuild --force'"
gv get "$K" -o "$T/a.out"
expect_fail "get on a damaged index" 65 "graviton index rebuild"
expect_unchanged "a damaged index is left as it was" "$T/corrupt"
expect_true "... and get wrote no output" test ! -e "$T/a.out"
gv index rebuild --force
expect_rc "index rebuild --force recovers it" 0
gv get "$K" -o "$T/a.out"
expect_rc "get after the rebuild" 0
expect_same_file "the blob reads back" "$T/a" "$T/a.out"

# index rebuild over an existing index: 73, and a JSON document with --json.
snapshot "$T/before"
gv index rebuild --json
expect_fail "index rebuild --json over an existing index" 73 "exists.*--force"
expect_eq "... prints the error name" exists "$(jget "j['error']")"
expect_eq "... and the exit code" 73 "$(jget "j['exit_code']")"
expect_match "... and the message" 'exists.*--force' "$(jget "j['message']")"
expect_unchanged "the refused rebuild changes nothing" "$T/before"

# --data-dir "": a usage error, not ./graviton-data.
run "$GV" --data-dir "" init
expect_fail "--data-dir \"\"" 64 'data-dir.*empty'
expect_true "... creates no ./graviton-data" test ! -e "$T/graviton-data"
run "$GV" --data-dir= status
expect_fail "--data-dir=" 64 'data-dir.*empty'

# --help lists the exit codes.
run "$GV" --help
expect_match "--help lists exit code 65 for a damaged index" '65 bad data.*' "$OUT"
expect_match "--help lists 75 for a port in use" 'a port in use' "$OUT"

# serve on a port in use: 75, said once, and no data directory created.
"$PY" -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$T/port" </dev/null &
HOLDER=$!
for ((i = 0; i < 100; i++)); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
run "$GV" --data-dir "$T/fresh" serve --listen "127.0.0.1:$PORT"
pkill -P "$HOLDER" sleep 2>/dev/null
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
expect_fail "serve on a port in use" 75 "cannot listen on 127.0.0.1:$PORT.*in use"
expect_true "... creates no data directory" test ! -e "$T/fresh"
expect_eq "... says it in one line of its own" 1 "$(printf '%s\n' "$ERR" | wc -l)"

# A second daemon on a directory whose serve lock is held: 75, and the lock
# is taken before anything else is created (no index, no sectors).
mkdir "$T/locked"
# (its output goes nowhere: a sleep left holding the test's stdout would keep
# ctest waiting for it)
flock "$T/locked/serve.lock" sleep 120 </dev/null >/dev/null 2>&1 &
HOLDER=$!
for ((i = 0; i < 100; i++)); do flock -n "$T/locked/serve.lock" true || break; sleep 0.1; done
run "$GV" --data-dir "$T/locked" serve --listen "127.0.0.1:$PORT"
pkill -P "$HOLDER" sleep 2>/dev/null
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
expect_fail "serve while another holds the serve lock" 75 "serve is running"
expect_eq "... creates nothing but the lock" "serve.lock" "$(ls "$T/locked" | tr '\n' ' ' | sed 's/ $//')"
finish
