/*
 * WebSocket fan-out benchmark: N subscribers of /ws/image-pull-all on one worker, and the same
 * N sockets fed by a plain C loop for comparison. Not a test; docs/benchmarks.md has the figures.
 *
 *   bench_ws [--clients N] [--changes K] [--jobs J] [--gap-ms G] [--mode imgpulld|raw|both]
 *            [--workers W] [--tasks T] [--sndbuf B] [--updates job|tasks]
 *
 * imgpulld mode plays the master: it creates the job table, forks a real worker
 * (ipd_worker_main, as the master does) on a loopback listener with its ring eventfd, connects N
 * clients (epoll, one process) that each send subscribe_all, then K times changes one of J jobs:
 * it takes t0, writes the job with its pre-encoded JSON into the table and writes the eventfd,
 * exactly the master's steps. The latency of a change is the time from t0 to the moment the last
 * (and the first) subscriber has read the update carrying that change's seq.
 *
 * raw mode forks a child that accepted the N connections; for each change the parent takes t0 and
 * writes the seq into a pipe, and the child writes one pre-framed text frame of the same size to
 * every socket in a loop of write() calls. Same clients, same clock, same measurement.
 *
 * It also reports the worker's RSS per idle subscribed connection (VmRSS delta / N).
 *
 * --workers W forks W workers (raw mode: W writer children), each on its own loopback listener,
 * and client i connects to listener i % W: the subscribers are spread evenly, as the daemon's
 * per-slot SO_REUSEPORT sockets spread them by hash. A change writes every worker's eventfd (the
 * master's loop over its workers), and the raw parent writes the seq to every child's pipe.
 *
 * --sndbuf B sets SO_SNDBUF of every server-side socket to B (the worker's ws_send_buffer
 * directive; the raw loop's accepted sockets alike); 0, the default, leaves it to the kernel.
 *
 * --tasks T gives every job T tasks (default 3). A job whose JSON is larger than the table's
 * inline capacity (8 KB) is written without it, as the master does, and the worker encodes the
 * whole job for its update frame; the raw loop encodes and frames the same job the same way.
 *
 * --updates tasks (with --jobs 1) follows the job through /ws/image-pull/{id}?updates=tasks
 * instead: each subscriber reads its snapshot when it connects, and each change rewrites one
 * task (the next one in turn) through ipd_table_put_tasks(), as the master does, so that every
 * subscriber receives a "tasks" message with the job summary and that task. The raw loop applies
 * the same change to its own copy of the job and writes the same message (ipd_ws_msg_tasks()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/json.h"
#include "shared/table.h"
#include "worker/worker.h"
#include "worker/ws/ws.h"

#define NODES       3  /* tasks of a job unless --tasks */
#define PREFIX_KEEP 96 /* payload bytes kept per frame: enough to find "seq" */

typedef struct client {
    int fd;
    uint64_t want; /* the seq this round waits for; 0 once received */
    /* frame parser */
    uint8_t hdr[10];
    size_t hlen, hneed;
    uint64_t left; /* payload bytes still to come */
    char prefix[PREFIX_KEEP + 1];
    size_t plen;
} client_t;

static struct {
    int clients, changes, jobs, gap_ms, workers, tasks, deltas;
    long sndbuf;
    const char *mode;
} opt = {10000, 200, 16, 20, 1, NODES, 0, 0, "both"};

#define MAX_WORKERS 8

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 65535) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_loopback(int port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Fills a job with opt.tasks tasks (`tasks` holds as many) at version `v` and encodes its JSON into `json`. */
static void make_job(int j, uint64_t v, ipd_job_t *job, ipd_task_t *tasks, ipd_buf_t *json)
{
    const int n = opt.tasks;
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08x", 0x10000000u + (unsigned)j);
    snprintf(job->image, sizeof(job->image), "registry.example.com/team/service-%d:1.%" PRIu64, j, v);
    job->created_at = 1795000000000 + j;
    job->started_at = job->created_at + 10;
    job->version = v;
    job->state = IPD_JOB_PULLING;
    job->spec.ttl_seconds_after_finished = -1;
    job->nodes.desired = (uint32_t)n;
    job->nodes.pulling = (uint32_t)n;
    for (int t = 0; t < n; t++) {
        char node[32];
        snprintf(node, sizeof(node), "node-%d", t + 1);
        ipd_task_init(&tasks[t], node, job->created_at);
        tasks[t].state = IPD_TASK_PULLING;
        tasks[t].attempts = (uint32_t)v;
        tasks[t].updated_at = job->created_at + (int64_t)v;
        snprintf(tasks[t].ns, sizeof(tasks[t].ns), "imgpulld");
        snprintf(tasks[t].pod, sizeof(tasks[t].pod), "imgpull-%s-%s-x1b2c", job->id, node);
    }
    ipd_buf_reset(json);
    if (ipd_json_encode_job(json, job, tasks, (size_t)n) != 0)
        die("encode");
}

/*
 * --updates tasks: change number v - 1 of the job (v >= 2 its new version) rewrites task
 * (v - 2) % T. Returns that task's index.
 */
static uint32_t change_one_task(uint64_t v, ipd_job_t *job, ipd_task_t *tasks)
{
    uint32_t i = (uint32_t)((v - 2) % (uint64_t)opt.tasks);
    tasks[i].attempts++;
    tasks[i].updated_at = job->created_at + (int64_t)v;
    job->version = v;
    return i;
}

/* ---- the clients ---- */

/* Feeds received bytes to the frame parser; returns the highest seq of a completed text frame. */
static uint64_t feed(client_t *c, const uint8_t *p, size_t n)
{
    uint64_t seq = 0;
    while (n > 0) {
        if (c->left == 0 && c->hneed == 0) {
            c->hlen = 0;
            c->hneed = 2;
            c->plen = 0;
        }
        if (c->hlen < c->hneed) {
            c->hdr[c->hlen++] = *p++;
            n--;
            if (c->hlen == 2)
                c->hneed = (c->hdr[1] & 0x7f) == 126 ? 4 : (c->hdr[1] & 0x7f) == 127 ? 10 : 2;
            if (c->hlen < c->hneed)
                continue;
            uint64_t len = c->hdr[1] & 0x7f;
            if (len == 126)
                len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (len == 127)
                for (int i = 0; i < 8; i++)
                    len = (i ? len << 8 : 0) | c->hdr[2 + i];
            c->left = len;
            c->hneed = 0;
            if (len != 0)
                continue;
        }
        size_t take = n < c->left ? n : (size_t)c->left;
        size_t keep = PREFIX_KEEP - c->plen < take ? PREFIX_KEEP - c->plen : take;
        memcpy(c->prefix + c->plen, p, keep);
        c->plen += keep;
        p += take;
        n -= take;
        c->left -= take;
        if (c->left == 0) {
            c->prefix[c->plen] = '\0';
            const char *s = strstr(c->prefix, "\"seq\":");
            if (s != NULL && (c->hdr[0] & 0x0f) == 1) {
                uint64_t v = strtoull(s + 6, NULL, 10);
                seq = v > seq ? v : seq;
            }
        }
    }
    return seq;
}

/* Reads what `c` has; returns 1 when it just received the seq it waits for. */
static int on_readable(client_t *c)
{
    uint8_t buf[16384];
    int got = 0;
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "a client lost its connection\n");
                exit(1);
            }
            return got;
        }
        uint64_t seq = feed(c, buf, (size_t)r);
        if (c->want != 0 && seq >= c->want) {
            c->want = 0;
            got = 1;
        }
    }
}

typedef struct round_result {
    uint64_t first_ns, last_ns;
} round_result_t;

/* Waits until every client got `seq`; returns the first and last arrival after t0. */
static round_result_t wait_round(int ep, client_t *cl, int n, uint64_t seq, uint64_t t0)
{
    struct epoll_event ev[512];
    round_result_t r = {0, 0};
    int pending = n;
    for (int i = 0; i < n; i++)
        cl[i].want = seq;
    while (pending > 0) {
        int k = epoll_wait(ep, ev, 512, 60000);
        if (k <= 0) {
            fprintf(stderr, "timeout: %d of %d clients did not get seq %" PRIu64 "\n", pending, n, seq);
            exit(1);
        }
        for (int i = 0; i < k; i++) {
            if (on_readable(&cl[ev[i].data.u32])) {
                uint64_t d = now_ns() - t0;
                if (pending == n)
                    r.first_ns = d;
                r.last_ns = d;
                pending--;
            }
        }
    }
    return r;
}

static void client_setup(int ep, client_t *cl, int n)
{
    for (int i = 0; i < n; i++) {
        fcntl(cl[i].fd, F_SETFL, fcntl(cl[i].fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &e) != 0)
            die("epoll_ctl");
    }
}

/* Blocking handshake and subscribe_all; returns once the ack was read. */
static void ws_subscribe(client_t *c, int port)
{
    static const char req[] = "GET /ws/image-pull-all HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    static const char op[] = "{\"op\":\"subscribe_all\"}";
    uint8_t frame[2 + 4 + sizeof(op)], buf[1024];
    size_t have = 0;
    c->fd = connect_loopback(port);
    if (write(c->fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
        die("write handshake");
    while (have < 4 || memmem(buf, have, "\r\n\r\n", 4) == NULL) {
        ssize_t r = read(c->fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            die("read handshake");
        have += (size_t)r;
    }
    if (memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "upgrade refused: %.*s\n", (int)have, buf);
        exit(1);
    }
    frame[0] = 0x81;
    frame[1] = 0x80 | (uint8_t)(sizeof(op) - 1);
    memset(frame + 2, 0, 4); /* a zero mask leaves the payload as it is */
    memcpy(frame + 6, op, sizeof(op) - 1);
    if (write(c->fd, frame, 6 + sizeof(op) - 1) != (ssize_t)(6 + sizeof(op) - 1))
        die("write subscribe");
    uint8_t ack[256];
    ssize_t r = read(c->fd, ack, sizeof(ack)); /* the ack: one small frame */
    if (r < 2 || ack[0] != 0x81)
        die("read ack");
}

/* --updates tasks: blocking handshake on /ws/image-pull/{id}?updates=tasks; returns once the
 * snapshot was read whole. */
static void ws_follow_job(client_t *c, int port, const char *id)
{
    char req[512];
    uint8_t buf[65536];
    size_t have = 0;
    int n = snprintf(req, sizeof(req),
                     "GET /ws/image-pull/%s?updates=tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     id);
    c->fd = connect_loopback(port);
    if (write(c->fd, req, (size_t)n) != n)
        die("write handshake");
    uint8_t *end = NULL;
    while (end == NULL) {
        ssize_t r = read(c->fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            die("read handshake");
        have += (size_t)r;
        end = memmem(buf, have, "\r\n\r\n", 4);
    }
    if (memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "upgrade refused: %.*s\n", (int)have, buf);
        exit(1);
    }
    size_t skip = (size_t)(end + 4 - buf);
    uint64_t seq = feed(c, buf + skip, have - skip);
    while (seq == 0) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r <= 0)
            die("read snapshot");
        seq = feed(c, buf, (size_t)r);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, round_result_t *rr, int k)
{
    uint64_t *last = malloc(sizeof(*last) * (size_t)k), *first = malloc(sizeof(*first) * (size_t)k);
    for (int i = 0; i < k; i++) {
        last[i] = rr[i].last_ns;
        first[i] = rr[i].first_ns;
    }
    qsort(last, (size_t)k, sizeof(*last), cmp_u64);
    qsort(first, (size_t)k, sizeof(*first), cmp_u64);
    printf("%-9s %6d clients, %d worker(s), %4d changes: last subscriber p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms | "
           "first p50 %6.3f ms\n",
           name, opt.clients, opt.workers, k, last[k / 2] / 1e6, last[(k * 99) / 100] / 1e6, last[k - 1] / 1e6,
           first[k / 2] / 1e6);
    free(last);
    free(first);
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

/* CPU time (user + system) of `n` processes in ms, from /proc (clock ticks). */
static double cpu_ms(const pid_t *pid, int n)
{
    double ms = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid[i]);
        FILE *f = fopen(path, "r");
        size_t len = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        buf[len] = '\0';
        const char *p = strrchr(buf, ')'); /* fields after the command name: state is field 3 */
        unsigned long long ut = 0, st = 0;
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            ms += (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
    }
    return ms;
}

/* Prints `ms` of the writers' CPU over the counted changes per message delivered to a subscriber:
 * a figure the machine's load does not move the way it moves the latencies. */
static void per_message(const char *name, double ms)
{
    printf("%-9s writers' CPU over the %d counted changes: %.3f us per delivered message\n", name, opt.changes,
           ms * 1e3 / ((double)opt.changes * opt.clients));
}

static void close_clients(client_t *cl, int n)
{
    struct linger lg = {1, 0}; /* reset, so that no TIME_WAIT is left for the next run */
    for (int i = 0; i < n; i++) {
        setsockopt(cl[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(cl[i].fd);
        memset(&cl[i], 0, sizeof(cl[i]));
    }
}

/* ---- the raw loop ---- */

static _Noreturn void raw_server(int lfd, int cmd, int n)
{
    int *fds = malloc(sizeof(*fds) * (size_t)n);
    ipd_job_t job;
    ipd_task_t *tasks = calloc((size_t)opt.tasks, sizeof(*tasks));
    ipd_buf_t json;
    uint64_t seq;
    uint32_t off;
    ipd_buf_init(&json);
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK);
    for (int i = 0; i < n; i++) {
        if ((fds[i] = accept(lfd, NULL, NULL)) < 0)
            die("accept");
        int sb = (int)opt.sndbuf;
        if (sb > 0)
            setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
    }
    if (opt.deltas)
        make_job(0, 1, &job, tasks, &json);
    while (read(cmd, &seq, sizeof(seq)) == (ssize_t)sizeof(seq)) {
        ipd_ws_msg_t *m;
        if (opt.deltas) {
            uint32_t i = change_one_task(seq + 1, &job, tasks);
            m = ipd_ws_msg_tasks("0123456789abcdef", seq, seq, &job, tasks, (size_t)opt.tasks, &i, 1);
        } else {
            make_job(0, seq, &job, tasks, &json);
            m = ipd_ws_msg_job("update", "0123456789abcdef", seq, json.data, json.len, &off);
        }
        for (int i = 0; i < n; i++)
            if (write(fds[i], m->data, m->len) != (ssize_t)m->len)
                die("raw write");
        ipd_ws_msg_release(m);
    }
    _exit(0);
}

/* Clients of listener w when client i goes to listener i % opt.workers. */
static int share_of(int w)
{
    return opt.clients / opt.workers + (w < opt.clients % opt.workers);
}

static void run_raw(client_t *cl, round_result_t *rr)
{
    int port[MAX_WORKERS], cmd[MAX_WORKERS];
    pid_t child[MAX_WORKERS];
    for (int w = 0; w < opt.workers; w++) {
        int p[2], lfd = listen_loopback(&port[w]);
        if (pipe(p) != 0)
            die("pipe");
        if ((child[w] = fork()) == 0) {
            close(p[1]);
            for (int x = 0; x < w; x++)
                close(cmd[x]);
            raw_server(lfd, p[0], share_of(w));
        }
        close(p[0]);
        close(lfd);
        cmd[w] = p[1];
    }
    for (int i = 0; i < opt.clients; i++)
        cl[i].fd = connect_loopback(port[i % opt.workers]);
    int ep = epoll_create1(0);
    client_setup(ep, cl, opt.clients);
    double cpu0 = cpu_ms(child, opt.workers);
    for (int k = 0; k < opt.changes; k++) {
        uint64_t seq = (uint64_t)k + 1, t0 = now_ns();
        for (int w = 0; w < opt.workers; w++)
            if (write(cmd[w], &seq, sizeof(seq)) != (ssize_t)sizeof(seq))
                die("write pipe");
        rr[k] = wait_round(ep, cl, opt.clients, seq, t0);
        usleep((useconds_t)opt.gap_ms * 1000);
    }
    printf("raw loop: writers' CPU %.0f ms for %d changes\n", cpu_ms(child, opt.workers) - cpu0, opt.changes);
    per_message("raw loop", cpu_ms(child, opt.workers) - cpu0);
    for (int w = 0; w < opt.workers; w++) {
        close(cmd[w]);
        waitpid(child[w], NULL, 0);
    }
    close(ep);
    close_clients(cl, opt.clients);
    report("raw loop", rr, opt.changes);
}

/* ---- imgpulld: the bench plays the master ---- */

static pid_t start_worker(ipd_config_t *cfg, int slot, int *port, int *efd, int *parent_w)
{
    int pp[2], lfd = listen_loopback(port);
    *efd = eventfd(0, EFD_NONBLOCK);
    if (*efd < 0 || pipe(pp) != 0)
        die("eventfd/pipe");
    snprintf(cfg->listen[0].host, sizeof(cfg->listen[0].host), "127.0.0.1");
    cfg->listen[0].port = (uint16_t)*port;
    cfg->listen_count = 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pp[1]);
        char logname[64];
        snprintf(logname, sizeof(logname), "/tmp/bench_ws_worker%d.log", slot);
        int log = open(logname, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (log >= 0)
            dup2(log, 2);
        ipd_worker_args_t a = {.cfg = cfg,
                               .slot = slot,
                               .generation = 1,
                               .listen_fds = &lfd,
                               .nlisten = 1,
                               .ring_fd = *efd,
                               .parent_fd = pp[0]};
        _exit(ipd_worker_main(&a));
    }
    close(pp[0]);
    close(lfd);
    *parent_w = pp[1];
    usleep(300 * 1000);
    return pid;
}

/*
 * Writes job j at version v, as the master does: the table (without the JSON when it is larger
 * than the inline capacity), then every worker's eventfd.
 */
static uint64_t publish(ipd_table_t *t, const int *efd, int j, uint64_t v, ipd_task_t *tasks, ipd_buf_t *json)
{
    ipd_job_t job;
    uint64_t one = 1;
    make_job(j, v, &job, tasks, json);
    int inline_json = json->len <= IPD_TABLE_DEFAULT_JSON;
    if (ipd_table_put_job(t, &job, tasks, (size_t)opt.tasks, inline_json ? json->data : NULL,
                          inline_json ? json->len : 0) != 0)
        die("put_job");
    for (int w = 0; w < opt.workers; w++)
        if (write(efd[w], &one, sizeof(one)) != (ssize_t)sizeof(one))
            die("eventfd write");
    return ipd_table_ring_head(t);
}

static void run_imgpulld(client_t *cl, round_result_t *rr)
{
    static ipd_config_t cfg;
    char err[256];
    ipd_table_options_t o;
    ipd_table_t *t;
    ipd_buf_t json;
    int port[MAX_WORKERS], efd[MAX_WORKERS], parent_w[MAX_WORKERS];
    pid_t worker[MAX_WORKERS];
    ipd_task_t *tasks = calloc((size_t)opt.tasks, sizeof(*tasks));
    ipd_buf_init(&json);
    ipd_config_init(&cfg);
    snprintf(cfg.instance, sizeof(cfg.instance), "benchws%d", (int)getpid());
    ipd_config_finalize(&cfg, err, sizeof(err));
    cfg.max_connections_per_worker = opt.clients + 100;
    cfg.ws_max_connections = opt.clients + 10;
    cfg.ws_ping_interval_ms = cfg.ws_pong_timeout_ms = 3600 * 1000;
    cfg.ws_send_buffer = (size_t)opt.sndbuf; /* the ws_send_buffer directive */
    ipd_table_options_init(&o);
    o.instance = cfg.instance;
    o.force_rebuild = 1;
    if (ipd_table_create(&o, &t, NULL) != 0)
        die("table");
    long before = 0, idle = 0;
    for (int w = 0; w < opt.workers; w++) {
        worker[w] = start_worker(&cfg, w, &port[w], &efd[w], &parent_w[w]);
        before += rss_kb(worker[w]);
    }
    ipd_job_t job;
    if (opt.deltas) {
        /* The job exists before its watchers connect; each reads its snapshot. */
        uint64_t one = 1;
        make_job(0, 1, &job, tasks, &json);
        if (ipd_table_put_job(t, &job, tasks, (size_t)opt.tasks, NULL, 0) != 0)
            die("put_job");
        for (int w = 0; w < opt.workers; w++)
            if (write(efd[w], &one, sizeof(one)) != (ssize_t)sizeof(one))
                die("eventfd write");
        usleep(100 * 1000);
    }
    /*
     * With --updates tasks the first watcher of each worker makes it read and encode the large
     * job once (buffers it keeps): that is the job's cost, not the connections', so the baseline
     * is taken after it.
     */
    int first = 0;
    if (opt.deltas) {
        for (; first < opt.workers && first < opt.clients; first++)
            ws_follow_job(&cl[first], port[first % opt.workers], job.id);
        usleep(300 * 1000);
        before = 0;
        for (int w = 0; w < opt.workers; w++)
            before += rss_kb(worker[w]);
    }
    long half = 0;
    for (int i = first; i < opt.clients; i++) {
        if (i == opt.clients / 2)
            for (int w = 0; w < opt.workers; w++)
                half += rss_kb(worker[w]);
        if (opt.deltas)
            ws_follow_job(&cl[i], port[i % opt.workers], job.id);
        else
            ws_subscribe(&cl[i], port[i % opt.workers]);
    }
    usleep(500 * 1000);
    for (int w = 0; w < opt.workers; w++)
        idle += rss_kb(worker[w]);
    /* Memory freed before (a large job's read and encoding buffers) is reused by the first
     * connections; the second half's growth shows what one more connection costs. */
    printf("RSS growth over the second half of the subscribers: %.0f bytes per connection\n",
           (idle - half) * 1024.0 / (opt.clients - opt.clients / 2));
    printf("%d worker(s): RSS %ld KB %s, %ld KB with %d idle subscribers: %.0f bytes per connection "
           "(ipd_ws_conn_t is %zu bytes)\n",
           opt.workers, before, opt.deltas ? "with one watcher each" : "before", idle, opt.clients,
           (idle - before) * 1024.0 / (opt.clients - first), sizeof(ipd_ws_conn_t));
    int ep = epoll_create1(0);
    client_setup(ep, cl, opt.clients);
    double cpu0 = cpu_ms(worker, opt.workers);
    for (int k = 0; opt.deltas && k < opt.changes; k++) {
        uint64_t one = 1, t0 = now_ns();
        uint32_t i = change_one_task((uint64_t)k + 2, &job, tasks);
        if (ipd_table_put_tasks(t, &job, (size_t)opt.tasks, &i, &tasks[i], 1, NULL, 0) != 0)
            die("put_tasks");
        for (int w = 0; w < opt.workers; w++)
            if (write(efd[w], &one, sizeof(one)) != (ssize_t)sizeof(one))
                die("eventfd write");
        rr[k] = wait_round(ep, cl, opt.clients, ipd_table_ring_head(t), t0);
        usleep((useconds_t)opt.gap_ms * 1000);
    }
    double counted0 = cpu0; /* CPU at the first counted change */
    for (int k = 0; !opt.deltas && k < opt.jobs + opt.changes; k++) {
        int j = k % opt.jobs;
        if (k == opt.jobs)
            counted0 = cpu_ms(worker, opt.workers);
        uint64_t t0 = now_ns(), seq = publish(t, efd, j, (uint64_t)(k / opt.jobs) + 1, tasks, &json);
        round_result_t r = wait_round(ep, cl, opt.clients, seq, t0);
        if (k >= opt.jobs)
            rr[k - opt.jobs] = r; /* the first round of each job created it: not counted */
        usleep((useconds_t)opt.gap_ms * 1000);
    }
    printf("imgpulld: workers' CPU %.0f ms for %d changes%s\n", cpu_ms(worker, opt.workers) - cpu0, opt.changes,
           opt.deltas ? "" : " (and the rounds that created the jobs)");
    per_message("imgpulld", cpu_ms(worker, opt.workers) - counted0);
    long after = 0;
    for (int w = 0; w < opt.workers; w++)
        after += rss_kb(worker[w]);
    if (opt.deltas) {
        uint32_t i = 0;
        ipd_ws_msg_t *m = ipd_ws_msg_tasks("0123456789abcdef", ipd_table_ring_head(t), job.version - 1, &job, tasks,
                                           (size_t)opt.tasks, &i, 1);
        printf("tasks frame: %u bytes (one task of %d, the job %zu bytes); worker RSS after the run %ld KB\n", m->len,
               opt.tasks, json.len, after);
        ipd_ws_msg_release(m);
    } else {
        printf("update frame: %zu bytes of job JSON (%d tasks, %s); worker RSS after the run %ld KB\n", json.len,
               opt.tasks, json.len <= IPD_TABLE_DEFAULT_JSON ? "inline JSON" : "encoded by the worker", after);
    }
    report("imgpulld", rr, opt.changes);
    for (int w = 0; w < opt.workers; w++) {
        close(parent_w[w]); /* the worker exits when its master is gone */
        kill(worker[w], SIGTERM);
    }
    close_clients(cl, opt.clients);
    for (int w = 0; w < opt.workers; w++) {
        waitpid(worker[w], NULL, 0);
        close(efd[w]);
    }
    close(ep);
    free(tasks);
    ipd_buf_dispose(&json);
    ipd_table_destroy(t);
    ipd_table_unlink(cfg.instance);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--clients") == 0)
            opt.clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--changes") == 0)
            opt.changes = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--jobs") == 0)
            opt.jobs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--gap-ms") == 0)
            opt.gap_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--mode") == 0)
            opt.mode = argv[i + 1];
        else if (strcmp(argv[i], "--workers") == 0)
            opt.workers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tasks") == 0)
            opt.tasks = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sndbuf") == 0)
            opt.sndbuf = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--updates") == 0 && strcmp(argv[i + 1], "job") == 0)
            opt.deltas = 0;
        else if (strcmp(argv[i], "--updates") == 0 && strcmp(argv[i + 1], "tasks") == 0)
            opt.deltas = 1;
        else {
            fprintf(stderr, "usage: bench_ws [--clients N] [--changes K] [--jobs J] [--gap-ms G] "
                            "[--mode imgpulld|raw|both] [--workers W] [--tasks T] [--sndbuf BYTES] "
                            "[--updates job|tasks]\n");
            exit(2);
        }
    }
    if (opt.clients < 1 || opt.changes < 1 || opt.jobs < 1 || opt.gap_ms < 0 || opt.workers < 1 ||
        opt.workers > MAX_WORKERS || opt.tasks < 1 || (opt.deltas && opt.jobs != 1))
        exit(2);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct rlimit rl = {200000, 200000};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)opt.clients + 64)
        fprintf(stderr, "RLIMIT_NOFILE is %llu: too low for %d clients\n", (unsigned long long)rl.rlim_cur,
                opt.clients);
    signal(SIGPIPE, SIG_IGN);
    client_t *cl = calloc((size_t)opt.clients, sizeof(*cl));
    round_result_t *rr = calloc((size_t)opt.changes, sizeof(*rr));
    if (cl == NULL || rr == NULL)
        die("calloc");
    if (strcmp(opt.mode, "raw") == 0 || strcmp(opt.mode, "both") == 0)
        run_raw(cl, rr);
    if (strcmp(opt.mode, "imgpulld") == 0 || strcmp(opt.mode, "both") == 0)
        run_imgpulld(cl, rr);
    free(cl);
    free(rr);
    return 0;
}
