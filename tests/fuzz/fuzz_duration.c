/* Go duration parsing: never crashes, and accepted values stay within the documented bound. */
#include <stdlib.h>

#include "fuzz.h"
#include "proto/duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ns = 0;
    if (ipd_go_duration_parse((const char *)data, size, &ns) == 0) {
        const int64_t max = IPD_DURATION_MAX_SECONDS * INT64_C(1000000000);
        if (ns > max || ns < -max || size == 0)
            abort();
    }
    return 0;
}
