#!/usr/bin/env bash
# The configuration's repair, scrub and rebalance sections apply to the CLI
# commands as they do to `serve`; flags given on the line override them.
. "$(dirname "$0")/lib.sh"

gv init --sectors 3 --racks 3 --zones 3 --capacity 40MiB
expect_rc "init 3 sectors of 40 MiB" 0
[ "$RC" = 0 ] || finish
for i in $(seq 1 12); do
	must randfile "$T/f$i" $((600000 + i * 1000))
	must put_ok "$T/f$i" >/dev/null
done
for r in 1 2 3; do
	gv sector add "s0$((r + 3))" --path "$D/sectors/s0$((r + 3))" --capacity 40MiB \
		--rack "rack-$r" --zone "zone-$r"
	expect_rc "sector add s0$((r + 3)), empty" 0
done

cat >"$T/conf" <<CONF
graviton.data-dir = "$D"
graviton.replication.repair { parallel-jobs = 3, batch-size = 7 }
graviton.replication.scrub { parallel-reads = 5 }
graviton.replication.rebalance { threshold = 0.99, max-moves-per-run = 2 }
CONF

# ---- repair ------------------------------------------------------------------
gv --config "$T/conf" --log-level info repair --once
expect_rc "repair --once with the configuration" 0
expect_match "repair runs with the configuration's parallel-jobs (3)" \
	'event=repair_start .*parallel_jobs=3' "$ERR"
gv --config "$T/conf" --log-level info repair --once --parallel-jobs 2
expect_match "--parallel-jobs 2 overrides the configuration" \
	'event=repair_start .*parallel_jobs=2' "$ERR"

# ---- scrub -------------------------------------------------------------------
gv --config "$T/conf" --log-level info scrub --once
expect_rc "scrub --once with the configuration" 0
expect_match "scrub runs with the configuration's parallel-reads (5)" \
	'event=scrub_start parallel_reads=5' "$ERR"
gv --config "$T/conf" --log-level info scrub --once --parallel-reads 4
expect_match "--parallel-reads 4 overrides the configuration" \
	'event=scrub_start parallel_reads=4' "$ERR"

# ---- rebalance ---------------------------------------------------------------
# Three sectors ~20% full, three empty: a spread of ~0.2.
gv --config "$T/conf" rebalance --dry-run --json
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --dry-run with the configuration" 0
jcheck "the configuration's threshold (0.99) leaves nothing to do" \
	'j["nothing_to_do"] is True and j["planned"] == 0' \
	"$(printf '%s\n' "$OUT" | grep '"event":"summary"' | tail -n 1)"
gv --config "$T/conf" rebalance --dry-run --json --threshold 0.01
OUT=$(printf '%s\n' "$OUT" | job_lines)
jcheck "--threshold 0.01 overrides it; the configuration's max-moves-per-run (2) caps the plan" \
	'j["nothing_to_do"] is False and j["planned"] == 2' \
	"$(printf '%s\n' "$OUT" | grep '"event":"summary"' | tail -n 1)"
gv rebalance --dry-run --json --threshold 0.01
OUT=$(printf '%s\n' "$OUT" | job_lines)
jcheck "without the configuration the default cap (100) plans more than 2 moves" \
	'j["planned"] > 2' "$(printf '%s\n' "$OUT" | grep '"event":"summary"' | tail -n 1)"

# ---- a bad configuration changes nothing -------------------------------------
printf 'graviton.replication.repair.parallel-jobs = many\n' >"$T/bad.conf"
gv --config "$T/bad.conf" repair --once
expect_fail "a bad configuration is refused before any work" 78 'bad.conf:1'

finish
