#!/usr/bin/env bash
# s3 sectors when things go wrong (docs/s3-sectors.md):
#   (a) wrong credentials: sector add fails with an error naming the sector
#       and the permission problem; nothing is recorded;
#   (b) a bucket that does not exist: the same, saying so;
#   (c) the server stopped during a put: the put meets its quorum on the
#       local sectors, and repair puts the bucket's copy back later;
#   (d) a server that answers 503 SlowDown (a fault-injecting proxy on
#       loopback): requests are retried with backoff and the put succeeds;
#   (e) an object corrupted in the bucket: a read finds it (and is served
#       from a good copy), and scrub finds another;
#   (f) scrub reads the bucket's copies at graviton.s3.scrub-max-bytes-per-second;
#   (g) sector add --s3 through the HTTP API.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/s3_sector_lib.sh"

s3_store 5MiB || { fail "the store with an s3 sector is set up"; finish; }

# ---- (a) wrong credentials ---------------------------------------------------
AWS_SECRET_ACCESS_KEY=wrong-secret gs sector add bad1 --s3 s3://gvtest/other \
	--endpoint "$S3_ENDPOINT" --zone cloud
expect_fail "sector add with a wrong secret fails" 74 "sector bad1: permission denied"
expect_match "the error says the signature did not match" "SignatureDoesNotMatch" "$ERR"
gs sector list --json
expect_eq "nothing is recorded for bad1" "" "$(jget '" ".join(s["id"] for s in j if s["id"] == "bad1")')"
expect_true "no identity object was written" [ ! -e "$T/s3/data/gvtest/other" ]

# The secret of a configured s3 sector is never printed by config check.
cat >"$T/sec.conf" <<EOF
graviton.sectors = [ { id = "c1", s3 = "s3://gvtest/c1", endpoint = "$S3_ENDPOINT",
  access-key = "AKIDCONF", secret-key = "do-not-print-me" } ]
EOF
run "$GV" config check "$T/sec.conf"
expect_rc "config check of an s3 sector with credentials" 0
expect_true "it hides the secret" grep -qF '# secret-key is set (hidden)' <<<"$OUT"
expect_true "the secret is nowhere in its output" [ -z "$(grep -F do-not-print-me <<<"$OUT$ERR")" ]
run "$GV" config check "$T/sec.conf" --show-secrets
expect_match "--show-secrets shows it" 'secret-key = "do-not-print-me"' "$OUT"

# ---- (b) a bucket that does not exist ---------------------------------------
gs sector add bad2 --s3 s3://no-such-bucket/p --endpoint "$S3_ENDPOINT" --zone cloud
expect_fail "sector add on a missing bucket fails" 66 "sector bad2: bucket missing: no-such-bucket"
gs sector list --json
expect_eq "nothing is recorded for bad2" "" "$(jget '" ".join(s["id"] for s in j if s["id"] == "bad2")')"

# ---- (c) the server stopped during a put ------------------------------------
# A quorum of two copies in two zones; factor 3 still spreads the third
# into the bucket.
gs placement set --min-zones 2
randfile "$T/c" $((24 * 1024 * 1024))
mkfifo "$T/fifo"
gsx put - <"$T/fifo" >"$T/c.key" 2>"$T/c.err" &
putpid=$!
exec 7>"$T/fifo"
# The put has taken most of these bytes (and opened its targets, s3a's
# among them) before the pipe takes more.
head -c $((16 * 1024 * 1024)) "$T/c" >&7
s3_stop
tail -c +$((16 * 1024 * 1024 + 1)) "$T/c" >&7
exec 7>&-
wait "$putpid"
expect_eq "the put meets its quorum on l1 and l2 with the server stopped" 0 "$?"
k=$(cat "$T/c.key")
expect_eq "its key is the bytes' key" "$(key_of "$T/c")" "$k"
expect_eq "its copies: l1 and l2" "l1 l2" "$(replica_sectors "$k" | sort | tr '\n' ' ' | sed 's/ $//')"
s3_restart || { fail "the server starts again"; finish; }
# The failed commit marked s3a unreachable; without `serve` (whose failure
# detector brings it back) the operator does.
gs sector set-health s3a healthy
expect_rc "s3a marked healthy again (its identity answers)" 0
gs repair --once
expect_rc "repair with the server back" 0
expect_eq "repair put the bucket's copy back" "l1 l2 s3a" \
	"$(replica_sectors "$k" | sort | tr '\n' ' ' | sed 's/ $//')"
expect_same_file "the bucket's object holds the blob" "$T/c" "$(s3_object "$k")"

# ---- (d) 503 SlowDown, retried ----------------------------------------------
"$PY" - "$S3_PORT" "$T/proxy.port" "$T/proxy.count" >"$T/proxy.log" 2>&1 <<'PYEOF' &
# Forward to the S3 server; answer every other request 503 SlowDown first.
import http.client, http.server, socketserver, sys, threading
up, portfile, countfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock, n = threading.Lock(), [0, 0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def go(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            n[0] += 1
            slow = n[0] % 2 == 1
            if slow:
                n[1] += 1
                open(countfile, "w").write(str(n[1]))
        if slow:
            msg = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        c = http.client.HTTPConnection("127.0.0.1", up, timeout=60)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            c.putheader(k, v)
        c.endheaders()
        if body:
            c.send(body)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = go
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PYEOF
proxypid=$!
for i in $(seq 1 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
pport=$(cat "$T/proxy.port")
gs sector add slow1 --s3 s3://gvtest/slow --endpoint "http://127.0.0.1:$pport" --zone cloud2 \
	--rack r4
expect_rc "sector add through a server that answers SlowDown to every other request" 0
randfile "$T/d" $((7 * 1024 * 1024))
k=$(key_of "$T/d")
gs --log-level info put "$T/d"
expect_rc "a put (a multipart upload to slow1) goes through the SlowDowns" 0
expect_match "the retries are logged" "event=s3_retry sector=slow1 status=503" "$ERR"
expect_true "the proxy answered SlowDown several times" [ "$(cat "$T/proxy.count")" -ge 3 ]
gs sector set-health s3a unhealthy
gs sector set-health l1 unhealthy
gs sector set-health l2 unhealthy
gsx get "$k" 2>/dev/null | cmp -s - "$T/d"
expect_eq "the blob reads back through the SlowDowns (from slow1)" 0 "$?"
for s in s3a l1 l2; do gs sector set-health "$s" healthy; done
kill "$proxypid" 2>/dev/null
wait "$proxypid" 2>/dev/null
gs sector set-health slow1 unhealthy

# ---- (e) an object corrupted in the bucket ----------------------------------
randfile "$T/e1" $((3 * 1024 * 1024))
randfile "$T/e2" $((3 * 1024 * 1024 + 1))
k1=$(put_ok "$T/e1")
k2=$(put_ok "$T/e2")
flip_byte "$(s3_object "$k1")" $((2 * 1024 * 1024 + 5))
flip_byte "$(s3_object "$k2")" 100
# The bucket's copy is the only healthy one: the read starts there.
gs sector set-health l1 unhealthy
gs sector set-health l2 unhealthy
gsx get "$k1" 2>/dev/null | cmp -s - "$T/e1"
expect_eq "a read of the corrupted blob still gives the right bytes" 0 "$?"
gs stat "$k1" --json
expect_eq "the read marked the bucket's copy bad" "false checksum mismatch" \
	"$(jget '[" ".join([json.dumps(r["healthy"]), r.get("reason", "")]) for r in j["replicas"] if r["sector"] == "s3a"][0]' |
		sed 's/^\(false checksum mismatch\).*/\1/')"
gs sector set-health l1 healthy
gs sector set-health l2 healthy
gs scrub --once --sector s3a --json
expect_rc "scrub of s3a reports damage" 65
expect_eq "scrub found the other corrupted object" "1" \
	"$(jget 'j["summary"]["newly_unhealthy"]' "$(printf '%s\n' "$OUT" | tail -n 1)")"
gs stat "$k2" --json
expect_eq "scrub marked it bad" "false" \
	"$(jget 'json.dumps([r["healthy"] for r in j["replicas"] if r["sector"] == "s3a"][0])')"
# ---- (f) scrub reads the bucket at its own rate ------------------------------
sed 's|^  s3 {|  s3 { scrub-max-bytes-per-second = 8MiB,|' "$T/g.conf" >"$T/rate.conf"
grep -q scrub-max "$T/rate.conf" || fail "the rate is in the configuration"
run "$GV" --config "$T/rate.conf" --data-dir "$D" scrub --once --sector s3a --json
summary=$(printf '%s\n' "$OUT" | tail -n 1)
bytes=$(jget 'j["summary"]["bytes"]' "$summary")
ms=$(jget 'j["summary"]["duration_ms"]' "$summary")
expect_true "scrub read the bucket's copies ($bytes bytes)" [ "${bytes:-0}" -ge $((20 * 1024 * 1024)) ]
# A token bucket lets one request through ahead: at most 4 MiB early.
expect_true "at no more than 8 MiB/s ($bytes bytes in $ms ms)" \
	[ $(( (bytes - 4 * 1024 * 1024) * 1000 / (8 * 1024 * 1024) )) -le "${ms:-0}" ]
# ---- (g) through the HTTP API ------------------------------------------------
serve_start "$T/serve.log" --config "$T/g.conf" || { fail "the server starts"; finish; }
run "$GV" --server "$SERVE_URL" sector add web1 --s3 s3://gvtest/web --endpoint "$S3_ENDPOINT" \
	--zone cloud3 --rack r5 --json
expect_rc "sector add --s3 through the server" 0
expect_eq "the server's document names the kind, bucket url and endpoint" \
	"s3 s3://gvtest/web $S3_ENDPOINT" "$(jget '" ".join([j["kind"], j["url"], j["endpoint"]])')"
expect_true "the document holds no credential" [ -z "$(grep -F "$AWS_SECRET_ACCESS_KEY" <<<"$OUT")" ]
expect_true "the server wrote the identity object" \
	[ -f "$T/s3/data/gvtest/web/GRAVITON-SECTOR._S3rver_object" ]
serve_stop
finish
