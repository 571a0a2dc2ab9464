/*
 * HTTP/1.x framing check: never crashes, never reads past the input; a refusal always says why;
 * an accepted head has an empty line, CR LF before every LF up to it, and is judged the same
 * with any bytes appended after it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http1_framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *why = NULL;
    int rc = ipd_http1_framing_check(s, size, &why);
    if (rc == -1 && (why == NULL || why[0] == '\0'))
        abort();
    if (rc != 0)
        return 0;
    /* The head ends after the first line that is just CR LF. */
    const char *end = NULL;
    for (const char *p = s; end == NULL && p < s + size;) {
        const char *nl = memchr(p, '\n', size - (size_t)(p - s));
        if (nl == NULL)
            abort();
        if (nl == p + 1 && *p == '\r')
            end = nl + 1;
        p = nl + 1;
    }
    if (end == NULL)
        abort();
    for (const char *p = s; p < end; p++)
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            abort();
    if (ipd_http1_framing_check(s, (size_t)(end - s), &why) != 0)
        abort();
    return 0;
}
