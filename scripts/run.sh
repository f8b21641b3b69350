#!/usr/bin/env bash
# `make run`: serve the embedded default - local sector directories under
# ./graviton-data (created with 6 sectors over 3 racks and 3 zones on the
# first start) and a SQLite index - on 127.0.0.1:8787
# (GRAVITON_LISTEN=HOST:PORT for another address, GRAVITON_DATA_DIR for
# another directory).  The lines to try are printed once the server
# answers, below the build's and the server's start-up output.  Ctrl-C
# stops it.
set -euo pipefail
GV=${1:-build/graviton}
export GRAVITON_DATA_DIR=${GRAVITON_DATA_DIR:-$PWD/graviton-data}
LISTEN=${GRAVITON_LISTEN:-127.0.0.1:8787}
URL=http://$LISTEN

"$GV" serve --listen "$LISTEN" &
PID=$!
# Ctrl-C or SIGTERM: the server stops cleanly (a background command of a
# script may ignore SIGINT, so it gets SIGTERM).
trap 'kill -TERM "$PID" 2>/dev/null' INT TERM

up=0
for ((i = 0; i < 300; i++)); do
	kill -0 "$PID" 2>/dev/null || break
	if curl -s -o /dev/null --max-time 1 "$URL/healthz"; then
		up=1
		break
	fi
	sleep 0.1
done
if [ "$up" = 1 ]; then
	# The first start wrote the bearer token the server requires into
	# $GRAVITON_DATA_DIR/token (mode 0600); the lines read it from there.
	# The dashboard's link carries it ($GRAVITON_TOKEN instead when set, as
	# serve takes it) in the URL's fragment, which the browser keeps to
	# itself, never sends.
	DASH="$URL/#token=${GRAVITON_TOKEN:-$(cat "$GRAVITON_DATA_DIR/token" 2>/dev/null || true)}"
	cat <<MSG

Graviton is serving $URL (data in $GRAVITON_DATA_DIR).  Requests need
the token in $GRAVITON_DATA_DIR/token.  Try, from another shell:

  AUTH="Authorization: Bearer \$(cat $GRAVITON_DATA_DIR/token)"
  echo 'hello, graviton' > /tmp/hello.txt
  KEY=\$(curl -s -H "\$AUTH" -X PUT --data-binary @/tmp/hello.txt $URL/v1/blobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  curl -s -H "\$AUTH" $URL/v1/blobs/\$KEY
  curl -s -H "\$AUTH" $URL/v1/blobs/\$KEY/replicas
  curl -s -H "\$AUTH" -T big.iso $URL/v1/blobs     # a big file, streamed
  curl -s -H "\$AUTH" $URL/v1/status
  curl -s $URL/metrics | grep ^graviton_replication
  $GV --server $URL status     # the CLI finds the token by itself

Dashboard (opens logged in): $DASH

Another port: GRAVITON_LISTEN=127.0.0.1:9000 make run.  Ctrl-C stops the
server cleanly.

MSG
fi
# The server's exit status (0 after Ctrl-C or SIGTERM); wait returns
# early when a trapped signal arrives, so wait again.
rc=0
wait "$PID" || rc=$?
while kill -0 "$PID" 2>/dev/null; do
	wait "$PID" && rc=0 || rc=$?
done
exit "$rc"
