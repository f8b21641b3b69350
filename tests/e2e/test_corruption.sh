#!/usr/bin/env bash
# Damaged replicas: a flipped byte, a truncated file, a deleted file.  A
# full read still returns the right bytes (to a file, into a pipe, into a
# redirected stdout) and marks the bad replica unhealthy with the reason;
# when every replica is bad, get fails clearly and writes nothing.
. "$(dirname "$0")/lib.sh"

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish

# damage_case NAME SIZE HOW READ
#   HOW:  flip:OFFSET | truncate:LEN | delete
#   READ: file | pipe | redirect
# Stores a fresh blob, damages the replica a read tries first, reads it
# back and checks the bytes, the replica's health and its reason.
damage_case() {
	local name=$1 size=$2 how=$3 mode=$4 k s f rc reason want_re

	must randfile "$T/$name" "$size"
	k=$(put_ok "$T/$name") || { fail "$name: put"; return; }
	s=$(read_order "$k") || { fail "$name: stat"; return; }
	s=${s%%$'\n'*}
	f=$(replica_file "$k" "$s")
	if [ -z "$f" ]; then
		fail "$name: replica file of $k in $s" "a file" "none"
		return
	fi
	case $how in
	flip:*)
		must flip_byte "$f" "${how#flip:}"
		if cmp -s "$f" "$T/$name"; then fail "$name: the byte was flipped"; return; fi
		want_re='checksum|digest|sha'
		;;
	truncate:*)
		chmod u+w "$f"
		must truncate -s "${how#truncate:}" "$f"
		want_re='size|short|truncat|length'
		;;
	delete)
		rm -f "$f"
		want_re='missing'
		;;
	esac
	note "$name: $how on the replica in $s ($f)"

	case $mode in
	file)
		rm -f "$T/$name.o"
		gv get "$k" -o "$T/$name.o"
		rc=$RC
		;;
	pipe)
		gvx get "$k" 2>"$T/.err" | cat >"$T/$name.o"
		rc=$?
		ERR=$(cat "$T/.err")
		;;
	redirect)
		gvx get "$k" >"$T/$name.o" 2>"$T/.err"
		rc=$?
		ERR=$(cat "$T/.err")
		;;
	esac
	if [ "$rc" = 0 ]; then
		ok "$name ($how, read to $mode): get exits 0"
	else
		fail "$name ($how, read to $mode): get exits 0" "exit 0" "exit $rc: $ERR"
	fi
	expect_same_file "$name ($how, read to $mode): the right bytes" "$T/$name" "$T/$name.o"

	gv stat "$k" --json
	jcheck "$name: replica in $s marked unhealthy, the two others healthy" \
		"[r['healthy'] for r in j['replicas'] if r['sector'] == '$s'] == [False] and j['healthy_replicas'] == 2"
	reason=$(jget "[r['reason'] for r in j['replicas'] if r['sector'] == '$s'][0]")
	expect_match "$name: the reason names the damage (/$want_re/)" "$want_re" "$reason"
	note "$name: reason recorded: $reason"

	# The next read uses a healthy replica right away.
	rm -f "$T/$name.o2"
	gv get "$k" -o "$T/$name.o2"
	expect_same_file "$name: a second read returns the right bytes" "$T/$name" "$T/$name.o2"
	DAMAGED=$((DAMAGED + 1))
}
DAMAGED=0

damage_case flip-mid 1048576 flip:524288 file
damage_case flip-first 100000 flip:0 pipe
damage_case flip-last 65536 flip:65535 redirect
damage_case flip-small 1 flip:0 file
damage_case truncated 200000 truncate:100000 file
damage_case truncated-pipe 200000 truncate:199999 pipe
damage_case truncated-empty 4096 truncate:0 file
damage_case deleted 50000 delete file
damage_case deleted-pipe 50000 delete pipe

gv status --json
jcheck "status counts the $DAMAGED damaged replicas unhealthy" \
	"j['unhealthy_replicas'] == $DAMAGED and j['under_replicated'] == $DAMAGED"

# ---- every replica bad -----------------------------------------------------

must randfile "$T/doomed" 300000
K=$(put_ok "$T/doomed") || { fail "put doomed"; finish; }
n=0
for s in $(replica_sectors "$K"); do
	f=$(replica_file "$K" "$s")
	[ -n "$f" ] && flip_byte "$f" $((1000 + n * 7919)) && n=$((n + 1))
done
expect_eq "corrupted all 3 replicas" 3 "$n"

rm -f "$T/doomed.o"
gv get "$K" -o "$T/doomed.o"
expect_fail "all replicas corrupted: get -o FILE fails (69) with a clear message" 69 \
	"replica|corrupt|checksum"
if [ -e "$T/doomed.o" ]; then
	fail "all replicas corrupted: no output file" "no $T/doomed.o" "$(fsize "$T/doomed.o") bytes written"
else
	ok "all replicas corrupted: no output file written"
fi
left=$(find "$T" -maxdepth 1 -name 'doomed.o*')
expect_eq "all replicas corrupted: no temporary output left" "" "$left"

printf 'precious\n' >"$T/keep"
gv get "$K" -o "$T/keep"
expect_rc "all replicas corrupted: get -o EXISTING fails" 69
expect_eq "all replicas corrupted: an existing -o target is left untouched" "precious" "$(cat "$T/keep")"

gvx get "$K" 2>"$T/.err" | cat >"$T/doomed.pipe"
rc=$?
expect_eq "all replicas corrupted: get into a pipe exits 69" 69 "$rc"
expect_eq "all replicas corrupted: no byte goes down the pipe" 0 "$(fsize "$T/doomed.pipe")"

gvx get "$K" >"$T/doomed.redir" 2>"$T/.err"
rc=$?
expect_eq "all replicas corrupted: get > FILE exits 69" 69 "$rc"
expect_eq "all replicas corrupted: nothing left in the redirected file" 0 "$(fsize "$T/doomed.redir")"

gv stat "$K" --json
jcheck "all replicas corrupted: stat shows 0 healthy, each with a reason" \
	"j['healthy_replicas'] == 0 and all(r['healthy'] is False and r['reason'] for r in j['replicas'])"

# Range reads never serve bytes from a replica known bad.
gvx get "$K" --range 0-99 >"$T/doomed.range" 2>"$T/.err"
rc=$?
if [ "$rc" != 0 ]; then
	ok "all replicas unhealthy: range read refused (exit $rc)"
else
	fail "all replicas unhealthy: range read refused" "non-zero exit" "exit 0, $(fsize "$T/doomed.range") bytes"
fi

finish
