#!/usr/bin/env bash
# What `make install` gives an operator, and that it is true to the binary:
#   - `make install DESTDIR=...` lays out the binary, graviton(1) and
#     graviton.conf(5), the example configuration under share/doc/graviton,
#     graviton.service with its sysusers.d entry, the service's default
#     configuration and bash completion;
#   - `systemd-analyze verify` accepts the unit (no message at all), which
#     is hardened (ProtectSystem=strict, NoNewPrivileges, ..., the graviton
#     user) with an exposure level of 3.0 at most (threshold 30: tenths);
#   - `man -l` renders both pages without a warning; every command, global
#     option and command option that `--help` lists is in graviton(1), every
#     key `config check` prints is in graviton.conf(5);
#   - the completion completes every command and a command's options;
#   - both configurations installed pass `graviton config check`;
#   - a build directory configured for one PREFIX is configured again for
#     another (the Makefile used to keep the first).
# Usage: test_packaging.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd) SRC=$(cd "$2" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
FAILED=0 PASSED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ $# -lt 2 ] || printf '       %s\n' "$2" | head -n 20; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
quiet() { "$@" >/dev/null 2>&1; }

PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
DEST=$T/dest
if make -C "$SRC" --no-print-directory install BUILD="$BUILD" PREFIX="$PREFIX" DESTDIR="$DEST" \
	>"$T/install.log" 2>&1; then
	ok "make install DESTDIR=... succeeds"
else
	fail "make install DESTDIR=... succeeds" "$(tail -n 10 "$T/install.log")"
fi
R=$DEST$PREFIX
# etc/ is /etc for PREFIX=/usr, PREFIX/etc for /usr/local (GNUInstallDirs).
CONF=$(find "$DEST" -path '*/etc/graviton/graviton.conf' | head -n 1)
for f in bin/graviton share/man/man1/graviton.1 share/man/man5/graviton.conf.5 \
	share/doc/graviton/graviton.conf.example lib/systemd/system/graviton.service \
	lib/sysusers.d/graviton.conf share/bash-completion/completions/graviton; do
	check "installs $f" test -s "$R/$f"
done
check "installs the service's configuration (etc/graviton/graviton.conf)" test -s "$CONF"
GV=$R/bin/graviton

# ---- the unit ----
UNIT=$R/lib/systemd/system/graviton.service
check "the unit runs the installed binary" \
	grep -qx "ExecStart=$PREFIX/bin/graviton --config ${CONF#"$DEST"} --data-dir /var/lib/graviton serve" "$UNIT"
for d in User=graviton Group=graviton ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
	ProtectHome=yes StateDirectory=graviton ReadWritePaths=/var/lib/graviton \
	CapabilityBoundingSet= 'ExecReload=/bin/kill -HUP $MAINPID'; do
	check "the unit sets $d" grep -qxF "$d" "$UNIT"
done
check "the sysusers entry creates the graviton user" \
	grep -qE '^u graviton - .* /var/lib/graviton$' "$R/lib/sysusers.d/graviton.conf"
# systemd-analyze resolves ExecStart and the Documentation= pages on this
# machine: point them into DESTDIR.
mkdir -p "$T/unit"
sed "s|^ExecStart=$PREFIX/bin/graviton|ExecStart=$GV|" "$UNIT" >"$T/unit/graviton.service"
if out=$(cd "$T/unit" && MANPATH=$R/share/man systemd-analyze verify "$T/unit/graviton.service" 2>&1) &&
	[ -z "$out" ]; then
	ok "systemd-analyze verify accepts the unit without a message"
else
	fail "systemd-analyze verify accepts the unit without a message" "$out"
fi
if out=$(systemd-analyze security --offline=true --threshold=30 "$T/unit/graviton.service" 2>&1); then
	ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' <<<"$out")"
else
	fail "systemd-analyze security rates the unit 3 or better" "$(tail -n 3 <<<"$out")"
fi

# ---- the man pages ----
for p in man1/graviton.1 man5/graviton.conf.5; do
	if MANWIDTH=200 man --warnings -l "$R/share/man/$p" >"$T/${p#*/}.txt" 2>"$T/warn" &&
		[ ! -s "$T/warn" ] && grep -q '^NAME' "$T/${p#*/}.txt" && grep -q '^SEE ALSO' "$T/${p#*/}.txt"; then
		ok "man -l renders $p without a warning"
	else
		fail "man -l renders $p without a warning" "$(head -n 5 "$T/warn")"
	fi
done
PAGE1=$T/graviton.1.txt PAGE5=$T/graviton.conf.5.txt

missing=()
# The commands `graviton --help` lists, and its global options.
cmds=$("$GV" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/^commands:/ { print $1 }')
check "graviton --help lists commands" test "$(wc -w <<<"$cmds")" -ge 14
for c in $cmds; do
	grep -qE "graviton $c( |$)" "$PAGE1" || missing+=("command $c")
done
for o in $("$GV" --help | sed -n '/^global options/,/^$/p' | grep -oE '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,'); do
	grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$PAGE1" || missing+=("global option $o")
done
# Each command's options, and those of its subcommands with a help of
# their own.
helps=()
for c in $cmds; do helps+=("$c"); done
helps+=("repair queue" "placement set" "config check" "index rebuild")
for h in "${helps[@]}"; do
	# shellcheck disable=SC2086
	for o in $("$GV" $h --help 2>&1 | grep -oE '(^|[][ ,|(])--[a-z][a-z-]*' | sed 's/^[][ ,|(]*//' | sort -u); do
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$PAGE1" || missing+=("$h $o")
	done
done
if [ ${#missing[@]} -eq 0 ]; then
	ok "graviton(1) names every command and option --help lists"
else
	fail "graviton(1) names every command and option --help lists" "missing: ${missing[*]}"
fi
keys=$("$GV" config check | /usr/bin/python3 -c '
import re, sys
path = []
for l in sys.stdin:
    l = l.strip()
    if not l or l.startswith("#"):
        continue
    if l == "}":
        path.pop()
        continue
    m = re.match(r"([a-z0-9-]+) *(\{|=)", l)
    if m.group(2) == "{":
        path.append(m.group(1))
    else:
        print(".".join(path + [m.group(1)]))
')
check "config check prints the keys" test "$(wc -l <<<"$keys")" -ge 50
missing=()
for k in $keys; do
	grep -qE -- "(^|[^a-z.-])$k([^a-z-]|$)" "$PAGE5" || missing+=("$k")
done
if [ ${#missing[@]} -eq 0 ]; then
	ok "graviton.conf(5) names every key of config check ($(wc -l <<<"$keys"))"
else
	fail "graviton.conf(5) names every key of config check" "missing: ${missing[*]}"
fi

# ---- the configurations ----
check "the installed example passes config check" \
	quiet "$GV" config check "$R/share/doc/graviton/graviton.conf.example"
check "the service's configuration passes config check" \
	quiet "$GV" config check "$CONF"

# ---- bash completion (bash-completion's helpers stubbed) ----
complete_words() {
	bash -c '
		_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${words[cword]}; prev=${words[cword-1]}; }
		_filedir() { :; }
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_graviton
		printf "%s\n" "${COMPREPLY[@]}"' _ "$R/share/bash-completion/completions/graviton" "$@"
}
got=$(complete_words graviton "" | sort | tr '\n' ' ')
want=$(sort <<<"$cmds" | tr '\n' ' ')
check "completion offers every command" test "$got" = "$want"
check "completion offers sector's subcommands" \
	grep -qx set-health <<<"$(complete_words graviton --data-dir d sector s)"
check "completion offers a command's options" \
	grep -qx -- --parallel-jobs <<<"$(complete_words graviton repair --par)"
check "completion offers the log levels" \
	test "$(complete_words graviton --log-level w)" = warn

# ---- PREFIX after an earlier configure ----
B2=$T/b
cmake -S "$SRC" -B "$B2" -DCMAKE_INSTALL_PREFIX=/usr/local >/dev/null 2>&1
make -C "$SRC" --no-print-directory configure BUILD="$B2" PREFIX="$T/opt" >"$T/conf.log" 2>&1
check "make with another PREFIX configures the build directory again" \
	grep -qx "CMAKE_INSTALL_PREFIX:PATH=$T/opt" "$B2/CMakeCache.txt"
check "... so the unit names the new prefix" grep -qx "ExecStart=$T/opt/bin/graviton .*" \
	"$B2/graviton.service"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
