#!/usr/bin/env bash
# tests/pg_run.sh CMD ARGS...: run CMD with a throwaway PostgreSQL server
# (tests/pg.sh) started before and stopped after; CMD finds it through
# $GV_TEST_PG_URL.  Exits with CMD's status, or 1 when the server cannot
# start (missing PostgreSQL binaries fail, never skip).
set -u
. "$(dirname "$0")/pg.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gv-pg.XXXXXX") || exit 1
trap '_pg_reap; rmdir "$dir" 2>/dev/null' EXIT
pg_start "$dir/pg" || exit 1
"$@"
