#!/usr/bin/env bash
# kill -9 of serve during uploads, deletes and collections, 20 rounds of
# 200 operations (gc_crash_lib.sh).
ROUNDS=20 OPS=200
. "$(dirname "$0")/gc_crash_lib.sh"
