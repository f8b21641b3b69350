#!/usr/bin/env bash
# test_s3_sector.sh at full size: 100 blobs of 0 B to 100 MiB, the
# default multipart threshold (64 MiB).
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_sector_lib.sh"

s3_e2e 64MiB 100 $((100 * 1024 * 1024))
