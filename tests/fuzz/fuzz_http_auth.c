/*
 * Credentials from clients (proto/http_auth.h): the tokens-file parser, Authorization values and
 * the tokens of WebSocket handshakes. Never crashes, leaks or reads past `len`. A bearer token
 * lies inside its header; a WebSocket token is NUL-terminated within its buffer and holds no
 * NUL; a selected subprotocol lies inside the offer; a parsed tokens file gives every one of its
 * tokens a role of READ or ADMIN, and an empty token none. The input is cut in two at its first
 * 0x00 byte: a query string and a Sec-WebSocket-Protocol value.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/http_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const uint8_t *zero = memchr(data, 0, size);
    size_t qlen = zero != NULL ? (size_t)(zero - data) : size;
    const char *protocols = zero != NULL ? s + qlen + 1 : NULL;
    size_t plen = zero != NULL ? size - qlen - 1 : 0;

    const char *tok;
    size_t toklen;
    if (ipd_http_bearer(s, size, &tok, &toklen) == 0 && (toklen == 0 || tok < s || tok + toklen > s + size))
        abort();

    char out[IPD_HTTP_TOKEN_MAX + 1];
    int n = ipd_http_ws_token(s, qlen, protocols, plen, out, sizeof(out));
    if (n < -1 || n > IPD_HTTP_TOKEN_MAX)
        abort();
    if (n > 0 && (out[n] != '\0' || strlen(out) != (size_t)n))
        abort();

    const char *sel;
    size_t sellen;
    if (protocols != NULL && ipd_http_ws_protocol_select(protocols, plen, &sel, &sellen) == 0 &&
        (sellen == 0 || sel < protocols || sel + sellen > protocols + plen))
        abort();

    ipd_http_tokens_t t = {0};
    char err[128];
    if (ipd_http_tokens_parse(s, size, &t, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < t.count; i++) {
            ipd_http_role_t r = ipd_http_tokens_role(&t, t.entries[i].token, t.entries[i].len);
            if (r != IPD_HTTP_ROLE_READ && r != IPD_HTTP_ROLE_ADMIN)
                abort();
        }
        if (ipd_http_tokens_role(&t, "", 0) != IPD_HTTP_ROLE_NONE)
            abort();
    } else if (t.count != 0 || strnlen(err, sizeof(err)) == sizeof(err)) {
        abort();
    }
    ipd_http_tokens_dispose(&t);

    ipd_http_rate_t rate;
    unsigned per_s = size > 0 ? data[0] : 0;
    ipd_http_rate_init(&rate, per_s, 1000);
    uint64_t now = 1000;
    for (size_t i = 0; i < size && i < 64; i++)
        (void)ipd_http_rate_take(&rate, per_s, now += data[i]);
    return 0;
}
