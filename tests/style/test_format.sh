#!/usr/bin/env bash
# Every C file of the tree is clang-format clean (.clang-format), except the files listed in
# tests/style/format-pending.txt, a list that only shrinks. The style is pinned to clang-format 14
# (Debian 12's): other versions format some constructs differently, so with any other version, or
# none, the test is skipped (exit 77) and says why.
set -euo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
cd "$IPD_SOURCE_DIR"
pending_file=tests/style/format-pending.txt
# The most entries the pending list may hold: the count when the check was introduced.
pending_max=47

bin=${IPD_CLANG_FORMAT:-clang-format}
version=$("$bin" --version 2>/dev/null || true)
if ! [[ $version =~ version\ 14\. ]]; then
    echo "SKIP: the style is pinned to clang-format 14 (scripts/install-deps.sh --test installs it);" \
        "'$bin --version' says: ${version:-not found}"
    exit 77
fi

mapfile -t pending < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$pending_file" | grep -v '^$' || true)
declare -A is_pending=()
for f in "${pending[@]}"; do
    is_pending[$f]=1
done

fail=0
if [ "${#pending[@]}" -gt "$pending_max" ]; then
    echo "FAIL: $pending_file lists ${#pending[@]} files, at most $pending_max: the list only shrinks"
    fail=1
fi
for f in "${pending[@]}"; do
    if [ ! -f "$f" ]; then
        # A file moved or removed since: its new place is checked like any other file.
        echo "note: $pending_file lists $f, which does not exist (moved or removed): remove the line"
    elif "$bin" --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "FAIL: $f is clang-format clean now: remove it from $pending_file"
        fail=1
    fi
done

checked=0
while IFS= read -r f; do
    [ -n "${is_pending[$f]:-}" ] && continue
    checked=$((checked + 1))
    if ! "$bin" --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "FAIL: $f is not clang-format clean; run: $bin -i $f   (what would change:)"
        "$bin" "$f" | diff -u "$f" - | sed -n '3,20p' | sed 's/^/    /'
        fail=1
    fi
done < <(find master proto shared worker tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)

if [ "$fail" = 0 ]; then
    echo "$checked C files clang-format clean; ${#pending[@]} pending in $pending_file"
fi
exit "$fail"
