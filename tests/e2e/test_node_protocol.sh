#!/usr/bin/env bash
# The sector protocol (docs/sector-protocol.md) served by `graviton serve`
# under /v1/node/ with the node token: the sector conformance suite runs
# against the `remote` kind over a real node, and bad input gets clear
# errors and commits nothing (wrong token, digest mismatch, truncated body,
# paths that try to leave a sector, unknown sectors, client token on node
# routes and node token on client routes).
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER

CONF_BIN=$(dirname "$GV")/test_sector_conformance
NTOK=node-token-$RANDOM$RANDOM
printf 'graviton { node { token = "%s" } }\n' "$NTOK" >"$T/node.conf"
gv --config "$T/node.conf" init --sectors 2 --racks 1 --zones 1 --factor 1 --min-replicas 1
expect_rc "init a node" 0
gv --config "$T/node.conf" sector add cap --path "$D/sectors/cap" --capacity 10000
expect_rc "a sector of 10000 bytes for the capacity test" 0
must serve_start "$T/serve.log" --config "$T/node.conf"
NODE=$SERVE_URL/v1/node/sectors

# ncurl ARGS...: curl with the node token, no .curlrc; prints the status
# last, on its own line.
ncurl() { curl -q -s -H "Authorization: Bearer $NTOK" -w '\n%{http_code}' "$@"; }
status_of() { printf '%s\n' "$1" | tail -n 1; }

# ---- the conformance suite over the node --------------------------------
if [ -x "$CONF_BIN" ]; then
	GV_TEST_NODE_URL=$SERVE_URL GV_TEST_NODE_TOKEN=$NTOK GV_TEST_NODE_SECTOR=s01 \
		GV_TEST_NODE_CAP_SECTOR=cap "$CONF_BIN" >"$T/conf.out" 2>&1
	rc=$?
	expect_eq "sector conformance suite against the remote kind" 0 "$rc"
	[ "$rc" = 0 ] || grep -v '^\[       OK\|^\[ RUN' "$T/conf.out" | head -n 30
	expect_true "the suite ran its 22 tests against the node" grep -q 'PASSED  \] 22 test' "$T/conf.out"
else
	fail "the conformance binary is built beside graviton" "$CONF_BIN" "missing"
fi

# ---- bad input ------------------------------------------------------------
must randfile "$T/b" 100000
K=$(key_of "$T/b")
OBJ=$(replica_path "$K" s02)

r=$(curl -q -s -w '\n%{http_code}' -H "Authorization: Bearer wrong" -T "$T/b" "$NODE/s02/blobs/$K")
expect_eq "wrong node token: 401" 401 "$(status_of "$r")"
r=$(curl -q -s -w '\n%{http_code}' -T "$T/b" "$NODE/s02/blobs/$K")
expect_eq "no token: 401" 401 "$(status_of "$r")"
r=$(curl -q -s -w '\n%{http_code}' -H "Authorization: Bearer $(cat "$D/token")" -T "$T/b" \
	"$NODE/s02/blobs/$K")
expect_eq "the client token opens no node route" 401 "$(status_of "$r")"
r=$(curl -q -s -w '\n%{http_code}' -H "Authorization: Bearer $NTOK" "$SERVE_URL/v1/status")
expect_eq "the node token opens no client route" 401 "$(status_of "$r")"
expect_true "nothing committed by refused requests" [ ! -e "$OBJ" ]

must randfile "$T/other" 100000
r=$(ncurl -T "$T/other" "$NODE/s02/blobs/$K")
expect_eq "a body whose SHA-256 differs from the key: 422" 422 "$(status_of "$r")"
expect_match "the answer names the digest mismatch" 'digest_mismatch.*nothing committed' "$r"
expect_true "nothing committed after a digest mismatch" [ ! -e "$OBJ" ]

head -c 60000 "$T/b" >"$T/short"
r=$(ncurl -T "$T/short" "$NODE/s02/blobs/$K")
expect_eq "a body shorter than the key: 400" 400 "$(status_of "$r")"
expect_true "nothing committed after a short body" [ ! -e "$OBJ" ]

# A body cut short mid-transfer (the connection closes after half).
"$PY" - "$SERVE_PORT" "$NTOK" "$K" "$T/b" <<'PYEOF'
import socket, sys
port, tok, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PUT /v1/node/sectors/s02/blobs/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Length: %d\r\n\r\n" % (key, tok, len(data))).encode() + data[:len(data) // 2])
s.close()
PYEOF
sleep 0.5
expect_true "nothing committed after a connection cut mid-body" [ ! -e "$OBJ" ]
r=$(ncurl -X POST "$NODE/s02/sweep?dry_run=1")
expect_match "the cut upload left no temporary file" '"files": *0' "$r"

for p in "s02/blobs/..%2F..%2Fetc%2Fpasswd" "s02/blobs/../../../etc/passwd" \
	"..%2Fs01/blobs/$K" "s02/blobs/$K%2F..%2F.." "s02/blobs/sha256:..:1"; do
	r=$(ncurl --path-as-is "$NODE/$p")
	expect_match "path '$p' is refused (400 or 404)" '^40[04]$' "$(status_of "$r")"
done
r=$(ncurl -T "$T/b" "$NODE/nosuch/blobs/$K")
expect_eq "unknown sector: 404" 404 "$(status_of "$r")"
expect_match "the answer names the sector" "nosuch" "$r"

r=$(ncurl -T "$T/b" "$NODE/s02/blobs/$K")
expect_eq "the right bytes: 201" 201 "$(status_of "$r")"
expect_true "committed where the layout says" [ -f "$OBJ" ]
r=$(ncurl -r 1000-1999 "$NODE/s02/blobs/$K" -o "$T/range")
expect_eq "Range read: 206" 206 "$(status_of "$r")"
expect_true "the range's bytes" cmp -s "$T/range" <(tail -c +1001 "$T/b" | head -c 1000)
r=$(ncurl "$NODE/s02/blobs?limit=1")
expect_match "the listing names the key" "\"$K\"" "$r"

# resumable: a partial at a wrong offset is refused, then completed
head -c 40000 "$T/b" >"$T/p1"
tail -c +40001 "$T/b" >"$T/p2"
K2=$K
ncurl -X DELETE "$NODE/s02/blobs/$K2" >/dev/null
r=$(ncurl -T "$T/p1" "$NODE/s02/blobs/$K2/partial?offset=0")
expect_eq "first part of a partial: 200" 200 "$(status_of "$r")"
head -c 1000 "$T/p2" >"$T/p3"
r=$(ncurl -T "$T/p3" "$NODE/s02/blobs/$K2/partial?offset=50000")
expect_eq "a partial append past what is held: 409" 409 "$(status_of "$r")"
r=$(ncurl "$NODE/s02/blobs/$K2/partial")
expect_match "the partial still holds 40000 bytes" '"offset": *40000' "$r"
r=$(ncurl -T "$T/p2" "$NODE/s02/blobs/$K2/partial?offset=40000&commit=1")
expect_eq "the rest, committed: 201" 201 "$(status_of "$r")"
r=$(ncurl "$NODE/s02/blobs/$K2" -o "$T/back")
expect_true "the committed partial reads back byte-exact" cmp -s "$T/back" "$T/b"

# uploads: a blob whose key comes at the end (docs/sector-protocol.md)
must randfile "$T/u" 300000
KU=$(key_of "$T/u")
OBJU=$(replica_path "$KU" s02)
head -c 100000 "$T/u" >"$T/u1"
tail -c +100001 "$T/u" >"$T/u2"
upload_new() { ncurl -X POST "$NODE/s02/uploads" | head -n 1 | sed -n 's/.*"upload": *"\([0-9a-f]*\)".*/\1/p'; }
U=$(upload_new)
expect_match "an upload starts with an id" '^[0-9a-f]{32}$' "$U"
r=$(ncurl -T "$T/u1" "$NODE/s02/uploads/$U?offset=0")
expect_eq "the first part of an upload: 200" 200 "$(status_of "$r")"
expect_match "the upload holds 100000 bytes" '"offset": *100000' "$r"
r=$(ncurl -T "$T/u2" "$NODE/s02/uploads/$U?offset=5")
expect_eq "an append at another offset than the upload's end: 409" 409 "$(status_of "$r")"
r=$(ncurl -T "$T/u2" "$NODE/s02/uploads/$U?offset=100000")
expect_eq "the rest of the upload: 200" 200 "$(status_of "$r")"
r=$(ncurl -X POST "$NODE/s02/uploads/$U/commit?key=$K")
expect_eq "commit under a key the bytes do not match: 422" 422 "$(status_of "$r")"
expect_match "the answer names the digest mismatch" 'digest_mismatch.*nothing committed' "$r"
expect_true "nothing committed under the upload's own key" [ ! -e "$OBJU" ]
r=$(ncurl -X POST "$NODE/s02/uploads/$U/commit?key=$KU")
expect_eq "a refused commit dropped the upload: 404 after" 404 "$(status_of "$r")"
expect_true "still nothing committed" [ ! -e "$OBJU" ]

U=$(upload_new)
r=$(ncurl -T "$T/u" "$NODE/s02/uploads/$U?offset=0")
r=$(ncurl -X POST "$NODE/s02/uploads/$U/sync")
expect_match "sync answers the upload's durable length" '"offset": *300000' "$r"
r=$(ncurl -X POST "$NODE/s02/uploads/$U/commit?key=sha256:nothex:300000")
expect_eq "commit with a malformed key: 400" 400 "$(status_of "$r")"
r=$(ncurl -X POST "$NODE/s02/uploads/$U/commit?key=$KU")
expect_eq "commit under the right key: 201" 201 "$(status_of "$r")"
r=$(ncurl "$NODE/s02/blobs/$KU" -o "$T/uback")
expect_true "the committed upload reads back byte-exact" cmp -s "$T/uback" "$T/u"
r=$(ncurl -X POST "$NODE/s02/uploads/$U/commit?key=$KU")
expect_eq "commit twice: 404 (the upload is gone)" 404 "$(status_of "$r")"

NOSUCH=0123456789abcdef0123456789abcdef
r=$(ncurl -T "$T/u1" "$NODE/s02/uploads/$NOSUCH?offset=0")
expect_eq "append to an unknown upload: 404" 404 "$(status_of "$r")"
r=$(ncurl -X POST "$NODE/s02/uploads/$NOSUCH/commit?key=$KU")
expect_eq "commit of an unknown upload: 404" 404 "$(status_of "$r")"
r=$(ncurl -X DELETE "$NODE/s02/uploads/$NOSUCH")
expect_eq "delete of an unknown upload: 404" 404 "$(status_of "$r")"
r=$(ncurl -X POST --path-as-is "$NODE/s02/uploads/..%2F..%2Fx/commit?key=$KU")
expect_eq "a malformed upload id: 400" 400 "$(status_of "$r")"
U=$(upload_new)
r=$(ncurl -X POST "$NODE/s01/uploads/$U/commit?key=$KU")
expect_eq "an upload is found only in its own sector: 404" 404 "$(status_of "$r")"
r=$(ncurl -X DELETE "$NODE/s02/uploads/$U")
expect_eq "delete of an upload: 200" 200 "$(status_of "$r")"
r=$(ncurl -X DELETE "$NODE/s02/uploads/$U")
expect_eq "delete twice: 404" 404 "$(status_of "$r")"

# an upload whose writer is gone: the sweep drops it by age
U=$(upload_new)
ncurl -T "$T/u1" "$NODE/s02/uploads/$U?offset=0" >/dev/null
r=$(ncurl -X POST "$NODE/s02/sweep?dry_run=1")
expect_match "a fresh upload is not swept" '"files": *0' "$r"
r=$(ncurl -X POST "$NODE/s02/sweep?upload_idle_ms=0")
expect_match "an idle upload is swept, its bytes counted" '"bytes": *100000' "$r"
r=$(ncurl -T "$T/u2" "$NODE/s02/uploads/$U?offset=100000")
expect_eq "a swept upload is gone: 404" 404 "$(status_of "$r")"
r=$(ncurl -X POST "$NODE/s02/sweep?dry_run=1&upload_idle_ms=0")
expect_match "no temporary file left" '"files": *0' "$r"

serve_stop
expect_eq "the node stops cleanly" 0 "$SERVE_RC"
finish
