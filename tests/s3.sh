# tests/s3.sh - a throwaway S3-compatible server for the tests (sourced).
#
#   s3_start DIR [BUCKET...]  start the server with its data in DIR on a
#                  free 127.0.0.1 port, SigV4 signatures checked, the
#                  buckets created; exports S3_PORT, S3_ENDPOINT
#                  (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID,
#                  AWS_SECRET_ACCESS_KEY (the one key pair it takes) and
#                  AWS_DEFAULT_REGION
#   s3_stop        stop it (SIGTERM, then SIGKILL); idempotent
#   s3_restart     start it again after s3_stop, same port and data
#
# The server is @20minutes/s3rver (a fork of s3rver that checks SigV4
# signatures; s3rver 3.x accepts any V4 signature) from the npm registry,
# pinned, installed once into $GV_S3_CACHE (default
# ~/.cache/graviton/s3server-$S3_SERVER_VERSION) under a lock, and run by
# tests/s3/s3server.js with Debian's nodejs.  Missing node or npm, or an
# install that fails, fails loudly, never skips (scripts/install-deps.sh
# installs nodejs and npm).  _s3_reap, called from the sourcing script's
# exit trap, stops a server still running.

S3_SERVER_PACKAGE=@20minutes/s3rver
S3_SERVER_VERSION=4.0.4
_S3_PID=
_S3_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_s3_install() {
	local cache=${GV_S3_CACHE:-$HOME/.cache/graviton/s3server-$S3_SERVER_VERSION}

	S3_MODULES=$cache/node_modules
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "FAIL: node and npm are needed for the S3 test server; install the Debian" \
			"packages nodejs and npm (scripts/install-deps.sh)" >&2
		return 1
	fi
	[ -f "$S3_MODULES/@20minutes/s3rver/package.json" ] && [ -f "$cache/.done" ] && return 0
	mkdir -p "$cache" || return 1
	(
		flock 9
		[ -f "$cache/.done" ] && exit 0
		# commander 12 still runs on Debian 12's node 18.
		cat >"$cache/package.json" <<-EOF
			{ "name": "graviton-test-s3", "private": true,
			  "dependencies": { "$S3_SERVER_PACKAGE": "$S3_SERVER_VERSION" },
			  "overrides": { "commander": "12.1.0" } }
		EOF
		npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
			>"$cache/install.log" 2>&1 || {
			echo "FAIL: npm install of $S3_SERVER_PACKAGE@$S3_SERVER_VERSION failed:" >&2
			tail -n 20 "$cache/install.log" >&2
			exit 1
		}
		touch "$cache/.done"
	) 9>"$cache.lock"
}

s3_start() {
	S3_DIR=$1
	shift
	S3_BUCKETS=("$@")
	_s3_install || return 1
	mkdir -p "$S3_DIR" || return 1
	export AWS_ACCESS_KEY_ID=GVTESTACCESSKEY
	export AWS_SECRET_ACCESS_KEY=gv-test-secret-$RANDOM$RANDOM
	export AWS_DEFAULT_REGION=us-east-1
	unset AWS_SESSION_TOKEN
	S3_PORT=
	_s3_launch || return 1
	export S3_PORT S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
}

# Start the server and wait (at most 60 s) for its port file.
_s3_launch() {
	local i

	rm -f "$S3_DIR/port"
	node "$_S3_HERE/s3/s3server.js" "$S3_MODULES" "$S3_DIR/data" "$S3_DIR/port" \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "${S3_PORT:-0}" "${S3_BUCKETS[@]}" \
		>>"$S3_DIR/server.log" 2>&1 &
	_S3_PID=$!
	for i in $(seq 1 600); do
		[ -s "$S3_DIR/port" ] && break
		if ! kill -0 "$_S3_PID" 2>/dev/null; then
			echo "s3_start: the server exited:" >&2
			tail -n 20 "$S3_DIR/server.log" >&2
			_S3_PID=
			return 1
		fi
		sleep 0.1
	done
	if [ ! -s "$S3_DIR/port" ]; then
		echo "s3_start: the server did not start within 60 s" >&2
		s3_stop
		return 1
	fi
	S3_PORT=$(cat "$S3_DIR/port")
}

s3_stop() {
	local i

	[ -n "$_S3_PID" ] || return 0
	kill -TERM "$_S3_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$_S3_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$_S3_PID" 2>/dev/null
	wait "$_S3_PID" 2>/dev/null
	_S3_PID=
}

s3_restart() {
	_s3_launch
}

_s3_reap() {
	local rc=$?

	s3_stop
	[ -n "${S3_DIR:-}" ] && [ "${GV_E2E_KEEP:-0}" != 1 ] && rm -rf "$S3_DIR"
	return "$rc"
}
