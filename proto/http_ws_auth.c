/* Bearer tokens of WebSocket handshakes from browsers, which cannot set Authorization. Pure. */
#include "proto/http_auth.h"

#include <string.h>

#include "proto/base64url.h"
#include "proto/http_parse.h"

#define PROTO_BEARER     "bearer"
#define PROTO_BEARER_B64 "base64url.bearer."

/* Decodes unpadded base64url into `out` (`cap` bytes, NUL-terminated). Returns the length or -1. */
static int b64url_decode(const char *s, size_t len, char *out, size_t cap)
{
    int n = cap > 0 ? ipd_base64url_decode(s, len, out, cap - 1) : -1;
    if (n >= 0)
        out[n] = '\0';
    return n;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Calls `fn` on each comma-separated, space-trimmed entry of a header value until it returns non-zero. */
static int each_entry(const char *v, size_t len, int (*fn)(const char *, size_t, void *), void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i, end;
        while (i < len && v[i] != ',')
            i++;
        end = i++;
        while (start < end && (v[start] == ' ' || v[start] == '\t'))
            start++;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        int rc = end > start ? fn(v + start, end - start, ctx) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

struct token_out {
    char *out;
    size_t cap;
    int len;        /* 0 none, -1 malformed, else the length */
    int after_mark; /* the previous entry was the "bearer" marker */
};

static int is_mark(const char *e, size_t len)
{
    return len == sizeof(PROTO_BEARER) - 1 && memcmp(e, PROTO_BEARER, len) == 0;
}

static int on_protocol_token(const char *e, size_t len, void *ctx)
{
    struct token_out *t = ctx;
    if (t->after_mark) {
        if (len >= t->cap) {
            t->len = -1;
        } else {
            memcpy(t->out, e, len);
            t->out[len] = '\0';
            t->len = (int)len;
        }
        return 1;
    }
    if (is_mark(e, len)) {
        t->after_mark = 1;
        t->len = -1; /* a marker with nothing after it */
        return 0;
    }
    if (has_prefix(e, len, PROTO_BEARER_B64)) {
        size_t n = sizeof(PROTO_BEARER_B64) - 1;
        t->len = b64url_decode(e + n, len - n, t->out, t->cap);
        return 1;
    }
    return 0;
}

static int offered_token(const char *query, size_t qlen, const char *protocols, size_t plen, char *out, size_t cap)
{
    ipd_http_param_t p;
    size_t pos = 0;
    while (query != NULL && ipd_http_query_next(query, qlen, &pos, &p)) {
        if (p.name_len == sizeof("access_token") - 1 && memcmp(p.name, "access_token", p.name_len) == 0) {
            int n = ipd_http_percent_decode(p.value, p.value_len, out, cap);
            return n > 0 ? n : -1;
        }
    }
    struct token_out t = {out, cap, 0, 0};
    if (protocols != NULL)
        each_entry(protocols, plen, on_protocol_token, &t);
    return t.len;
}

int ipd_http_ws_token(const char *query, size_t qlen, const char *protocols, size_t plen, char *out, size_t cap)
{
    int n = offered_token(query, qlen, protocols, plen, out, cap);
    return n > 0 && memchr(out, '\0', (size_t)n) != NULL ? -1 : n; /* the caller reads a C string */
}

struct selection {
    const char *sel;
    size_t len;
};

/* The marker "bearer" is answered when offered; otherwise the first entry that carries no credential. */
static int on_protocol_select(const char *e, size_t len, void *ctx)
{
    struct selection *s = ctx;
    if (is_mark(e, len)) {
        s->sel = e;
        s->len = len;
        return 1;
    }
    if (has_prefix(e, len, PROTO_BEARER_B64) || s->sel != NULL)
        return 0;
    s->sel = e;
    s->len = len;
    return 0;
}

int ipd_http_ws_protocol_select(const char *protocols, size_t plen, const char **sel, size_t *sellen)
{
    struct selection s = {NULL, 0};
    each_entry(protocols, plen, on_protocol_select, &s);
    if (s.sel == NULL)
        return -1;
    *sel = s.sel;
    *sellen = s.len;
    return 0;
}
