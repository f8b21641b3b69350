#!/usr/bin/env bash
# A password in a PostgreSQL index URL (user:PASSWORD@host, ?password=) is
# never printed: not by `index migrate` (text, --json, refusals), not by
# `config check`, not in errors (backend mismatch, rebuild refused, a URL
# libpq cannot parse), not in serve's log.  The throwaway server trusts
# every local connection, so any password is accepted.
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/../pg.sh"

pg_start "$T/pg" || { fail "start a throwaway PostgreSQL" "a server" "none"; finish; }

PW1=UserInfoSekr3t
PW2=QueryOptSekr3t
URL="postgresql://postgres:$PW1@127.0.0.1:$PG_PORT/graviton?connect_timeout=5&password=$PW2"
SHOWN="postgresql://postgres:***@127.0.0.1:$PG_PORT/graviton?connect_timeout=5&password=***"

# no_secret DESC TEXT: TEXT holds neither password.
no_secret() {
	if grep -Eq "$PW1|$PW2" <<<"$2"; then
		fail "$1: no password shown" "no password" "$(grep -Eo ".{0,40}($PW1|$PW2).{0,20}" <<<"$2" | head -n 1)"
	else
		ok "$1: no password shown"
	fi
}

gv init --sectors 3 --racks 3 --zones 3
expect_rc "init (SQLite index)" 0
randfile "$T/f1" 9000
put_ok "$T/f1" >/dev/null || fail "put f1" 0 1

# ---- index migrate ------------------------------------------------------------
gv index migrate --to "$URL" --json
expect_rc "index migrate --to a URL with passwords --json" 0
no_secret "migrate --json" "$OUT$ERR"
expect_eq "... 'to' shows the URL with its passwords hidden" "$SHOWN" "$(jget 'j["to"]')"
gv index migrate --to "$URL"
expect_fail "migrating into the non-empty index -> 73" 73 "must be empty"
no_secret "the refusal" "$OUT$ERR"
gv --index "$URL" index migrate --to "sqlite:$T/back.db" --json
expect_rc "index migrate from a URL with passwords" 0
no_secret "migrate back --json" "$OUT$ERR"
expect_eq "... 'from' shows the URL with its passwords hidden" "$SHOWN" "$(jget 'j["from"]')"
gv --index "$URL" index migrate --to "sqlite:$T/back2.db"
expect_rc "index migrate, text" 0
no_secret "migrate, text" "$OUT$ERR"

# ---- status and errors ---------------------------------------------------------
gv --index "$URL" status --json
expect_rc "status on the PostgreSQL index" 0
no_secret "status" "$OUT$ERR"
gv --index "$URL" index rebuild --force
expect_fail "rebuild refuses a PostgreSQL URL" 65 "rebuild writes a SQLite index"
no_secret "rebuild's refusal" "$OUT$ERR"
cat >"$T/mismatch.conf" <<EOF
graviton.data-dir = "$D"
graviton.index { backend = sqlite, path = "$URL" }
EOF
run "$GV" --config "$T/mismatch.conf" status
expect_fail "a URL naming another backend than the configured one" 65 "names backend"
no_secret "the backend mismatch" "$OUT$ERR"
gv --index "postgresql://postgres:$PW1%zz@127.0.0.1:$PG_PORT/graviton" status
expect_fail "a password libpq cannot decode" 69 "cannot connect"
no_secret "libpq's message" "$OUT$ERR"

# ---- config check ------------------------------------------------------------
cat >"$T/url.conf" <<EOF
graviton.index.url = "$URL"
EOF
run "$GV" config check "$T/url.conf"
expect_rc "config check with a URL holding passwords" 0
no_secret "config check" "$OUT$ERR"
expect_match "... shows the URL, passwords hidden" "password hidden" "$OUT"
run "$GV" config check "$T/url.conf" --show-secrets
expect_match "--show-secrets shows it" "$PW1" "$OUT"

# ---- serve's log --------------------------------------------------------------
serve_start "$T/serve.log" --index "$URL" || fail "serve on the PostgreSQL index" up down
gv --server "$SERVE_URL" status --json
expect_rc "status through the server" 0
no_secret "status through the server" "$OUT$ERR"
serve_stop
no_secret "serve's log" "$(cat "$T/serve.log")"
finish
