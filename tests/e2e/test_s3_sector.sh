#!/usr/bin/env bash
# An s3 sector beside two local ones, zone-aware (docs/s3-sectors.md), on
# a real S3-compatible server with SigV4 checking (tests/s3.sh): 24 blobs
# of 0 B to 12 MiB (multipart above 5 MiB) put and read back, a local
# sector lost and the bucket serving the reads, repair restoring the local
# copies from the bucket, scrub verifying the bucket's copies, and `index
# rebuild` from the local sectors plus the bucket listing restoring every
# row.  test_s3_sector_slow.sh runs the same with 100 blobs up to 100 MiB.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_sector_lib.sh"

s3_e2e 5MiB 24 $((12 * 1024 * 1024))
