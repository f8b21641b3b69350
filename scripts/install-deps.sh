#!/usr/bin/env bash
# Install the Debian packages Graviton builds and tests with, when missing.
# Safe to run repeatedly: does nothing when everything is present.
set -euo pipefail

PKGS=(build-essential cmake pkg-config libssl-dev libsqlite3-dev sqlite3
      libpq-dev postgresql libcmocka-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
      curl python3 openssl procps strace
      prometheus man-db groff-base systemd debhelper fakeroot dpkg-dev
      libexpat1-dev awscli rclone s3cmd python3-boto3 chromium)
# prometheus: only its promtool checks the metrics and the alert rules
# (tests/e2e/test_monitoring.sh); its daemon is not started (below).
# man-db, groff-base (man -l) and systemd (systemd-analyze) check what
# make install lays out (tests/install/test_packaging.sh); debhelper,
# fakeroot and dpkg-dev build the package (make deb).
# libexpat1-dev parses the S3 front door's XML bodies; awscli, rclone,
# s3cmd and python3-boto3 are the S3 clients its tests drive; chromium
# loads the dashboard (tests/e2e/test_dashboard.sh).

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# The S3 test server (tests/s3.sh) runs on node and installs with npm;
# a node that came otherwise (it may bundle npm) is used as it is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	for p in nodejs npm; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages that ship a daemon (prometheus) must not start it: a
# policy-rc.d refusing every start stands while apt runs, unless the
# machine has one already.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
