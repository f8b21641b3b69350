#!/usr/bin/env bash
# Install the Debian packages Graviton builds and tests with, when missing.
# Safe to run repeatedly: does nothing when everything is present.
set -euo pipefail

PKGS=(build-essential cmake pkg-config libssl-dev libsqlite3-dev sqlite3
      libpq-dev postgresql libcmocka-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
      curl python3 openssl procps strace chromium)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
