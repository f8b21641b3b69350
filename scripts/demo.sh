#!/usr/bin/env bash
# A short tour of Graviton on the embedded default (local sector
# directories + SQLite): initialise a data directory, store files, lose a
# whole sector and a byte of another copy, still read everything back,
# then replace the disk, repair and scrub until the store is healthy again.
#
# usage: scripts/demo.sh [path/to/graviton]   (DEMO_DIR=... to keep the data)
set -euo pipefail

GV=${1:-build/graviton}
GV=$(cd "$(dirname "$GV")" && pwd)/$(basename "$GV")
DIR=${DEMO_DIR:-$(mktemp -d /tmp/graviton-demo.XXXXXX)}
export GRAVITON_DATA_DIR="$DIR/data"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "initialise $GRAVITON_DATA_DIR: 6 sectors over 3 racks and 3 zones"
run "$GV" init --sectors 6 --racks 3 --zones 3
run "$GV" sector list

step "store three files"
head -c 1048576 /dev/urandom > "$DIR/one-mib.bin"
printf 'hello, graviton\n' > "$DIR/hello.txt"
: > "$DIR/empty"
K1=$("$GV" put "$DIR/one-mib.bin"); echo "one-mib.bin -> $K1"
K2=$("$GV" put "$DIR/hello.txt");   echo "hello.txt   -> $K2"
K3=$("$GV" put "$DIR/empty");       echo "empty       -> $K3"
run "$GV" stat "$K1"

step "lose a whole sector: delete the directory of the first replica's sector"
S=$("$GV" stat "$K1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["replicas"][0]["sector"])')
run rm -rf "$GRAVITON_DATA_DIR/sectors/$S"

step "flip one byte in another copy of hello.txt"
HEX=${K2#sha256:}; HEX=${HEX%%:*}
F=$(find "$GRAVITON_DATA_DIR/sectors" -name "$HEX-*" | head -n 1)
printf 'H' | dd of="$F" bs=1 count=1 conv=notrunc status=none
echo "corrupted $F"

step "read everything back, verified"
"$GV" get "$K1" -o "$DIR/one-mib.out" && cmp "$DIR/one-mib.bin" "$DIR/one-mib.out" && echo "one-mib.bin: identical"
"$GV" get "$K2" -o "$DIR/hello.out" && cmp "$DIR/hello.txt" "$DIR/hello.out" && echo "hello.txt:   identical ($(cat "$DIR/hello.out"))"
"$GV" get "$K3" | cmp - "$DIR/empty" && echo "empty:       identical"

step "scrub: re-read every replica against its key (exit 65: it found damage)"
run "$GV" scrub --once || echo "scrub exit status: $?"

step "what the index now knows: the bad copy is marked, the lost sector's copies are gone"
run "$GV" stat "$K2"
run "$GV" status

step "replace the lost disk with a new sector in its rack and zone; repair restores every copy"
run "$GV" sector replace "$S" s07 --path "$GRAVITON_DATA_DIR/sectors/s07" --repair
run "$GV" sector remove "$S"                 # forget the retired one

step "healthy again: every blob at its factor, every sector healthy"
run "$GV" sector list
run "$GV" status

printf '\nData kept in %s\n' "$DIR"
