# tests/e2e/blocks_lib.sh - block verification scenarios shared by
# test_block_verify.sh and test_block_verify_slow.sh (sourced after lib.sh).
#
# blocks_setup: a store of 6 sectors (factor 3) and helpers below.

unset GRAVITON_SERVER GRAVITON_TOKEN

MiB=$((1 << 20))
ROT=$((30 * MiB + 12345))   # the flipped byte: inside block 30

blocks_setup() {
	gv init --sectors 6 --racks 3 --zones 3
	expect_rc "init 6 sectors" 0
	[ "$RC" = 0 ] || finish
}

# nth_replica KEY N: the replica file a read tries N-th (from 1).
nth_replica() {
	local s

	s=$(read_order "$1" | sed -n "${2}p")
	[ -n "$s" ] && replica_file "$1" "$s"
}

# rot KEY N...: flip the byte at $ROT in the replicas read N-th; prints
# the sectors flipped, one a line.
rot() {
	local k=$1 n order
	shift
	order=$(read_order "$k") || return 1
	for n in "$@"; do
		s=$(sed -n "${n}p" <<<"$order")
		flip_byte "$(replica_file "$k" "$s")" "$ROT" || return 1
		printf '%s\n' "$s"
	done
}

# want_range FILE A B: bytes A..B of FILE into FILE.want.
want_range() {
	tail -c +"$(($2 + 1))" "$1" | head -c "$(($3 - $2 + 1))" >"$1.want"
}

# expect_marked DESC KEY SECTORS: exactly SECTORS (lines) of KEY are
# unhealthy, each with reason "checksum mismatch".
expect_marked() {
	local want

	want=$(sort <<<"$3" | paste -sd, -)
	gv stat "$2" --json
	jcheck "$1" "','.join(sorted(r['sector'] for r in j['replicas'] if not r['healthy'] and r.get('reason') == 'checksum mismatch')) == '$want' and sum(not r['healthy'] for r in j['replicas']) == $(wc -l <<<"$3")"
}

# expect_marked_log DESC LOG KEY SECTORS: the server marked exactly
# SECTORS of KEY unhealthy with reason "checksum mismatch" (its log: repair
# in the server may replace them before stat could see the mark).
expect_marked_log() {
	local got

	got=$(grep "event=replica_unhealthy key=$3 " "$2" |
		sed -n 's/.* sector=\([^ ]*\) reason="checksum mismatch".*/\1/p' | sort -u | paste -sd, -)
	expect_eq "$1" "$(sort <<<"$4" | paste -sd, -)" "$got"
}

# hget KEY RANGE OUT: GET with a Range header (none when RANGE is "");
# prints the status code.
hget() {
	if [ -n "$2" ]; then
		curl -s --noproxy '*' -o "$3" -w '%{http_code}' -H "Range: bytes=$2" \
			"$SERVE_URL/v1/blobs/$1"
	else
		curl -s --noproxy '*' -o "$3" -w '%{http_code}' "$SERVE_URL/v1/blobs/$1"
	fi
}

# full_get_check NAME SIZE: a blob of SIZE bytes rotten at $ROT in the two
# replicas read first; a full HTTP GET answers 200 with every byte right
# and the two are marked.  Needs a server started with log $T/serve.log.
full_get_check() {
	local f=$T/$1 k bad code

	must randfile "$f" "$2"
	k=$(put_ok "$f") || { fail "set-up: put $1"; return; }
	bad=$(rot "$k" 1 2) || { fail "set-up: rot $1"; return; }
	code=$(hget "$k" "" "$f.got")
	expect_eq "full HTTP GET of $1 over two rotten replicas answers 200" 200 "$code"
	expect_same_file "full HTTP GET of $1: every byte right" "$f" "$f.got"
	expect_marked_log "full HTTP GET of $1: the two rotten replicas are marked (checksum mismatch)" \
		"$T/serve.log" "$k" "$bad"
}
