#!/usr/bin/env bash
# One contract: `graviton X --json` on the data directory, the same command
# with --server URL, and the matching HTTP request answer the same document
# (field names and value types; values may differ where they depend on the
# run, e.g. durations and job numbers) - put, stat, status, sector list,
# repair --dry-run, scrub, scrub --presence, rebalance --dry-run, repair queue, sector add, set-health,
# drain --dry-run and remove, ls (raw keys), gc --dry-run, and errors (an
# unknown key, a malformed key, a wrong token, no server, an unknown sector,
# a sector id taken, rm of an unknown key).  An error under --json is the
# error document {error, message, status, exit_code} on stdout with that
# exit code, and the server answers the same document with that status.
. "$(dirname "$0")/lib.sh"

unset GRAVITON_SERVER GRAVITON_TOKEN
CC=$(dirname "$HTTP_CHECK")/contract_check.py
C=$T/c
mkdir -p "$C"
MISSING=sha256:$(printf '0%.0s' $(seq 64)):1

gv init
expect_rc "init" 0
randfile "$T/a" 5000
randfile "$T/b" 7000

# run_as SIDE NAME ARGS...: graviton ARGS (--json given by the caller),
# stdout to $C/NAME.SIDE.json, exit status to $C/NAME.SIDE.rc.
run_as() {
	local side=$1 name=$2
	shift 2
	gv "$@"
	printf '%s\n' "$OUT" >"$C/$name.$side.json"
	echo "$RC" >"$C/$name.$side.rc"
}

commands() {
	local side=$1
	shift
	run_as "$side" put "$@" put --json "$T/$([ "$side" = local ] && echo a || echo b)"
	[ "$side" = local ] && K=$(jget 'j["key"]' "$(cat "$C/put.local.json")")
	run_as "$side" stat "$@" stat "$K" --json
	run_as "$side" status "$@" status --json
	run_as "$side" sectors "$@" sector list --json
	# one copy short, so the repair plan has an event
	S=$(jget 'j["replicas"][0]' "$(cat "$C/put.local.json")")
	gv sector set-health "$S" unhealthy
	run_as "$side" repair "$@" repair --dry-run --json
	gv sector set-health "$S" healthy
	run_as "$side" scrub "$@" scrub --once --json
	run_as "$side" presence "$@" scrub --presence --json
	run_as "$side" rebalance "$@" rebalance --dry-run --json
	run_as "$side" queue "$@" repair queue --json
	run_as "$side" err_missing "$@" stat "$MISSING" --json
	run_as "$side" err_key "$@" stat sha256:00:1 --json
	# sectors: a new one (x_local, x_remote) added, marked, removed; a
	# drain planned on a sector holding a replica
	run_as "$side" sector_add "$@" sector add "x_$side" --path "$C/x_$side" --json
	run_as "$side" sector_health "$@" sector set-health "x_$side" unhealthy --json
	run_as "$side" sector_drain "$@" sector drain "$S" --dry-run --json
	run_as "$side" sector_remove "$@" sector remove "x_$side" --json
	run_as "$side" err_sector_missing "$@" sector set-health nope unhealthy --json
	run_as "$side" err_sector_exists "$@" sector add s01 --path "$C/s01_$side" --json
	run_as "$side" err_drain_missing "$@" sector drain nope --json
	run_as "$side" ls "$@" ls --limit 1 --json
	run_as "$side" gc "$@" gc --dry-run --json
	run_as "$side" err_rm_missing "$@" rm "$MISSING" --json
}
SECTOR_CMDS="sector_add sector_health sector_drain sector_remove"

# ---- on the data directory ------------------------------------------------

commands local
for n in put stat status sectors repair scrub presence rebalance queue ls gc $SECTOR_CMDS; do
	expect_eq "local $n --json exits 0" 0 "$(cat "$C/$n.local.rc")"
done

# ---- against a server, and over HTTP ----------------------------------------

must serve_start "$T/serve.log"
commands remote --server "$SERVE_URL"
for n in put stat status sectors repair scrub presence rebalance queue ls gc $SECTOR_CMDS; do
	expect_eq "--server $n --json exits 0" 0 "$(cat "$C/$n.remote.rc")"
done
GRAVITON_TOKEN=wrong-token run_as remote err_token --server "$SERVE_URL" status --json
run_as remote err_down --server http://127.0.0.1:1 status --json
http_as() { "$PY" "$CC" http "$SERVE_URL" "$C" "$K" "$MISSING" "$T/b" "$@" >>"$T/http.out" 2>&1; }
http_as put stat status sectors
r1=$?
gv sector set-health "$S" unhealthy
http_as repair
r2=$?
gv sector set-health "$S" healthy
http_as scrub presence rebalance queue err_missing err_key err_token ls gc err_rm_missing
r3=$?
CONTRACT_DRAIN=$S http_as $SECTOR_CMDS err_sector_missing err_sector_exists err_drain_missing
expect_eq "the HTTP requests ran" "0 0 0 0" "$r1 $r2 $r3 $?"
for n in sector_add:201 sector_health:200 sector_drain:200 sector_remove:200; do
	expect_eq "HTTP ${n%%:*}: status" "${n##*:}" "$(cat "$C/${n%%:*}.http.status")"
done

# ---- the documents ----------------------------------------------------------

cp "$C/err_token.remote.json" "$C/err_token.local.json"
"$PY" "$CC" compare "$C" put stat status sectors repair scrub presence rebalance queue err_missing err_key \
	err_token ls gc err_rm_missing $SECTOR_CMDS err_sector_missing err_sector_exists err_drain_missing \
	>"$T/cmp.out" 2>&1
while IFS= read -r line; do
	case $line in
	"ok   - "*) ok "${line#ok   - }" ;;
	"FAIL - "*) fail "${line#FAIL - }" "same fields and types" "see above" ;;
	*) note "$line" ;;
	esac
done <"$T/cmp.out"

jcheck "put: replicas are sector ids, replica_count their number" \
	"isinstance(j['replicas'], list) and all(isinstance(x, str) for x in j['replicas']) and len(j['replicas']) == j['replica_count']" \
	"$(cat "$C/put.local.json")"
for side in local remote http; do
	jcheck "stat ($side): each replica has its ranges and missing_ranges (none: whole)" \
		"all(r['ranges'] == '0-%d' % (j['size'] - 1) and r['missing_ranges'] == '' for r in j['replicas'])" \
		"$(cat "$C/stat.$side.json")"
done
for side in local remote http; do
	jcheck "repair --dry-run ($side): a job document with the planned copy, duration in ms" \
		"j['kind'] == 'repair' and j['dry_run'] is True and j['state'] == 'done' and 'duration_ms' in j['summary'] and 'duration_s' not in j['summary'] and len(j['events']) >= 1 and j['events'][0]['phase'] == 'planned'" \
		"$(cat "$C/repair.$side.json")"
done

for side in local remote http; do
	jcheck "repair queue ($side): entries, queued and dead counts" \
		"isinstance(j['entries'], list) and isinstance(j['queued'], int) and isinstance(j['dead'], int) and not isinstance(j['dead'], bool)" \
		"$(cat "$C/queue.$side.json")"
done

# ---- errors: one document, one HTTP status, one exit code ----------------------

# err_check NAME ERROR STATUS EXIT: the error document of every side names
# ERROR with STATUS and EXIT, and each side exited (or answered) with them.
err_check() {
	local name=$1 err=$2 status=$3 code=$4 side

	for side in local remote; do
		[ -f "$C/$name.$side.rc" ] || continue
		expect_eq "$name ($side): exit status" "$code" "$(cat "$C/$name.$side.rc")"
		jcheck "$name ($side): the error document {error: $err, status: $status, exit_code: $code}" \
			"j == {'error': '$err', 'message': j['message'], 'status': $status, 'exit_code': $code} and j['message']" \
			"$(cat "$C/$name.$side.json")"
	done
	if [ -f "$C/$name.http.status" ]; then
		expect_eq "$name (HTTP): status" "$status" "$(cat "$C/$name.http.status")"
		jcheck "$name (HTTP): the same error document" \
			"j['error'] == '$err' and j['status'] == $status and j['exit_code'] == $code" \
			"$(cat "$C/$name.http.json")"
	fi
}
err_check err_missing not_found 404 66
err_check err_key invalid_key 400 65
err_check err_token unauthorized 401 77
err_check err_down unreachable 503 69
err_check err_sector_missing not_found 404 66
err_check err_sector_exists exists 409 73
err_check err_drain_missing not_found 404 66
err_check err_rm_missing not_found 404 66
for side in local remote http; do
	jcheck "ls ($side): a page of one key, next its key when more follow" \
		"len(j['keys']) == 1 and j['next'] in (None, j['keys'][0])" "$(cat "$C/ls.$side.json")"
	jcheck "gc --dry-run ($side): a gc job document" \
		"j['kind'] == 'gc' and j['dry_run'] is True and j['state'] == 'done' and j['summary']['dry_run'] is True" \
		"$(cat "$C/gc.$side.json")"
done
for side in local remote http; do
	jcheck "sector add ($side): the new sector, active and healthy" \
		"j['id'].startswith('x_') and j['state'] == 'active' and j['healthy'] is True" \
		"$(cat "$C/sector_add.$side.json")"
	jcheck "sector set-health ($side): the sector, now unhealthy" \
		"j['id'].startswith('x_') and j['healthy'] is False" \
		"$(cat "$C/sector_health.$side.json")"
	jcheck "sector drain --dry-run ($side): a drain job document with planned moves off $S" \
		"j['kind'] == 'drain' and j['dry_run'] is True and j['state'] == 'done' and len(j['events']) >= 1 and all(e['phase'] == 'planned' and e['from'] == '$S' for e in j['events'])" \
		"$(cat "$C/sector_drain.$side.json")"
	jcheck "sector remove ($side): {id, removed}" \
		"j == {'id': j['id'], 'removed': True} and j['id'].startswith('x_')" \
		"$(cat "$C/sector_remove.$side.json")"
done
gv sector list --json
jcheck "the added sectors are gone, $S still active" \
	"not any(s['id'].startswith('x_') for s in j) and [s['state'] for s in j if s['id'] == '$S'] == ['active']" "$OUT"

serve_stop
expect_eq "the server exits 0" 0 "$SERVE_RC"
finish
