#!/usr/bin/env bash
# Layering: every #include in src/<layer>/, tests/<layer>/ and
# include/graviton/ names a header of its own layer or of a layer it may
# use (cmake/layers.txt).  Prints each violation; exits 1 if any.
#   tests/layering.sh [SOURCE_DIR]
set -u
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
declare -A ALLOWED OWNER
bad=0

while IFS= read -r line; do
	[[ $line =~ ^([a-z]+)\ *:([^:]*):(.*)$ ]] || continue
	l=${BASH_REMATCH[1]}
	ALLOWED[$l]=" $l ${BASH_REMATCH[2]} "
	for h in ${BASH_REMATCH[3]}; do OWNER[$h]=$l; done
done <"$ROOT/cmake/layers.txt"

# check LAYER FILE HEADER: may LAYER's FILE include HEADER?
check() {
	local l=$1 file=$2 inc=$3 dir owner
	dir=$(dirname "$file")
	if [[ $file == "$ROOT/include/graviton/"* ]]; then
		# a public header names another by its path relative to itself
		inc=$(realpath -m --relative-to="$ROOT/include/graviton" "$dir/$inc")
		owner=${OWNER[$inc]:-}
	elif [[ $inc == graviton/* ]]; then
		owner=${OWNER[${inc#graviton/}]:-}
	elif [[ $inc == */* && $inc != ../* ]]; then
		owner=${inc%%/*}
		[ -d "$ROOT/src/$owner" ] || owner=
	elif [ -e "$dir/$inc" ] && [[ $inc != ../* ]]; then
		return 0 # beside the including file
	else
		owner=
	fi
	if [ -z "$owner" ]; then
		echo "$file: #include \"$inc\": not a header of any layer"
		bad=1
	elif [[ ${ALLOWED[$l]} != *" $owner "* ]]; then
		echo "$file: #include \"$inc\": layer $l may not use layer $owner"
		bad=1
	fi
}

for l in "${!ALLOWED[@]}"; do
	files=()
	for f in "$ROOT/src/$l"/*.[ch] "$ROOT/tests/$l"/*.[ch]; do
		[ -e "$f" ] && files+=("$f")
	done
	for h in "${!OWNER[@]}"; do
		[ "${OWNER[$h]}" = "$l" ] && files+=("$ROOT/include/graviton/$h")
	done
	for f in "${files[@]}"; do
		while IFS= read -r inc; do
			check "$l" "$f" "$inc"
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
done
[ "$bad" = 0 ] && echo "layering: every include goes down"
exit "$bad"
