/*
 * Query strings of the REST endpoints (proto/http_parse.h): never crashes and never reads past
 * `len` (the input is not NUL-terminated); every pair the iterator yields lies inside the input,
 * the position only moves forward and ends at `len`; a percent-decoded value is no longer than
 * its text, fits its buffer and holds no NUL; the list parsers either accept with values in
 * their documented bounds or refuse with a one-line message that fits its buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http_parse.h"

static void check_msg(const char *msg, size_t cap)
{
    size_t n = strnlen(msg, cap);
    if (n == 0 || n >= cap || memchr(msg, '\n', n) != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    size_t pos = 0, pairs = 0;
    ipd_http_param_t p;
    while (ipd_http_query_next(q, size, &pos, &p)) {
        if (pos > size || p.name < q || p.name + p.name_len > q + size || p.name_len + p.value_len >= size + 1 ||
            (p.value_len > 0 && (p.value < q || p.value + p.value_len > q + size)))
            abort();
        if (++pairs > size)
            abort(); /* each pair takes at least one byte */
        char out[64];
        int n = ipd_http_percent_decode(p.value, p.value_len, out, sizeof(out));
        if (n >= 0 && ((size_t)n > p.value_len || (size_t)n >= sizeof(out) || out[n] != '\0' ||
                       memchr(out, '\0', (size_t)n) != NULL))
            abort();
        unsigned limit;
        if (ipd_http_parse_limit(p.value, p.value_len, &limit) == 0 &&
            (limit < IPD_HTTP_LIMIT_MIN || limit > IPD_HTTP_LIMIT_MAX))
            abort();
    }
    if (pos != size)
        abort();

    char msg[128] = "";
    ipd_http_failed_query_t f;
    if (ipd_http_parse_failed_query(q, size, &f, msg, sizeof(msg)) == 0) {
        if (f.limit < IPD_HTTP_LIMIT_MIN || f.limit > IPD_HTTP_LIMIT_MAX)
            abort();
    } else {
        check_msg(msg, sizeof(msg));
    }
    ipd_http_jobs_query_t j;
    msg[0] = '\0';
    if (ipd_http_parse_jobs_query(q, size, &j, msg, sizeof(msg)) == 0) {
        if (j.limit < IPD_HTTP_LIMIT_MIN || j.limit > IPD_HTTP_LIMIT_MAX ||
            strnlen(j.image, sizeof(j.image)) == sizeof(j.image) || strnlen(j.node, sizeof(j.node)) == sizeof(j.node) ||
            strnlen(j.cont, sizeof(j.cont)) == sizeof(j.cont))
            abort();
    } else {
        check_msg(msg, sizeof(msg));
    }
    return 0;
}
