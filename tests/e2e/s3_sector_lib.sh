# tests/e2e/s3_sector_lib.sh - a store of two local sectors and one s3 sector on
# a real S3-compatible server (sourced after lib.sh).
#
#   s3_store THRESHOLD   start the server (tests/s3.sh, bucket "gvtest"),
#                        write $T/g.conf (graviton.s3.multipart-threshold
#                        THRESHOLD), init $D with sectors l1 (zone z1), l2
#                        (zone z2) and s3a (zone cloud, s3://gvtest/store),
#                        zone-aware, factor 3, min-replicas 2, min-zones 3:
#                        every blob keeps one copy in the bucket.
#   gs ARGS...           run graviton with that configuration (like gv)
#   s3_object KEY        the server's file holding KEY's object in s3a
#   S3_LOC               s3a's locator (as `sector list --json` shows it)

. "$E2E_DIR/../s3.sh"

gs() { run "$GV" --config "$T/g.conf" --data-dir "$D" "$@"; }
gsx() { "$GV" --config "$T/g.conf" --data-dir "$D" "$@"; }

s3_store() {
	s3_start "$T/s3" gvtest || return 1
	cat >"$T/g.conf" <<-EOF
		graviton {
		  data-dir = "$D"
		  s3 { multipart-threshold = $1, retries = 3, connect-timeout = 2s }
		  replication { write-timeout = 20s }
		}
	EOF
	gs init --sectors 0 || return 1
	gs sector add l1 --path "$T/l1" --rack r1 --zone z1
	[ "$RC" = 0 ] || { echo "$ERR" >&2; return 1; }
	gs sector add l2 --path "$T/l2" --rack r2 --zone z2
	[ "$RC" = 0 ] || { echo "$ERR" >&2; return 1; }
	gs sector add s3a --s3 s3://gvtest/store --endpoint "$S3_ENDPOINT" --rack r3 \
		--zone cloud --capacity 100G
	[ "$RC" = 0 ] || { echo "$ERR" >&2; return 1; }
	gs placement set --strategy zone-aware --factor 3 --min-replicas 2 --min-zones 3 \
		--min-racks 1
	[ "$RC" = 0 ] || { echo "$ERR" >&2; return 1; }
	S3_LOC="s3://gvtest/store?endpoint=$S3_ENDPOINT&region=us-east-1&style=path"
}

s3_object() {
	local h=${1#sha256:}

	printf '%s\n' "$T/s3/data/gvtest/store/${h%%:*}-${1##*:}._S3rver_object"
}

# s3_roundtrip N MAX: the end-to-end run over the store s3_store made: N
# blobs of 0 bytes to MAX (most small, a few over the multipart threshold)
# put, read back, one local sector lost, reads served by the bucket,
# repair restoring the local copies from it, scrub verifying the bucket's
# copies, and `index rebuild` from l2 and the bucket listing restoring
# every row.
s3_roundtrip() {
	local n=$1 max=$2 i size f k bad rows2

	: >"$T/list"
	for i in $(seq 0 $((n - 1))); do
		# size_i = i + (MAX-N+1) * (i / (N-1))^6: 0 B, many small, the
		# last MAX, all different.
		size=$("$PY" -c "print($i + int(($max - $n + 1) * ($i / max(1, $n - 1)) ** 6))")
		randfile "$T/b$i" "$size" || { fail "make blob $i"; return; }
		k=$(put_ok "$T/b$i") || { fail "put blob $i ($size bytes)"; return; }
		echo "$T/b$i $k" >>"$T/list"
	done
	ok "$n blobs of 0 to $max bytes put"
	bad=0
	while read -r f k; do
		replica_sectors "$k" | grep -qx s3a || bad=$((bad + 1))
		[ -f "$(s3_object "$k")" ] || bad=$((bad + 1))
	done <"$T/list"
	expect_eq "every blob has its copy in the bucket (zone cloud)" 0 "$bad"
	bad=0
	while read -r f k; do
		gsx get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
	done <"$T/list"
	expect_eq "every blob reads back" 0 "$bad"

	# ---- l1 lost, l2's copies gone: reads fall back to the bucket ------
	rm -rf "$T/l1"
	find "$T/l2/objects" -type f -delete
	bad=0
	while read -r f k; do
		gsx get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
	done <"$T/list"
	expect_eq "with l1 gone and l2 emptied every blob reads from the bucket" 0 "$bad"

	# ---- repair restores the local copies from the bucket ----------------
	gs scrub --presence
	expect_rc "the presence audit queues l2's missing copies" 65
	gs sector replace l1 l1b --path "$T/l1b" --repair
	expect_rc "sector replace l1 l1b --repair (the bucket is the only source)" 0
	bad=0
	while read -r f k; do
		for d in "$T/l1b" "$T/l2"; do
			cmp -s "$(find "$d" -type f -name "$(key_hex "$k")-$(key_size "$k")" |
				head -n 1)" "$f" || bad=$((bad + 1))
		done
	done <"$T/list"
	expect_eq "l1b and l2 hold an intact copy of every blob again, from the bucket" 0 "$bad"

	# ---- scrub verifies the bucket's copies ------------------------------
	gs scrub --once --sector s3a --json
	expect_rc "scrub of s3a" 0
	expect_eq "scrub read every copy in the bucket, all healthy" "$n $n 0" \
		"$(jget '"%d %d %d" % (j["summary"]["checked"], j["summary"]["healthy"],
			j["summary"]["newly_unhealthy"])' "$(printf '%s\n' "$OUT" | tail -n 1)")"

	# ---- index rebuild from the local sectors and the bucket listing -----
	rm -f "$D/graviton.db" "$D/graviton.db-wal" "$D/graviton.db-shm"
	gs index rebuild --force --sector "$T/l1b" --sector "$T/l2" --sector "$S3_LOC" \
		--strategy zone-aware --factor 3 --min-replicas 2 --min-zones 3 --min-racks 1
	expect_rc "index rebuild from l1b, l2 and the bucket" 0
	rows2=$(for k in $(cut -d' ' -f2 "$T/list"); do
		echo "$k $(replica_sectors "$k" | sort | tr '\n' ' ')"; done)
	expect_eq "every blob has its three rows again (l1b, l2, s3a)" "$n" \
		"$(printf '%s\n' "$rows2" | grep -c ' l1b l2 s3a $')"
	gs sector list --json
	expect_eq "the rebuilt index knows s3a as an s3 sector of the bucket" \
		"s3 s3://gvtest/store cloud" \
		"$(jget '" ".join(" ".join([s["kind"], s["url"], s["zone"]]) for s in j if s["id"] == "s3a")')"
	bad=0
	while read -r f k; do
		gsx get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
	done <"$T/list"
	expect_eq "every blob reads back after the rebuild" 0 "$bad"
}

# s3_e2e THRESHOLD N MAX: s3_store, then s3_roundtrip, then finish.
s3_e2e() {
	s3_store "$1" || { fail "the store with an s3 sector is set up"; finish; }
	ok "the store with an s3 sector is set up"
	s3_roundtrip "$2" "$3"
	finish
}
