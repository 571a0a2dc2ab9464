#!/usr/bin/env bash
# Installs the Debian 12 packages imgpulld needs.
#   scripts/install-deps.sh          what building and running the daemon needs (`make demo`)
#   scripts/install-deps.sh --test   that, plus everything the tests build against and execute
#                                    (`make test`), and what `make deb` runs
#   scripts/install-deps.sh --deb    what building and running the daemon needs, and `make deb`
#   scripts/install-deps.sh --list | --list-test   print the entries of either list, one a line
# Idempotent: packages already present are not touched, and apt-get runs only when something is
# missing. Needs root (or sudo) only in that case. An entry "a|b" is satisfied by either package
# and installs a when neither is present (kubectl: Debian's kubernetes-client, or a kubectl
# package from the Kubernetes or a cloud vendor's repository, which ships the same program).
# tests/integration/test_install_deps.sh checks test_pkgs against the programs the tests execute.
set -euo pipefail

# The daemon's build (CMake with -DIPD_TESTS=OFF) and `make demo` (python3 runs the simulator).
build_pkgs=(build-essential cmake pkg-config libh2o-evloop-dev libwslay-dev libhiredis-dev libmsgpack-dev
            libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev zlib1g-dev python3)
# `make deb`: CPack runs file(1) and dpkg-shlibdeps to compute the package's Depends.
deb_pkgs=(dpkg-dev fakeroot file)
# The test tree and the programs the tests execute; `make deb` and its checks.
test_pkgs=(libcriterion-dev redis-server nghttp2-client python3-websockets python3-yaml curl openssl prometheus iproute2
           "kubernetes-client|kubectl" systemd procps clang-format clang-14 libclang-rt-14-dev dpkg-dev fakeroot file lintian man-db chromium)

want=("${build_pkgs[@]}")
case "${1:-}" in
--test) want+=("${test_pkgs[@]}") ;;
--deb) want+=("${deb_pkgs[@]}") ;;
--list)
    printf '%s\n' "${build_pkgs[@]}"
    exit 0
    ;;
--list-test)
    printf '%s\n' "${test_pkgs[@]}"
    exit 0
    ;;
"") ;;
*)
    echo "usage: $0 [--test | --deb | --list | --list-test]" >&2
    exit 2
    ;;
esac

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for entry in "${want[@]}"; do
    IFS='|' read -r -a alternatives <<<"$entry"
    found=0
    for p in "${alternatives[@]}"; do
        if installed "$p"; then
            found=1
            break
        fi
    done
    [ "$found" = 1 ] || missing+=("${alternatives[0]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
