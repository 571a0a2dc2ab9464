/* JSON skimming: never reads outside the input, and a value it returns lies inside it. */
#include <stdlib.h>

#include "fuzz.h"
#include "proto/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const path[] = {"object", "metadata", "name"};
    const char *buf = (const char *)data, *val;
    size_t len;
    for (size_t depth = 1; depth <= 3; depth++) {
        int rc = ipd_json_scan_string(buf, size, path + 3 - depth, depth, &val, &len);
        if (rc >= 0 && (val < buf || val + len > buf + size))
            abort();
    }
    static const char *const names[] = {"name", "namespace", "resourceVersion"};
    ipd_json_span_t out[3];
    if (ipd_json_scan_members(buf, size, path, 2, names, 3, out) == 0)
        for (size_t i = 0; i < 3; i++)
            if (out[i].ptr != NULL && (out[i].ptr < buf || out[i].ptr + out[i].len > buf + size))
                abort();
    return 0;
}
