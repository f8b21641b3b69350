#!/usr/bin/env bash
# `make demo` (scripts/demo.sh) runs to its end and leaves the store
# healthy: after losing a sector and a byte of another copy, it replaces
# the disk, repairs and scrubs, so every blob is back at its factor and
# every sector is healthy (it used to stop with blobs under-replicated).
source "$(dirname "$0")/lib.sh"

DEMO=$E2E_DIR/../../scripts/demo.sh
if DEMO_DIR=$T/demo bash "$DEMO" "$GV" >"$T/demo.out" 2>&1; then
	ok "make demo runs to its end"
else
	fail "make demo runs to its end" "exit 0" "$(tail -n 5 "$T/demo.out")"
fi
D=$T/demo/data
run "$GV" --data-dir "$D" status --json
jcheck "the store is healthy: no blob under-replicated or lost" \
	"j['blobs'] == 3 and j['under_replicated'] == 0 and j['lost'] == 0 and j['unhealthy_replicas'] == 0"
run "$GV" --data-dir "$D" sector list --json
jcheck "every sector is healthy and active" \
	"len(j) == 6 and all(s['healthy'] and s['state'] == 'active' for s in j)"
expect_match "the demo ends on the healthy status" 'under-replicated: +0' "$(tail -n 8 "$T/demo.out")"
finish
