#!/bin/sh
# Rewrite raw index port calls (EXPR->ops->OP(EXPR, ...)) outside src/index
# into the dispatchers of include/graviton/sys/index.h (gv_index_OP(EXPR,
# ...)).  Idempotent: rerun it after merging code that still has raw calls.
#   sh scripts/index-dispatch.sh [files...]   (default: src and tests)
set -eu
cd "$(dirname "$0")/.."
ops='sector_upsert|sector_get|sector_list|sector_set_health|sector_set_state|sector_remove|replica_put|replica_remove|replica_set_health|replica_set_verified|replica_set_ranges|replicas_find|blob_exists|blob_remove|keys_next|sector_keys_next|blobs_next|replicas_next|stats|setting_get|setting_set|close'
if [ $# -eq 0 ]; then
	# src/sector is the other port (its ops have a close too).
	set -- $(grep -rlE --include='*.c' -e "->ops->($ops)\(" src tests |
		grep -v -e '^src/index/' -e '^src/sector/' -e '^tests/sector/' || true)
fi
[ $# -eq 0 ] && exit 0
OPS="$ops" perl -0pi -e '
	my $ops = $ENV{OPS};
	# The handle expression: identifiers joined by -> or . (ix, st->ix, b.ix).
	s{\b([A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*)->ops->($ops)\(\s*\1\s*(,\s*|\))}{
		my ($h, $op, $rest) = ($1, $2, $3);
		my $fn = $op eq "stats" ? "stats_get" : $op;
		$rest =~ /^,/ ? "gv_index_$fn($h, " : "gv_index_$fn($h)"
	}ge' "$@"
