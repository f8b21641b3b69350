#!/usr/bin/env bash
# Range-level repair at scale: one rotten 1 MiB block in a 1 GiB blob is
# repaired by rewriting about one block (ranges_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/blocks_lib.sh"
. "$E2E_DIR/ranges_lib.sh"

blocks_setup
range_repair_check $((1024 * MiB)) $((700 * MiB + 4321))
finish
