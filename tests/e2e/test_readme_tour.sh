#!/usr/bin/env bash
# README's HTTP tour, pasted into a shell against a real server, does what
# its comments say: the sector it takes out holds the blob, so the blob is
# under-replicated (1), and the repair it runs brings that back to 0; a
# big file goes up with curl -T.  (Its server address and token file are
# the test's; the big file is smaller.)
source "$(dirname "$0")/lib.sh"

README=$E2E_DIR/../../README.md
must gv init
must serve_start "$T/serve.log"
# The tour's block: from the heading to the end of its first sh block.
awk '/^## Five-minute tour \(HTTP\)/ { on = 1 } on && /^```sh$/ { inb = 1; next }
     inb && /^```$/ { exit } inb { print }' "$README" >"$T/tour.sh"
expect_true "the README has an HTTP tour" grep -q 'v1/blobs' "$T/tour.sh"
sed -i -e "s|/tmp/|$T/|g" -e "s|^U=http://127.0.0.1:8787\$|U=$SERVE_URL|" \
	-e "s|cat graviton-data/token|cat $D/token|" -e "s|head -c 200M|head -c 3M|" "$T/tour.sh"
expect_true "the tour's server and token are the test's" \
	grep -q "^U=$SERVE_URL\$" "$T/tour.sh"
# curl without the test's .curlrc (the tour passes its own header).
(cd "$T" && PATH=/usr/bin:/bin CURL_HOME=/nonexistent bash -e "$T/tour.sh") >"$T/tour.out" 2>&1
expect_eq "the tour runs to its end" 0 "$?"
note "$(cat "$T/tour.out")"
expect_eq "the blob is under-replicated once its sector is out, then repaired" \
	"graviton_replication_under_replicated 1 graviton_replication_under_replicated 0" \
	"$(grep '^graviton_replication_under_replicated' "$T/tour.out" | tr '\n' ' ' | sed 's/ $//')"
expect_match "curl -T stores the big file" '"size":3145728' "$(cat "$T/tour.out")"
expect_match "the repair job is done" '"state":"done"' "$(cat "$T/tour.out")"
finish
