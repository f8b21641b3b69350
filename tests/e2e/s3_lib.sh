# tests/e2e/s3_lib.sh - the S3 front door for the end-to-end tests (sourced
# after lib.sh).  s3_start writes a configuration with two keys (AKFULL:
# every bucket; AKREAD: read-only) and starts serve with its S3 listener
# on a free loopback port; the clients are Debian's, by absolute path,
# with every setting on the command line or in files under $T (nothing
# from the user's ~/.aws, ~/.s3cfg or rclone.conf).
S3_AK=AKFULL
S3_SK=full-secret-0123456789
S3_RO_AK=AKREAD
S3_RO_SK=read-secret-0123456789
S3_ONE_AK=AKONE
S3_ONE_SK=one-secret-0123456789
AWS=/usr/bin/aws
RCLONE=/usr/bin/rclone
S3CMD=/usr/bin/s3cmd
for _tool in "$AWS" "$RCLONE" "$S3CMD" /usr/bin/python3; do
	# CI installs them (scripts/install-deps.sh): a missing one fails.
	[ -x "$_tool" ] || { echo "FAIL - $_tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
# Nothing of the machine's AWS or CA settings applies to loopback HTTP.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=$T/aws-config AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=$S3_AK AWS_SECRET_ACCESS_KEY=$S3_SK
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

# s3_start LOG [EXTRA-CONFIG]: init (once) and serve with the S3 listener.
s3_start() {
	local log=$1 extra=${2:-}

	[ -f "$D/token" ] || gvx init >/dev/null 2>&1
	S3_PORT=$(free_port)
	S3_URL=http://127.0.0.1:$S3_PORT
	cat >"$T/s3.conf" <<CONF
graviton.s3 {
  enabled = true
  listen = "127.0.0.1:$S3_PORT"
  keys = [
    { access-key = "$S3_AK", secret-key = "$S3_SK" }
    { access-key = "$S3_RO_AK", secret-key = "$S3_RO_SK", read-only = true }
    { access-key = "$S3_ONE_AK", secret-key = "$S3_ONE_SK", buckets = ["only-this"] }
  ]
}
$extra
CONF
	serve_start "$log" --config "$T/s3.conf" || return 1
	# serve starts the S3 listener right after the API's: wait for it too.
	for ((_i = 0; _i < 100; _i++)); do
		[ "$(curl -q -s -o /dev/null -w '%{http_code}' "$S3_URL/")" = 403 ] && break
		sleep 0.1
	done
	cat >"$T/rclone.conf" <<CONF
[g]
type = s3
provider = Other
access_key_id = $S3_AK
secret_access_key = $S3_SK
endpoint = $S3_URL
region = us-east-1
CONF
	cat >"$T/s3cfg" <<CONF
[default]
access_key = $S3_AK
secret_key = $S3_SK
host_base = 127.0.0.1:$S3_PORT
host_bucket = 127.0.0.1:$S3_PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
CONF
}

# aws ARGS...: aws-cli against the front door (like run).
s3aws() { run "$AWS" --endpoint-url "$S3_URL" "$@"; }
s3rclone() { run "$RCLONE" --config "$T/rclone.conf" "$@"; }
s3cmd() { run "$S3CMD" -c "$T/s3cfg" "$@"; }
