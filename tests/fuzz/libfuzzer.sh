#!/usr/bin/env bash
# A bounded libFuzzer run of every fuzz target (tests/fuzz/fuzz_*.c) over proto/: each is built
# with clang's -fsanitize=fuzzer,address,undefined and run for IPD_LIBFUZZER_SECONDS (default 5)
# from a copy of its seed corpus. Fails on the first crash, leak or broken property and says how
# to replay it. Skipped (exit 77) when clang cannot link libFuzzer. A longer run: README.md.
set -euo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
seconds=${IPD_LIBFUZZER_SECONDS:-5}
cc=${IPD_LIBFUZZER_CC:-}
if [ -z "$cc" ]; then
    for c in clang-14 clang; do
        if command -v "$c" >/dev/null; then cc=$c; break; fi
    done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ipd-libfuzzer.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$work/probe.c"
if [ -z "$cc" ] || ! "$cc" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
    echo "SKIP: no clang that links libFuzzer (-fsanitize=fuzzer); the corpus replays still ran (ctest -L fuzz)"
    exit 77
fi
cd "$IPD_SOURCE_DIR"
flags=$(pkg-config --cflags --libs jansson msgpack)
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I.)
# proto/ is built once; each target is then one file and a link.
for f in proto/*.c; do
    # shellcheck disable=SC2086
    "$cc" "${cflags[@]}" $(pkg-config --cflags jansson msgpack) -c "$f" -o "$work/$(basename "$f" .c).o"
done
ar rcs "$work/libproto.a" "$work"/*.o
fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    max_len=4096
    [ "$name" = fuzz_json_prune ] && max_len=8192 # a pod line is 1-6 KB
    # shellcheck disable=SC2086 # $flags is a list of compiler flags
    "$cc" -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I. -Itests/fuzz "$src" "$work/libproto.a" $flags -lm -o "$work/$name"
    mkdir -p "$work/corpus_$name" "$work/out_$name"
    cp tests/fuzz/corpus/"$name"/* "$work/corpus_$name/"
    if (cd "$work/out_$name" && "$work/$name" -max_total_time="$seconds" -max_len="$max_len" \
        "$work/corpus_$name" >"$work/$name.log" 2>&1); then
        echo "ok $name: $(grep -Eo '#[0-9]+' "$work/$name.log" | tail -1 | tr -d '#') runs in ${seconds} s"
    else
        fail=1
        echo "FAIL $name: see below; replay with the input libFuzzer saved (tests/fuzz/README.md)"
        tail -40 "$work/$name.log"
        for crash in "$work/out_$name"/*; do
            [ -f "$crash" ] && { echo "input (hex):"; od -An -tx1 "$crash" | head -20; }
        done
    fi
done
exit $fail
