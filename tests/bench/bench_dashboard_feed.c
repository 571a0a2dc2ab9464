/*
 * Feeds the dashboard benchmark (tests/bench/bench_dashboard.sh): plays the master without a
 * cluster. Creates a job table, forks a real worker (ipd_worker_main, as the master does) on a
 * loopback listener, writes JOBS jobs of NODES tasks each, prints "listening on 127.0.0.1:PORT"
 * and then, after a line on stdin, changes RATE jobs per second for SECONDS seconds (a task moves
 * on: pending, pulling, retrying, succeeded; finished jobs start over), exactly the master's
 * steps: the table, then the worker's eventfd. Prints the number of changes written and exits,
 * stopping the worker and removing the table. Not a test.
 *
 *   bench_dashboard_feed [--jobs J] [--nodes N] [--rate R] [--seconds S]
 */
#include <fcntl.h>
#include <inttypes.h>
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

#define MAX_NODES 64

static struct {
    int jobs, nodes, rate, seconds;
} opt = {1000, 16, 100, 30};

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

/* Job j at its step `step`: task (step % nodes) has moved on by step / nodes stages. */
static void make_job(int j, uint64_t step, ipd_job_t *job, ipd_task_t *tasks, ipd_buf_t *json)
{
    static const ipd_task_state_t stages[] = {IPD_TASK_PENDING, IPD_TASK_PULLING, IPD_TASK_RETRYING, IPD_TASK_PULLING,
                                              IPD_TASK_SUCCEEDED};
    const int nstages = (int)(sizeof(stages) / sizeof(stages[0]));
    int64_t created = (int64_t)now_ms() - 600000 + j;
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08x", 0x20000000u + (unsigned)j);
    snprintf(job->image, sizeof(job->image), "registry.example.com/team/service-%d:1.%d", j % 97, j);
    job->created_at = created;
    job->started_at = created + 10;
    job->version = step + 1;
    job->spec.ttl_seconds_after_finished = -1;
    job->nodes.desired = (uint32_t)opt.nodes;
    uint64_t round = step / (uint64_t)opt.nodes % (uint64_t)nstages;
    int moved = (int)(step % (uint64_t)opt.nodes);
    for (int t = 0; t < opt.nodes; t++) {
        char node[32];
        snprintf(node, sizeof(node), "node-%02d", t + 1);
        ipd_task_init(&tasks[t], node, created);
        int stage = (int)((round + (t < moved ? 1 : 0)) % (uint64_t)nstages);
        tasks[t].state = stages[stage];
        tasks[t].attempts = (uint32_t)(stage >= 2 ? 2 : 1);
        tasks[t].updated_at = (int64_t)now_ms();
        snprintf(tasks[t].ns, sizeof(tasks[t].ns), "imgpulld");
        snprintf(tasks[t].pod, sizeof(tasks[t].pod), "imgpull-%s-%s-x1b2c", job->id, node);
        if (tasks[t].state == IPD_TASK_RETRYING) {
            snprintf(tasks[t].reason, sizeof(tasks[t].reason), "ImagePullBackOff");
            snprintf(tasks[t].message, sizeof(tasks[t].message), "Back-off pulling image \"%.400s\"", job->image);
        }
        if (tasks[t].state == IPD_TASK_SUCCEEDED) {
            tasks[t].pull_ms = 800 + (j * 37 + t * 53) % 4000;
            tasks[t].image_bytes = 50000000 + (int64_t)(j % 13) * 10000000;
        }
        switch (tasks[t].state) {
        case IPD_TASK_PENDING:
            job->nodes.pending++;
            break;
        case IPD_TASK_SUCCEEDED:
            job->nodes.succeeded++;
            break;
        case IPD_TASK_RETRYING:
            job->nodes.retrying++;
            job->nodes.pulling++;
            break;
        default:
            job->nodes.pulling++;
            break;
        }
    }
    job->state = job->nodes.succeeded == job->nodes.desired ? IPD_JOB_SUCCEEDED
                 : job->nodes.pending == job->nodes.desired ? IPD_JOB_PENDING
                                                            : IPD_JOB_PULLING;
    if (job->state == IPD_JOB_SUCCEEDED)
        job->finished_at = (int64_t)now_ms();
    ipd_buf_reset(json);
    if (ipd_json_encode_job(json, job, tasks, (size_t)opt.nodes) != 0)
        die("encode");
}

static void publish(ipd_table_t *t, int efd, int j, uint64_t step, ipd_buf_t *json)
{
    ipd_job_t job;
    ipd_task_t tasks[MAX_NODES];
    uint64_t one = 1;
    make_job(j, step, &job, tasks, json);
    if (ipd_table_put_job(t, &job, tasks, (size_t)opt.nodes, json->data, json->len) != 0)
        die("put_job");
    if (write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        die("eventfd write");
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--jobs") == 0)
            opt.jobs = v;
        else if (strcmp(argv[i], "--nodes") == 0)
            opt.nodes = v;
        else if (strcmp(argv[i], "--rate") == 0)
            opt.rate = v;
        else if (strcmp(argv[i], "--seconds") == 0)
            opt.seconds = v;
        else {
            fprintf(stderr, "usage: %s [--jobs J] [--nodes N] [--rate R] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    if (opt.jobs < 1 || opt.nodes < 1 || opt.nodes > MAX_NODES || opt.rate < 1 || opt.seconds < 1) {
        fprintf(stderr, "bench_dashboard_feed: out of range (nodes 1..%d)\n", MAX_NODES);
        return 2;
    }
    static ipd_config_t cfg;
    char err[256];
    ipd_config_init(&cfg);
    snprintf(cfg.instance, sizeof(cfg.instance), "benchdash%d", (int)getpid());
    ipd_config_finalize(&cfg, err, sizeof(err));
    cfg.ws_ping_interval_ms = cfg.ws_pong_timeout_ms = 3600 * 1000;

    ipd_table_options_t o;
    ipd_table_t *t;
    ipd_table_options_init(&o);
    o.instance = cfg.instance;
    o.force_rebuild = 1;
    if ((uint32_t)opt.jobs > o.job_capacity || (uint64_t)opt.jobs * (uint64_t)opt.nodes > o.task_capacity) {
        fprintf(stderr, "bench_dashboard_feed: more jobs or tasks than the default table holds\n");
        return 2;
    }
    if (ipd_table_create(&o, &t, NULL) != 0)
        die("table");

    int port, pp[2], lfd = listen_loopback(&port), efd = eventfd(0, EFD_NONBLOCK);
    if (efd < 0 || pipe(pp) != 0)
        die("eventfd/pipe");
    snprintf(cfg.listen[0].host, sizeof(cfg.listen[0].host), "127.0.0.1");
    cfg.listen[0].port = (uint16_t)port;
    cfg.listen_count = 1;
    pid_t worker = fork();
    if (worker == 0) {
        close(pp[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        ipd_worker_args_t a = {.cfg = &cfg,
                               .slot = 0,
                               .generation = 1,
                               .listen_fds = &lfd,
                               .nlisten = 1,
                               .ring_fd = efd,
                               .parent_fd = pp[0]};
        _exit(ipd_worker_main(&a));
    }
    close(pp[0]);
    close(lfd);

    ipd_buf_t json;
    ipd_buf_init(&json);
    uint64_t *steps = calloc((size_t)opt.jobs, sizeof(*steps));
    if (steps == NULL)
        die("calloc");
    for (int j = 0; j < opt.jobs; j++) {
        steps[j] = (uint64_t)(j * 7) % (uint64_t)(5 * opt.nodes);
        publish(t, efd, j, steps[j], &json);
    }
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);

    char line[64];
    if (fgets(line, sizeof(line), stdin) != NULL) {
        uint64_t start = now_ms(), n = 0, end = start + (uint64_t)opt.seconds * 1000u;
        unsigned seed = 1;
        while (now_ms() < end) {
            /* Changes evenly spread: the n-th is due at start + n / rate seconds. */
            uint64_t due = start + n * 1000u / (uint64_t)opt.rate;
            uint64_t now = now_ms();
            if (due > now)
                usleep((useconds_t)((due - now) * 1000u));
            int j = (int)(rand_r(&seed) % (unsigned)opt.jobs);
            publish(t, efd, j, ++steps[j], &json);
            n++;
        }
        printf("changes %" PRIu64 " in %.1f s\n", n, (double)(now_ms() - start) / 1000.0);
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL) {
            /* the driver is gone: stop all the same */
        }
    }
    close(pp[1]); /* the worker exits when its master is gone */
    kill(worker, SIGTERM);
    waitpid(worker, NULL, 0);
    free(steps);
    ipd_buf_dispose(&json);
    ipd_table_destroy(t);
    ipd_table_unlink(cfg.instance);
    return 0;
}
