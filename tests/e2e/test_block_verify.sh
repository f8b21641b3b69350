#!/usr/bin/env bash
# Every byte served is verified against the blob's block table: one byte
# flipped at 30 MiB in two of the three replicas of a 40 MiB blob, and
# `get --range`, HTTP Range and a full HTTP GET still give the right bytes
# (the next replica serves the block) and mark the rotten replicas
# unhealthy with reason "checksum mismatch".  With every copy of a block
# rotten a read fails before any byte of that block.  A store without
# block tables (or with a rotten table row) still reads right.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/blocks_lib.sh"

blocks_setup
SIZE=$((40 * MiB))

# ---- get --range -------------------------------------------------------------

must randfile "$T/a" "$SIZE"
K=$(put_ok "$T/a") || { fail "set-up: put"; finish; }
gv stat "$K" --json
BAD=$(rot "$K" 1 2) || { fail "set-up: rot"; finish; }
A=$((ROT - 5000)) B=$((ROT + 5000))
want_range "$T/a" "$A" "$B"
gv get "$K" --range "$A-$B" -o "$T/a.got"
expect_rc "get --range over two rotten replicas exits 0" 0
expect_same_file "get --range over two rotten replicas: the right bytes" "$T/a.want" "$T/a.got"
expect_marked "get --range: the two rotten replicas are marked (checksum mismatch)" "$K" "$BAD"

# A range of one byte, in a block the rot does not touch, reads one replica.
want_range "$T/a" 100 100
gv get "$K" --range 100-100 -o "$T/a1.got"
expect_same_file "get --range of one byte: the right byte" "$T/a.want" "$T/a1.got"

# ---- every copy of the block rotten ----------------------------------------------

must randfile "$T/c" "$SIZE"
K=$(put_ok "$T/c") || { fail "set-up: put"; finish; }
rot "$K" 1 2 3 >/dev/null || { fail "set-up: rot"; finish; }
gvx get "$K" --range "$((ROT - 10))-$((ROT + 10))" >"$T/c.got" 2>"$T/c.err"
rc=$?
if [ "$rc" != 0 ]; then ok "get --range, every copy of the block rotten: fails (exit $rc)"; else
	fail "get --range, every copy of the block rotten: fails" "non-zero exit" "exit 0"; fi
expect_eq "get --range, every copy rotten: not one byte served" 0 "$(fsize "$T/c.got")"
expect_match "get --range, every copy rotten: the error names the block" "block 30" "$(cat "$T/c.err")"
# A pipe gets the blocks before the rotten one, never a byte of it.
gvx get "$K" 2>"$T/c.err" | cat >"$T/c.full"
n=$(fsize "$T/c.full")
expect_true "full get to a pipe, every copy rotten: stops before block 30 ($n bytes)" \
	[ "$n" -le $((30 * MiB)) ]
expect_true "full get to a pipe, every copy rotten: what went out is right" \
	cmp -s -n "$n" "$T/c" "$T/c.full"

# ---- older stores: no table, or a rotten table row ----------------------------------

must randfile "$T/o" "$SIZE"
K=$(put_ok "$T/o") || { fail "set-up: put"; finish; }
H=$(key_hex "$K")
expect_eq "a put of a 40 MiB blob records its block table (40 digests)" \
	"$((44 + 40 * 32))" "$(sqlite3 "$D/graviton.db" "SELECT length(tab) FROM blocks WHERE key LIKE '%$H%'")"
must sqlite3 "$D/graviton.db" "UPDATE blocks SET tab = zeroblob(length(tab)) WHERE key LIKE '%$H%'"
want_range "$T/o" 1000 999999
gv get "$K" --range 1000-999999 -o "$T/o.got"
expect_same_file "a rotten table row: get --range still right" "$T/o.want" "$T/o.got"
gv get "$K" -o "$T/o.full"
expect_same_file "a rotten table row: full get still right" "$T/o" "$T/o.full"
gv stat "$K" --json
jcheck "a rotten table row marks no replica" "all(r['healthy'] for r in j['replicas'])"
# (scrub exits non-zero: the blobs above still have rotten replicas)
gv scrub --once
expect_eq "scrub rewrites a rotten table row" 0 \
	"$(sqlite3 "$D/graviton.db" "SELECT tab = zeroblob(length(tab)) FROM blocks WHERE key LIKE '%$H%'")"
TAB=$(sqlite3 "$D/graviton.db" "SELECT hex(tab) FROM blocks WHERE key LIKE '%$H%'")
must sqlite3 "$D/graviton.db" "DELETE FROM blocks; DROP TABLE blocks"
gv get "$K" -o "$T/o.full2"
expect_same_file "a store without block tables: full get right" "$T/o" "$T/o.full2"
expect_eq "the next open recreates the (empty) block table" 0 \
	"$(sqlite3 "$D/graviton.db" "SELECT count(*) FROM blocks" 2>&1)"
gv get "$K" --range 1000-999999 -o "$T/o.got2"
expect_same_file "a store without block tables: get --range right" "$T/o.want" "$T/o.got2"
expect_eq "a range read without a table verifies whole and records the table" "$TAB" \
	"$(sqlite3 "$D/graviton.db" "SELECT hex(tab) FROM blocks WHERE key LIKE '%$H%'")"
# A rotten replica in a table-less blob: the range read skips it.
must sqlite3 "$D/graviton.db" "DELETE FROM blocks"
BADO=$(rot "$K" 1) || fail "set-up: rot"
gv get "$K" --range 1000-999999 -o "$T/o.got3"
expect_same_file "without a table, a range over a rotten first replica is right" "$T/o.want" "$T/o.got3"
expect_marked "... and the rotten replica is marked (checksum mismatch)" "$K" "$BADO"
must sqlite3 "$D/graviton.db" "DELETE FROM blocks"
gv scrub --once
expect_eq "scrub writes the missing table, the same as the put wrote" "$TAB" \
	"$(sqlite3 "$D/graviton.db" "SELECT hex(tab) FROM blocks WHERE key LIKE '%$H%'")"

# ---- HTTP ----------------------------------------------------------------------------

must serve_start "$T/serve.log"

must randfile "$T/h" "$SIZE"
K=$(put_ok "$T/h") || { fail "set-up: put"; finish; }
BAD=$(rot "$K" 1 2) || { fail "set-up: rot"; finish; }
A=$((ROT - 70000)) B=$((ROT + 3 * MiB))
want_range "$T/h" "$A" "$B"
expect_eq "HTTP Range over two rotten replicas answers 206" 206 "$(hget "$K" "$A-$B" "$T/h.got")"
expect_same_file "HTTP Range over two rotten replicas: the right bytes" "$T/h.want" "$T/h.got"
expect_marked_log "HTTP Range: the two rotten replicas are marked (checksum mismatch)" \
	"$T/serve.log" "$K" "$BAD"

full_get_check f "$SIZE"

# Every copy rotten: a Range inside the block gets an error status, a
# full GET is cut before any byte of the block.
must randfile "$T/x" "$SIZE"
K=$(put_ok "$T/x") || { fail "set-up: put"; finish; }
rot "$K" 1 2 3 >/dev/null || { fail "set-up: rot"; finish; }
expect_match "HTTP Range, every copy of the block rotten: an error status" '^5' \
	"$(hget "$K" "$((ROT - 10))-$((ROT + 10))" "$T/x.got")"
hget "$K" "" "$T/x.full" >/dev/null
n=$(fsize "$T/x.full")
expect_true "full HTTP GET, every copy rotten: cut before block 30 ($n bytes)" \
	[ "$n" -le $((30 * MiB)) ]
expect_true "full HTTP GET, every copy rotten: what went out is right" \
	cmp -s -n "$n" "$T/x" "$T/x.full"
serve_stop

finish
