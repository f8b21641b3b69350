#!/usr/bin/env bash
# A cluster on loopback, set up as docs/cluster.md says: three storage
# nodes (two sectors each, one rack and one zone per node) and a gateway,
# each a real `graviton serve` on its own port and data directory.
#   1. 200 blobs of 0 B to 64 MiB put through the gateway land with three
#      healthy copies on three nodes;
#   2. node 2 killed (-9): every blob reads back byte-exact through the
#      gateway, new puts succeed (min-replicas 2), node 2's sectors turn
#      unhealthy by themselves (reason "unreachable", event sector_down,
#      graviton_sector_healthy 0), background repair restores three healthy
#      copies of every blob on the surviving nodes, none is lost;
#   3. node 2 restarted on its port: its sectors come back by themselves
#      (event sector_up), its copies count again and repair trims the
#      surplus, keeping every blob put before the kill on three nodes;
#      every blob ends with exactly three healthy copies and reads back
#      byte-exact.
# Every wait is bounded polling with a generous deadline.
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER

NTOK=node-token-$RANDOM$RANDOM
# Storage nodes: their index counts no blob (the gateway's does); the
# sectors they lend are marked so, and their reclaim leaves them alone.
cat >"$T/node.conf" <<EOF
graviton.node.token = "$NTOK"
EOF
# The gateway: a fast detector and repair, so the test is short.
cat >"$T/gateway.conf" <<EOF
graviton.node.token = "$NTOK"
graviton.health { interval = 200ms, down-after = 1s, up-after = 1s }
graviton.remote { connect-timeout = 1s, request-timeout = 20s }
graviton.replication.repair.interval = 1s
graviton.replication.rebalance.enabled = false
EOF

# poll SECONDS CMD...: run CMD every 0.2 s until it succeeds (0) or SECONDS
# pass (1); POLL_SECS says how long it took.
poll() {
	local lim=$1 t0 now
	shift
	t0=$(date +%s%N)
	while :; do
		if "$@"; then
			POLL_SECS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
			return 0
		fi
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000000)) -ge "$lim" ] && return 1
		sleep 0.2
	done
}

# ---- the nodes and the gateway -------------------------------------------------
GW=$D
NODE_PORT=()
NODE_PID=()
for i in 1 2 3; do
	D=$T/node$i
	must gv --config "$T/node.conf" init --sectors 2 --racks 1 --zones 1 --factor 1 \
		--min-replicas 1 --min-racks 1 --min-zones 1
	must serve_start "$T/node$i.log" --config "$T/node.conf"
	NODE_PORT[$i]=$SERVE_PORT
	NODE_PID[$i]=$SERVE_PID
done
D=$GW
must gv --config "$T/gateway.conf" init --sectors 0 --factor 3 --min-replicas 2
for i in 1 2 3; do
	for s in 1 2; do
		must gv --config "$T/gateway.conf" sector add "n${i}s$s" \
			--url "http://127.0.0.1:${NODE_PORT[$i]}" --remote-sector "s0$s" \
			--rack "rack$i" --zone "zone$i"
	done
done
must serve_start "$T/gateway.log" --config "$T/gateway.conf"
GW_URL=$SERVE_URL
GW_PID=$SERVE_PID

# ---- 1: 200 blobs --------------------------------------------------------------
# Mostly small, a few large: 0 B, 150 up to 64 KiB, 40 up to 1 MiB, 6 of
# 2-8 MiB, 2 of 16 MiB and one of 64 MiB (about 150 MiB in all).
sizes=(0 67108864 16777216 16777216)
for ((n = 0; n < 6; n++)); do sizes+=($(((2 + RANDOM % 7) * 1048576 + RANDOM))); done
for ((n = 0; n < 40; n++)); do sizes+=($(((RANDOM * 32) % 1048576 + 65536))); done
for ((n = 0; n < 150; n++)); do sizes+=($((RANDOM * 2 % 65536 + 1))); done
expect_eq "200 sizes" 200 "${#sizes[@]}"
KEYS=()
# put_one N SIZE: put SIZE random bytes as $T/fN through the gateway; its
# key into KEYS[N] when acknowledged.
put_one() {
	local k
	randfile "$T/f$1" "$2" || return 1
	k=$("$GV" --server "$GW_URL" put "$T/f$1" 2>>"$T/put.err") || return 1
	KEYS[$1]=$k
}
putfail=0
for ((n = 0; n < ${#sizes[@]}; n++)); do
	put_one "$n" "${sizes[$n]}" || putfail=$((putfail + 1))
done
expect_eq "200 puts through the gateway acknowledged" 0 "$putfail"

# copies WHERE: per key, its healthy copies on healthy sectors:
# "KEY COPIES NODES" (NODES: distinct nodes), from the gateway's index.
copies() {
	sqlite3 "$GW/graviton.db" "SELECT r.key, COUNT(*), COUNT(DISTINCT substr(r.sector, 1, 2))
		FROM replicas r JOIN sectors s ON s.id = r.sector
		WHERE r.healthy = 1 AND r.complete = 1 AND s.healthy = 1 GROUP BY r.key" |
		tr '|' ' '
}
# all_keys_with COPIES MINNODES: every acknowledged key has COPIES healthy
# copies on at least MINNODES nodes.
all_keys_with() {
	local want=$1 nodes=$2 got
	got=$(copies | awk -v c="$want" -v n="$nodes" '$2 == c && $3 >= n { k++ } END { print k + 0 }')
	[ "$got" = "${#KEYS[@]}" ]
}
if poll 60 all_keys_with 3 3; then
	ok "every blob has 3 healthy copies on 3 nodes (${POLL_SECS}s)"
else
	fail "every blob has 3 healthy copies on 3 nodes" "${#KEYS[@]}" \
		"$(copies | awk '$2 == 3 && $3 == 3' | wc -l)"
fi

# read_all: every acknowledged blob reads back byte-exact through the gateway.
read_all() {
	local n bad=0
	for n in "${!KEYS[@]}"; do
		if ! "$GV" --server "$GW_URL" get "${KEYS[$n]}" -o "$T/back" 2>>"$T/get.err" ||
			! cmp -s "$T/back" "$T/f$n"; then
			bad=$((bad + 1))
		fi
	done
	echo "$bad"
}

# ---- 2: node 2 lost --------------------------------------------------------------
kill -KILL "${NODE_PID[2]}"
wait "${NODE_PID[2]}" 2>/dev/null
t_kill=$(date +%s%N)
expect_eq "every blob reads back byte-exact with node 2 gone" 0 "$(read_all)"
newfail=0
for ((n = 200; n < 210; n++)); do
	put_one "$n" $((RANDOM + 1)) || newfail=$((newfail + 1))
done
expect_eq "10 new puts succeed with node 2 gone" 0 "$newfail"

# node_health NODE HEALTHY: both sectors of NODE are (un)healthy (true|false).
node_health() {
	local doc
	doc=$("$GV" --server "$GW_URL" sector list --json 2>/dev/null) || return 1
	[ "$(jget "[s['healthy'] for s in j if s['id'].startswith('n$1')] == [$2, $2]" "$doc")" = true ]
}
if poll 30 node_health 2 False; then
	down_secs=$(awk -v a="$t_kill" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	ok "node 2's sectors turn unhealthy by themselves (${down_secs}s after the kill)"
else
	fail "node 2's sectors turn unhealthy by themselves" "unhealthy" "healthy"
fi
run "$GV" --server "$GW_URL" sector list --json
jcheck "... with the reason unreachable; the other nodes' stay healthy" \
	"all(s['reason'].startswith('unreachable') for s in j if s['id'].startswith('n2')) and all(s['healthy'] for s in j if not s['id'].startswith('n2'))"
expect_match "the gateway logged event=sector_down for n2s1 and n2s2" '^2$' \
	"$(grep 'event=sector_down' "$T/gateway.log" | grep -o 'sector=n2s[12]' | sort -u | wc -l)"
metrics=$(curl -s "$GW_URL/metrics")
expect_match "graviton_sector_healthy is 0 for n2s1" \
	'graviton_sector_healthy\{sector="n2s1"[^}]*\} 0' "$metrics"
expect_match "graviton_sector_probe_failures_total counts n2s1's failed probes" \
	'graviton_sector_probe_failures_total\{sector="n2s1"[^}]*\} [1-9]' "$metrics"

if poll 120 all_keys_with 3 2; then
	ok "repair restores 3 healthy copies of every blob on the surviving nodes (${POLL_SECS}s)"
else
	fail "repair restores 3 healthy copies of every blob on the surviving nodes" \
		"${#KEYS[@]}" "$(copies | awk '$2 == 3' | wc -l)"
fi
expect_eq "no copy counted on node 2 meanwhile" 0 \
	"$(copies | awk '$3 > 2' | wc -l)"

# ---- 3: node 2 back ----------------------------------------------------------------
D=$T/node2
restarted=0
for try in 1 2 3 4 5; do
	"$GV" --data-dir "$D" --config "$T/node.conf" serve --listen "127.0.0.1:${NODE_PORT[2]}" \
		>>"$T/node2.log" 2>&1 </dev/null &
	NODE_PID[2]=$!
	_SERVE_PIDS+=("${NODE_PID[2]}")
	if poll 30 http_up "http://127.0.0.1:${NODE_PORT[2]}/healthz"; then
		restarted=1
		break
	fi
	kill -KILL "${NODE_PID[2]}" 2>/dev/null
	wait "${NODE_PID[2]}" 2>/dev/null
	sleep 1
done
expect_eq "node 2 restarts on its port" 1 "$restarted"
D=$GW
if poll 30 node_health 2 True; then
	ok "node 2's sectors come back by themselves (${POLL_SECS}s)"
else
	fail "node 2's sectors come back by themselves" "healthy" "unhealthy"
fi
expect_match "the gateway logged event=sector_up for n2s1 and n2s2" '^2$' \
	"$(grep 'event=sector_up ' "$T/gateway.log" | grep -o 'sector=n2s[12]' | sort -u | wc -l)"
if poll 120 all_keys_with 3 1; then
	ok "the surplus is trimmed: every blob has exactly 3 healthy copies (${POLL_SECS}s)"
else
	fail "every blob has exactly 3 healthy copies" "${#KEYS[@]}" \
		"$(copies | awk '$2 == 3' | wc -l) ($(copies | awk '{ print $2 }' | sort | uniq -c | tr '\n' ' '))"
fi
# Node 2's copies count again (a read or repair that failed on them while
# the node was down judged the node, not the copies), so the trim keeps the
# spread: each of the 200 blobs put before the kill keeps a copy on every
# node.
spread=$(copies | awk 'NR == FNR { pre[$1] = 1; next } ($1 in pre) && $3 == 3' \
	<(printf '%s\n' "${KEYS[@]:0:200}") - | wc -l)
expect_eq "every blob put before the kill keeps a copy on each of the 3 nodes" 200 "$spread"
expect_eq "no acknowledged blob is lost: all 210 read back byte-exact" 0 "$(read_all)"

SERVE_PID=$GW_PID
serve_stop
expect_eq "the gateway stops cleanly" 0 "$SERVE_RC"
for i in 1 2 3; do
	SERVE_PID=${NODE_PID[$i]}
	serve_stop
	expect_eq "node $i stops cleanly" 0 "$SERVE_RC"
done
finish
