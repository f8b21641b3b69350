#!/usr/bin/env bash
# `put -` stores standard input from where it stands: a caller that
# consumed the start of a file (`{ head -c 10 >/dev/null; graviton put -; }
# < file`) stores the rest, locally and with --server alike, under the
# same key; an input read to its end stores the empty blob.
. "$(dirname "$0")/lib.sh"

# The environment must not choose a server or a token for us.
unset GRAVITON_SERVER GRAVITON_TOKEN

gv init --sectors 3 --racks 3 --zones 3
expect_rc "init 3 sectors" 0
[ "$RC" = 0 ] || finish

must randfile "$T/in" 300000
tail -c +11 "$T/in" >"$T/rest"
: >"$T/empty"
REST=$(key_of "$T/rest")
EMPTY=$(key_of "$T/empty")

# put_after CMD SKIP: run `put -` (CMD: local or remote) on $T/in after
# SKIP bytes of it were read by another process; prints the key.
put_after() {
	local skip=$1
	shift
	{ head -c "$skip" >/dev/null; "$@" put - 2>"$T/.err"; } <"$T/in"
}

local_key=$(put_after 10 "$GV" --data-dir "$D")
expect_eq "local put - after 10 bytes were read stores the rest" "$REST" "$local_key"
gv get "$REST" -o "$T/rest.got"
expect_same_file "local: the stored bytes are the rest of the input" "$T/rest" "$T/rest.got"

k=$({ cat >/dev/null; "$GV" --data-dir "$D" put - 2>"$T/.err"; } <"$T/in")
expect_eq "local put - of an input read to its end stores the empty blob" "$EMPTY" "$k"

must serve_start "$T/serve.log"
remote_key=$(put_after 10 "$GV" --server "$SERVE_URL")
expect_eq "--server put - after 10 bytes were read stores the rest" "$REST" "$remote_key"
expect_eq "local and --server give the same key" "$local_key" "$remote_key"

k=$({ cat >/dev/null; "$GV" --server "$SERVE_URL" put - 2>"$T/.err"; } <"$T/in")
expect_eq "--server put - of an input read to its end stores the empty blob" "$EMPTY" "$k"
serve_stop

finish
