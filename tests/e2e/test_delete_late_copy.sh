#!/usr/bin/env bash
# DELETE racing a 64 MiB put's late copy, against a running server.
#
# Factor 3, min-replicas 2: a put is answered once two copies are durable,
# while its third copy may still be written.  Two sectors live on a tmpfs
# and one on the disk, so the copy to the disk (64 MiB and its fsync) is
# usually the one still running when the put answers.  DELETE follows the
# answer at once.  Whenever the late copy then finishes, the blob must stay
# gone: GET 404, no blob row, no replica row, no file; and repair --once
# must not bring it back.  10 rounds; rounds whose third copy was already
# durable when the put answered still check the same things.
. "$(dirname "$0")/lib.sh"

SHM=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	SHM=$(mktemp -d /dev/shm/gv-delete-late.XXXXXX) || SHM=
fi
FAST=${SHM:-$T/fast}
WHERE="a tmpfs"
[ -n "$SHM" ] || WHERE="the disk (no /dev/shm)"
trap 'rc=$?; [ -n "$SHM" ] && rm -rf "$SHM"; (exit $rc); _on_exit' EXIT

gv init --sectors 1 --racks 1 --zones 1 --capacity 4GiB --strategy simple \
	--factor 3 --min-replicas 2
expect_rc "init: one sector on the disk, factor 3, min-replicas 2" 0
for s in a b; do
	gv sector add "$s" --path "$FAST/$s" --rack "r$s" --zone "z$s" --capacity 100GiB
	expect_rc "sector $s on $WHERE" 0
done
[ "$FAILED" = 0 ] || finish

# Debug logging: the server logs what each late copy did.
printf 'graviton { log { level = debug } }\n' >"$T/debug.conf"
serve_start "$T/serve.log" --config "$T/debug.conf" || { fail "serve starts"; finish; }
trap 'rc=$?; [ -n "$SHM" ] && rm -rf "$SHM"; (exit $rc); _serve_reap; _on_exit' EXIT

DB=$D/graviton.db
# key_files KEY: every file of KEY in any of the three sectors.
key_files() {
	find "$D/sectors" "$FAST" -type f -name "$(key_hex "$1")-$(key_size "$1")" 2>/dev/null | sort
}

# rows KEY: blob rows and replica rows of KEY in the index ("B R").
rows() {
	sqlite3 "$DB" "select (select count(*) from blobs where key = '$1') || ' ' ||
	               (select count(*) from replicas where key = '$1')"
}

# copy_settled KEY: the put's last copy has done what it will do: the
# server logged its outcome, or something of KEY is back after the DELETE.
copy_settled() {
	grep -Eq "event=(late_copy_recorded|late_copy_dropped|late_copy_kept|copy_failed|index_error) key=$1" \
		"$T/serve.log" && return 0
	[ "$(rows "$1")" != "0 0" ] || [ -n "$(key_files "$1")" ]
}

must randfile "$T/base" $((64 * 1024 * 1024))
late=0 back=0
KEYS=()
for round in $(seq 1 10); do
	f=$T/blob$round
	cp "$T/base" "$f" && printf 'round %d %s' "$round" "$RANDOM" >>"$f" || must false
	k=$(key_of "$f")
	KEYS+=("$k")
	code=$(curl -sS -o "$T/put.json" -w '%{http_code}' -X PUT --data-binary @"$f" \
		"$SERVE_URL/v1/blobs")
	dcode=$(curl -sS -o "$T/del.json" -w '%{http_code}' -X DELETE "$SERVE_URL/v1/blobs/$k")
	if [ "$code" != 201 ] || [ "$dcode" != 200 ]; then
		fail "round $round: PUT then DELETE answer 201, 200" "201 200" "$code $dcode"
		continue
	fi
	n=$(jget 'j["replica_count"]' "$(cat "$T/put.json")")
	if [ "$n" -lt 3 ]; then
		late=$((late + 1))
		# Bounded: a 64 MiB copy takes seconds even on a loaded machine.
		for ((i = 0; i < 1200; i++)); do
			copy_settled "$k" && break
			sleep 0.1
		done
		copy_settled "$k" || note "round $round: the late copy did not settle in 120 s"
	fi
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/v1/blobs/$k")
	r=$(rows "$k")
	files=$(key_files "$k")
	if [ "$code" != 404 ] || [ "$r" != "0 0" ] || [ -n "$files" ]; then
		back=$((back + 1))
		note "round $round ($n copies at the answer): GET $code, rows (blob replicas) $r, files: $files"
	fi
	rm -f "$f"
done
note "$late of 10 puts answered while their third copy was still running"
expect_eq "after DELETE answered 200, no blob came back (GET 404, no rows, no files)" 0 "$back"

gv repair --once
expect_rc "repair --once beside the server" 0
back=0
for k in "${KEYS[@]}"; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/v1/blobs/$k")
	if [ "$code" != 404 ] || [ "$(rows "$k")" != "0 0" ] || [ -n "$(key_files "$k")" ]; then
		back=$((back + 1))
		note "after repair: $k: GET $code, rows $(rows "$k"), files: $(key_files "$k")"
	fi
done
expect_eq "after repair --once every deleted blob is still gone" 0 "$back"

serve_stop
expect_eq "serve stops cleanly" 0 "$SERVE_RC"
finish
