#!/usr/bin/env bash
# test_s3_sector_resume.sh - a resumable copy into an s3 sector keeps its
# multipart parts across processes (docs/s3-sectors.md).
#
# A 144 MiB blob on a local sector is repaired into an s3 sector (8 MiB
# parts) whose server is a second Graviton's front door, behind a loopback
# proxy that counts the part uploads.  The repair is killed (SIGKILL) once
# its tenth part is on the way, past the copy's first durable step (64
# MiB); the next repair finds the upload, keeps the parts the index
# recorded as durable and sends only the rest (a stale upload of the
# object is aborted); the object reads back from the bucket verified, and
# no upload is left behind.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_door_lib.sh"

SIZE=$((144 << 20))
PART=$((8 << 20))

door_start gvtest || { fail "the front door serves bucket gvtest"; finish; }
ok "the front door serves bucket gvtest"

door_proxy || { fail "the counting proxy starts"; finish; }
PROXY=http://127.0.0.1:$PROXY_PORT
# Part uploads so far (the proxy logs each request as it starts).
parts() { grep -c '^PUT .*[?&]partNumber=' "$T/proxy.log"; }

# ---- the store: the blob on l1 only, then s3a added and the factor raised --
door_store
gs sector add l1 --path "$T/l1" --rack r1
gs placement set --factor 1 --min-replicas 1 --min-racks 1
expect_rc "a store with one local sector, factor 1" 0
randfile "$T/big" "$SIZE" || { fail "make the blob"; finish; }
k=$(put_ok "$T/big") || { fail "put the blob"; finish; }
gs sector add s3a --s3 s3://gvtest/store --endpoint "$PROXY" --rack r2
expect_rc "sector add s3a (the front door, through the proxy)" 0
gs placement set --factor 2 --min-replicas 1 --min-racks 1
expect_rc "factor 2: the blob lacks a copy, in s3a" 0

# ---- a repair killed mid-way ---------------------------------------------
# At 24 MB/s the last 64 MiB take seconds: the kill lands before them.
"$GV" --config "$T/g.conf" --data-dir "$D" repair --once --max-bytes-per-second 24MB \
	>"$T/repair1.log" 2>&1 &
rpid=$!
for ((i = 0; i < 1200; i++)); do
	[ "$(parts)" -ge 10 ] && break
	_proc_gone "$rpid" && break
	sleep 0.05
done
alive=0
_proc_gone "$rpid" || alive=1
kill -KILL "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
first=$(parts)
expect_eq "the first repair was killed mid-way (sent $first parts)" 1 "$alive"
expect_true "it had sent 10 parts, not all" [ "$first" -ge 10 -a "$first" -lt $((SIZE / PART)) ]

# ---- the resumed repair --------------------------------------------------
# A stale upload of the same object (another attempt's, newer, no part):
# the next writer keeps the one with parts and aborts this one.
door_aws s3api create-multipart-upload --bucket gvtest --key "store/$(key_hex "$k")-$SIZE"
expect_rc "a stale upload of the object is started" 0
gs repair --once
expect_rc "the second repair ends the copy" 0
second=$(($(parts) - first))
# 64 MiB were recorded durable: parts 9..18 are what is left.
expect_eq "the resumed copy sent only the parts past the durable 64 MiB" \
	$(((SIZE - (64 << 20)) / PART)) "$second"
expect_eq "s3a holds a copy" 1 "$(replica_sectors "$k" | grep -c '^s3a$')"

# ---- the object reads back from the bucket, verified ---------------------
find "$T/l1" -type f -name "$(key_hex "$k")-*" -delete
gsx get "$k" >"$T/got" 2>"$T/get.err"
expect_eq "get with l1's copy gone exits 0 (read from s3a)" 0 "$?"
expect_same_file "the bucket's copy is the blob" "$T/big" "$T/got"
door_aws s3api list-multipart-uploads --bucket gvtest
expect_eq "no upload is left on the server" "" \
	"$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; t=sys.stdin.read(); print(" ".join(u["UploadId"] for u in (json.loads(t) if t.strip() else {}).get("Uploads", [])))')"

door_stop
finish
