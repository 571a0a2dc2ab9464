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
 * shared-memory table after every BATCH records, as the master does after every loop
 * iteration (default 1000, as in the figures of docs/benchmarks.md taken before
 * redis_read_count; the link's default XREAD COUNT is now 4000). Beside the rate it prints the CPU time of the loop,
 * user and system, and its page faults: a job seen for the first time touches fresh memory in
 * the model and in the table, and on a virtual machine those faults are a visible share of
 * the time.
 *
 * With BENCH_WARM=1 in the environment, twice RECORDS records over the same JOBS jobs are made
 * and the first half is applied untimed: the timed half changes jobs the model and the table
 * already hold, without a new job's first touch of fresh memory.
 *
 * Profilers can see the timed loop alone, without the set-up's encoding of the records
 * (bench_profile() in redis_records.h: callgrind --instr-atstart=no, BENCH_PERF_CTL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "master/model.h"
#include "master/redis_link.h"
#include "proto/buf.h"
#include "shared/table.h"
#include "redis_records.h"

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
    ipd_table_t *table;
    ipd_model_t *model;
    if (bench_redis_reader(instance, jobs, &table, &model) != 0)
        return 1;

    const char *warm_env = getenv("BENCH_WARM");
    int warm = warm_env != NULL && strcmp(warm_env, "1") == 0;
    size_t total = warm ? 2 * records : records, first = total - records;

    /* The records, as the Stream holds them: one buffer, offsets into it. */
    ipd_buf_t all;
    ipd_buf_init(&all);
    size_t *at = malloc((total + 1) * sizeof(*at));
    if (at == NULL)
        return 1;
    int64_t t = ipd_model_now();
    for (size_t i = 0; i < total; i++) {
        ipd_job_t job;
        ipd_task_t task;
        bench_redis_record(i, total, jobs, t, &job, &task);
        at[i] = all.len;
        if (ipd_redis_record_encode(&all, &job, 3, NULL, &task) != 0)
            return 1;
    }
    at[total] = all.len;

    size_t applied = 0, written = 0;
    for (size_t i = 0; i < first; i++) {
        ipd_job_t job;
        ipd_task_t task;
        if (ipd_redis_record_decode(all.data + at[i], at[i + 1] - at[i], &job, &task, NULL, 0) != 0 ||
            ipd_model_remote_task(model, &job, NULL, &task) != 0)
            return 1;
        if ((i + 1) % batch == 0 || i + 1 == first)
            ipd_model_flush(model, ipd_model_now());
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    bench_profile(1);
    double t0 = bench_now_s();
    for (size_t i = first; i < total; i++) {
        ipd_job_t job;
        ipd_task_t task;
        if (ipd_redis_record_decode(all.data + at[i], at[i + 1] - at[i], &job, &task, NULL, 0) == 0 &&
            ipd_model_remote_task(model, &job, NULL, &task) == 0)
            applied++;
        if ((i + 1 - first) % batch == 0 || i + 1 == total)
            written += ipd_model_flush(model, ipd_model_now());
    }
    double secs = bench_now_s() - t0;
    bench_profile(0);
    getrusage(RUSAGE_SELF, &ru1);
    printf("apply: %zu records in %.3f s: %.0f records/s (batches of %zu, %zu job writes, %u jobs in the table)\n",
           applied, secs, (double)applied / secs, batch, written, ipd_table_job_count(table));
    double user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec),
           sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    printf("apply: CPU per record: user %.2f us, system %.2f us; page faults per record %.2f\n", user / (double)records,
           sys / (double)records, (double)(ru1.ru_minflt - ru0.ru_minflt) / (double)records);

    free(at);
    ipd_buf_dispose(&all);
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    return applied == records ? 0 : 1;
}
