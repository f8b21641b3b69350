#!/usr/bin/env bash
# Races on one key and index failures on the write path:
#   - identical puts at the same moment, some missing the quorum (a 15 ms
#     write timeout): every acknowledged blob reads back;
#   - a re-put after the replica files vanished stores the bytes again;
#   - with the index's disk full, puts fail with a clear error and no
#     replica row points at missing bytes.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish
cat >"$T/fast.conf" <<'CONF'
graviton { replication { write-timeout = 15ms } }
CONF

# rows_without_bytes [DB]: replica rows whose file is missing (one per line).
rows_without_bytes() {
	local k s

	if ! sqlite3 "${1:-$D/graviton.db}" "select key || ' ' || sector from replicas" >"$T/rows"; then
		echo "sqlite3 cannot read the index"
		return
	fi
	while read -r k s; do
		[ -n "$(replica_file "$k" "$s")" ] || echo "$k $s"
	done <"$T/rows"
}

# ---- identical puts, some missing the quorum ---------------------------------

N=6
acked=0 lost=0 nfail=0
for round in $(seq 1 20); do
	must randfile "$T/r$round" $((2 * 1024 * 1024 + round))
	k=$(key_of "$T/r$round")
	for i in $(seq 1 $N); do
		"$GV" --data-dir "$D" --config "$T/fast.conf" put "$T/r$round" \
			>"$T/p$i.out" 2>"$T/p$i.err" </dev/null &
	done
	any=0
	wait
	for i in $(seq 1 $N); do
		if [ "$(cat "$T/p$i.out")" = "$k" ]; then any=1; else nfail=$((nfail + 1)); fi
	done
	[ "$any" = 1 ] || continue
	acked=$((acked + 1))
	if ! "$GV" --data-dir "$D" get "$k" >"$T/back" 2>"$T/get.err" ||
		! cmp -s "$T/back" "$T/r$round"; then
		lost=$((lost + 1))
		note "round $round: acknowledged $k does not read back: $(cat "$T/get.err")"
	fi
done
note "$acked of 20 rounds acknowledged at least one put; $nfail of $((20 * N)) puts failed"
expect_eq "every acknowledged blob reads back" 0 "$lost"
expect_eq "no replica row without its file" "" "$(rows_without_bytes)"

# ---- a re-put after the files vanished ------------------------------------

must randfile "$T/v" 300000
KV=$(put_ok "$T/v") || { fail "put before the files vanish"; finish; }
replica_files "$KV" | xargs rm -f --
gv put "$T/v"
expect_rc "re-put after the files vanished" 0
gv get "$KV" -o "$T/v.back"
expect_rc "get after the re-put" 0
expect_same_file "the re-put blob reads back" "$T/v" "$T/v.back"
gv stat "$KV" --json
jcheck "stat shows 3 healthy copies" "j['healthy_replicas'] == 3"

# ---- the index's disk fills up during puts -----------------------------------

if [ "$(id -u)" = 0 ] && mkdir -p "$T/ixfs" && mount -t tmpfs -o size=2m tmpfs "$T/ixfs"; then
	trap 'rc=$?; umount "$T/ixfs" 2>/dev/null; (exit $rc); _on_exit' EXIT
	D=$T/full
	cat >"$T/full.conf" <<CONF
graviton { index { path = "$T/ixfs/graviton.db" } }
CONF
	run "$GV" --data-dir "$D" --config "$T/full.conf" init --sectors 3 --racks 3 --zones 3
	expect_rc "init with the index on a 2 MiB tmpfs" 0
	# Fill the tmpfs, leaving a little room, so that the index grows into
	# a full disk after a few puts.
	dd if=/dev/zero of="$T/ixfs/filler" bs=4k count=2000 2>/dev/null
	failed=0
	for i in $(seq 1 200); do
		head -c 2000 /dev/urandom >"$T/s$i"
		if ! "$GV" --data-dir "$D" --config "$T/full.conf" put "$T/s$i" \
			>/dev/null 2>"$T/full.err" </dev/null; then
			failed=1
			break
		fi
	done
	expect_eq "a put fails once the index's disk is full" 1 "$failed"
	expect_match "the failure says why" "full|space|disk|index" "$(cat "$T/full.err")"
	rm -f "$T/ixfs/filler"
	expect_eq "no replica row points at missing bytes" "" "$(rows_without_bytes "$T/ixfs/graviton.db")"
	umount "$T/ixfs"
	trap _on_exit EXIT
else
	note "skipped the full index disk (needs root and tmpfs)"
fi

finish
