#!/usr/bin/env bash
# A gateway (`init --sectors 0`: just the index) with three remote sectors,
# each lent by its own node process (`graviton serve` with a node token):
# blobs of 0 B, 4 KiB, 5 MiB and 40 MiB put through the gateway's server
# read back byte-exact, each with three healthy replicas, one per node;
# `sector list --json` shows them as remote with their url.
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER

NTOK=node-token-$RANDOM$RANDOM
printf 'graviton { node { token = "%s" } }\n' "$NTOK" >"$T/node.conf"
GW=$D
NODE_URLS=()
NODE_PIDS=()
for i in 1 2 3; do
	D=$T/node$i
	# Node 1 lends a second sector, added through the gateway's HTTP API below.
	gv --config "$T/node.conf" init --sectors "$([ "$i" = 1 ] && echo 2 || echo 1)" \
		--racks 1 --zones 1 --factor 1 --min-replicas 1
	expect_rc "init node $i" 0
	must serve_start "$T/node$i.log" --config "$T/node.conf"
	NODE_URLS+=("$SERVE_URL")
	NODE_PIDS+=("$SERVE_PID")
done
D=$GW

gv --config "$T/node.conf" init --sectors 0 --factor 3 --min-replicas 3
expect_rc "init --sectors 0 makes a gateway" 0
expect_true "the gateway has an index" [ -f "$D/graviton.db" ]
expect_true "and no local sector" [ ! -d "$D/sectors" ]
for i in 1 2 3; do
	gv --config "$T/node.conf" sector add "r$i" --url "${NODE_URLS[$((i - 1))]}" \
		--remote-sector s01 --rack "rack$i" --zone "zone$i"
	expect_rc "sector add r$i --url (node $i)" 0
done
gv --config "$T/node.conf" sector add bad --url "ftp://127.0.0.1:1" --remote-sector s01
expect_rc "a url that is not http is refused" 64
gv --config "$T/node.conf" sector list --json
jcheck "sector list --json: three remote sectors with their url" \
	"len(j) == 3 and all(s['kind'] == 'remote' and s['url'].startswith('http://127.0.0.1:') and s['remote_sector'] == 's01' and s['healthy'] for s in j)"

must serve_start "$T/gateway.log" --config "$T/node.conf"
expect_true "the gateway laid out no local sector" [ ! -d "$D/sectors" ]
for n in 0 4096 5242880 41943040; do
	must randfile "$T/f$n" "$n"
	run "$GV" --server "$SERVE_URL" put "$T/f$n"
	expect_rc "put $n bytes through the gateway" 0
	K=$(key_of "$T/f$n")
	expect_eq "its key" "$K" "$OUT"
	run "$GV" --server "$SERVE_URL" get "$K" -o "$T/back$n"
	expect_rc "get $n bytes" 0
	expect_same_file "the $n bytes read back byte-exact" "$T/f$n" "$T/back$n"
	run "$GV" --server "$SERVE_URL" stat --json "$K"
	jcheck "$n bytes: three healthy replicas, on r1, r2 and r3" \
		"sorted(r['sector'] for r in j['replicas'] if r['healthy']) == ['r1', 'r2', 'r3']"
	for i in 1 2 3; do
		f=$(find "$T/node$i/sectors/s01/objects" -name "$(key_hex "$K")-$n" | head -n 1)
		expect_true "node $i holds the $n bytes under their key" cmp -s "$f" "$T/f$n"
	done
done

# Verified reads over the node protocol: one byte flipped inside block 30
# of the 40 MiB blob on the two nodes a read tries first.  The gateway
# checks every block against the table in its index before any byte goes
# out: a Range (206) and a full GET give the right bytes, and the rotten
# remote replicas are marked "checksum mismatch".
K=$(key_of "$T/f41943040")
ROT=$((30 * 1048576 + 12345))
order=$(read_order "$K")
BAD=""
for s in $(sed -n 1,2p <<<"$order"); do
	i=${s#r}
	f=$(find "$T/node$i/sectors/s01/objects" -name "$(key_hex "$K")-41943040" | head -n 1)
	flip_byte "$f" "$ROT" || fail "set-up: flip a byte on node $i"
	BAD="$BAD $s"
done
A=$((ROT - 70000)) B=$((ROT + 70000))
tail -c +"$((A + 1))" "$T/f41943040" | head -c "$((B - A + 1))" >"$T/want.range"
code=$(curl -s -o "$T/got.range" -w '%{http_code}' -H "Range: bytes=$A-$B" \
	-H "Authorization: Bearer $(cat "$D/token")" "$SERVE_URL/v1/blobs/$K")
expect_eq "Range over two rotten remote replicas -> 206" 206 "$code"
expect_same_file "... with the right bytes" "$T/want.range" "$T/got.range"
run "$GV" --server "$SERVE_URL" get "$K" -o "$T/full.got"
expect_same_file "a full get through the gateway: every byte right" "$T/f41943040" "$T/full.got"
run "$GV" --data-dir "$D" stat "$K" --json
jcheck "the rotten remote replicas are marked 'checksum mismatch'" \
	"sorted(r['sector'] for r in j['replicas'] if r.get('reason') == 'checksum mismatch') == sorted('$BAD'.split()) or len([r for r in j['replicas'] if r['healthy']]) == 3"
grep -q 'checksum mismatch' "$T/gateway.log"
expect_rc "the gateway logged the checksum mismatch" 0

# A remote sector added through the gateway's HTTP API (--server).
run "$GV" --server "$SERVE_URL" sector add r4 --url "${NODE_URLS[0]}" --remote-sector s02 \
	--rack rack1 --zone zone1 --json
expect_rc "--server sector add r4 --url (node 1's s02)" 0
jcheck "... answers the remote sector's document" \
	"j['id'] == 'r4' and j['kind'] == 'remote' and j['url'] == '${NODE_URLS[0]}' and j['remote_sector'] == 's02'"
run "$GV" --server "$SERVE_URL" sector add r5 --url "${NODE_URLS[0]}" --json
expect_rc "--server sector add --url without --remote-sector is a usage error" 64
http_post_json_code=$(curl -s -o "$T/post.out" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $(cat "$D/token")" -d '{"id":"r6","url":"http://127.0.0.1:1"}' \
	"$SERVE_URL/v1/sectors")
expect_eq "POST /v1/sectors with url but no remote_sector -> 400" 400 "$http_post_json_code"

serve_stop
expect_eq "the gateway stops cleanly" 0 "$SERVE_RC"
for p in "${NODE_PIDS[@]}"; do
	SERVE_PID=$p
	serve_stop
	expect_eq "node (pid $p) stops cleanly" 0 "$SERVE_RC"
done
finish
