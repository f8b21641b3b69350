#!/usr/bin/env bash
# Capacity and free space (issue 11, items 11 and 14), on small tmpfs
# filesystems (needs root to mount them; skipped otherwise):
#   - two 12 MB filesystems registered as 1 GiB beside two roomy ones: 12
#     puts of ~3 MB all succeed with full replicas, because the primary
#     and the copies go by the free space measured on each filesystem, not
#     the configured capacity;
#   - sector list --json (and the text listing) shows the small sectors'
#     real free space, and two sectors on one filesystem report the same
#     device and split its free space;
#   - rebalance measures utilisation against that free space: sectors
#     sharing a nearly full filesystem are an imbalance that a new empty
#     disk receives moves for.
. "$(dirname "$0")/lib.sh"

MNTS=()

# mount_tmpfs DIR SIZE: a tmpfs of SIZE at DIR (unmounted on exit).
mount_tmpfs() {
	mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" && MNTS+=("$1")
}

# bind DIR AT: DIR also at AT (same filesystem, so the same device).
bind() {
	mkdir -p "$1" "$2" && mount --bind "$1" "$2" && MNTS+=("$2")
}

_umount_all() {
	local i

	for ((i = ${#MNTS[@]} - 1; i >= 0; i--)); do
		umount "${MNTS[i]}" 2>/dev/null || umount -l "${MNTS[i]}" 2>/dev/null
	done
}
trap '_rc=$?; _umount_all; (exit $_rc); _on_exit' EXIT

if [ "$(id -u)" != 0 ] || ! mount_tmpfs "$T/probe" 1m; then
	note "SKIP: mounting tmpfs needs root"
	_FINISHED=1
	exit 77
fi

# fs_avail DIR: the filesystem's free bytes for unprivileged users (f_bavail).
fs_avail() {
	"$PY" -c 'import os, sys; v = os.statvfs(sys.argv[1]); print(v.f_bavail * v.f_frsize)' "$1"
}

# ---- two small filesystems registered as 1 GiB, two roomy ones, two sectors
# sharing one filesystem -------------------------------------------------

# Every sector is at $D/sectors/ID (where verify_blobs looks), each a
# tmpfs of its own, except sh1 and sh2: two directories of one tmpfs.
# init's sector s01 is the first roomy one.
must mount_tmpfs "$D/sectors/s01" 200m
gv init --sectors 1 --racks 1 --zones 1 --capacity 1GiB --strategy simple --factor 2 \
	--min-replicas 2
expect_rc "init --sectors 1 --capacity 1GiB --factor 2 --min-replicas 2" 0
[ "$RC" = 0 ] || finish
for m in small1:12m small2:12m roomy2:200m; do
	must mount_tmpfs "$D/sectors/${m%%:*}" "${m#*:}"
done
must mount_tmpfs "$T/shared" 60m
must bind "$T/shared/sh1" "$D/sectors/sh1"
must bind "$T/shared/sh2" "$D/sectors/sh2"
for s in small1 small2 roomy2; do
	gv sector add "$s" --path "$D/sectors/$s" --capacity 1GiB
	expect_rc "sector add $s --capacity 1GiB" 0
done
for s in sh1 sh2; do
	gv sector add "$s" --path "$D/sectors/$s"
	expect_rc "sector add $s on the shared filesystem (capacity: the filesystem's)" 0
done

gv sector list --json
AV=$(fs_avail "$T/shared")
jcheck "sh1 and sh2 report one device, the others each their own" \
	"(d := {s['id']: s.get('device') for s in j}) and d['sh1'] and d['sh1'] == d['sh2'] and len({d[k] for k in ('small1', 'small2', 's01', 'roomy2', 'sh1')}) == 5"
jcheck "sh1 and sh2 split the shared filesystem's $AV free bytes (about half each)" \
	"(f := {s['id']: s['free'] for s in j}) and f['sh1'] + f['sh2'] <= $AV and all(0.45 * $AV <= f[k] <= 0.55 * $AV for k in ('sh1', 'sh2'))"
jcheck "a small sector registered as 1 GiB shows its filesystem's free space" \
	"all(s['capacity'] == 1 << 30 and 0 < s['free'] <= 12 << 20 for s in j if s['id'].startswith('small'))"
gv sector list
expect_match "text listing: FREE and DEVICE columns" "FREE +DEVICE" "$OUT"
expect_true "text listing: the sectors sharing a filesystem are marked '*'" \
	test "$(printf '%s\n' "$OUT" | grep -cE '^sh[12] .* [0-9]+:[0-9]+\* ')" = 2
expect_true "text listing: a sector alone on its filesystem is not" \
	test "$(printf '%s\n' "$OUT" | grep -cE '^(small1|small2|roomy2|s01) .* [0-9]+:[0-9]+ ')" = 4

# ---- 12 puts of ~3 MB: every one succeeds with 2 replicas -------------------

mkdir -p "$T/files"
: >"$T/list"
bad=0
for i in $(seq 1 12); do
	must randfile "$T/files/$i" $((3000000 + i * 1000))
	if ! put_ok "$T/files/$i" >/dev/null; then
		bad=$((bad + 1))
	fi
	echo "$T/files/$i" >>"$T/list"
done
expect_eq "12 puts of ~3 MB beside 12 MB filesystems registered as 1 GiB: none fails" \
	0 "$bad"
expect_true "every blob has its 2 healthy replicas and reads back" verify_blobs "$T/list" 2 2 1

gv sector list --json
for s in small1 small2; do
	A=$(fs_avail "$D/sectors/$s")
	jcheck "$s: free is the filesystem's real free space ($A), not capacity - used" \
		"[x['free'] for x in j if x['id'] == '$s'][0] <= $A"
done
AV=$(fs_avail "$T/shared")
jcheck "sh1 + sh2 free never counts the shared filesystem's $AV free bytes twice" \
	"sum(s['free'] for s in j if s['id'] in ('sh1', 'sh2')) <= $AV"

# ---- rebalance sees the real fill of a shared filesystem ----------------------

# A second store whose three sectors are directories of one 60 MB tmpfs
# (capacity: the filesystem's, 60 MB each), filled to ~80% of it, and an
# empty replacement disk.  By used / capacity each old sector is ~27% full
# and rebalance at threshold 0.5 would see nothing to do; by used / (used
# + its share of the free space) each is ~80% full.
D=$T/data2
export GRAVITON_DATA_DIR=$D
must mount_tmpfs "$T/shared2" 60m
for s in s01 s02 s03; do
	must bind "$T/shared2/$s" "$D/sectors/$s"
done
gv init --sectors 1 --racks 1 --zones 1 --strategy simple --factor 2 --min-replicas 2
expect_rc "init a store on the shared filesystem" 0
for s in s02 s03; do
	gv sector add "$s" --path "$D/sectors/$s"
	expect_rc "sector add $s on the shared filesystem" 0
done
: >"$T/list2"
bad=0
for i in $(seq 1 8); do
	if ! put_ok "$T/files/$i" >/dev/null; then
		bad=$((bad + 1))
	fi
	echo "$T/files/$i" >>"$T/list2"
done
expect_eq "8 puts of ~3 MB onto the shared filesystem (~80% of it)" 0 "$bad"
must mount_tmpfs "$D/sectors/new" 60m
gv sector add new --path "$D/sectors/new"
expect_rc "sector add new (an empty replacement disk)" 0
gv rebalance --dry-run --json --threshold 0.5
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --dry-run --threshold 0.5" 0
expect_true "rebalance sees the shared filesystem's real fill and plans moves to the new disk" \
	test "$(printf '%s\n' "$OUT" | grep '"phase":"planned"' | grep -c '"to":"new"')" -gt 0
gv rebalance --json --threshold 0.5
OUT=$(printf '%s\n' "$OUT" | job_lines)
expect_rc "rebalance --threshold 0.5" 0
expect_true "rebalance moved replicas onto the new disk" \
	test "$(printf '%s\n' "$OUT" | grep '"phase":"done"' | grep -c '"to":"new"')" -gt 0
expect_true "every blob still has its 2 healthy replicas after rebalance" \
	verify_blobs "$T/list2" 2 2 1

finish
