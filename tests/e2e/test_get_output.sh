#!/usr/bin/env bash
# Where `graviton get` writes, when the replica read first turns out bad
# after some of its bytes went out:
#   - a stdout appended to (`>> app.log`) keeps what it held; a stdout
#     that already had bytes before the read keeps them too;
#   - `-o FIFO` writes into the FIFO (the reader gets the blob) and the
#     FIFO stays a FIFO; `-o` a character device writes into it;
#   - `-o SYMLINK` writes through the link into its target, the link
#     stays; `-o` a hard-linked file rewrites the shared file in place;
#   - `-o DIRECTORY` is refused;
#   - with --server the same outputs keep their kind and earlier content.
. "$(dirname "$0")/lib.sh"

# The environment must not choose a server or a token for us.
unset GRAVITON_SERVER GRAVITON_TOKEN

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init 6 sectors" 0
[ "$RC" = 0 ] || finish

# bad_blob NAME SIZE: store a fresh random blob $T/NAME and flip its last
# byte in the replica a read tries first, so that read fails only after
# its bytes went out.  Prints the key.
bad_blob() {
	local k s f

	randfile "$T/$1" "$2" || return 1
	k=$(put_ok "$T/$1") || return 1
	s=$(read_order "$k") || return 1
	f=$(replica_file "$k" "${s%%$'\n'*}")
	[ -n "$f" ] || return 1
	flip_byte "$f" $(($2 - 1)) || return 1
	printf '%s\n' "$k"
}

# ---- stdout appended to ----------------------------------------------------

K=$(bad_blob app 300000) || { fail "set-up: bad blob"; finish; }
printf 'line one\nline two\n' >"$T/app.log"
cp "$T/app.log" "$T/app.want"
cat "$T/app" >>"$T/app.want"
gvx get "$K" >>"$T/app.log" 2>"$T/.err"
rc=$?
expect_eq "get >> app.log over a bad first replica exits 0" 0 "$rc"
expect_same_file "get >> app.log keeps the earlier lines and appends the blob" \
	"$T/app.want" "$T/app.log"

# ---- stdout with bytes already written through it ---------------------------

K=$(bad_blob grouped 300000) || { fail "set-up: bad blob"; finish; }
{ printf 'header\n'; cat "$T/grouped"; printf 'trailer\n'; } >"$T/grouped.want"
{ printf 'header\n'; gvx get "$K" 2>"$T/.err"; echo "$?" >"$T/.rc"; printf 'trailer\n'; } \
	>"$T/grouped.out"
expect_eq "{ echo; get; echo; } > FILE over a bad first replica exits 0" 0 "$(cat "$T/.rc")"
expect_same_file "{ echo; get; echo; } > FILE keeps what came before and after" \
	"$T/grouped.want" "$T/grouped.out"

# ---- -o FIFO -----------------------------------------------------------------

K=$(bad_blob fifo 300000) || { fail "set-up: bad blob"; finish; }
mkfifo "$T/pipe.fifo"
# The reader gives up after 60 s; it is stopped at once when the FIFO is
# no longer there to write into.
timeout 60 cat "$T/pipe.fifo" >"$T/fifo.got" &
reader=$!
gv get "$K" -o "$T/pipe.fifo"
expect_rc "get -o FIFO over a bad first replica exits 0" 0
if [ -p "$T/pipe.fifo" ]; then
	ok "get -o FIFO: the FIFO is still a FIFO"
	wait "$reader"
	expect_eq "get -o FIFO: the reader ends cleanly" 0 "$?"
else
	fail "get -o FIFO: the FIFO is still a FIFO" "a FIFO" "$(stat -c %F "$T/pipe.fifo" 2>&1)"
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
fi
expect_same_file "get -o FIFO: the reader got the blob" "$T/fifo" "$T/fifo.got"

# ---- -o a character device -----------------------------------------------------

if mknod "$T/null" c 1 3 2>/dev/null; then
	K=$(bad_blob dev 100000) || { fail "set-up: bad blob"; finish; }
	gv get "$K" -o "$T/null"
	expect_rc "get -o a character device exits 0" 0
	expect_eq "get -o a character device: still that device" "character special file" \
		"$(stat -c %F "$T/null")"
else
	note "mknod not permitted here: the character-device case is skipped"
fi

# ---- -o SYMLINK ----------------------------------------------------------------

K=$(bad_blob linked 300000) || { fail "set-up: bad blob"; finish; }
mkdir "$T/real"
printf 'old content\n' >"$T/real/target"
ln -s real/target "$T/link"
gv get "$K" -o "$T/link"
expect_rc "get -o SYMLINK exits 0" 0
expect_eq "get -o SYMLINK: the link is still a link to its target" "real/target" \
	"$(readlink "$T/link" 2>&1)"
expect_same_file "get -o SYMLINK: the target holds the blob" "$T/linked" "$T/real/target"

# ---- -o a hard-linked file -----------------------------------------------------

K=$(bad_blob hard 300000) || { fail "set-up: bad blob"; finish; }
printf 'shared\n' >"$T/hard.a"
ln "$T/hard.a" "$T/hard.b"
ino=$(stat -c %i "$T/hard.a")
gv get "$K" -o "$T/hard.a"
expect_rc "get -o a hard-linked file exits 0" 0
expect_eq "get -o a hard-linked file: rewritten in place (same inode, 2 links)" "$ino 2" \
	"$(stat -c '%i %h' "$T/hard.a")"
expect_same_file "get -o a hard-linked file: the other name sees the blob" "$T/hard" "$T/hard.b"

# A blob none of whose replicas is good leaves an in-place target alone.
for s in $(replica_sectors "$K"); do
	f=$(replica_file "$K" "$s")
	[ -n "$f" ] && flip_byte "$f" 7
done
cp "$T/hard.a" "$T/hard.before"
gv get "$K" -o "$T/hard.b"
expect_rc "every replica bad: get -o a hard-linked file fails" 69
expect_same_file "every replica bad: the hard-linked file is left untouched" \
	"$T/hard.before" "$T/hard.b"

# ---- -o DIRECTORY ----------------------------------------------------------------

K=$(put_ok "$T/hard") || { fail "set-up: put"; finish; }
mkdir "$T/adir"
gv get "$K" -o "$T/adir"
expect_fail "get -o DIRECTORY is refused" 73 "directory"
expect_eq "get -o DIRECTORY: the directory is left as it was" "directory " \
	"$(stat -c %F "$T/adir") $(ls -A "$T/adir")"

# ---- the same outputs through --server ------------------------------------------

must serve_start "$T/serve.log"
must randfile "$T/remote" 300000
K=$(put_ok "$T/remote") || { fail "set-up: put"; finish; }
printf 'earlier\n' >"$T/remote.log"
{ printf 'earlier\n'; cat "$T/remote"; } >"$T/remote.want"
"$GV" --server "$SERVE_URL" get "$K" >>"$T/remote.log" 2>"$T/.err"
expect_eq "--server get >> FILE exits 0" 0 "$?"
expect_same_file "--server get >> FILE keeps the earlier line" "$T/remote.want" "$T/remote.log"

mkfifo "$T/remote.fifo"
timeout 60 cat "$T/remote.fifo" >"$T/remote.fifo.got" &
reader=$!
run "$GV" --server "$SERVE_URL" get "$K" -o "$T/remote.fifo"
expect_rc "--server get -o FIFO exits 0" 0
if [ -p "$T/remote.fifo" ]; then
	ok "--server get -o FIFO: the FIFO is still a FIFO"
	wait "$reader"
else
	fail "--server get -o FIFO: the FIFO is still a FIFO" "a FIFO" "$(stat -c %F "$T/remote.fifo")"
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
fi
expect_same_file "--server get -o FIFO: the reader got the blob" "$T/remote" "$T/remote.fifo.got"

printf 'old\n' >"$T/real/remote.target"
ln -s real/remote.target "$T/remote.link"
run "$GV" --server "$SERVE_URL" get "$K" -o "$T/remote.link"
expect_rc "--server get -o SYMLINK exits 0" 0
expect_eq "--server get -o SYMLINK: the link stays" "real/remote.target" "$(readlink "$T/remote.link")"
expect_same_file "--server get -o SYMLINK: the target holds the blob" "$T/remote" \
	"$T/real/remote.target"
serve_stop

finish
