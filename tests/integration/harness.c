#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : dflt;
}

static pid_t spawn(const char *const *argv, const char *const *env, const char *log)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
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

h_proc_t h_start_kubesim(const char *const *args)
{
    h_proc_t p = {.port = h_free_port()};
    char script[512], port[16];
    snprintf(script, sizeof(script), "%s/tests/kubesim/kubesim.py", env_or("IPD_SOURCE_DIR", "."));
    snprintf(port, sizeof(port), "%d", p.port);
    snprintf(p.log, sizeof(p.log), "/tmp/ipd-kubesim-%d-%d.log", (int)getpid(), p.port);
    const char *argv[32] = {"/usr/bin/python3", "-u", script, "--port", port};
    size_t n = 5;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p.pid = spawn(argv, NULL, p.log);
    uint64_t deadline = h_now_ms() + 15000;
    while (!h_log_contains(&p, "listening on")) {
        int st;
        if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
            h_dump_log(&p);
            cr_assert_fail("the simulator exited at start");
        }
        if (h_now_ms() > deadline) {
            h_dump_log(&p);
            cr_assert_fail("the simulator did not start within 15 s");
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
    snprintf(p.log, sizeof(p.log), "/tmp/ipd-daemon-%d-%llu.log", (int)getpid(), (unsigned long long)h_now_ms());
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
    FILE *f = fopen(p->log, "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
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

int h_http(int port, const char *method, const char *path, const char *body, const char *const *headers,
           h_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (body != NULL && headers == NULL)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
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

int h_wait(int (*pred)(void *ctx), void *ctx, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    int v;
    while (!(v = pred(ctx)) && h_now_ms() < deadline)
        usleep(50000);
    return v;
}

void h_instance(char *out, size_t cap, const char *tag)
{
    snprintf(out, cap, "t%d-%s", (int)getpid(), tag);
}
