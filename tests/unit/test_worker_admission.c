/*
 * Admission of POSTs against the table's room (worker/rest/admission.c): two workers sharing one
 * stats segment and one read-only table, the master's writes done by hand in between.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/table_fixture.h"
#include "proto/error.h"
#include "worker/rest/rest.h"

static char instance[64];
static ipd_table_t *writer, *reader;
static ipd_stats_segment_t *seg;
static ipd_worker_t *a, *b;

static ipd_worker_t *worker_on(uint32_t slot)
{
    ipd_worker_t *w = calloc(1, sizeof(*w));
    cr_assert_not_null(w);
    w->table = reader;
    w->stats_seg = seg;
    w->stats = ipd_stats_block(seg, slot);
    return w;
}

static void setup(void)
{
    snprintf(instance, sizeof(instance), "tadm-%d", (int)getpid());
    writer = ipd_test_table_create(instance, 4, 8, 64, 8192, 1, NULL);
    cr_assert_eq(ipd_table_attach_readonly(instance, &reader), 0);
    ipd_stats_unlink(instance);
    cr_assert_eq(ipd_stats_create(instance, 2, ipd_worker_stats_route_slots(), (gid_t)-1, &seg), 0);
    a = worker_on(0);
    b = worker_on(1);
}

static void teardown(void)
{
    free(a->refs);
    free(b->refs);
    free(a);
    free(b);
    ipd_stats_destroy(seg);
    ipd_stats_unlink(instance);
    ipd_table_destroy(reader);
    ipd_table_destroy(writer);
    ipd_table_unlink(instance);
}

TestSuite(worker_admission, .init = setup, .fini = teardown);

/* The master inserts job `k` with `ntasks` tasks in `state`. */
static void put(int k, size_t ntasks, ipd_job_state_t state)
{
    ipd_job_t job;
    ipd_task_t tasks[8];
    memset(&job, 0, sizeof(job));
    snprintf(job.id, sizeof(job.id), "pj-%08x", (unsigned)k);
    snprintf(job.image, sizeof(job.image), "example.com/app:%d", k);
    job.created_at = 1700000000000 + k;
    job.version = 1;
    for (size_t i = 0; i < ntasks; i++)
        ipd_task_init(&tasks[i], "node-a", 1);
    ipd_job_aggregate(&job, tasks, ntasks, 1);
    job.state = (uint8_t)state;
    if (state == IPD_JOB_SUCCEEDED)
        job.finished_at = 2;
    cr_assert_eq(ipd_table_put_job(writer, &job, tasks, ntasks, NULL, 0), 0);
}

Test(worker_admission, two_workers_cannot_both_take_the_last_slot)
{
    char msg[256];
    for (int k = 0; k < 3; k++)
        put(k, 1, IPD_JOB_PULLING);
    /* One slot left: A reserves it; B, counting A's reservation, is refused. */
    cr_assert_eq(ipd_worker_admit(a, 1, 1, msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(ipd_worker_admit(b, 1, 1, msg, sizeof(msg)), IPD_EFULL);
    cr_assert(strstr(msg, "table_jobs") != NULL, "%s", msg);
    /* The master inserts A's job, then A gives its reservation back: still full. */
    put(3, 1, IPD_JOB_PENDING);
    ipd_worker_admit_release(a, 1, 1);
    cr_assert_eq(ipd_worker_admit(b, 1, 1, msg, sizeof(msg)), IPD_EFULL);
    /* A finished job is evicted for a new one: it does not count. */
    put(0, 1, IPD_JOB_SUCCEEDED);
    cr_assert_eq(ipd_worker_admit(b, 1, 1, msg, sizeof(msg)), 0, "%s", msg);
    ipd_worker_admit_release(b, 1, 1);
    cr_assert_eq(atomic_load(&ipd_stats_block(seg, 0)->c[IPD_STATS_RESERVED_JOBS]), 0);
    cr_assert_eq(atomic_load(&ipd_stats_block(seg, 1)->c[IPD_STATS_RESERVED_JOBS]), 0);
    cr_assert_eq(atomic_load(&ipd_stats_block(seg, 1)->c[IPD_STATS_RESERVED_TASKS]), 0);
}

Test(worker_admission, tasks_count_and_a_dead_workers_reservation_is_cleared)
{
    char msg[256];
    put(0, 5, IPD_JOB_PULLING);
    /* 8 task slots, 5 held by an active job: a 4-node job does not fit, a 3-node one does. */
    cr_assert_eq(ipd_worker_admit(a, 1, 4, msg, sizeof(msg)), IPD_EFULL);
    cr_assert(strstr(msg, "table_tasks") != NULL, "%s", msg);
    cr_assert_eq(ipd_worker_admit(a, 1, 3, msg, sizeof(msg)), 0, "%s", msg);
    cr_assert_eq(ipd_worker_admit(b, 1, 1, msg, sizeof(msg)), IPD_EFULL);
    /* Worker A dies holding it: the master clears its block's gauges, B gets the room. */
    ipd_stats_reset_gauges(seg, 0);
    cr_assert_eq(ipd_worker_admit(b, 1, 3, msg, sizeof(msg)), 0, "%s", msg);
    ipd_worker_admit_release(b, 1, 3);
}
