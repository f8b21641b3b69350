#!/usr/bin/env bash
# `graviton index rebuild` refuses what it cannot rebuild safely, and keeps
# what the old index knew about sectors:
#   (a) refused (exit 75, nothing changed) while `graviton serve` runs on the
#       data directory; puts the server acknowledges afterwards survive its
#       restart;
#   (b) refused (exit 65) when two directories carry the same sector
#       identity, instead of merging them;
#   (c) a drained sector stays retired, and a drained and removed one stays
#       absent, after `index rebuild --force`.
. "$(dirname "$0")/lib.sh"

# http_put FILE: PUT FILE to the running server; prints the key.
http_put() {
	"$PY" - "$SERVE_URL" "$1" <<'PYEOF'
import http.client, json, os, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
c.request("PUT", "/v1/blobs", body=open(sys.argv[2], "rb").read(),
          headers={"Authorization": "Bearer " + os.environ["GRAVITON_TOKEN"]})
r = c.getresponse()
body = r.read()
if r.status != 201:
    sys.exit("PUT answered %d: %s" % (r.status, body[:200]))
print(json.loads(body)["key"])
PYEOF
}

# get_all LIST: every "FILE KEY" line of LIST reads back identical; prints
# the number that do not.
get_all() {
	local f k bad=0

	while read -r f k; do
		"$GV" --data-dir "$D" get "$k" 2>/dev/null | cmp -s - "$f" || bad=$((bad + 1))
	done <"$1"
	echo "$bad"
}

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init" 0
[ "$RC" = 0 ] || finish

# ---- (a) under a running server --------------------------------------------
serve_start "$T/serve.log" || { fail "the server starts"; finish; }
: >"$T/acked"
for i in 1 2 3; do
	randfile "$T/a$i" $((4096 * i))
	k=$(http_put "$T/a$i") && echo "$T/a$i $k" >>"$T/acked"
done
ino=$(stat -c %i "$D/graviton.db")
gv index rebuild --force
expect_fail "index rebuild --force while serve runs is refused" 75 "serve is running"
expect_eq "the refused rebuild left the server's index file in place" "$ino" \
	"$(stat -c %i "$D/graviton.db")"
for i in 4 5 6; do
	randfile "$T/a$i" $((4096 * i + 1))
	k=$(http_put "$T/a$i") && echo "$T/a$i $k" >>"$T/acked"
done
expect_eq "the server acknowledged 6 puts" 6 "$(wc -l <"$T/acked")"
serve_stop
expect_eq "the server stopped cleanly" 0 "$SERVE_RC"
serve_start "$T/serve.log" || { fail "the server restarts"; finish; }
serve_stop
expect_eq "every acknowledged put reads back after the restart" 0 "$(get_all "$T/acked")"
gv index rebuild --force
expect_rc "index rebuild --force with no server running" 0
expect_eq "every acknowledged put reads back after the rebuild" 0 "$(get_all "$T/acked")"

# ---- (b) two directories with one identity ----------------------------------
cp -a "$D/sectors/s02" "$T/s02-copy"
snapshot "$T/before"
gv index rebuild --force --sector "$T/s02-copy"
expect_fail "two directories carrying identity s02 are refused" 65 "both carry sector identity s02"
expect_unchanged "the refused rebuild changed nothing" "$T/before"
gv index rebuild --force --sector "$D/sectors/s02"
expect_rc "the same directory named twice counts once" 0
rm -rf "$T/s02-copy"

# ---- (c) retired and removed sectors ------------------------------------------
gv sector drain s05
expect_rc "drain s05" 0
gv sector drain s06
expect_rc "drain s06" 0
gv sector remove s06
expect_rc "remove s06" 0
gv index rebuild --force --json
expect_rc "index rebuild --force after drain and remove" 0
jcheck "the rebuild skipped the removed sector's directory" "j['skipped'] == 1"
gv sector list --json
jcheck "s05 is still retired, s06 still absent, the 4 others active" \
	"{s['id']: s['state'] for s in j} == {'s01': 'active', 's02': 'active', 's03': 'active', 's04': 'active', 's05': 'retired'}"
expect_eq "every acknowledged put still reads back" 0 "$(get_all "$T/acked")"
gv index rebuild --force --sector "$D/sectors/s06"
expect_rc "a removed sector named with --sector is brought back" 0
gv sector list --json
jcheck "s06 is back (active), named explicitly" "any(s['id'] == 's06' and s['state'] == 'active' for s in j)"


# A configuration file's data directory and index path are the ones rebuilt.
mkdir -p "$T/cfgix"
cat >"$T/ix.conf" <<EOF
graviton.data-dir = "$D"
graviton.index.path = "$T/cfgix/other.db"
EOF
run "$GV" --config "$T/ix.conf" index rebuild --force --json
expect_rc "index rebuild with a configured index path" 0
expect_eq "... writes the configured index" yes "$([ -s "$T/cfgix/other.db" ] && echo yes || echo no)"
run "$GV" --config "$T/ix.conf" sector list --json
jcheck "... which the store then opens" "any(s['id'] == 's06' for s in j)"

finish
