/*
 * The Redis link's apply path without Redis: the work a daemon does per remote record once the
 * XREAD reply is in memory. Run it under valgrind --tool=callgrind to count instructions, which
 * the machine's load does not change (docs/benchmarks.md).
 *
 *   bench_redis_apply RECORDS JOBS [BATCH]
 *
 * RECORDS records of node-1 (JOBS jobs, RECORDS / JOBS changes each, encoded as
 * ipd_redis_record_encode() writes them, the same as tests/bench/bench_redis.c pre-fills) are
 * decoded, applied to a model (ipd_model_remote_task) and the model is flushed to a
 * shared-memory table after every BATCH records (default 1000, the link's XREAD COUNT), as the
 * master does after every loop iteration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/model.h"
#include "master/redis_link.h"
#include "proto/buf.h"
#include "shared/table.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_redis_apply RECORDS JOBS [BATCH]\n");
        return 2;
    }
    size_t records = strtoul(argv[1], NULL, 10), jobs = strtoul(argv[2], NULL, 10);
    size_t batch = argc == 4 ? strtoul(argv[3], NULL, 10) : 1000;
    if (records == 0 || jobs == 0 || jobs > records || batch == 0) {
        fprintf(stderr, "RECORDS, JOBS and BATCH must be positive, JOBS at most RECORDS\n");
        return 2;
    }
    char instance[64];
    snprintf(instance, sizeof(instance), "bench-redis-apply-%d", (int)getpid());
    ipd_table_options_t opts;
    ipd_table_options_init(&opts);
    opts.instance = instance;
    opts.job_capacity = (uint32_t)jobs + 16;
    opts.task_capacity = (uint32_t)jobs + 16;
    opts.force_rebuild = 1;
    ipd_table_t *table;
    ipd_model_t *model;
    if (ipd_table_create(&opts, &table, NULL) != 0 || ipd_model_create(table, NULL, &model) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    ipd_model_set_node(model, "node-0", 1);

    /* The records, as the Stream holds them: one buffer, offsets into it. */
    ipd_buf_t all;
    ipd_buf_init(&all);
    size_t *at = malloc((records + 1) * sizeof(*at));
    if (at == NULL)
        return 1;
    int64_t t = ipd_model_now();
    for (size_t i = 0; i < records; i++) {
        ipd_job_t job;
        ipd_task_t task;
        memset(&job, 0, sizeof(job));
        snprintf(job.id, sizeof(job.id), "pj-%08zx", i % jobs);
        snprintf(job.image, sizeof(job.image), "registry.example/app-%zu:1", i % jobs);
        job.created_at = t;
        job.spec.backoff_limit = 3;
        job.spec.ttl_seconds_after_finished = -1;
        ipd_task_init(&task, "node-1", t);
        task.state = (uint8_t)(i / jobs + 1 < records / jobs ? IPD_TASK_PULLING : IPD_TASK_SUCCEEDED);
        task.attempts = (uint32_t)(i / jobs) + 1;
        task.pull_ms = (int64_t)i;
        at[i] = all.len;
        if (ipd_redis_record_encode(&all, &job, 3, NULL, &task) != 0)
            return 1;
    }
    at[records] = all.len;

    size_t applied = 0, written = 0;
    double t0 = now_s();
    for (size_t i = 0; i < records; i++) {
        ipd_job_t job;
        ipd_task_t task;
        memset(&job, 0, sizeof(job));
        ipd_task_init(&task, "", 0);
        if (ipd_redis_record_decode(all.data + at[i], at[i + 1] - at[i], &job, &task, NULL, 0) == 0 &&
            ipd_model_remote_task(model, &job, NULL, &task) == 0)
            applied++;
        if ((i + 1) % batch == 0 || i + 1 == records)
            written += ipd_model_flush(model, ipd_model_now());
    }
    double secs = now_s() - t0;
    printf("apply: %zu records in %.3f s: %.0f records/s (batches of %zu, %zu job writes, %u jobs in the table)\n",
           applied, secs, (double)applied / secs, batch, written, ipd_table_job_count(table));

    free(at);
    ipd_buf_dispose(&all);
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    return applied == records ? 0 : 1;
}
