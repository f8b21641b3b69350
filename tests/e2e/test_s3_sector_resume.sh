#!/usr/bin/env bash
# test_s3_sector_resume.sh - a resumable copy into an s3 sector keeps its
# multipart parts across processes (docs/s3-sectors.md).
#
# A 144 MiB blob on a local sector is repaired into an s3 sector whose
# server is a second Graviton's front door, behind a loopback proxy that
# counts the part uploads.  The repair is killed (SIGKILL) once some of
# its parts are on the way, past the copy's first durable step (64 MiB),
# with parts of 8 MiB (the step ends between two parts) and of 6 MiB (it
# does not); the next repair finds the upload, keeps the parts the index
# recorded as durable and sends only the rest (a stale upload of the
# object is aborted); the object reads back from the bucket verified, and
# no upload is left behind.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_door_lib.sh"

SIZE=$((144 << 20))

door_start gvtest || { fail "the front door serves bucket gvtest"; finish; }
ok "the front door serves bucket gvtest"

door_proxy || { fail "the counting proxy starts"; finish; }
PROXY=http://127.0.0.1:$PROXY_PORT
# Part uploads so far (the proxy logs each request as it starts).
parts() { grep -c '^PUT .*[?&]partNumber=' "$T/proxy.log"; }

randfile "$T/big" "$SIZE" || { fail "make the blob"; finish; }
MIB=$((1 << 20))

# resume_case PART KILL_AT: a store of its own ($T/data-PART, prefix
# sPART), parts of PART MiB, the first repair killed once KILL_AT parts
# went out (past the 64 MiB step).
resume_case() {
	local part=$(($1 * MIB)) kill_at=$2 pre=s$1 k rpid alive first second i want

	D=$T/data-$1
	door_store "$part"
	gs sector add l1 --path "$T/l1-$1" --rack r1
	gs placement set --factor 1 --min-replicas 1 --min-racks 1
	expect_rc "[$1 MiB parts] a store with one local sector, factor 1" 0
	k=$(put_ok "$T/big") || { fail "put the blob"; return; }
	gs sector add s3a --s3 "s3://gvtest/$pre" --endpoint "$PROXY" --rack r2
	expect_rc "[$1 MiB parts] sector add s3a (the front door, through the proxy)" 0
	gs placement set --factor 2 --min-replicas 1 --min-racks 1
	expect_rc "[$1 MiB parts] factor 2: the blob lacks a copy, in s3a" 0

	# ---- a repair killed mid-way -------------------------------------
	# At 24 MB/s the last 64 MiB take seconds: the kill lands before them.
	first=$(parts)
	"$GV" --config "$T/g.conf" --data-dir "$D" repair --once --max-bytes-per-second 24MB \
		>"$T/repair-$1.log" 2>&1 &
	rpid=$!
	for ((i = 0; i < 1200; i++)); do
		[ "$(($(parts) - first))" -ge "$kill_at" ] && break
		_proc_gone "$rpid" && break
		sleep 0.05
	done
	alive=0
	_proc_gone "$rpid" || alive=1
	kill -KILL "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	expect_eq "[$1 MiB parts] the first repair was killed mid-way" 1 "$alive"
	expect_true "[$1 MiB parts] it had sent $kill_at parts, not all" \
		[ "$(($(parts) - first))" -ge "$kill_at" -a "$(($(parts) - first))" -lt $((SIZE / part)) ]

	# ---- the resumed repair ------------------------------------------
	# A stale upload of the same object (another attempt's, newer, no
	# part): the next writer keeps the one with parts and aborts this one.
	door_aws s3api create-multipart-upload --bucket gvtest --key "$pre/$(key_hex "$k")-$SIZE"
	expect_rc "[$1 MiB parts] a stale upload of the object is started" 0
	first=$(parts)
	gs repair --once
	expect_rc "[$1 MiB parts] the second repair ends the copy" 0
	second=$(($(parts) - first))
	# 64 MiB were recorded durable: what is past them is left.
	want=$(((SIZE - 64 * MIB + part - 1) / part))
	expect_eq "[$1 MiB parts] the resumed copy sent only the $want parts past the durable 64 MiB" \
		"$want" "$second"
	expect_eq "[$1 MiB parts] s3a holds a copy" 1 "$(replica_sectors "$k" | grep -c '^s3a$')"

	# ---- the object reads back from the bucket, verified -------------
	find "$T/l1-$1" -type f -name "$(key_hex "$k")-*" -delete
	gsx get "$k" >"$T/got" 2>"$T/get.err"
	expect_eq "[$1 MiB parts] get with l1's copy gone exits 0 (read from s3a)" 0 "$?"
	expect_same_file "[$1 MiB parts] the bucket's copy is the blob" "$T/big" "$T/got"
	door_aws s3api list-multipart-uploads --bucket gvtest
	expect_eq "[$1 MiB parts] no upload is left on the server" "" \
		"$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; t=sys.stdin.read(); print(" ".join(u["UploadId"] for u in (json.loads(t) if t.strip() else {}).get("Uploads", [])))')"
	rm -f "$T/got"
}

# 8 MiB parts: the 64 MiB step ends between parts 8 and 9.
resume_case 8 10
# 6 MiB parts: it falls 4 MiB into part 11, too short for a part that
# others follow, so the step sends part 10 again with those 4 MiB.
resume_case 6 13

door_stop
finish
