# tests/e2e/ranges_lib.sh - the range-level repair scenario shared by
# test_range_repair.sh and test_range_repair_slow.sh (sourced after lib.sh
# and blocks_lib.sh).
#
# range_repair_check SIZE OFFSET: a blob of SIZE bytes (1 MiB blocks) with
# one byte flipped at OFFSET in the replica read first.  A verified range
# read over it returns the right bytes and takes the block out of that
# replica's ranges: stat --json (local, --server, HTTP) shows the block as
# its missing_ranges.  Repair then rewrites that block in place: the file
# keeps its inode, at most two blocks are written (the repair's own
# figure, and the kernel's count of bytes the repair process wrote), and
# the replica is whole, healthy and byte-for-byte right.

range_repair_check() {
	local size=$1 off=$2 f=$T/blob k bad file ino a b lo hi out io

	must randfile "$f" "$size"
	k=$(put_ok "$f") || { fail "set-up: put"; return; }
	bad=$(read_order "$k" | sed -n 1p)
	file=$(replica_file "$k" "$bad") || { fail "set-up: replica file"; return; }
	flip_byte "$file" "$off" || { fail "set-up: flip"; return; }
	ino=$(stat -c %i "$file")

	a=$((off - 100)) b=$((off + 100))
	want_range "$f" "$a" "$b"
	gv get "$k" --range "$a-$b" -o "$f.got"
	expect_same_file "get --range over the rotten block: the right bytes" "$f.want" "$f.got"

	lo=$((off / MiB * MiB)) hi=$((off / MiB * MiB + MiB - 1))
	[ "$hi" -lt "$size" ] || hi=$((size - 1))
	gv stat "$k" --json
	jcheck "stat --json: the rotten block is the replica's missing_ranges" \
		"[r['missing_ranges'] for r in j['replicas'] if r['sector'] == '$bad'] == ['$lo-$hi'] and all(r['missing_ranges'] == '' for r in j['replicas'] if r['sector'] != '$bad')"
	jcheck "stat --json: its ranges are the rest" \
		"[r['ranges'] for r in j['replicas'] if r['sector'] == '$bad'] == ['$( [ "$lo" -gt 0 ] && printf '0-%d,' $((lo - 1)))$( [ "$hi" -lt $((size - 1)) ] && printf '%d-%d' $((hi + 1)) $((size - 1)))'.rstrip(',')]"
	printf 'graviton.replication.repair.enabled = false\ngraviton.replication.scrub.enabled = false\n' >"$T/noloops.conf"
	must serve_start "$T/serve.log" --config "$T/noloops.conf"
	gv --server "$SERVE_URL" stat "$k" --json
	jcheck "stat --server --json: the same missing_ranges" \
		"[r['missing_ranges'] for r in j['replicas'] if r['sector'] == '$bad'] == ['$lo-$hi']"
	out=$(curl -s --noproxy '*' "$SERVE_URL/v1/blobs/$k/replicas")
	jcheck "GET /v1/blobs/KEY/replicas: the same missing_ranges" \
		"[r['missing_ranges'] for r in j['replicas'] if r['sector'] == '$bad'] == ['$lo-$hi']" "$out"
	serve_stop

	# The repair, its written bytes counted by the kernel (wait4's
	# ru_oublock: 512-byte units, counted as pages are dirtied).
	io=$("$PY" - "$GV" "$D" "$T/repair.json" <<'PYEOF'
import os, sys
gv, d, out = sys.argv[1:4]
pid = os.fork()
if pid == 0:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.execv(gv, [gv, "--data-dir", d, "repair", "--once", "--json"])
_, status, ru = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_oublock * 512)
PYEOF
)
	expect_eq "repair exits 0" 0 "${io%% *}"
	jcheck "repair: about one block copied (bytes_copied <= 2 MiB)" \
		"0 < j['summary']['bytes_copied'] <= 2 * $MiB" "$(tail -n 1 "$T/repair.json")"
	expect_true "repair: the process wrote at most 2 blocks (+1 MiB of index): ${io#* } bytes" \
		[ "${io#* }" -le $((3 * MiB)) ]
	expect_eq "repair rewrote the block in place (same inode)" "$ino" "$(stat -c %i "$file")"
	expect_true "the repaired replica holds the blob's bytes" cmp -s "$f" "$file"
	gv stat "$k" --json
	jcheck "after repair: every replica healthy and whole" \
		"len(j['replicas']) == 3 and all(r['healthy'] and r['missing_ranges'] == '' for r in j['replicas'])"
	gv get "$k" -o "$f.all"
	expect_same_file "after repair: get returns the blob" "$f" "$f.all"
}
