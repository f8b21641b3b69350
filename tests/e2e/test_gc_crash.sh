#!/usr/bin/env bash
# kill -9 of serve during uploads, deletes and collections, 3 rounds of 40
# operations (gc_crash_lib.sh); test_gc_crash_slow.sh runs 20 of 200.
ROUNDS=3 OPS=40
. "$(dirname "$0")/gc_crash_lib.sh"
