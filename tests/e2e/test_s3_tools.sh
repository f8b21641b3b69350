#!/usr/bin/env bash
# The S3 front door with rclone (sync and check both ways, a changed file
# noticed) and s3cmd (mb, put small and multipart, ls, get, del) from
# Debian, every byte compared.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_lib.sh"

LOG=$T/serve.log
must s3_start "$LOG"
printf 'hello, graviton\n' >"$T/small.txt"

# ---- rclone -----------------------------------------------------------------------
mkdir -p "$T/rc/a/b"
for i in $(seq 1 40); do must randfile "$T/rc/a/f$i" $((i * 997)); done
printf 'deep\n' >"$T/rc/a/b/deep"
must randfile "$T/rc/mid" $((20 << 20))
s3rclone sync "$T/rc" g:rclone/set
expect_rc "rclone sync up" 0
s3rclone check "$T/rc" g:rclone/set
expect_rc "rclone check local -> S3 (sizes and MD5s)" 0
s3rclone sync g:rclone/set "$T/rc.back"
expect_rc "rclone sync down" 0
s3rclone check g:rclone/set "$T/rc.back"
expect_rc "rclone check S3 -> local" 0
run diff -r "$T/rc" "$T/rc.back"
expect_rc "rclone's round trip: every byte" 0
printf 'changed\n' >"$T/rc/a/f1"
s3rclone check "$T/rc" g:rclone/set
expect_true "rclone check sees a changed file" [ "$RC" != 0 ]

# ---- s3cmd -------------------------------------------------------------------------
s3cmd mb s3://s3cmd-bucket
expect_rc "s3cmd mb" 0
s3cmd put "$T/rc/mid" s3://s3cmd-bucket/dir/mid
expect_rc "s3cmd put (20 MiB: multipart)" 0
s3cmd put "$T/small.txt" s3://s3cmd-bucket/small.txt
expect_rc "s3cmd put small" 0
s3cmd ls s3://s3cmd-bucket
expect_match "s3cmd ls: the prefix" 'DIR +s3://s3cmd-bucket/dir/' "$OUT"
expect_match "s3cmd ls: the object" 's3://s3cmd-bucket/small.txt' "$OUT"
s3cmd get s3://s3cmd-bucket/dir/mid "$T/s3cmd.back"
expect_same_file "s3cmd get: the same bytes" "$T/rc/mid" "$T/s3cmd.back"
s3cmd del s3://s3cmd-bucket/dir/mid
expect_rc "s3cmd del" 0
s3cmd ls -r s3://s3cmd-bucket
expect_eq "s3cmd ls after del" 1 "$(printf '%s\n' "$OUT" | grep -c s3://)"

run grep -F -e "$S3_SK" "$LOG"
expect_rc "no secret key in the server's log" 1
serve_stop
expect_eq "serve stops cleanly" 0 "$SERVE_RC"
finish
