#!/usr/bin/env bash
# Usage errors (an unknown flag, a missing or extra argument, a bad value,
# an option --server cannot take): exit 64 with the message on stderr;
# with --json also the error document {error: "usage", message, status:
# 400, exit_code: 64} on stdout, as every other error under --json, and
# nothing else there.  No server is contacted: each line is refused before.
. "$(dirname "$0")/lib.sh"

unset GRAVITON_SERVER GRAVITON_TOKEN
gv init
expect_rc "init" 0

# bad NAME REGEX ARGS...: graviton ARGS is a usage error saying REGEX,
# with and without --json.
bad() {
	local name=$1 re=$2
	shift 2

	gv "$@"
	expect_fail "$name: exit 64, the message on stderr" 64 "$re"
	expect_eq "$name: nothing on stdout without --json" "" "$OUT"
	gv "$@" --json
	expect_fail "$name --json: exit 64, the message on stderr" 64 "$re"
	jcheck "$name --json: the usage error document on stdout, saying why" \
		"j == {'error': 'usage', 'message': j['message'], 'status': 400, 'exit_code': 64} and __import__('re').search(r'''$re''', j['message'], __import__('re').I)"
}

bad "stat without a key" "missing KEY" stat
bad "stat with two keys" "unexpected argument" stat sha256:00:1 extra
bad "put with an unknown flag" "unexpected argument .--bogus" put --bogus
bad "repair with an unknown flag" "unexpected argument .--frobnicate" repair --frobnicate
bad "rebalance with a bad --max-moves" "max-moves" rebalance --max-moves x
bad "rebalance --max-moves with --server" "max-moves.*server" \
	--server http://127.0.0.1:1 rebalance --max-moves 3
bad "sector set-health without a state" "set-health" sector set-health s01
bad "sector drain without an id" "missing ID" sector drain
bad "sector add without --path" "--path" sector add s99
bad "an unknown command" "unknown command .nosuch" nosuch
bad "a bad --log-level" "log-level" --log-level loud status

# --json after "--" is an argument, not the flag
gv stat -- --json
expect_fail "--json after --: a usage error" 64 "unexpected argument"
expect_eq "--json after --: nothing on stdout" "" "$OUT"

# other errors keep their own document
gv stat sha256:$(printf '0%.0s' $(seq 64)):1 --json
jcheck "a missing key under --json: not_found, not usage" "j['error'] == 'not_found' and j['exit_code'] == 66"
expect_rc "a missing key: exit 66" 66
finish
