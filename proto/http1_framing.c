#include "proto/http1_framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Whether field line [s, e) is named `name` (lower case, `n` bytes): the name, then the colon. */
static bool field_is(const char *s, const char *e, const char *name, size_t n)
{
    return (size_t)(e - s) > n && s[n] == ':' && strncasecmp(s, name, n) == 0;
}

/* The value of field line [s, e) without the name, the colon and surrounding spaces and tabs. */
static void field_value(const char *s, const char *e, const char **vs, const char **ve)
{
    const char *v = (const char *)memchr(s, ':', (size_t)(e - s)) + 1;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *vs = v;
    *ve = e;
}

int ipd_http1_framing_check(const char *head, size_t len, const char **why)
{
    const char *p = head, *end = head + len;
    const char *cl = NULL, *cl_end = NULL; /* the first Content-Length value */
    bool te = false, first = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return 1;
        if (nl == p || nl[-1] != '\r') {
            *why = "a line of the request head ends in a bare LF, not CR LF";
            return -1;
        }
        const char *e = nl - 1;
        if (e == p) {
            if (cl != NULL && te) {
                *why = "the request has both Content-Length and Transfer-Encoding";
                return -1;
            }
            return 0;
        }
        if (!first && (*p == ' ' || *p == '\t')) {
            *why = "a header field is folded onto a second line (obs-fold)";
            return -1;
        }
        if (!first && field_is(p, e, "transfer-encoding", 17)) {
            te = true;
        } else if (!first && field_is(p, e, "content-length", 14)) {
            const char *vs, *ve;
            field_value(p, e, &vs, &ve);
            if (cl == NULL) {
                cl = vs;
                cl_end = ve;
            } else if (ve - vs != cl_end - cl || memcmp(vs, cl, (size_t)(ve - vs)) != 0) {
                *why = "the request has Content-Length fields with different values";
                return -1;
            }
        }
        first = false;
        p = nl + 1;
    }
    return 1;
}
