#!/usr/bin/env bash
# tests/s3_run.sh CMD ARGS...: run CMD with a throwaway S3-compatible server
# (tests/s3.sh) started before and stopped after, with bucket "gvtest";
# CMD finds it through $GV_TEST_S3_ENDPOINT and the AWS_* credentials.
# Exits with CMD's status, or 1 when the server cannot start (a missing
# node or npm fails, never skips).
set -u
. "$(dirname "$0")/s3.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gv-s3.XXXXXX") || exit 1
trap '_s3_reap; rmdir "$dir" 2>/dev/null' EXIT
s3_start "$dir/s3" gvtest || exit 1
export GV_TEST_S3_ENDPOINT=$S3_ENDPOINT GV_TEST_S3_BUCKET=gvtest
"$@"
