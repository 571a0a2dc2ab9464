#!/usr/bin/env bash
# The command line: modes, exit codes and messages, the precedence of flags over environment
# over file, and the generated files kept in sync with the binary's directive table:
# the reference in docs/operations.md and systemd/imgpulld.conf.example.
#
# To regenerate both after changing the table:
#   IPD_UPDATE_GENERATED=1 IPD_BUILD_DIR=build IPD_SOURCE_DIR=. bash tests/integration/test_cli.sh
set -uo pipefail
: "${IPD_BUILD_DIR:?set by ctest}" "${IPD_SOURCE_DIR:?set by ctest}"
bin=$IPD_BUILD_DIR/imgpulld
doc=$IPD_SOURCE_DIR/docs/operations.md
example=$IPD_SOURCE_DIR/systemd/imgpulld.conf.example
begin='<!-- BEGIN GENERATED: imgpulld --config-reference -->'
end='<!-- END GENERATED -->'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/common/checks.sh
. "$IPD_SOURCE_DIR/tests/common/checks.sh"

# run CODE NAME CMD...: runs CMD with stdout and stderr captured in $out and $err, checks its exit status.
run() {
    local want=$1 name=$2
    shift 2
    out=$tmp/$name.out err=$tmp/$name.err
    env -u WATCHDOG_USEC -u RUNTIME_DIRECTORY "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "$name: exit $got, want $want; stderr: $(cat "$err")"
    fi
}

# contains FILE TEXT NAME: FILE holds TEXT literally.
contains() {
    grep -qF -- "$2" "$1" || fail "$3: expected \"$2\" in: $(cat "$1")"
}

# --- modes and exit codes ---
version=$(sed -n 's/^project(imgpulld VERSION \([0-9.]*\).*/\1/p' "$IPD_SOURCE_DIR/CMakeLists.txt")
run 0 version "$bin" --version
[ "$(cat "$out")" = "imgpulld $version" ] || fail "version: got \"$(cat "$out")\", want \"imgpulld $version\""
run 0 help "$bin" --help
contains "$out" "--check-config" help

run 0 check_example "$bin" -c "$example" --check-config
contains "$err" "configuration OK" check_example

printf 'workers 2\n# a comment\nworkers 0\n' >"$tmp/dup.conf"
run 1 check_duplicate "$bin" -c "$tmp/dup.conf" --check-config
contains "$err" "$tmp/dup.conf:3: workers: duplicate directive, already set at $tmp/dup.conf:1" check_duplicate

printf 'listen 127.0.0.1:8080\n\nworkers 0\n' >"$tmp/bad.conf"
run 1 check_range "$bin" -c "$tmp/bad.conf" --check-config
contains "$err" "$tmp/bad.conf:3: workers: must be between 1 and 256, got \"0\"" check_range

printf 'wrokers 4\n' >"$tmp/typo.conf"
run 1 check_typo "$bin" -c "$tmp/typo.conf" --check-config
contains "$err" "$tmp/typo.conf:1: unknown directive \"wrokers\" (did you mean \"workers\"?)" check_typo

printf 'listen 0.0.0.0:8080\n' >"$tmp/open.conf"
run 1 check_open "$bin" -c "$tmp/open.conf" --check-config
contains "$err" "$tmp/open.conf:1: listen 0.0.0.0:8080 is not loopback: tokens_file is required" check_open

printf 'tokens_file %s/missing-tokens\nlisten 0.0.0.0:8080\n' "$tmp" >"$tmp/files.conf"
run 1 check_files "$bin" -c "$tmp/files.conf" --check-config
contains "$err" "$tmp/files.conf:1: tokens_file: cannot read \"$tmp/missing-tokens\"" check_files

run 1 check_missing "$bin" -c "$tmp/nonexistent.conf" --check-config
contains "$err" "$tmp/nonexistent.conf: cannot open" check_missing

run 1 env_empty env IMGPULLD_WORKERS= "$bin" -c "$example" --check-config
contains "$err" "environment IMGPULLD_WORKERS: workers: expects an integer, got \"\"" env_empty
run 1 env_bad env IMGPULLD_WATCH_TIMEOUT=30 "$bin" -c "$example" --check-config
contains "$err" "environment IMGPULLD_WATCH_TIMEOUT: watch_timeout: expects a duration" env_bad

run 2 bad_flag "$bin" --no-such-flag
contains "$err" "unknown option --no-such-flag" bad_flag
run 2 bad_short "$bin" -q
contains "$err" "unknown option -q" bad_short
run 2 missing_value "$bin" --workers
contains "$err" "option --workers needs a value" missing_value
run 2 stray_argument "$bin" -c "$example" extra
contains "$err" "unexpected argument extra" stray_argument
run 1 bad_flag_value "$bin" -c "$example" --scope galaxy --check-config
contains "$err" "option --scope: scope: must be one of cluster, node; got \"galaxy\"" bad_flag_value

# --- precedence: flags > environment > file > defaults ---
printf 'workers 2\nlisten 127.0.0.1:7001\nlisten 127.0.0.1:7002\nlog_level warn\n' >"$tmp/layers.conf"
run 0 layers_file "$bin" -c "$tmp/layers.conf" --print-config
contains "$out" "workers 2  # $tmp/layers.conf:1" layers_file
contains "$out" "listen 127.0.0.1:7001 127.0.0.1:7002" layers_file
run 0 layers_env env IMGPULLD_WORKERS=3 IMGPULLD_LOG_LEVEL=error "$bin" -c "$tmp/layers.conf" --print-config
contains "$out" "workers 3  # environment IMGPULLD_WORKERS" layers_env
contains "$out" "log_level error" layers_env
run 0 layers_flag env IMGPULLD_WORKERS=3 "$bin" -c "$tmp/layers.conf" --print-config --workers 4 \
    --listen '[::1]:7003' --listen localhost:7004 --instance blue --kube-server http://127.0.0.1:1 \
    --scope node --node-name node-a --log-level debug
for line in "workers 4  # option --workers" "listen [::1]:7003 localhost:7004" "instance blue" \
    "kube_server http://127.0.0.1:1" "scope node" "node_name node-a" "log_level debug"; do
    contains "$out" "$line" layers_flag
done
# Redis carries other nodes' tasks to node-scope daemons: in cluster scope it is refused, not ignored.
run 1 redis_refused "$bin" -c "$tmp/layers.conf" --check-config --redis 127.0.0.1:6379
contains "$err" "option --redis: redis: needs scope node" redis_refused
run 1 layers_conflict "$bin" -c "$tmp/layers.conf" --print-config --kube-server http://k:1 --kubeconfig /k
contains "$err" "option --kube-server: kube_server: cannot be combined with kubeconfig (set at option --kubeconfig)" \
    layers_conflict

# The printed configuration is itself a valid file that yields the same configuration.
run 0 print_again "$bin" -c "$tmp/layers.conf" --print-config --workers 4
cp "$out" "$tmp/printed.conf"
sed 's/  # .*//' "$out" >"$tmp/printed.plain"
run 0 print_reread "$bin" -c "$tmp/printed.conf" --print-config
sed 's/  # .*//' "$out" | diff -u "$tmp/printed.plain" - >&2 || fail "print_reread: --print-config output does not read back"

# --- generated files in sync with the directive table ---
run 0 reference "$bin" --config-reference
cp "$out" "$tmp/reference.md"
run 0 example "$bin" --config-example
cp "$out" "$tmp/example.conf"
if [ "${IPD_UPDATE_GENERATED:-}" = 1 ]; then
    cp "$tmp/example.conf" "$example"
    awk -v b="$begin" -v e="$end" -v f="$tmp/reference.md" '
        $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip { print }' "$doc" >"$tmp/doc.md" && cp "$tmp/doc.md" "$doc"
    echo "regenerated $example and the reference in $doc"
fi
grep -qxF -- "$begin" "$doc" && grep -qxF -- "$end" "$doc" || fail "docs: markers missing in $doc"
awk -v b="$begin" -v e="$end" '$0 == e { on = 0 } on { print } $0 == b { on = 1 }' "$doc" >"$tmp/doc-reference.md"
diff -u "$tmp/doc-reference.md" "$tmp/reference.md" >&2 ||
    fail "docs/operations.md reference is out of date: rerun with IPD_UPDATE_GENERATED=1 (see the top of this script)"
diff -u "$example" "$tmp/example.conf" >&2 ||
    fail "systemd/imgpulld.conf.example is out of date: rerun with IPD_UPDATE_GENERATED=1"

checks_done "all command-line checks passed"
