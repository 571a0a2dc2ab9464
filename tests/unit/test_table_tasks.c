/*
 * The table's writer at scale: a put that names its changed tasks (ipd_table_put_tasks), the
 * change record that names the task, and the ordered lists kept with holes (shared/table.h,
 * docs/shm-layout.md) checked against a sorted model through many enters and leaves.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/instance.h"
#include "proto/error.h"
#include "shared/table.h"

static char instance[64];
static int instance_seq;

static void new_instance(void)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "tasks-%d", ++instance_seq);
    ipd_test_instance(instance, sizeof(instance), tag);
    ipd_table_unlink(instance);
}

static void drop_instance(void)
{
    ipd_table_unlink(instance);
}

static ipd_table_t *make_table(uint32_t jobs, uint32_t tasks, uint32_t ring, uint32_t json)
{
    ipd_table_options_t o;
    ipd_table_t *t = NULL;
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = jobs;
    o.task_capacity = tasks;
    o.ring_capacity = ring;
    o.json_capacity = json;
    int rc = ipd_table_create(&o, &t, NULL);
    cr_assert_eq(rc, 0, "ipd_table_create: %s", ipd_strerror(rc));
    return t;
}

static ipd_job_t job_of(const char *id, int state, int64_t created, int64_t finished, uint64_t version)
{
    ipd_job_t j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.image, sizeof(j.image), "registry.local/%s:1", id);
    j.state = (uint8_t)state;
    j.created_at = created;
    j.finished_at = finished;
    j.version = version;
    return j;
}

static void tasks_of(ipd_task_t *tasks, size_t n)
{
    memset(tasks, 0, n * sizeof(*tasks));
    for (size_t i = 0; i < n; i++) {
        snprintf(tasks[i].node, sizeof(tasks[i].node), "node-%zu", i);
        tasks[i].attempts = (uint32_t)i;
        tasks[i].image_bytes = -1;
    }
}

/* The last change record of `t`. */
static ipd_ring_entry_t last_record(const ipd_table_t *t)
{
    ipd_ring_entry_t e;
    size_t n = 0;
    uint64_t head = ipd_table_ring_head(t);
    cr_assert_gt(head, 0);
    cr_assert_eq(ipd_table_ring_read(t, head - 1, &e, 1, &n), 0);
    cr_assert_eq(n, 1);
    return e;
}

/* Reads job `id` through `r` and compares its tasks with `want` (n entries). */
static void expect_job(const ipd_table_t *r, const char *id, uint64_t version, const ipd_task_t *want, size_t n)
{
    ipd_job_t got;
    ipd_task_t tasks[16];
    ipd_table_job_view_t v = {.job = &got, .tasks = tasks, .task_cap = 16};
    cr_assert_eq(ipd_table_get_job(r, id, &v), 0);
    cr_expect_eq(got.version, version);
    cr_assert_eq(v.ntasks, n);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(memcmp(&tasks[i], &want[i], sizeof(tasks[i])), 0, "task %zu differs", i);
}

TestSuite(table_tasks, .init = new_instance, .fini = drop_instance, .timeout = 120);

Test(table_tasks, put_tasks_rewrites_only_the_named_tasks)
{
    ipd_table_t *w = make_table(8, 64, 64, 256), *r = NULL;
    ipd_task_t tasks[10], one;
    ipd_job_t j = job_of("pj-a", IPD_JOB_PULLING, 100, 0, 1);
    tasks_of(tasks, 10);
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, 10, NULL, 0), 0);
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_NONE, "a new job names no task");

    /* One task changes: the others are neither passed nor touched. */
    tasks[3].attempts = 99;
    tasks[3].state = IPD_TASK_PULLING;
    j.version = 2;
    uint32_t idx = 3;
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, &idx, &tasks[3], 1, "{\"x\":1}", 7), 0);
    expect_job(r, "pj-a", 2, tasks, 10);
    ipd_ring_entry_t e = last_record(r);
    cr_expect_eq(e.kind, IPD_RING_JOB_UPSERTED);
    cr_expect_eq(e.task, 3);
    cr_expect_eq(e.version, 2);
    char json[64];
    ipd_job_t got;
    ipd_table_job_view_t v = {.job = &got, .json = json, .json_cap = sizeof(json)};
    cr_assert_eq(ipd_table_get_job(r, "pj-a", &v), 0);
    cr_expect(v.has_json && v.json_len == 7 && memcmp(json, "{\"x\":1}", 7) == 0);

    /* Two tasks: the record names none. */
    uint32_t two[2] = {1, 9};
    ipd_task_t changed[2] = {tasks[1], tasks[9]};
    changed[0].attempts = tasks[1].attempts = 11;
    changed[1].attempts = tasks[9].attempts = 19;
    j.version = 3;
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, two, changed, 2, NULL, 0), 0);
    expect_job(r, "pj-a", 3, tasks, 10);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_NONE);

    /* The job record alone. */
    j.version = 4;
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, NULL, NULL, 0, NULL, 0), 0);
    expect_job(r, "pj-a", 4, tasks, 10);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_NONE);

    /* A full put that differs in one task names it too. */
    tasks[7].attempts = 77;
    j.version = 5;
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, 10, NULL, 0), 0);
    expect_job(r, "pj-a", 5, tasks, 10);
    cr_expect_eq(last_record(r).task, 7);

    /* Refusals write nothing. */
    uint64_t gen = ipd_table_generation(w);
    one = tasks[0];
    one.attempts = 1000;
    idx = 0;
    j.version = 6;
    ipd_job_t other = job_of("pj-none", IPD_JOB_PULLING, 1, 0, 1);
    cr_expect_eq(ipd_table_put_tasks(w, &other, 10, &idx, &one, 1, NULL, 0), IPD_ENOTFOUND);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 9, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 11, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    idx = 10;
    cr_expect_eq(ipd_table_put_tasks(w, &j, 10, &idx, &one, 1, NULL, 0), IPD_EINVAL);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 10, NULL, &one, 1, NULL, 0), IPD_EINVAL);
    idx = 0;
    cr_expect_eq(ipd_table_put_tasks(r, &j, 10, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    cr_expect_eq(ipd_table_generation(w), gen);
    expect_job(r, "pj-a", 5, tasks, 10);

    /* A state change through put_tasks moves the job between lists. */
    ipd_table_ref_t refs[4];
    size_t n = 0, total = 0;
    cr_assert_eq(ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, 4, &n, &total, NULL), 0);
    cr_expect_eq(total, 1);
    j.state = IPD_JOB_FAILED;
    j.finished_at = 500;
    tasks[0].state = IPD_TASK_FAILED;
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, &idx, &tasks[0], 1, NULL, 0), 0);
    cr_assert_eq(ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, 4, &n, &total, NULL), 0);
    cr_expect_eq(total, 0);
    cr_assert_eq(ipd_table_list(r, IPD_TABLE_LIST_FAILED, refs, 4, &n, &total, NULL), 0);
    cr_expect_eq(total, 1);
    expect_job(r, "pj-a", 6, tasks, 10);
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

/* The model the lists are checked against. */
#define POOL 300
typedef struct mjob {
    char id[IPD_JOB_ID_SIZE];
    int state; /* -1: not in the table */
    int64_t created, finished;
} mjob_t;

static mjob_t pool[POOL];
static int sort_kind;

static int api_order(const void *a, const void *b)
{
    const mjob_t *x = *(const mjob_t *const *)a, *y = *(const mjob_t *const *)b;
    if (sort_kind == IPD_TABLE_LIST_ACTIVE) {
        if (x->created != y->created)
            return x->created < y->created ? -1 : 1;
        return strcmp(x->id, y->id);
    }
    if (x->finished != y->finished)
        return x->finished > y->finished ? -1 : 1;
    return strcmp(y->id, x->id);
}

static int in_list(const mjob_t *m, int kind)
{
    if (m->state < 0)
        return 0;
    if (kind == IPD_TABLE_LIST_ACTIVE)
        return m->state == IPD_JOB_PENDING || m->state == IPD_JOB_PULLING;
    return m->state == IPD_JOB_FAILED;
}

/* Compares list `kind` of `r`, read with room for `cap` refs, with the model. */
static void expect_list(const ipd_table_t *r, int kind, size_t cap, int step)
{
    static const mjob_t *want[POOL];
    static ipd_table_ref_t refs[POOL];
    size_t nwant = 0, n = 0, total = 0;
    for (int i = 0; i < POOL; i++)
        if (in_list(&pool[i], kind))
            want[nwant++] = &pool[i];
    sort_kind = kind;
    qsort(want, nwant, sizeof(want[0]), api_order);
    cr_assert_eq(ipd_table_list(r, (ipd_table_list_kind_t)kind, refs, cap, &n, &total, NULL), 0);
    cr_assert_eq(total, nwant, "step %d list %d: %zu jobs, model %zu", step, kind, total, nwant);
    cr_assert_eq(n, nwant < cap ? nwant : cap, "step %d list %d", step, kind);
    for (size_t i = 0; i < n; i++) {
        ipd_job_t j;
        ipd_table_job_view_t v = {.job = &j};
        cr_assert_eq(ipd_table_get_job_at(r, refs[i], &v), 0, "step %d list %d ref %zu", step, kind, i);
        cr_assert_str_eq(j.id, want[i]->id, "step %d list %d position %zu", step, kind, i);
    }
}

Test(table_tasks, lists_follow_a_sorted_model_through_many_enters_and_leaves)
{
    /* Room for every job and task of the pool: no eviction, so the model stays exact. */
    ipd_table_t *w = make_table(POOL + 8, POOL + 8, 1024, 0), *r = NULL;
    static const int states[] = {IPD_JOB_PENDING, IPD_JOB_PULLING, IPD_JOB_FAILED, IPD_JOB_SUCCEEDED};
    uint64_t rnd = 0x9e3779b97f4a7c15u;
    int64_t clock = 1000;
    ipd_task_t task;
    tasks_of(&task, 1);
    for (int i = 0; i < POOL; i++) {
        snprintf(pool[i].id, sizeof(pool[i].id), "pj-%05d", (i * 7919) % 100000);
        pool[i].state = -1;
    }
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    for (int step = 0; step < 6000; step++) {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        mjob_t *m = &pool[rnd % POOL];
        int action = (int)((rnd >> 20) % 16);
        clock += 1 + (int64_t)((rnd >> 30) % 3);
        if (action == 0 && m->state >= 0) {
            cr_assert_eq(ipd_table_delete_job(w, m->id), 0);
            m->state = -1;
        } else {
            int state = states[(rnd >> 40) % 4];
            if (m->state < 0) {
                /* Mostly the newest job; sometimes an older one (a remote job, a clock step), a
                 * little before the end or anywhere, and ties broken by the id. */
                int64_t back = (rnd >> 44) % 4 == 0 ? (int64_t)((rnd >> 48) % 40) : 0;
                if ((rnd >> 56) % 32 == 0)
                    back = (int64_t)((rnd >> 8) % 5000);
                m->created = clock - back;
            }
            int64_t late = (rnd >> 58) % 16 == 0 ? (int64_t)((rnd >> 12) % 3000) : (int64_t)((rnd >> 50) % 3);
            m->finished = state == IPD_JOB_FAILED || state == IPD_JOB_SUCCEEDED ? clock - late : 0;
            m->state = state;
            ipd_job_t j = job_of(m->id, state, m->created, m->finished, (uint64_t)step + 1);
            cr_assert_eq(ipd_table_put_job(w, &j, &task, 1, NULL, 0), 0, "step %d", step);
        }
        expect_list(r, IPD_TABLE_LIST_ACTIVE, POOL, step);
        expect_list(r, IPD_TABLE_LIST_FAILED, POOL, step);
        if (step % 97 == 0) {
            expect_list(r, IPD_TABLE_LIST_ACTIVE, 3, step);
            expect_list(r, IPD_TABLE_LIST_FAILED, 3, step);
        }
        if (step == 3000) {
            /* A new writer rebuilds the lists from the slots and goes on. */
            ipd_table_destroy(w);
            w = make_table(POOL + 8, POOL + 8, 1024, 0);
            expect_list(w, IPD_TABLE_LIST_ACTIVE, POOL, step);
            expect_list(w, IPD_TABLE_LIST_FAILED, POOL, step);
        }
    }
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

#define BIG 200

/* Task `i` of the big job at job version `v`: the last change of task i is at the largest
 * version <= v that is i modulo BIG (version 0: the first put), and its bytes say which. */
static void big_task(ipd_task_t *t, size_t i, uint64_t v)
{
    uint64_t at = v < i ? 0 : v - (v - i) % BIG;
    memset(t, 0, sizeof(*t));
    snprintf(t->node, sizeof(t->node), "node-%zu", i);
    snprintf(t->message, sizeof(t->message), "task %zu changed at %llu", i, (unsigned long long)at);
    memset(t->fail_message, 'a' + (int)(at % 26), 300);
    t->updated_at = (int64_t)at;
    t->attempts = (uint32_t)at;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(table_tasks, readers_see_one_version_of_a_job_updated_one_task_at_a_time)
{
    ipd_table_t *w = make_table(4, 2 * BIG, 1024, 0), *r = NULL;
    static ipd_task_t tasks[BIG];
    ipd_job_t j = job_of("pj-big", IPD_JOB_PULLING, 1, 0, 0);
    for (size_t i = 0; i < BIG; i++)
        big_task(&tasks[i], i, 0);
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, BIG, NULL, 0), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* Writer: version v changes task v % BIG only, as fast as it can. */
        for (uint64_t v = 1;; v++) {
            ipd_task_t t;
            uint32_t idx = (uint32_t)(v % BIG);
            big_task(&t, idx, v);
            j.version = v;
            if (ipd_table_put_tasks(w, &j, BIG, &idx, &t, 1, NULL, 0) != 0)
                _exit(3);
        }
    }
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    uint64_t reads = 0, busy = 0, bad = 0, last = 0;
    double end = now_s() + 1.5;
    while (now_s() < end) {
        ipd_job_t got;
        ipd_table_job_view_t v = {.job = &got, .tasks = tasks, .task_cap = BIG};
        int rc = ipd_table_get_job(r, "pj-big", &v);
        if (rc == IPD_EBUSY) {
            busy++;
            continue;
        }
        cr_assert_eq(rc, 0, "%s", ipd_strerror(rc));
        cr_assert_eq(v.ntasks, BIG);
        for (size_t i = 0; i < BIG; i++) {
            ipd_task_t want;
            big_task(&want, i, got.version);
            if (memcmp(&want, &tasks[i], sizeof(want)) != 0) {
                bad++;
                break;
            }
        }
        last = got.version;
        reads++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_expect(WIFSIGNALED(status), "the writer stopped by itself (status %d)", status);
    cr_expect_eq(bad, 0, "%llu of %llu reads mixed versions", (unsigned long long)bad, (unsigned long long)reads);
    cr_expect_gt(reads, 10);
    cr_expect_gt(last, BIG, "the writer went round the job at least once during the reads");
    cr_log_info("%llu reads, %llu busy, last version %llu", (unsigned long long)reads, (unsigned long long)busy,
                (unsigned long long)last);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}
