/*
 * The master model's cost of one task change in a job of TASKS tasks: what a watch event that
 * moves one task costs the master, apart from decoding the event.
 *
 *   bench_model_tasks TASKS CHANGES
 *
 * A model in node scope with the remote feed (the Redis link's path, which needs no JSON
 * objects) holds one job of TASKS other nodes' tasks, published once. Then CHANGES times one
 * task, picked at random, moves on (pending, pulling, retrying, pulling, ...): it is applied
 * (ipd_model_remote_task) and the model is flushed (ipd_model_flush: the task recomputed, the
 * job aggregated and written to a shared-memory table, the job's actions run), as the master
 * flushes after every watch event. The action callbacks are set and do nothing, so that the
 * parallelism's bookkeeping runs as in a daemon.
 *
 * Prints the thread CPU time per change. Under valgrind --tool=callgrind
 * --toggle-collect=bench_changes the instructions of the changes alone are counted, which the
 * machine's load does not change (docs/benchmarks.md, "big jobs").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/model.h"
#include "shared/table.h"

static void no_resume(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    (void)ns;
    (void)name;
}

static void no_own_task(void *ctx, const ipd_job_t *job, uint32_t node_count, const char *selection,
                        const ipd_task_t *task)
{
    (void)ctx;
    (void)job;
    (void)node_count;
    (void)selection;
    (void)task;
}

static void job_of(ipd_job_t *job, size_t tasks, int64_t t)
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-big");
    snprintf(job->image, sizeof(job->image), "registry.example/app:1");
    job->created_at = t;
    job->spec.backoff_limit = 3;
    job->spec.parallelism = 100;
    job->spec.ttl_seconds_after_finished = -1;
    job->nodes.desired = (uint32_t)tasks;
}

/* The changes alone, by name for callgrind's --toggle-collect. Returns the model's writes. */
__attribute__((noinline)) static size_t bench_changes(ipd_model_t *model, const ipd_job_t *job, ipd_task_t *tasks,
                                                      size_t ntasks, size_t changes)
{
    static const uint8_t next_state[] = {
        [IPD_TASK_PENDING] = IPD_TASK_PULLING,
        [IPD_TASK_PULLING] = IPD_TASK_RETRYING,
        [IPD_TASK_RETRYING] = IPD_TASK_PULLING,
    };
    uint64_t rnd = 0x9e3779b97f4a7c15ull;
    size_t written = 0;
    for (size_t c = 0; c < changes; c++) {
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        ipd_task_t *t = &tasks[(rnd >> 33) % ntasks];
        t->state = next_state[t->state];
        t->attempts += t->state == IPD_TASK_RETRYING;
        t->updated_at++;
        if (ipd_model_remote_task(model, job, NULL, t) != 0)
            return 0;
        written += ipd_model_flush(model, t->updated_at);
    }
    return written;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_model_tasks TASKS CHANGES\n");
        return 2;
    }
    size_t ntasks = strtoul(argv[1], NULL, 10), changes = strtoul(argv[2], NULL, 10);
    if (ntasks == 0 || ntasks > 1000000 || changes == 0) {
        fprintf(stderr, "TASKS (1..1000000) and CHANGES must be positive\n");
        return 2;
    }
    char instance[64];
    snprintf(instance, sizeof(instance), "bench-model-tasks-%d", (int)getpid());
    ipd_table_options_t opts;
    ipd_table_options_init(&opts);
    opts.instance = instance;
    opts.job_capacity = 16;
    opts.task_capacity = (uint32_t)ntasks + 16;
    opts.force_rebuild = 1;
    ipd_table_t *table = NULL;
    ipd_model_t *model = NULL;
    ipd_task_t *tasks = calloc(ntasks, sizeof(*tasks));
    int rc = 1;
    if (tasks == NULL || ipd_table_create(&opts, &table, NULL) != 0)
        goto out;
    ipd_model_actions_t actions = {.resume_job = no_resume, .own_task = no_own_task};
    if (ipd_model_create(table, &actions, &model) != 0)
        goto out;
    ipd_model_set_node(model, "node-self", 1);
    int64_t t0 = ipd_model_now();
    ipd_job_t job;
    job_of(&job, ntasks, t0);
    /* The job's tasks, in node order as the model keeps them, published once. */
    for (size_t i = 0; i < ntasks; i++) {
        char node[32];
        snprintf(node, sizeof(node), "node-%07zu", i);
        ipd_task_init(&tasks[i], node, t0);
        if (ipd_model_remote_task(model, &job, NULL, &tasks[i]) != 0)
            goto out;
    }
    if (ipd_model_flush(model, t0) != 1) {
        fprintf(stderr, "the job was not published\n");
        goto out;
    }
    uint64_t computed = ipd_model_stats(model)->tasks_computed;
    double cpu = thread_cpu_s();
    size_t written = bench_changes(model, &job, tasks, ntasks, changes);
    cpu = thread_cpu_s() - cpu;
    computed = ipd_model_stats(model)->tasks_computed - computed;
    if (written != changes) {
        fprintf(stderr, "%zu of %zu changes were written\n", written, changes);
        goto out;
    }
    printf("tasks %zu changes %zu: CPU time per task change %.2f us (tasks recomputed per change %.2f)\n", ntasks,
           changes, cpu * 1e6 / (double)changes, (double)computed / (double)changes);
    rc = 0;
out:
    ipd_model_destroy(model);
    if (table != NULL) {
        ipd_table_destroy(table);
        ipd_table_unlink(instance);
    }
    free(tasks);
    if (rc != 0)
        fprintf(stderr, "bench_model_tasks failed\n");
    return rc;
}
