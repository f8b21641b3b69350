#!/usr/bin/env bash
# `make run`: serve the embedded default - local sector directories under
# ./graviton-data (created with 6 sectors over 3 racks and 3 zones on the
# first start) and a SQLite index - on 127.0.0.1:8787.  Ctrl-C stops it.
set -euo pipefail
GV=${1:-build/graviton}
export GRAVITON_DATA_DIR=${GRAVITON_DATA_DIR:-$PWD/graviton-data}
LISTEN=${GRAVITON_LISTEN:-127.0.0.1:8787}
URL=http://$LISTEN

# The first start writes the bearer token the server requires into
# $GRAVITON_DATA_DIR/token (mode 0600); the lines below read it from there.
# init writes it now (and keeps an existing one) so that the dashboard's
# link can carry it ($GRAVITON_TOKEN instead when set, as serve takes it):
# in the URL's fragment, which the browser keeps to itself, never sends.
[ -s "$GRAVITON_DATA_DIR/token" ] || "$GV" init >/dev/null
DASH="$URL/#token=${GRAVITON_TOKEN:-$(cat "$GRAVITON_DATA_DIR/token" 2>/dev/null || true)}"
cat <<MSG
Graviton is starting on $URL (data in $GRAVITON_DATA_DIR).  Requests need
the token in $GRAVITON_DATA_DIR/token.  Try, from another shell:

  AUTH="Authorization: Bearer \$(cat $GRAVITON_DATA_DIR/token)"
  echo 'hello, graviton' > /tmp/hello.txt
  KEY=\$(curl -s -H "\$AUTH" -X PUT --data-binary @/tmp/hello.txt $URL/v1/blobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  curl -s -H "\$AUTH" $URL/v1/blobs/\$KEY
  curl -s -H "\$AUTH" $URL/v1/blobs/\$KEY/replicas
  curl -s -H "\$AUTH" $URL/v1/status
  curl -s $URL/metrics | grep ^graviton_replication
  $GV --server $URL status     # the CLI finds the token by itself

Dashboard (opens logged in): $DASH

Ctrl-C stops the server cleanly.
MSG
exec "$GV" serve --listen "$LISTEN"
