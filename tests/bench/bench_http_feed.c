/*
 * Feeds the HTTP serving benchmark (tests/bench/bench_http.sh): plays the master without a
 * cluster. Creates a job table sized for what it writes, writes ACTIVE pulling jobs and FAILED
 * failed jobs of NODES tasks each, and, with --big T, one pulling job of T tasks; forks WORKERS
 * real workers (ipd_worker_main, as the master does) on one loopback port (a SO_REUSEPORT socket
 * each) and prints "listening on 127.0.0.1:PORT" and, with --big, "big job ID". It then waits
 * for stdin to close, stops the workers and removes the table. Not a test.
 *
 *   bench_http_feed [--active N] [--failed N] [--nodes N] [--big T] [--workers W]
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/json.h"
#include "shared/config.h"
#include "shared/table.h"
#include "worker/worker.h"

#define MAX_WORKERS 8

static struct {
    int active, failed, nodes, big, workers;
} opt = {100, 0, 3, 0, 1};

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reuseport listener on 127.0.0.1:*port (0: the kernel chooses and *port gets it). */
static int listen_loopback(int *port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)*port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

/* Job number j with n tasks: pulling (one task succeeded, the rest pulling) or failed. */
static void make_job(int j, int n, int failed, ipd_job_t *job, ipd_task_t *tasks, ipd_buf_t *json)
{
    int64_t created = now_ms() - 600000 + j;
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08x", 0x30000000u + (unsigned)j);
    snprintf(job->image, sizeof(job->image), "registry.example.com/team-%d/service-%d:v1.%d.0", j % 97, j, j);
    job->created_at = created;
    job->started_at = created + 10;
    job->version = 1;
    job->spec.ttl_seconds_after_finished = -1;
    job->nodes.desired = (uint32_t)n;
    for (int t = 0; t < n; t++) {
        char node[32];
        snprintf(node, sizeof(node), "node-%04d", t + 1);
        ipd_task_init(&tasks[t], node, created);
        snprintf(tasks[t].ns, sizeof(tasks[t].ns), "imgpulld");
        snprintf(tasks[t].pod, sizeof(tasks[t].pod), "imgpull-%s-%s-x1b2c", job->id, node);
        tasks[t].updated_at = created + 20 + t;
        tasks[t].attempts = 1;
        if (failed) {
            tasks[t].state = IPD_TASK_FAILED;
            tasks[t].cause = IPD_CAUSE_NOT_FOUND;
            tasks[t].attempts = 3;
            snprintf(tasks[t].reason, sizeof(tasks[t].reason), "ErrImagePull");
            snprintf(tasks[t].message, sizeof(tasks[t].message),
                     "failed to pull and unpack image \"%.200s\": not found", job->image);
            job->nodes.failed++;
        } else if (t == 0) {
            tasks[t].state = IPD_TASK_SUCCEEDED;
            tasks[t].pull_ms = 800 + (j * 37) % 4000;
            tasks[t].image_bytes = 50000000 + (int64_t)(j % 13) * 10000000;
            job->nodes.succeeded++;
        } else {
            tasks[t].state = IPD_TASK_PULLING;
            job->nodes.pulling++;
        }
    }
    job->state = failed ? IPD_JOB_FAILED : IPD_JOB_PULLING;
    if (failed)
        job->finished_at = created + 5000;
    ipd_buf_reset(json);
    if (ipd_json_encode_job(json, job, tasks, (size_t)n) != 0)
        die("encode");
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--active") == 0)
            opt.active = v;
        else if (strcmp(argv[i], "--failed") == 0)
            opt.failed = v;
        else if (strcmp(argv[i], "--nodes") == 0)
            opt.nodes = v;
        else if (strcmp(argv[i], "--big") == 0)
            opt.big = v;
        else if (strcmp(argv[i], "--workers") == 0)
            opt.workers = v;
        else {
            fprintf(stderr, "usage: %s [--active N] [--failed N] [--nodes N] [--big T] [--workers W]\n", argv[0]);
            return 2;
        }
    }
    if (opt.active < 0 || opt.failed < 0 || opt.nodes < 1 || opt.big < 0 || opt.workers < 1 ||
        opt.workers > MAX_WORKERS) {
        fprintf(stderr, "bench_http_feed: out of range (workers 1..%d)\n", MAX_WORKERS);
        return 2;
    }
    static ipd_config_t cfg;
    char err[256];
    ipd_config_init(&cfg);
    snprintf(cfg.instance, sizeof(cfg.instance), "benchhttp%d", (int)getpid());
    cfg.request_rate_per_conn = 1000000;
    if (ipd_config_finalize(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_http_feed: %s\n", err);
        return 2;
    }

    ipd_table_options_t o;
    ipd_table_t *t;
    ipd_table_options_init(&o);
    o.instance = cfg.instance;
    o.force_rebuild = 1;
    uint64_t jobs = (uint64_t)opt.active + (uint64_t)opt.failed + 1;
    uint64_t tasks_needed = ((uint64_t)opt.active + (uint64_t)opt.failed) * (uint64_t)opt.nodes + (uint64_t)opt.big;
    if (jobs > o.job_capacity)
        o.job_capacity = (uint32_t)jobs;
    if (tasks_needed * 2 > o.task_capacity)
        o.task_capacity = (uint32_t)(tasks_needed * 2);
    if (ipd_table_create(&o, &t, NULL) != 0)
        die("table");

    int port = 0, pp[2], lfd[MAX_WORKERS], efd[MAX_WORKERS];
    pid_t worker[MAX_WORKERS];
    for (int i = 0; i < opt.workers; i++) {
        lfd[i] = listen_loopback(&port);
        if ((efd[i] = eventfd(0, EFD_NONBLOCK)) < 0)
            die("eventfd");
    }
    if (pipe(pp) != 0)
        die("pipe");
    snprintf(cfg.listen[0].host, sizeof(cfg.listen[0].host), "127.0.0.1");
    cfg.listen[0].port = (uint16_t)port;
    cfg.listen_count = 1;
    for (int i = 0; i < opt.workers; i++) {
        worker[i] = fork();
        if (worker[i] < 0)
            die("fork");
        if (worker[i] == 0) {
            close(pp[1]);
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0)
                dup2(devnull, 2);
            ipd_worker_args_t a = {.cfg = &cfg,
                                   .slot = i,
                                   .generation = 1,
                                   .stats_block = -1,
                                   .listen_fds = &lfd[i],
                                   .nlisten = 1,
                                   .ring_fd = efd[i],
                                   .parent_fd = pp[0]};
            _exit(ipd_worker_main(&a));
        }
    }
    close(pp[0]);
    for (int i = 0; i < opt.workers; i++)
        close(lfd[i]);

    int most = opt.big > opt.nodes ? opt.big : opt.nodes;
    ipd_task_t *tasks = calloc((size_t)most, sizeof(*tasks));
    ipd_job_t job;
    ipd_buf_t json;
    ipd_buf_init(&json);
    if (tasks == NULL)
        die("calloc");
    int j = 0;
    for (; j < opt.active + opt.failed; j++) {
        /* Failed and active jobs interleaved, as they are created over time. */
        int m = opt.active < opt.failed ? opt.active : opt.failed;
        int failed = j < 2 * m ? j % 2 : opt.failed > opt.active;
        make_job(j, opt.nodes, failed, &job, tasks, &json);
        if (ipd_table_put_job(t, &job, tasks, (size_t)opt.nodes, json.data, json.len) != 0)
            die("put_job");
    }
    if (opt.big > 0) {
        make_job(j, opt.big, 0, &job, tasks, &json);
        int rc = ipd_table_put_job(t, &job, tasks, (size_t)opt.big, json.data, json.len);
        if (rc != 0) {
            fprintf(stderr, "bench_http_feed: put of the big job: %d\n", rc);
            return 1;
        }
    }
    uint64_t one = 1;
    for (int i = 0; i < opt.workers; i++)
        if (write(efd[i], &one, sizeof(one)) != (ssize_t)sizeof(one))
            die("eventfd write");
    printf("listening on 127.0.0.1:%d\n", port);
    if (opt.big > 0)
        printf("big job %s\n", job.id);
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        /* runs until the driver closes stdin */
    }
    close(pp[1]); /* the workers exit when their master is gone */
    for (int i = 0; i < opt.workers; i++) {
        kill(worker[i], SIGTERM);
        waitpid(worker[i], NULL, 0);
    }
    free(tasks);
    ipd_buf_dispose(&json);
    ipd_table_destroy(t);
    ipd_table_unlink(cfg.instance);
    return 0;
}
