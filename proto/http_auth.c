#include "proto/http_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/error.h"

static int is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~+/", c) != NULL;
}

/* True if s[0..n) is a b64token: token characters followed by optional '='. */
static int is_b64token(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '\0' && is_token_char(s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

/* Splits a line (comment already cut) into at most 3 words; returns the word count. */
static size_t split(char *line, char *words[3])
{
    size_t n = 0;
    for (char *p = line; *p != '\0' && n < 3;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        words[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    return n;
}

static int add_entry(ipd_http_tokens_t *t, const char *tok, ipd_http_role_t role)
{
    struct ipd_http_token *e = realloc(t->entries, (t->count + 1) * sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    t->entries = e;
    e[t->count].len = strlen(tok);
    if ((e[t->count].token = strdup(tok)) == NULL)
        return -ENOMEM;
    e[t->count++].role = role;
    return 0;
}

/* Validates and adds one line; returns 0, IPD_EINVAL (with err) or -ENOMEM. */
static int parse_line(ipd_http_tokens_t *t, char *line, size_t lineno, char *err, size_t errcap)
{
    char *hash = strchr(line, '#'), *w[3];
    if (hash != NULL)
        *hash = '\0';
    size_t n = split(line, w);
    if (n == 0)
        return 0;
    if (n != 2) {
        snprintf(err, errcap, "line %zu: expected \"TOKEN ROLE\"", lineno);
        return IPD_EINVAL;
    }
    size_t len = strlen(w[0]);
    if (len < IPD_HTTP_TOKEN_MIN || len > IPD_HTTP_TOKEN_MAX || !is_b64token(w[0], len)) {
        snprintf(err, errcap, "line %zu: a token is %d..%d characters of A-Z a-z 0-9 - . _ ~ + / (then '=')", lineno,
                 IPD_HTTP_TOKEN_MIN, IPD_HTTP_TOKEN_MAX);
        return IPD_EINVAL;
    }
    ipd_http_role_t role = strcmp(w[1], "read") == 0    ? IPD_HTTP_ROLE_READ
                           : strcmp(w[1], "admin") == 0 ? IPD_HTTP_ROLE_ADMIN
                                                        : IPD_HTTP_ROLE_NONE;
    if (role == IPD_HTTP_ROLE_NONE) {
        snprintf(err, errcap, "line %zu: role must be read or admin", lineno);
        return IPD_EINVAL;
    }
    if (ipd_http_tokens_role(t, w[0], len) != IPD_HTTP_ROLE_NONE) {
        snprintf(err, errcap, "line %zu: duplicate token", lineno);
        return IPD_EINVAL;
    }
    return add_entry(t, w[0], role);
}

int ipd_http_tokens_parse(const char *text, size_t len, ipd_http_tokens_t *out, char *err, size_t errcap)
{
    ipd_http_tokens_t t = {0};
    char line[IPD_HTTP_TOKEN_MAX + 512];
    size_t lineno = 0;
    int rc = 0;

    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - text - pos) : len - pos;
        lineno++;
        if (n >= sizeof(line) || memchr(text + pos, '\0', n) != NULL) {
            snprintf(err, errcap, "line %zu: too long or holds a NUL byte", lineno);
            rc = IPD_EINVAL;
            break;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        rc = parse_line(&t, line, lineno, err, errcap);
        pos += n + 1;
    }
    explicit_bzero(line, sizeof(line));
    if (rc != 0) {
        if (rc == -ENOMEM)
            snprintf(err, errcap, "out of memory");
        ipd_http_tokens_dispose(&t);
        return rc;
    }
    ipd_http_tokens_dispose(out);
    *out = t;
    return 0;
}

void ipd_http_tokens_dispose(ipd_http_tokens_t *t)
{
    for (size_t i = 0; i < t->count; i++) {
        explicit_bzero(t->entries[i].token, t->entries[i].len);
        free(t->entries[i].token);
    }
    free(t->entries);
    t->entries = NULL;
    t->count = 0;
}

/* Compares without an early exit on the first differing byte. */
static int same(const char *a, const char *b, size_t len)
{
    unsigned char d = 0;
    for (size_t i = 0; i < len; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

ipd_http_role_t ipd_http_tokens_role(const ipd_http_tokens_t *t, const char *token, size_t len)
{
    ipd_http_role_t role = IPD_HTTP_ROLE_NONE;
    for (size_t i = 0; i < t->count; i++)
        if (t->entries[i].len == len && same(t->entries[i].token, token, len))
            role = t->entries[i].role;
    return role;
}

int ipd_http_bearer(const char *hdr, size_t len, const char **token, size_t *toklen)
{
    size_t i = 0;
    if (len < 7 || strncasecmp(hdr, "Bearer", 6) != 0 || (hdr[6] != ' ' && hdr[6] != '\t'))
        return -1;
    for (i = 7; i < len && (hdr[i] == ' ' || hdr[i] == '\t'); i++)
        ;
    size_t end = len;
    while (end > i && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
        end--;
    if (end == i || !is_b64token(hdr + i, end - i))
        return -1;
    *token = hdr + i;
    *toklen = end - i;
    return 0;
}

void ipd_http_rate_init(ipd_http_rate_t *r, unsigned rate, uint64_t now_ms)
{
    r->milli = (uint64_t)rate * 1000;
    r->last_ms = now_ms;
}

int ipd_http_rate_take(ipd_http_rate_t *r, unsigned rate, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)rate * 1000;
    if (now_ms > r->last_ms) {
        uint64_t add = (now_ms - r->last_ms) * rate; /* rate per second = rate thousandths per ms */
        r->milli = add >= cap - r->milli ? cap : r->milli + add;
        r->last_ms = now_ms;
    }
    if (r->milli < 1000)
        return 0;
    r->milli -= 1000;
    return 1;
}
