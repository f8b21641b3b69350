#!/usr/bin/env bash
# Authentication is on by default.  init writes a random token into
# DIR/token (mode 0600); serve requires it on every request but /healthz,
# /readyz and /metrics: without it PUT, DELETE and POST /v1/sectors get 401 and
# change nothing.  The CLI with --server finds the token by itself;
# GRAVITON_TOKEN and graviton.server.auth-token override it; turning it
# off takes `graviton.server.auth = off` and logs a warning; config check
# does not print the token unless --show-secrets.
. "$(dirname "$0")/lib.sh"
unset GRAVITON_TOKEN GRAVITON_SERVER
absent() { ! grep -qF -- "$1" "$2"; } # absent TEXT FILE

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
expect_eq "init writes DIR/token with mode 0600" 600 "$(stat -c %a "$D/token" 2>&1)"
TOK=$(cat "$D/token")
expect_match "the token is 32 random bytes in hex" '^[0-9a-f]{64}$' "$TOK"
run "$GV" --data-dir "$T/second" init
expect_true "another store gets another token" [ "$(cat "$T/second/token")" != "$TOK" ]
gv init
expect_eq "init again keeps the token" "$TOK" "$(cat "$D/token")"

must randfile "$T/a" 20000
KA=$(put_ok "$T/a") || fail "put a"
LOG=$T/serve.log
must serve_start "$LOG"
expect_match "serve logs that authentication is on" 'event=listening .*auth=on token_from=file' \
	"$(grep event=listening "$LOG")"
expect_true "the token does not appear in the server's log" absent "$TOK" "$LOG"

# curl -q: without the test's ~/.curlrc, so without the token.
code() { curl -q -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "GET /v1/status without a token -> 401" 401 "$(code "$SERVE_URL/v1/status")"
expect_eq "PUT /v1/blobs without a token -> 401" 401 \
	"$(code -X PUT --data-binary @"$T/a" "$SERVE_URL/v1/blobs")"
expect_eq "POST /v1/sectors without a token -> 401" 401 \
	"$(code -X POST -d "{\"id\":\"s09\",\"path\":\"$T/evil\"}" "$SERVE_URL/v1/sectors")"
expect_true "... and creates no directory" [ ! -e "$T/evil" ]
expect_eq "DELETE /v1/blobs/KEY without a token -> 401" 401 \
	"$(code -X DELETE "$SERVE_URL/v1/blobs/$KA")"
expect_eq "a wrong token -> 401" 401 \
	"$(code -H "Authorization: Bearer x$TOK" "$SERVE_URL/v1/status")"
gv get "$KA" -o "$T/a.o"
expect_same_file "the blob survived the refused DELETE" "$T/a" "$T/a.o"
expect_eq "/healthz needs no token" 200 "$(code "$SERVE_URL/healthz")"
expect_eq "/readyz needs no token (readiness probes carry none)" 200 "$(code "$SERVE_URL/readyz")"

H="Authorization: Bearer $TOK"
expect_eq "GET /v1/status with the token -> 200" 200 "$(code -H "$H" "$SERVE_URL/v1/status")"
expect_eq "POST /v1/sectors with the token -> 201" 201 \
	"$(code -H "$H" -X POST -d "{\"id\":\"s09\",\"path\":\"$T/s09\"}" "$SERVE_URL/v1/sectors")"
expect_eq "DELETE /v1/blobs/KEY with the token -> 200" 200 \
	"$(code -H "$H" -X DELETE "$SERVE_URL/v1/blobs/$KA")"
expect_eq "curl picks the token from the test's .curlrc" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/v1/status")"

# The CLI finds the token itself, GRAVITON_TOKEN overrides it.
run env -u GRAVITON_TOKEN "$GV" --data-dir "$D" --server "$SERVE_URL" put "$T/a"
expect_rc "CLI --server without --token picks DIR/token" 0
run env GRAVITON_TOKEN=wrong "$GV" --data-dir "$D" --server "$SERVE_URL" status
expect_fail "GRAVITON_TOKEN overrides DIR/token" 77 "token"
run env -u GRAVITON_TOKEN "$GV" --data-dir "$T/second" --server "$SERVE_URL" status
expect_fail "another directory's token is refused" 77 "token"
serve_stop

# graviton.server.auth-token overrides the file, for serve and the CLI.
printf 'graviton.server.auth-token = "conf-%s"\n' "$TOK" >"$T/tok.conf"
unset GRAVITON_TOKEN
must serve_start "$LOG.2" --config "$T/tok.conf"
expect_match "serve takes the configured token" 'auth=on token_from=config' "$(grep event=listening "$LOG.2")"
expect_eq "DIR/token no longer opens it" 401 "$(code -H "$H" "$SERVE_URL/v1/status")"
run env -u GRAVITON_TOKEN "$GV" --data-dir "$D" --config "$T/tok.conf" --server "$SERVE_URL" status
expect_rc "the CLI takes the configured token" 0
run "$GV" config check "$T/tok.conf"
expect_rc "config check" 0
expect_true "config check does not print the token" absent "$TOK" "$T/.out"
expect_match "... it says a token is set" 'auth-token is set' "$OUT"
run "$GV" config check "$T/tok.conf" --show-secrets
expect_match "config check --show-secrets prints it" "conf-$TOK" "$OUT"
serve_stop

# Off only when asked, with a warning.
printf 'graviton.server.auth = off\n' >"$T/off.conf"
unset GRAVITON_TOKEN
must serve_start "$LOG.3" --config "$T/off.conf"
expect_match "auth = off: serve says auth=off" 'auth=off' "$(grep event=listening "$LOG.3")"
expect_match "... and warns" 'warn.*event=auth_off' "$(cat "$LOG.3")"
expect_eq "... and serves without a token" 200 "$(code "$SERVE_URL/v1/status")"
serve_stop

finish
