#!/usr/bin/env bash
# A copied data directory works on its own sectors only: sector paths under
# the data directory are kept relative to it, so after `cp -a data data2`,
# put, repair and delete in data2 leave every file of data bit-identical.
# Each store has a cluster id, written into its sectors' identities: a
# directory of another cluster is refused by `sector add` unless --adopt,
# and a registered sector naming another cluster is unavailable.  A data
# directory from before cluster ids gets one on first open.
. "$(dirname "$0")/lib.sh"

checksums() { (cd "$1" && find . -type f ! -name 'graviton.db*' -print0 | sort -z | xargs -0 sha256sum); }

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
for i in 1 2 3 4; do
	must randfile "$T/f$i" $((i * 30000))
	KEYS[$i]=$(put_ok "$T/f$i") || fail "put f$i"
done
gv sector list --json
expect_match "sector paths are relative to the data directory" '"sectors/s01"' "$OUT"
expect_match "sector identities carry the cluster id" '^cluster=[0-9a-f-]{36}$' \
	"$(grep cluster= "$D/sectors/s01/GRAVITON-SECTOR")"

cp -a "$D" "$T/data2"
checksums "$D" >"$T/before"
D2=$T/data2
# Make data2 work: a new blob, a factor change and repair (which adds and
# trims copies), a delete (CLI, since the HTTP API needs a server).
must randfile "$T/g" 50000
run "$GV" --data-dir "$D2" put "$T/g"
expect_rc "put in the copy" 0
run "$GV" --data-dir "$D2" placement set --factor 4
run "$GV" --data-dir "$D2" repair --once
expect_rc "repair in the copy (factor 4)" 0
run "$GV" --data-dir "$D2" placement set --factor 2
run "$GV" --data-dir "$D2" repair --once
expect_rc "repair in the copy (factor 2, trims)" 0
rm -f "$D2/sectors/s01/objects"/*/*
run "$GV" --data-dir "$D2" repair --once
expect_rc "repair in the copy after its s01 lost files" 0
checksums "$D" >"$T/after"
if diff -q "$T/before" "$T/after" >/dev/null; then
	ok "every file of the original is bit-identical"
else
	fail "every file of the original is bit-identical" "no change" "$(diff "$T/before" "$T/after" | head -5)"
fi
for i in 1 2 3 4; do
	gv get "${KEYS[$i]}" -o "$T/o$i"
	expect_same_file "the original still serves f$i" "$T/f$i" "$T/o$i"
done

# Another store's sector.
run "$GV" --data-dir "$T/other" init --sectors 1 --racks 1 --zones 1
expect_rc "init another store" 0
before_id=$(cat "$T/other/sectors/s01/GRAVITON-SECTOR")
gv sector add s07 --path "$T/other/sectors/s01"
expect_fail "sector add of another cluster's directory is refused" 73 "another cluster"
expect_eq "... and its identity is untouched" "$before_id" "$(cat "$T/other/sectors/s01/GRAVITON-SECTOR")"
gv sector add s07 --path "$T/other/sectors/s01" --adopt
expect_rc "sector add --adopt takes it over" 0
expect_eq "--adopt rewrites the identity's cluster" \
	"$(grep cluster= "$D/sectors/s01/GRAVITON-SECTOR")" "$(grep cluster= "$T/other/sectors/s01/GRAVITON-SECTOR")"
# Its identity now names us; the other store finds it refused.
run "$GV" --data-dir "$T/other" sector list --json
expect_match "the other store reports its sector unhealthy" '"healthy": false' "$OUT"
run "$GV" --data-dir "$T/other" sector set-health s01 healthy
expect_fail "... and cannot mark it healthy: another cluster" 73 "another cluster"

# index rebuild keeps the cluster id and ignores another cluster's sector.
cid=$(grep cluster= "$D/sectors/s02/GRAVITON-SECTOR")
run "$GV" --data-dir "$T/third" init --sectors 1 --racks 1 --zones 1
cp -a "$T/third/sectors/s01" "$D/sectors/zz"
gv index rebuild --force
expect_rc "index rebuild" 0
expect_match "rebuild skips the other cluster's sector" 'another cluster' "$ERR"
gv placement set --json
expect_eq "rebuild keeps the cluster id" "${cid#cluster=}" "$(jget "j['cluster']")"
gv sector list --json
expect_eq "rebuild registers only this cluster's sectors, relative" \
	"sectors/s01 sectors/s02 sectors/s03 sectors/s04 sectors/s05 sectors/s06" \
	"$(jget "' '.join(sorted(s['path'] for s in j))")"
rm -rf "$D/sectors/zz"

# A store from before cluster ids: absolute paths, no id anywhere.
run "$GV" --data-dir "$T/old" init --sectors 3 --racks 3 --zones 3
must randfile "$T/h" 40000
KH=$(key_of "$T/h")
run "$GV" --data-dir "$T/old" put "$T/h"
sqlite3 "$T/old/graviton.db" "DELETE FROM settings WHERE name = 'cluster.id';
	UPDATE sectors SET path = '$T/old/' || path;"
sed -i '/^cluster=/d' "$T/old/sectors/"*/GRAVITON-SECTOR
cp -a "$T/old" "$T/oldcopy"
checksums "$T/old" >"$T/before.old"
run "$GV" --data-dir "$T/oldcopy" repair --once
expect_rc "an old store's copy opens and repairs" 0
run "$GV" --data-dir "$T/oldcopy" sector list --json
expect_match "its absolute paths into the original become its own, relative" '"sectors/s01"' "$OUT"
checksums "$T/old" >"$T/after.old"
expect_eq "the old original's files are untouched" "$(cat "$T/before.old")" "$(cat "$T/after.old")"
run "$GV" --data-dir "$T/old" get "$KH" -o "$T/oh"
expect_same_file "the old store opens and reads" "$T/h" "$T/oh"
expect_match "and its sectors get its cluster id" '^cluster=' "$(grep cluster= "$T/old/sectors/s01/GRAVITON-SECTOR")"

finish
