#!/usr/bin/env bash
# Acknowledged means durable: the index commit that records a put is synced
# to disk (the WAL fdatasync'd after the commit) before the put is
# acknowledged.  Checked on the system calls of `graviton put` (strace):
# before the key is printed on
# stdout, every WAL write of the acknowledging thread is followed by an
# fdatasync or fsync of graviton.db-wal that returned.
. "$(dirname "$0")/lib.sh"

if ! command -v strace >/dev/null 2>&1; then
	note "strace missing: skipped"
	ok "skipped (no strace)"
	finish
fi
gv init --sectors 6 --racks 3 --zones 3
expect_rc "init" 0
[ "$RC" = 0 ] || finish

for i in 1 2 3; do
	randfile "$T/f$i" $((4096 * i))
	strace -f -qq -y -e trace=pwrite64,fdatasync,fsync,write -o "$T/trace$i" \
		"$GV" --data-dir "$D" put "$T/f$i" >"$T/key$i" 2>"$T/err$i"
	expect_eq "put $i succeeds" "$(key_of "$T/f$i")" "$(cat "$T/key$i")"
	v=$("$PY" - "$T/trace$i" <<'PYEOF'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
ack = next((n for n, l in enumerate(lines) if re.search(r'\bwrite\(1<[^>]*>, "sha256:', l)), None)
if ack is None:
    print("no acknowledgement on stdout"); sys.exit()
# the acknowledging thread's own commits must be synced before it prints;
# (a late copy's commit in another thread may still be on its way)
tid = lines[ack].split()[0]
wal_writes = [n for n, l in enumerate(lines[:ack])
              if l.split()[0] == tid and re.search(r'pwrite64\(\d+<[^>]*graviton\.db-wal>', l)]
# a sync counts from the line it started on, once it returned 0 before the
# acknowledgement; strace splits a call another thread interrupts into
# "<unfinished ...>" and "<... fdatasync resumed>) = 0" lines
syncs, pending = [], {}
for n, l in enumerate(lines[:ack]):
    t = l.split()[0]
    if re.search(r'f(data)?sync\(\d+<[^>]*graviton\.db-wal>\) = 0', l):
        syncs.append(n)
    elif re.search(r'f(data)?sync\(\d+<[^>]*graviton\.db-wal> <unfinished \.\.\.>', l):
        pending[t] = n
    elif re.search(r'<\.\.\. f(data)?sync resumed>\) += 0', l) and t in pending:
        syncs.append(pending.pop(t))
if not wal_writes:
    print("no index commit before the acknowledgement"); sys.exit()
uncovered = [w for w in wal_writes if not any(s > w for s in syncs)]
print("ok" if not uncovered else "%d of %d WAL writes not synced before the acknowledgement" % (len(uncovered), len(wal_writes)))
PYEOF
)
	expect_eq "put $i: every index commit before the acknowledgement is synced" ok "$v"
done
gv get "$(cat "$T/key1")" -o "$T/out"
expect_rc "the blob reads back" 0
expect_same_file "the bytes are the original" "$T/f1" "$T/out"
finish
