#!/usr/bin/env bash
# A lost disk is replaced by one command: `sector replace OLD NEW --path DIR`
# registers NEW in OLD's rack and zone and retires OLD; `repair --once` then
# brings every blob back to its factor, readable.  `set-health OLD healthy`
# on the lost root says to use it; a disk that still answers is refused.
. "$(dirname "$0")/lib.sh"

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
: >"$T/list"
for i in $(seq 1 12); do
	must randfile "$T/f$i" $((i * 7000 + 11))
	put_ok "$T/f$i" >/dev/null || finish
	echo "$T/f$i" >>"$T/list"
done

# A working disk is not replaced (drain it instead), and nothing changes.
snapshot "$T/before"
gv sector replace s02 s07 --path "$D/sectors/s07"
expect_fail "replace a reachable sector" 65 'still reachable.*drain'
expect_unchanged "... changes nothing" "$T/before"

# s01's disk is lost.
rm -rf "$D/sectors/s01"
gv sector set-health s01 healthy
expect_fail "set-health healthy on the lost root" 66 'sector replace s01 NEW --path DIR'
gv sector replace s01 s07
expect_fail "replace without --path" 64 '--path DIR is required'
gv sector replace s01 s01 --path "$D/sectors/s07"
expect_fail "replace by itself" 65 'cannot replace itself'

gv sector replace s01 s07 --path "$D/sectors/s07"
expect_rc "sector replace s01 s07" 0
expect_match "... tells to run repair" "graviton repair --once" "$ERR"
gv sector list --json
expect_eq "s01 is retired" retired "$(jget "[s['state'] for s in j if s['id'] == 's01'][0]")"
expect_eq "s07 takes s01's rack and zone" "rack-1 zone-1" \
	"$(jget "' '.join([(s['rack'], s['zone']) for s in j if s['id'] == 's07'][0])")"
expect_eq "s07 is active and healthy" "active True" \
	"$(jget "' '.join(str(x) for x in [(s['state'], s['healthy']) for s in j if s['id'] == 's07'][0])")"

gv repair --once
expect_rc "repair --once" 0
if out=$(verify_blobs "$T/list" 3 3 2); then
	ok "every blob is back at factor 3 and reads back"
else
	fail "every blob is back at factor 3 and reads back" "no bad blob" "$out"
fi
n=0
for i in $(seq 1 12); do
	grep -qx s01 <<<"$(replica_sectors "$(key_of "$T/f$i")")" && n=$((n + 1))
done
expect_eq "no replica row on s01 is left" 0 "$n"
gv sector remove s01
expect_rc "the retired s01 can be removed" 0

# --repair runs the repair at once.
rm -rf "$D/sectors/s03"
gv sector replace s03 s08 --path "$D/sectors/s08" --repair
expect_rc "sector replace s03 s08 --repair" 0
expect_match "... reports the repair" 'repair: .* 0 lost, 0 failed' "$ERR"
if out=$(verify_blobs "$T/list" 3 3 2); then
	ok "after --repair every blob is at factor 3 and reads back"
else
	fail "after --repair every blob is at factor 3 and reads back" "no bad blob" "$out"
fi
finish
