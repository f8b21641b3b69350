#!/usr/bin/env bash
# The S3 front door with aws-cli from Debian: mb, cp small and 200 MiB
# multipart, ls with prefixes, sync of 1,000 files both ways, rm
# --recursive, s3api copy-object, a presigned GET with curl, every byte
# compared (rclone and s3cmd: test_s3_tools.sh).  Refusals: a wrong
# secret, a tampered signature, an expired presigned URL, a read-only key
# writing, no signature at all: each answered with S3's error code, and
# nothing changed.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_lib.sh"

LOG=$T/serve.log
must s3_start "$LOG"
expect_match "serve logs the S3 listener" "event=s3_listening url=$S3_URL" "$(grep s3_listening "$LOG")"

# ---- aws-cli ----------------------------------------------------------------
s3aws s3 mb s3://photos
expect_rc "aws s3 mb" 0
s3aws s3 mb s3://photos
expect_match "mb of an existing bucket: BucketAlreadyOwnedByYou" BucketAlreadyOwnedByYou "$ERR"
printf 'hello, graviton\n' >"$T/small.txt"
must randfile "$T/one.bin" 1
must randfile "$T/mid.bin" 300000
: >"$T/empty"
for f in small.txt one.bin mid.bin empty; do
	s3aws s3 cp "$T/$f" "s3://photos/in/$f" --only-show-errors
	expect_rc "aws s3 cp $f up" 0
	s3aws s3 cp "s3://photos/in/$f" "$T/$f.back" --only-show-errors
	expect_same_file "aws s3 cp $f down: the same bytes" "$T/$f" "$T/$f.back"
done
must randfile "$T/big.bin" $((200 << 20))
s3aws s3 cp "$T/big.bin" s3://photos/big.bin --only-show-errors
expect_rc "aws s3 cp of 200 MiB (multipart)" 0
s3aws s3api head-object --bucket photos --key big.bin
expect_match "the 200 MiB object is a multipart object of its parts" '"PartsCount": [0-9]+' "$OUT"
expect_match "... of 209715200 bytes" '"ContentLength": 209715200' "$OUT"
s3aws s3 cp s3://photos/big.bin "$T/big.back" --only-show-errors
expect_same_file "aws s3 cp of 200 MiB down: the same bytes" "$T/big.bin" "$T/big.back"
rm -f "$T/big.back"

s3aws s3 ls s3://photos/
expect_match "ls at the root: the common prefix" 'PRE in/' "$OUT"
expect_match "ls at the root: the big object" '209715200 big.bin' "$OUT"
s3aws s3 ls s3://photos/in/
expect_eq "ls of a prefix lists its 4 names" 4 "$(printf '%s\n' "$OUT" | grep -c .)"
s3aws s3 ls s3://photos/in/m
expect_match "ls of a partial prefix" 'mid.bin' "$OUT"
expect_eq "... only that name" 1 "$(printf '%s\n' "$OUT" | grep -c .)"

mkdir -p "$T/tree"
for i in $(seq 1 1000); do
	d=$T/tree/d$((i % 7))/e$((i % 3))
	[ -d "$d" ] || mkdir -p "$d"
	printf 'file %d %s\n' "$i" "$RANDOM$RANDOM" >"$d/f$i"
done
s3aws s3 sync "$T/tree" s3://photos/tree --only-show-errors
expect_rc "aws s3 sync of 1,000 files up" 0
s3aws s3 ls --recursive s3://photos/tree/
expect_eq "all 1,000 are listed (pages of 1,000 and more)" 1000 "$(printf '%s\n' "$OUT" | grep -c .)"
s3aws s3 sync s3://photos/tree "$T/tree.back" --only-show-errors
expect_rc "aws s3 sync of 1,000 files down" 0
run diff -r "$T/tree" "$T/tree.back"
expect_rc "the tree came back byte for byte" 0
s3aws s3 sync "$T/tree" s3://photos/tree
expect_eq "a second sync up has nothing to do" "" "$OUT"

s3aws s3api copy-object --bucket photos --key copies/mid-copy.bin --copy-source photos/in/mid.bin
expect_match "s3api copy-object" '"ETag"' "$OUT"
s3aws s3 cp s3://photos/copies/mid-copy.bin "$T/copy.back" --only-show-errors
expect_same_file "the copy reads as the source" "$T/mid.bin" "$T/copy.back"
s3aws s3api copy-object --bucket photos --key copies/big-copy.bin --copy-source photos/big.bin
expect_rc "s3api copy-object of the 200 MiB object" 0
s3aws s3api head-object --bucket photos --key big.bin
BIGHEAD=$(printf '%s\n' "$OUT" | grep -E '"(ETag|ContentLength|PartsCount)"')
s3aws s3api head-object --bucket photos --key copies/big-copy.bin
expect_eq "the copy has the source's size, parts and ETag (the same blobs)" "$BIGHEAD" \
	"$(printf '%s\n' "$OUT" | grep -E '"(ETag|ContentLength|PartsCount)"')"
s3aws s3 presign s3://photos/in/mid.bin --expires-in 300
URL=$OUT
run curl -q -sf -o "$T/presigned.back" "$URL"
expect_rc "presigned GET with curl" 0
expect_same_file "... the same bytes" "$T/mid.bin" "$T/presigned.back"

s3aws s3 rm --recursive s3://photos/tree --only-show-errors
expect_rc "aws s3 rm --recursive" 0
s3aws s3 ls --recursive s3://photos/tree/
expect_eq "the tree is gone" "" "$OUT"

# ---- refusals: the error code, and nothing changed ------------------------------
s3aws s3 ls --recursive s3://photos/
BEFORE=$OUT
AWS_SECRET_ACCESS_KEY=not-the-secret s3aws s3 cp "$T/small.txt" s3://photos/in/small.txt
expect_match "a wrong secret: SignatureDoesNotMatch" SignatureDoesNotMatch "$ERR"
AWS_ACCESS_KEY_ID=AKNOBODY s3aws s3 rm s3://photos/in/small.txt
expect_match "an unknown access key: InvalidAccessKeyId" InvalidAccessKeyId "$ERR"
AWS_ACCESS_KEY_ID=$S3_RO_AK AWS_SECRET_ACCESS_KEY=$S3_RO_SK s3aws s3 cp "$T/one.bin" s3://photos/in/small.txt
expect_match "a read-only key writing: AccessDenied" AccessDenied "$ERR"
AWS_ACCESS_KEY_ID=$S3_RO_AK AWS_SECRET_ACCESS_KEY=$S3_RO_SK s3aws s3 rm s3://photos/in/small.txt
expect_match "a read-only key deleting: AccessDenied" AccessDenied "$ERR"
AWS_ACCESS_KEY_ID=$S3_RO_AK AWS_SECRET_ACCESS_KEY=$S3_RO_SK s3aws s3 cp s3://photos/in/small.txt "$T/ro.back" --only-show-errors
expect_same_file "a read-only key reads" "$T/small.txt" "$T/ro.back"
# the signature is the URL's last parameter: change its last digit
TAMPERED=$(printf '%s' "$URL" | "$PY" -c 'import sys; u = sys.stdin.read().strip(); print(u[:-1] + ("1" if u[-1] == "0" else "0"))')
run curl -q -s "$TAMPERED"
expect_match "a tampered signature: SignatureDoesNotMatch" '<Code>SignatureDoesNotMatch</Code>' "$OUT"
run curl -q -s "${URL/mid.bin/small.txt}"
expect_match "a presigned URL for another key: SignatureDoesNotMatch" '<Code>SignatureDoesNotMatch</Code>' "$OUT"
s3aws s3 presign s3://photos/in/mid.bin --expires-in 1
SHORT=$OUT
sleep 2.2
run curl -q -s "$SHORT"
expect_match "an expired presigned URL: AccessDenied" '<Code>AccessDenied</Code><Message>Request has expired' "$OUT"
run curl -q -s -X PUT --data-binary @"$T/small.txt" "$S3_URL/photos/in/anon"
expect_match "an anonymous PUT: AccessDenied" '<Code>AccessDenied</Code>' "$OUT"
run curl -q -s "$S3_URL/photos/in/small.txt"
expect_match "an anonymous GET: AccessDenied" '<Code>AccessDenied</Code>' "$OUT"
s3aws s3 ls --recursive s3://photos/
expect_eq "the refusals changed nothing" "$BEFORE" "$OUT"

run grep -F -e "$S3_SK" -e "$S3_RO_SK" "$LOG"
expect_rc "no secret key in the server's log" 1
serve_stop
expect_eq "serve stops cleanly with the S3 listener" 0 "$SERVE_RC"
finish
