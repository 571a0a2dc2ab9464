#!/usr/bin/env bash
# Every C file of the tree is clang-format clean (.clang-format). The style is pinned to
# clang-format 14 (Debian 12's): other versions format some constructs differently, so with any
# other version, or none, the test is skipped (exit 77) and says why.
set -euo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
cd "$IPD_SOURCE_DIR"

bin=${IPD_CLANG_FORMAT:-clang-format}
version=$("$bin" --version 2>/dev/null || true)
if ! [[ $version =~ version\ 14\. ]]; then
    echo "SKIP: the style is pinned to clang-format 14 (scripts/install-deps.sh --test installs it);" \
        "'$bin --version' says: ${version:-not found}"
    exit 77
fi

fail=0
checked=0
while IFS= read -r f; do
    checked=$((checked + 1))
    if ! "$bin" --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "FAIL: $f is not clang-format clean; run: $bin -i $f   (what would change:)"
        "$bin" "$f" | diff -u "$f" - | sed -n '3,20p' | sed 's/^/    /'
        fail=1
    fi
done < <(find master proto shared worker tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)

[ "$fail" = 0 ] && echo "$checked C files clang-format clean"
exit "$fail"
