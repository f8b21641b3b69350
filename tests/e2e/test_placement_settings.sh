#!/usr/bin/env bash
# One source of truth for the cluster's placement settings: the index.
# A --config file given to any command, `placement set` and init store
# them there (logged old -> new), and a later command without them runs
# with what the index holds: a factor-5 blob stored through --config keeps
# its 5 copies through a plain `repair --once`.
. "$(dirname "$0")/lib.sh"

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish

printf 'graviton.replication.factor = 5\n' >"$T/f5.conf"
must randfile "$T/a" 70000
K=$(key_of "$T/a")
gv --config "$T/f5.conf" put "$T/a"
expect_rc "put with a factor-5 configuration" 0
expect_match "the change is logged, old -> new" 'placement_changed.*factor=3->5' "$ERR"
gv stat --json "$K"
expect_eq "the blob has 5 copies" 5 "$(jget "len(j['replicas'])")"

gv repair --once
expect_rc "a plain repair --once (no configuration)" 0
gv stat --json "$K"
expect_eq "repair keeps the 5 copies" 5 "$(jget "len(j['replicas'])")"
gv placement set --json
expect_eq "the index holds factor 5" 5 "$(jget "j['factor']")"

# A configuration without placement keys changes nothing.
printf 'graviton.log.level = warn\n' >"$T/plain.conf"
gv --config "$T/plain.conf" status
expect_rc "a configuration without placement keys" 0
gv placement set --json
expect_eq "... leaves factor 5" 5 "$(jget "j['factor']")"

# placement set: stored, logged, and repair follows it.
gv placement set --factor 3 --json
expect_rc "placement set --factor 3" 0
expect_match "placement set logs the change" 'factor=5->3' "$ERR"
expect_eq "placement set prints the stored factor" 3 "$(jget "j['factor']")"
gv repair --once
gv stat --json "$K"
expect_eq "repair trims to the stored factor 3" 3 "$(jget "len(j['replicas'])")"

gv placement set --min-replicas 9
expect_fail "a quorum above the factor is refused" 65 "min-replicas|factor"
gv placement set --json
expect_eq "... and changes nothing" 2 "$(jget "j['min_replicas']")"
gv --server http://127.0.0.1:1 placement set --factor 2
expect_fail "placement set refuses --server" 64 "server"

finish
