#include <criterion/criterion.h>
#include <string.h>

#include "proto/base64url.h"
#include "proto/buf.h"
#include "proto/http_parse.h"

#define S(lit) lit, sizeof(lit) - 1

Test(worker_http, query_iterates_pairs_and_skips_empty_ones)
{
    const char q[] = "a=1&&b&c=x%20y&";
    ipd_http_param_t p;
    size_t pos = 0;
    cr_assert(ipd_http_query_next(q, strlen(q), &pos, &p));
    cr_assert(p.name_len == 1 && p.name[0] == 'a' && p.value_len == 1 && p.value[0] == '1');
    cr_assert(ipd_http_query_next(q, strlen(q), &pos, &p));
    cr_assert(p.name_len == 1 && p.name[0] == 'b' && p.value_len == 0);
    cr_assert(ipd_http_query_next(q, strlen(q), &pos, &p));
    cr_assert(p.name_len == 1 && p.value_len == 5);
    cr_assert_not(ipd_http_query_next(q, strlen(q), &pos, &p));
}

Test(worker_http, percent_decode_handles_escapes_plus_and_errors)
{
    char out[16];
    cr_assert_eq(ipd_http_percent_decode(S("a%2Fb+c"), out, sizeof(out)), 5);
    cr_assert_str_eq(out, "a/b c");
    cr_assert_eq(ipd_http_percent_decode(S("%4"), out, sizeof(out)), -1);
    cr_assert_eq(ipd_http_percent_decode(S("%zz"), out, sizeof(out)), -1);
    cr_assert_eq(ipd_http_percent_decode(S("%00"), out, sizeof(out)), -1);
    cr_assert_eq(ipd_http_percent_decode(S("0123456789abcdef"), out, sizeof(out)), -1);
}

Test(worker_http, a_raw_nul_never_cuts_a_value_short)
{
    char out[16];
    cr_assert_eq(ipd_http_percent_decode(S("nginx\0evil"), out, sizeof(out)), -1);
    ipd_http_jobs_query_t j;
    char msg[128];
    cr_assert_eq(ipd_http_parse_jobs_query(S("image=nginx\0evil"), &j, msg, sizeof(msg)), -1);
}

Test(worker_http, a_message_quoting_a_client_stays_one_line)
{
    ipd_http_jobs_query_t j;
    char msg[128];
    cr_assert_eq(ipd_http_parse_jobs_query(S("a%0Ab=1"), &j, msg, sizeof(msg)), -1);
    cr_assert_str_eq(msg, "a?b: unknown parameter");
}

Test(worker_http, limit_accepts_one_to_thousand_only)
{
    unsigned v;
    cr_assert_eq(ipd_http_parse_limit(S("1"), &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(ipd_http_parse_limit(S("1000"), &v), 0);
    cr_assert_eq(v, 1000);
    cr_assert_eq(ipd_http_parse_limit(S("0"), &v), -1);
    cr_assert_eq(ipd_http_parse_limit(S("1001"), &v), -1);
    cr_assert_eq(ipd_http_parse_limit(S("-5"), &v), -1);
    cr_assert_eq(ipd_http_parse_limit(S("10x"), &v), -1);
    cr_assert_eq(ipd_http_parse_limit(S(""), &v), -1);
    cr_assert_eq(ipd_http_parse_limit(S("99999999999"), &v), -1);
}

Test(worker_http, failed_query_defaults_and_names_the_parameter)
{
    ipd_http_failed_query_t q;
    char msg[128];
    cr_assert_eq(ipd_http_parse_failed_query(NULL, 0, &q, msg, sizeof(msg)), 0);
    cr_assert_eq(q.limit, 50);
    cr_assert_eq(ipd_http_parse_failed_query(S("limit=7"), &q, msg, sizeof(msg)), 0);
    cr_assert_eq(q.limit, 7);
    cr_assert_eq(ipd_http_parse_failed_query(S("limit=abc"), &q, msg, sizeof(msg)), -1);
    cr_assert(strstr(msg, "limit") == msg, "%s", msg);
    cr_assert_eq(ipd_http_parse_failed_query(S("limit=1&limit=2"), &q, msg, sizeof(msg)), -1);
    cr_assert_eq(ipd_http_parse_failed_query(S("lim=2"), &q, msg, sizeof(msg)), -1);
    cr_assert(strstr(msg, "lim: unknown parameter") == msg, "%s", msg);
}

Test(worker_http, jobs_query_parses_filters)
{
    ipd_http_jobs_query_t q;
    char msg[160];
    cr_assert_eq(ipd_http_parse_jobs_query(S("state=pending,failed&state=pulling&image=docker.io%2Flib%2Fnginx%3A1"
                                             "&node=node-a&limit=5"),
                                           &q, msg, sizeof(msg)),
                 0, "%s", msg);
    cr_assert_eq(q.states, (1u << 0) | (1u << 1) | (1u << 3));
    cr_assert_str_eq(q.image, "docker.io/lib/nginx:1");
    cr_assert_str_eq(q.node, "node-a");
    cr_assert_eq(q.limit, 5);
    cr_assert_eq(ipd_http_parse_jobs_query(NULL, 0, &q, msg, sizeof(msg)), 0);
    cr_assert_eq(q.limit, 100);
    cr_assert_eq(q.states, 0);
}

Test(worker_http, jobs_query_rejects_bad_values_naming_them)
{
    ipd_http_jobs_query_t q;
    char msg[160];
    cr_assert_eq(ipd_http_parse_jobs_query(S("state=running"), &q, msg, sizeof(msg)), -1);
    cr_assert(strncmp(msg, "state:", 6) == 0, "%s", msg);
    cr_assert_eq(ipd_http_parse_jobs_query(S("image="), &q, msg, sizeof(msg)), -1);
    cr_assert(strncmp(msg, "image:", 6) == 0, "%s", msg);
    cr_assert_eq(ipd_http_parse_jobs_query(S("node=a&node=b"), &q, msg, sizeof(msg)), -1);
    cr_assert(strncmp(msg, "node:", 5) == 0, "%s", msg);
    cr_assert_eq(ipd_http_parse_jobs_query(S("limit=0"), &q, msg, sizeof(msg)), -1);
    cr_assert(strncmp(msg, "limit:", 6) == 0, "%s", msg);
    cr_assert_eq(ipd_http_parse_jobs_query(S("sort=asc"), &q, msg, sizeof(msg)), -1);
    cr_assert(strncmp(msg, "sort:", 5) == 0, "%s", msg);
}

Test(worker_http, jobs_query_parses_causes_and_rejects_bad_ones)
{
    ipd_http_jobs_query_t q;
    char msg[256];
    cr_assert_eq(ipd_http_parse_jobs_query(S("cause=auth,not_found&cause=rate_limited"), &q, msg, sizeof(msg)), 0, "%s",
                 msg);
    cr_assert_eq(q.causes, (1u << IPD_CAUSE_AUTH) | (1u << IPD_CAUSE_NOT_FOUND) | (1u << IPD_CAUSE_RATE_LIMITED));
    cr_assert_eq(ipd_http_parse_jobs_query(S("cause=unknown%2Cnode_unavailable"), &q, msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(q.causes, (1u << IPD_CAUSE_UNKNOWN) | (1u << IPD_CAUSE_NODE_UNAVAILABLE));
    static const char *const bad[] = {"cause=",      "cause=Auth",     "cause=null",
                                      "cause=auth,", "cause=bad_luck", "cause=%zz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(ipd_http_parse_jobs_query(bad[i], strlen(bad[i]), &q, msg, sizeof(msg)), -1, "%s", bad[i]);
        cr_assert(strncmp(msg, "cause:", 6) == 0, "%s: %s", bad[i], msg);
    }
}

Test(worker_http, cursor_round_trips)
{
    ipd_http_cursor_t c = {.epoch = 0x0123456789abcdefULL, .created_at = 1700000000123LL}, d;
    char tok[IPD_HTTP_CURSOR_MAX + 1];
    strcpy(c.id, "pj-7f3a9c2e");
    int n = ipd_http_cursor_encode(&c, tok, sizeof(tok));
    cr_assert_gt(n, 0);
    cr_assert_eq(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), (size_t)n);
    cr_assert_eq(ipd_http_cursor_decode(tok, (size_t)n, c.epoch, &d), 0);
    cr_assert_eq(d.epoch, c.epoch);
    cr_assert_eq(d.created_at, c.created_at);
    cr_assert_str_eq(d.id, c.id);
}

Test(worker_http, cursor_with_colon_in_id_and_negative_time_round_trips)
{
    ipd_http_cursor_t c = {.epoch = 7, .created_at = -5}, d;
    char tok[IPD_HTTP_CURSOR_MAX + 1];
    strcpy(c.id, "a:b:c");
    int n = ipd_http_cursor_encode(&c, tok, sizeof(tok));
    cr_assert_eq(ipd_http_cursor_decode(tok, (size_t)n, 7, &d), 0);
    cr_assert_str_eq(d.id, "a:b:c");
    cr_assert_eq(d.created_at, -5);
}

Test(worker_http, cursor_detects_tampering_and_other_epochs)
{
    ipd_http_cursor_t c = {.epoch = 42, .created_at = 1000}, d;
    char tok[IPD_HTTP_CURSOR_MAX + 1];
    strcpy(c.id, "pj-00000001");
    int n = ipd_http_cursor_encode(&c, tok, sizeof(tok));
    cr_assert_eq(ipd_http_cursor_decode(tok, (size_t)n, 43, &d), -2);
    for (int i = 0; i < n; i++) {
        char bad[IPD_HTTP_CURSOR_MAX + 1];
        memcpy(bad, tok, (size_t)n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        cr_assert_eq(ipd_http_cursor_decode(bad, (size_t)n, 42, &d), -1, "flipped byte %d accepted", i);
    }
    cr_assert_eq(ipd_http_cursor_decode(tok, (size_t)n - 1, 42, &d), -1);
    cr_assert_eq(ipd_http_cursor_decode(S("!!!!"), 42, &d), -1);
    cr_assert_eq(ipd_http_cursor_decode(S(""), 42, &d), -1);
    cr_assert_eq(ipd_http_cursor_decode(S("MTo0MjoxOmE6Yg"), 42, &d), -1);
}

Test(worker_http, cursor_issued_before_the_move_to_proto_still_decodes)
{
    /* Made by the code as it was in worker/ (its own base64url and the table's hash): a
     * client holding this token across an upgrade keeps its place in the listing. */
    const char tok[] = "MTowMTIzNDU2Nzg5YWJjZGVmOjE3NjQ3MDAwMDAxMjM6am9iLTdmM2E6eDo3YzI0ZGNlNTI5YmFmMDBm";
    ipd_http_cursor_t c = {.epoch = 0x0123456789abcdefULL, .created_at = 1764700000123LL}, d;
    char again[IPD_HTTP_CURSOR_MAX + 1];
    strcpy(c.id, "job-7f3a:x");
    cr_assert_eq(ipd_http_cursor_decode(S(tok), c.epoch, &d), 0);
    cr_assert_eq(d.created_at, c.created_at);
    cr_assert_str_eq(d.id, c.id);
    cr_assert_eq(ipd_http_cursor_encode(&c, again, sizeof(again)), (int)sizeof(tok) - 1);
    cr_assert_str_eq(again, tok);
}

Test(base64url, encodes_without_padding_and_decodes_back)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"};
    static const char *text[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "__79"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char enc[16], dec[16];
        size_t n = strlen(plain[i]);
        cr_assert_eq(ipd_base64url_encode(plain[i], n, enc, sizeof(enc)), (int)strlen(text[i]));
        cr_assert_str_eq(enc, text[i]);
        cr_assert_eq(ipd_base64url_decode(enc, strlen(enc), dec, sizeof(dec)), (int)n);
        cr_assert_eq(memcmp(dec, plain[i], n), 0);
    }
}

Test(base64url, refuses_what_no_encoder_makes_and_what_does_not_fit)
{
    char out[8];
    cr_assert_eq(ipd_base64url_decode(S("Zg=="), out, sizeof(out)), -1, "padding");
    cr_assert_eq(ipd_base64url_decode(S("Zm9v+"), out, sizeof(out)), -1, "standard alphabet");
    cr_assert_eq(ipd_base64url_decode(S("Zm9vY"), out, sizeof(out)), -1, "a dangling character");
    cr_assert_eq(ipd_base64url_decode(S("Zh"), out, sizeof(out)), -1, "non-zero trailing bits");
    cr_assert_eq(ipd_base64url_decode(S("Zm9vYmFy"), out, 5), -1, "six bytes into five");
    cr_assert_eq(ipd_base64url_decode(S("Zm9vYmFy"), out, 6), 6);
    cr_assert_eq(ipd_base64url_encode("foo", 3, out, 4), -1, "no room for the NUL");
    cr_assert_eq(ipd_base64url_encode("foo", 3, out, 5), 4);
}

Test(worker_http, cursor_order_is_created_then_id)
{
    cr_assert_lt(ipd_http_cursor_cmp(1, "b", 2, "a"), 0);
    cr_assert_lt(ipd_http_cursor_cmp(2, "a", 2, "b"), 0);
    cr_assert_eq(ipd_http_cursor_cmp(2, "a", 2, "a"), 0);
    cr_assert_gt(ipd_http_cursor_cmp(3, "a", 2, "z"), 0);
}

Test(worker_http, etag_matching_follows_weak_comparison)
{
    char tag[IPD_HTTP_ETAG_SIZE];
    int n = ipd_http_etag_format(0xabcULL, 17, tag);
    cr_assert_str_eq(tag, "\"0000000000000abc-17\"");
    cr_assert(ipd_http_etag_match(tag, (size_t)n, tag, (size_t)n));
    cr_assert(ipd_http_etag_match(S("W/\"0000000000000abc-17\""), tag, (size_t)n));
    cr_assert(ipd_http_etag_match(S("\"x\", W/\"y\" , \"0000000000000abc-17\""), tag, (size_t)n));
    cr_assert(ipd_http_etag_match(S("*"), tag, (size_t)n));
    cr_assert_not(ipd_http_etag_match(S("\"0000000000000abc-16\""), tag, (size_t)n));
    cr_assert_not(ipd_http_etag_match(S("0000000000000abc-17"), tag, (size_t)n));
    cr_assert_not(ipd_http_etag_match(S("\"0000000000000abc-17"), tag, (size_t)n));
    cr_assert_not(ipd_http_etag_match(S(""), tag, (size_t)n));
    cr_assert(ipd_http_etag_match(S("\"a\""), S("W/\"a\"")));
}

Test(worker_http, gzip_negotiation_honours_q_values)
{
    cr_assert(ipd_http_accepts_gzip(S("gzip")));
    cr_assert(ipd_http_accepts_gzip(S("deflate, gzip;q=0.5")));
    cr_assert(ipd_http_accepts_gzip(S("br, *")));
    cr_assert(ipd_http_accepts_gzip(S("X-GZIP")));
    cr_assert_not(ipd_http_accepts_gzip(S("gzip;q=0")));
    cr_assert_not(ipd_http_accepts_gzip(S("gzip;q=0.000, *")));
    cr_assert_not(ipd_http_accepts_gzip(S("identity")));
    cr_assert_not(ipd_http_accepts_gzip(S("")));
}

Test(worker_http, msgpack_negotiation_prefers_json_on_ties)
{
    cr_assert(ipd_http_wants_msgpack(S("application/msgpack")));
    cr_assert(ipd_http_wants_msgpack(S("application/x-msgpack, application/json;q=0.5")));
    cr_assert_not(ipd_http_wants_msgpack(S("application/json, application/msgpack")));
    cr_assert_not(ipd_http_wants_msgpack(S("*/*")));
    cr_assert_not(ipd_http_wants_msgpack(S("application/msgpack;q=0")));
    cr_assert_not(ipd_http_wants_msgpack(S("")));
}

Test(worker_http, json_content_type_allows_only_utf8_charset)
{
    cr_assert(ipd_http_is_json_type(S("application/json")));
    cr_assert(ipd_http_is_json_type(S("Application/JSON; charset=UTF-8")));
    cr_assert(ipd_http_is_json_type(S("application/json;charset=\"utf-8\"")));
    cr_assert_not(ipd_http_is_json_type(S("application/json; charset=latin1")));
    cr_assert_not(ipd_http_is_json_type(S("application/json; boundary=x")));
    cr_assert_not(ipd_http_is_json_type(S("application/jsonp")));
    cr_assert_not(ipd_http_is_json_type(S("text/plain")));
    cr_assert_not(ipd_http_is_json_type(S("")));
}

Test(worker_http, error_body_is_the_api_shape)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_http_error_body(&b, ipd_http_error_code(400), "limit: \"x\" is bad"), 0);
    cr_assert_str_eq(b.data, "{\"error\":{\"code\":\"invalid_argument\",\"message\":\"limit: \\\"x\\\" is bad\"}}");
    ipd_buf_dispose(&b);
    cr_assert_str_eq(ipd_http_error_code(404), "not_found");
    cr_assert_str_eq(ipd_http_error_code(405), "method_not_allowed");
    cr_assert_str_eq(ipd_http_error_code(409), "conflict");
    cr_assert_str_eq(ipd_http_error_code(413), "payload_too_large");
    cr_assert_str_eq(ipd_http_error_code(415), "unsupported_media_type");
    cr_assert_str_eq(ipd_http_error_code(429), "too_many_requests");
    cr_assert_str_eq(ipd_http_error_code(503), "unavailable");
}

Test(worker_http, one_status_table_gives_reasons_codes_and_metric_kinds)
{
    cr_expect_str_eq(ipd_http_reason(404), "Not Found");
    cr_expect_str_eq(ipd_http_reason(431), "Request Header Fields Too Large");
    cr_expect_str_eq(ipd_http_reason(418), "Error");
    cr_expect_str_eq(ipd_http_reason(502), "Internal Server Error");
    cr_expect_str_eq(ipd_http_error_code(200), "invalid_argument");
    cr_expect_str_eq(ipd_http_error_code(502), "internal");
    /* The metrics' status kinds, in the order the stats segment's route counters use. */
    static const int counted[] = {200, 202, 304, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503};
    size_t n = sizeof(counted) / sizeof(counted[0]);
    cr_assert_eq(ipd_http_status_kinds(), n + 1);
    for (size_t k = 0; k < n; k++) {
        cr_expect_eq(ipd_http_status_kind(counted[k]), k, "status %d", counted[k]);
        cr_expect_eq(ipd_http_status_kind_code(k), counted[k]);
    }
    cr_expect_eq(ipd_http_status_kind(421), n, "an uncounted status is \"other\"");
    cr_expect_eq(ipd_http_status_kind_code(n), 0);
}
