/*
 * The Kubernetes client against a real HTTP server on loopback (tests/fixtures/kube/testserver.py),
 * driven by a minimal epoll loop over the client's two descriptors, as the master and workers do.
 */
#include "common/spawn.h"
#include "proto/error.h"
#include "common/at.h"
#include "shared/kube_client.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct server {
    pid_t pid;
    int port;
};

static struct server plain, tls, sim;
static int loop_ep = -1;
static ipd_kube_t *kube;
static char tmpdir[256];
static char err[IPD_KUBE_ERRLEN];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Starts a python server script (relative to the source tree) on port 0 and reads the port it printed. */
static void script_start(struct server *s, const char *rel, const char *a1, const char *a2, const char *a3,
                         const char *a4)
{
    const char *args[] = {a1, a2, a3, a4, NULL};
    char said[1024];
    /* The arguments end at the first NULL. */
    s->pid = ipd_test_spawn_server(rel, args, 10000, &s->port, said, sizeof(said));
    cr_assert_gt(s->pid, 0, "%s did not start: %s", rel, said);
}

/* Starts the test server, over TLS when cert is set. */
static void server_start(struct server *s, const char *cert, const char *key)
{
    script_start(s, "tests/fixtures/kube/testserver.py", cert ? "--tls-cert" : NULL, cert, "--tls-key", key);
}

static void server_stop(struct server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipd-kube-client-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    server_start(&plain, NULL, NULL);
    loop_ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert_geq(loop_ep, 0);
}

static void teardown(void)
{
    ipd_kube_destroy(kube);
    kube = NULL;
    close(loop_ep);
    server_stop(&plain);
    server_stop(&tls);
    server_stop(&sim);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(kube_client, .init = setup, .fini = teardown, .timeout = 120);

/* Creates the client for `cfg` and registers its two descriptors in the test's loop. */
static void client_from(ipd_kube_config_t *cfg, const ipd_kube_options_t *opts)
{
    cr_assert_eq(ipd_kube_create(&kube, cfg, opts), 0);
    int fds[2];
    cr_assert_eq(ipd_kube_fds(kube, &fds[0], &fds[1]), 0);
    for (int i = 0; i < 2; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        cr_assert_eq(epoll_ctl(loop_ep, EPOLL_CTL_ADD, fds[i], &ev), 0);
    }
}

static void client(const char *scheme, int port, const char *token_file, const char *ca_file,
                   const ipd_kube_options_t *opts)
{
    ipd_kube_config_t cfg;
    char url[64];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d", scheme, port);
    cr_assert_eq(ipd_kube_config_server(&cfg, url, token_file, ca_file, err, sizeof(err)), 0, "%s", err);
    client_from(&cfg, opts);
}

/* One loop iteration: wait up to wait_ms, dispatch what is ready. */
static void pump(int wait_ms)
{
    struct epoll_event ev[2];
    int n = epoll_wait(loop_ep, ev, 2, wait_ms);
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u32 == 0)
            ipd_kube_on_epoll_ready(kube);
        else
            ipd_kube_on_timer_ready(kube);
    }
}

static int run_until(const int *flag, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!*flag && now_ms() < end)
        pump(10);
    return *flag;
}

static void run_for(int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (now_ms() < end)
        pump(10);
}

/* What a request reported. */
struct outcome {
    int done;
    int error;
    long status;
    char *body;
    size_t body_len;
    char message[512];
    int lines;
    char *text; /* every line followed by '\n' */
    size_t text_len;
    int cancel_after;  /* > 0: cancel from inside on_line after this many lines */
    uint64_t rx_bytes; /* ipd_kube_rx_bytes seen in the last on_line */
    ipd_kube_req_t *req;
};

static void outcome_free(struct outcome *o)
{
    free(o->body);
    free(o->text);
}

static void on_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    struct outcome *o = data;
    cr_assert_eq(req, o->req, "on_done gets the request it belongs to");
    o->done++;
    o->error = res->error;
    o->status = res->status;
    o->body = res->body ? strndup(res->body, res->body_len) : NULL;
    o->body_len = res->body_len;
    snprintf(o->message, sizeof(o->message), "%s", res->message ? res->message : "");
    cr_assert_eq(res->error != 0, res->message != NULL, "a message exactly when there is an error");
}

static void on_line(ipd_kube_req_t *req, const char *line, size_t len, void *data)
{
    struct outcome *o = data;
    o->lines++;
    o->rx_bytes = ipd_kube_rx_bytes(req);
    o->text = realloc(o->text, o->text_len + len + 2);
    cr_assert_not_null(o->text);
    memcpy(o->text + o->text_len, line, len);
    o->text_len += len;
    o->text[o->text_len++] = '\n';
    o->text[o->text_len] = '\0';
    if (o->cancel_after > 0 && o->lines == o->cancel_after)
        ipd_kube_cancel(req);
}

static void start(struct outcome *o, const char *method, const char *path, const char *body, int lines)
{
    ipd_kube_req_spec_t spec = {.method = method,
                                .path = path,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .on_done = on_done,
                                .on_line = lines ? on_line : NULL,
                                .data = o};
    cr_assert_eq(ipd_kube_start(kube, &spec, &o->req), 0, "start %s %s", method, path);
}

/* Runs one request to completion and checks that on_done ran exactly once. */
#define fetch(...) fetch_at(IPD_AT, __VA_ARGS__)
static void fetch_at(const char *file, int line, struct outcome *o, const char *method, const char *path,
                     const char *body, int lines)
{
    start(o, method, path, body, lines);
    ipd_assert_at(file, line, run_until(&o->done, 20000), "%s %s did not finish", method, path);
    run_for(20);
    ipd_assert_at(file, line, o->done == 1, "%s %s: done %d times", method, path, o->done);
}

/* fetch, then asserts the request got an answer of `status`. */
#define fetch_ok(o, method, path, body, status) fetch_ok_at(IPD_AT, o, method, path, body, status)
static void fetch_ok_at(const char *file, int line, struct outcome *o, const char *method, const char *path,
                        const char *body, long status)
{
    fetch_at(file, line, o, method, path, body, 0);
    ipd_assert_at(file, line, o->error == 0, "%s %s: %s", method, path, o->message);
    ipd_assert_at(file, line, o->status == status, "%s %s: status %ld, want %ld", method, path, (long)o->status,
                  status);
}

Test(kube_client, one_shot_get_returns_status_body_and_headers)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome o = {0};
    fetch_ok(&o, "GET", "/echo?status=200", NULL, 200);
    cr_assert_not_null(strstr(o.body, "\"method\": \"GET\""), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"user_agent\": \"imgpulld/"), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"accept\": \"application/json"), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"authorization\": null"), "no token configured, none sent: %s", o.body);
    cr_assert_eq(o.body_len, strlen(o.body));
    cr_assert_eq(ipd_kube_pending(kube), 0);
    outcome_free(&o);
}

Test(kube_client, one_shot_post_sends_a_json_body)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome o = {0};
    fetch_ok(&o, "POST", "/echo?status=201", "{\"kind\":\"Job\"}", 201);
    cr_assert_not_null(strstr(o.body, "\"method\": \"POST\""), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"body\": \"{\\\"kind\\\":\\\"Job\\\"}\""), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"content_type\": \"application/json\""), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"expect\": null"), "%s", o.body);
    outcome_free(&o);
}

Test(kube_client, one_shot_delete_and_patch_report_non_2xx_as_status)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome d = {0}, p = {0};
    fetch(&d, "DELETE", "/echo?status=404", NULL, 0);
    cr_assert_eq(d.error, 0, "a complete HTTP answer is not a transfer error");
    cr_assert_eq(d.status, 404);
    cr_assert_not_null(strstr(d.body, "\"method\": \"DELETE\""), "%s", d.body);
    ipd_kube_req_spec_t spec = {.method = "PATCH",
                                .path = "/echo?status=500",
                                .body = "{}",
                                .body_len = 2,
                                .content_type = "application/merge-patch+json",
                                .on_done = on_done,
                                .data = &p};
    cr_assert_eq(ipd_kube_start(kube, &spec, &p.req), 0);
    cr_assert(run_until(&p.done, 20000));
    cr_assert_eq(p.status, 500);
    cr_assert_not_null(strstr(p.body, "\"content_type\": \"application/merge-patch+json\""), "%s", p.body);
    outcome_free(&d);
    outcome_free(&p);
}

Test(kube_client, one_shot_body_over_the_cap_fails)
{
    ipd_kube_options_t opts = {.max_body = 65536};
    client("http", plain.port, NULL, NULL, &opts);
    struct outcome ok = {0}, big = {0};
    fetch(&ok, "GET", "/bytes?n=65536", NULL, 0);
    cr_assert_eq(ok.error, 0, "%s", ok.message);
    cr_assert_eq(ok.body_len, 65536, "a body of exactly the cap is fine");
    fetch(&big, "GET", "/bytes?n=65537", NULL, 0);
    cr_assert_eq(big.error, IPD_ETOOBIG);
    cr_assert_not_null(strstr(big.message, "response body exceeds 65536 bytes"), "%s", big.message);
    cr_assert_not_null(strstr(big.message, "GET http://127.0.0.1:"), "the message names the request: %s", big.message);
    outcome_free(&ok);
    outcome_free(&big);
}

Test(kube_client, one_shot_timeout_and_refused_connection_fail_clearly)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome o = {0};
    ipd_kube_req_spec_t spec = {.path = "/slow?ms=5000", .timeout_ms = 300, .on_done = on_done, .data = &o};
    uint64_t t0 = now_ms();
    cr_assert_eq(ipd_kube_start(kube, &spec, &o.req), 0);
    cr_assert(run_until(&o.done, 10000));
    cr_assert_eq(o.error, -ETIMEDOUT, "%d %s", o.error, o.message);
    cr_assert_lt(now_ms() - t0, 3000);
    cr_assert_not_null(strstr(o.message, "timed out"), "%s", o.message);
    outcome_free(&o);

    ipd_kube_destroy(kube);
    kube = NULL;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s); /* bound, never listened: nothing accepts on this port */
    close(loop_ep);
    loop_ep = epoll_create1(EPOLL_CLOEXEC);
    client("http", ntohs(a.sin_port), NULL, NULL, NULL);
    struct outcome r = {0};
    fetch(&r, "GET", "/echo", NULL, 0);
    cr_assert_eq(r.error, -ECONNREFUSED, "%d %s", r.error, r.message);
    cr_assert_eq(r.status, 0);
    outcome_free(&r);
}

static void expect_watch_lines(const struct outcome *o, int n)
{
    char want[256];
    size_t off = 0;
    cr_assert_eq(o->lines, n);
    for (int i = 0; i < n; i++) {
        int len = snprintf(want, sizeof(want), "{\"type\":\"ADDED\",\"object\":{\"i\":%d,\"pad\":\"%.*s\"}}\n", i,
                           i % 7, "xxxxxxx");
        cr_assert_leq(off + (size_t)len, o->text_len);
        cr_assert_eq(memcmp(o->text + off, want, (size_t)len), 0, "line %d: %.*s", i, len, o->text + off);
        off += (size_t)len;
    }
    cr_assert_eq(off, o->text_len);
}

Test(kube_client, lines_split_across_chunks_arrive_whole)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome one = {0}, cyc = {0}, whole = {0};
    fetch(&one, "GET", "/lines?n=300&chunk=1", NULL, 1);
    cr_assert_eq(one.error, 0, "%s", one.message);
    cr_assert_eq(one.status, 200);
    cr_assert_null(one.body, "a 2xx stream has no body in on_done");
    expect_watch_lines(&one, 300);
    fetch(&cyc, "GET", "/lines?n=300&chunk=0", NULL, 1);
    expect_watch_lines(&cyc, 300);
    fetch(&whole, "GET", "/lines?n=300&chunk=100000", NULL, 1);
    expect_watch_lines(&whole, 300);
    cr_assert_gt(one.rx_bytes, 0);
    cr_assert_leq(one.rx_bytes, one.text_len);
    outcome_free(&one);
    outcome_free(&cyc);
    outcome_free(&whole);
}

Test(kube_client, line_over_the_cap_aborts_the_stream)
{
    ipd_kube_options_t opts = {.max_line = 4096};
    client("http", plain.port, NULL, NULL, &opts);
    struct outcome at = {0}, over = {0}, tail = {0};
    fetch(&at, "GET", "/line?len=4096", NULL, 1);
    cr_assert_eq(at.error, 0, "%s", at.message);
    cr_assert_eq(at.lines, 1);
    cr_assert_eq(at.text_len, 4097, "a line of exactly the cap is delivered");
    fetch(&over, "GET", "/line?len=4097", NULL, 1);
    cr_assert_eq(over.error, IPD_ETOOBIG);
    cr_assert_eq(over.lines, 0);
    cr_assert_not_null(strstr(over.message, "line exceeds 4096 bytes"), "%s", over.message);
    fetch(&tail, "GET", "/line?len=10&nl=0", NULL, 1);
    cr_assert_eq(tail.error, 0);
    cr_assert_eq(tail.lines, 1, "a last line without newline is delivered on a clean end");
    cr_assert_str_eq(tail.text, "aaaaaaaaaa\n");
    outcome_free(&at);
    outcome_free(&over);
    outcome_free(&tail);
}

Test(kube_client, non_2xx_stream_delivers_the_status_body)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome o = {0};
    fetch(&o, "GET", "/lines?status=410", NULL, 1);
    cr_assert_eq(o.lines, 0, "no line callback for an error answer");
    cr_assert_eq(o.error, IPD_EREMOTE);
    cr_assert_eq(o.status, 410);
    cr_assert_not_null(o.body);
    cr_assert_not_null(strstr(o.body, "\"reason\": \"Expired\""), "%s", o.body);
    cr_assert_not_null(strstr(o.message, "HTTP 410"), "%s", o.message);
    outcome_free(&o);
}

/* A bounded sink for the bytes stream, drained slowly by the test loop. */
struct sink {
    char buf[64 * 1024];
    size_t len, max_len;
    uint64_t taken, verified;
    int pauses, calls_while_paused, redelivery_mismatch, done, error, blocked;
    unsigned char refused[32];
    size_t refused_len;
    EVP_MD_CTX *md;
    ipd_kube_req_t *req;
    unsigned char block[32];
    uint64_t block_no;
};

static unsigned char pattern_byte(struct sink *s, uint64_t off)
{
    if (off / 32 != s->block_no) {
        s->block_no = off / 32;
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(s->block_no >> (8 * i));
        SHA256(le, sizeof(le), s->block);
    }
    return s->block[off % 32];
}

static int on_sink_data(ipd_kube_req_t *req, const char *buf, size_t len, void *data)
{
    struct sink *s = data;
    (void)req;
    if (s->blocked)
        s->calls_while_paused++;
    if (s->refused_len > 0) {
        size_t n = len < s->refused_len ? len : s->refused_len;
        if (memcmp(buf, s->refused, n) != 0)
            s->redelivery_mismatch++;
        s->refused_len = 0;
    }
    if (len > sizeof(s->buf) - s->len) {
        s->pauses++;
        s->blocked = 1;
        s->refused_len = len < sizeof(s->refused) ? len : sizeof(s->refused);
        memcpy(s->refused, buf, s->refused_len);
        return IPD_KUBE_DATA_PAUSE;
    }
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    s->taken += len;
    if (s->len > s->max_len)
        s->max_len = s->len;
    return IPD_KUBE_DATA_TAKEN;
}

static void on_sink_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    struct sink *s = data;
    (void)req;
    s->done = 1;
    s->error = res->error;
    s->req = NULL;
}

static void sink_drain(struct sink *s, size_t max)
{
    size_t n = s->len < max ? s->len : max;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s->buf[i] != pattern_byte(s, s->verified + i))
            cr_assert_fail("byte %llu differs", (unsigned long long)(s->verified + i));
    cr_assert_eq(EVP_DigestUpdate(s->md, s->buf, n), 1);
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    s->verified += n;
}

/* SHA-256 of the first `total` bytes of the server's pattern. */
static void expected_digest(uint64_t total, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    for (uint64_t b = 0; b * 32 < total; b++) {
        unsigned char le[8], blk[32];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(b >> (8 * i));
        SHA256(le, sizeof(le), blk);
        EVP_DigestUpdate(md, blk, total - b * 32 < 32 ? total - b * 32 : 32);
    }
    cr_assert_eq(EVP_DigestFinal_ex(md, out, NULL), 1);
    EVP_MD_CTX_free(md);
}

Test(kube_client, pause_and_resume_deliver_every_byte_once_in_order)
{
    const uint64_t total = 16u << 20;
    client("http", plain.port, NULL, NULL, NULL);
    struct sink *s = calloc(1, sizeof(*s));
    s->md = EVP_MD_CTX_new();
    s->block_no = UINT64_MAX;
    cr_assert_eq(EVP_DigestInit_ex(s->md, EVP_sha256(), NULL), 1);
    char path[64];
    snprintf(path, sizeof(path), "/bytes?n=%llu", (unsigned long long)total);
    ipd_kube_req_spec_t spec = {.path = path, .on_done = on_sink_done, .on_data = on_sink_data, .data = s};
    cr_assert_eq(ipd_kube_start(kube, &spec, &s->req), 0);
    uint64_t end = now_ms() + 60000;
    while ((!s->done || s->len > 0) && now_ms() < end) {
        pump(1);
        sink_drain(s, 16 * 1024);
        if (s->req != NULL && ipd_kube_paused(s->req) && s->len <= sizeof(s->buf) / 2) {
            s->blocked = 0;
            cr_assert_eq(ipd_kube_resume(s->req), 0);
        }
    }
    cr_assert(s->done, "stream did not finish");
    cr_assert_eq(s->error, 0);
    cr_assert_eq(s->taken, total);
    cr_assert_eq(s->verified, total);
    cr_assert_gt(s->pauses, 10, "the sink must have pushed back (pauses: %d)", s->pauses);
    cr_assert_leq(s->max_len, sizeof(s->buf));
    cr_assert_eq(s->calls_while_paused, 0, "no bytes while paused");
    cr_assert_eq(s->redelivery_mismatch, 0, "refused bytes come back first");
    unsigned char got[32], want[32];
    cr_assert_eq(EVP_DigestFinal_ex(s->md, got, NULL), 1);
    expected_digest(total, want);
    cr_assert_eq(memcmp(got, want, 32), 0, "checksum of the received stream");
    EVP_MD_CTX_free(s->md);
    free(s);
}

static int hold_closed(void)
{
    struct outcome o = {0};
    fetch(&o, "GET", "/_stats", NULL, 0);
    const char *p = o.body ? strstr(o.body, "\"hold_closed\": ") : NULL;
    int n = p ? atoi(p + strlen("\"hold_closed\": ")) : -1;
    outcome_free(&o);
    return n;
}

Test(kube_client, cancel_stops_callbacks_and_closes_the_connection)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct outcome inner = {.cancel_after = 3}, outer = {0};
    start(&inner, "GET", "/hold", NULL, 1);
    start(&outer, "GET", "/hold", NULL, 1);
    uint64_t end = now_ms() + 10000;
    while ((inner.lines < 3 || outer.lines < 3) && now_ms() < end)
        pump(10);
    ipd_kube_cancel(outer.req); /* from the loop, outside any callback */
    int outer_lines = outer.lines;
    cr_assert_eq(inner.lines, 3, "cancelled from its own line callback: nothing after");
    run_for(400); /* the server keeps writing a line every 50 ms */
    cr_assert_eq(inner.lines, 3);
    cr_assert_eq(outer.lines, outer_lines);
    cr_assert_eq(inner.done + outer.done, 0, "no on_done after cancel");
    cr_assert_eq(ipd_kube_pending(kube), 0);
    int closed = 0;
    for (end = now_ms() + 5000; (closed = hold_closed()) < 2 && now_ms() < end;)
        run_for(50);
    cr_assert_eq(closed, 2, "the server saw both connections closed");
    ipd_kube_cancel(NULL);
    outcome_free(&inner);
    outcome_free(&outer);
}

/* Starts a one-shot from inside a line callback (deferred add) and another from its on_done. */
struct chain {
    struct outcome watch, first, second;
};

static void on_chain_second_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    on_done(req, res, data);
}

static void on_chain_first_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    struct chain *c = (struct chain *)((char *)data - offsetof(struct chain, first));
    on_done(req, res, data);
    ipd_kube_req_spec_t spec = {.path = "/echo?status=203", .on_done = on_chain_second_done, .data = &c->second};
    cr_assert_eq(ipd_kube_start(kube, &spec, &c->second.req), 0);
}

static void on_chain_line(ipd_kube_req_t *req, const char *line, size_t len, void *data)
{
    struct chain *c = (struct chain *)((char *)data - offsetof(struct chain, watch));
    on_line(req, line, len, data);
    if (c->watch.lines == 1) {
        ipd_kube_req_spec_t spec = {.path = "/echo?status=202", .on_done = on_chain_first_done, .data = &c->first};
        cr_assert_eq(ipd_kube_start(kube, &spec, &c->first.req), 0);
    }
}

Test(kube_client, requests_can_start_from_callbacks)
{
    client("http", plain.port, NULL, NULL, NULL);
    struct chain c = {0};
    ipd_kube_req_spec_t spec = {
        .path = "/lines?n=5&chunk=1", .on_done = on_done, .on_line = on_chain_line, .data = &c.watch};
    cr_assert_eq(ipd_kube_start(kube, &spec, &c.watch.req), 0);
    cr_assert(run_until(&c.second.done, 20000));
    cr_assert(run_until(&c.watch.done, 20000));
    cr_assert_eq(c.watch.lines, 5);
    cr_assert_eq(c.first.status, 202);
    cr_assert_eq(c.second.status, 203);
    cr_assert_eq(c.first.done + c.second.done + c.watch.done, 3);
    outcome_free(&c.watch);
    outcome_free(&c.first);
    outcome_free(&c.second);
}

Test(kube_client, bad_requests_fail_without_calling_back)
{
    char tok[512];
    snprintf(tok, sizeof(tok), "%s/token", tmpdir);
    FILE *f = fopen(tok, "w");
    cr_assert_not_null(f);
    fputs("t\n", f);
    fclose(f);
    client("http", plain.port, tok, NULL, NULL);
    struct outcome o = {0};
    ipd_kube_req_spec_t spec = {.path = "no-slash", .on_done = on_done, .data = &o};
    cr_assert_eq(ipd_kube_start(kube, &spec, NULL), IPD_EINVAL);
    spec.path = "/echo";
    spec.method = "TRACE";
    cr_assert_eq(ipd_kube_start(kube, &spec, NULL), IPD_EINVAL);
    spec.method = NULL;
    spec.on_line = on_line;
    spec.on_data = on_sink_data;
    cr_assert_eq(ipd_kube_start(kube, &spec, NULL), IPD_EINVAL, "lines and bytes at once");
    spec.on_data = NULL;
    cr_assert_eq(unlink(tok), 0);
    cr_assert_eq(ipd_kube_start(kube, &spec, NULL), -ENOENT, "an unreadable token file fails the start");
    run_for(100);
    cr_assert_eq(o.done, 0);
    cr_assert_eq(ipd_kube_pending(kube), 0);
}

static void write_token(const char *path, const char *token)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_geq(fprintf(f, "%s\n", token), 0);
    cr_assert_eq(fclose(f), 0);
}

Test(kube_client, token_file_is_reread_for_every_request)
{
    char tok[512];
    snprintf(tok, sizeof(tok), "%s/token", tmpdir);
    write_token(tok, "alpha");
    client("http", plain.port, tok, NULL, NULL);
    struct outcome a = {0}, b = {0};
    fetch(&a, "GET", "/echo", NULL, 0);
    cr_assert_not_null(strstr(a.body, "\"authorization\": \"Bearer alpha\""), "%s", a.body);
    write_token(tok, "beta");
    fetch(&b, "GET", "/echo", NULL, 0);
    cr_assert_not_null(strstr(b.body, "\"authorization\": \"Bearer beta\""), "%s", b.body);
    outcome_free(&a);
    outcome_free(&b);
}

/* Makes a self-signed certificate for 127.0.0.1 in tmpdir: <name>.crt and <name>.key. */
static void make_cert(const char *name)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout '%s/%s.key' -out '%s/%s.crt' >/dev/null 2>&1",
             tmpdir, name, tmpdir, name);
    cr_assert_eq(system(cmd), 0, "openssl req failed");
}

static void tls_server(void)
{
    char crt[512], key[512];
    make_cert("server");
    make_cert("other");
    snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
    snprintf(key, sizeof(key), "%s/server.key", tmpdir);
    server_start(&tls, crt, key);
}

Test(kube_client, tls_with_a_trusted_ca_file_succeeds)
{
    tls_server();
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/server.crt", tmpdir);
    client("https", tls.port, NULL, ca, NULL);
    struct outcome o = {0}, w = {0};
    fetch_ok(&o, "GET", "/echo", NULL, 200);
    fetch(&w, "GET", "/lines?n=20&chunk=3", NULL, 1);
    expect_watch_lines(&w, 20);
    outcome_free(&o);
    outcome_free(&w);
}

Test(kube_client, tls_with_inline_ca_data_succeeds)
{
    tls_server();
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/server.crt", tmpdir);
    ipd_kube_config_t cfg;
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", tls.port);
    cr_assert_eq(ipd_kube_config_server(&cfg, url, NULL, NULL, err, sizeof(err)), 0);
    FILE *f = fopen(ca, "r");
    cr_assert_not_null(f);
    cfg.ca_data.data = calloc(1, 8192);
    cfg.ca_data.len = fread(cfg.ca_data.data, 1, 8191, f);
    fclose(f);
    client_from(&cfg, NULL);
    struct outcome o = {0};
    fetch_ok(&o, "GET", "/echo", NULL, 200);
    outcome_free(&o);
}

Test(kube_client, tls_with_an_untrusted_certificate_fails_clearly)
{
    tls_server();
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/other.crt", tmpdir);
    client("https", tls.port, NULL, ca, NULL);
    struct outcome o = {0};
    fetch(&o, "GET", "/echo", NULL, 0);
    cr_assert_eq(o.error, -EPROTO, "%d %s", o.error, o.message);
    cr_assert_eq(o.status, 0);
    cr_assert_not_null(strstr(o.message, "certificate"), "%s", o.message);
    cr_assert_not_null(strstr(o.message, "GET https://127.0.0.1:"), "%s", o.message);
    outcome_free(&o);
}

Test(kube_client, tls_insecure_skip_verify_accepts_any_certificate)
{
    tls_server();
    ipd_kube_config_t cfg;
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", tls.port);
    cr_assert_eq(ipd_kube_config_server(&cfg, url, NULL, NULL, err, sizeof(err)), 0);
    cfg.insecure_skip_tls_verify = 1;
    client_from(&cfg, NULL);
    struct outcome o = {0};
    fetch(&o, "GET", "/echo", NULL, 0);
    cr_assert_eq(o.error, 0, "%s", o.message);
    outcome_free(&o);
}

Test(kube_client, escape_keeps_only_unreserved_characters)
{
    char *e = ipd_kube_escape("imgpulld.io/job=pj-1,app!=x y~_");
    cr_assert_str_eq(e, "imgpulld.io%2Fjob%3Dpj-1%2Capp%21%3Dx%20y~_");
    free(e);
    e = ipd_kube_escape("");
    cr_assert_str_eq(e, "");
    free(e);
}

/* Smoke test against the project's Kubernetes simulator: discovery, a pod watch, a Job create. */
struct sim_watch {
    struct outcome o;
    int added_pod;
};

static void on_sim_line(ipd_kube_req_t *req, const char *line, size_t len, void *data)
{
    struct sim_watch *w = data;
    on_line(req, line, len, &w->o);
    const char *added = "\"type\":\"ADDED\"", *name = "\"job-name\":\"smoke-1\"";
    if (memmem(line, len, added, strlen(added)) != NULL && memmem(line, len, name, strlen(name)) != NULL)
        w->added_pod = 1;
}

Test(kube_client, kubesim_smoke)
{
    char tok[512];
    snprintf(tok, sizeof(tok), "%s/token", tmpdir);
    write_token(tok, "smoke-token");
    script_start(&sim, "tests/kubesim/kubesim.py", "--token", "smoke-token", NULL, NULL);
    client("http", sim.port, tok, NULL, NULL);
    struct outcome v = {0}, job = {0};
    fetch(&v, "GET", "/version", NULL, 0);
    cr_assert_eq(v.status, 200, "%s", v.body);
    cr_assert_not_null(strstr(v.body, "\"gitVersion\""), "%s", v.body);

    struct sim_watch w = {0};
    ipd_kube_req_spec_t spec = {.path = "/api/v1/namespaces/imgpulld/pods?watch=true&allowWatchBookmarks=true",
                                .on_done = on_done,
                                .on_line = on_sim_line,
                                .data = &w};
    cr_assert_eq(ipd_kube_start(kube, &spec, &w.o.req), 0);
    const char *body = "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"smoke-1\","
                       "\"namespace\":\"imgpulld\"},\"spec\":{\"template\":{\"spec\":{\"nodeName\":\"node-1\","
                       "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"pull\",\"image\":\"busybox\"}]}}}}";
    fetch(&job, "POST", "/apis/batch/v1/namespaces/imgpulld/jobs", body, 0);
    cr_assert_eq(job.status, 201, "%ld %s", job.status, job.body);
    cr_assert(run_until(&w.added_pod, 10000), "the watch saw the Job's pod added: done=%d err=%s lines=%d %.500s",
              w.o.done, w.o.message, w.o.lines, w.o.text ? w.o.text : "");
    cr_assert_eq(w.o.done, 0);
    ipd_kube_cancel(w.o.req);
    outcome_free(&v);
    outcome_free(&job);
    outcome_free(&w.o);
}
