# tests/e2e/s3_door_lib.sh - a second Graviton's S3 front door as the
# server of an s3 sector (sourced after lib.sh): the kind against an S3
# implementation other than tests/s3.sh's, one that has
# ListMultipartUploads, ListParts and virtual-host addressing.
#
#   door_start BUCKET   init a store in $T/door and serve it with its S3
#                       listener on a free loopback port, domain
#                       "localhost" (BUCKET.localhost is virtual-host
#                       style); create BUCKET; export DOOR_URL,
#                       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (its one
#                       key), AWS_DEFAULT_REGION
#   door_proxy          a logging proxy in front of it (PROXY_PORT)
#   door_stop           stop both
#   door_aws ARGS...    Debian's aws-cli against it (output in $OUT, like run)
#   door_store [PART]   write $T/g.conf (multipart above 16 MiB, parts
#                       of PART bytes, 8 MiB by default) and init the
#                       store under test ($D), no sector
#   gs ARGS...          graviton on the store under test ($D, $T/g.conf)
#   gsx ARGS...         the same, output not captured

DOOR_AK=AKDOOR
DOOR_SK=door-secret-0123456789
AWS=/usr/bin/aws
# CI installs it (scripts/install-deps.sh): a missing one fails.
[ -x "$AWS" ] || { echo "FAIL - $AWS is missing (scripts/install-deps.sh installs it)"; exit 1; }
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=$T/aws-config AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=$DOOR_AK AWS_SECRET_ACCESS_KEY=$DOOR_SK
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

gs() { run "$GV" --config "$T/g.conf" --data-dir "$D" "$@"; }
gsx() { "$GV" --config "$T/g.conf" --data-dir "$D" "$@"; }
door_aws() { run "$AWS" --endpoint-url "$DOOR_URL" "$@"; }

door_start() {
	local d0=$D port i

	D=$T/door
	"$GV" --data-dir "$D" init >/dev/null 2>&1 || { D=$d0; return 1; }
	port=$(free_port) || { D=$d0; return 1; }
	DOOR_URL=http://127.0.0.1:$port
	cat >"$T/door.conf" <<-EOF
		graviton.s3 {
		  enabled = true
		  listen = "127.0.0.1:$port"
		  domain = "localhost"
		  keys = [ { access-key = "$DOOR_AK", secret-key = "$DOOR_SK" } ]
		}
	EOF
	serve_start "$T/door.log" --config "$T/door.conf" || { D=$d0; return 1; }
	D=$d0
	# The store under test runs without a server: no token to send.
	unset GRAVITON_TOKEN
	for ((i = 0; i < 100; i++)); do
		[ "$(curl -q -s -o /dev/null -w '%{http_code}' "$DOOR_URL/")" = 403 ] && break
		sleep 0.1
	done
	door_aws s3api create-bucket --bucket "$1"
	[ "$RC" = 0 ] || { echo "create-bucket $1: $ERR" >&2; return 1; }
}

# door_proxy: start s3_proxy.py in front of the front door; sets PROXY_PORT,
# PROXY_PID; every request is logged to $T/proxy.log (METHOD HOST PATH).
door_proxy() {
	local i

	"$PY" "$E2E_DIR/s3_proxy.py" "${DOOR_URL##*:}" "$T/proxy.port" "$T/proxy.log" \
		>"$T/proxy.err" 2>&1 &
	PROXY_PID=$!
	for ((i = 0; i < 100; i++)); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
	[ -s "$T/proxy.port" ] || return 1
	PROXY_PORT=$(cat "$T/proxy.port")
}

# door_stop: stop the proxy and the front door.
door_stop() {
	[ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
	serve_stop
}

door_store() {
	cat >"$T/g.conf" <<-EOF
		graviton {
		  data-dir = "$D"
		  s3 { multipart-threshold = 16 MiB, part-size = ${1:-8 MiB}, retries = 2, connect-timeout = 2s }
		}
	EOF
	gs init --sectors 0
}
