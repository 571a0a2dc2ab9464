/*
 * What the two Redis benchmarks share (bench_redis.c through Redis, bench_redis_apply.c without
 * it): the clock, the reading daemon's table and model, and the records of node-1 they read.
 * Header-only: each benchmark is one source file (tests/CMakeLists.txt).
 */
#ifndef IPD_BENCH_REDIS_RECORDS_H
#define IPD_BENCH_REDIS_RECORDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_START_INSTRUMENTATION ((void)0)
#define CALLGRIND_STOP_INSTRUMENTATION  ((void)0)
#endif

#include "master/model.h"
#include "proto/job.h"
#include "shared/table.h"

/** Monotonic seconds. */
static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/**
 * The timed part starts (`on`) or ends: callgrind run with --instr-atstart=no counts only what
 * lies between, and with BENCH_PERF_CTL=FIFO in the environment "enable" or "disable" is written
 * to FIFO, for `perf record -D -1 --control fifo:FIFO ...` to sample it alone.
 */
static inline void bench_profile(int on)
{
    if (on)
        CALLGRIND_START_INSTRUMENTATION;
    else
        CALLGRIND_STOP_INSTRUMENTATION;
    const char *ctl = getenv("BENCH_PERF_CTL");
    FILE *f = ctl != NULL ? fopen(ctl, "w") : NULL;
    if (f != NULL) {
        fputs(on ? "enable\n" : "disable\n", f);
        fclose(f);
    }
}

/**
 * Creates the table of instance `instance` (borrowed) with room for `jobs` jobs and a model on
 * it whose own node is node-0, as the reading daemon's. Both are the caller's (ipd_model_destroy,
 * ipd_table_destroy, ipd_table_unlink). Returns 0, or -1 after saying why on stderr.
 */
static inline int bench_redis_reader(const char *instance, size_t jobs, ipd_table_t **table, ipd_model_t **model)
{
    ipd_table_options_t opts;
    ipd_table_options_init(&opts);
    opts.instance = instance;
    opts.job_capacity = (uint32_t)jobs + 16;
    opts.task_capacity = (uint32_t)jobs + 16;
    opts.force_rebuild = 1;
    if (ipd_table_create(&opts, table, NULL) != 0)
        goto fail;
    if (ipd_model_create(*table, NULL, model) != 0) {
        ipd_table_destroy(*table);
        ipd_table_unlink(instance);
        goto fail;
    }
    ipd_model_set_node(*model, "node-0", 1);
    return 0;
fail:
    fprintf(stderr, "set-up failed\n");
    return -1;
}

/**
 * Record `i` of `records` from node-1 at time `t`: job `i % jobs`, changed `records / jobs`
 * times, pulling until its last change, which succeeds.
 */
static inline void bench_redis_record(size_t i, size_t records, size_t jobs, int64_t t, ipd_job_t *job,
                                      ipd_task_t *task)
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08zx", i % jobs);
    snprintf(job->image, sizeof(job->image), "registry.example/app-%zu:1", i % jobs);
    job->created_at = t;
    job->spec.backoff_limit = 3;
    job->spec.ttl_seconds_after_finished = -1;
    ipd_task_init(task, "node-1", t);
    task->state = (uint8_t)(i / jobs + 1 < records / jobs ? IPD_TASK_PULLING : IPD_TASK_SUCCEEDED);
    task->attempts = (uint32_t)(i / jobs) + 1;
    task->pull_ms = (int64_t)i;
}

#endif
