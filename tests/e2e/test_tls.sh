#!/usr/bin/env bash
# TLS on the API listener: graviton.server.tls { cert, key } with a
# throwaway certificate made here.  curl --cacert reaches the API (token
# still required); plain HTTP to the TLS port fails cleanly (the client
# gets an error, the server goes on serving); a missing, malformed or
# mismatched file stops serve at start with the file named and the
# reason.
. "$(dirname "$0")/lib.sh"

OPENSSL=$(command -v openssl) || { fail "openssl is missing"; finish; }
mkcert() { # mkcert NAME: NAME.crt and NAME.key, for 127.0.0.1
	"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$T/$1.key" -out "$T/$1.crt" \
		>/dev/null 2>&1
}
must mkcert a
must mkcert b
conf() { # conf NAME CERT KEY
	printf 'graviton.server.tls { cert = "%s", key = "%s" }\n' "$2" "$3" >"$T/$1.conf"
}

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
TOK=$(cat "$D/token")
must randfile "$T/f" 10000
K=$(put_ok "$T/f") || fail "put"

# serve_tls CONF: serve on a free port with CONF; waits for /healthz over
# TLS (30 s at most).  Sets PORT, PID.
serve_tls() {
	local i
	PORT=$(free_port)
	"$GV" --data-dir "$D" --config "$1" serve --listen "127.0.0.1:$PORT" >>"$T/serve.log" 2>&1 </dev/null &
	PID=$!
	for ((i = 0; i < 300; i++)); do
		curl -q -s -o /dev/null --cacert "$T/a.crt" "https://127.0.0.1:$PORT/healthz" && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

conf good "$T/a.crt" "$T/a.key"
must serve_tls "$T/good.conf"
U=https://127.0.0.1:$PORT
code() { curl -q -s -o /dev/null -w '%{http_code}' --max-time 20 "$@"; }
expect_eq "curl --cacert: /healthz over TLS" 200 "$(code --cacert "$T/a.crt" "$U/healthz")"
expect_eq "the token is still required over TLS" 401 "$(code --cacert "$T/a.crt" "$U/v1/status")"
expect_eq "GET /v1/status with the token over TLS" 200 \
	"$(code --cacert "$T/a.crt" -H "Authorization: Bearer $TOK" "$U/v1/status")"
run curl -q -s --max-time 20 --cacert "$T/a.crt" -H "Authorization: Bearer $TOK" "$U/v1/blobs/$K" -o "$T/f.got"
expect_rc "GET a blob over TLS" 0
expect_same_file "... its bytes" "$T/f" "$T/f.got"
run curl -q -s --max-time 20 "$U/healthz"
expect_true "a client that does not trust the certificate is refused (curl $RC)" [ "$RC" != 0 ]
run curl -q -s --max-time 20 "http://127.0.0.1:$PORT/healthz"
expect_true "plain HTTP to the TLS port fails (curl $RC), within the timeout" \
	[ "$RC" != 0 ] && [ "$RC" != 28 ]
expect_eq "... and the server goes on serving TLS" 200 "$(code --cacert "$T/a.crt" "$U/healthz")"
expect_match "the log names the https URL" "event=listening url=https://127.0.0.1:$PORT" \
	"$(grep event=listening "$T/serve.log")"
kill -TERM "$PID"
wait "$PID"
expect_eq "serve stops cleanly" 0 "$?"

# Bad files: serve refuses to start, naming the file.
bad() { # bad DESC PATTERN CERT KEY
	conf bad "$3" "$4"
	run timeout 60 "$GV" --data-dir "$D" --config "$T/bad.conf" serve --listen "127.0.0.1:$(free_port)"
	expect_true "$1: serve fails (exit $RC)" [ "$RC" != 0 ] && [ "$RC" != 124 ]
	expect_match "$1: the error says so" "$2" "$ERR"
}
bad "a missing certificate" "TLS certificate $T/none.crt: No such file" "$T/none.crt" "$T/a.key"
printf 'not a certificate\n' >"$T/junk.crt"
bad "a malformed certificate" "TLS certificate $T/junk.crt: not a PEM certificate" \
	"$T/junk.crt" "$T/a.key"
bad "a key that is a certificate" "TLS key $T/a.crt: not an unencrypted PEM private key" \
	"$T/a.crt" "$T/a.crt"
bad "another certificate's key" "TLS key $T/b.key does not match the certificate $T/a.crt" \
	"$T/a.crt" "$T/b.key"
bad "a certificate without a key" "TLS needs both a certificate and a key" "$T/a.crt" ""
finish
