/*
 * Serving, part 4: the worker processes under signals. Reloads under HTTP/2 and HTTP/1.1 load
 * lose no request; a killed worker is respawned on its slot while the other worker's clients see
 * nothing; SIGTERM lets a request in flight complete.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "3", "--pull-ms", "60000", NULL};

static h_world_t w;

/* Runs after every test, also after a failed assertion: nothing outlives the test. */
static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
}

static void post_jobs(int n)
{
    const char *const json_hdr[] = {"Content-Type: application/json", NULL};
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"image\":\"docker.io/library/img-%d:1\",\"all_nodes\":true}", i);
        h_resp_t r;
        cr_assert_eq(h_http(w.port, "POST", "/api/v1/images/pull", body, json_hdr, &r), 0);
        cr_assert_eq(r.status, 202, "%s", r.body);
        h_resp_free(&r);
    }
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* What a load run saw: answers by outcome, and the first failure in words. */
typedef struct load_result {
    unsigned long ok, not_2xx, failed, retried, connections;
    char first[256];
} load_result_t;

/* Counts libcurl's silent retries: a kept-alive connection closed with the request unanswered. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    static const char died[] = "Connection died, retrying";
    if (type == CURLINFO_TEXT && size >= sizeof(died) - 1 && memcmp(data, died, sizeof(died) - 1) == 0)
        ((load_result_t *)ud)->retried++;
    return 0;
}

/*
 * Keeps `inflight` GETs in flight for `ms` over kept-alive HTTP/1.1 connections, sending the
 * daemon `hups` SIGHUPs 250 ms apart from 100 ms on. libcurl does what the protocol allows a
 * client on a reload: it sends no new request on a connection answered with "Connection:
 * close". A kept-alive connection closed before the answer came loses the request in flight
 * (libcurl retries it on a fresh connection, which is counted in `retried`); so does a refused
 * connection.
 */
static void load_with_reloads(int inflight, int hups, uint64_t ms, load_result_t *res)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/images/pull-active", w.port);
    memset(res, 0, sizeof(*res));
    CURLM *m = curl_multi_init();
    cr_assert_not_null(m);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
    CURL *e[64];
    cr_assert_leq(inflight, 64);
    for (int i = 0; i < inflight; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(e[i], CURLOPT_VERBOSE, 1L);
        curl_easy_setopt(e[i], CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(e[i], CURLOPT_DEBUGDATA, res);
        curl_multi_add_handle(m, e[i]);
    }
    uint64_t start = h_now_ms(), end = start + ms;
    int sent = 0, running = inflight;
    while (running > 0) {
        uint64_t now = h_now_ms();
        if (sent < hups && now >= start + 100 + (uint64_t)sent * 250) {
            kill(w.daemon.pid, SIGHUP);
            sent++;
        }
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            long status = 0, conns = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
            res->connections += (unsigned long)conns;
            if (msg->data.result != CURLE_OK) {
                if (res->failed++ == 0)
                    snprintf(res->first, sizeof(res->first), "%s", curl_easy_strerror(msg->data.result));
            } else if (status < 200 || status > 299) {
                if (res->not_2xx++ == 0)
                    snprintf(res->first, sizeof(res->first), "status %ld", status);
            } else {
                res->ok++;
            }
            curl_multi_remove_handle(m, h);
            if (h_now_ms() < end) {
                curl_multi_add_handle(m, h);
                running++;
            }
        }
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    for (int i = 0; i < inflight; i++)
        curl_easy_cleanup(e[i]);
    curl_multi_cleanup(m);
    cr_assert_geq(sent, hups, "the run ended before its reloads");
}

Test(serving, sighup_during_h2load_fails_no_request, .fini = teardown)
{
    h_world_sim(&w, "hupload", sim_args);
    h_world_daemon(&w, "reload_drain_timeout 20s\nrequest_rate_per_conn 1000000\n", NULL, 1);
    post_jobs(5);
    char out[256], cmd[512];
    snprintf(out, sizeof(out), "%s/h2load.txt", w.dir);
    snprintf(cmd, sizeof(cmd), "h2load -D 3 -c 10 -m 10 http://127.0.0.1:%d/api/v1/images/pull-active", w.port);
    pid_t load = fork();
    cr_assert_geq(load, 0);
    if (load == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    usleep(100000);
    int hups = 0, st = 0;
    for (; hups < 8 && waitpid(load, &st, WNOHANG) == 0; hups++) {
        kill(w.daemon.pid, SIGHUP);
        usleep(250000);
    }
    uint64_t deadline = h_now_ms() + 60000;
    while (waitpid(load, &st, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(load, SIGKILL);
            waitpid(load, &st, 0);
            cr_assert_fail("h2load did not finish");
        }
        usleep(20000);
    }
    char text[16384];
    snprintf(cmd, sizeof(cmd), "cat %s", out);
    h_sh(cmd, text, sizeof(text));
    cr_assert_geq(hups, 2, "h2load finished before two reloads; make the run longer: %s", text);
    unsigned long total = 0, succeeded = 0, failed = 0, errored = 0, timeouts = 0;
    const char *rl = strstr(text, "requests:");
    cr_assert_not_null(rl, "h2load: %s", text);
    cr_assert_eq(
        sscanf(rl, "requests: %lu total, %*u started, %*u done, %lu succeeded, %lu failed, %lu errored, %lu timeout",
               &total, &succeeded, &failed, &errored, &timeouts),
        5, "%s", rl);
    /*
     * An old worker sends GOAWAY (last stream 2^31-1: it finishes every stream it has) and
     * answers what it read. h2load 1.52 answers the first GOAWAY with its own and closes the
     * connection, counting its streams in flight as failed and errored, at most clients x
     * streams (10 x 10), and its timed mode does not reconnect: how many requests it makes
     * depends on how soon the first reload comes, so no count of them is asserted. Every answer
     * must be a 2xx. That no request is lost is checked with HTTP/1.1 keep-alive clients in
     * sighup_under_http1_load_fails_no_request; libcurl 7.88 cannot reuse an h2c connection
     * (its second request fails in its HTTP/2 framing layer, against h2o's own server too).
     */
    unsigned long c2 = 0, c3 = 0, c4 = 0, c5 = 0;
    const char *sc = strstr(text, "status codes:");
    cr_assert(sc != NULL && sscanf(sc, "status codes: %lu 2xx, %lu 3xx, %lu 4xx, %lu 5xx", &c2, &c3, &c4, &c5) == 4,
              "%s", text);
    cr_assert(c3 == 0 && c4 == 0 && c5 == 0 && c2 == succeeded, "%d reloads during the run: %s", hups, text);
    cr_assert(failed <= 100 && errored <= 100 && timeouts == 0 && succeeded > 0, "%d reloads during the run: %s", hups,
              text);
    cr_assert_geq(h_log_count(&w.daemon, "configuration reloaded"), (size_t)hups - 1);
    cr_assert(!h_log_contains(&w.daemon, "still draining"), "a worker had to be killed after the drain timeout");
    int dst = h_world_stop(&w);
    cr_assert(WIFEXITED(dst) && WEXITSTATUS(dst) == 0, "exit status %d", dst);
}

Test(serving, sighup_under_http1_load_fails_no_request, .fini = teardown)
{
    h_world_sim(&w, "hup1", sim_args);
    h_world_daemon(&w, "reload_drain_timeout 20s\nrequest_rate_per_conn 1000000\n", NULL, 1);
    post_jobs(5);
    load_result_t r;
    load_with_reloads(20, 4, 2500, &r);
    cr_assert(r.failed == 0 && r.not_2xx == 0 && r.retried == 0,
              "%lu failed, %lu not 2xx and %lu closed unanswered of %lu (first: %s)", r.failed, r.not_2xx, r.retried,
              r.ok + r.failed + r.not_2xx, r.first);
    cr_assert_gt(r.ok, 100, "only %lu answers", r.ok);
    /* The requests went over kept-alive connections, and the reloads ended some of them. */
    cr_assert(r.connections > 20 && r.connections < r.ok / 2, "%lu connections for %lu requests", r.connections, r.ok);
    cr_assert(h_log_wait(&w.daemon, "reload complete", 10000));
    cr_assert(!h_log_contains(&w.daemon, "still draining"), "a worker had to be killed after the drain timeout");
    int dst = h_world_stop(&w);
    cr_assert(WIFEXITED(dst) && WEXITSTATUS(dst) == 0, "exit status %d", dst);
}

/* A keep-alive HTTP/1.1 connection held by one easy handle. */
typedef struct held {
    CURL *c;
    long local_port;
    pid_t server_pid;
    uint64_t idle_since; /* h_now_ms() when its last answer came */
    h_resp_t r;
} held_t;

/* One GET on the held connection; returns the status (0 on transport failure) and whether it reused the connection. */
static long held_get(held_t *h, int *reused)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/images/pull-active", w.port);
    curl_easy_setopt(h->c, CURLOPT_URL, url);
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h->c, CURLOPT_MAXCONNECTS, 1L);
    long status = 0, conns = 0;
    if (curl_easy_perform(h->c) != CURLE_OK)
        return 0;
    curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h->c, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(h->c, CURLINFO_LOCAL_PORT, &h->local_port);
    h->idle_since = h_now_ms();
    if (reused != NULL)
        *reused = conns == 0;
    return status;
}

/* The pid of the process holding the server side of the connection from `local_port`. */
static pid_t server_pid_of(long local_port)
{
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "ss -tnpH state established '( sport = :%d and dport = :%ld )'", w.port, local_port);
    h_sh(cmd, out, sizeof(out));
    const char *p = strstr(out, "pid=");
    return p != NULL ? (pid_t)atoi(p + 4) : 0;
}

Test(serving, killed_worker_is_respawned_and_the_other_workers_clients_see_no_error, .fini = teardown)
{
    h_world_sim(&w, "kill9", sim_args);
    /*
     * The held connections wait while the others are opened (each also runs ss(8)), which on a
     * loaded machine took longer than the default http_idle_timeout (10 s): the worker then
     * closed the first ones as idle, as it should, and they were not reused. This test is about
     * a worker's death, so idle connections are kept for the longest timeout allowed.
     */
    h_world_daemon(&w, "respawn_backoff_initial 100ms\nhttp_idle_timeout 1h\n", NULL, 1);
    post_jobs(3);
    pid_t gen[2];
    cr_assert_eq(h_worker_pids(&w.daemon, 1, gen, 2), 2);

    held_t held[16];
    size_t nheld = 0, on[2] = {0, 0};
    for (; nheld < 16 && (nheld < 8 || on[0] == 0 || on[1] == 0); nheld++) {
        held_t *h = &held[nheld];
        memset(h, 0, sizeof(*h));
        h->c = curl_easy_init();
        cr_assert_eq(held_get(h, NULL), 200);
        h->server_pid = server_pid_of(h->local_port);
        cr_assert(h->server_pid == gen[0] || h->server_pid == gen[1], "connection from port %ld served by pid %d",
                  h->local_port, (int)h->server_pid);
        on[h->server_pid == gen[1]]++;
    }
    cr_assert(on[0] > 0 && on[1] > 0, "the connections did not spread over both workers (%zu, %zu)", on[0], on[1]);

    /* Kill worker 0. */
    pid_t victim = gen[0], survivor = gen[1];
    cr_assert_eq(kill(victim, SIGKILL), 0);
    /* The survivor's connections keep working, on the same connections. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < nheld; i++) {
            if (held[i].server_pid != survivor)
                continue;
            int reused = 0;
            uint64_t idle = h_now_ms() - held[i].idle_since;
            long status = held_get(&held[i], &reused);
            cr_assert_eq(status, 200, "a request on the surviving worker's connection failed (%ld)", status);
            cr_assert(reused, "the surviving worker's connection was not kept (idle for %llu ms)",
                      (unsigned long long)idle);
        }
        usleep(50000);
    }
    char needle[128];
    snprintf(needle, sizeof(needle), "worker %d (slot 0) killed by signal 9", (int)victim);
    cr_assert(h_log_wait(&w.daemon, needle, 3000), "the master did not log the death");
    cr_assert(h_log_wait(&w.daemon, "respawning worker slot 0", 3000));
    uint64_t deadline = h_now_ms() + 5000;
    pid_t now[2] = {0, 0};
    while (h_now_ms() < deadline) {
        h_worker_pids(&w.daemon, 1, now, 2);
        if (now[0] != victim && now[0] != 0)
            break;
        usleep(20000);
    }
    cr_assert(now[0] != victim && now[0] != 0 && kill(now[0], 0) == 0, "slot 0 was not respawned");
    cr_assert_eq(now[1], survivor);
    cr_assert(h_log_wait(&w.daemon, "slot 0 serving", 3000));
    /* New connections all succeed, on both workers. */
    for (int i = 0; i < 30; i++) {
        h_resp_t r;
        cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r), 0, "new connection %d", i);
        cr_assert_eq(r.status, 200);
        h_resp_free(&r);
    }
    /* The master publishes its figures every second. */
    json_int_t respawns = 0;
    deadline = h_now_ms() + 3000;
    while (respawns == 0 && h_now_ms() < deadline) {
        json_t *stats = h_http_json(w.port, "GET", "/api/v1/stats", NULL, NULL);
        respawns = json_integer_value(json_object_get(json_object_get(stats, "master"), "worker_respawns_total"));
        json_decref(stats);
        usleep(100000);
    }
    cr_assert_eq(respawns, 1, "worker_respawns_total %lld", (long long)respawns);
    for (size_t i = 0; i < nheld; i++)
        curl_easy_cleanup(held[i].c);
    int st = h_world_stop(&w);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}

Test(serving, sigterm_lets_the_request_in_flight_complete, .fini = teardown)
{
    h_notify_t n;
    h_notify_open(&n);
    h_world_sim(&w, "drain", sim_args);
    const char *env[] = {n.env, NULL};
    h_world_daemon(&w, "workers 1\n", env, 1);
    cr_assert(h_notify_wait(&n, "READY=1", 5000, NULL, 0));

    /* A POST whose body is still arriving when SIGTERM comes. */
    const char *body = "{\"image\": \"docker.io/library/late:1\", \"nodes\": [\"node-1\", \"node-2\"]}";
    char head[256];
    snprintf(head, sizeof(head),
             "POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(body));
    int fd = h_dial(w.port);
    size_t half = strlen(body) / 2;
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    cr_assert_eq(write(fd, body, half), (ssize_t)half);
    usleep(200000);
    /* An idle keep-alive connection too (one request answered, then nothing): the drain closes it. */
    int idle = h_dial(w.port);
    const char *get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    cr_assert_eq(write(idle, get, strlen(get)), (ssize_t)strlen(get));
    char ok[1024];
    struct pollfd ip = {.fd = idle, .events = POLLIN};
    cr_assert_eq(poll(&ip, 1, 5000), 1);
    cr_assert_gt(read(idle, ok, sizeof(ok)), 0);
    cr_assert(strncmp(ok, "HTTP/1.1 200", 12) == 0);
    usleep(100000);
    kill(w.daemon.pid, SIGTERM);
    cr_assert(h_notify_wait(&n, "STOPPING=1", 3000, NULL, 0), "no STOPPING=1");
    usleep(300000);
    cr_assert_eq(write(fd, body + half, strlen(body) - half), (ssize_t)(strlen(body) - half));
    char resp[8192];
    size_t len = 0;
    uint64_t deadline = h_now_ms() + 10000;
    while (len < sizeof(resp) - 1 && h_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = read(fd, resp + len, sizeof(resp) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    resp[len] = '\0';
    close(fd);
    cr_assert(strncmp(resp, "HTTP/1.1 202", 12) == 0, "the request in flight got: %s", resp);
    cr_assert_not_null(strstr(resp, "docker.io/library/late:1"));
    char c;
    struct pollfd p = {.fd = idle, .events = POLLIN};
    /*
     * h2o 2.2.5 does not close idle HTTP/1.1 keep-alive connections when a shutdown is requested:
     * they end at the HTTP/1 idle timeout (10 s), which bounds the drain together with
     * reload_drain_timeout.
     */
    cr_assert_eq(poll(&p, 1, 12000), 1, "the idle connection was not closed");
    cr_assert_leq(read(idle, &c, 1), 0);
    close(idle);

    int st = 0;
    pid_t got;
    deadline = h_now_ms() + 10000;
    while ((got = waitpid(w.daemon.pid, &st, WNOHANG)) == 0 && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_eq(got, w.daemon.pid, "the daemon did not exit within 10 s of SIGTERM");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon did not exit 0 (status %d)", st);
    w.daemon.pid = 0;
    cr_assert(h_log_contains(&w.daemon, "graceful stop requested"));
    h_notify_close(&n);
    h_world_stop(&w);
}
