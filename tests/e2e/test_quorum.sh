#!/usr/bin/env bash
# Write quorum: with one healthy sector and min-replicas 2, put fails with
# a quorum error (69), records nothing and leaves no stray file.  Copies
# that fail while writing leave nothing behind either.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish
gv status --json
jcheck "defaults: factor 3, min-replicas 2" "j['factor'] == 3 and j['min_replicas'] == 2"

must randfile "$T/base" 12345
BASE=$(put_ok "$T/base") || { fail "baseline put"; finish; }

for s in s02 s03 s04 s05 s06; do
	gv sector set-health "$s" unhealthy
	[ "$RC" = 0 ] || fail "sector set-health $s unhealthy" "exit 0" "exit $RC: $ERR"
done
gv sector list --json
jcheck "only s01 is healthy" "[s['id'] for s in j if s['healthy']] == ['s01']"

# stray_files KEY: anything of KEY, or anything in tmp/ or partial/, under sectors/
stray_files() {
	{
		replica_files "$1"
		find "$D/sectors" -mindepth 2 -maxdepth 2 \( -name tmp -o -name partial \) -type d \
			-exec find {} -mindepth 1 \;
	} | sort
}

# no_trace DESC KEY SNAPSHOT: KEY unknown, status unchanged, nothing on disk.
no_trace() {
	local desc=$1 k=$2 snap=$3

	gv stat "$k"
	expect_rc "$desc: stat says the key is unknown (66)" 66
	expect_match "$desc: stat says not found" "not found|no such|unknown" "$ERR"
	gv status --json
	jcheck "$desc: status still counts 1 blob, 3 replicas" "j['blobs'] == 1 and j['replicas'] == 3"
	n=$(sqlite3 "$D/graviton.db" "select (select count(*) from blobs where key = '$k') + (select count(*) from replicas where key = '$k')")
	expect_eq "$desc: the index holds no blob or replica row for it" 0 "$n"
	expect_eq "$desc: no stray file (no object, tmp/ and partial/ empty)" "" "$(stray_files "$k")"
	expect_unchanged "$desc: index and data dir unchanged" "$snap"
}

# ---- one healthy sector, default strategy ----------------------------------

must randfile "$T/x" 100000
KX=$(key_of "$T/x")
snapshot "$T/snap0"

gv put "$T/x"
expect_fail "put with 1 healthy sector fails (69) with a quorum message" 69 quorum
expect_eq "failed put prints no key on stdout" "" "$OUT"
no_trace "after the failed put" "$KX" "$T/snap0"

gvx put - <"$T/x" >"$T/.out" 2>"$T/.err"
RC=$? OUT=$(cat "$T/.out") ERR=$(cat "$T/.err")
expect_fail "put - (stdin) with 1 healthy sector fails (69) with a quorum message" 69 quorum
no_trace "after the failed put from stdin" "$KX" "$T/snap0"

# re-putting the existing blob cannot meet the quorum either: it has only
# the healthy replicas it has, and nothing may change
gv put "$T/base"
note "re-put of an existing blob with 1 healthy sector: exit $RC: $ERR"

# ---- one healthy sector, simple strategy (no rack rule in the way) ----------

gv init --sectors 6 --racks 3 --zones 3 --strategy simple
expect_rc "switch the cluster to strategy simple" 0
gv status --json
jcheck "strategy simple is kept in the index" "j['strategy'] == 'simple' and j['min_replicas'] == 2"
snapshot "$T/snap1"

gv put "$T/x"
expect_fail "simple strategy, 1 healthy sector: put fails (69) with a quorum message" 69 quorum
no_trace "after the failed simple put" "$KX" "$T/snap1"

# factor 1 would fit one sector; min-replicas 2 still cannot be met
must randfile "$T/y" 5000
KY=$(key_of "$T/y")
gv put --factor 1 --min-replicas 2 "$T/y"
if [ "$RC" = 0 ]; then
	fail "factor 1, min-replicas 2 on 1 healthy sector: put fails" "non-zero exit" "exit 0"
else
	ok "factor 1, min-replicas 2 on 1 healthy sector: put fails (exit $RC: $(printf '%s' "$ERR" | head -c 160))"
fi
gv stat "$KY"
expect_rc "factor 1, min-replicas 2: the key stays unknown" 66
expect_eq "factor 1, min-replicas 2: no stray file" "" "$(stray_files "$KY")"

# ---- copies that fail while writing ----------------------------------------
# All sectors healthy again, but in five of them a regular file sits where
# the key's fan-out directory objects/ab must go, so committing there
# fails.  Whatever sector the primary lands on, the put cannot reach two
# durable copies: it must fail and leave nothing of the key.

# A fresh data directory, all sectors healthy.
D=$T/data2
gv init --sectors 6 --racks 3 --zones 3 --strategy simple
expect_rc "init a second data dir (strategy simple)" 0
must randfile "$T/z" 70000
KZ=$(key_of "$T/z")
HEX=$(key_hex "$KZ")
for s in s02 s03 s04 s05 s06; do
	rmdir "$D/sectors/$s/objects/${HEX:0:2}" 2>/dev/null
	printf 'blocker\n' >"$D/sectors/$s/objects/${HEX:0:2}"
done
sql_rows() { sqlite3 "$D/graviton.db" "select * from blobs order by key; select * from replicas order by key, sector"; }
rows0=$(sql_rows)
tries=0 quorum_seen=0 bad=0
while [ "$tries" -lt 6 ]; do
	tries=$((tries + 1))
	gv put "$T/z"
	case $RC in
	69 | 74) ;;
	*)
		bad=1
		fail "put with 5 sectors unable to commit: attempt $tries fails (69 or 74)" "exit 69 or 74" "exit $RC: $ERR"
		;;
	esac
	grep -qi quorum <<<"$ERR" && quorum_seen=$((quorum_seen + 1))
	[ -n "$ERR" ] || { bad=1; fail "attempt $tries explains the failure on stderr"; }
done
[ "$bad" = 0 ] && ok "put with 5 sectors unable to commit fails every time ($quorum_seen of $tries with a quorum error)"
expect_eq "failed write-time copies: index rows unchanged" "$rows0" "$(sql_rows)"
expect_eq "failed write-time copies: no stray file of the key, tmp/ and partial/ empty" "" "$(stray_files "$KZ")"
gv stat "$KZ"
expect_rc "failed write-time copies: the key stays unknown" 66

for s in s02 s03 s04 s05 s06; do
	rm -f "$D/sectors/$s/objects/${HEX:0:2}"
done
k=$(put_ok "$T/z")
expect_eq "with the blockers gone the same put succeeds" "$KZ" "$k"
gv stat "$KZ" --json
jcheck "and the key has 3 healthy replicas" "j['healthy_replicas'] == 3"

finish
