/*
 * Benchmark of jobs moving inside the table's active list (not a test; count its instructions
 * with callgrind, see docs/benchmarks.md). Puts N active jobs into a table of N + 64 job slots,
 * then re-puts every job once with an earlier creation time; each round has a table of its own:
 *  - back_kept: every job goes back by far more than the list's length in time, oldest job
 *    first, so that each lands after the jobs already moved: far back in time, at its place;
 *  - to_second: every job's millisecond creation time becomes its second (a Job's
 *    creationTimestamp after the time a record first showed), in slot order, 1 000 jobs a second;
 *  - to_front: the newest job first, each before every other job: each crosses the whole list;
 *  - to_random: in slot order, each job's time becomes a random second of the previous 11 days
 *    (a daemon that starts and first shows every job at the time it saw it, then learns its
 *    Job's creationTimestamp).
 * Each round is one function (move_back_kept, move_to_second, move_to_front, move_to_random), so that
 * `callgrind_annotate --inclusive=yes` gives its instructions; divide by N for a moved job.
 * Usage: bench_list_move N [rounds: any of k s f r, default ksfr]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/table.h"

static void make(int k, int64_t created, uint64_t v, ipd_job_t *job, ipd_task_t *task)
{
    memset(job, 0, sizeof(*job));
    /* Ids not in creation order, so that jobs of the same second change places when corrected. */
    snprintf(job->id, sizeof(job->id), "pj-%08x", (unsigned)((uint32_t)k * 2654435761u));
    snprintf(job->image, sizeof(job->image), "registry.example.com/team/app-%d:1", k);
    job->created_at = created;
    job->version = v;
    job->state = IPD_JOB_PULLING;
    memset(task, 0, sizeof(*task));
    snprintf(task->node, sizeof(task->node), "node-%d.cluster.local", k % 7);
    task->image_bytes = -1;
    task->pull_ms = -1;
}

static void put(ipd_table_t *t, int k, int64_t created, uint64_t v)
{
    ipd_job_t job;
    ipd_task_t task;
    make(k, created, v, &job, &task);
    int rc = ipd_table_put_job(t, &job, &task, 1, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "put %d: %s\n", k, ipd_strerror(rc));
        exit(1);
    }
}

#define BASE INT64_C(1700000000000)

static void fill(ipd_table_t *t, int n)
{
    for (int k = 0; k < n; k++)
        put(t, k, BASE + k, 1);
}

static void __attribute__((noinline)) move_back_kept(ipd_table_t *t, int n)
{
    for (int k = 0; k < n; k++)
        put(t, k, BASE + k - 1000000000, 2);
}

static void __attribute__((noinline)) move_to_second(ipd_table_t *t, int n)
{
    for (int k = 0; k < n; k++)
        put(t, k, (BASE + k) / 1000 * 1000, 3);
}

static void __attribute__((noinline)) move_to_front(ipd_table_t *t, int n)
{
    for (int k = n; k-- > 0;)
        put(t, k, BASE - 2000000000 - (n - k), 4);
}

static void __attribute__((noinline)) move_to_random(ipd_table_t *t, int n)
{
    for (int k = 0; k < n; k++)
        put(t, k, BASE - 1000000000 + (int64_t)(((uint32_t)k * 2246822519u) % 1000000) * 1000, 5);
}

/* The active list must hold all n jobs, oldest first. */
static void check(const ipd_table_t *t, int n, const char *round)
{
    ipd_table_ref_t *refs = calloc((size_t)n, sizeof(*refs));
    size_t count = 0, total = 0;
    ipd_job_t job, prev;
    ipd_table_job_view_t v = {.job = &job};
    if (refs == NULL || ipd_table_list(t, IPD_TABLE_LIST_ACTIVE, refs, (size_t)n, &count, &total, NULL) != 0 ||
        count != (size_t)n || total != (size_t)n) {
        fprintf(stderr, "%s: %zu of %zu jobs listed, want %d\n", round, count, total, n);
        exit(1);
    }
    for (size_t i = 0; i < count; i++) {
        if (ipd_table_get_job_at(t, refs[i], &v) != 0 ||
            (i > 0 && (prev.created_at > job.created_at ||
                       (prev.created_at == job.created_at && strcmp(prev.id, job.id) >= 0)))) {
            fprintf(stderr, "%s: position %zu out of order\n", round, i);
            exit(1);
        }
        prev = job;
    }
    free(refs);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const char *rounds = argc > 2 ? argv[2] : "ksfr";
    char instance[64];
    ipd_table_options_t o;
    ipd_table_t *t = NULL;

    if (n < 1 || n > 500000) {
        fprintf(stderr, "usage: bench_list_move N [ksfr]\n");
        return 2;
    }
    snprintf(instance, sizeof(instance), "bench-list-move-%d", (int)getpid());
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = (uint32_t)n + 64;
    o.task_capacity = (uint32_t)n + 64;
    o.ring_capacity = 1024;
    o.json_capacity = 0;
    for (const char *r = rounds; *r != '\0'; r++) {
        /* A table of its own for each round, filled in creation order. */
        ipd_table_unlink(instance);
        int rc = ipd_table_create(&o, &t, NULL);
        if (rc != 0) {
            fprintf(stderr, "ipd_table_create: %s\n", ipd_strerror(rc));
            return 1;
        }
        fill(t, n);
        check(t, n, "fill");
        if (*r == 'k')
            move_back_kept(t, n);
        else if (*r == 's')
            move_to_second(t, n);
        else if (*r == 'f')
            move_to_front(t, n);
        else if (*r == 'r')
            move_to_random(t, n);
        check(t, n, *r == 'k' ? "back_kept" : *r == 's' ? "to_second" : *r == 'f' ? "to_front" : "to_random");
        ipd_table_destroy(t);
        t = NULL;
    }
    printf("%d jobs moved in rounds %s; active list in order\n", n, rounds);
    ipd_table_unlink(instance);
    return 0;
}
