/*
 * Serving, part 1: every REST endpoint over HTTP/1.1, cleartext HTTP/2 (prior knowledge and
 * Upgrade: h2c) and HTTP/2 over TLS with ALPN; ETag/304, gzip and msgpack negotiation.
 * The real daemon (two workers) runs against the Kubernetes simulator.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "3", "--pull-ms", "150", "--fail-pattern", "^registry\\.invalid/",
                                       NULL};

typedef struct proto {
    const char *name;
    long curl_version; /* asked of libcurl */
    long expect;       /* negotiated version expected for requests without a body */
    const char *ca;    /* TLS when set */
} proto_t;

static h_world_t w;

/* Runs after every test, also after a failed assertion: nothing outlives the test. */
static void teardown(void)
{
    h_world_teardown(&w);
}

/* One request; asserts the transport worked and, for bodiless requests, the negotiated version. */
static void req(const proto_t *p, const char *method, const char *path, const char *body, const char *const *headers,
                h_resp_t *out)
{
    static const char *const json_type[] = {"Content-Type: application/json", NULL};
    h_req_t rq = {.method = method,
                  .path = path,
                  .body = body,
                  .headers = headers,
                  .http_version = p->curl_version,
                  .ca_file = p->ca};
    if (body != NULL && headers == NULL)
        rq.headers = json_type;
    long version = 0;
    cr_assert_eq(h_request(w.port, &rq, out, &version), 0, "%s %s over %s: transport failure", method, path, p->name);
    if (body == NULL)
        cr_assert_eq(version, p->expect, "%s %s over %s: HTTP version %ld, expected %ld", method, path, p->name,
                     version, p->expect);
}

static json_t *req_json(const proto_t *p, const char *method, const char *path, const char *body, long expect_status)
{
    h_resp_t r;
    req(p, method, path, body, NULL, &r);
    cr_assert_eq(r.status, expect_status, "%s %s over %s: status %ld, expected %ld: %s", method, path, p->name,
                 r.status, expect_status, r.body ? r.body : "");
    char ctype[128];
    h_resp_header(&r, "content-type", ctype, sizeof(ctype));
    cr_assert(strncmp(ctype, "application/json", 16) == 0, "%s %s: content-type %s", method, path, ctype);
    json_error_t err;
    json_t *doc = json_loadb(r.body, r.len, 0, &err);
    cr_assert_not_null(doc, "%s %s over %s: not JSON (%s): %.200s", method, path, p->name, err.text, r.body);
    h_resp_free(&r);
    return doc;
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* POSTs one pull job and returns its id (static buffer per call site is the caller's). */
static void create(const proto_t *p, const char *body, char *id, size_t cap)
{
    json_t *doc = req_json(p, "POST", "/api/v1/images/pull", body, 202);
    json_t *job = json_array_get(json_object_get(doc, "jobs"), 0);
    cr_assert_not_null(job, "POST answered no job");
    cr_assert_str_eq(str_of(job, "state"), "pending");
    snprintf(id, cap, "%s", str_of(job, "id"));
    json_decref(doc);
    /* Read-your-writes: once answered, the job is in the table for every worker. */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    json_decref(req_json(p, "GET", path, NULL, 200));
}

static void wait_state(const proto_t *p, const char *id, const char *state)
{
    char path[128], last[32] = "";
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    uint64_t deadline = h_now_ms() + 20000;
    while (h_now_ms() < deadline) {
        json_t *job = req_json(p, "GET", path, NULL, 200);
        snprintf(last, sizeof(last), "%s", str_of(job, "state"));
        cr_assert_str_eq(str_of(job, "id"), id);
        json_decref(job);
        if (strcmp(last, state) == 0)
            return;
        usleep(100000);
    }
    h_dump_log(&w.daemon);
    cr_assert_fail("job %s over %s stayed %s, expected %s", id, p->name, last, state);
}

static int list_has(const json_t *doc, const char *id)
{
    size_t i;
    const json_t *j;
    json_array_foreach(json_object_get(doc, "jobs"), i, j)
    {
        if (strcmp(str_of(j, "id"), id) == 0)
            return 1;
    }
    return 0;
}

static void assert_list_shape(const json_t *doc, const char *what)
{
    cr_assert_eq(strlen(str_of(doc, "epoch")), 16, "%s: epoch %s", what, str_of(doc, "epoch"));
    cr_assert(json_is_integer(json_object_get(doc, "generation")), "%s: no generation", what);
    cr_assert(json_is_array(json_object_get(doc, "jobs")), "%s: no jobs array", what);
}

/* Walks pull-jobs with limit=1 and checks it yields what one big page yields, in the same order. */
static void assert_pagination(const proto_t *p)
{
    json_t *all = req_json(p, "GET", "/api/v1/images/pull-jobs?limit=1000", NULL, 200);
    cr_assert(json_is_null(json_object_get(all, "continue")), "a single page has a continue token");
    size_t total = json_array_size(json_object_get(all, "jobs")), seen = 0;
    char path[1024] = "/api/v1/images/pull-jobs?limit=1";
    for (;;) {
        json_t *page = req_json(p, "GET", path, NULL, 200);
        const json_t *jobs = json_object_get(page, "jobs");
        cr_assert_leq(json_array_size(jobs), 1);
        if (json_array_size(jobs) == 1) {
            cr_assert_lt(seen, total, "more pages than jobs");
            cr_assert_str_eq(str_of(json_array_get(jobs, 0), "id"),
                             str_of(json_array_get(json_object_get(all, "jobs"), seen), "id"), "page %zu differs",
                             seen);
            seen++;
        }
        const char *cont = json_string_value(json_object_get(page, "continue"));
        if (cont == NULL) {
            json_decref(page);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?limit=1&continue=%s", cont);
        json_decref(page);
    }
    cr_assert_eq(seen, total, "pages gave %zu jobs, one page %zu", seen, total);
    json_decref(all);
}

/* Every endpoint of the contract over protocol `p`. */
static void exercise_api(const proto_t *p, const char *tag)
{
    char body[512], ok_id[32], slow_id[32], bad_id[32], path[256], image[128];

    /* POST: a job that succeeds on two nodes. */
    snprintf(image, sizeof(image), "docker.io/library/app-%s:1", tag);
    snprintf(body, sizeof(body), "{\"image\":\"%s\",\"nodes\":[\"node-1\",\"node-2\"]}", image);
    create(p, body, ok_id, sizeof(ok_id));
    /* A job that fails (the simulator fails registry.invalid). */
    snprintf(body, sizeof(body), "{\"image\":\"registry.invalid/%s:1\",\"nodes\":[\"node-1\"],\"backoff_limit\":0}",
             tag);
    create(p, body, bad_id, sizeof(bad_id));
    /* A job whose pull takes a minute, to be cancelled. */
    snprintf(body, sizeof(body), "{\"image\":\"docker.io/library/slow-%s:1\",\"all_nodes\":true}", tag);
    create(p, body, slow_id, sizeof(slow_id));

    /* pull-active holds the slow job while it pulls, right after the 202. */
    json_t *doc = req_json(p, "GET", "/api/v1/images/pull-active", NULL, 200);
    assert_list_shape(doc, "pull-active");
    cr_assert(list_has(doc, slow_id), "pull-active lacks %s right after its 202", slow_id);
    json_decref(doc);

    wait_state(p, ok_id, "succeeded");
    wait_state(p, bad_id, "failed");

    /* DELETE: 202 with the job as the table shows it once cancelled; a second DELETE is 409, an
     * unknown id 404. */
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", slow_id);
    doc = req_json(p, "DELETE", path, NULL, 202);
    cr_assert_str_eq(str_of(doc, "id"), slow_id);
    cr_assert_str_eq(str_of(doc, "state"), "cancelled");
    json_decref(doc);
    json_decref(req_json(p, "DELETE", path, NULL, 409));
    doc = req_json(p, "DELETE", "/api/v1/images/pull-jobs/pj-00000000", NULL, 404);
    cr_assert_str_eq(str_of(json_object_get(doc, "error"), "code"), "not_found");
    json_decref(doc);

    /* GET one job; an unknown one is 404. */
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", ok_id);
    doc = req_json(p, "GET", path, NULL, 200);
    cr_assert_str_eq(str_of(doc, "image"), image);
    cr_assert_eq(json_array_size(json_object_get(doc, "tasks")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "nodes"), "succeeded")), 2);
    json_decref(doc);
    json_decref(req_json(p, "GET", "/api/v1/images/pull-jobs/pj-00000000", NULL, 404));

    /* pull-failed, newest first. */
    doc = req_json(p, "GET", "/api/v1/images/pull-failed?limit=5", NULL, 200);
    assert_list_shape(doc, "pull-failed");
    cr_assert(list_has(doc, bad_id), "pull-failed lacks %s", bad_id);
    cr_assert_str_eq(str_of(json_array_get(json_object_get(doc, "jobs"), 0), "id"), bad_id, "not newest first");
    json_decref(doc);

    /* pull-jobs with filters. */
    char enc[160];
    snprintf(enc, sizeof(enc), "docker.io%%2Flibrary%%2Fapp-%s%%3A1", tag);
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?state=succeeded&image=%s&node=node-2", enc);
    doc = req_json(p, "GET", path, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(doc, "jobs")), 1, "filtered list: %zu jobs",
                 json_array_size(json_object_get(doc, "jobs")));
    cr_assert(list_has(doc, ok_id));
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?state=succeeded&image=%s&node=node-3", enc);
    doc = req_json(p, "GET", path, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(doc, "jobs")), 0, "node-3 has no task of %s", ok_id);
    json_decref(doc);
    doc = req_json(p, "GET", "/api/v1/images/pull-jobs?state=failed,cancelled", NULL, 200);
    cr_assert(list_has(doc, bad_id) && list_has(doc, slow_id) && !list_has(doc, ok_id));
    json_decref(doc);
    assert_pagination(p);

    /* Operations endpoints. */
    doc = req_json(p, "GET", "/healthz", NULL, 200);
    cr_assert_str_eq(str_of(doc, "status"), "ok");
    json_decref(doc);
    doc = req_json(p, "GET", "/readyz", NULL, 200);
    cr_assert_str_eq(str_of(doc, "status"), "ready");
    json_decref(doc);
    doc = req_json(p, "GET", "/api/v1/stats", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(doc, "workers")), 2);
    cr_assert_geq(json_integer_value(json_object_get(json_object_get(json_object_get(doc, "table"), "jobs"), "failed")),
                  1);
    cr_assert_geq(json_integer_value(json_object_get(json_object_get(doc, "http"), "requests")), 10);
    json_decref(doc);

    h_resp_t r;
    char ctype[128];
    req(p, "GET", "/metrics", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    h_resp_header(&r, "content-type", ctype, sizeof(ctype));
    cr_assert(strncmp(ctype, "text/plain; version=0.0.4", 25) == 0, "metrics content-type %s", ctype);
    cr_assert_not_null(strstr(r.body, "imgpulld_jobs{state=\"cancelled\"} "), "%.300s", r.body);
    cr_assert_not_null(strstr(r.body, "imgpulld_http_requests_total{code=\"2xx\"} "));
    h_resp_free(&r);

    req(p, "GET", "/", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    h_resp_header(&r, "content-type", ctype, sizeof(ctype));
    cr_assert(strncmp(ctype, "text/html", 9) == 0, "dashboard content-type %s", ctype);
    cr_assert(r.body != NULL && strcasestr(r.body, "<html") != NULL, "no HTML page");
    h_resp_free(&r);

    /* The page's files: their own types, a policy without inline script, a content ETag that answers 304. */
    static const struct {
        const char *path, *type;
    } files[] = {{"/", "text/html"}, {"/ui/app.js", "text/javascript"}, {"/ui/app.css", "text/css"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char csp[512], etag[64], inm[96];
        req(p, "GET", files[i].path, NULL, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %ld", files[i].path, r.status);
        h_resp_header(&r, "content-type", ctype, sizeof(ctype));
        cr_assert(strncmp(ctype, files[i].type, strlen(files[i].type)) == 0, "%s: content-type %s", files[i].path,
                  ctype);
        cr_assert(h_resp_header(&r, "content-security-policy", csp, sizeof(csp)), "%s: no policy", files[i].path);
        cr_assert(strstr(csp, "script-src 'self'") != NULL && strstr(csp, "unsafe-inline") == NULL &&
                      strstr(csp, "unsafe-eval") == NULL,
                  "%s: policy %s", files[i].path, csp);
        cr_assert(h_resp_header(&r, "etag", etag, sizeof(etag)) && etag[0] == '"', "%s: etag %s", files[i].path, etag);
        h_resp_free(&r);
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        const char *const hdrs[] = {inm, NULL};
        req(p, "GET", files[i].path, NULL, hdrs, &r);
        cr_assert_eq(r.status, 304, "%s with If-None-Match %s: %ld", files[i].path, etag, r.status);
        h_resp_free(&r);
    }
    req(p, "GET", "/ui/nothing.js", NULL, NULL, &r);
    cr_assert_eq(r.status, 404, "an unknown page file: %ld", r.status);
    h_resp_free(&r);
}

static void start(const char *tag, const char *extra, int ready)
{
    h_world_sim(&w, tag, sim_args);
    char *rule = "{\"pattern\":\"slow-\",\"ms\":60000}";
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", "/_sim/pull", rule, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "/_sim/pull: %ld %s", r.status, r.body);
    h_resp_free(&r);
    h_world_daemon(&w, extra, NULL, ready);
}

Test(serving, every_endpoint_over_http1_and_cleartext_http2, .fini = teardown)
{
    start("api", NULL, 1);
    const proto_t protos[] = {
        {"HTTP/1.1", CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1, NULL},
        {"h2c prior knowledge", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, CURL_HTTP_VERSION_2_0, NULL},
        {"Upgrade: h2c", CURL_HTTP_VERSION_2_0, CURL_HTTP_VERSION_2_0, NULL},
    };
    const char *tags[] = {"h1", "h2c", "upg"};
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
        exercise_api(&protos[i], tags[i]);
    cr_assert(!h_log_contains(&w.daemon, "\"level\":\"error\""), "errors were logged");
    cr_assert(!h_log_contains(&w.daemon, "after op_visible_timeout"), "an answer waited for op_visible_timeout");
    h_world_stop_clean(&w);
}

Test(serving, every_endpoint_over_tls_with_alpn_h2, .fini = teardown)
{
    h_world_sim(&w, "tls", sim_args);
    char cmd[1024], extra[512], cert[192], key[192];
    snprintf(cert, sizeof(cert), "%s/cert.pem", w.dir);
    snprintf(key, sizeof(key), "%s/key.pem", w.dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>&1",
             key, cert);
    char out[4096];
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "openssl: %s", out);
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", "/_sim/pull", "{\"pattern\":\"slow-\",\"ms\":60000}", NULL, &r), 0);
    h_resp_free(&r);
    snprintf(extra, sizeof(extra), "tls_cert %s\ntls_key %s\n", cert, key);
    h_world_daemon(&w, extra, NULL, 0);

    const proto_t h2 = {"TLS h2", CURL_HTTP_VERSION_2TLS, CURL_HTTP_VERSION_2_0, cert};
    const proto_t h1 = {"TLS HTTP/1.1", CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1, cert};
    uint64_t deadline = h_now_ms() + 20000;
    h_req_t rq = {.path = "/readyz", .http_version = CURL_HTTP_VERSION_2TLS, .ca_file = cert};
    long version = 0;
    while (h_request(w.port, &rq, &r, &version) != 0 || r.status != 200) {
        h_resp_free(&r);
        if (h_now_ms() > deadline) {
            h_dump_log(&w.daemon);
            cr_assert_fail("the TLS daemon was not ready");
        }
        usleep(50000);
    }
    h_resp_free(&r);
    cr_assert_eq(version, CURL_HTTP_VERSION_2_0, "ALPN did not negotiate h2");

    exercise_api(&h2, "tls");
    json_decref(req_json(&h1, "GET", "/api/v1/images/pull-active", NULL, 200));

    /* The listener speaks TLS only: a cleartext request gets no HTTP answer. */
    h_resp_t plain;
    int rc = h_http(w.port, "GET", "/healthz", NULL, NULL, &plain);
    cr_assert(rc != 0 || plain.status != 200, "a cleartext request was answered on the TLS listener");
    h_resp_free(&plain);
    h_world_stop_clean(&w);
}

/* ---- negotiation ---- */

static void get_raw(const proto_t *p, const char *path, const char *const *headers, h_resp_t *r)
{
    req(p, "GET", path, NULL, headers, r);
    cr_assert_eq(r->status, 200, "GET %s: %ld", path, r->status);
}

static json_t *from_msgpack(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, from_msgpack(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            cr_assert_eq(k->type, MSGPACK_OBJECT_STR, "a msgpack map key is not a string");
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)k->via.str.size, k->via.str.ptr);
            json_object_set_new(m, key, from_msgpack(&o->via.map.ptr[i].val));
        }
        return m;
    }
    default:
        cr_assert_fail("unexpected msgpack type %d", (int)o->type);
    }
    return NULL;
}

static json_t *decode_msgpack(const char *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, data, len, &off), MSGPACK_UNPACK_SUCCESS, "not msgpack");
    cr_assert_eq(off, len, "trailing bytes after the msgpack document");
    json_t *j = from_msgpack(&u.data);
    msgpack_unpacked_destroy(&u);
    return j;
}

static void gunzip(const char *data, size_t len, char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    cr_assert_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    size_t cap = len * 50 + 4096;
    *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)*out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "not a complete gzip stream");
    *outlen = z.total_out;
    inflateEnd(&z);
}

/* The JSON body, its gzip'd form and its msgpack form of `path` agree over protocol `p`. */
static void assert_representations(const proto_t *p, const char *path)
{
    static const char *const h_gzip[] = {"Accept-Encoding: gzip", NULL};
    static const char *const h_msgpack[] = {"Accept: application/msgpack", NULL};
    static const char *const h_both[] = {"Accept: application/msgpack", "Accept-Encoding: gzip", NULL};
    h_resp_t plain, gz, mp, mpgz;
    char v[128], etag[128], etag2[128];
    for (int attempt = 0;; attempt++) {
        get_raw(p, path, NULL, &plain);
        get_raw(p, path, h_gzip, &gz);
        get_raw(p, path, h_msgpack, &mp);
        get_raw(p, path, h_both, &mpgz);
        h_resp_header(&plain, "etag", etag, sizeof(etag));
        h_resp_header(&mpgz, "etag", etag2, sizeof(etag2));
        if (strcmp(etag, etag2) == 0)
            break;
        cr_assert_lt(attempt, 20, "the table kept changing");
        h_resp_free(&plain);
        h_resp_free(&gz);
        h_resp_free(&mp);
        h_resp_free(&mpgz);
    }
    cr_assert(h_resp_header(&plain, "vary", v, sizeof(v)) && strstr(v, "Accept-Encoding") != NULL, "vary %s", v);
    cr_assert(!h_resp_header(&plain, "content-encoding", v, sizeof(v)), "identity body was encoded: %s", v);

    cr_assert(h_resp_header(&gz, "content-encoding", v, sizeof(v)) && strcmp(v, "gzip") == 0, "%s over %s: no gzip",
              path, p->name);
    char *unz;
    size_t unzlen;
    gunzip(gz.body, gz.len, &unz, &unzlen);
    cr_assert_eq(unzlen, plain.len, "%s: gunzip'd %zu bytes, identity %zu", path, unzlen, plain.len);
    cr_assert_eq(memcmp(unz, plain.body, plain.len), 0, "%s: gunzip'd body differs", path);
    cr_assert_lt(gz.len, plain.len, "gzip did not shrink the body");
    free(unz);

    h_resp_header(&mp, "content-type", v, sizeof(v));
    cr_assert_str_eq(v, "application/msgpack");
    json_t *fromjson = json_loadb(plain.body, plain.len, 0, NULL);
    json_t *frommp = decode_msgpack(mp.body, mp.len);
    cr_assert(json_equal(fromjson, frommp), "%s over %s: the msgpack document differs from the JSON one", path,
              p->name);
    cr_assert(h_resp_header(&mpgz, "content-encoding", v, sizeof(v)) && strcmp(v, "gzip") == 0);
    gunzip(mpgz.body, mpgz.len, &unz, &unzlen);
    cr_assert_eq(unzlen, mp.len);
    cr_assert_eq(memcmp(unz, mp.body, mp.len), 0, "gzip'd msgpack differs");
    free(unz);
    json_decref(fromjson);
    json_decref(frommp);
    h_resp_free(&plain);
    h_resp_free(&gz);
    h_resp_free(&mp);
    h_resp_free(&mpgz);
}

/* GET `path` with If-None-Match `etag`; returns the status and asserts a 304 carries no body. */
static long conditional(const proto_t *p, const char *path, const char *etag)
{
    char inm[160];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    const char *const hs[] = {inm, NULL};
    h_resp_t r;
    req(p, "GET", path, NULL, hs, &r);
    if (r.status == 304)
        cr_assert_eq(r.len, 0, "a 304 with a body");
    long s = r.status;
    h_resp_free(&r);
    return s;
}

/* Waits until the pull-active tag holds still for 700 ms (the simulator's pods have settled). */
static void wait_stable(const proto_t *p)
{
    char before[96] = "", after[96] = "";
    uint64_t deadline = h_now_ms() + 15000;
    do {
        h_resp_t r;
        get_raw(p, "/api/v1/images/pull-active", NULL, &r);
        h_resp_header(&r, "etag", after, sizeof(after));
        h_resp_free(&r);
        if (strcmp(before, after) == 0)
            return;
        snprintf(before, sizeof(before), "%s", after);
        usleep(700000);
    } while (h_now_ms() < deadline);
    cr_assert_fail("the table kept changing");
}

Test(serving, etag_304_gzip_and_msgpack_agree_with_json, .fini = teardown)
{
    start("nego", NULL, 1);
    const proto_t protos[] = {
        {"HTTP/1.1", CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1, NULL},
        {"h2c", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, CURL_HTTP_VERSION_2_0, NULL},
    };
    char ids[6][32], body[256];
    for (int i = 0; i < 6; i++) {
        snprintf(body, sizeof(body), "{\"image\":\"docker.io/library/slow-%d:1\",\"all_nodes\":true}", i);
        create(&protos[0], body, ids[i], sizeof(ids[i]));
    }
    for (size_t k = 0; k < 2; k++) {
        const proto_t *p = &protos[k];
        char path[256];
        assert_representations(p, "/api/v1/images/pull-active");
        assert_representations(p, "/api/v1/images/pull-jobs?limit=3");
        snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", ids[0]);
        assert_representations(p, path);

        /* ETag of the list: "<epoch>-<generation>"; If-None-Match gives 304 until the table changes. */
        h_resp_t r;
        char etag[96], etag_after[96];
        json_t *doc;
        wait_stable(p);
        /* The jobs' pods may still be moving: retry until a tag holds long enough to be asked about. */
        for (int attempt = 0;; attempt++) {
            get_raw(p, "/api/v1/images/pull-active", NULL, &r);
            doc = json_loadb(r.body, r.len, 0, NULL);
            h_resp_header(&r, "etag", etag, sizeof(etag));
            h_resp_free(&r);
            char expect[128];
            snprintf(expect, sizeof(expect), "\"%s-%lld\"", str_of(doc, "epoch"),
                     (long long)json_integer_value(json_object_get(doc, "generation")));
            json_decref(doc);
            cr_assert_str_eq(etag, expect, "ETag %s, expected %s", etag, expect);
            if (conditional(p, "/api/v1/images/pull-active", etag) == 304)
                break;
            cr_assert_lt(attempt, 30, "If-None-Match with the current tag never gave 304");
            usleep(100000);
        }
        char weak[160];
        snprintf(weak, sizeof(weak), "\"x\", W/%s", etag);
        cr_assert_eq(conditional(p, "/api/v1/images/pull-active", weak), 304, "a weak tag in a list is not matched");
        cr_assert_eq(conditional(p, "/api/v1/images/pull-active", "\"0-0\""), 200);

        /* A change (a cancellation) moves the tag: the old one gets 200 again. */
        snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", ids[k]);
        json_decref(req_json(p, "DELETE", path, NULL, 202));
        wait_state(p, ids[k], "cancelled");
        /* The job's document is cached per copy of the job: the gzip'd form follows the change too. */
        {
            static const char *const h_gzip[] = {"Accept-Encoding: gzip", NULL};
            char *unz;
            size_t unzlen;
            get_raw(p, path, h_gzip, &r);
            cr_assert_eq(r.status, 200);
            gunzip(r.body, r.len, &unz, &unzlen);
            h_resp_free(&r);
            doc = json_loadb(unz, unzlen, 0, NULL);
            free(unz);
            cr_assert_not_null(doc, "the gzip'd job is not JSON");
            cr_assert_str_eq(str_of(doc, "state"), "cancelled", "a stale gzip'd job after the change");
            json_decref(doc);
        }
        cr_assert_eq(conditional(p, "/api/v1/images/pull-active", etag), 200, "the old tag still matches");
        get_raw(p, "/api/v1/images/pull-active", NULL, &r);
        h_resp_header(&r, "etag", etag_after, sizeof(etag_after));
        h_resp_free(&r);
        cr_assert_str_neq(etag, etag_after);

        /* The per-job tag. */
        snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", ids[5]);
        get_raw(p, path, NULL, &r);
        h_resp_header(&r, "etag", etag, sizeof(etag));
        h_resp_free(&r);
        cr_assert_not_null(strstr(etag, ids[5]), "job ETag %s", etag);
        cr_assert_eq(conditional(p, path, etag), 304);
    }
    /* Errors are negotiated too. */
    static const char *const h_msgpack[] = {"Accept: application/msgpack", NULL};
    h_resp_t r;
    req(&protos[0], "GET", "/api/v1/images/pull-jobs/pj-00000000", NULL, h_msgpack, &r);
    cr_assert_eq(r.status, 404);
    json_t *err = decode_msgpack(r.body, r.len);
    cr_assert_str_eq(str_of(json_object_get(err, "error"), "code"), "not_found");
    json_decref(err);
    h_resp_free(&r);
    h_world_stop_clean(&w);
}
