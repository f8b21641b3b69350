#!/usr/bin/env bash
# Range reads of blobs up to 8 MiB serve only bytes of a replica verified
# whole: a replica rotten inside or outside the range is skipped (and
# marked unhealthy), and a replica file replaced by a symlink to a file
# outside the sector is never followed (at any size).  Both for `get
# --range` and for HTTP Range against a running server.
. "$(dirname "$0")/lib.sh"

# The environment must not choose a server or a token for us.
unset GRAVITON_SERVER GRAVITON_TOKEN

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish

SIZE=100000

# fresh NAME: store a new random blob $T/NAME; prints its key.
fresh() {
	randfile "$T/$1" "$SIZE" && put_ok "$T/$1"
}

# nth_replica KEY N: the replica file a read tries N-th (from 1).
nth_replica() {
	local s

	s=$(read_order "$1" | sed -n "${2}p")
	[ -n "$s" ] && replica_file "$1" "$s"
}

# symlink_replica KEY N: replace the N-th replica by a symlink to $T/evil,
# a file of the blob's size outside every sector.
symlink_replica() {
	local f

	f=$(nth_replica "$1" "$2") || return 1
	rm -f "$f" && ln -s "$T/evil" "$f"
}

# want_range NAME A B: bytes A..B of $T/NAME into $T/NAME.want.
want_range() {
	dd if="$T/$1" of="$T/$1.want" bs=1 skip="$2" count=$(($3 - $2 + 1)) status=none
}

must randfile "$T/evil" "$SIZE"

# ---- get --range ---------------------------------------------------------------

K=$(fresh inrange) || { fail "set-up: put"; finish; }
S1=$(read_order "$K") && S1=${S1%%$'\n'*}
must flip_byte "$(nth_replica "$K" 1)" 500
want_range inrange 0 999
gv get "$K" --range 0-999 -o "$T/inrange.got"
expect_rc "get --range over a replica rotten inside the range exits 0" 0
expect_same_file "get --range over a rotten replica: the right bytes" "$T/inrange.want" "$T/inrange.got"
gv stat "$K" --json
jcheck "get --range: the rotten replica is marked unhealthy (checksum)" \
	"[(r['healthy'], 'checksum' in (r.get('reason') or '')) for r in j['replicas'] if r['sector'] == '$S1'] == [(False, True)]"

K=$(fresh outside) || { fail "set-up: put"; finish; }
S1=$(read_order "$K") && S1=${S1%%$'\n'*}
must flip_byte "$(nth_replica "$K" 1)" 90000
gv get "$K" --range 0-99 -o "$T/outside.got"
want_range outside 0 99
expect_rc "get --range over a replica rotten outside the range exits 0" 0
expect_same_file "get --range, rot outside the range: the right bytes" "$T/outside.want" "$T/outside.got"
gv stat "$K" --json
jcheck "get --range verifies the whole replica: rot outside the range is found" \
	"[r['healthy'] for r in j['replicas'] if r['sector'] == '$S1'] == [False]"

K=$(fresh twobad) || { fail "set-up: put"; finish; }
must flip_byte "$(nth_replica "$K" 1)" 10
must flip_byte "$(nth_replica "$K" 2)" 20
gv get "$K" --range 5-2004 -o "$T/twobad.got"
want_range twobad 5 2004
expect_rc "get --range with all but one replica rotten exits 0" 0
expect_same_file "get --range, all but one rotten: the right bytes" "$T/twobad.want" "$T/twobad.got"

K=$(fresh linked) || { fail "set-up: put"; finish; }
S1=$(read_order "$K") && S1=${S1%%$'\n'*}
must symlink_replica "$K" 1
gv get "$K" --range 0-999 -o "$T/linked.got"
want_range linked 0 999
expect_rc "get --range over a symlinked replica exits 0" 0
expect_same_file "get --range over a symlinked replica: the blob's bytes" "$T/linked.want" "$T/linked.got"
gv stat "$K" --json
jcheck "get --range: the symlinked replica is marked unhealthy (not a regular file)" \
	"[(r['healthy'], r.get('reason')) for r in j['replicas'] if r['sector'] == '$S1'] == [(False, 'not a regular file')]"
gv get "$K" -o "$T/linked.full"
expect_same_file "full get over a symlinked replica: the blob's bytes" "$T/linked" "$T/linked.full"

K=$(fresh alllinked) || { fail "set-up: put"; finish; }
for n in 1 2 3; do must symlink_replica "$K" "$n"; done
gvx get "$K" --range 0-999 >"$T/alllinked.got" 2>"$T/.err"
rc=$?
if [ "$rc" != 0 ]; then ok "get --range, every replica symlinked: fails (exit $rc)"; else
	fail "get --range, every replica symlinked: fails" "non-zero exit" "exit 0"; fi
expect_eq "get --range, every replica symlinked: not one byte served" 0 "$(fsize "$T/alllinked.got")"

# Above 8 MiB a range is not verified first, but a symlink is still never
# followed.
K=$(randfile "$T/big" $((9 << 20)) && put_ok "$T/big") || { fail "set-up: put"; finish; }
must randfile "$T/evil" $((9 << 20))
must symlink_replica "$K" 1
gv get "$K" --range 4096-8191 -o "$T/big.got"
want_range big 4096 8191
expect_rc "get --range of a 9 MiB blob over a symlinked replica exits 0" 0
expect_same_file "get --range of a 9 MiB blob over a symlinked replica: the blob's bytes" \
	"$T/big.want" "$T/big.got"
must randfile "$T/evil" "$SIZE"

# ---- HTTP Range against serve ----------------------------------------------------

# hget KEY RANGE OUT: GET with a Range header; prints the status code.
hget() {
	curl -s --noproxy '*' -o "$3" -w '%{http_code}' -H "Range: bytes=$2" \
		"$SERVE_URL/v1/blobs/$1"
}

must serve_start "$T/serve.log"

K=$(fresh hrot) || { fail "set-up: put"; finish; }
must flip_byte "$(nth_replica "$K" 1)" 300
want_range hrot 0 999
expect_eq "HTTP Range over a rotten replica answers 206" 206 "$(hget "$K" 0-999 "$T/hrot.got")"
expect_same_file "HTTP Range over a rotten replica: the right bytes" "$T/hrot.want" "$T/hrot.got"

K=$(fresh hlinked) || { fail "set-up: put"; finish; }
must symlink_replica "$K" 1
want_range hlinked 100 1099
expect_eq "HTTP Range over a symlinked replica answers 206" 206 \
	"$(hget "$K" 100-1099 "$T/hlinked.got")"
expect_same_file "HTTP Range over a symlinked replica: the blob's bytes" "$T/hlinked.want" "$T/hlinked.got"

K=$(fresh hall) || { fail "set-up: put"; finish; }
for n in 1 2 3; do must symlink_replica "$K" "$n"; done
code=$(hget "$K" 0-999 "$T/hall.got")
expect_match "HTTP Range, every replica symlinked: an error status" '^5' "$code"
if cmp -s -n 1000 "$T/evil" "$T/hall.got"; then
	fail "HTTP Range, every replica symlinked: the symlink target is not served" \
		"an error body" "the bytes of $T/evil"
else
	ok "HTTP Range, every replica symlinked: the symlink target is not served"
fi
serve_stop

finish
