#!/usr/bin/env bash
# A cluster on loopback against local sectors, in the same run: three
# storage nodes (two sectors each, one rack and zone per node) behind a
# gateway with factor 3, and a local store of three sectors with factor 3.
#   PUT   of one blob through the gateway vs the same PUT into the local store
#   GET   through the gateway vs the same GET from the local store (both
#         verified end to end by the server)
#   repair of the copy a lost node held (its sectors marked unhealthy,
#         `repair --once` on the gateway's data directory) vs curl copying
#         the same bytes between the same nodes (GET from a surviving copy's
#         node piped into a PUT to the sector repair wrote)
#   GET   while the node of the blob's first replica is stopped (kill -STOP)
#         vs the GET just before
# Rounds alternate the two sides; medians are printed with the load average
# (the machine may be shared).  Prints figures; judges nothing.
#
# usage: bench/bench_cluster.sh BUILD_DIR
#   BENCH_DIR=...                 parent of the scratch directory (/var/tmp)
#   BENCH_CLUSTER_MIB=256         blob size
#   BENCH_CLUSTER_ROUNDS=3        rounds
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
GV=$BUILD/graviton
MIB=${BENCH_CLUSTER_MIB:-256}
ROUNDS=${BENCH_CLUSTER_ROUNDS:-3}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/graviton-bench-cluster.XXXXXX")
NTOK=bench-node-token-$RANDOM$RANDOM
PIDS=()
STOPPED=

cleanup() {
	[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT
unset GRAVITON_DATA_DIR GRAVITON_TOKEN GRAVITON_SERVER

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# serve DIR CONF: start `graviton serve` on a free port; PORT is set.
serve() {
	local t
	PORT=$(free_port)
	"$GV" --data-dir "$1" --config "$2" serve --listen "127.0.0.1:$PORT" >>"$1.log" 2>&1 </dev/null &
	PIDS+=($!)
	SPID=$!
	for ((t = 0; t < 300; t++)); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench_cluster: a server did not start (see $1.log)" >&2
	exit 1
}

printf 'graviton.server.auth = off\ngraviton.node.token = "%s"\ngraviton.replication.reclaim.enabled = false\n' \
	"$NTOK" >"$W/node.conf"
cat >"$W/gw.conf" <<EOC
graviton.server.auth = off
graviton.node.token = "$NTOK"
graviton.replication.repair.enabled = false
graviton.replication.rebalance.enabled = false
EOC
printf 'graviton.server.auth = off\ngraviton.replication.repair.enabled = false\n' >"$W/local.conf"

declare -A NODE_URL NODE_PID
for i in 1 2 3; do
	"$GV" -q --data-dir "$W/node$i" --config "$W/node.conf" init --sectors 2 --racks 1 --zones 1 \
		--factor 1 --min-replicas 1 --min-racks 1 --min-zones 1
	serve "$W/node$i" "$W/node.conf"
	NODE_URL[$i]=http://127.0.0.1:$PORT
	NODE_PID[$i]=$SPID
done
"$GV" -q --data-dir "$W/gw" --config "$W/gw.conf" init --sectors 0 --factor 3 --min-replicas 2
for i in 1 2 3; do
	for s in 1 2; do
		"$GV" -q --data-dir "$W/gw" --config "$W/gw.conf" sector add "n${i}s$s" \
			--url "${NODE_URL[$i]}" --remote-sector "s0$s" --rack "rack$i" --zone "zone$i"
	done
done
serve "$W/gw" "$W/gw.conf"
GW=http://127.0.0.1:$PORT
"$GV" -q --data-dir "$W/local" --config "$W/local.conf" init --sectors 3 --racks 3 --zones 3 \
	--factor 3 --min-replicas 2
serve "$W/local" "$W/local.conf"
LOCAL=http://127.0.0.1:$PORT

echo "== cluster on loopback: $MIB MiB, factor 3, 3 nodes + gateway vs 3 local sectors, median of $ROUNDS"
head -c $((MIB * 1048576)) /dev/urandom >"$W/blob"
KEY=$(python3 -c '
import hashlib, os, sys
p = sys.argv[1]; h = hashlib.sha256()
with open(p, "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
print("sha256:%s:%d" % (h.hexdigest(), os.path.getsize(p)))' "$W/blob")

# sector_of_replica N: the sector of the blob's N-th healthy replica (0-based)
replicas() {
	"$GV" --data-dir "$W/gw" --config "$W/gw.conf" stat "$KEY" --json |
		python3 -c 'import json, sys; d = json.load(sys.stdin); print(" ".join(r["sector"] for r in d["replicas"] if r.get("healthy", True)))'
}
node_of() { local s=${1#n}; echo "${s%%s*}"; }
remote_sid() { echo "s0${1##*s}"; }
gwcli() { "$GV" --data-dir "$W/gw" --config "$W/gw.conf" "$@"; }

for f in put_gw put_local get_gw get_local get_stopped get_normal repair curl_copy; do : >"$W/$f.t"; done
for ((r = 1; r <= ROUNDS; r++)); do
	# PUT: local then gateway (a blob of the same size, new each time)
	curl -sf -X DELETE "$LOCAL/v1/blobs/$KEY" >/dev/null 2>&1 || true
	curl -sf -X DELETE "$GW/v1/blobs/$KEY" >/dev/null 2>&1 || true
	sync
	t0=$(now); curl -sf -T "$W/blob" "$LOCAL/v1/blobs" >/dev/null; since "$t0" >>"$W/put_local.t"
	sync
	t0=$(now); curl -sf -T "$W/blob" "$GW/v1/blobs" >/dev/null; since "$t0" >>"$W/put_gw.t"
	# GET: gateway then local
	t0=$(now); curl -sf -o /dev/null "$GW/v1/blobs/$KEY"; since "$t0" >>"$W/get_gw.t"
	t0=$(now); curl -sf -o /dev/null "$LOCAL/v1/blobs/$KEY"; since "$t0" >>"$W/get_local.t"
	# GET with the first replica's node stopped, then normal
	set -- $(replicas)
	n=$(node_of "$1")
	kill -STOP "${NODE_PID[$n]}"
	STOPPED=${NODE_PID[$n]}
	t0=$(now); curl -sf -o /dev/null "$GW/v1/blobs/$KEY"; since "$t0" >>"$W/get_stopped.t"
	kill -CONT "${NODE_PID[$n]}"
	STOPPED=
	t0=$(now); curl -sf -o /dev/null "$GW/v1/blobs/$KEY"; since "$t0" >>"$W/get_normal.t"
	# repair of the copy node n held: its sectors unhealthy, one repair run
	before=" $* "
	for s in 1 2; do gwcli -q sector set-health "n${n}s$s" unhealthy >/dev/null; done
	sync
	t0=$(now); gwcli -q repair --once >/dev/null; since "$t0" >>"$W/repair.t"
	target=
	for s in $(replicas); do
		case "$before" in *" $s "*) src=$s ;; *) target=$s ;; esac
	done
	if [ -z "$target" ]; then
		echo "bench_cluster: repair made no new copy (replicas: $(replicas))" >&2
		exit 1
	fi
	# src: a surviving copy on another node than the target, when there is one
	for s in $(replicas); do
		[ "$s" != "$target" ] && [ "$(node_of "$s")" != "$(node_of "$target")" ] && src=$s
	done
	sync
	t0=$(now)
	curl -sf -H "Authorization: Bearer $NTOK" \
		"${NODE_URL[$(node_of "$src")]}/v1/node/sectors/$(remote_sid "$src")/blobs/$KEY" |
		curl -sf -H "Authorization: Bearer $NTOK" -T - \
			"${NODE_URL[$(node_of "$target")]}/v1/node/sectors/$(remote_sid "$target")/blobs/$KEY" >/dev/null
	since "$t0" >>"$W/curl_copy.t"
	for s in 1 2; do gwcli -q sector set-health "n${n}s$s" healthy >/dev/null; done
	gwcli -q repair --once >/dev/null # trims the surplus copy
	echo "  round $r: put gw $(tail -n 1 "$W/put_gw.t") local $(tail -n 1 "$W/put_local.t"); get gw $(tail -n 1 "$W/get_gw.t") local $(tail -n 1 "$W/get_local.t"); get stopped $(tail -n 1 "$W/get_stopped.t") normal $(tail -n 1 "$W/get_normal.t"); repair $(tail -n 1 "$W/repair.t") curl $(tail -n 1 "$W/curl_copy.t") ($src -> $target); load $(load)"
done
for f in put_gw put_local get_gw get_local get_stopped get_normal repair curl_copy; do
	eval "$f=\$(median <\"\$W/$f.t\")"
done
echo "  PUT    gateway $put_gw s, local $put_local s: ratio $(ratio "$put_local" "$put_gw") (floor 0.8)"
echo "  GET    gateway $get_gw s, local $get_local s: ratio $(ratio "$get_local" "$get_gw") (floor 0.8)"
echo "  repair $repair s, curl node to node $curl_copy s: ratio $(ratio "$curl_copy" "$repair") (floor 0.7)"
echo "  GET    one replica's node stopped $get_stopped s, normal $get_normal s: $(ratio "$get_stopped" "$get_normal")x (ceiling 2x)"
