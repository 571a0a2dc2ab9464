#include "harness.h"
#include "common/instance.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int h_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect to port %d: %s", port, strerror(errno));
    return fd;
}

/* Reads from fd until EOF, `timeout_ms`, or (when `until` is not NULL) until `until` was read. */
static char *read_until(int fd, int timeout_ms, int *eof, const char *until)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    *eof = 0;
    buf[0] = '\0';
    while (until == NULL || strstr(buf, until) == NULL) {
        int left = (int)((int64_t)deadline - (int64_t)h_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0) {
            *eof = 1;
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (len + 1 >= cap) {
            buf = realloc(buf, cap *= 2);
            cr_assert_not_null(buf);
        }
    }
    return buf;
}

char *h_read_all(int fd, int timeout_ms, int *eof)
{
    return read_until(fd, timeout_ms, eof, NULL);
}

void h_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

char *h_raw(int port, const char *text, int timeout_ms, int *eof)
{
    int fd = h_dial(port);
    h_send_all(fd, text, strlen(text));
    char *out = h_read_all(fd, timeout_ms, eof);
    close(fd);
    return out;
}

int h_raw_status(int port, const char *text)
{
    int fd = h_dial(port);
    h_send_all(fd, text, strlen(text));
    int eof;
    char *out = read_until(fd, 5000, &eof, "\r\n");
    close(fd);
    int status = 0;
    sscanf(out, "HTTP/1.%*d %d", &status);
    free(out);
    return status;
}

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether 127.0.0.1:`port` can be bound now (`port` 0: any); the port bound, or -1. */
static int try_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
    close(fd);
    return ok ? ntohs(sa.sin_port) : -1;
}

/*
 * A port below the kernel's ephemeral range (net.ipv4.ip_local_port_range), from 10000 up: the
 * kernel gives a port of that range to any process's outgoing connection, so one picked there
 * may be taken while a test restarts its daemon on it. The last ports given are not given again,
 * since a test picks several before it binds any.
 */
int h_free_port(void)
{
    static unsigned seed;
    static int given[64];
    static size_t n_given;
    int low = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d", &low) != 1)
            low = 32768;
        fclose(f);
    }
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int tries = 0; low > 11000 && tries < 1000; tries++) {
        int port = 10000 + (int)(rand_r(&seed) % (unsigned)(low - 10000)), seen = 0;
        for (size_t i = 0; i < n_given && i < 64; i++)
            seen |= given[i] == port;
        if (seen || try_port(port) < 0)
            continue;
        given[n_given++ % 64] = port;
        return port;
    }
    int port = try_port(0);
    cr_assert(port > 0, "no free port on 127.0.0.1");
    return port;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : dflt;
}

static char log_dir_path[128];
static pid_t log_dir_owner;

static void remove_log_dir(void)
{
    if (getpid() != log_dir_owner) /* a forked child that exits: the directory is its parent's */
        return;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", log_dir_path);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", log_dir_path);
}

/* The directory of this test process's daemon and simulator logs, /tmp/ipd-<instance prefix><pid>-logs,
 * removed when the process exits (and by tests/shm_check.sh after a crash). */
static const char *log_dir(void)
{
    if (log_dir_owner != getpid()) {
        char name[96];
        h_instance(name, sizeof(name), "logs");
        snprintf(log_dir_path, sizeof(log_dir_path), "/tmp/ipd-%s", name);
        cr_assert(mkdir(log_dir_path, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", log_dir_path, strerror(errno));
        if (log_dir_owner == 0)
            atexit(remove_log_dir);
        log_dir_owner = getpid();
    }
    return log_dir_path;
}

static pid_t spawn(const char *const *argv, const char *const *env, const char *log)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* A test process that dies (a crash, a failed assertion without cleanup) takes its
         * daemons and simulators with it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

h_proc_t h_start_redis(const char *dir, int port_or_0, const char *const *args)
{
    h_proc_t p = {.port = port_or_0 ? port_or_0 : h_free_port()};
    char port[16];
    snprintf(port, sizeof(port), "%d", p.port);
    snprintf(p.log, sizeof(p.log), "/tmp/ipd-redis-%d-%llu.log", (int)getpid(), (unsigned long long)h_now_ms());
    /* No persistence: nothing is written to `dir` but what Redis insists on creating. */
    const char *argv[48] = {
        "redis-server", "--port", port, "--bind",           "127.0.0.1", "--save",      "",  "--appendonly",
        "no",           "--dir",  dir,  "--protected-mode", "no",        "--daemonize", "no"};
    size_t n = 15;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p.pid = spawn(argv, NULL, p.log);
    char cmd[128], out[64];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d PING 2>/dev/null", p.port);
    uint64_t deadline = h_now_ms() + 10000;
    while (h_now_ms() < deadline) {
        out[0] = '\0';
        if (h_sh(cmd, out, sizeof(out)) == 0 && strncmp(out, "PONG", 4) == 0)
            return p;
        usleep(50000);
    }
    h_dump_log(&p);
    cr_assert_fail("redis-server did not answer PING on port %d", p.port);
    return p;
}

h_proc_t h_start_kubesim(const char *const *args)
{
    h_proc_t p = {.port = h_free_port()};
    char script[512], port[16];
    snprintf(script, sizeof(script), "%s/tests/kubesim/kubesim.py", env_or("IPD_SOURCE_DIR", "."));
    snprintf(port, sizeof(port), "%d", p.port);
    snprintf(p.log, sizeof(p.log), "%s/kubesim-%d.log", log_dir(), p.port);
    const char *argv[32] = {"/usr/bin/python3", "-u", script, "--port", port};
    size_t n = 5;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p.pid = spawn(argv, NULL, p.log);
    /* A bound for a hung start, not a speed check: under a load of 20 on two cores the
     * simulator's imports alone have taken over 15 s. */
    uint64_t deadline = h_now_ms() + 60000;
    while (!h_log_contains(&p, "listening on")) {
        int st;
        if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
            h_dump_log(&p);
            cr_assert_fail("the simulator exited at start");
        }
        if (h_now_ms() > deadline) {
            h_dump_log(&p);
            cr_assert_fail("the simulator did not start within 60 s");
        }
        usleep(20000);
    }
    return p;
}

h_proc_t h_start_daemon(const char *const *args, const char *const *env)
{
    h_proc_t p = {0};
    char bin[512];
    snprintf(bin, sizeof(bin), "%s/imgpulld", env_or("IPD_BUILD_DIR", "build"));
    /* Numbered as well: daemons started within one millisecond must not share a log. */
    static unsigned started;
    snprintf(p.log, sizeof(p.log), "%s/daemon-%llu-%u.log", log_dir(), (unsigned long long)h_now_ms(), ++started);
    const char *argv[64] = {bin};
    size_t n = 1;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p.pid = spawn(argv, env, p.log);
    return p;
}

int h_stop(h_proc_t *p, int sig, int timeout_ms)
{
    int st = 0;
    if (p->pid <= 0)
        return 0;
    kill(p->pid, sig);
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (waitpid(p->pid, &st, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    p->pid = 0;
    return st;
}

int h_log_contains(const h_proc_t *p, const char *needle)
{
    return h_log_count(p, needle) > 0;
}

void h_dump_log(const h_proc_t *p)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", p->log);
    int rc = system(cmd);
    (void)rc;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    h_resp_t *r = ud;
    size_t len = size * n;
    char *b = realloc(r->body, r->len + len + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, ptr, len);
    r->len += len;
    b[r->len] = '\0';
    r->body = b;
    return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    h_resp_t *r = ud;
    size_t len = size * n, used = strlen(r->headers);
    if (used + len < sizeof(r->headers)) {
        memcpy(r->headers + used, ptr, len);
        r->headers[used + len] = '\0';
    }
    return len;
}

int h_http(int port, const char *method, const char *path, const char *body, const char *const *headers, h_resp_t *out)
{
    static const char *const json_type[] = {"Content-Type: application/json", NULL};
    h_req_t rq = {.method = method, .path = path, .body = body, .headers = headers};
    if (body != NULL && headers == NULL)
        rq.headers = json_type;
    return h_request(port, &rq, out, NULL);
}

void h_resp_free(h_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

json_t *h_http_json(int port, const char *method, const char *path, const char *body, long *status)
{
    h_resp_t r;
    json_t *doc = NULL;
    if (h_http(port, method, path, body, NULL, &r) == 0 && r.body != NULL)
        doc = json_loadb(r.body, r.len, 0, NULL);
    if (status != NULL)
        *status = r.status;
    h_resp_free(&r);
    return doc;
}

void h_post_pull_at(const char *file, int line, int port, const char *body, char *id, size_t cap)
{
    long st = 0;
    json_t *doc = h_http_json(port, "POST", "/api/v1/images/pull", body, &st);
    const char *message = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    ipd_assert_at(file, line, st == 202, "POST %s: %ld %s", body, st, message != NULL ? message : "");
    const char *s = json_string_value(json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "id"));
    ipd_assert_at(file, line, s != NULL, "POST %s: no job id", body);
    snprintf(id, cap, "%s", s);
    json_decref(doc);
}

json_t *h_get_job(int port, const char *id, long *status)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    return h_http_json(port, "GET", path, NULL, status);
}

json_t *h_expect_job_at(const char *file, int line, int port, const char *id)
{
    long status = 0;
    json_t *doc = h_get_job(port, id, &status);
    ipd_assert_at(file, line, doc != NULL && status == 200, "GET job %s: %ld", id, status);
    return doc;
}

void h_expect_cancel_at(const char *file, int line, int port, const char *id)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    long st = 0;
    json_t *doc = h_http_json(port, "DELETE", path, NULL, &st);
    ipd_assert_at(file, line, st == 202, "DELETE %s: %ld %s", path, st,
                  json_string_value(json_object_get(json_object_get(doc, "error"), "message")) ?: "");
    const char *state = json_string_value(json_object_get(doc, "state"));
    ipd_expect_at(file, line, state != NULL && strcmp(state, "cancelled") == 0, "DELETE %s: state %s, want cancelled",
                  path, state ? state : "(none)");
    json_decref(doc);
}

typedef struct job_state_want {
    int port;
    const char *id, *state;
    char seen[64];
} job_state_want_t;

static int job_state_is(void *ctx)
{
    job_state_want_t *s = ctx;
    json_t *job = h_get_job(s->port, s->id, NULL);
    snprintf(s->seen, sizeof(s->seen), "%s", json_string_value(json_object_get(job, "state")) ?: "(none)");
    json_decref(job);
    return strcmp(s->seen, s->state) == 0;
}

void h_expect_job_state_at(const char *file, int line, int port, const char *id, const char *state, int timeout_ms)
{
    job_state_want_t s = {port, id, state, ""};
    ipd_assert_at(file, line, h_wait(job_state_is, &s, timeout_ms), "job %s: want %s, last seen %s", id, state, s.seen);
}

void h_sim_ok_at(const char *file, int line, int port, const char *method, const char *path, const char *body)
{
    h_resp_t r;
    ipd_assert_at(file, line, h_http(port, method, path, body, NULL, &r) == 0, "%s %s: transport", method, path);
    ipd_assert_at(file, line, r.status >= 200 && r.status < 300, "%s %s: %ld %s", method, path, r.status,
                  r.body ? r.body : "");
    h_resp_free(&r);
}

int h_sim_injections_used(void *port)
{
    json_t *doc = h_http_json(*(int *)port, "GET", "/_sim/inject", NULL, NULL);
    int none = doc != NULL && json_array_size(json_object_get(doc, "pending")) == 0;
    json_decref(doc);
    return none;
}

void h_sim_web_pod_at(const char *file, int line, int port, const char *name, const char *image)
{
    char pod[512];
    snprintf(pod, sizeof(pod),
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":{\"app\":\"web\"}},"
             "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"app\",\"image\":\"%s\"}]}}",
             name, image);
    h_sim_ok_at(file, line, port, "POST", "/api/v1/namespaces/default/pods", pod);
}

int h_wait(int (*pred)(void *ctx), void *ctx, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    int v;
    while (!(v = pred(ctx)) && h_now_ms() < deadline)
        usleep(50000);
    return v;
}

typedef struct job_at {
    int port;
    const char *name;
} job_at_t;

/* The simulator's answer to a GET of Job `name`. */
static long job_status(int port, const char *name)
{
    char path[300];
    long st = 0;
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs/%s", name);
    json_decref(h_http_json(port, "GET", path, NULL, &st));
    return st;
}

static int job_gone(void *ctx)
{
    const job_at_t *j = ctx;
    return job_status(j->port, j->name) == 404;
}

int h_sim_has_job(int port, const char *name)
{
    return job_status(port, name) == 200;
}

int h_sim_job_gone(int port, const char *name, int timeout_ms)
{
    job_at_t j = {port, name};
    return h_wait(job_gone, &j, timeout_ms);
}

void h_instance(char *out, size_t cap, const char *tag)
{
    ipd_test_instance(out, cap, tag);
}

/* ---- Serving helpers ---- */

int h_log_wait(const h_proc_t *p, const char *needle, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    int found;
    while (!(found = h_log_contains(p, needle)) && h_now_ms() < deadline)
        usleep(20000);
    return found;
}

size_t h_log_count(const h_proc_t *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    if (f == NULL)
        return 0;
    char line[8192];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        for (const char *s = line; (s = strstr(s, needle)) != NULL; s += strlen(needle))
            n++;
    fclose(f);
    return n;
}

void h_wait_ready(const h_proc_t *daemon, int port, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        h_resp_t r;
        int rc = h_http(port, "GET", "/readyz", NULL, NULL, &r);
        long status = r.status;
        h_resp_free(&r);
        if (rc == 0 && status == 200)
            return;
        int st;
        if (waitpid(daemon->pid, &st, WNOHANG) == daemon->pid) {
            h_dump_log(daemon);
            cr_assert_fail("the daemon exited at start (status %d)", st);
        }
        if (h_now_ms() > deadline) {
            h_dump_log(daemon);
            cr_assert_fail("the daemon was not ready within %d ms (last /readyz: %ld)", timeout_ms, status);
        }
        usleep(50000);
    }
}

int h_request(int port, const h_req_t *rq, h_resp_t *out, long *http_version)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", rq->ca_file ? "https" : "http", port, rq->path);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
        hl = curl_slist_append(hl, rq->headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method ? rq->method : "GET");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, rq->http_version ? rq->http_version : (long)CURL_HTTP_VERSION_1_1);
    if (rq->method != NULL && strcmp(rq->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (rq->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (rq->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(rq->body_len ? rq->body_len : strlen(rq->body)));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (http_version != NULL) {
        long v = 0;
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &v);
        *http_version = v;
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        out->status = 0;
    return rc == CURLE_OK ? 0 : -1;
}

int h_resp_header(const h_resp_t *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = (size_t)(line + len - v);
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            snprintf(out, cap, "%.*s", (int)vlen, v);
            return 1;
        }
        line += len + (eol ? 1 : 0);
    }
    if (cap > 0)
        out[0] = '\0';
    return 0;
}

void h_expect_status_at(const char *file, int line, int port, const char *method, const char *path, const char *body,
                        const char *const *headers, long status, const char *what)
{
    char label[512];
    snprintf(label, sizeof(label), "%s %s%s%s%s", method, path, what ? " (" : "", what ? what : "", what ? ")" : "");
    h_resp_t r;
    ipd_assert_at(file, line, h_http(port, method, path, body, headers, &r) == 0, "%s: transport failure", label);
    ipd_assert_at(file, line, r.status == status, "%s: status %ld, expected %ld: %s", label, r.status, status,
                  r.body ? r.body : "");
    h_resp_free(&r);
}

void h_expect_error_body_at(const char *file, int line, const h_resp_t *r, long status, const char *code,
                            const char *prefix, const char *what)
{
    ipd_assert_at(file, line, r->status == status, "%s: status %ld, expected %ld: %s", what, r->status, status,
                  r->body ? r->body : "");
    char v[256] = "";
    h_resp_header(r, "content-type", v, sizeof(v));
    ipd_assert_at(file, line, strncmp(v, "application/json", 16) == 0, "%s: content-type %s", what, v);
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);
    ipd_assert_at(file, line, doc != NULL, "%s: error body is not JSON: %s", what, r->body);
    json_t *err = json_object_get(doc, "error");
    const char *c = json_string_value(json_object_get(err, "code"));
    const char *m = json_string_value(json_object_get(err, "message"));
    ipd_assert_at(file, line, c != NULL && m != NULL, "%s: no error code and message: %s", what, r->body);
    ipd_assert_at(file, line, strcmp(c, code) == 0, "%s: code %s, expected %s", what, c, code);
    if (prefix != NULL)
        ipd_assert_at(file, line, strncmp(m, prefix, strlen(prefix)) == 0,
                      "%s: message \"%s\" does not start with \"%s\"", what, m, prefix);
    json_decref(doc);
}

void h_notify_open(h_notify_t *n)
{
    static unsigned seq;
    memset(n, 0, sizeof(*n));
    snprintf(n->path, sizeof(n->path), "/tmp/ipd-notify-%d-%u.sock", (int)getpid(), seq++);
    unlink(n->path);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(n->fd, 0, "socket(AF_UNIX): %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", n->path);
    cr_assert_eq(bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", n->path, strerror(errno));
    snprintf(n->env, sizeof(n->env), "NOTIFY_SOCKET=%s", n->path);
}

int h_notify_recv(h_notify_t *n, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = n->fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
        return -1;
    ssize_t len = recv(n->fd, buf, cap - 1, 0);
    if (len < 0)
        return -1;
    buf[len] = '\0';
    return (int)len;
}

static int has_line(const char *text, const char *line)
{
    size_t ll = strlen(line);
    for (const char *s = text; (s = strstr(s, line)) != NULL; s++)
        if ((s == text || s[-1] == '\n') && (s[ll] == '\0' || s[ll] == '\n'))
            return 1;
    return 0;
}

int h_notify_wait(h_notify_t *n, const char *line, int timeout_ms, char *seen, size_t seencap)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    char buf[2048];
    for (;;) {
        int left = (int)((int64_t)deadline - (int64_t)h_now_ms());
        if (left < 0 || h_notify_recv(n, buf, sizeof(buf), left) < 0)
            return 0;
        if (seen != NULL) {
            size_t used = strlen(seen);
            snprintf(seen + used, seencap - used, "%s\n", buf);
        }
        if (has_line(buf, line))
            return 1;
    }
}

void h_notify_close(h_notify_t *n)
{
    if (n->fd > 0)
        close(n->fd);
    unlink(n->path);
    n->fd = -1;
}

int h_sh(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "popen %s: %s", cmd, strerror(errno));
    size_t used = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out != NULL && used + 1 < cap) {
            size_t take = n < cap - 1 - used ? n : cap - 1 - used;
            memcpy(out + used, chunk, take);
            used += take;
        }
    }
    if (out != NULL && cap > 0)
        out[used] = '\0';
    return pclose(f);
}

void h_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len, "write %s", path);
    close(fd);
}

size_t h_worker_pids(const h_proc_t *daemon, unsigned generation, pid_t *pids, size_t cap)
{
    FILE *f = fopen(daemon->log, "r");
    size_t found = 0;
    char line[8192];
    for (size_t i = 0; i < cap; i++)
        pids[i] = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        const char *s = strstr(line, "\"msg\":\"worker ");
        int pid, slot;
        unsigned gen;
        if (s != NULL && sscanf(s, "\"msg\":\"worker %d started on slot %d (generation %u)", &pid, &slot, &gen) == 3 &&
            gen == generation && slot >= 0 && (size_t)slot < cap) {
            if (pids[slot] == 0)
                found++;
            pids[slot] = (pid_t)pid; /* a respawn replaces the slot's pid */
        }
    }
    if (f != NULL)
        fclose(f);
    return found;
}

void h_unlink_instance(const char *instance)
{
    ipd_table_unlink(instance);
    ipd_stats_unlink(instance);
}

void h_world_sim(h_world_t *w, const char *tag, const char *const *sim_args)
{
    memset(w, 0, sizeof(*w));
    h_instance(w->instance, sizeof(w->instance), tag);
    snprintf(w->dir, sizeof(w->dir), "/tmp/ipd-%s", w->instance);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", w->dir, w->dir);
    cr_assert_eq(h_sh(cmd, NULL, 0), 0, "%s", cmd);
    snprintf(w->conf, sizeof(w->conf), "%s/imgpulld.conf", w->dir);
    w->sim = h_start_kubesim(sim_args);
}

/* True if the configuration text sets `directive` on one of its lines. */
static int conf_sets(const char *text, const char *directive)
{
    size_t dl = strlen(directive);
    for (const char *s = text; s != NULL && (s = strstr(s, directive)) != NULL; s++)
        if ((s == text || s[-1] == '\n') && (s[dl] == ' ' || s[dl] == '\t'))
            return 1;
    return 0;
}

void h_world_write_conf(h_world_t *w, const char *extra)
{
    char text[8192];
    int n = 0;
    if (!w->kube_unset && !conf_sets(extra, "kube_server") && !conf_sets(extra, "kubeconfig"))
        n = snprintf(text, sizeof(text), "kube_server http://127.0.0.1:%d\n", w->sim.port);
    n += snprintf(text + n, sizeof(text) - (size_t)n, "instance %s\nstats_file %s/stats.json\n", w->instance, w->dir);
    if (!conf_sets(extra, "listen")) {
        if (w->port == 0)
            w->port = h_free_port();
        n += snprintf(text + n, sizeof(text) - (size_t)n, "listen 127.0.0.1:%d\n", w->port);
    } else {
        const char *l = strstr(extra, "listen ");
        const char *colon = l + strcspn(l, "\n");
        while (colon > l && colon[-1] != ':')
            colon--;
        cr_assert(colon > l, "listen line without a port");
        w->port = atoi(colon);
    }
    if (!conf_sets(extra, "workers"))
        n += snprintf(text + n, sizeof(text) - (size_t)n, "workers 2\n");
    if (!conf_sets(extra, "watch_backoff_max"))
        n += snprintf(text + n, sizeof(text) - (size_t)n, "watch_backoff_max 1s\n");
    snprintf(text + n, sizeof(text) - (size_t)n, "%s", extra != NULL ? extra : "");
    h_write_file(w->conf, text);
}

void h_world_daemon(h_world_t *w, const char *extra, const char *const *env, int ready)
{
    h_world_write_conf(w, extra);
    const char *args[] = {"-c", w->conf, NULL};
    w->daemon = h_start_daemon(args, env);
    if (ready)
        h_wait_ready(&w->daemon, w->port, 20000);
}

void h_world_daemon_tokens(h_world_t *w, const char *tokens, const char *extra)
{
    char path[192], conf[1024];
    snprintf(path, sizeof(path), "%s/tokens", w->dir);
    h_write_file(path, tokens);
    snprintf(conf, sizeof(conf), "tokens_file %s\n%s", path, extra ? extra : "");
    h_world_daemon(w, conf, NULL, 1);
}

int h_world_stop(h_world_t *w)
{
    int st = h_stop(&w->daemon, SIGTERM, 15000);
    h_stop(&w->sim, SIGTERM, 5000);
    h_unlink_instance(w->instance);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    h_sh(cmd, NULL, 0);
    return st;
}

void h_world_stop_clean(h_world_t *w)
{
    int st = h_world_stop(w);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon did not stop cleanly (status %d)", st);
}

void h_world_teardown(h_world_t *w)
{
    if (w->daemon.pid > 0 || w->sim.pid > 0)
        h_world_stop(w);
}
