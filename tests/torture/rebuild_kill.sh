#!/usr/bin/env bash
# `graviton index rebuild` under SIGKILL: killed at random moments, with no
# index and with --force over an existing one, it never leaves a half-built
# index in place: after every kill the index is either absent (no index
# before) or complete and equal to the one before (--force); the next
# rebuild works and leaves no temporary index behind.
#
#   TORTURE_ROUNDS=N   kills (default 20)
#   TORTURE_SEED=N     seed for the kill moments
. "$(dirname "$0")/../e2e/lib.sh"

ROUNDS=${TORTURE_ROUNDS:-20}
SEED=${TORTURE_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
note "rounds $ROUNDS, seed $SEED"

q() { sqlite3 -batch "$D/graviton.db" "$@"; }
replica_sets() {
	q "SELECT key || ' ' || (SELECT group_concat(sector || ':' || healthy, ',') FROM
	     (SELECT sector, healthy FROM replicas r WHERE r.key = b.key ORDER BY sector))
	   FROM blobs b ORDER BY key;"
}

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init" 0
[ "$RC" = 0 ] || finish
mkdir -p "$T/src"
"$PY" - "$T/src" <<'PYEOF' || { fail "generate blobs"; finish; }
import os, sys
for i in range(150):
    size = (i % 10 == 0) and 4 * 1048576 or (i * 7919) % 200000
    with open(os.path.join(sys.argv[1], str(i)), "wb") as f:
        f.write(os.urandom(size))
PYEOF
KEYS=()
for i in $(seq 0 149); do
	k=$(put_ok "$T/src/$i") || { fail "put $i"; finish; }
	KEYS+=("$k")
done
# one corrupted copy, recorded unhealthy by every rebuild
f=$(replica_file "${KEYS[10]}" "$(replica_sectors "${KEYS[10]}" | sed -n 1p)")
must flip_byte "$f" 99
rm -f "$D"/graviton.db*
gv index rebuild
expect_rc "a first rebuild" 0
replica_sets >"$T/sets.want"
expect_eq "the rebuilt index holds every key" 150 "$(wc -l <"$T/sets.want")"

kills=0
bad=0
iter=0
while [ "$kills" -lt "$ROUNDS" ] && [ "$iter" -lt $((ROUNDS * 3)) ]; do
	iter=$((iter + 1))
	force=$((RANDOM % 2))
	had=0
	[ "$force" = 1 ] && [ -f "$D/graviton.db" ] && had=1
	if [ "$force" = 0 ]; then
		rm -f "$D"/graviton.db "$D"/graviton.db-wal "$D"/graviton.db-shm
		args=()
	else
		args=(--force)
	fi
	ms=$((RANDOM % 450))
	"$GV" --data-dir "$D" -q index rebuild "${args[@]}" >/dev/null 2>"$T/.rb.err" &
	pid=$!
	sleep "$(printf '0.%03d' "$ms")"
	{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
	[ $? -ge 128 ] && kills=$((kills + 1))
	if [ -f "$D/graviton.db" ]; then
		if ! replica_sets | cmp -s - "$T/sets.want"; then
			bad=$((bad + 1))
			note "round $iter (force=$force, ${ms} ms): the index in place differs from a complete one"
		fi
	elif [ "$had" = 1 ]; then
		bad=$((bad + 1))
		note "round $iter (--force, ${ms} ms): the old index is gone and no new one is in place"
	fi
done
note "$kills kills in $iter rounds"
expect_true "killed the rebuild at least $ROUNDS times" [ "$kills" -ge "$ROUNDS" ]
expect_eq "after every kill: no index, the old one or a complete new one" 0 "$bad"

gv index rebuild --force
expect_rc "a final rebuild --force" 0
replica_sets >"$T/sets.got"
cmp -s "$T/sets.want" "$T/sets.got" && ok "the final index equals the first rebuild's" ||
	fail "the final index equals the first rebuild's"
expect_eq "no temporary index left" "" "$(cd "$D" && ls graviton.db.* 2>/dev/null)"
all=1
for i in "${!KEYS[@]}"; do
	gvx get "${KEYS[$i]}" 2>/dev/null | cmp -s - "$T/src/$i" || all=0
done
expect_eq "every blob reads back byte-identical" 1 "$all"
finish
