#!/usr/bin/env bash
# A node that hangs (kill -STOP) behind a gateway with three remote sectors
# (factor 3, min-replicas 2): reads of blobs with a replica on it are
# hedged to another node and each completes in well under a second; new
# puts still meet the quorum within the write timeout (the hung node's
# sector answers no usage, so placement leaves it out). Then the node
# resumes (kill -CONT) and everything stops cleanly.
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER

NTOK=node-token-$RANDOM$RANDOM
cat >"$T/node.conf" <<CONF
graviton {
  node { token = "$NTOK" }
  remote { connect-timeout = 1s }
  replication { write-timeout = 5s }
}
CONF
GW=$D
NODE_URLS=()
NODE_PIDS=()
for i in 1 2 3; do
	D=$T/node$i
	gv --config "$T/node.conf" init --sectors 1 --racks 1 --zones 1 --factor 1 --min-replicas 1
	expect_rc "init node $i" 0
	must serve_start "$T/node$i.log" --config "$T/node.conf"
	NODE_URLS+=("$SERVE_URL")
	NODE_PIDS+=("$SERVE_PID")
done
D=$GW
gv --config "$T/node.conf" init --sectors 0 --factor 3 --min-replicas 2
expect_rc "init the gateway" 0
# a1 (node 1, the one stopped below) sorts first: it is every blob's
# first replica to read.
ids=(a1 b2 c3)
for i in 1 2 3; do
	gv --config "$T/node.conf" sector add "${ids[$((i - 1))]}" --url "${NODE_URLS[$((i - 1))]}" \
		--remote-sector s01 --rack "rack$i" --zone "zone$i"
	expect_rc "sector add ${ids[$((i - 1))]} (node $i)" 0
done
must serve_start "$T/gateway.log" --config "$T/node.conf"
GW_URL=$SERVE_URL

KEYS=()
for n in 4096 100000 3145728; do
	must randfile "$T/f$n" "$n"
	run "$GV" --server "$GW_URL" put "$T/f$n"
	expect_rc "put $n bytes through the gateway" 0
	KEYS+=("$OUT")
	run "$GV" --server "$GW_URL" stat --json "$OUT"
	jcheck "$n bytes: a replica on a1 (node 1)" \
		"'a1' in [r['sector'] for r in j['replicas'] if r['healthy']]"
done

kill -STOP "${NODE_PIDS[0]}"
note "node 1 (pid ${NODE_PIDS[0]}) stopped"
for round in 1 2 3; do
	for K in "${KEYS[@]}"; do
		n=$(key_size "$K")
		t0=$(date +%s%N)
		run "$GV" --server "$GW_URL" get "$K" -o "$T/back"
		ms=$((($(date +%s%N) - t0) / 1000000))
		expect_rc "round $round: get $n bytes with node 1 stopped" 0
		expect_same_file "round $round: the $n bytes read back byte-exact" "$T/f$n" "$T/back"
		expect_true "round $round: get of $n bytes took ${ms} ms (< 1000)" [ "$ms" -lt 1000 ]
	done
done
for n in 5000 2000000; do
	must randfile "$T/g$n" "$n"
	t0=$(date +%s%N)
	run "$GV" --server "$GW_URL" put "$T/g$n"
	ms=$((($(date +%s%N) - t0) / 1000000))
	expect_rc "put $n bytes with node 1 stopped" 0
	expect_true "the put took ${ms} ms (write timeout 5 s + 5 s margin)" [ "$ms" -lt 10000 ]
	K=$OUT
	run "$GV" --server "$GW_URL" get "$K" -o "$T/back"
	expect_rc "its get" 0
	expect_same_file "read back byte-exact" "$T/g$n" "$T/back"
done
kill -CONT "${NODE_PIDS[0]}"
note "node 1 resumed"

serve_stop
expect_eq "the gateway stops cleanly" 0 "$SERVE_RC"
for p in "${NODE_PIDS[@]}"; do
	SERVE_PID=$p
	serve_stop
	expect_eq "node (pid $p) stops cleanly" 0 "$SERVE_RC"
done
finish
