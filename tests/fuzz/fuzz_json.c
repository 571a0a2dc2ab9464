/*
 * The JSON string encoder and the RFC 3339 parser: any bytes encode to a JSON string that parses
 * back; any time that parses formats to a string that parses to the same instant.
 */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "proto/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    if (ipd_json_append_string(&b, (const char *)data, size) != 0)
        abort();
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(v))
        abort();
    json_decref(v);
    ipd_buf_dispose(&b);

    int64_t ms, back;
    char s[IPD_TIME_STR_SIZE];
    if (ipd_time_parse((const char *)data, size, &ms) == 0 && ipd_time_format(ms, s, sizeof(s)) > 0) {
        if (ipd_time_parse(s, 24, &back) != 0 || back != ms)
            abort();
    }
    return 0;
}
