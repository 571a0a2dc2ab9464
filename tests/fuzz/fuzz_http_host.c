/*
 * Host and Origin parsing: never crashes; an accepted authority's host lies inside the input,
 * its port is 0 or 1-65535, a loopback verdict is stable, and an origin is its scheme's prefix
 * followed by an authority that parses alone to the same parts.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http_host.h"

static void check_authority(const char *s, size_t size, const ipd_http_authority_t *a)
{
    if (a->host < s || a->host + a->host_len > s + size || a->host_len == 0)
        abort();
    if (a->port < 0 || a->port > 65535)
        abort();
    if (ipd_http_host_is_loopback(a) != ipd_http_host_is_loopback(a))
        abort();
    if (!ipd_http_authority_same(a, a, 80))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ipd_http_authority_t a;
    if (ipd_http_authority_parse(s, size, &a) == 0)
        check_authority(s, size, &a);
    ipd_http_origin_t o;
    if (ipd_http_origin_parse(s, size, &o) == 0) {
        size_t skip = o.https ? 8 : 7;
        check_authority(s, size, &o.authority);
        ipd_http_authority_t again;
        if (ipd_http_authority_parse(s + skip, size - skip, &again) != 0 || again.port != o.authority.port ||
            again.host_len != o.authority.host_len || again.host != o.authority.host)
            abort();
    }
    return 0;
}
