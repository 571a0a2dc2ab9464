/*
 * The list cursor (proto/http_parse.h): any token decodes or is refused without reading past its
 * length, and a token that decodes re-encodes to itself (the decoder accepts only the encoder's
 * outputs). A cursor built from the input (epoch, time, id) encodes within IPD_HTTP_CURSOR_MAX,
 * decodes to the same fields, is refused for another epoch with -2, and is refused with -1 once
 * any one of its characters is changed.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http_parse.h"

static uint64_t take64(const uint8_t **p, size_t *n)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && *n > 0; i++, (*p)++, (*n)--)
        v = v << 8 | **p;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The input as a token. */
    ipd_http_cursor_t c;
    char tok[IPD_HTTP_CURSOR_MAX + 1];
    int rc = ipd_http_cursor_decode((const char *)data, size, 7, &c);
    if (rc == 0 || rc == -2) {
        int n = ipd_http_cursor_encode(&c, tok, sizeof(tok));
        if (n < 0 || (size_t)n != size || memcmp(tok, data, size) != 0)
            abort();
    } else if (rc != -1) {
        abort();
    }

    /* 2. The input as fields. */
    const uint8_t *p = data;
    size_t n = size;
    ipd_http_cursor_t in = {0}, out;
    in.epoch = take64(&p, &n);
    in.created_at = (int64_t)take64(&p, &n);
    size_t idlen = n < IPD_JOB_ID_SIZE - 1 ? n : IPD_JOB_ID_SIZE - 1;
    memcpy(in.id, p, idlen);
    in.id[idlen] = '\0';
    int len = ipd_http_cursor_encode(&in, tok, sizeof(tok));
    if (len < 0)
        return 0; /* an id too long for a cursor: the list never makes one (ids are short) */
    if (len > IPD_HTTP_CURSOR_MAX || (size_t)len != strlen(tok))
        abort();
    rc = ipd_http_cursor_decode(tok, (size_t)len, in.epoch, &out);
    if (strlen(in.id) == 0) {
        if (rc != -1)
            abort(); /* an empty id is not a position */
        return 0;
    }
    if (rc != 0 || out.epoch != in.epoch || out.created_at != in.created_at || strcmp(out.id, in.id) != 0 ||
        ipd_http_cursor_cmp(out.created_at, out.id, in.created_at, in.id) != 0)
        abort();
    if (ipd_http_cursor_decode(tok, (size_t)len, in.epoch + 1, &out) != -2)
        abort();
    size_t at = size > 0 ? data[0] % (size_t)len : 0;
    tok[at] = tok[at] == 'A' ? 'B' : 'A';
    if (ipd_http_cursor_decode(tok, (size_t)len, in.epoch, &out) != -1)
        abort();
    return 0;
}
