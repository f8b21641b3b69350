#!/usr/bin/env bash
# test_s3_sector_vhost.sh - an s3 sector with virtual-host-style addressing
# (docs/s3-sectors.md), against a second Graviton's S3 front door (domain
# "localhost": gvtest.localhost is the bucket) behind a logging proxy:
# puts (one a multipart upload), reads back from the bucket, a delete, and
# `index rebuild` from the bucket listing, every request addressed to
# gvtest.localhost with no bucket in the path.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_door_lib.sh"

door_start gvtest || { fail "the front door serves bucket gvtest"; finish; }
door_proxy || { fail "the proxy starts"; finish; }
ok "the front door serves bucket gvtest, behind a proxy"
EP=http://localhost:$PROXY_PORT
VHOST=gvtest.localhost:$PROXY_PORT

door_store
gs sector add l1 --path "$T/l1" --rack r1
expect_rc "sector add l1" 0
gs sector add s3v --s3 s3://gvtest/vh --endpoint "$EP" --s3-style virtual --rack r2
expect_rc "sector add s3v --s3-style virtual (writes its identity through BUCKET.localhost)" 0
gs placement set --factor 2 --min-replicas 2 --min-racks 2
expect_rc "factor 2: every blob on l1 and in the bucket" 0
gs sector list --json
expect_eq "s3v's locator says style=virtual" "s3://gvtest/vh?endpoint=$EP&region=us-east-1&style=virtual" \
	"$(jget '[s["path"] for s in j if s["id"] == "s3v"][0]')"

# ---- puts, one of them multipart -------------------------------------------
: >"$T/list"
for size in 0 1000 100000 $((24 << 20)); do
	randfile "$T/b$size" "$size" || { fail "make a blob of $size bytes"; finish; }
	gs put "$T/b$size"
	expect_rc "put of $size bytes" 0
	echo "$T/b$size $OUT" >>"$T/list"
done
door_aws s3api list-objects-v2 --bucket gvtest --prefix vh/
expect_eq "the bucket holds the identity and the four objects (listed path-style)" 5 \
	"$(jget 'len(j["Contents"])')"
expect_true "the 24 MiB blob went up as a multipart upload" \
	grep -q "^POST $VHOST /vh/.*?uploads=" "$T/proxy.log"

# ---- reads from the bucket -------------------------------------------------
find "$T/l1" -type f -path '*objects*' -delete
bad=0
while read -r f k; do
	gsx get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
done <"$T/list"
expect_eq "with l1's copies gone every blob reads back from the bucket" 0 "$bad"

# ---- a delete --------------------------------------------------------------
read -r f1 k1 < <(sed -n 2p "$T/list")
gs rm "$k1"
expect_rc "rm of the 1000-byte blob" 0
door_aws s3api list-objects-v2 --bucket gvtest --prefix vh/
expect_eq "its object is gone from the bucket, the others stay" "4 0" \
	"$(jget '"%d %d" % (len(j["Contents"]), sum(o["Key"].startswith("vh/'"$(key_hex "$k1")"'") for o in j["Contents"]))')"

# ---- index rebuild from the bucket listing ---------------------------------
rm -f "$D/graviton.db" "$D/graviton.db-wal" "$D/graviton.db-shm"
gs index rebuild --force --sector "$T/l1" \
	--sector "s3://gvtest/vh?endpoint=$EP&region=us-east-1&style=virtual" \
	--factor 2 --min-replicas 2 --min-racks 2
expect_rc "index rebuild from l1 and the bucket (virtual-host listing)" 0
bad=0
while read -r f k; do
	[ "$k" = "$k1" ] && continue
	replica_sectors "$k" | grep -qx s3v || bad=$((bad + 1))
	gsx get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
done <"$T/list"
expect_eq "the three blobs left have their s3v rows again and read back" 0 "$bad"

# ---- every request was virtual-host style ----------------------------------
expect_true "the sector sent its requests through the proxy" [ "$(wc -l <"$T/proxy.log")" -ge 10 ]
expect_eq "each with Host $VHOST and no bucket in the path" "" \
	"$(grep -v "^[A-Z]* $VHOST /vh/\|^GET $VHOST /?" "$T/proxy.log" | head -n 3)"

door_stop
finish
