/*
 * The Redis link: remote ingestion and Redis CPU per task change, against a redis-server of
 * the benchmark's own (tests/bench/bench_redis.sh starts it).
 *
 *   bench_redis PORT RECORDS JOBS
 *
 * 1. A Stream is pre-filled with RECORDS records of node-1 (JOBS jobs, RECORDS / JOBS changes
 *    each, sequence numbers 1..RECORDS) while the reading link (node-0) waits connected.
 * 2. Plain loop: a synchronous hiredis XREAD loop reads the same entries, three passes at COUNT
 *    1000 and three at the link's COUNT (redis_read_count, default 4000).
 * 3. Link: node-0's link (async hiredis on the master loop) reads them, decodes every record,
 *    applies it to a model and publishes the changed jobs to a shared-memory table once per
 *    loop iteration, as the master does. Its rate is set against the fastest plain pass.
 * 4. Redis CPU: node-2's link publishes RECORDS / 4 task changes, 1000 per loop turn (batched,
 *    one script call per 256 changes); Redis's INFO commandstats says what the scripts cost. A
 *    task change is one call of ipd_redis_link_publish(); the EVAL usec include the HSET, XADD
 *    and INCRBY the script runs (printed as well, from their own commandstats lines).
 * 5. The same number of changes as MULTI/EXEC transactions of plain HSET and XADD, for comparison.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/loop.h"
#include "master/model.h"
#include "master/publish.h"
#include "master/redis_link.h"
#include "proto/buf.h"
#include "shared/table.h"
#include "redis_records.h"

/* This process's CPU time: what reading and applying cost it, whatever the machine's load. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct ctx {
    ipd_model_t *model;
    size_t applied;
} ctx_t;

static void apply(void *data, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    ctx_t *c = data;
    if (c->model != NULL)
        ipd_model_remote_task(c->model, job, selection, task);
    c->applied++;
}

static void config(ipd_config_t *cfg, const char *port, const char *node, const char *prefix, size_t records)
{
    char err[256];
    ipd_config_init(cfg);
    ipd_config_finalize(cfg, err, sizeof(err));
    snprintf(cfg->redis, sizeof(cfg->redis), "127.0.0.1:%s", port);
    snprintf(cfg->node_name, sizeof(cfg->node_name), "%s", node);
    snprintf(cfg->redis_prefix, sizeof(cfg->redis_prefix), "%s", prefix);
    cfg->redis_stream_maxlen = (int)records * 2;
    /* The longest TTL: a command unanswered for a third of it fails the link. The reading link's
     * XREAD BLOCK waits unanswered while the loop does not run (the fill and the plain passes,
     * tens of seconds for large runs), and must still be reading when the link is timed. */
    cfg->redis_liveness_ttl_ms = 3600000;
}

/* The reading link and how it publishes (redis_catchup_publish), for run_until(). */
typedef struct reading {
    ipd_model_t *model;     /* NULL: nothing applied, nothing to publish */
    ipd_redis_link_t *link; /* NULL: publish after every loop turn */
    int64_t window_ms;
} reading_t;

/* The longest publishing turn run_until() made: the master's loop does nothing else meanwhile. */
static double longest_flush_s;

/*
 * Runs the loop until done(arg) and nothing waits to be published, publishing after every turn
 * as the master does (master/publish.h, the same call): changes of other nodes' records held
 * back while the link catches up, then written in parts.
 */
static void run_until(ipd_mloop_t *loop, const reading_t *rd, int (*done)(void *), void *arg, double limit_s)
{
    double start = bench_now_s();
    int wait = 100;
    while (!(done(arg) && (rd == NULL || ipd_model_remote_dirty_since(rd->model) == 0)) &&
           bench_now_s() - start < limit_s) {
        ipd_mloop_run_once(loop, wait);
        wait = 100;
        if (rd == NULL)
            continue;
        size_t written;
        int64_t again;
        double f0 = bench_now_s();
        ipd_publish_turn(rd->model, rd->link, (uint64_t)rd->window_ms, ipd_model_monotonic_ms(), ipd_model_now(),
                         &written, &again);
        double f = bench_now_s() - f0;
        if (f > longest_flush_s)
            longest_flush_s = f;
        if (again >= 0)
            wait = (int)again;
    }
}

static int link_up(void *arg)
{
    ipd_redis_link_stats_t s;
    ipd_redis_link_stats(arg, &s);
    return s.state == IPD_REDIS_UP;
}

typedef struct want_applied {
    ctx_t *c;
    size_t n;
} want_applied_t;

static int all_applied(void *arg)
{
    want_applied_t *w = arg;
    return w->c->applied >= w->n;
}

typedef struct want_published {
    ipd_redis_link_t *l;
    uint64_t n;
} want_published_t;

static int all_published(void *arg)
{
    want_published_t *w = arg;
    ipd_redis_link_stats_t s;
    ipd_redis_link_stats(w->l, &s);
    return s.published >= w->n;
}

/* A figure of `INFO commandstats` for command `cmd` (lower case), e.g. "calls=" or "usec=". */
static long long cmd_stat(redisContext *rc, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    long long v = 0;
    char head[64];
    snprintf(head, sizeof(head), "cmdstat_%s:", cmd);
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, head);
        const char *k = p ? strstr(p, key) : NULL;
        if (k != NULL)
            v = atoll(k + strlen(key));
    }
    freeReplyObject(r);
    return v;
}

/* Redis's own CPU time (user + system, all threads) in microseconds, from INFO cpu: unlike the
 * commandstats usec, which are wall-clock time inside each call, it does not grow when the
 * machine's load preempts Redis in the middle of a call. */
static double cpu_us(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO cpu");
    double v = 0;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *u = strstr(r->str, "used_cpu_user:"), *s = strstr(r->str, "used_cpu_sys:");
        if (u != NULL && s != NULL)
            v = (atof(u + strlen("used_cpu_user:")) + atof(s + strlen("used_cpu_sys:"))) * 1e6;
    }
    freeReplyObject(r);
    return v;
}

static long long eval_stat(redisContext *rc, const char *key)
{
    return cmd_stat(rc, "eval", key);
}

/*
 * The alternative to the script, for comparison: the same changes as plain HSET and XADD in
 * MULTI/EXEC transactions of BATCH changes each, pipelined (no sequence number: a transaction
 * cannot put an INCR's answer into the XADD after it).
 */
#define MULTI_BATCH 256
/* The publishing phase's change number `i`: job `i % jobs` (id and image only), its task on `node`
 * pulling, with `pull_ms` = i so that every change differs from the one before. */
static void publish_change(size_t i, size_t jobs, const char *node, ipd_job_t *job, ipd_task_t *task)
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08zx", i % jobs);
    snprintf(job->image, sizeof(job->image), "registry.example/app-%zu:1", i % jobs);
    ipd_task_init(task, node, ipd_model_now());
    task->state = IPD_TASK_PULLING;
    task->pull_ms = (int64_t)i;
}

static void multi_exec(redisContext *rc, size_t records, size_t jobs)
{
    static const char *const cmds[] = {"multi", "exec", "hset", "xadd"};
    long long calls0[4], usec0[4];
    for (int k = 0; k < 4; k++) {
        calls0[k] = cmd_stat(rc, cmds[k], "calls=");
        usec0[k] = cmd_stat(rc, cmds[k], "usec=");
    }
    ipd_buf_t rec;
    ipd_buf_init(&rec);
    double cpu0 = cpu_us(rc);
    size_t n = records / 4, sent = 0;
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%zu", records * 2);
    double t0 = bench_now_s();
    while (sent < n) {
        size_t k = n - sent < MULTI_BATCH ? n - sent : MULTI_BATCH;
        redisAppendCommand(rc, "MULTI");
        for (size_t i = sent; i < sent + k; i++) {
            ipd_job_t job;
            ipd_task_t task;
            publish_change(i, jobs, "node-3", &job, &task);
            ipd_buf_reset(&rec);
            ipd_redis_record_encode(&rec, &job, 3, NULL, &task);
            const char *hv[] = {"HSET", "{benchm}:tasks:node-3", job.id, rec.data};
            size_t hl[] = {4, strlen(hv[1]), strlen(job.id), rec.len};
            redisAppendCommandArgv(rc, 4, hv, hl);
            const char *xv[] = {"XADD", "{benchm}:stream", "MAXLEN", "~",    maxlen, "*",
                                "n",    "node-3",          "j",      job.id, "r",    rec.data};
            size_t xl[12];
            for (int a = 0; a < 12; a++)
                xl[a] = strlen(xv[a]);
            xl[11] = rec.len;
            redisAppendCommandArgv(rc, 12, xv, xl);
        }
        redisAppendCommand(rc, "EXEC");
        for (size_t i = 0; i < 2 * k + 2; i++) {
            redisReply *r;
            if (redisGetReply(rc, (void **)&r) != REDIS_OK)
                return;
            freeReplyObject(r);
        }
        sent += k;
    }
    double secs = bench_now_s() - t0, cpu = cpu_us(rc) - cpu0;
    long long d[4], u[4];
    for (int k = 0; k < 4; k++) {
        d[k] = cmd_stat(rc, cmds[k], "calls=") - calls0[k];
        u[k] = cmd_stat(rc, cmds[k], "usec=") - usec0[k];
    }
    printf("MULTI/EXEC of HSET+XADD, %d changes each: %zu changes in %.3f s; Redis: %lld EXEC, %.2f us per change "
           "(MULTI %.2f, EXEC %.2f, HSET %.2f, XADD %.2f)\n",
           MULTI_BATCH, n, secs, d[1], (double)(u[0] + u[1]) / (double)n, (double)u[0] / (double)n,
           (double)u[1] / (double)n, (double)u[2] / (double)n, (double)u[3] / (double)n);
    printf("  Redis process CPU (INFO cpu): %.2f us per change\n", cpu / (double)n);
    ipd_buf_dispose(&rec);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_redis PORT RECORDS JOBS\n");
        return 2;
    }
    size_t records = strtoul(argv[2], NULL, 10), jobs = strtoul(argv[3], NULL, 10);
    if (records == 0 || jobs == 0 || jobs > records) {
        fprintf(stderr, "RECORDS and JOBS must be positive, JOBS at most RECORDS\n");
        return 2;
    }
    redisContext *rc = redisConnect("127.0.0.1", atoi(argv[1]));
    if (rc == NULL || rc->err) {
        fprintf(stderr, "cannot connect to Redis\n");
        return 1;
    }
    freeReplyObject(redisCommand(rc, "FLUSHALL"));

    char instance[64];
    snprintf(instance, sizeof(instance), "bench-redis-%d", (int)getpid());
    ipd_table_t *table;
    ipd_model_t *model;
    ipd_mloop_t *loop;
    if (bench_redis_reader(instance, jobs, &table, &model) != 0)
        return 1;
    if (ipd_mloop_create(&loop) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }

    /* The reader connects first and waits on XREAD BLOCK; the loop does not run while filling. */
    static ipd_config_t cfg;
    char err[256];
    /* BENCH_LINK_ONLY=1: records are decoded and counted, not applied (the link's own cost). */
    ctx_t c = {getenv("BENCH_LINK_ONLY") ? NULL : model, 0};
    ipd_redis_link_ops_t ops = {.apply = apply, .ctx = &c};
    ipd_redis_link_t *reader;
    /*
     * BENCH_WARM=1: the Stream holds 2 x RECORDS records, the same jobs changed twice as often.
     * The link applies the first RECORDS untimed, so that every job is known to the daemon (its
     * model records and table slots in memory), then the plain loop and the timed link read the
     * second RECORDS: changes to jobs the daemon holds, without a new job's first-touch cost.
     */
    int warm = getenv("BENCH_WARM") != NULL && strcmp(getenv("BENCH_WARM"), "1") == 0;
    size_t total = warm ? 2 * records : records;
    char first_id[64] = "0-0"; /* the timed entries come after this id */
    config(&cfg, argv[1], "node-0", "bench", total);
    /* BENCH_READ_COUNT=N: the link reads with redis_read_count N instead of the default. */
    if (getenv("BENCH_READ_COUNT") != NULL && atoi(getenv("BENCH_READ_COUNT")) > 0)
        cfg.redis_read_count = atoi(getenv("BENCH_READ_COUNT"));
    /* BENCH_CATCHUP_MS=N: redis_catchup_publish N ms instead of the default (0: publish after
     * every reply, as before that setting). */
    if (getenv("BENCH_CATCHUP_MS") != NULL)
        cfg.redis_catchup_publish_ms = (uint64_t)atoll(getenv("BENCH_CATCHUP_MS"));
    if (ipd_redis_link_create(loop, &cfg, &ops, &reader, err, sizeof(err)) != 0) {
        fprintf(stderr, "link: %s\n", err);
        return 1;
    }
    run_until(loop, NULL, link_up, reader, 10);
    reading_t rd = {model, reader, (int64_t)cfg.redis_catchup_publish_ms};

    /* Pre-fill: node-1's records, pipelined. */
    ipd_buf_t rec;
    ipd_buf_init(&rec);
    double t0 = bench_now_s();
    /* One time for every record, as a daemon's records of a job carry the job's one creation
     * time: a time that moved with each record would move each job in the table's list of
     * active jobs (ordered by creation) at every change. */
    int64_t created = ipd_model_now();
    for (size_t i = 0; i < total; i++) {
        ipd_job_t job;
        ipd_task_t task;
        bench_redis_record(i, total, jobs, created, &job, &task);
        ipd_buf_reset(&rec);
        ipd_redis_record_encode(&rec, &job, 3, NULL, &task);
        char seq[24];
        snprintf(seq, sizeof(seq), "%zu", i + 1);
        const char *av[] = {"XADD", "{bench}:stream", "*", "n", "node-1", "s", seq, "j", job.id, "r", rec.data};
        size_t al[11];
        for (int k = 0; k < 11; k++)
            al[k] = strlen(av[k]);
        al[10] = rec.len;
        redisAppendCommandArgv(rc, 11, av, al);
        if ((i + 1) % 1000 == 0 || i + 1 == total)
            for (size_t k = i - (i % 1000); k <= i; k++) {
                redisReply *r;
                if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
                    fprintf(stderr, "fill failed\n");
                    return 1;
                }
                if (warm && k + 1 == records && r->type == REDIS_REPLY_STRING)
                    snprintf(first_id, sizeof(first_id), "%.*s", (int)r->len, r->str);
                freeReplyObject(r);
            }
    }
    printf("fill: %zu records (%zu jobs) in %.3f s, %zu bytes each%s\n", total, jobs, bench_now_s() - t0, rec.len,
           warm ? "; the link applies the first half untimed (warm), the second half is measured" : "");

    /* Plain loop: at COUNT 1000 and at the link's COUNT (redis_read_count), three passes each;
     * the link is set against the fastest pass of either. */
    int counts[2] = {1000, cfg.redis_read_count};
    double best_plain = 0;
    for (int ci = 0; ci < (counts[1] != counts[0] ? 2 : 1); ci++) {
        for (int run = 1; run <= 3; run++) {
            char last[64];
            snprintf(last, sizeof(last), "%s", first_id);
            size_t got = 0;
            t0 = bench_now_s();
            double c0 = cpu_s(), r0 = cpu_us(rc);
            while (got < records) {
                redisReply *r = redisCommand(rc, "XREAD COUNT %d STREAMS {bench}:stream %s", counts[ci], last);
                if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
                    break;
                redisReply *entries = r->element[0]->element[1];
                got += entries->elements;
                redisReply *id = entries->element[entries->elements - 1]->element[0];
                snprintf(last, sizeof(last), "%.*s", (int)id->len, id->str);
                freeReplyObject(r);
            }
            double secs = bench_now_s() - t0, cpu = cpu_s() - c0, rcpu = cpu_us(rc) - r0;
            if ((double)got / secs > best_plain)
                best_plain = (double)got / secs;
            printf("plain XREAD loop, COUNT %d, run %d: %zu entries in %.3f s: %.0f entries/s; CPU per entry: reader "
                   "%.2f us, Redis %.2f us\n",
                   counts[ci], run, got, secs, (double)got / secs, cpu * 1e6 / (double)got, rcpu / (double)got);
        }
    }

    /* The link. */
    if (warm) {
        want_applied_t w0 = {&c, records};
        /* Published after every turn, so that it stops within a reply of the timed half
         * rather than holding back to the end of the Stream. */
        reading_t untimed = {model, NULL, 0};
        run_until(loop, &untimed, all_applied, &w0, 120);
    }
    size_t before = c.applied;
    uint64_t flushes0 = ipd_model_stats(model)->flushes;
    longest_flush_s = 0;
    want_applied_t wa = {&c, total}; /* the warm part may have run a reply into the second half */
    t0 = bench_now_s();
    double c0 = cpu_s(), r0 = cpu_us(rc);
    bench_profile(1);
    run_until(loop, &rd, all_applied, &wa, 120);
    bench_profile(0);
    double secs = bench_now_s() - t0, cpu = cpu_s() - c0, rcpu = cpu_us(rc) - r0;
    ipd_redis_link_stats_t st;
    ipd_redis_link_stats(reader, &st);
    size_t timed = c.applied - before;
    printf("link: %zu records applied in %.3f s: %.0f records/s (decoded, applied to the model, %u jobs in the "
           "table; skipped %llu)\n",
           timed, secs, (double)timed / secs, ipd_table_job_count(table), (unsigned long long)st.skipped);
    printf("link: CPU per record: daemon %.2f us, Redis %.2f us; longest publishing turn %.1f ms\n",
           cpu * 1e6 / (double)timed, rcpu / (double)timed, longest_flush_s * 1e3);
    printf("link: XREAD COUNT %d, redis_catchup_publish %llu ms, %llu flushes; %s; %.2f x the fastest plain pass "
           "(%.0f entries/s)\n",
           cfg.redis_read_count, (unsigned long long)cfg.redis_catchup_publish_ms,
           (unsigned long long)(ipd_model_stats(model)->flushes - flushes0), warm ? "warm" : "cold",
           (double)timed / secs / best_plain, best_plain);
    int ok = c.applied >= total;
    ipd_redis_link_destroy(reader);

    /* Redis CPU per task change, through the publishing path. */
    ipd_redis_link_t *writer;
    ipd_redis_link_ops_t none = {0};
    config(&cfg, argv[1], "node-2", "benchw", records);
    if (ipd_redis_link_create(loop, &cfg, &none, &writer, err, sizeof(err)) != 0)
        return 1;
    run_until(loop, NULL, link_up, writer, 10);
    long long calls0 = eval_stat(rc, "calls="), usec0 = eval_stat(rc, "usec=");
    double cpu0 = cpu_us(rc);
    static const char *const inner[] = {"hset", "xadd", "incrby"};
    long long icalls0[3], iusec0[3];
    for (int k = 0; k < 3; k++) {
        icalls0[k] = cmd_stat(rc, inner[k], "calls=");
        iusec0[k] = cmd_stat(rc, inner[k], "usec=");
    }
    size_t n = records / 4;
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        ipd_job_t job;
        ipd_task_t task;
        publish_change(i, jobs, "node-2", &job, &task);
        ipd_redis_link_publish(writer, &job, 3, NULL, &task);
        if (i % 1000 == 999)
            ipd_mloop_run_once(loop, 0);
    }
    ipd_redis_link_stats(writer, &st);
    want_published_t wp = {writer, st.published + 0};
    wp.n = n;
    run_until(loop, NULL, all_published, &wp, 120);
    secs = bench_now_s() - t0;
    long long calls = eval_stat(rc, "calls=") - calls0, usec = eval_stat(rc, "usec=") - usec0;
    double pcpu = cpu_us(rc) - cpu0;
    ipd_redis_link_stats(writer, &st);
    printf("publish: %zu task changes in %.3f s (%.0f/s); Redis: %lld EVAL calls for %llu changes, %lld us: %.2f us "
           "per task change\n",
           n, secs, (double)n / secs, calls, (unsigned long long)st.published, usec,
           st.published ? (double)usec / (double)st.published : 0.0);
    /* The commands the script runs, counted by Redis inside the EVAL figure above. */
    static const char *const inner2[] = {"hset", "xadd", "incrby"};
    for (int k = 0; k < 3; k++) {
        long long ic = cmd_stat(rc, inner2[k], "calls=") - icalls0[k],
                  iu = cmd_stat(rc, inner2[k], "usec=") - iusec0[k];
        printf("  inside it, %s: %lld calls, %.2f us per change\n", inner2[k], ic,
               st.published ? (double)iu / (double)st.published : 0.0);
    }
    printf("  Redis process CPU (INFO cpu, everything: network, parsing, scripts): %.2f us per task change\n",
           st.published ? pcpu / (double)st.published : 0.0);
    multi_exec(rc, records, jobs);
    ipd_redis_link_destroy(writer);

    ipd_buf_dispose(&rec);
    redisFree(rc);
    ipd_mloop_destroy(loop);
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    return ok ? 0 : 1;
}
