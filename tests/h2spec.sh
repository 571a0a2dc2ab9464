#!/usr/bin/env bash
# HTTP/2 conformance of the daemon with h2spec 2.x (github.com/summerwind/h2spec), over h2c (prior
# knowledge) and over TLS (ALPN h2). Not part of the suite: h2spec is a Go program that is not
# packaged for Debian. Build it from its source as docs/operations.md ("HTTP/2 conformance")
# shows and put it on PATH or name it in H2SPEC; without it this script says so and exits 0.
#
#   tests/h2spec.sh [BUILD_DIR]          (default: build)
#
# Starts the Kubernetes simulator and two daemons (one cleartext, one with a throw-away
# certificate) on free loopback ports, runs h2spec against each and prints its summary lines.
# Exits 1 when a case fails. Every process it starts is stopped by its PID; its shared-memory
# segments and temporary files are removed.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bin=$build/imgpulld
h2spec=${H2SPEC:-$(command -v h2spec || true)}
if [ -z "$h2spec" ] || [ ! -x "$h2spec" ]; then
    echo "h2spec not found (set H2SPEC or put it on PATH); nothing checked"
    exit 0
fi
[ -x "$bin" ] || { echo "no daemon at $bin; build it first" >&2; exit 1; }

# shellcheck source=tests/common/sim_world.sh
. "$root/tests/common/sim_world.sh"
sim_world_start h2spec

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
    { echo "openssl could not make a certificate" >&2; exit 1; }

# run NAME [DIRECTIVES...]: starts a daemon with the directives, waits for /healthz, runs h2spec.
failed=0
run() {
    local name=$1 port scheme=http flags=()
    shift
    sim_world_conf "$name" "$@"
    port=$daemon_port
    case " $* " in *" tls_cert "*) scheme=https flags=(-t -k) ;; esac
    "$bin" -c "$work/$name.conf" 2>"$work/$name.log" &
    pids+=("$!")
    for _ in $(seq 100); do
        curl -sk -o /dev/null "$scheme://127.0.0.1:$port/healthz" && break
        sleep 0.1
    done
    echo "== $name: $h2spec -h 127.0.0.1 -p $port ${flags[*]}"
    "$h2spec" -h 127.0.0.1 -p "$port" "${flags[@]}" -o 2 >"$work/$name.out" 2>&1
    local rc=$?
    grep -E '^ *[0-9]+ tests, [0-9]+ passed' "$work/$name.out" || tail -5 "$work/$name.out"
    if [ $rc -ne 0 ]; then
        failed=1
        sed -n '/^Failures:/,$p' "$work/$name.out"
    fi
}
run h2c
run tls "tls_cert $work/cert.pem" "tls_key $work/key.pem"
exit $failed
