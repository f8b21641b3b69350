#!/usr/bin/env bash
# `cmake --install` into a DESTDIR, then a program compiled and linked
# against the installed library with `pkg-config --cflags --libs graviton`
# puts and gets a blob.  Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1 SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DEST=$T/dest

DESTDIR=$DEST cmake --install "$BUILD" >"$T/install.log"
pc=$(find "$DEST" -name graviton.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "no graviton.pc installed"; cat "$T/install.log"; exit 1; }
lib=$(find "$DEST" -name 'libgraviton.so.*' | head -n 1)
[ -n "$lib" ] || { echo "no libgraviton.so.N installed"; exit 1; }
find "$DEST" -path '*/bin/graviton' | grep -q . || { echo "no graviton binary installed"; exit 1; }
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[[ $soname == libgraviton.so.* ]] || { echo "SONAME is '$soname'"; exit 1; }

# The library exports exactly the functions the headers mark GV_API.
grep -rhoE '^GV_API [^(]*\bgv_[a-z0-9_]+\(' "$SRC/include/graviton" | grep -oE 'gv_[a-z0-9_]+\($' |
	tr -d '(' | sort -u >"$T/declared"
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u >"$T/exported"
if ! cmp -s "$T/declared" "$T/exported"; then
	echo "declared GV_API (<) and exported (>) differ:"
	diff "$T/declared" "$T/exported" | grep '^[<>]'
	exit 1
fi

export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$DEST
flags=$(pkg-config --cflags --libs graviton)
case "$flags" in *"$DEST"*) ;; *) echo "pkg-config flags do not point into DESTDIR: $flags"; exit 1 ;; esac
# $3: the sanitizer flags of the build whose library this is (its runtime
# must come first in the consumer).
cc -std=c11 -Wall -Werror ${3:-} -o "$T/consumer" "$SRC/tests/install/consumer.c" $flags
LD_LIBRARY_PATH=$(dirname "$lib") "$T/consumer" "$T/data"
echo "install: a pkg-config consumer put and got a blob"
