/*
 * Benchmark of the shared-memory job table (not a test). Prints ns per operation for:
 * one job read (3 tasks, inline JSON), a full active-list scan of 1 000 jobs, with and without
 * tasks and JSON (the second is a POST's admission check), all while a writer process updates
 * 1 000 records/s; the writer's cost per update; the cost of one task change in jobs of 100,
 * 2 000 and 5 000 tasks, by a full put and by a put naming the task, beside a plain memcpy of
 * one task record at the same stride; and the cost of a job entering and leaving an active
 * list of 20 000 jobs, beside a memcpy of that list's refs.
 * Usage: bench_table [seconds per reader figure, default 2]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/table.h"

#define NJOBS     1000
#define NTASKS    3
#define JSON_LEN  2048
#define BIG_TASKS 2000

static char instance[64];

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void make(int k, uint64_t v, ipd_job_t *job, ipd_task_t *tasks, size_t ntasks)
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08x", (unsigned)k);
    snprintf(job->image, sizeof(job->image), "registry.example.com/team/app-%d:1.%llu", k, (unsigned long long)v);
    job->created_at = 1700000000000 + k;
    job->version = v;
    job->state = IPD_JOB_PULLING;
    memset(tasks, 0, ntasks * sizeof(*tasks));
    for (size_t i = 0; i < ntasks; i++) {
        snprintf(tasks[i].node, sizeof(tasks[i].node), "node-%zu.cluster.local", i);
        tasks[i].image_bytes = -1;
        tasks[i].pull_ms = -1;
    }
    /* One task moves on per update, as a pod event would do. */
    tasks[v % ntasks].updated_at = (int64_t)v;
    tasks[v % ntasks].attempts = (uint32_t)v;
}

static int put(ipd_table_t *w, int k, uint64_t v, const char *json)
{
    ipd_job_t job;
    ipd_task_t tasks[NTASKS];
    make(k, v, &job, tasks, NTASKS);
    return ipd_table_put_job(w, &job, tasks, NTASKS, json, JSON_LEN);
}

/* Child: one update every millisecond (1 000 records/s) until killed. */
static void paced_writer(ipd_table_t *w, const char *json)
{
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (uint64_t i = 0;; i++) {
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_nsec -= 1000000000;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (put(w, (int)(i % NJOBS), 1000 + i, json) != 0)
            _exit(1);
    }
}

static void bench_reads(const ipd_table_t *r, double seconds)
{
    static ipd_task_t tasks[8];
    static char json[IPD_TABLE_DEFAULT_JSON];
    ipd_job_t job;
    ipd_table_job_view_t v = {.job = &job, .tasks = tasks, .task_cap = 8, .json = json, .json_cap = sizeof(json)};
    char id[IPD_JOB_ID_SIZE];
    uint64_t n = 0, busy = 0;
    double t0 = now_ns(), end = t0 + seconds * 1e9, t;
    do {
        for (int i = 0; i < 1000; i++, n++) {
            snprintf(id, sizeof(id), "pj-%08x", (unsigned)((n * 7919) % NJOBS));
            int rc = ipd_table_get_job(r, id, &v);
            busy += rc == IPD_EBUSY;
            if (rc != 0 && rc != IPD_EBUSY) {
                fprintf(stderr, "get %s: %s\n", id, ipd_strerror(rc));
                exit(1);
            }
        }
    } while ((t = now_ns()) < end);
    printf("read one job by id (3 tasks, %d B JSON):  %8.0f ns/read   (%llu reads, %llu busy)\n", JSON_LEN,
           (t - t0) / (double)n, (unsigned long long)n, (unsigned long long)busy);

    static ipd_table_ref_t refs[IPD_TABLE_DEFAULT_JOBS];
    uint64_t scans = 0, jobs = 0;
    t0 = now_ns();
    end = t0 + seconds * 1e9;
    do {
        size_t count;
        if (ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, IPD_TABLE_DEFAULT_JOBS, &count, NULL, NULL) != 0)
            exit(1);
        for (size_t i = 0; i < count; i++)
            jobs += ipd_table_get_job_at(r, refs[i], &v) == 0;
        scans++;
    } while ((t = now_ns()) < end);
    printf("active-list scan of %d jobs (with tasks+JSON): %8.0f ns/scan  (%.0f ns/job, %llu scans)\n", NJOBS,
           (t - t0) / (double)scans, (t - t0) / (double)jobs, (unsigned long long)scans);

    /* What a POST's admission check reads (worker/rest/admission.c): the job records, no tasks, no JSON. */
    ipd_table_job_view_t rec = {.job = &job};
    scans = jobs = 0;
    t0 = now_ns();
    end = t0 + seconds * 1e9;
    do {
        size_t count;
        if (ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, IPD_TABLE_DEFAULT_JOBS, &count, NULL, NULL) != 0)
            exit(1);
        for (size_t i = 0; i < count; i++)
            jobs += ipd_table_get_job_at(r, refs[i], &rec) == 0;
        scans++;
    } while ((t = now_ns()) < end);
    printf("active-list scan of %d job records (admission):  %8.0f ns/scan  (%.0f ns/job, %llu scans)\n", NJOBS,
           (t - t0) / (double)scans, (t - t0) / (double)jobs, (unsigned long long)scans);

    t0 = now_ns();
    for (int i = 0; i < 20000; i++) {
        size_t count;
        ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, IPD_TABLE_DEFAULT_JOBS, &count, NULL, NULL);
    }
    printf("active-list refs only (%d entries):             %8.0f ns/list\n", NJOBS, (now_ns() - t0) / 20000);
}

static void bench_writer(ipd_table_t *w, const char *json)
{
    int n = 200000;
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        put(w, i % NJOBS, 100000 + (uint64_t)i, json);
    printf("writer: update of a 3-task job, one task changed, %d B JSON: %6.0f ns/update\n", JSON_LEN,
           (now_ns() - t0) / n);

    static ipd_task_t big[BIG_TASKS];
    ipd_job_t job;
    make(NJOBS + 1, 1, &job, big, BIG_TASKS);
    if (ipd_table_put_job(w, &job, big, BIG_TASKS, NULL, 0) != 0)
        exit(1);
    n = 2000;
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        job.version++;
        big[i % BIG_TASKS].attempts++;
        ipd_table_put_job(w, &job, big, BIG_TASKS, NULL, 0);
    }
    printf("writer: update of a %d-task job, one task changed, no JSON: %6.0f ns/update\n", BIG_TASKS,
           (now_ns() - t0) / n);
    ipd_table_delete_job(w, job.id);
}

/* CPU time of this thread in ns: on a loaded machine, time spent waiting for a CPU is not counted. */
static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A sink the compiler cannot see through, so that the peer's copies are not optimised away. */
static void *volatile sink;

/* One task change in a job of `ntasks` tasks: a full put, a put naming the task, and the peer. */
static void bench_task_change(ipd_table_t *w, size_t ntasks)
{
    static ipd_task_t big[5000];
    ipd_job_t job;
    make(NJOBS + 2, 1, &job, big, ntasks);
    if (ipd_table_put_job(w, &job, big, ntasks, NULL, 0) != 0)
        exit(1);
    /* Enough changes for about 0.2 s of the full put (a memcmp of the whole job each). */
    int nfull = (int)(4000000 / ntasks), nnamed = 200000;
    double t0 = cpu_ns();
    for (int i = 0; i < nfull; i++) {
        job.version++;
        big[(size_t)i % ntasks].attempts++;
        if (ipd_table_put_job(w, &job, big, ntasks, NULL, 0) != 0)
            exit(1);
    }
    double full = (cpu_ns() - t0) / nfull;
    t0 = cpu_ns();
    for (int i = 0; i < nnamed; i++) {
        uint32_t idx = (uint32_t)((size_t)i * 7919 % ntasks);
        job.version++;
        big[idx].attempts++;
        if (ipd_table_put_tasks(w, &job, ntasks, &idx, &big[idx], 1, NULL, 0) != 0)
            exit(1);
    }
    double named = (cpu_ns() - t0) / nnamed;
    /* The peer: the same task record copied to a task slot's place in an array of the same stride. */
    size_t stride = 3648;
    uint8_t *slots = calloc(ntasks, stride);
    if (slots == NULL)
        exit(1);
    t0 = cpu_ns();
    for (int i = 0; i < nnamed; i++) {
        size_t idx = (size_t)i * 7919 % ntasks;
        big[idx].attempts++;
        memcpy(slots + idx * stride + 96, &big[idx], sizeof(big[idx]));
        sink = slots;
    }
    double peer = (cpu_ns() - t0) / nnamed;
    free(slots);
    printf("CPU time: task change in a %4zu-task job: full put %9.0f ns, put naming the task %6.0f ns, "
           "memcpy of one task record %5.0f ns (%.1fx)\n",
           ntasks, full, named, peer, named / peer);
    ipd_table_delete_job(w, job.id);
}

#define LIST_JOBS 20000

/* A job entering and leaving an active list of LIST_JOBS jobs, in a table of its own. */
static void bench_list_churn(void)
{
    char name[80];
    ipd_table_options_t o;
    ipd_table_t *t = NULL;
    ipd_job_t job;
    ipd_task_t task;
    snprintf(name, sizeof(name), "%s-lists", instance);
    ipd_table_options_init(&o);
    o.instance = name;
    o.force_rebuild = 1;
    o.job_capacity = 2 * LIST_JOBS;
    o.task_capacity = 2 * LIST_JOBS;
    o.json_capacity = 0;
    if (ipd_table_create(&o, &t, NULL) != 0)
        exit(1);
    int n = 10000;
    /* The jobs that will enter are put and deleted first, so that entering measures the table's
     * work and not the first touch of shared-memory pages. */
    for (int k = 0; k < LIST_JOBS + n; k++) {
        make(k, 1, &job, &task, 1);
        if (ipd_table_put_job(t, &job, &task, 1, NULL, 0) != 0)
            exit(1);
    }
    for (int k = LIST_JOBS + n; k-- > LIST_JOBS;) {
        make(k, 1, &job, &task, 1);
        if (ipd_table_delete_job(t, job.id) != 0)
            exit(1);
    }
    double t0 = cpu_ns();
    for (int k = LIST_JOBS; k < LIST_JOBS + n; k++) {
        make(k, 1, &job, &task, 1);
        if (ipd_table_put_job(t, &job, &task, 1, NULL, 0) != 0)
            exit(1);
    }
    double enter = (cpu_ns() - t0) / n;
    /* The oldest jobs succeed one after the other: each leaves the front of the list. */
    t0 = cpu_ns();
    for (int k = 0; k < n; k++) {
        make(k, 2, &job, &task, 1);
        job.state = IPD_JOB_SUCCEEDED;
        job.finished_at = job.created_at + 1000;
        if (ipd_table_put_job(t, &job, &task, 1, NULL, 0) != 0)
            exit(1);
    }
    double leave = (cpu_ns() - t0) / n;
    /* The same number of updates that change no list, for what a put costs without one. */
    t0 = cpu_ns();
    for (int k = 0; k < n; k++) {
        make(LIST_JOBS + k, 3, &job, &task, 1);
        if (ipd_table_put_job(t, &job, &task, 1, NULL, 0) != 0)
            exit(1);
    }
    double plain = (cpu_ns() - t0) / n;
    static ipd_table_ref_t a[2 * LIST_JOBS], b[2 * LIST_JOBS];
    t0 = cpu_ns();
    for (int k = 0; k < 2000; k++) {
        a[k].incarnation = (uint32_t)k;
        memcpy(b, a, LIST_JOBS * sizeof(a[0]));
        sink = b;
    }
    double copy = (cpu_ns() - t0) / 2000;
    printf("CPU time: active list of %d jobs: a job enters %6.0f ns, leaves %6.0f ns, an update that moves no list "
           "%6.0f ns; "
           "memcpy of the list's refs %6.0f ns\n",
           LIST_JOBS, enter, leave, plain, copy);
    ipd_table_destroy(t);
    ipd_table_unlink(name);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    ipd_table_options_t o;
    ipd_table_t *w = NULL, *r = NULL;
    static char json[JSON_LEN];
    memset(json, 'x', sizeof(json));
    snprintf(instance, sizeof(instance), "bench-table-%d", (int)getpid());
    ipd_table_options_init(&o);
    o.instance = instance;
    o.force_rebuild = 1;
    int rc = ipd_table_create(&o, &w, NULL);
    if (rc != 0) {
        fprintf(stderr, "ipd_table_create: %s\n", ipd_strerror(rc));
        return 1;
    }
    printf("table: %u jobs, %u tasks, %u ring entries, %u B JSON per job (defaults)\n", ipd_table_job_capacity(w),
           ipd_table_task_capacity(w), ipd_table_ring_capacity(w), ipd_table_json_capacity(w));
    for (int k = 0; k < NJOBS; k++)
        put(w, k, 1, json);
    bench_writer(w, json);
    bench_task_change(w, 100);
    bench_task_change(w, 2000);
    bench_task_change(w, 5000);
    bench_list_churn();

    pid_t writer = fork();
    if (writer == 0)
        paced_writer(w, json);
    if (ipd_table_attach_readonly(instance, &r) != 0)
        return 1;
    uint64_t g0 = ipd_table_generation(r);
    double t0 = now_ns();
    bench_reads(r, seconds);
    printf("concurrent writer: %.0f updates/s during the reads\n",
           (double)(ipd_table_generation(r) - g0) / ((now_ns() - t0) / 1e9));
    kill(writer, SIGKILL);
    waitpid(writer, NULL, 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
    ipd_table_unlink(instance);
    return 0;
}
