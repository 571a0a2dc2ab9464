#include "proto/json_scan.h"

#include <string.h>

#include "proto/error.h"

typedef struct scan {
    const char *p, *end;
} scan_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* At an opening quote: moves past the closing one; sets *escaped if a backslash was seen. */
static int skip_string(scan_t *s, int *escaped)
{
    s->p++;
    for (;;) {
        const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
        if (q == NULL)
            return IPD_EINVAL;
        /* The quote ends the string unless an odd run of backslashes precedes it. */
        size_t bs = 0;
        while (q - bs > s->p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (memchr(s->p, '\\', (size_t)(q - s->p)) != NULL && escaped != NULL)
            *escaped = 1;
        s->p = q + 1;
        if (bs % 2 == 0)
            return 0;
    }
}

/* Skips one value of any kind. */
static int skip_value(scan_t *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return IPD_EINVAL;
    if (*s->p == '"')
        return skip_string(s, NULL);
    if (*s->p != '{' && *s->p != '[') {
        while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']')
            s->p++;
        return 0;
    }
    int depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (skip_string(s, NULL) != 0)
                return IPD_EINVAL;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0) {
            s->p++;
            return 0;
        }
        s->p++;
    }
    return IPD_EINVAL;
}

/* Inside an object (after '{'): positions `s` at the value of member `name`. */
static int find_member(scan_t *s, const char *name)
{
    size_t nlen = strlen(name);
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p == '}')
            return IPD_ENOTFOUND;
        if (*s->p != '"')
            return IPD_EINVAL;
        const char *key = s->p + 1;
        int escaped = 0;
        if (skip_string(s, &escaped) != 0)
            return IPD_EINVAL;
        size_t klen = (size_t)(s->p - 1 - key);
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return IPD_EINVAL;
        s->p++;
        skip_ws(s);
        if (!escaped && klen == nlen && memcmp(key, name, nlen) == 0)
            return 0;
        if (skip_value(s) != 0)
            return IPD_EINVAL;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',')
            s->p++;
    }
}

/* Descends through the objects named by `path`, leaving `s` at the value of the last member. */
static int walk(scan_t *s, const char *const *path, size_t depth)
{
    for (size_t i = 0; i < depth; i++) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '{')
            return i == 0 ? IPD_EINVAL : IPD_ENOTFOUND;
        s->p++;
        int rc = find_member(s, path[i]);
        if (rc != 0)
            return rc;
    }
    skip_ws(s);
    return 0;
}

int ipd_json_scan_string(const char *buf, size_t len, const char *const *path, size_t depth, const char **val,
                         size_t *vlen)
{
    scan_t s = {buf, buf + len};
    int rc = walk(&s, path, depth);
    if (rc != 0)
        return rc;
    if (s.p >= s.end || *s.p != '"')
        return IPD_ENOTFOUND;
    const char *start = s.p + 1;
    int escaped = 0;
    if (skip_string(&s, &escaped) != 0)
        return IPD_EINVAL;
    *val = start;
    *vlen = (size_t)(s.p - 1 - start);
    return escaped ? 1 : 0;
}

int ipd_json_scan_members(const char *buf, size_t len, const char *const *path, size_t depth, const char *const *names,
                          size_t n, ipd_json_span_t *out)
{
    scan_t s = {buf, buf + len};
    for (size_t i = 0; i < n; i++)
        out[i] = (ipd_json_span_t){NULL, 0, 0};
    int rc = walk(&s, path, depth);
    if (rc != 0)
        return rc;
    if (s.p >= s.end || *s.p != '{')
        return depth == 0 ? IPD_EINVAL : IPD_ENOTFOUND;
    s.p++;
    size_t found = 0;
    for (;;) {
        skip_ws(&s);
        if (s.p >= s.end)
            return IPD_EINVAL;
        if (*s.p == '}')
            return 0;
        if (*s.p != '"')
            return IPD_EINVAL;
        const char *key = s.p + 1;
        int kesc = 0;
        if (skip_string(&s, &kesc) != 0)
            return IPD_EINVAL;
        size_t klen = (size_t)(s.p - 1 - key);
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return IPD_EINVAL;
        s.p++;
        skip_ws(&s);
        size_t hit = n;
        for (size_t i = 0; i < n && !kesc; i++)
            if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
                hit = i;
        if (hit < n && s.p < s.end && *s.p == '"') {
            const char *v = s.p + 1;
            int esc = 0;
            if (skip_string(&s, &esc) != 0)
                return IPD_EINVAL;
            if (out[hit].ptr == NULL) {
                out[hit] = (ipd_json_span_t){v, (size_t)(s.p - 1 - v), esc};
                if (++found == n)
                    return 0; /* the rest (a Pod's managedFields, often) is not read */
            }
        } else if (skip_value(&s) != 0) {
            return IPD_EINVAL;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',')
            s.p++;
    }
}
