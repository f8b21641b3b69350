#!/usr/bin/env bash
# One contract: `graviton X --json` on the data directory, the same command
# with --server URL, and the matching HTTP request answer the same document
# (field names and value types; values may differ where they depend on the
# run, e.g. durations and job numbers) - put, stat, status, sector list,
# repair --dry-run, scrub, rebalance --dry-run, and errors (an unknown key,
# a malformed key, a wrong token, no server).  An error under --json is the
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
	run_as "$side" rebalance "$@" rebalance --dry-run --json
	run_as "$side" err_missing "$@" stat "$MISSING" --json
	run_as "$side" err_key "$@" stat sha256:00:1 --json
}

# ---- on the data directory ------------------------------------------------

commands local
for n in put stat status sectors repair scrub rebalance; do
	expect_eq "local $n --json exits 0" 0 "$(cat "$C/$n.local.rc")"
done

# ---- against a server, and over HTTP ----------------------------------------

must serve_start "$T/serve.log"
commands remote --server "$SERVE_URL"
for n in put stat status sectors repair scrub rebalance; do
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
http_as scrub rebalance err_missing err_key err_token
expect_eq "the HTTP requests ran" "0 0 0" "$r1 $r2 $?"

# ---- the documents ----------------------------------------------------------

cp "$C/err_token.remote.json" "$C/err_token.local.json"
"$PY" "$CC" compare "$C" put stat status sectors repair scrub rebalance err_missing err_key \
	err_token >"$T/cmp.out" 2>&1
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

serve_stop
expect_eq "the server exits 0" 0 "$SERVE_RC"
finish
