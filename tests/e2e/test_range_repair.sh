#!/usr/bin/env bash
# Range-level repair: one byte flipped at 30 MiB in one replica of a 40 MiB
# blob; a range read takes the block out of that replica's ranges (stat
# shows it as missing_ranges), and repair rewrites that one block in place
# instead of copying 40 MiB (ranges_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/blocks_lib.sh"
. "$E2E_DIR/ranges_lib.sh"

blocks_setup
range_repair_check $((40 * MiB)) "$ROT"
finish
