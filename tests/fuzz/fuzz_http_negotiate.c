/*
 * Content negotiation and entity tags (proto/http_parse.h) on any header value: never crashes
 * or reads past `len`, every verdict is 0 or 1, and an entity tag matches itself, its weak
 * form, and any list that ends with it after elements that parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http_parse.h"

static int bit(int v)
{
    if (v != 0 && v != 1)
        abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *h = (const char *)data;
    bit(ipd_http_accepts_gzip(h, size));
    bit(ipd_http_wants_msgpack(h, size));
    bit(ipd_http_is_json_type(h, size));

    uint64_t epoch = 0, generation = 0;
    for (size_t i = 0; i < size && i < 8; i++)
        epoch = epoch << 8 | data[i];
    for (size_t i = 8; i < size && i < 16; i++)
        generation = generation << 8 | data[i];
    char etag[IPD_HTTP_ETAG_SIZE];
    int n = ipd_http_etag_format(epoch, generation, etag);
    if (n <= 2 || n >= IPD_HTTP_ETAG_SIZE || etag[0] != '"' || etag[n - 1] != '"')
        abort();
    bit(ipd_http_etag_match(h, size, etag, (size_t)n));
    if (!ipd_http_etag_match(etag, (size_t)n, etag, (size_t)n))
        abort();
    char list[3 * IPD_HTTP_ETAG_SIZE];
    int m = snprintf(list, sizeof(list), "\"x\", W/%s", etag);
    if (m < 0 || !ipd_http_etag_match(list, (size_t)m, etag, (size_t)n))
        abort();
    return 0;
}
