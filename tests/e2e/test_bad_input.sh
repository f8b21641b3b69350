#!/usr/bin/env bash
# Bad input gets a clear message on stderr, the documented exit code
# (sysexits: 64 usage, 65 data, 66 no input, 73 cannot create) and changes
# nothing: the index and every file under the data directory are the same
# before and after.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish
printf '0123456789' >"$T/ten"
K10=$(put_ok "$T/ten") || { fail "put ten"; finish; }
must randfile "$T/kib" 1024
KK=$(put_ok "$T/kib") || { fail "put kib"; finish; }
HEX=$(key_hex "$K10")
mkdir -p "$T/outs"

SNAP=$T/snap
snapshot "$SNAP"

# bad DESC CODES MSG_RE ARGS...: `graviton --data-dir D ARGS` exits with one
# of CODES (a regex like 64 or 65|66), says something matching MSG_RE on
# stderr, prints nothing on stdout, writes nothing into $T/outs and
# changes neither the index nor any file under the data directory.
bad() {
	local desc=$1 want=$2 re=$3 problems="" d
	shift 3

	gv "$@"
	[[ $RC =~ ^($want)$ ]] || problems+="exit $RC, expected $want; "
	if [ -z "$ERR" ]; then
		problems+="nothing on stderr; "
	elif ! grep -Eqi -- "$re" <<<"$ERR"; then
		problems+="stderr does not match /$re/; "
	fi
	[ -z "$OUT" ] || problems+="stdout not empty: $(head -c 120 <<<"$OUT"); "
	[ -z "$(ls -A "$T/outs")" ] || problems+="output written: $(ls -A "$T/outs" | tr '\n' ' '); "
	snapshot "$T/.snap.now"
	if ! d=$(diff "$SNAP" "$T/.snap.now"); then
		problems+="the data dir or index changed: $(grep '^[<>]' <<<"$d" | head -n 4 | tr '\n' ' '); "
		cp "$T/.snap.now" "$SNAP"
	fi
	rm -rf "$T/outs" && mkdir -p "$T/outs"
	if [ -z "$problems" ]; then
		ok "$desc (exit $RC)"
	else
		fail "$desc" "exit $want, stderr /$re/, nothing changed" \
			"${problems}stderr: $(head -c 300 <<<"$ERR")"
	fi
}

# ---- malformed keys --------------------------------------------------------

H=$HEX
LONG=$(printf 'a%.0s' $(seq 10000))
while IFS='|' read -r what key; do
	for cmd in get stat "placement explain"; do
		# shellcheck disable=SC2086
		bad "$cmd: malformed key ($what)" 65 "key" $cmd "$key"
	done
done <<EOF2
uppercase prefix|SHA256:$H:10
other algorithm|md5:$H:10
no prefix|$H:10
short hex|sha256:${H:0:63}:10
long hex|sha256:${H}a:10
non-hex digit|sha256:${H:0:63}g:10
leading-zero size|sha256:$H:010
trailing junk|sha256:$H:10x
trailing colon|sha256:$H:10:
missing size|sha256:$H
empty size|sha256:$H:
negative size|sha256:$H:-10
huge size|sha256:$H:99999999999999999999999999
size past 2^64|sha256:$H:18446744073709551616
leading space|  sha256:$H:10
10000 characters|sha256:$LONG:10
EOF2
bad "get: empty key" 65 "key" get ""
bad "get -o: malformed key writes no file" 65 "key" get "sha256:${H:0:10}:10" -o "$T/outs/x"

# valid text, unknown key
UNK="sha256:$(printf '%064d' 0):10"
bad "get: unknown key" 66 "no such|not found|unknown" get "$UNK"
bad "get -o: unknown key writes no file" 66 "no such|not found|unknown" get "$UNK" -o "$T/outs/x"
bad "stat: unknown key" 66 "no such|not found|unknown" stat "$UNK"
# under --json the error is also the error document on stdout
gv stat "$UNK" --json
expect_eq "stat --json: unknown key exits 66" 66 "$RC"
expect_match "... with the message on stderr" "no such" "$ERR"
jcheck "... and the error document on stdout" \
	"j['error'] == 'not_found' and j['status'] == 404 and j['exit_code'] == 66"
bad "placement explain: unknown key" 66 "no such|not found|unknown" placement explain "$UNK"
# same digest, other size: a different key
bad "get: known digest with the wrong size" 66 "no such|not found|unknown" get "sha256:$HEX:11"

# ---- malformed ranges ------------------------------------------------------

for r in 5-3 x 10- 11- -0 "" 1-2-3 a-b " 1-2" 2-x 18446744073709551616-1; do
	bad "get --range '$r' (10-byte blob)" 65 "range" get "$K10" --range "$r"
done
bad "get --range=5-3 -o FILE writes no file" 65 "range" get "$K10" --range=5-3 -o "$T/outs/x"
bad "get --range with no value" 64 "range|argument|usage" get "$K10" --range

# ---- malformed sizes -------------------------------------------------------

for c in 10XB -1 1.5GB "" GiB 0x10 10GiBx 99999999999999999999; do
	bad "sector add --capacity '$c'" 64 "capacity|size" sector add s07 --path "$T/outs/s07" --capacity "$c"
	run "$GV" --data-dir "$T/outs/fresh" init --capacity "$c"
	if [ "$RC" = 64 ] && [ -z "$(ls -A "$T/outs")" ] && grep -Eqi 'capacity|size' <<<"$ERR"; then
		ok "init --capacity '$c' on a new dir: exit 64, nothing created"
	else
		fail "init --capacity '$c' on a new dir" "exit 64, a message, no data dir" \
			"exit $RC, created: $(ls -A "$T/outs" | tr '\n' ' '), stderr: $ERR"
	fi
	rm -rf "$T/outs" && mkdir -p "$T/outs"
done

# ---- init on an existing layout, and its counts ----------------------------

bad "init --sectors 5 over a 6-sector layout is refused" 73 "layout|refus" init --sectors 5 --racks 3 --zones 3
bad "init --racks 2 over a 3-rack layout is refused" 73 "layout|refus" init --sectors 6 --racks 2 --zones 3
bad "init --capacity 1GiB over a layout without one is refused" 73 "layout|refus" init --sectors 6 --racks 3 --zones 3 --capacity 1GiB
bad "init --sectors 0 (a gateway) over a layout of local sectors is refused" 73 "layout|refus" init --sectors 0
for v in -1 1001 x 1.5 ""; do
	bad "init --sectors '$v'" 64 "sectors" init --sectors "$v"
done
bad "init --strategy bogus" 64 "strategy" init --strategy bogus
bad "put --factor 0" 64 "factor" put --factor 0 "$T/ten"
bad "put --min-replicas x" 64 "min-replicas" put --min-replicas x "$T/ten"
bad "put --min-racks 0" 64 "min-racks" put --min-racks 0 "$T/ten"

# ---- sector ids ------------------------------------------------------------

ID100=$(printf 'x%.0s' $(seq 100))
for id in "../etc" "a/b" "" "$ID100" ".." "." ".hidden" "a b" "s01;rm" 'a*'; do
	bad "sector add '${id:0:20}'" 64 "sector id|invalid|missing" sector add "$id" --path "$T/outs/sec"
	bad "sector set-health '${id:0:20}' unhealthy" 64 "sector id|invalid|missing" sector set-health "$id" unhealthy
done
bad "sector add --rack '../x'" 64 "rack" sector add s07 --path "$T/outs/sec" --rack "../x"
bad "sector add --zone 'a/b'" 64 "zone" sector add s07 --path "$T/outs/sec" --zone "a/b"
bad "sector set-health of an unknown sector" 66 "nosuch" sector set-health nosuch unhealthy
bad "sector set-health s01 sick" 64 "healthy" sector set-health s01 sick
bad "sector set-health s01 (no state)" 64 "usage|healthy" sector set-health s01

# ---- paths -----------------------------------------------------------------

bad "put of a missing file" 66 "no such file|not found|cannot open" put "$T/no-such-file"
mkdir -p "$T/adir"
bad "put of a directory" "65|66" "directory" put "$T/adir"
bad "get -o into a missing directory" 73 "cannot create|no such" get "$K10" -o "$T/outs/missing/x"
bad "get -o onto a directory" "73|74" "directory|cannot" get "$K10" -o "$T/outs"
bad "sector add --path ''" 64 "path" sector add s07 --path ""
printf 'not a dir' >"$T/afile"
bad "sector add --path onto a regular file" "64|65|66|73|74" "directory|file|exists|cannot" sector add s07 --path "$T/afile"
bad "sector add without --path" 64 "path" sector add s07
bad "sector add of a registered id" 73 "already" sector add s01 --path "$D/sectors/s01"
bad "sector add of another sector's directory" 73 "belongs|identity|another sector" sector add s07 --path "$D/sectors/s01"

# data directory problems
run "$GV" --data-dir "$T/outs/nowhere" stat "$K10"
if [ "$RC" = 66 ] && [ ! -e "$T/outs/nowhere" ] && grep -Eqi 'init|data dir|no such' <<<"$ERR"; then
	ok "stat on a missing data dir: exit 66, nothing created"
else
	fail "stat on a missing data dir" "exit 66, a message, no directory created" "exit $RC, exists: $([ -e "$T/outs/nowhere" ] && echo yes || echo no), stderr: $ERR"
fi
run "$GV" --data-dir "$T/outs/nowhere" put "$T/ten"
if [ "$RC" = 66 ] && [ ! -e "$T/outs/nowhere" ]; then
	ok "put on a missing data dir: exit 66, nothing created"
else
	fail "put on a missing data dir" "exit 66, no directory created" "exit $RC, stderr: $ERR"
fi
rm -rf "$T/outs" && mkdir -p "$T/outs"
run "$GV" --data-dir "$T/afile" status
if [ "$RC" != 0 ] && grep -Eqi 'not a directory' <<<"$ERR" && [ "$(cat "$T/afile")" = "not a dir" ]; then
	ok "a data dir that is a regular file: exit $RC, 'not a directory', file untouched"
else
	fail "a data dir that is a regular file" "non-zero exit, 'not a directory'" "exit $RC, stderr: $ERR"
fi

# ---- unknown commands and options ------------------------------------------

bad "unknown command" 64 "unknown command" frobnicate
bad "no command" 64 "usage|command"
bad "--data-dir without a value" 64 "data-dir" --data-dir
bad "--log-level loud" 64 "log-level" --log-level loud status
bad "put --bogus" 64 "bogus|unexpected|unknown" put --bogus "$T/ten"
bad "put without FILE" 64 "missing|FILE" put
bad "put with two files" 64 "unexpected" put "$T/ten" "$T/ten"
bad "get --bogus" 64 "bogus|unexpected|unknown" get "$K10" --bogus
bad "get without KEY" 64 "missing|KEY" get
bad "get -o without a value" 64 "unexpected|-o" get "$K10" -o
bad "stat --bogus" 64 "bogus|unexpected|unknown" stat "$K10" --bogus
bad "stat without KEY" 64 "missing|KEY" stat
bad "status --bogus" 64 "bogus|unexpected|unknown" status --bogus
bad "init --bogus" 64 "bogus|unexpected|unknown" init --bogus 1
bad "sector without a subcommand" 64 "usage|subcommand|missing" sector
bad "sector frob" 64 "frob|unknown" sector frob
bad "sector list --bogus" 64 "bogus|unknown" sector list --bogus
bad "placement without a subcommand" 64 "usage|subcommand|missing" placement
bad "placement frob" 64 "frob|unknown" placement frob
bad "placement explain without KEY" 64 "missing|KEY" placement explain

# ---- and the store still works ---------------------------------------------

rm -f "$T/ten.o"
gv get "$K10" -o "$T/ten.o"
expect_same_file "after all that, the blobs read back" "$T/ten" "$T/ten.o"
gv status --json
jcheck "after all that, status shows 2 blobs, 6 healthy replicas" \
	"j['blobs'] == 2 and j['healthy_replicas'] == 6 and j['unhealthy_replicas'] == 0"

finish
