# tests/pg.sh - a throwaway PostgreSQL server for the tests (sourced).
#
#   pg_start DIR   initdb + start a server in DIR (created, owned by the
#                  unprivileged user that runs it), unix socket in DIR, TCP
#                  on a free 127.0.0.1 port; creates database "graviton";
#                  exports PG_PORT and GV_TEST_PG_URL
#   pg_stop        stop it (fast: clients are disconnected); idempotent
#   pg_restart     start it again after pg_stop, same port and data
#   pg_sql SQL     run SQL in database "graviton" as the superuser
#   pg_createdb N  create database N; prints its URL
#
# The server runs with fsync=off (tests need no durability), unless
# PG_FSYNC=on (benchmarks comparing its commits with SQLite's).
#
# initdb refuses to run as root, so as root the server runs as `nobody`.
# The server binaries come from Debian's postgresql package
# (/usr/lib/postgresql/N/bin, or $PG_BIN): when they are missing this
# fails loudly, never skips (scripts/install-deps.sh installs them).
# _pg_reap, called from the sourcing script's exit trap, stops a server
# still running.

_PG_UP=0

_pg_bin() {
	local d

	if [ -z "${PG_BIN:-}" ]; then
		for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
			[ -x "$d/initdb" ] && { PG_BIN=$d; break; }
		done
	fi
	if [ -z "${PG_BIN:-}" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
		echo "FAIL: PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb);" \
			"install the Debian package postgresql (scripts/install-deps.sh)" >&2
		return 1
	fi
}

# _pg_as CMD...: run CMD as the server's owner.
_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	PG_DIR=$1
	_pg_bin || return 1
	mkdir -p "$PG_DIR" || return 1
	if [ "$(id -u)" = 0 ]; then
		chown nobody:nogroup "$PG_DIR"
		chmod o+x "$(dirname "$PG_DIR")" # the server's user passes through
	fi
	chmod 700 "$PG_DIR"
	_pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$PG_DIR/initdb.log" 2>&1 || {
		echo "pg_start: initdb failed:" >&2
		tail -n 20 "$PG_DIR/initdb.log" >&2
		return 1
	}
	PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
	pg_restart || return 1
	_pg_as "$PG_BIN/psql" -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
		-c "CREATE DATABASE graviton" >/dev/null || return 1
	export PG_PORT
	export GV_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/graviton"
}

pg_restart() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 120 \
		-o "-k $PG_DIR -h 127.0.0.1 -p $PG_PORT -c fsync=${PG_FSYNC:-off} -c max_connections=300" \
		start >/dev/null || {
		echo "pg_start: the server did not start:" >&2
		tail -n 20 "$PG_DIR/server.log" >&2
		return 1
	}
	_PG_UP=1
}

pg_stop() {
	[ "$_PG_UP" = 1 ] || return 0
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 120 stop >/dev/null
	_PG_UP=0
}

pg_sql() {
	_pg_as "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" \
		-U postgres -d graviton -c "$1"
}

pg_createdb() {
	_pg_as "$PG_BIN/psql" -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
		-c "CREATE DATABASE \"$1\"" >/dev/null || return 1
	echo "postgresql://postgres@127.0.0.1:$PG_PORT/$1"
}

_pg_reap() {
	local rc=$?

	pg_stop
	[ -n "${PG_DIR:-}" ] && [ "${GV_E2E_KEEP:-0}" != 1 ] && rm -rf "$PG_DIR"
	return "$rc"
}
