#!/usr/bin/env bash
# Progress bars on a terminal (run under script(1) for a pty): put and get
# (local and --server) draw a bar by bytes with the total; scrub's bar
# shows its byte total, never "0 B"; `--server URL repair` draws the same
# bar as a local run from the job document's progress; every redraw
# clears the rest of the line (no leftover characters).  Without a
# terminal nothing is drawn.
. "$(dirname "$0")/lib.sh"

SCRIPT=/usr/bin/script
[ -x "$SCRIPT" ] || { fail "$SCRIPT (util-linux) is missing"; finish; }
# on_tty NAME CMD...: CMD with a pty for stdin, stdout and stderr; what
# the terminal got into $T/NAME.tty.
on_tty() {
	local name=$1
	shift
	"$SCRIPT" -qec "$(printf '%q ' "$@")" "$T/$name.tty" </dev/null >/dev/null 2>&1
}
# bars NAME LABEL: the bar redraws of LABEL in NAME.tty, one a line.
bars() { tr '\r' '\n' <"$T/$1.tty" | grep -a "^$2 \[" || true; }

gv init
expect_rc "init" 0
[ "$RC" = 0 ] || finish
must randfile "$T/big" $((24 * 1024 * 1024))
on_tty put "$GV" --data-dir "$D" put "$T/big"
B=$(bars put put)
expect_match "put on a terminal draws a bar with the byte total" \
	'^put \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/24\.0 MiB ' "$B"
expect_true "every redraw clears the rest of the line" \
	eval "[ \$(tr '\r' '\n' <'$T/put.tty' | grep -ac '^put \[') -ge 1 ] && ! tr '\r' '\n' <'$T/put.tty' | grep -a '^put \[' | grep -avq \$'\033\\\\[K'"
K=$(tr '\r' '\n' <"$T/put.tty" | grep -ao 'sha256:[0-9a-f]*:[0-9]*' | tail -n 1)
expect_match "put printed the key" '^sha256:' "$K"
on_tty get "$GV" --data-dir "$D" get "$K" -o "$T/big.got"
expect_match "get -o on a terminal draws a bar with the byte total" \
	'^get \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/24\.0 MiB ' "$(bars get get)"
expect_same_file "... and gets the bytes" "$T/big" "$T/big.got"
run "$GV" --data-dir "$D" put "$T/big"
expect_true "without a terminal nothing is drawn" eval "! printf '%s' \"\$ERR\" | grep -q 'put \\['"

on_tty scrub "$GV" --data-dir "$D" scrub --once
B=$(bars scrub scrub | tail -n 1)
expect_match "scrub's bar shows its byte total (3 copies of 24 MiB)" \
	'^scrub \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/72\.0 MiB ' "$B"
expect_true "... never a total of 0 B" eval "! bars scrub scrub | grep -q '/0 B '"

# rebalance onto two new empty sectors draws its bar, moves in between.
for i in $(seq 1 30); do
	must randfile "$T/small$i" $((256 * 1024))
	put_ok "$T/small$i" >/dev/null || fail "put small$i"
done
for i in 7 8; do
	gv sector add "s0$i" --path "$T/s0$i" --rack "rack-$i" --zone "zone-$i"
done
on_tty rebalance "$GV" --data-dir "$D" rebalance --force --threshold 0.00000001
expect_match "rebalance on a terminal draws a bar with the byte total" \
	'^rebalance \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/[0-9.]+ [KMG]?i?B ' \
	"$(bars rebalance rebalance)"
expect_match "... and prints each move in human-readable size" \
	'done +sha256:[0-9a-f]+:[0-9]+ s0[1-6] -> s0[78] [0-9.]+ (B|KiB|MiB|GiB)' \
	"$(tr '\r' '\n' <"$T/rebalance.tty")"

on_tty drain "$GV" --data-dir "$D" sector drain s07
expect_match "sector drain on a terminal draws a bar by the sector's bytes" \
	'^drain \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/[0-9.]+ [KMG]?i?B ' "$(bars drain drain)"

# A rate-limited repair on the server: the bar follows the job document.
cat >"$T/slow.conf" <<'CONF'
graviton.replication.repair.enabled = false
graviton.replication.scrub.enabled = false
graviton.replication.rebalance.enabled = false
graviton.replication.repair.max-bytes-per-second = 4MiB
CONF
must serve_start "$T/serve.log" --config "$T/slow.conf"
curl -s -o /dev/null -X PATCH -d '{"healthy":false}' "$SERVE_URL/v1/sectors/$(replica_sectors "$K" | head -n 1)"
on_tty repair env GRAVITON_TOKEN="$GRAVITON_TOKEN" "$GV" --server "$SERVE_URL" repair
B=$(bars repair repair)
expect_match "--server repair draws the bar from the server's progress (bytes and keys)" \
	'^repair \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/[0-9.]+ MiB .* [0-9]+/[1-9][0-9]* ETA' "$B"
expect_match "... partway at some point" '\[#+\.+\] +[1-9][0-9]?% ' "$B"
on_tty putr env GRAVITON_TOKEN="$GRAVITON_TOKEN" "$GV" --server "$SERVE_URL" put "$T/big"
expect_match "--server put draws a bar by bytes sent" \
	'^put \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/24\.0 MiB ' "$(bars putr put)"
on_tty getr env GRAVITON_TOKEN="$GRAVITON_TOKEN" "$GV" --server "$SERVE_URL" get "$K" -o "$T/big.got2"
expect_match "--server get -o draws a bar by bytes received" \
	'^get \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B/24\.0 MiB ' "$(bars getr get)"
expect_same_file "... and gets the bytes" "$T/big" "$T/big.got2"
serve_stop
finish
