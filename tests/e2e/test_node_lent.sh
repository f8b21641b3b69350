#!/usr/bin/env bash
# A storage node's reclaim never takes the blobs it lends.  The node's own
# index has no row for them (the gateway's does), so before lent sectors
# were recorded as such, its reclaim deleted them as orphans once they were
# older than the grace.  Here the node runs reclaim every second with a
# 1 s grace, lends s01 to a gateway and keeps s02 to itself:
#   - the node protocol's first use of s01 leaves a LENT file in it; s02
#     gets none;
#   - lent blobs, aged far past the grace, stay through reclaim runs that
#     do reclaim an old unrecorded file in s02 (so reclaim did run), and
#     through `graviton sector sweep` on the node; they read back through
#     the gateway.
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER

NTOK=node-token-$RANDOM$RANDOM
cat >"$T/node.conf" <<EOF
graviton.node.token = "$NTOK"
graviton.replication.reclaim { interval = 1s, grace = 1s }
EOF
printf 'graviton.node.token = "%s"\n' "$NTOK" >"$T/gw.conf"

GW=$D
D=$T/node
must gv --config "$T/node.conf" init --sectors 2 --racks 1 --zones 1 --factor 1 --min-replicas 1
must serve_start "$T/node.log" --config "$T/node.conf"
NODE_URL=$SERVE_URL
S1=$D/sectors/s01 S2=$D/sectors/s02

D=$GW
must gv --config "$T/gw.conf" init --sectors 0 --factor 1 --min-replicas 1 --min-racks 1 \
	--min-zones 1
must gv --config "$T/gw.conf" sector add r1 --url "$NODE_URL" --remote-sector s01
must serve_start "$T/gw.log" --config "$T/gw.conf"
GW_URL=$SERVE_URL
KEYS=()
for n in 0 4096 70000 3000000; do
	must randfile "$T/f$n" "$n"
	run "$GV" --server "$GW_URL" put "$T/f$n"
	expect_rc "put $n bytes through the gateway" 0
	KEYS+=("$OUT")
done
expect_true "the node protocol recorded s01 as lent" test -f "$S1/LENT"
expect_true "s02, never lent, is not" test ! -e "$S2/LENT"
lent_files() { find "$S1/objects" -type f | sort; }
LENT=$(lent_files)
expect_eq "s01 holds the four lent blobs" 4 "$(grep -c . <<<"$LENT")"
touch -d '3 hours ago' $LENT

# An orphan of the node's own in s02, old: reclaim takes it.  Two in a
# row, the second placed after the first is gone, so a whole reclaim run
# began after the lent files were aged.
orphan() {
	local f=$S2/objects/ab/$(printf 'ab%062d' "$1")-5
	mkdir -p "$S2/objects/ab" &&
		printf 'hello' >"$f" && touch -d '3 hours ago' "$f" && printf '%s\n' "$f"
}
gone() { [ ! -e "$1" ]; }
wait_gone() {
	local i
	for ((i = 0; i < 600; i++)); do
		gone "$1" && return 0
		sleep 0.1
	done
	return 1
}
O1=$(orphan 1) || { fail "set-up: orphan 1"; finish; }
expect_true "the node's reclaim took its own old orphan in s02" wait_gone "$O1"
O2=$(orphan 2) || { fail "set-up: orphan 2"; finish; }
expect_true "and a second one, placed later" wait_gone "$O2"
expect_eq "every lent blob is still in s01" "$LENT" "$(lent_files)"

D=$T/node
gv --config "$T/node.conf" sector sweep --grace 1s --json
expect_rc "sector sweep on the node" 0
jcheck "sector sweep on the node reclaims no lent blob" "j['orphan_files'] == 0"
expect_eq "every lent blob is still in s01 after the sweep" "$LENT" "$(lent_files)"

D=$GW
i=0
for n in 0 4096 70000 3000000; do
	run "$GV" --server "$GW_URL" get "${KEYS[$i]}" -o "$T/back$n"
	expect_rc "get $n bytes through the gateway" 0
	expect_same_file "the $n bytes read back byte-exact" "$T/f$n" "$T/back$n"
	i=$((i + 1))
done
finish
