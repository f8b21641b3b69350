#!/usr/bin/env bash
# The namespace from the command line and the native API (docs/namespace.md):
# cp/cat/ls/rm of names, dedupe (the same 50 MiB under 10 names is one
# blob), garbage collection after the grace (every replica goes), pins of
# raw puts, GET /v1/blobs paging, DELETE of a named blob, POST /v1/gc, the
# collector that serve runs on its interval, and forget.
. "$(dirname "$0")/lib.sh"

must gv init --sectors 4 --factor 3 --min-replicas 2

# ---- names, dedupe and the collector ----------------------------------------

must randfile "$T/big" $((50 * 1024 * 1024))
BIG=$(key_of "$T/big")
for i in $(seq 1 10); do
	gv cp "$T/big" "photos/copy-$i.bin"
	[ "$RC" = 0 ] || { expect_rc "cp copy-$i" 0; finish; }
done
ok "cp: the same 50 MiB file under 10 names"
gv ls photos --json
expect_rc "ls photos --json" 0
expect_eq "ls: 10 names" 10 "$(jget 'len(j["objects"])')"
expect_eq "ls: every name is the one key" "$BIG" "$(jget '" ".join(sorted(set(o["key"] for o in j["objects"])))')"
expect_eq "ls: ETag is the MD5" "$(md5sum <"$T/big" | cut -d' ' -f1)" "$(jget 'j["objects"][0]["etag"]')"
gv ls --json
expect_eq "raw keys: one blob" "$BIG" "$(jget '" ".join(j["keys"])')"
expect_eq "one blob: 3 replica files" 3 "$(replica_files "$BIG" | wc -l)"
gvx cat photos/copy-7.bin >"$T/back"
expect_same_file "cat photos/copy-7.bin gives the bytes back" "$T/big" "$T/back"

for i in $(seq 1 9); do
	must gv rm "photos/copy-$i.bin"
done
gv gc --grace 1ms --json
expect_rc "gc after deleting 9 names" 0
expect_eq "gc: nothing collected while one name is left" 0 "$(jget 'j["summary"]["collected"]')"
expect_eq "the blob's 3 replicas stay" 3 "$(replica_files "$BIG" | wc -l)"
gvx cat photos/copy-10.bin | cmp -s - "$T/big"
expect_true "the last name still reads" [ "$?" = 0 ]

gv rm photos/copy-10.bin
expect_rc "rm the 10th name" 0
gv gc --json
expect_eq "gc within the default grace (1 h): nothing collected" 0 "$(jget 'j["summary"]["collected"]')"
expect_eq "replicas stay within the grace" 3 "$(replica_files "$BIG" | wc -l)"
gv gc --dry-run --grace 1ms --json
expect_eq "gc --dry-run counts the blob" 1 "$(jget 'j["summary"]["collected"]')"
expect_eq "gc --dry-run deletes nothing" 3 "$(replica_files "$BIG" | wc -l)"
sleep 0.1
gv gc --grace 50ms --json
expect_rc "gc after the grace" 0
expect_eq "gc: the blob collected" 1 "$(jget 'j["summary"]["collected"]')"
expect_eq "gc: its bytes counted" $((50 * 1024 * 1024)) "$(jget 'j["summary"]["bytes"]')"
expect_eq "every replica file is gone" 0 "$(replica_files "$BIG" | wc -l)"
gv stat "$BIG"
expect_rc "stat: the blob is unknown" 66
gv ls photos --json
expect_eq "ls: no names left" 0 "$(jget 'len(j["objects"])')"

# ---- usage and bad input -----------------------------------------------------

gv cat photos/nothere
expect_rc "cat of a missing name: not found (66)" 66
gv cp "$T/big" "Bad_Bucket/x"
expect_rc "cp to a bad bucket name: invalid (65)" 65
gv cp "$T/big" photos
expect_rc "cp without a name: usage (64)" 64
gv ls nobucket
expect_rc "ls of a missing bucket: not found (66)" 66
must gv cp "$T/big" "tmpbucket/x"
gv rm tmpbucket/
expect_rc "rm BUCKET/ of a bucket with names: not empty (73)" 73
must gv rm tmpbucket/x
gv rm tmpbucket/ --json
expect_rc "rm BUCKET/ of an empty bucket" 0
expect_eq "rm BUCKET/ --json: the bucket" tmpbucket "$(jget 'j["buckets"][0]["name"]')"
gv ls --buckets --json
expect_eq "the bucket is gone" "photos" "$(jget '" ".join(b["name"] for b in j["buckets"])')"
gv rm tmpbucket
expect_rc "rm BUCKET without the slash: usage (64)" 64

# ---- pins, raw listing and forget ---------------------------------------------

must randfile "$T/small" 1000
K=$(put_ok "$T/small") || { fail "put"; finish; }
gv gc --grace 1ms --json
expect_rc "gc" 0
expect_eq "a raw put is pinned: gc keeps it" 3 "$(replica_files "$K" | wc -l)"
gv cp "$T/small" "docs/small"
gv rm "$K" --json
expect_rc "rm KEY of a named blob" 0
expect_eq "rm KEY: only the pin goes while a name references it" false "$(jget 'j["deleted"]')"
gvx cat docs/small | cmp -s - "$T/small"
expect_true "the named blob still reads" [ "$?" = 0 ]
must gv rm docs/small
K2=$(put_ok "$T/small") || { fail "put again"; finish; }
gv rm "$K2" --json
expect_eq "rm KEY of an unreferenced blob deletes it now" true "$(jget 'j["deleted"]')"
expect_eq "its files are gone" 0 "$(replica_files "$K2" | wc -l)"

must randfile "$T/lost" 3000
KL=$(put_ok "$T/lost") || { fail "put lost"; finish; }
gv forget "$KL"
expect_rc "forget a key with healthy replicas: refused (exists, 73)" 73
for f in $(replica_files "$KL"); do rm -f "$f"; done
gv scrub --once
gv status
expect_rc "status fails while the key is lost" 69
gv forget "$KL" --json
expect_rc "forget the lost key" 0
expect_eq "forget --json" true "$(jget 'j["forgotten"]')"
gv status
expect_rc "status passes once the lost key is forgotten" 0
gv repair --once
expect_rc "repair passes too" 0

gv index migrate --to "sqlite:$T/other.db"
expect_rc "index migrate refuses an index with buckets (invalid, 65)" 65
expect_match "... and says why" 'namespace' "$ERR"

# ---- the native API and serve's collector --------------------------------------

printf 'graviton { gc { interval = 200ms, grace = 300ms } }\n' >"$T/gc.conf"
serve_start "$T/serve.log" --config "$T/gc.conf" || { fail "serve starts"; finish; }
for i in 1 2 3; do
	must randfile "$T/r$i" $((100 + i))
	curl -sf -X PUT --data-binary @"$T/r$i" "$SERVE_URL/v1/blobs" >/dev/null
	expect_true "PUT /v1/blobs r$i" [ "$?" = 0 ]
done
run curl -sf "$SERVE_URL/v1/blobs"
ALL=$(jget 'len(j["keys"])')
expect_eq "GET /v1/blobs: the three raw blobs are all there is" 3 "$ALL"
run curl -sf "$SERVE_URL/v1/blobs?limit=2"
expect_eq "GET /v1/blobs?limit=2: two keys" 2 "$(jget 'len(j["keys"])')"
NEXT=$(jget 'j["next"]')
expect_match "GET /v1/blobs: next is the page's last key" '^sha256:' "$NEXT"
run curl -sf "$SERVE_URL/v1/blobs?limit=2&after=$NEXT"
expect_eq "the next page: the rest" 1 "$(jget 'len(j["keys"])')"
expect_eq "the last page: next is null" null "$(jget 'j["next"]')"
run "$GV" --server "$SERVE_URL" ls --limit 2 --after "$NEXT" --json
expect_eq "ls --server pages the same" 1 "$(jget 'len(j["keys"])')"
run curl -s "$SERVE_URL/v1/blobs?limit=0"
expect_eq "limit=0: invalid" invalid "$(jget 'j["error"]')"

# A pinned raw blob stays through the collector's runs; its DELETE takes it.
R1=$(key_of "$T/r1")
sleep 1
expect_eq "serve's collector keeps pinned blobs" 3 "$(replica_files "$R1" | wc -l)"
run curl -sf -X DELETE "$SERVE_URL/v1/blobs/$R1"
expect_eq "DELETE /v1/blobs/KEY: deleted" true "$(jget 'j["deleted"]')"
expect_eq "DELETE: every replica gone" 0 "$(replica_files "$R1" | wc -l)"

# A name removed while serve runs: collected by the schedule after the grace.
must randfile "$T/named" 5000
KN=$(key_of "$T/named")
must gv cp "$T/named" docs/n
must gv rm docs/n
for ((i = 0; i < 100; i++)); do
	[ "$(replica_files "$KN" | wc -l)" = 0 ] && break
	sleep 0.1
done
expect_eq "serve's collector took the unreferenced blob after the grace" 0 \
	"$(replica_files "$KN" | wc -l)"
expect_match "serve logged the run" 'event=gc .*collected=1' "$(cat "$T/serve.log")"

run "$GV" --server "$SERVE_URL" gc --dry-run --json
expect_rc "gc --server --dry-run: a job on the server" 0
expect_eq "gc --server: the job's kind" gc "$(jget 'j["kind"]')"
expect_eq "gc --server: the server's grace" 300 "$(jget 'j["summary"]["grace_ms"]')"
run "$GV" --server "$SERVE_URL" cp "$T/named" docs/x
expect_rc "cp --server: usage (names are local)" 64
serve_stop
finish
