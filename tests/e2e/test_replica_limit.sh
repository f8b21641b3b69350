#!/usr/bin/env bash
# One replica limit (GV_MAX_REPLICAS, 16) for the configuration, the CLI and
# the stored settings: a factor or quorum above it is refused with a clear
# message and changes nothing; 16 itself works.
. "$(dirname "$0")/lib.sh"

gv init --factor 17
expect_fail "init --factor 17" 64 'factor.*1 to 16'
expect_true "init --factor 17 creates nothing" test ! -e "$D"

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
snapshot "$T/before"

gv placement set --factor 17
expect_fail "placement set --factor 17" 64 'factor.*1 to 16'
gv placement set --min-replicas 17
expect_fail "placement set --min-replicas 17" 64 'min-replicas.*1 to 16'

printf 'graviton.replication.factor = 17\n' >"$T/f17.conf"
gv --config "$T/f17.conf" status
expect_fail "a configuration with factor 17" 78 'graviton.replication.factor.*at most 16, got 17'
expect_unchanged "the refusals change nothing" "$T/before"

gv placement set --json
expect_eq "the stored factor is still 3" 3 "$(jget "j['factor']")"

# 16 copies on 17 sectors.
for i in $(seq -w 1 17); do
	gv sector add "x$i" --path "$T/x$i" --rack "r$i" --capacity 1G
	[ "$RC" = 0 ] || fail "sector add x$i" "exit 0" "exit $RC"
done
gv placement set --factor 16 --min-replicas 16 --strategy simple
expect_rc "placement set --factor 16" 0
must randfile "$T/a" 30000
K=$(key_of "$T/a")
gv put "$T/a"
expect_rc "put at factor 16" 0
gv stat --json "$K"
expect_eq "the blob has 16 copies" 16 "$(jget "len(j['replicas'])")"
gv get "$K" -o "$T/a.out"
expect_rc "get at factor 16" 0
expect_same_file "the blob reads back" "$T/a" "$T/a.out"
finish
