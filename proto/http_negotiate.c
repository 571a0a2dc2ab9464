#include "proto/http_parse.h"

#include <string.h>
#include <strings.h>

#include "proto/json.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_ows(const char *s, size_t len, size_t *i)
{
    while (*i < len && is_ows(s[*i]))
        (*i)++;
}

int ipd_http_etag_match(const char *hdr, size_t len, const char *etag, size_t etag_len)
{
    size_t i = 0;
    if (etag_len >= 2 && etag[0] == 'W' && etag[1] == '/')
        etag += 2, etag_len -= 2;
    for (;;) {
        while (i < len && (is_ows(hdr[i]) || hdr[i] == ','))
            i++;
        if (i >= len)
            return 0;
        if (hdr[i] == '*')
            return 1;
        if (i + 1 < len && hdr[i] == 'W' && hdr[i + 1] == '/')
            i += 2;
        if (i >= len || hdr[i] != '"')
            return 0;
        size_t start = i++;
        while (i < len && hdr[i] != '"')
            i++;
        if (i >= len)
            return 0;
        i++;
        if (i - start == etag_len && memcmp(hdr + start, etag, etag_len) == 0)
            return 1;
        skip_ows(hdr, len, &i);
        if (i < len && hdr[i] != ',')
            return 0;
    }
}

/*
 * Walks a comma-separated list of "token[;param...]" elements (Accept, Accept-Encoding).
 * For each element calls back with the token and its q value in thousandths (1000 when absent,
 * -1 when the q value is malformed, which callers treat as 0).
 */
typedef void (*element_cb)(const char *tok, size_t toklen, int q, void *ctx);

static int parse_q(const char *s, size_t len)
{
    int q = 0, digits = 0;
    size_t i = 0;
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    q = (s[0] - '0') * 1000;
    i = 1;
    if (i < len && s[i] == '.') {
        for (i++; i < len && digits < 3; i++, digits++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            q += (s[i] - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
        }
    }
    return i == len && q <= 1000 ? q : -1;
}

static void each_element(const char *hdr, size_t len, element_cb cb, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(hdr[i]) || hdr[i] == ','))
            i++;
        size_t start = i;
        while (i < len && hdr[i] != ',' && hdr[i] != ';' && !is_ows(hdr[i]))
            i++;
        size_t toklen = i - start;
        int q = 1000;
        while (i < len && hdr[i] != ',') {
            skip_ows(hdr, len, &i);
            if (i < len && hdr[i] == ';') {
                i++;
                skip_ows(hdr, len, &i);
                size_t ps = i;
                while (i < len && hdr[i] != ',' && hdr[i] != ';' && !is_ows(hdr[i]))
                    i++;
                if (i - ps > 2 && (hdr[ps] == 'q' || hdr[ps] == 'Q') && hdr[ps + 1] == '=')
                    q = parse_q(hdr + ps + 2, i - ps - 2);
            } else if (i < len && hdr[i] != ',') {
                i++; /* stray character: ignore it */
            }
        }
        if (toklen != 0)
            cb(hdr + start, toklen, q < 0 ? 0 : q, ctx);
    }
}

static int tok_is(const char *tok, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(tok, name, len) == 0;
}

struct gzip_scan {
    int gzip_q, star_q; /* -1 when not listed */
};

static void on_encoding(const char *tok, size_t len, int q, void *ctx)
{
    struct gzip_scan *g = ctx;
    if (tok_is(tok, len, "gzip") || tok_is(tok, len, "x-gzip"))
        g->gzip_q = q > g->gzip_q ? q : g->gzip_q;
    else if (tok_is(tok, len, "*"))
        g->star_q = q;
}

int ipd_http_accepts_gzip(const char *hdr, size_t len)
{
    struct gzip_scan g = {-1, -1};
    each_element(hdr, len, on_encoding, &g);
    return g.gzip_q >= 0 ? g.gzip_q > 0 : g.star_q > 0;
}

struct accept_scan {
    int msgpack_q, json_q;
};

static void on_media(const char *tok, size_t len, int q, void *ctx)
{
    struct accept_scan *a = ctx;
    if (tok_is(tok, len, "application/msgpack") || tok_is(tok, len, "application/x-msgpack")) {
        if (q > a->msgpack_q)
            a->msgpack_q = q;
    } else if (tok_is(tok, len, "application/json") || tok_is(tok, len, "application/*") || tok_is(tok, len, "*/*")) {
        if (q > a->json_q)
            a->json_q = q;
    }
}

int ipd_http_wants_msgpack(const char *hdr, size_t len)
{
    struct accept_scan a = {0, 0};
    each_element(hdr, len, on_media, &a);
    return a.msgpack_q > a.json_q;
}

int ipd_http_is_json_type(const char *hdr, size_t len)
{
    static const char type[] = "application/json";
    size_t i = 0, tl = sizeof(type) - 1;
    skip_ows(hdr, len, &i);
    if (len - i < tl || strncasecmp(hdr + i, type, tl) != 0)
        return 0;
    i += tl;
    for (;;) {
        skip_ows(hdr, len, &i);
        if (i == len)
            return 1;
        if (hdr[i] != ';')
            return 0;
        i++;
        skip_ows(hdr, len, &i);
        if (len - i < 8 || strncasecmp(hdr + i, "charset=", 8) != 0)
            return 0;
        i += 8;
        int quoted = i < len && hdr[i] == '"';
        i += quoted;
        if (len - i < 5 || strncasecmp(hdr + i, "utf-8", 5) != 0)
            return 0;
        i += 5;
        if (quoted) {
            if (i >= len || hdr[i] != '"')
                return 0;
            i++;
        }
    }
}

int ipd_http_error_body(ipd_buf_t *buf, const char *code, const char *message)
{
    size_t start = buf->len;
    int rc = ipd_buf_append_str(buf, "{\"error\":{\"code\":");
    if (rc == 0)
        rc = ipd_json_append_string(buf, code, strlen(code));
    if (rc == 0)
        rc = ipd_buf_append_str(buf, ",\"message\":");
    if (rc == 0)
        rc = ipd_json_append_string(buf, message, strlen(message));
    if (rc == 0)
        rc = ipd_buf_append_str(buf, "}}");
    if (rc != 0)
        ipd_buf_truncate(buf, start);
    return rc;
}
