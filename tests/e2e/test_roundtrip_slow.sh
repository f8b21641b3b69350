#!/usr/bin/env bash
# A 300 MiB blob: put, then get to a file and into a pipe, byte-identical.
. "$(dirname "$0")/lib.sh"

SIZE=$((300 * 1048576))

gv init --sectors 6 --racks 3 --zones 3
expect_rc "init" 0
[ "$RC" = 0 ] || finish

must randfile "$T/big" "$SIZE"
want=$(key_of "$T/big")

gv put "$T/big"
expect_rc "put 300 MiB" 0
expect_eq "put 300 MiB prints the key" "$want" "$OUT"
[ "$RC" = 0 ] || finish

gv get "$want" -o "$T/big.o"
expect_rc "get 300 MiB -o FILE" 0
expect_same_file "300 MiB -o FILE: byte-identical" "$T/big" "$T/big.o"
rm -f "$T/big.o"

sum=$(gvx get "$want" 2>"$T/.err" | sha256sum)
rc=$?
expect_eq "get 300 MiB into a pipe exits 0" 0 "$rc"
expect_eq "300 MiB through a pipe: same SHA-256" "$(key_hex "$want")" "${sum%% *}"

gv stat "$want" --json
jcheck "300 MiB blob: 3 healthy replicas holding every byte" \
	"j['healthy_replicas'] == 3 and all(r['ranges'] == '0-$((SIZE - 1))' for r in j['replicas'])"
sizes=$(replica_files "$want" | xargs -r stat -c %s | sort -u | tr '\n' ' ')
expect_eq "3 replica files of 300 MiB each" "3 $SIZE " "$(replica_files "$want" | wc -l) $sizes"

gvx get "$want" --range "$((SIZE - 4096))-" >"$T/tail.o" 2>/dev/null
tail -c 4096 "$T/big" >"$T/tail.want"
expect_same_file "range read of the last 4 KiB of 300 MiB" "$T/tail.want" "$T/tail.o"

finish
