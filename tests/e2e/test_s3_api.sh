#!/usr/bin/env bash
# The S3 front door's API in detail, with boto3 and a signer of the test's
# own (tests/e2e/s3_check.py): Range and conditional GETs, metadata,
# Content-MD5 and the signed payload hash (refused, nothing stored),
# aws-chunked uploads with their chunk signatures, a skewed clock,
# virtual-host-style requests, listings in pages (delimiter, continuation
# tokens, markers), DeleteObjects, CopyObject, multipart with its errors,
# read-only and one-bucket keys, bucket rules.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_lib.sh"

must s3_start "$T/serve.log"
/usr/bin/python3 "$E2E_DIR/s3_check.py" "$S3_URL" "$S3_AK" "$S3_SK" "$S3_RO_AK" "$S3_RO_SK" \
	"$S3_ONE_AK" "$S3_ONE_SK" >"$T/check.out" 2>"$T/check.out.err" </dev/null
pyreport "$T/check.out" $? s3_check
# a reload (SIGHUP) replaces the keys for the next request
list_status() { # AK SK: the HTTP status of ListBuckets with that key
	/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import s3_sign
print(s3_sign.send(sys.argv[2], "GET", "/", ak=sys.argv[3], sk=sys.argv[4])[0])' \
		"$E2E_DIR" "$S3_URL" "$1" "$2"
}
expect_eq "before the reload: the old secret works" 200 "$(list_status "$S3_AK" "$S3_SK")"
sed -i "s/$S3_SK/new-secret-9876543210/" "$T/s3.conf"
kill -HUP "$SERVE_PID"
for ((i = 0; i < 100; i++)); do
	[ "$(list_status "$S3_AK" new-secret-9876543210)" = 200 ] && break
	sleep 0.1
done
expect_eq "after the reload: the new secret works" 200 "$(list_status "$S3_AK" new-secret-9876543210)"
expect_eq "... and the old one is refused" 403 "$(list_status "$S3_AK" "$S3_SK")"
run grep -F -e "$S3_SK" -e "$S3_RO_SK" -e "$S3_ONE_SK" -e new-secret-9876543210 "$T/serve.log"
expect_rc "no secret key in the server's log" 1
serve_stop
expect_eq "serve stops cleanly" 0 "$SERVE_RC"
finish
