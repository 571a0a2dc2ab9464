#!/usr/bin/env bash
# Builds the Debian package imgpulld_<version>_<arch>.deb with CPack from a daemon-only build in
# build-deb/ (or $1) and copies it to the top directory (or $2). Needs dpkg-dev (dpkg-shlibdeps
# computes the Depends, with file(1)) and fakeroot, which scripts/install-deps.sh --deb installs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-deb}
out=${2:-.}
for tool in dpkg-shlibdeps fakeroot file; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: scripts/install-deps.sh --deb installs it" >&2; exit 1; }
done
cmake -S . -B "$dir" -DIPD_TESTS=OFF -DIPD_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$dir" -j "$(nproc)" --target imgpulld man
(cd "$dir" && fakeroot cpack -G DEB >cpack.log) || { cat "$dir/cpack.log" >&2; exit 1; }
deb=$(ls "$dir"/imgpulld_*.deb)
cp "$deb" "$out/"
echo "$out/$(basename "$deb")"
