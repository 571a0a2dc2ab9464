#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing imgpulld need.
# Idempotent: packages already present are not touched, and apt-get runs only when
# something is missing. Needs root (or sudo) only in that case.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libh2o-evloop-dev libwslay-dev libhiredis-dev libmsgpack-dev
            libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev zlib1g-dev python3)
test_pkgs=(libcriterion-dev redis-server nghttp2-client python3-websockets curl openssl prometheus iproute2)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
