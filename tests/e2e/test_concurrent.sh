#!/usr/bin/env bash
# Several graviton commands on one data directory at the same time (as a
# shell script or cron job easily does): readers and writers all succeed,
# nothing is marked unhealthy because another process happens to have a
# sector open, and every byte on disk is accounted for in the index.
. "$(dirname "$0")/lib.sh"

# fresh_store NAME: a new data directory of 6 sectors, so that each part
# starts healthy whatever the one before did.
fresh_store() {
	D=$T/store-$1
	gv init --sectors 6 --racks 3 --zones 3
	[ "$RC" = 0 ] || { fail "init $1" "exit 0" "exit $RC: $ERR"; finish; }
}

all_healthy() { # all_healthy DESC
	gv sector list --json
	jcheck "$1" "len(j) == 6 and all(s['healthy'] for s in j)"
}

# wait_all DESC PIDS...: every background command exited 0.
wait_all() {
	local desc=$1 pid rc bad=""
	shift
	for pid in "$@"; do
		wait "$pid"
		rc=$?
		[ "$rc" = 0 ] || bad+="pid $pid exit $rc; "
	done
	if [ -z "$bad" ]; then
		ok "$desc: all $# exit 0"
	else
		fail "$desc: all exit 0" "exit 0 everywhere" "$bad$(cat "$T"/c.*.err 2>/dev/null | sort | uniq -c | head -n 3 | tr '\n' ' ')"
	fi
}

# ---- readers ---------------------------------------------------------------

fresh_store readers
KEYS=()
for i in 1 2 3 4; do
	must randfile "$T/f$i" $((i * 50000))
	k=$(put_ok "$T/f$i") || { fail "put f$i"; finish; }
	KEYS+=("$k")
done

pids=()
for i in 1 2 3 4 5 6 7 8; do
	k=${KEYS[$(((i - 1) % 4))]}
	gvx stat "$k" --json >"$T/c.stat.$i" 2>"$T/c.stat.$i.err" &
	pids+=($!)
	gvx get "$k" -o "$T/c.get.$i" 2>"$T/c.get.$i.err" &
	pids+=($!)
done
wait_all "8 stat and 8 get at once" "${pids[@]}"
same=0
for i in 1 2 3 4 5 6 7 8; do
	cmp -s "$T/f$(((i - 1) % 4 + 1))" "$T/c.get.$i" && same=$((same + 1))
done
expect_eq "the 8 concurrent gets return the right bytes" 8 "$same"
all_healthy "after concurrent reads every sector is still healthy"
gv status --json
jcheck "after concurrent reads every replica is still healthy" \
	"j['unhealthy_replicas'] == 0 and j['healthy_replicas'] == 12"
rm -f "$T"/c.*

# ---- writers ---------------------------------------------------------------

fresh_store writers

pids=()
for i in 1 2 3 4; do
	must randfile "$T/w$i" $((i * 30000 + 7))
	gvx put "$T/w$i" >"$T/c.put.$i" 2>"$T/c.put.$i.err" &
	pids+=($!)
done
gvx status --json >/dev/null 2>"$T/c.status.err" &
pids+=($!)
wait_all "4 puts and a status at once" "${pids[@]}"
good=0
for i in 1 2 3 4; do
	k=$(cat "$T/c.put.$i")
	[ "$k" = "$(key_of "$T/w$i")" ] || continue
	gv stat "$k" --json
	[ "$(jget "j['healthy_replicas']")" = 3 ] && good=$((good + 1))
done
expect_eq "each concurrent put printed its key and has 3 healthy replicas" 4 "$good"
all_healthy "after concurrent writes every sector is still healthy"
rm -f "$T"/c.*

# ---- the same content from three writers -----------------------------------

fresh_store same

must randfile "$T/same" 200000
KS=$(key_of "$T/same")
pids=()
for i in 1 2 3; do
	gvx put "$T/same" >"$T/c.same.$i" 2>"$T/c.same.$i.err" &
	pids+=($!)
done
wait_all "3 puts of the same bytes at once" "${pids[@]}"
expect_eq "they all print the same key" "$KS $KS $KS" "$(cat "$T"/c.same.1 "$T"/c.same.2 "$T"/c.same.3 | tr '\n' ' ' | sed 's/ $//')"
gv stat "$KS" --json
n_idx=$(jget "len(j['replicas'])" 2>/dev/null || echo 0)
n_disk=$(replica_files "$KS" | wc -l)
if [ "$n_idx" -ge 3 ] && [ "$n_idx" = "$n_disk" ]; then
	ok "the index records every copy on disk ($n_idx replicas, $n_disk files)"
else
	fail "the index records every copy on disk" ">= 3 replicas, as many files" "$n_idx in the index, $n_disk files"
fi
rm -f "$T/same.o"
gv get "$KS" -o "$T/same.o"
expect_same_file "and the blob reads back" "$T/same" "$T/same.o"
strays=$(find "$D/sectors" -mindepth 2 -maxdepth 2 \( -name tmp -o -name partial \) -exec find {} -mindepth 1 \;)
expect_eq "no temporary file left in any sector" "" "$strays"
all_healthy "at the end every sector is still healthy"

finish
