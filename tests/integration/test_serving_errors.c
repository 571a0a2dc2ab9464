/*
 * Serving, part 2: bad input of every kind, the per-connection request cap, authentication on a
 * non-loopback listener, readiness before the first list, and /metrics checked by promtool.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "3", "--pull-ms", "150", NULL};

static h_world_t w;

/* Runs after every test, also after a failed assertion: nothing outlives the test. */
static void teardown(void)
{
    h_world_teardown(&w);
}

/*
 * Sends a request and checks the JSON error: `status`, the error code, and that the message
 * starts with `prefix` (when not NULL). Returns nothing; `allow` (may be NULL) is the expected
 * Allow header.
 */
static void expect_error(long version, const char *method, const char *path, const char *body,
                         const char *const *headers, long status, const char *code, const char *prefix,
                         const char *allow)
{
    h_req_t rq = {.method = method, .path = path, .body = body, .headers = headers, .http_version = version};
    h_resp_t r;
    cr_assert_eq(h_request(w.port, &rq, &r, NULL), 0, "%s %s: transport failure", method, path);
    char what[300], v[256];
    snprintf(what, sizeof(what), "%s %s (HTTP version %ld)", method, path, version);
    h_expect_error_body(&r, status, code, prefix, what);
    if (allow != NULL) {
        cr_assert(h_resp_header(&r, "allow", v, sizeof(v)), "%s %s: no Allow header", method, path);
        cr_assert_str_eq(v, allow);
    }
    h_resp_free(&r);
}

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

Test(serving, bad_input_gets_the_right_status_and_a_json_error, .fini = teardown)
{
    h_world_sim(&w, "bad", sim_args);
    h_world_daemon(&w, "max_request_body 4k\n", NULL, 1);
    const long versions[] = {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE};
    for (size_t k = 0; k < 2; k++) {
        long v = versions[k];
        /* 405 with Allow. */
        expect_error(v, "PUT", "/api/v1/images/pull-active", NULL, NULL, 405, "method_not_allowed", NULL, "GET, HEAD");
        expect_error(v, "POST", "/api/v1/images/pull-failed", "{}", json_ct, 405, "method_not_allowed", NULL,
                     "GET, HEAD");
        expect_error(v, "GET", "/api/v1/images/pull", NULL, NULL, 405, "method_not_allowed", NULL, "POST");
        expect_error(v, "POST", "/api/v1/images/pull-jobs/pj-00000001", "{}", json_ct, 405, "method_not_allowed", NULL,
                     "GET, HEAD, DELETE");
        expect_error(v, "DELETE", "/healthz", NULL, NULL, 405, "method_not_allowed", NULL, "GET, HEAD");
        /* Unknown paths. */
        expect_error(v, "GET", "/api/v1/images/nope", NULL, NULL, 404, "not_found", NULL, NULL);
        expect_error(v, "GET", "/api/v2/images/pull-active", NULL, NULL, 404, "not_found", NULL, NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs/pj-1/tasks", NULL, NULL, 404, "not_found", NULL, NULL);
        /* Query parameters: the message names the parameter. */
        static const char *const bad_limits[] = {
            "limit=0", "limit=1001", "limit=abc", "limit=", "limit=5&limit=6", "limit=-1", "limit=1e2"};
        for (size_t i = 0; i < sizeof(bad_limits) / sizeof(bad_limits[0]); i++) {
            char path[128];
            snprintf(path, sizeof(path), "/api/v1/images/pull-failed?%s", bad_limits[i]);
            expect_error(v, "GET", path, NULL, NULL, 400, "invalid_argument", "limit", NULL);
            snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?%s", bad_limits[i]);
            expect_error(v, "GET", path, NULL, NULL, 400, "invalid_argument", "limit", NULL);
        }
        expect_error(v, "GET", "/api/v1/images/pull-jobs?state=running", NULL, NULL, 400, "invalid_argument", "state",
                     NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs?state=", NULL, NULL, 400, "invalid_argument", "state", NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs?image=", NULL, NULL, 400, "invalid_argument", "image", NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs?node=a&node=b", NULL, NULL, 400, "invalid_argument", "node",
                     NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs?continue=bm90LWEtdG9rZW4", NULL, NULL, 400, "invalid_argument",
                     "continue", NULL);
        expect_error(v, "GET", "/api/v1/images/pull-jobs?colour=red", NULL, NULL, 400, "invalid_argument", "colour",
                     NULL);
        expect_error(v, "GET", "/api/v1/images/pull-active?limit=5", NULL, NULL, 400, "invalid_argument", "limit",
                     NULL);
        /* Bodies. */
        char big[4096 + 64];
        memset(big, ' ', sizeof(big) - 1);
        big[0] = '{';
        big[sizeof(big) - 2] = '}';
        big[sizeof(big) - 1] = '\0';
        expect_error(v, "POST", "/api/v1/images/pull", big, json_ct, 413, "payload_too_large", NULL, NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\": \"nginx\", \"nodes\": [\"node-1\"", json_ct, 400,
                     "invalid_argument", "malformed JSON at byte ", NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"nginx:1\",\"nodes\":[\"node-1\"],\"colour\":1}",
                     json_ct, 400, "invalid_argument", "unknown field \"colour\"", NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"Bad Image!\",\"nodes\":[\"node-1\"]}", json_ct,
                     400, "invalid_argument", NULL, NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"nginx:1\",\"nodes\":[\"node-9\"]}", json_ct, 400,
                     "invalid_argument", NULL, NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"nginx:1\",\"node_selector\":{\"pool\":\"gpu\"}}",
                     json_ct, 400, "invalid_argument", NULL, NULL);
        static const char *const text_ct[] = {"Content-Type: text/plain", NULL};
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"nginx:1\",\"nodes\":[\"node-1\"]}", text_ct, 415,
                     "unsupported_media_type", NULL, NULL);
        expect_error(v, "POST", "/api/v1/images/pull", "{\"image\":\"nginx:1\",\"nodes\":[\"node-1\"]}", NULL, 415,
                     "unsupported_media_type", NULL, NULL);
    }
    /* A byte offset that is right: the syntax error is at byte 17. */
    h_req_t rq = {
        .method = "POST", .path = "/api/v1/images/pull", .body = "{\"image\": \"a:1\" x}", .headers = json_ct};
    h_resp_t r;
    cr_assert_eq(h_request(w.port, &rq, &r, NULL), 0);
    cr_assert_not_null(strstr(r.body, "malformed JSON at byte 16") ? r.body : strstr(r.body, "at byte 17"), "%s",
                       r.body);
    h_resp_free(&r);
    /* A body far over the limit is refused by the HTTP layer itself, still with a JSON error over HTTP/1.1. */
    size_t hugelen = 64 * 1024;
    char *huge = malloc(hugelen + 1);
    memset(huge, 'x', hugelen);
    huge[hugelen] = '\0';
    expect_error(CURL_HTTP_VERSION_1_1, "POST", "/api/v1/images/pull", huge, json_ct, 413, "payload_too_large", NULL,
                 NULL);
    free(huge);
    /* The daemon survived all of it and still serves. */
    expect_error(CURL_HTTP_VERSION_1_1, "GET", "/nope", NULL, NULL, 404, "not_found", NULL, NULL);
    cr_assert(!h_log_contains(&w.daemon, "killed by signal"), "a worker crashed");
    h_world_stop_clean(&w);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle))
        n++;
    return n;
}

Test(serving, request_rate_cap_answers_429_then_closes_the_connection, .fini = teardown)
{
    h_world_sim(&w, "rate", sim_args);
    h_world_daemon(&w, "request_rate_per_conn 5\n", NULL, 1);
    /* HTTP/1.1: ten pipelined requests on one connection; the burst is 5. */
    int fd = h_dial(w.port);
    char reqs[1024] = "";
    for (int i = 0; i < 10; i++)
        strcat(reqs, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    cr_assert_eq(write(fd, reqs, strlen(reqs)), (ssize_t)strlen(reqs));
    int eof;
    char *out = h_read_all(fd, 5000, &eof);
    close(fd);
    cr_assert(eof, "the connection was not closed after the 429");
    cr_assert_eq(count(out, "HTTP/1.1 200"), 5, "%s", out);
    cr_assert_eq(count(out, "HTTP/1.1 429"), 1, "%s", out);
    cr_assert_not_null(strstr(out, "\"code\":\"too_many_requests\""));
    cr_assert(strcasestr(out, "connection: close") != NULL, "no Connection: close on the 429");
    free(out);

    /* A new connection has its own bucket. */
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, NULL);

    /* HTTP/2: one connection, sequential streams; some are refused and the connection ends. */
    char cmd[256], text[8192];
    snprintf(cmd, sizeof(cmd), "h2load -n 40 -c 1 -m 1 http://127.0.0.1:%d/healthz 2>&1", w.port);
    h_sh(cmd, text, sizeof(text));
    unsigned long c2 = 0, c4 = 0;
    const char *sc = strstr(text, "status codes:");
    cr_assert_not_null(sc, "h2load: %s", text);
    cr_assert_eq(sscanf(sc, "status codes: %lu 2xx, %*u 3xx, %lu 4xx", &c2, &c4), 2, "%s", sc);
    cr_assert_eq(c2, 5, "h2load got %lu 2xx: %s", c2, text);
    cr_assert_geq(c4, 1, "h2load got no 429: %s", text);
    /* The connection ended: h2load could not send most of its 40 requests on it. */
    unsigned long started = 0;
    const char *rs = strstr(text, "requests:");
    cr_assert(rs != NULL && sscanf(rs, "requests: %*u total, %lu started", &started) == 1, "%s", text);
    cr_assert_lt(started, 20, "the rate-limited HTTP/2 connection stayed open: %s", text);

    json_t *stats = h_http_json(w.port, "GET", "/api/v1/stats", NULL, NULL);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(stats, "http"), "rate_limited")),
                 (json_int_t)(1 + c4));
    json_decref(stats);
    h_world_stop_clean(&w);
}

/*
 * A request refused before its body was read (413 on the headers alone) is answered and the
 * connection then ends with a FIN, not a reset: the rest of the body the client keeps sending is
 * read and discarded. Without this the reset can destroy the answer before the client reads it.
 */
Test(serving, a_refused_body_is_drained_and_a_silent_client_dropped, .fini = teardown)
{
    h_world_sim(&w, "linger", sim_args);
    h_world_daemon(&w, "max_request_body 4k\nlinger_timeout 5s\nhttp_idle_timeout 1s\n", NULL, 1);
    int fd = h_dial(w.port);
    const char *head = "POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1048576\r\n\r\n";
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    char chunk[16384];
    memset(chunk, ' ', sizeof(chunk));
    cr_assert_eq(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
    /* The daemon has answered and closed its side by now; the client is still sending. */
    usleep(300 * 1000);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL), (ssize_t)sizeof(chunk),
                     "the connection was reset while the client was still sending");
    int eof;
    char *out = h_read_all(fd, 5000, &eof);
    close(fd);
    cr_assert(eof, "the connection did not end with a FIN after the 413 (reset or timeout): %s", out);
    cr_assert_not_null(strstr(out, "HTTP/1.1 413"), "%s", out);
    cr_assert_not_null(strstr(out, "\"code\":\"payload_too_large\""), "%s", out);
    free(out);
    /* http_idle_timeout: a request that never completes is dropped after about 1 s, not h2o's 10 s. */
    fd = h_dial(w.port);
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    cr_assert_eq(write(fd, partial, strlen(partial)), (ssize_t)strlen(partial));
    uint64_t t0 = h_now_ms();
    out = h_read_all(fd, 8000, &eof);
    uint64_t waited = h_now_ms() - t0;
    close(fd);
    free(out);
    cr_assert(eof && waited >= 900 && waited < 4000, "an incomplete request was closed after %llu ms (eof %d)",
              (unsigned long long)waited, eof);
    /* The daemon still serves. */
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, NULL);
    h_world_stop_clean(&w);
}

Test(serving, tokens_guard_a_non_loopback_listener, .fini = teardown)
{
    h_world_sim(&w, "auth", sim_args);
    char tokens[256], extra[512];
    snprintf(tokens, sizeof(tokens), "%s/tokens", w.dir);
    h_write_file(tokens, "# test tokens\nreader-token-0123456789 read\nadmin-token-0123456789+/= admin  # ops\n");
    int port = h_free_port();
    snprintf(extra, sizeof(extra), "tokens_file %s\nlisten 0.0.0.0:%d\n", tokens, port);
    h_world_daemon(&w, extra, NULL, 1); /* /readyz needs no token, through 127.0.0.1 */
    cr_assert_eq(w.port, port);

    const char *const none[] = {NULL};
    const char *const bad[] = {"Authorization: Bearer not-a-known-token-000", NULL};
    const char *const reader[] = {"Authorization: Bearer reader-token-0123456789", NULL};
    const char *const admin[] = {"Authorization: Bearer admin-token-0123456789+/=", NULL};
    const char *const reader_post[] = {"Authorization: Bearer reader-token-0123456789",
                                       "Content-Type: application/json", NULL};
    const char *const admin_post[] = {
        "Authorization: Bearer admin-token-0123456789+/=", "Content-Type: application/json", NULL};
    const char *body = "{\"image\":\"docker.io/library/busybox:1\",\"nodes\":[\"node-1\"]}";
    const long versions[] = {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE};
    for (size_t k = 0; k < 2; k++) {
        long v = versions[k];
        h_resp_t r;
        char hv[256];
        h_req_t rq = {.path = "/api/v1/images/pull-active", .headers = none, .http_version = v};
        cr_assert_eq(h_request(w.port, &rq, &r, NULL), 0);
        cr_assert_eq(r.status, 401, "no token: %ld", r.status);
        cr_assert(h_resp_header(&r, "www-authenticate", hv, sizeof(hv)));
        cr_assert_str_eq(hv, "Bearer realm=\"imgpulld\"");
        h_resp_free(&r);
        rq.headers = bad;
        cr_assert_eq(h_request(w.port, &rq, &r, NULL), 0);
        cr_assert_eq(r.status, 401);
        cr_assert(h_resp_header(&r, "www-authenticate", hv, sizeof(hv)) && strstr(hv, "invalid_token") != NULL, "%s",
                  hv);
        cr_assert_not_null(strstr(r.body, "\"unauthenticated\""));
        h_resp_free(&r);
        expect_error(v, "GET", "/metrics", NULL, NULL, 401, "unauthenticated", NULL, NULL);
        expect_error(v, "GET", "/api/v1/stats", NULL, NULL, 401, "unauthenticated", NULL, NULL);
        expect_error(v, "DELETE", "/api/v1/images/pull-jobs/pj-00000001", NULL, NULL, 401, "unauthenticated", NULL,
                     NULL);

        /* What the read token may read, and what needs no token. */
        const struct {
            const char *path;
            const char *const *headers;
            const char *who;
        } allowed[] = {
            {"/api/v1/images/pull-active", reader, "read token"},
            {"/api/v1/images/pull-failed", reader, "read token"},
            {"/api/v1/images/pull-jobs", reader, "read token"},
            {"/api/v1/stats", reader, "read token"},
            {"/metrics", reader, "read token"},
            {"/healthz", none, "no token"},
            {"/readyz", none, "no token"},
            {"/", none, "no token"},
        };
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
            rq.path = allowed[i].path;
            rq.headers = allowed[i].headers;
            cr_assert_eq(h_request(w.port, &rq, &r, NULL), 0);
            cr_assert_eq(r.status, 200, "%s on %s: %ld", allowed[i].who, allowed[i].path, r.status);
            h_resp_free(&r);
        }
        expect_error(v, "POST", "/api/v1/images/pull", body, reader_post, 403, "permission_denied", NULL, NULL);
        expect_error(v, "DELETE", "/api/v1/images/pull-jobs/pj-00000001", NULL, reader, 403, "permission_denied", NULL,
                     NULL);
        expect_error(v, "DELETE", "/api/v1/images/pull-jobs/pj-00000001", NULL, admin, 404, "not_found", NULL, NULL);
        h_req_t post = {
            .method = "POST", .path = "/api/v1/images/pull", .body = body, .headers = admin_post, .http_version = v};
        cr_assert_eq(h_request(w.port, &post, &r, NULL), 0);
        cr_assert_eq(r.status, 202, "admin POST: %ld %s", r.status, r.body);
        h_resp_free(&r);
    }
    h_world_stop_clean(&w);
}

Test(serving, readyz_is_503_until_the_first_list_completes, .fini = teardown)
{
    h_world_sim(&w, "ready", sim_args);
    /* Every list request fails until the injection is cleared. */
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", "/_sim/inject",
                        "{\"count\":100000,\"code\":500,\"path\":\"limit=\",\"method\":\"GET\"}", NULL, &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    h_world_daemon(&w, "watch_backoff_initial 100ms\nwatch_backoff_max 300ms\n", NULL, 0);
    uint64_t until = h_now_ms() + 1500;
    int answered = 0;
    while (h_now_ms() < until) {
        if (h_http(w.port, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status != 0) {
            answered++;
            cr_assert_eq(r.status, 503, "/readyz %ld before any list completed: %s", r.status, r.body);
            cr_assert_not_null(strstr(r.body, "\"unavailable\""), "%s", r.body);
            cr_assert_not_null(strstr(r.body, "listed"), "the reason is not given: %s", r.body);
            /* healthz answers all along */
            h_resp_t hz;
            cr_assert_eq(h_http(w.port, "GET", "/healthz", NULL, NULL, &hz), 0);
            cr_assert_eq(hz.status, 200);
            h_resp_free(&hz);
        }
        h_resp_free(&r);
        usleep(100000);
    }
    cr_assert_gt(answered, 3, "the workers did not answer while the list failed");
    cr_assert(h_log_contains(&w.daemon, "HTTP 500"), "the injected failures were not seen");
    cr_assert_eq(h_http(w.sim.port, "DELETE", "/_sim/inject", NULL, NULL, &r), 0);
    h_resp_free(&r);
    h_wait_ready(&w.daemon, w.port, 10000);
    h_world_stop_clean(&w);
}

Test(serving, metrics_pass_promtool_check, .fini = teardown)
{
    cr_assert_eq(access("/usr/bin/promtool", X_OK), 0,
                 "promtool is missing: install the Debian package prometheus (scripts/install-deps.sh --test)");
    h_world_sim(&w, "prom", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    /* Some traffic of every kind first, so that every series has values. */
    h_resp_t r;
    const char *const json_hdr[] = {"Content-Type: application/json", NULL};
    h_http(w.port, "POST", "/api/v1/images/pull", "{\"image\":\"docker.io/library/x:1\",\"all_nodes\":true}", json_hdr,
           &r);
    cr_assert_eq(r.status, 202);
    h_resp_free(&r);
    h_http(w.port, "GET", "/nope", NULL, NULL, &r);
    h_resp_free(&r);
    h_http(w.port, "GET", "/api/v1/images/pull-failed?limit=0", NULL, NULL, &r);
    h_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        h_http(w.port, "GET", "/metrics", NULL, NULL, &r);
        cr_assert_eq(r.status, 200);
        char path[256], cmd[512], out[8192];
        snprintf(path, sizeof(path), "%s/metrics.txt", w.dir);
        h_write_file(path, r.body);
        h_resp_free(&r);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
        int st = h_sh(cmd, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool check metrics failed:\n%s", out);
    }
    /*
     * Every metric has HELP and TYPE, and the master's figures are there. /readyz may have been
     * answered before the second worker claimed its stats block: wait for both.
     */
    uint64_t deadline = h_now_ms() + 10000;
    for (;;) {
        h_http(w.port, "GET", "/metrics", NULL, NULL, &r);
        if (strstr(r.body, "\nimgpulld_workers 2\n") != NULL || h_now_ms() > deadline)
            break;
        h_resp_free(&r);
        usleep(50 * 1000);
    }
    cr_assert_not_null(strstr(r.body, "\nimgpulld_workers 2\n"), "%s", r.body);
    cr_assert_eq(count(r.body, "# HELP "), count(r.body, "# TYPE "));
    cr_assert_not_null(strstr(r.body, "\nimgpulld_master_ready 1\n"), "%s", r.body);
    /* By route and status, summed over both workers whichever answered each request. */
    static const char *const routes[] = {"imgpulld_http_route_requests_total{route=\"pull\",code=\"202\"} 1\n",
                                         "imgpulld_http_route_requests_total{route=\"other\",code=\"404\"} 1\n",
                                         "imgpulld_http_route_requests_total{route=\"pull-failed\",code=\"400\"} 1\n"};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        cr_assert_not_null(strstr(r.body, routes[i]), "no %s in:\n%s", routes[i], r.body);
    h_resp_free(&r);
    h_world_stop_clean(&w);
}
