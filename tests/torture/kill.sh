#!/usr/bin/env bash
# SIGKILL loops that must lose nothing acknowledged (`make torture`):
#   KILL_MODE=put    `graviton put` killed at random moments; a put that
#                    printed its key before the kill is acknowledged
#   KILL_MODE=serve  `graviton serve` killed while 4 clients PUT 4-64 KiB
#                    blobs; a 201 is acknowledged; restarted each round
#   KILL_MODE=drain  `graviton sector drain` killed, then run again until
#                    the sector is retired (three sectors in turn)
#   KILL_MODE=scrub  `graviton scrub --once` killed at random moments
# After the loop every acknowledged blob must read back byte-identical
# (`graviton get`, verified); prints kills, acknowledged and verified.
#
#   TORTURE_PUT_KILLS=N    (default 30)   TORTURE_SERVE_KILLS=N (default 10)
#   TORTURE_DRAIN_KILLS=N  (default 15)   TORTURE_SCRUB_KILLS=N (default 15)
#   TORTURE_SEED=N         seed for the kill moments
. "$(dirname "$0")/../e2e/lib.sh"

MODE=${KILL_MODE:-put}
case $MODE in
put) KILLS=${TORTURE_PUT_KILLS:-30} ;;
serve) KILLS=${TORTURE_SERVE_KILLS:-10} ;;
drain) KILLS=${TORTURE_DRAIN_KILLS:-15} ;;
scrub) KILLS=${TORTURE_SCRUB_KILLS:-15} ;;
*) fail "KILL_MODE=$MODE (put, serve, drain or scrub)"; finish ;;
esac
SEED=${TORTURE_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
note "$MODE: $KILLS kills, seed $SEED"
ACKED=$T/acked   # "FILE KEY" per acknowledged blob
: >"$ACKED"
mkdir -p "$T/src"

# pause_ms MAX: sleep a random 0..MAX ms.
pause_ms() { sleep "$(awk -v r=$((RANDOM % ($1 + 1))) 'BEGIN { printf "%.3f", r / 1000 }')"; }

# alive PID: still running (not exited, not a zombie).
alive() { ! _proc_gone "$1"; }

# kill_at PID MAX_MS: SIGKILL PID after a random pause unless it ended by
# itself; sets KILLED (1 when killed) and KRC (its exit status).
kill_at() {
	pause_ms "$2"
	KILLED=0
	if alive "$1"; then
		kill -KILL "$1" 2>/dev/null && KILLED=1
	fi
	wait "$1"
	KRC=$?
	[ "$KILLED" = 1 ] && [ "$KRC" != 137 ] && KILLED=0   # it had just ended
	return 0
}

# store N: N blobs through the CLI, all acknowledged.
store() {
	local i f k

	for ((i = 0; i < $1; i++)); do
		f=$T/src/s$i
		randfile "$f" $((RANDOM * 32 + 1)) || return 1
		k=$(put_ok "$f") || return 1
		echo "$f $k" >>"$ACKED"
	done
}

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init" 0
[ "$RC" = 0 ] || finish

kills=0 iter=0 selfexit=0
case $MODE in
put)
	while [ "$kills" -lt "$KILLS" ] && [ "$iter" -lt $((KILLS * 4)) ]; do
		iter=$((iter + 1))
		f=$T/src/p$iter
		randfile "$f" $(( (RANDOM % 2 == 0) ? 4194304 + RANDOM * 64 : RANDOM * 16 + 1 ))
		"$GV" --data-dir "$D" put "$f" >"$T/out" 2>/dev/null &
		kill_at $! 80
		if [ "$KILLED" = 1 ]; then
			kills=$((kills + 1))
		else
			selfexit=$((selfexit + 1))
		fi
		# printed its key: acknowledged, whether killed afterwards or not
		if [ -s "$T/out" ]; then echo "$f $(cat "$T/out")" >>"$ACKED"; fi
	done
	;;
serve)
	while [ "$kills" -lt "$KILLS" ] && [ "$iter" -lt $((KILLS * 3)) ]; do
		iter=$((iter + 1))
		serve_start "$T/serve.log" || { fail "serve starts (round $iter)"; break; }
		"$PY" - "$SERVE_URL" "$T/src" "$iter" "$ACKED" <<'PYEOF' &
import http.client, json, os, sys, threading, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
src, rnd, acked = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
def client(t):
    n = 0
    while True:
        n += 1
        data = os.urandom(4096 + (int.from_bytes(os.urandom(2), "big") % 61440))
        f = os.path.join(src, "h%s-%d-%d" % (rnd, t, n))
        open(f, "wb").write(data)
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.request("PUT", "/v1/blobs", body=data,
                      headers={"Authorization": "Bearer " + os.environ["GRAVITON_TOKEN"]})
            r = c.getresponse()
            body = r.read()
            c.close()
        except Exception:
            os.unlink(f)
            return  # the server is gone
        if r.status == 201:
            with lock, open(acked, "a") as out:
                out.write("%s %s\n" % (f, json.loads(body)["key"]))
        else:
            os.unlink(f)
ts = [threading.Thread(target=client, args=(t,)) for t in range(4)]
for t in ts: t.start()
for t in ts: t.join()
PYEOF
		cpid=$!
		pause_ms 1500
		kill -KILL "$SERVE_PID" 2>/dev/null && kills=$((kills + 1))
		wait "$SERVE_PID" 2>/dev/null
		wait "$cpid"
	done
	;;
drain)
	store 60 || { fail "store the blobs"; finish; }
	for s in s06 s05 s04; do
		while [ "$iter" -lt $((KILLS * 6)) ]; do
			iter=$((iter + 1))
			"$GV" --data-dir "$D" sector drain "$s" >/dev/null 2>"$T/err" &
			if [ "$kills" -lt "$KILLS" ]; then
				kill_at $! 150
			else
				# enough kills: this run goes to the end
				wait $!
				KRC=$? KILLED=0
			fi
			[ "$KILLED" = 1 ] && kills=$((kills + 1))
			[ "$KILLED" = 0 ] && [ "$KRC" = 0 ] && { selfexit=$((selfexit + 1)); break; }
			[ "$KILLED" = 0 ] && [ "$KRC" != 0 ] && note "drain $s exited $KRC: $(head -c 300 "$T/err")"
		done
	done
	gv sector list --json
	jcheck "s04, s05 and s06 end retired" \
		"sorted(s['id'] for s in j if s['state'] == 'retired') == ['s04', 's05', 's06']"
	;;
scrub)
	store 60 || { fail "store the blobs"; finish; }
	while [ "$kills" -lt "$KILLS" ] && [ "$iter" -lt $((KILLS * 4)) ]; do
		iter=$((iter + 1))
		"$GV" --data-dir "$D" scrub --once >/dev/null 2>&1 &
		kill_at $! 100
		if [ "$KILLED" = 1 ]; then kills=$((kills + 1)); else selfexit=$((selfexit + 1)); fi
	done
	;;
esac

acked=$(wc -l <"$ACKED")
verified=0 bad=0
while read -r f k; do
	if "$GV" --data-dir "$D" get "$k" 2>/dev/null | cmp -s - "$f"; then
		verified=$((verified + 1))
	else
		bad=$((bad + 1))
		[ "$bad" -le 5 ] && note "lost or wrong: $k ($f)"
	fi
done <"$ACKED"
note "$MODE: $kills kills, $selfexit runs ended by themselves, $acked acknowledged, $verified verified"
expect_true "at least one kill landed" [ "$kills" -gt 0 ]
expect_true "at least one blob was acknowledged" [ "$acked" -gt 0 ]
expect_eq "every acknowledged blob reads back byte-identical" "$acked" "$verified"
finish
