/* Tokens of WebSocket handshakes from browsers: access_token and Sec-WebSocket-Protocol. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/http_auth.h"

#define S(lit) lit, sizeof(lit) - 1

Test(worker_ws_auth, access_token_is_percent_decoded)
{
    char tok[IPD_HTTP_TOKEN_MAX + 1];
    cr_assert_eq(ipd_http_ws_token(S("pod=a&access_token=ab%2Bcd%2F%3D%3D"), NULL, 0, tok, sizeof(tok)), 8);
    cr_assert_str_eq(tok, "ab+cd/==");
    cr_assert_eq(ipd_http_ws_token(S("access_token="), NULL, 0, tok, sizeof(tok)), -1);
    cr_assert_eq(ipd_http_ws_token(S("pod=a"), NULL, 0, tok, sizeof(tok)), 0);
}

Test(worker_ws_auth, protocol_pair_and_base64url_entry)
{
    char tok[IPD_HTTP_TOKEN_MAX + 1];
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("imgpulld, bearer, s3cr3t-token-0123"), tok, sizeof(tok)), 17);
    cr_assert_str_eq(tok, "s3cr3t-token-0123");
    /* base64url("ab+cd/==xyz-token") without padding */
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("base64url.bearer.YWIrY2QvPT14eXotdG9rZW4"), tok, sizeof(tok)), 17);
    cr_assert_str_eq(tok, "ab+cd/==xyz-token");
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("base64url.bearer.YW*"), tok, sizeof(tok)), -1);
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("imgpulld, bearer"), tok, sizeof(tok)), -1);
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("imgpulld"), tok, sizeof(tok)), 0);
    /* The query parameter wins over the header. */
    cr_assert_eq(ipd_http_ws_token(S("access_token=q-token"), S("bearer, h-token"), tok, sizeof(tok)), 7);
    cr_assert_str_eq(tok, "q-token");
}

Test(worker_ws_auth, a_token_holding_a_nul_is_malformed)
{
    char tok[IPD_HTTP_TOKEN_MAX + 1];
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("bearer, abcdefgh\0ijklmnop"), tok, sizeof(tok)), -1);
    cr_assert_eq(ipd_http_ws_token(NULL, 0, S("base64url.bearer.AAAAAAAA"), tok, sizeof(tok)), -1);
}

Test(worker_ws_auth, selected_protocol_never_echoes_a_credential)
{
    const char *sel;
    size_t len;
    cr_assert_eq(ipd_http_ws_protocol_select(S("bearer, tok-123"), &sel, &len), 0);
    cr_assert(len == 6 && memcmp(sel, "bearer", 6) == 0);
    cr_assert_eq(ipd_http_ws_protocol_select(S("base64url.bearer.YWI, imgpulld.v1"), &sel, &len), 0);
    cr_assert(len == 11 && memcmp(sel, "imgpulld.v1", 11) == 0);
    cr_assert_eq(ipd_http_ws_protocol_select(S("base64url.bearer.YWI"), &sel, &len), -1);
}
