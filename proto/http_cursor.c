#include "proto/http_parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64url.h"
#include "proto/hash64.h"

#define CURSOR_SEED UINT64_C(0x6970642d63757273) /* separates cursor checks from other uses of the hash */

int ipd_http_cursor_encode(const ipd_http_cursor_t *c, char *out, size_t cap)
{
    char plain[128];
    int n = snprintf(plain, sizeof(plain), "1:%016" PRIx64 ":%" PRId64 ":%.*s:", c->epoch, c->created_at,
                     (int)strnlen(c->id, IPD_JOB_ID_SIZE - 1), c->id);
    if (n < 0 || (size_t)n >= sizeof(plain))
        return -1;
    uint64_t check = ipd_hash64(plain, (size_t)n, CURSOR_SEED);
    int m = snprintf(plain + n, sizeof(plain) - (size_t)n, "%016" PRIx64, check);
    if (m < 0 || (size_t)(n + m) >= sizeof(plain))
        return -1;
    return ipd_base64url_encode(plain, (size_t)(n + m), out, cap);
}

/* Parses exactly the decimal integer s[0..n) (optional '-'); returns 0 or -1. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    char tmp[24], *end;
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = tmp[0] == '-' ? 1 : 0; i < n; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            return -1;
    *out = strtoll(tmp, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static int parse_hex64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n != 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int ipd_http_cursor_decode(const char *token, size_t len, uint64_t epoch, ipd_http_cursor_t *out)
{
    char plain[128];
    const char *f[5];
    size_t flen[5], nf = 0;
    uint64_t check;

    if (len == 0 || len > IPD_HTTP_CURSOR_MAX)
        return -1;
    int n = ipd_base64url_decode(token, len, plain, sizeof(plain) - 1);
    if (n < 0)
        return -1;
    plain[n] = '\0';
    if (memchr(plain, '\0', (size_t)n) != NULL)
        return -1;
    /* version:epoch:created_at:id:check, where the id may itself hold ':' (split from both ends). */
    const char *last = strrchr(plain, ':');
    if (last == NULL)
        return -1;
    for (const char *p = plain; nf < 3; nf++) {
        const char *colon = strchr(p, ':');
        if (colon == NULL || colon >= last)
            return -1;
        f[nf] = p;
        flen[nf] = (size_t)(colon - p);
        p = colon + 1;
    }
    f[3] = f[2] + flen[2] + 1;
    flen[3] = (size_t)(last - f[3]);
    f[4] = last + 1;
    flen[4] = strlen(f[4]);
    size_t signed_len = (size_t)(f[4] - plain);
    if (flen[0] != 1 || f[0][0] != '1' || parse_hex64(f[4], flen[4], &check) != 0 ||
        check != ipd_hash64(plain, signed_len, CURSOR_SEED))
        return -1;
    if (parse_hex64(f[1], flen[1], &out->epoch) != 0 || parse_i64(f[2], flen[2], &out->created_at) != 0 ||
        flen[3] == 0 || flen[3] >= IPD_JOB_ID_SIZE)
        return -1;
    memcpy(out->id, f[3], flen[3]);
    out->id[flen[3]] = '\0';
    return out->epoch == epoch ? 0 : -2;
}

int ipd_http_cursor_cmp(int64_t a_created, const char *a_id, int64_t b_created, const char *b_id)
{
    if (a_created != b_created)
        return a_created < b_created ? -1 : 1;
    return strncmp(a_id, b_id, IPD_JOB_ID_SIZE);
}

int ipd_http_etag_format(uint64_t epoch, uint64_t generation, char out[IPD_HTTP_ETAG_SIZE])
{
    return snprintf(out, IPD_HTTP_ETAG_SIZE, "\"%016" PRIx64 "-%" PRIu64 "\"", epoch, generation);
}
