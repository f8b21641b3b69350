#!/usr/bin/env bash
# Round trips through the real binary: put/get of empty, 1-byte and 1 MiB
# files (to -o FILE, into a pipe, into a redirected file), put from stdin,
# idempotent re-put, range reads, and the JSON contracts of stat, status
# and sector list; --help on every command.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init again on the same layout succeeds" 0

# ---- put / get -------------------------------------------------------------

: >"$T/empty"
printf 'x' >"$T/one"
must randfile "$T/mib" 1048576

for f in empty one mib; do
	want=$(key_of "$T/$f")
	gv put "$T/$f"
	expect_rc "put $f" 0
	expect_eq "put $f prints exactly the key" "$want" "$OUT"

	rm -f "$T/$f.o"
	gv get "$want" -o "$T/$f.o"
	expect_rc "get $f -o FILE" 0
	expect_eq "get $f -o FILE prints nothing on stdout" "" "$OUT"
	expect_same_file "get $f -o FILE: identical bytes" "$T/$f" "$T/$f.o"
	left=$(find "$T" -maxdepth 1 -name "$f.o.*")
	expect_eq "get $f -o FILE leaves no temporary file" "" "$left"

	gvx get "$want" 2>"$T/.err" | cat >"$T/$f.pipe"
	rc=$?
	expect_eq "get $f into a pipe exits 0" 0 "$rc"
	expect_same_file "get $f into a pipe: identical bytes" "$T/$f" "$T/$f.pipe"

	gvx get "$want" >"$T/$f.redir" 2>"$T/.err"
	rc=$?
	expect_eq "get $f > FILE exits 0" 0 "$rc"
	expect_same_file "get $f > FILE: identical bytes" "$T/$f" "$T/$f.redir"
done

K_empty=$(key_of "$T/empty")
K_one=$(key_of "$T/one")
K_mib=$(key_of "$T/mib")

# -o over an existing file replaces it
printf 'old content that is longer than one byte\n' >"$T/over"
gv get "$K_one" -o "$T/over"
expect_rc "get -o over an existing file" 0
expect_same_file "get -o replaces the existing file's content" "$T/one" "$T/over"

# --output long form
rm -f "$T/long.o"
gv get "$K_mib" --output "$T/long.o"
expect_rc "get --output FILE" 0
expect_same_file "get --output FILE: identical bytes" "$T/mib" "$T/long.o"

# ---- put from stdin --------------------------------------------------------

must randfile "$T/stdin-file" 70000
want=$(key_of "$T/stdin-file")
got=$(gvx put - <"$T/stdin-file" 2>"$T/.err")
rc=$?
expect_eq "put - from a redirected file exits 0" 0 "$rc"
expect_eq "put - from a redirected file prints the key" "$want" "$got"

must randfile "$T/stdin-pipe" 300000
want=$(key_of "$T/stdin-pipe")
got=$(cat "$T/stdin-pipe" | gvx put - 2>"$T/.err")
rc=$?
expect_eq "put - from a pipe exits 0" 0 "$rc"
expect_eq "put - from a pipe prints the key" "$want" "$got"
rm -f "$T/stdin-pipe.o"
gv get "$want" -o "$T/stdin-pipe.o"
expect_same_file "blob stored from a pipe reads back identical" "$T/stdin-pipe" "$T/stdin-pipe.o"

got=$(printf '' | gvx put - 2>"$T/.err")
expect_eq "put - of empty stdin gives the empty key" "$K_empty" "$got"

# ---- idempotent re-put -----------------------------------------------------

inodes() { # the identity and times of every file under sectors/
	find "$D/sectors" -type f -printf '%p %i %s %T@ %C@\n' | sort
}
snapshot "$T/before-reput"
sed -n '/^## tree/,$p' "$T/before-reput" >"$T/files-before"
index_rows() { # what the index says about blobs and replicas (not when they were verified)
	sqlite3 "$D/graviton.db" "select key, size from blobs order by key;
		select key, sector, size, ranges, complete, healthy, reason from replicas order by key, sector"
}
rows_before=$(index_rows)
inodes >"$T/inodes-before"
gv put "$T/mib"
expect_rc "re-put of the same file" 0
expect_eq "re-put prints the same key" "$K_mib" "$OUT"
got=$(cat "$T/mib" | gvx put - 2>/dev/null)
expect_eq "re-put of the same bytes through stdin prints the same key" "$K_mib" "$got"
inodes >"$T/inodes-after"
if diff -q "$T/inodes-before" "$T/inodes-after" >/dev/null; then
	ok "re-put rewrites no replica file (same inodes, sizes, times)"
else
	fail "re-put rewrites no replica file" "no file created or rewritten" \
		"$(diff "$T/inodes-before" "$T/inodes-after" | head -n 6 | tr '\n' ' ')"
fi
snapshot "$T/after-reput"
sed -n '/^## tree/,$p' "$T/after-reput" >"$T/files-after"
if diff -q "$T/files-before" "$T/files-after" >/dev/null; then
	ok "re-put creates, changes and removes no file under the data dir"
else
	fail "re-put creates no file" "the same files" "$(diff "$T/files-before" "$T/files-after" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
fi
expect_eq "re-put adds no blob or replica to the index" "$rows_before" "$(index_rows)"
n=$(replica_files "$K_mib" | wc -l)
expect_eq "1 MiB blob has exactly 3 replica files" 3 "$n"

# ---- range reads -----------------------------------------------------------

SZ=1048576
range_case() { # range_case SPEC REFERENCE-COMMAND...
	local spec=$1
	shift
	"$@" >"$T/range.want" 2>/dev/null
	gvx get "$K_mib" --range "$spec" >"$T/range.got" 2>"$T/.err"
	local rc=$?
	if [ "$rc" != 0 ]; then
		fail "get --range $spec" "exit status 0" "exit status $rc: $(head -c 300 "$T/.err")"
		return
	fi
	expect_same_file "get --range $spec returns exactly those bytes" "$T/range.want" "$T/range.got"
}
range_case 0-0 head -c 1 "$T/mib"
range_case 0-1023 head -c 1024 "$T/mib"
range_case 100-199 dd if="$T/mib" bs=1 skip=100 count=100 status=none
range_case 4095-8192 dd if="$T/mib" iflag=skip_bytes,count_bytes skip=4095 count=4098 status=none
range_case 1000000- tail -c +1000001 "$T/mib"
range_case 0- cat "$T/mib"
range_case -100 tail -c 100 "$T/mib"
range_case -1 tail -c 1 "$T/mib"
range_case "-$SZ" cat "$T/mib"
range_case "$((SZ - 1))-$((SZ - 1))" tail -c 1 "$T/mib"
range_case "0-$((SZ - 1))" cat "$T/mib"
range_case "524288-$((SZ - 1))" tail -c 524288 "$T/mib"

# --range=A-B form, range to -o FILE
rm -f "$T/r.o"
gv get "$K_mib" --range=10-19 -o "$T/r.o"
expect_rc "get --range=10-19 -o FILE" 0
dd if="$T/mib" bs=1 skip=10 count=10 status=none >"$T/r.want"
expect_same_file "get --range=10-19 -o FILE: exactly those bytes" "$T/r.want" "$T/r.o"

# range on the 1-byte blob
gvx get "$K_one" --range 0-0 >"$T/r1" 2>/dev/null
expect_same_file "get --range 0-0 of the 1-byte blob" "$T/one" "$T/r1"
gvx get "$K_one" --range -1 >"$T/r1" 2>/dev/null
expect_same_file "get --range -1 of the 1-byte blob" "$T/one" "$T/r1"

# ---- stat --json -----------------------------------------------------------

for f in empty one mib; do
	k=$(key_of "$T/$f")
	n=$(fsize "$T/$f")
	gv stat "$k" --json
	expect_rc "stat $f --json" 0
	jcheck "stat $f: key and size" "j['key'] == '$k' and j['size'] == $n and type(j['size']) is int"
	jcheck "stat $f: target_replicas 3, healthy_replicas 3" \
		"j['target_replicas'] == 3 and j['healthy_replicas'] == 3"
	jcheck "stat $f: 3 replicas in 3 distinct sectors" \
		"len(j['replicas']) == 3 and len(set(r['sector'] for r in j['replicas'])) == 3"
	jcheck "stat $f: every replica has sector, healthy, ranges, last_verified, reason" \
		"all(set(['sector','healthy','ranges','last_verified','reason']) <= set(r) for r in j['replicas'])"
	jcheck "stat $f: replicas healthy (true), no reason" \
		"all(r['healthy'] is True and not r['reason'] for r in j['replicas'])"
	if [ "$n" -gt 0 ]; then
		jcheck "stat $f: every replica holds 0-$((n - 1))" \
			"all(r['ranges'] == '0-$((n - 1))' for r in j['replicas'])"
	else
		jcheck "stat $f: ranges is a string" "all(isinstance(r['ranges'], str) for r in j['replicas'])"
	fi
	jcheck "stat $f: last_verified set after the write" \
		"all(r['last_verified'] not in (None, '', 0) for r in j['replicas'])"
	secs=$(jget '" ".join(sorted(r["sector"] for r in j["replicas"]))')
	files=0
	for s in $secs; do
		[ -f "$(replica_path "$k" "$s")" ] && files=$((files + 1))
	done
	expect_eq "stat $f: each replica's file is at sectors/<id>/objects/ab/<hex>-<size>" 3 "$files"
done

gv stat "$K_mib"
expect_rc "stat (text)" 0
expect_match "stat (text) names the key" "$K_mib" "$OUT"

# ---- status --json ---------------------------------------------------------

gv status --json
expect_rc "status --json" 0
jcheck "status: all contract fields are integers" \
	"all(type(j[f]) is int for f in ['blobs','replicas','under_replicated','over_replicated','healthy_replicas','unhealthy_replicas'])"
# empty, one, mib, stdin-file, stdin-pipe
jcheck "status: 5 blobs, 15 replicas, all healthy" \
	"j['blobs'] == 5 and j['replicas'] == 15 and j['healthy_replicas'] == 15 and j['unhealthy_replicas'] == 0"
jcheck "status: nothing under- or over-replicated" \
	"j['under_replicated'] == 0 and j['over_replicated'] == 0"
gv status
expect_rc "status (text)" 0

# ---- sector list --json ----------------------------------------------------

gv sector list --json
expect_rc "sector list --json" 0
jcheck "sector list: an array of 6 objects" "isinstance(j, list) and len(j) == 6"
jcheck "sector list: every field present" \
	"all(set(['id','kind','path','capacity','used','healthy','rack','zone','state']) <= set(s) for s in j)"
jcheck "sector list: field types" \
	"all(isinstance(s['id'], str) and isinstance(s['kind'], str) and isinstance(s['path'], str) and type(s['capacity']) is int and type(s['used']) is int and s['healthy'] is True and isinstance(s['rack'], str) and isinstance(s['zone'], str) and isinstance(s['state'], str) for s in j)"
jcheck "sector list: distinct ids, 3 racks, 3 zones, all active fs sectors" \
	"len(set(s['id'] for s in j)) == 6 and len(set(s['rack'] for s in j)) == 3 and len(set(s['zone'] for s in j)) == 3 and all(s['state'] == 'active' and s['kind'] == 'fs' for s in j)"
jcheck "sector list: capacity > 0 and used <= capacity" \
	"all(s['capacity'] > 0 and 0 <= s['used'] <= s['capacity'] for s in j)"
jcheck "sector list: used counts the stored bytes (>= 3 x 1 MiB in all)" \
	"sum(s['used'] for s in j) >= 3 * 1048576"
paths_ok=1
for p in $(jget '" ".join(s["path"] for s in j)'); do
	case $p in /*) ;; *) p=$D/$p ;; esac # relative to the data directory
	[ -d "$p" ] && [ -f "$p/GRAVITON-SECTOR" ] || paths_ok=0
done
expect_eq "sector list: every path is a directory with a GRAVITON-SECTOR identity" 1 "$paths_ok"
gv sector list
expect_rc "sector list (text)" 0

# ---- --help ----------------------------------------------------------------

NODIR=$T/no-such-data-dir
help_case() {
	run "$GV" --data-dir "$NODIR" "$@"
	if [ "$RC" = 0 ] && grep -qi usage <<<"$OUT"; then
		ok "graviton $* exits 0 with usage on stdout"
	else
		fail "graviton $*" "exit 0 and usage on stdout" "exit $RC, stdout: $(printf '%s' "$OUT" | head -c 200), stderr: $(printf '%s' "$ERR" | head -c 200)"
	fi
}
help_case --help
help_case -h
help_case help
help_case init --help
help_case sector --help
help_case sector add --help
help_case sector list --help
help_case sector set-health --help
help_case put --help
help_case put -h
help_case get --help
help_case stat --help
help_case status --help
help_case placement --help
help_case placement explain --help
if [ -e "$NODIR" ]; then
	fail "--help creates nothing" "no $NODIR" "it exists"
else
	ok "--help creates nothing"
fi

run "$GV" --version
expect_rc "--version exits 0" 0

finish
