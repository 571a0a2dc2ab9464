#include "proto/http_parse.h"

#include <stdio.h>
#include <string.h>

int ipd_http_query_next(const char *query, size_t len, size_t *pos, ipd_http_param_t *out)
{
    while (*pos < len) {
        size_t start = *pos, end = start;
        while (end < len && query[end] != '&')
            end++;
        *pos = end < len ? end + 1 : end;
        if (end == start)
            continue;
        const char *eq = memchr(query + start, '=', end - start);
        out->name = query + start;
        out->name_len = eq != NULL ? (size_t)(eq - out->name) : end - start;
        out->value = eq != NULL ? eq + 1 : query + end;
        out->value_len = eq != NULL ? (size_t)(query + end - out->value) : 0;
        return 1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ipd_http_percent_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return -1; /* encoded or raw: a NUL would cut the value short */
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (int)n;
}

int ipd_http_parse_limit(const char *s, size_t len, unsigned *out)
{
    unsigned v = 0;
    if (len == 0 || len > 4)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < IPD_HTTP_LIMIT_MIN || v > IPD_HTTP_LIMIT_MAX)
        return -1;
    *out = v;
    return 0;
}

static int is(const ipd_http_param_t *p, const char *name)
{
    return p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0;
}

static int reject_unknown(const ipd_http_param_t *p, char *msg, size_t msgcap)
{
    char name[64];
    if (ipd_http_percent_decode(p->name, p->name_len, name, sizeof(name)) < 0)
        snprintf(name, sizeof(name), "(unreadable)");
    snprintf(msg, msgcap, "%s: unknown parameter", name);
    return -1;
}

static int take_limit(const ipd_http_param_t *p, int *seen, unsigned *limit, char *msg, size_t msgcap)
{
    if ((*seen)++) {
        snprintf(msg, msgcap, "limit: given more than once");
        return -1;
    }
    if (ipd_http_parse_limit(p->value, p->value_len, limit) != 0) {
        snprintf(msg, msgcap, "limit: must be an integer between %d and %d", IPD_HTTP_LIMIT_MIN, IPD_HTTP_LIMIT_MAX);
        return -1;
    }
    return 0;
}

static int parse_failed_query(const char *query, size_t len, ipd_http_failed_query_t *out, char *msg, size_t msgcap)
{
    ipd_http_param_t p;
    size_t pos = 0;
    int seen = 0;
    out->limit = IPD_HTTP_FAILED_LIMIT_DEFAULT;
    while (ipd_http_query_next(query, len, &pos, &p)) {
        if (!is(&p, "limit"))
            return reject_unknown(&p, msg, msgcap);
        if (take_limit(&p, &seen, &out->limit, msg, msgcap) != 0)
            return -1;
    }
    return 0;
}

/* Adds each comma-separated state name of a decoded `state` value to the mask. */
static int take_states(const char *v, unsigned *mask, char *msg, size_t msgcap)
{
    const char *s = v;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        int st = ipd_job_state_parse(s, n);
        if (st < 0) {
            snprintf(msg, msgcap,
                     "state: unknown state \"%.*s\" (expected pending, pulling, succeeded, failed or "
                     "cancelled)",
                     (int)(n > 32 ? 32 : n), s);
            return -1;
        }
        *mask |= 1u << st;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* Adds each comma-separated cause name of a decoded `cause` value to the mask. */
static int take_causes(const char *v, unsigned *mask, char *msg, size_t msgcap)
{
    const char *s = v;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        int c = ipd_cause_parse(s, n);
        if (c < 0) {
            snprintf(msg, msgcap,
                     "cause: unknown cause \"%.*s\" (expected auth, not_found, network, tls, rate_limited, timeout, "
                     "invalid_reference, node_unavailable, deadline, cancelled or unknown)",
                     (int)(n > 32 ? 32 : n), s);
            return -1;
        }
        *mask |= 1u << c;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* Decodes a once-only string parameter into `dst`. */
static int take_string(const ipd_http_param_t *p, const char *name, int *seen, char *dst, size_t cap, char *msg,
                       size_t msgcap)
{
    if ((*seen)++) {
        snprintf(msg, msgcap, "%s: given more than once", name);
        return -1;
    }
    int n = ipd_http_percent_decode(p->value, p->value_len, dst, cap);
    if (n <= 0) {
        snprintf(msg, msgcap, "%s: %s", name, n == 0 ? "must not be empty" : "bad percent-encoding or too long");
        return -1;
    }
    return 0;
}

static int parse_jobs_query(const char *query, size_t len, ipd_http_jobs_query_t *out, char *msg, size_t msgcap)
{
    ipd_http_param_t p;
    size_t pos = 0;
    int seen_limit = 0, seen_image = 0, seen_node = 0, seen_cont = 0;
    char state[256];

    memset(out, 0, sizeof(*out));
    out->limit = IPD_HTTP_JOBS_LIMIT_DEFAULT;
    while (ipd_http_query_next(query, len, &pos, &p)) {
        int rc;
        if (is(&p, "state")) {
            int n = ipd_http_percent_decode(p.value, p.value_len, state, sizeof(state));
            if (n <= 0) {
                snprintf(msg, msgcap, "state: %s", n == 0 ? "must not be empty" : "bad percent-encoding or too long");
                return -1;
            }
            rc = take_states(state, &out->states, msg, msgcap);
        } else if (is(&p, "cause")) {
            int n = ipd_http_percent_decode(p.value, p.value_len, state, sizeof(state));
            if (n <= 0) {
                snprintf(msg, msgcap, "cause: %s", n == 0 ? "must not be empty" : "bad percent-encoding or too long");
                return -1;
            }
            rc = take_causes(state, &out->causes, msg, msgcap);
        } else if (is(&p, "image")) {
            rc = take_string(&p, "image", &seen_image, out->image, sizeof(out->image), msg, msgcap);
        } else if (is(&p, "node")) {
            rc = take_string(&p, "node", &seen_node, out->node, sizeof(out->node), msg, msgcap);
        } else if (is(&p, "continue")) {
            rc = take_string(&p, "continue", &seen_cont, out->cont, sizeof(out->cont), msg, msgcap);
        } else if (is(&p, "limit")) {
            rc = take_limit(&p, &seen_limit, &out->limit, msg, msgcap);
        } else {
            rc = reject_unknown(&p, msg, msgcap);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

void ipd_http_message_one_line(char *msg)
{
    for (; *msg != '\0'; msg++)
        if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
            *msg = '?';
}

int ipd_http_parse_failed_query(const char *query, size_t len, ipd_http_failed_query_t *out, char *msg, size_t msgcap)
{
    int rc = parse_failed_query(query, len, out, msg, msgcap);
    if (rc != 0 && msgcap > 0)
        ipd_http_message_one_line(msg);
    return rc;
}

int ipd_http_parse_jobs_query(const char *query, size_t len, ipd_http_jobs_query_t *out, char *msg, size_t msgcap)
{
    int rc = parse_jobs_query(query, len, out, msg, msgcap);
    if (rc != 0 && msgcap > 0)
        ipd_http_message_one_line(msg);
    return rc;
}
