/*
 * End-to-end tests of one worker: a real table with a few jobs, ipd_worker_main() in a forked
 * child on a loopback socket, and real HTTP/1.1 and HTTP/2 requests through libcurl.
 * POST and DELETE run against the Kubernetes simulator when python3 can start it.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/at.h"
#include "common/instance.h"
#include "common/table_fixture.h"
#include "proto/error.h"
#include "proto/json.h"
#include "shared/config.h"
#include "shared/log.h"
#include "shared/stats_segment.h"
#include "shared/table.h"
#include "worker/worker.h"

#define READ_TOKEN  "reader-token-0123456789"
#define ADMIN_TOKEN "admin-token-0123456789"

typedef struct server {
    char instance[64];
    ipd_table_t *table;
    ipd_stats_segment_t *stats;
    ipd_config_t cfg;
    pid_t pid;
    int port;
    int parent_wr;
    char tokens[64];
    pid_t sim_pid;
    int tls; /* the listener speaks TLS; requests verify against cfg.tls_cert */
} server_t;

typedef struct resp {
    long status, version, connects;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
} resp_t;

static int seq;

/* ---- fixture: the table ---- */

static void put(ipd_table_t *t, const char *id, int state, int64_t created, int64_t finished, const char *image,
                const char *nodes, int inline_json)
{
    ipd_job_t j;
    ipd_task_t tasks[4];
    size_t n = 0;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.image, sizeof(j.image), "%s", image);
    for (const char *p = nodes; *p != '\0' && n < 4; n++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char node[64];
        snprintf(node, sizeof(node), "%.*s", (int)len, p);
        ipd_task_init(&tasks[n], node, created);
        p += len + (comma ? 1 : 0);
    }
    j.created_at = created;
    j.finished_at = finished;
    j.state = (uint8_t)state;
    j.version = 1;
    j.nodes.desired = (uint32_t)n;
    if (state == IPD_JOB_FAILED)
        snprintf(j.error_reason, sizeof(j.error_reason), "ImagePullBackOff");
    ipd_buf_t json;
    ipd_buf_init(&json);
    if (inline_json)
        cr_assert_eq(ipd_json_encode_job(&json, &j, tasks, n), 0);
    cr_assert_eq(ipd_table_put_job(t, &j, tasks, n, json.data, json.len), 0);
    ipd_buf_dispose(&json);
}

static void fill(ipd_table_t *t)
{
    put(t, "pj-a1", IPD_JOB_PENDING, 1000, 0, "img/a:1", "node-1,node-2", 1);
    put(t, "pj-a2", IPD_JOB_PULLING, 2000, 0, "img/b:1", "node-2", 0);
    put(t, "pj-f1", IPD_JOB_FAILED, 500, 3000, "img/a:1", "node-3", 1);
    put(t, "pj-s1", IPD_JOB_SUCCEEDED, 100, 200, "img/c:1", "node-1", 0);
    put(t, "pj-c1", IPD_JOB_CANCELLED, 150, 160, "img/c:1", "node-1", 1);
}

/* ---- fixture: the worker ---- */

static void set(ipd_config_t *cfg, const char *name, const char *value)
{
    char err[256];
    cr_assert_eq(ipd_config_set(cfg, name, value, IPD_CONFIG_SOURCE_FLAG, "test", err, sizeof(err)), 0, "%s", err);
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 128), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static resp_t get(server_t *s, const char *path, const char *const *headers, long version);

/* Starts the worker; `settings` are name/value pairs applied over the defaults. */
static void start(server_t *s, const char *const *settings)
{
    char err[256];
    memset(s, 0, sizeof(*s));
    char tag[32];
    snprintf(tag, sizeof(tag), "w%d", ++seq);
    ipd_test_instance(s->instance, sizeof(s->instance), tag);
    ipd_table_unlink(s->instance);
    s->table = ipd_test_table_create(s->instance, 64, 256, 64, 2048, 0, NULL);
    fill(s->table);

    ipd_config_init(&s->cfg);
    set(&s->cfg, "instance", s->instance);
    set(&s->cfg, "kube_server", "http://127.0.0.1:1");
    for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2)
        set(&s->cfg, settings[i], settings[i + 1]);
    cr_assert_eq(ipd_config_finalize(&s->cfg, err, sizeof(err)), 0, "%s", err);
    s->tls = s->cfg.tls_cert[0] != '\0';

    int lfd = listen_loopback(&s->port), pipefd[2];
    cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
    fflush(NULL);
    s->pid = fork();
    cr_assert_geq(s->pid, 0);
    if (s->pid == 0) {
        close(pipefd[1]);
        ipd_log_set_level(IPD_LOG_WARN);
        ipd_worker_args_t args = {.cfg = &s->cfg,
                                  .slot = 0,
                                  .generation = 1,
                                  .stats_block = 0,
                                  .listen_fds = &lfd,
                                  .nlisten = 1,
                                  .ring_fd = -1,
                                  .parent_fd = pipefd[0]};
        _exit(ipd_worker_main(&args));
    }
    close(lfd);
    close(pipefd[0]);
    s->parent_wr = pipefd[1];
    for (int i = 0; i < 100; i++) {
        resp_t r = get(s, "/healthz", NULL, CURL_HTTP_VERSION_1_1);
        free(r.body);
        if (r.status == 200) {
            /* The worker has mapped the table: unlink now so that a failing test leaves nothing behind. */
            ipd_table_unlink(s->instance);
            return;
        }
        usleep(20 * 1000);
    }
    cr_assert_fail("worker did not answer /healthz");
}

/* SIGTERM, then the worker must exit 0 on its own. */
static void stop(server_t *s)
{
    int status = 0;
    cr_assert_eq(kill(s->pid, SIGTERM), 0);
    for (int i = 0; i < 300 && waitpid(s->pid, &status, WNOHANG) == 0; i++)
        usleep(10 * 1000);
    if (waitpid(s->pid, &status, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        cr_assert_fail("worker did not drain within 3 s");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker status %d", status);
    close(s->parent_wr);
    ipd_table_destroy(s->table);
    ipd_table_unlink(s->instance);
    if (s->stats != NULL) {
        ipd_stats_destroy(s->stats);
        ipd_stats_unlink(s->instance);
    }
    if (s->tokens[0] != '\0')
        unlink(s->tokens);
    if (s->sim_pid > 0) {
        kill(s->sim_pid, SIGTERM);
        waitpid(s->sim_pid, NULL, 0);
    }
}

/* ---- HTTP client ---- */

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    resp_t *r = data;
    char *b = realloc(r->body, r->len + size * n + 1);
    cr_assert_not_null(b);
    memcpy(b + r->len, p, size * n);
    r->body = b;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
    resp_t *r = data;
    size_t k = size * n;
    if (r->hlen + k < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

static void perform(CURL *c, resp_t *r)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    r->hlen = 0;
    r->headers[0] = '\0';
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->version);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    }
}

static resp_t request(server_t *s, const char *method, const char *path, const char *const *headers, const char *body,
                      long version)
{
    resp_t r = {0};
    char url[512];
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", s->tls ? "https" : "http", s->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (s->tls)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->cfg.tls_cert);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    perform(c, &r);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static resp_t get(server_t *s, const char *path, const char *const *headers, long version)
{
    return request(s, "GET", path, headers, NULL, version);
}

/* The value of response header `name` (lowercase, without colon) into `out`, or "" if absent. */
static const char *header(const resp_t *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = r->headers; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + len - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, cap, "%.*s", (int)vl, v);
        }
        p += len + (eol ? 1 : 0);
    }
    return out;
}

#define parse(r) parse_at(IPD_AT, r)
static json_t *parse_at(const char *file, int line, const resp_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &e);
    ipd_assert_at(file, line, j != NULL, "not JSON (%s): %.200s", e.text, r->body ? r->body : "");
    return j;
}

/* Asserts the status and an API error body with `code` whose message contains `in_message`. */
#define expect_error(r, status, code, in_message) expect_error_at(IPD_AT, r, status, code, in_message)
static void expect_error_at(const char *file, int line, const resp_t *r, long status, const char *code,
                            const char *in_message)
{
    ipd_assert_at(file, line, r->status == status, "status %ld, want %ld: %.300s", r->status, status,
                  r->body ? r->body : "");
    json_t *j = parse_at(file, line, r);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    ipd_assert_at(file, line, c != NULL && strcmp(c, code) == 0, "code %s, want %s", c ? c : "(none)", code);
    ipd_assert_at(file, line, m != NULL && (in_message == NULL || strstr(m, in_message) != NULL), "message: %s",
                  m ? m : "(none)");
    json_decref(j);
}

/* Sends a request and asserts its answer is the API error expect_error() describes. */
#define expect_refused(s, method, path, headers, body, version, status, code, in_message)                              \
    expect_refused_at(IPD_AT, s, method, path, headers, body, version, status, code, in_message)
static void expect_refused_at(const char *file, int line, server_t *s, const char *method, const char *path,
                              const char *const *headers, const char *body, long version, long status, const char *code,
                              const char *in_message)
{
    resp_t r = request(s, method, path, headers, body, version);
    expect_error_at(file, line, &r, status, code, in_message);
    free(r.body);
}

/* Sends a request and asserts its answer's status. */
#define expect_status(s, method, path, headers, version, status)                                                       \
    expect_status_at(IPD_AT, s, method, path, headers, version, status)
static void expect_status_at(const char *file, int line, server_t *s, const char *method, const char *path,
                             const char *const *headers, long version, long status)
{
    resp_t r = request(s, method, path, headers, NULL, version);
    ipd_assert_at(file, line, r.status == status, "%s %s: status %ld, want %ld: %.300s", method, path, r.status, status,
                  r.body ? r.body : "");
    free(r.body);
}

static void ids_of(const resp_t *r, char *out, size_t cap)
{
    json_t *j = parse(r), *v;
    size_t i;
    out[0] = '\0';
    json_array_foreach(json_object_get(j, "jobs"), i, v)
    {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? "," : "", json_string_value(json_object_get(v, "id")));
    }
    json_decref(j);
}

/* GETs `path` and asserts the ids of the jobs it lists, comma-separated, are `want`. */
#define expect_ids(s, path, want) expect_ids_at(IPD_AT, s, path, want)
static void expect_ids_at(const char *file, int line, server_t *s, const char *path, const char *want)
{
    char ids[256];
    resp_t r = get(s, path, NULL, CURL_HTTP_VERSION_1_1);
    ids_of(&r, ids, sizeof(ids));
    ipd_assert_at(file, line, strcmp(ids, want) == 0, "%s lists %s, want %s", path, ids, want);
    free(r.body);
}

/* ---- tests ---- */

Test(worker_server, lists_active_failed_and_single_jobs)
{
    server_t s;
    char ids[256], etag[128];
    start(&s, NULL);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    ids_of(&r, ids, sizeof(ids));
    cr_assert_str_eq(ids, "pj-a1,pj-a2");
    json_t *j = parse(&r);
    cr_assert_eq(json_integer_value(json_object_get(j, "generation")), (json_int_t)ipd_table_generation(s.table));
    cr_assert_eq(strlen(json_string_value(json_object_get(j, "epoch"))), 16);
    json_decref(j);
    header(&r, "etag", etag, sizeof(etag));
    cr_assert_eq(etag[0], '"');
    free(r.body);

    expect_ids(&s, "/api/v1/images/pull-failed", "pj-f1");

    r = get(&s, "/api/v1/images/pull-jobs/pj-a2", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    j = parse(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "pulling");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "tasks"), 0), "node")),
                     "node-2");
    json_decref(j);
    free(r.body);

    expect_refused(&s, "GET", "/api/v1/images/pull-jobs/pj-nope", NULL, NULL, CURL_HTTP_VERSION_1_1, 404, "not_found",
                   "pj-nope");
    stop(&s);
}

Test(worker_server, lists_follow_table_changes)
{
    server_t s;
    start(&s, NULL);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_1_1);
    free(r.body);
    put(s.table, "pj-a3", IPD_JOB_PENDING, 5000, 0, "img/d:1", "node-9", 1);
    expect_ids(&s, "/api/v1/images/pull-active", "pj-a1,pj-a2,pj-a3");
    expect_ids(&s, "/api/v1/images/pull-jobs?node=node-9", "pj-a3");
    stop(&s);
}

Test(worker_server, pull_jobs_filters_and_pages)
{
    server_t s;
    char ids[256], path[512];
    start(&s, NULL);
    resp_t r = get(&s, "/api/v1/images/pull-jobs", NULL, CURL_HTTP_VERSION_1_1);
    ids_of(&r, ids, sizeof(ids));
    cr_assert_str_eq(ids, "pj-s1,pj-c1,pj-f1,pj-a1,pj-a2");
    json_t *j = parse(&r);
    cr_assert(json_is_null(json_object_get(j, "continue")));
    json_decref(j);
    free(r.body);

    expect_ids(&s, "/api/v1/images/pull-jobs?state=failed,pending", "pj-f1,pj-a1");
    expect_ids(&s, "/api/v1/images/pull-jobs?image=img%2Fa%3A1", "pj-f1,pj-a1");
    expect_ids(&s, "/api/v1/images/pull-jobs?node=node-2", "pj-a1,pj-a2");

    /* Pages of two, following the continue token to the end. */
    char all[512] = "", cont[256] = "";
    for (int page = 0; page < 5; page++) {
        snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?limit=2%s%s", cont[0] ? "&continue=" : "", cont);
        r = get(&s, path, NULL, CURL_HTTP_VERSION_1_1);
        cr_assert_eq(r.status, 200, "%s", r.body);
        ids_of(&r, ids, sizeof(ids));
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", all[0] ? "|" : "", ids);
        j = parse(&r);
        json_t *c = json_object_get(j, "continue");
        snprintf(cont, sizeof(cont), "%s", json_is_string(c) ? json_string_value(c) : "");
        json_decref(j);
        free(r.body);
        if (cont[0] == '\0')
            break;
    }
    cr_assert_str_eq(all, "pj-s1,pj-c1|pj-f1,pj-a1|pj-a2");

    expect_refused(&s, "GET", "/api/v1/images/pull-jobs?continue=bm90LWEtdG9rZW4", NULL, NULL, CURL_HTTP_VERSION_1_1,
                   400, "invalid_argument", "continue");
    stop(&s);
}

Test(worker_server, bad_parameters_are_400_naming_them)
{
    server_t s;
    start(&s, NULL);
    static const char *const cases[][2] = {
        {"/api/v1/images/pull-failed?limit=0", "limit"}, {"/api/v1/images/pull-failed?limit=1001", "limit"},
        {"/api/v1/images/pull-failed?limit=x", "limit"}, {"/api/v1/images/pull-jobs?state=bogus", "state"},
        {"/api/v1/images/pull-jobs?limit=-1", "limit"},  {"/api/v1/images/pull-jobs?color=red", "color"},
        {"/api/v1/images/pull-active?limit=3", "limit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp_t r = get(&s, cases[i][0], NULL, CURL_HTTP_VERSION_1_1);
        expect_error(&r, 400, "invalid_argument", cases[i][1]);
        free(r.body);
    }
    stop(&s);
}

Test(worker_server, etag_gives_304_and_changes_with_the_table)
{
    server_t s;
    char etag[128], inm[160], etag2[128];
    start(&s, NULL);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_1_1);
    header(&r, "etag", etag, sizeof(etag));
    free(r.body);
    snprintf(inm, sizeof(inm), "If-None-Match: \"x\", W/%s", etag);
    const char *h[] = {inm, NULL};
    r = get(&s, "/api/v1/images/pull-active", h, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 304);
    cr_assert_eq(r.len, 0);
    free(r.body);
    expect_status(&s, "GET", "/api/v1/images/pull-active", h, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 304);
    put(s.table, "pj-a1", IPD_JOB_PULLING, 1000, 0, "img/a:1", "node-1,node-2", 1);
    r = get(&s, "/api/v1/images/pull-active", h, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    header(&r, "etag", etag2, sizeof(etag2));
    cr_assert_str_neq(etag, etag2);
    free(r.body);
    stop(&s);
}

Test(worker_server, gzip_and_msgpack_are_negotiated)
{
    server_t s;
    char v[128];
    start(&s, NULL);
    resp_t plain = get(&s, "/api/v1/images/pull-jobs", NULL, CURL_HTTP_VERSION_1_1);
    const char *gz[] = {"Accept-Encoding: gzip", NULL};
    resp_t r = get(&s, "/api/v1/images/pull-jobs", gz, CURL_HTTP_VERSION_1_1);
    cr_assert_str_eq(header(&r, "content-encoding", v, sizeof(v)), "gzip");
    cr_assert(r.len > 2 && (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
    cr_assert_lt(r.len, plain.len);
    free(r.body);
    r = get(&s, "/api/v1/images/pull-jobs", gz, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    cr_assert_eq(r.version, CURL_HTTP_VERSION_2_0);
    cr_assert_str_eq(header(&r, "content-encoding", v, sizeof(v)), "gzip");
    free(r.body);

    const char *mp[] = {"Accept: application/msgpack", NULL};
    r = get(&s, "/api/v1/images/pull-jobs", mp, CURL_HTTP_VERSION_1_1);
    cr_assert_str_eq(header(&r, "content-type", v, sizeof(v)), "application/msgpack");
    cr_assert_eq((unsigned char)r.body[0] & 0xf0, 0x80, "a msgpack fixmap");
    cr_assert(memmem(r.body, r.len, "pj-a2", 5) != NULL);
    free(r.body);
    r = get(&s, "/api/v1/images/pull-jobs/pj-zz", mp, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(header(&r, "content-type", v, sizeof(v)), "application/msgpack");
    free(r.body);
    free(plain.body);
    stop(&s);
}

Test(worker_server, http2_prior_knowledge_and_upgrade)
{
    server_t s;
    start(&s, NULL);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.version, CURL_HTTP_VERSION_2_0);
    free(r.body);
    r = get(&s, "/healthz", NULL, CURL_HTTP_VERSION_2_0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.version, CURL_HTTP_VERSION_2_0, "Upgrade: h2c was not taken");
    cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    free(r.body);
    stop(&s);
}

Test(worker_server, routing_errors_are_json)
{
    server_t s;
    char v[128];
    start(&s, NULL);
    expect_refused(&s, "GET", "/nope", NULL, NULL, CURL_HTTP_VERSION_1_1, 404, "not_found", NULL);
    expect_refused(&s, "GET", "/api/v1/images/pull-jobs/a/b", NULL, NULL, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 404,
                   "not_found", NULL);
    resp_t r = request(&s, "PUT", "/api/v1/images/pull-active", NULL, NULL, CURL_HTTP_VERSION_1_1);
    expect_error(&r, 405, "method_not_allowed", NULL);
    cr_assert_str_eq(header(&r, "allow", v, sizeof(v)), "GET, HEAD");
    free(r.body);
    r = get(&s, "/api/v1/images/pull", NULL, CURL_HTTP_VERSION_1_1);
    expect_error(&r, 405, "method_not_allowed", NULL);
    cr_assert_str_eq(header(&r, "allow", v, sizeof(v)), "POST");
    free(r.body);
    r = request(&s, "POST", "/api/v1/images/pull-jobs/pj-a1", NULL, "{}", CURL_HTTP_VERSION_1_1);
    cr_assert_str_eq(header(&r, "allow", v, sizeof(v)), "GET, HEAD, DELETE");
    free(r.body);
    stop(&s);
}

Test(worker_server, post_body_checks)
{
    server_t s;
    const char *const settings[] = {"max_request_body", "1k", NULL};
    char big[4096];
    start(&s, settings);
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *text[] = {"Content-Type: text/plain", NULL};
    expect_refused(&s, "POST", "/api/v1/images/pull", text, "{}", CURL_HTTP_VERSION_1_1, 415, "unsupported_media_type",
                   NULL);
    expect_refused(&s, "POST", "/api/v1/images/pull", json, "{\"image\": \"nginx\", ", CURL_HTTP_VERSION_1_1, 400,
                   "invalid_argument", "byte 19");
    resp_t r = request(&s, "POST", "/api/v1/images/pull", json,
                       "{\"image\":\"nginx:1\",\"nodes\":[\"a\"],\"colour\":1}", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    expect_error(&r, 400, "invalid_argument", "colour");
    free(r.body);
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    expect_refused(&s, "POST", "/api/v1/images/pull", json, big, CURL_HTTP_VERSION_1_1, 413, "payload_too_large", NULL);
    /* Over HTTP/2 h2o resets the stream of a body over twice the limit; just over it, the answer is JSON. */
    big[1500] = '}';
    big[1501] = '\0';
    expect_refused(&s, "POST", "/api/v1/images/pull", json, big, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 413,
                   "payload_too_large", "max_request_body");
    /* A valid request with the apiserver down is 503. */
    r = request(&s, "POST", "/api/v1/images/pull", json, "{\"image\":\"nginx:1\",\"nodes\":[\"node-1\"]}",
                CURL_HTTP_VERSION_1_1);
    expect_error(&r, 503, "unavailable", NULL);
    free(r.body);
    stop(&s);
}

Test(worker_server, delete_of_finished_or_unknown_job)
{
    server_t s;
    start(&s, NULL);
    expect_refused(&s, "DELETE", "/api/v1/images/pull-jobs/pj-s1", NULL, NULL, CURL_HTTP_VERSION_1_1, 409, "conflict",
                   "succeeded");
    expect_refused(&s, "DELETE", "/api/v1/images/pull-jobs/pj-zz", NULL, NULL, CURL_HTTP_VERSION_1_1, 404, "not_found",
                   NULL);
    stop(&s);
}

Test(worker_server, rate_cap_answers_429_and_closes)
{
    server_t s;
    const char *const settings[] = {"request_rate_per_conn", "5", NULL};
    start(&s, settings);
    for (int pass = 0; pass < 2; pass++) {
        /* HTTP/2 through Upgrade: h2c, since libcurl 7.88 cannot reuse a prior-knowledge connection. */
        long version = pass ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1;
        char url[128];
        CURL *c = curl_easy_init();
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
        int limited = -1;
        for (int i = 0; i < 8; i++) {
            resp_t r = {0};
            perform(c, &r);
            if (r.status == 429 && limited < 0) {
                limited = i;
                expect_error(&r, 429, "too_many_requests", NULL);
            } else if (limited >= 0 && i == limited + 1) {
                cr_assert_eq(r.connects, 1, "pass %d: a new connection after the 429", pass);
                free(r.body);
                break;
            } else {
                cr_assert_eq(r.status, 200, "pass %d request %d", pass, i);
                cr_assert_eq(r.version, pass ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
                cr_assert_eq(r.connects, i == 0 ? 1 : 0, "pass %d request %d reused the connection", pass, i);
            }
            free(r.body);
        }
        cr_assert_eq(limited, 5, "pass %d: the 6th request is refused", pass);
        curl_easy_cleanup(c);
    }
    stop(&s);
}

static void write_tokens(server_t *s, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/ipd-worker-tokens-%d-%d", (int)getpid(), seq + 1);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "# test tokens\n%s read\n%s admin\n", READ_TOKEN, ADMIN_TOKEN);
    fclose(f);
    chmod(path, 0600);
    (void)s;
}

Test(worker_server, tokens_on_a_non_loopback_listener)
{
    server_t s;
    char tokens[64], v[128];
    write_tokens(&s, tokens, sizeof(tokens));
    /* The configured address decides: 0.0.0.0 needs tokens, even though the socket is loopback. */
    const char *const settings[] = {"listen", "0.0.0.0:8080", "tokens_file", tokens, NULL};
    start(&s, settings);
    snprintf(s.tokens, sizeof(s.tokens), "%s", tokens);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_1_1);
    expect_error(&r, 401, "unauthenticated", NULL);
    cr_assert(strncmp(header(&r, "www-authenticate", v, sizeof(v)), "Bearer", 6) == 0);
    free(r.body);
    const char *bad[] = {"Authorization: Bearer wrong-token-0123456789", NULL};
    expect_refused(&s, "GET", "/api/v1/images/pull-active", bad, NULL, CURL_HTTP_VERSION_1_1, 401, "unauthenticated",
                   "invalid");
    const char *reader[] = {"Authorization: Bearer " READ_TOKEN, "Content-Type: application/json", NULL};
    expect_status(&s, "GET", "/api/v1/images/pull-active", reader, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 200);
    expect_refused(&s, "DELETE", "/api/v1/images/pull-jobs/pj-a1", reader, NULL, CURL_HTTP_VERSION_1_1, 403,
                   "permission_denied", NULL);
    expect_refused(&s, "POST", "/api/v1/images/pull", reader, "{}", CURL_HTTP_VERSION_1_1, 403, "permission_denied",
                   NULL);
    const char *admin[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    expect_refused(&s, "DELETE", "/api/v1/images/pull-jobs/pj-s1", admin, NULL, CURL_HTTP_VERSION_1_1, 409, "conflict",
                   NULL);
    expect_status(&s, "GET", "/healthz", NULL, CURL_HTTP_VERSION_1_1, 200);
    expect_status(&s, "GET", "/readyz", NULL, CURL_HTTP_VERSION_1_1, 200);
    expect_status(&s, "GET", "/metrics", NULL, CURL_HTTP_VERSION_1_1, 401);
    stop(&s);
}

Test(worker_server, ops_endpoints)
{
    server_t s;
    char v[128];
    start(&s, NULL);
    resp_t r = get(&s, "/readyz", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200, "%s", r.body);
    free(r.body);
    r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_1_1);
    free(r.body);
    r = get(&s, "/metrics", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(header(&r, "content-type", v, sizeof(v)), "text/plain", 10) == 0);
    cr_assert(strstr(r.body, "imgpulld_http_requests_total{code=\"2xx\"}") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "imgpulld_http_request_duration_seconds_bucket{le=\"+Inf\"}") != NULL);
    cr_assert(strstr(r.body, "imgpulld_jobs{state=\"failed\"} 1\n") != NULL);
    cr_assert(strstr(r.body, "route=\"pull-active\",code=\"200\"") != NULL);
    free(r.body);
    r = get(&s, "/api/v1/stats", NULL, CURL_HTTP_VERSION_1_1);
    json_t *j = parse(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(j, "table"), "jobs"), "pending")),
                 1);
    cr_assert_geq(json_integer_value(json_object_get(json_object_get(j, "http"), "requests")), 3);
    json_decref(j);
    free(r.body);
    r = get(&s, "/", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(header(&r, "content-type", v, sizeof(v)), "text/html", 9) == 0);
    cr_assert(strstr(r.body, "<script src=\"/ui/app.js\"") != NULL, "the page loads its script as a file");
    free(r.body);
    stop(&s);
}

Test(worker_server, readiness_follows_the_master_block)
{
    server_t s;
    char name[64], tag[32];
    snprintf(tag, sizeof(tag), "w%d", seq + 1); /* the instance start() is about to name */
    ipd_test_instance(name, sizeof(name), tag);
    ipd_stats_segment_t *seg = NULL;
    ipd_stats_unlink(name);
    cr_assert_eq(ipd_stats_create(name, 2, ipd_worker_stats_route_slots(), (gid_t)-1, &seg), 0);
    start(&s, NULL);
    s.stats = seg;
    ipd_stats_unlink(name);
    expect_refused(&s, "GET", "/readyz", NULL, NULL, CURL_HTTP_VERSION_1_1, 503, "unavailable", "master");
    /* The lists of a table the master has not filled yet are not_ready, with a Retry-After. */
    static const char *const lists[] = {"/api/v1/images/pull-active", "/api/v1/images/pull-failed",
                                        "/api/v1/images/pull-jobs?state=pending"};
    char v[32];
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        resp_t r = get(&s, lists[i], NULL, CURL_HTTP_VERSION_1_1);
        expect_error(&r, 503, "not_ready", "master");
        cr_assert_str_eq(header(&r, "retry-after", v, sizeof(v)), "1", "%s", lists[i]);
        free(r.body);
    }
    atomic_store(&ipd_stats_master_block(seg)->c[IPD_MSTATS_READY], 1);
    /* Listed, but the apiserver has not been heard from lately: not ready, the lists answer. */
    expect_refused(&s, "GET", "/readyz", NULL, NULL, CURL_HTTP_VERSION_1_1, 503, "unavailable", "API server");
    atomic_store(&ipd_stats_master_block(seg)->c[IPD_MSTATS_WATCH_HEALTHY], 1);
    expect_status(&s, "GET", "/readyz", NULL, CURL_HTTP_VERSION_1_1, 200);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        expect_status(&s, "GET", lists[i], NULL, CURL_HTTP_VERSION_1_1, 200);
    }
    cr_assert_geq(atomic_load(&ipd_stats_block(seg, 0)->c[IPD_STATS_REQUESTS]), 2);
    stop(&s);
}

Test(worker_server, sigterm_drains_open_connections)
{
    server_t s;
    start(&s, NULL);
    int status;
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    free(r.body);
    cr_assert_eq(kill(s.pid, SIGTERM), 0);
    for (int i = 0; i < 300 && waitpid(s.pid, &status, WNOHANG) == 0; i++)
        usleep(10 * 1000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s.pid = 0;
    close(s.parent_wr);
    ipd_table_destroy(s.table);
    ipd_table_unlink(s.instance);
}

/* Starts the Kubernetes simulator and returns its port; the test is skipped without python3. */
static int start_sim(server_t *s)
{
    char script[1024], line[256];
    const char *src = getenv("IPD_SOURCE_DIR");
    int out[2];
    if (src != NULL)
        snprintf(script, sizeof(script), "%s/tests/kubesim/kubesim.py", src);
    else
        snprintf(script, sizeof(script), "%.*s/../kubesim/kubesim.py", (int)(strrchr(__FILE__, '/') - __FILE__),
                 __FILE__);
    if (access(script, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0)
        cr_skip_test("no Kubernetes simulator (%s)", script);
    cr_assert_eq(pipe(out), 0);
    s->sim_pid = fork();
    cr_assert_geq(s->sim_pid, 0);
    if (s->sim_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, "--port", "0", "--pull-ms", "60000", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    int port = 0;
    while (port == 0 && fgets(line, sizeof(line), f) != NULL)
        sscanf(line, "listening on 127.0.0.1:%d", &port);
    fclose(f);
    cr_assert_gt(port, 0, "the simulator did not start");
    return port;
}

Test(worker_server, post_and_delete_through_the_simulator)
{
    server_t sim = {0}, s;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", start_sim(&sim));
    const char *const settings[] = {"kube_server", url, NULL};
    start(&s, settings);
    s.sim_pid = sim.sim_pid;
    const char *json[] = {"Content-Type: application/json; charset=utf-8", NULL};
    resp_t r = request(&s, "POST", "/api/v1/images/pull", json,
                       "{\"image\":\"docker.io/library/nginx:1.27\",\"nodes\":[\"node-1\",\"node-2\"]}",
                       CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 202, "%s", r.body);
    json_t *j = parse(&r), *job = json_array_get(json_object_get(j, "jobs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(job, "state")), "pending");
    cr_assert_eq(json_array_size(json_object_get(job, "tasks")), 2);
    cr_assert(strncmp(json_string_value(json_object_get(job, "id")), "pj-", 3) == 0);
    json_decref(j);
    free(r.body);

    r = request(&s, "POST", "/api/v1/images/pull", json, "{\"images\":[\"a/b:1\",\"c/d:2\"],\"all_nodes\":true}",
                CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    cr_assert_eq(r.status, 202, "%s", r.body);
    j = parse(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "jobs")), 2);
    json_decref(j);
    free(r.body);

    r = request(&s, "POST", "/api/v1/images/pull", json, "{\"image\":\"nginx:1\",\"nodes\":[\"node-404\"]}",
                CURL_HTTP_VERSION_1_1);
    expect_error(&r, 400, "invalid_argument", "node-404");
    free(r.body);

    r = request(&s, "DELETE", "/api/v1/images/pull-jobs/pj-a2", NULL, NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 202, "%s", r.body);
    j = parse(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "pj-a2");
    json_decref(j);
    free(r.body);
    stop(&s);
}

Test(worker_server, tls_with_alpn_h2)
{
    server_t s;
    char dir[] = "/tmp/ipd-worker-tls-XXXXXX", cmd[512], cert[128], key[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout %s -out %s -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        cr_skip_test("no openssl command to make a certificate");
    const char *const settings[] = {"tls_cert", cert, "tls_key", key, NULL};
    start(&s, settings);
    resp_t r = get(&s, "/api/v1/images/pull-active", NULL, CURL_HTTP_VERSION_2TLS);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.version, CURL_HTTP_VERSION_2_0, "ALPN did not select h2");
    free(r.body);
    r = get(&s, "/api/v1/images/pull-jobs/pj-a1", NULL, CURL_HTTP_VERSION_1_1);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.version, CURL_HTTP_VERSION_1_1);
    free(r.body);
    stop(&s);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}
