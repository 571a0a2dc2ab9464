#!/usr/bin/env bash
# Every symbol the module libraries (proto, shared, master, worker) define for other files carries
# the project prefix `ipd_`: a name without it may collide with a library's (h2o, curl, hiredis
# export unprefixed names too) and says nothing of where it belongs. File-local functions are
# `static` and not seen here. Names the sanitizers generate (`__odr_asan.*`, `__asan_*`,
# `__ubsan_*`) belong to the compiler, not to the project.
set -euo pipefail
: "${IPD_BUILD_DIR:?set by ctest}"
fail=0
for m in proto shared master worker; do
    lib=$IPD_BUILD_DIR/$m/libipd_$m.a
    if [ ! -f "$lib" ]; then
        echo "FAIL: $lib not built"
        fail=1
        continue
    fi
    bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $3 !~ /^ipd_/ && $3 !~ /^__(odr_asan|asan|ubsan)/ { print $3 }' | sort -u)
    if [ -n "$bad" ]; then
        echo "FAIL: $m defines symbols without the ipd_ prefix (make them static, or name them ipd_...):"
        echo "$bad" | sed 's/^/    /'
        fail=1
    fi
done
[ "$fail" = 0 ] && echo "every exported symbol of proto, shared, master and worker starts with ipd_"
exit "$fail"
