#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/instance.h"
#include "proto/error.h"
#include "common/table_fixture.h"
#include "shared/table.h"
#include "shared/table_internal.h"

static char instance[64];
static int instance_seq;

static void new_instance(void)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "table-%d", ++instance_seq);
    ipd_test_instance(instance, sizeof(instance), tag);
    ipd_table_unlink(instance);
}

static void drop_instance(void)
{
    ipd_table_unlink(instance);
}

#define make_table(jobs, tasks, ring, json, info) ipd_test_table_create(instance, jobs, tasks, ring, json, 0, info)

static ipd_job_t job_of(const char *id, int state, int64_t created, int64_t finished)
{
    ipd_job_t j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.image, sizeof(j.image), "registry.local/%s:1", id);
    j.state = (uint8_t)state;
    j.created_at = created;
    j.finished_at = finished;
    j.version = 1;
    return j;
}

static void tasks_of(ipd_task_t *tasks, size_t n, const char *tag)
{
    memset(tasks, 0, n * sizeof(*tasks));
    for (size_t i = 0; i < n; i++) {
        snprintf(tasks[i].node, sizeof(tasks[i].node), "node-%s-%zu", tag, i);
        tasks[i].attempts = (uint32_t)i;
        tasks[i].image_bytes = -1;
    }
}

static int put(ipd_table_t *t, const char *id, int state, int64_t created, int64_t finished, size_t ntasks)
{
    ipd_job_t j = job_of(id, state, created, finished);
    ipd_task_t tasks[64];
    cr_assert_leq(ntasks, 64);
    tasks_of(tasks, ntasks, id);
    return ipd_table_put_job(t, &j, tasks, ntasks, NULL, 0);
}

/* put, failing the test at the caller's line unless the table takes the job. */
#define put_ok(...) put_ok_at(IPD_AT, __VA_ARGS__)
static void put_ok_at(const char *file, int line, ipd_table_t *t, const char *id, int state, int64_t created,
                      int64_t finished, size_t ntasks)
{
    int rc = put(t, id, state, created, finished, ntasks);
    ipd_assert_at(file, line, rc == 0, "put %s: %s", id, ipd_strerror(rc));
}

static int get(const ipd_table_t *t, const char *id, ipd_job_t *job, ipd_task_t *tasks, size_t cap, size_t *ntasks)
{
    ipd_table_job_view_t v = {.job = job, .tasks = tasks, .task_cap = cap};
    int rc = ipd_table_get_job(t, id, &v);
    if (ntasks != NULL)
        *ntasks = v.ntasks;
    return rc;
}

static int present(const ipd_table_t *t, const char *id)
{
    ipd_job_t j;
    return get(t, id, &j, NULL, 0, NULL) == 0;
}

TestSuite(table, .init = new_instance, .fini = drop_instance, .timeout = 60);

Test(table, instance_names_are_validated)
{
    char name[IPD_SHM_NAME_SIZE], long_ok[65], too_long[66];
    memset(long_ok, 'a', 64);
    long_ok[64] = '\0';
    memset(too_long, 'a', 65);
    too_long[65] = '\0';
    cr_expect_eq(ipd_table_check_instance("prod-eu_1.a"), 0);
    cr_expect_eq(ipd_table_check_instance(long_ok), 0);
    cr_expect_eq(ipd_table_check_instance(too_long), IPD_EINVAL);
    cr_expect_eq(ipd_table_check_instance(""), IPD_EINVAL);
    cr_expect_eq(ipd_table_check_instance("a/b"), IPD_EINVAL);
    cr_expect_eq(ipd_table_check_instance(".."), IPD_EINVAL);
    cr_expect_eq(ipd_table_check_instance("sp ace"), IPD_EINVAL);
    cr_assert_eq(ipd_shm_name("blue", IPD_SHM_TABLE, 0xab, name, sizeof(name)), 0);
    cr_expect_str_eq(name, "/imgpulld.blue@table-00000000000000ab");
    cr_assert_eq(ipd_shm_name(long_ok, IPD_SHM_STATS, UINT64_MAX, name, sizeof(name)), 0);
    cr_expect_eq(strlen(name), strlen("/imgpulld.") + 64 + strlen("@stats-") + 16);
    cr_expect_eq(ipd_shm_name("blue", IPD_SHM_TABLE, 1, name, 8), IPD_ETOOBIG);
    cr_expect_eq(ipd_shm_name("a@b", IPD_SHM_TABLE, 1, name, sizeof(name)), IPD_EINVAL);
}

Test(table, create_attach_put_get_delete)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_table(16, 64, 16, 256, &info), *r = NULL;
    cr_expect_eq(info.outcome, IPD_TABLE_CREATED);
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    cr_expect_eq(ipd_table_epoch(r), ipd_table_epoch(w));
    cr_expect_eq(ipd_table_generation(r), 0);

    ipd_job_t j = job_of("pj-00000001", IPD_JOB_PULLING, 1000, 0), got;
    ipd_task_t tasks[3], out[8];
    const char json[] = "{\"id\":\"pj-00000001\"}";
    char jbuf[256];
    tasks_of(tasks, 3, "a");
    j.version = 7;
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, 3, json, strlen(json)), 0);
    cr_expect_eq(ipd_table_generation(r), 1);
    cr_expect_eq(ipd_table_ring_head(r), 1);

    ipd_table_job_view_t v = {.job = &got, .tasks = out, .task_cap = 8, .json = jbuf, .json_cap = sizeof(jbuf)};
    cr_assert_eq(ipd_table_get_job(r, "pj-00000001", &v), 0);
    cr_expect_eq(memcmp(&got, &j, sizeof(j)), 0);
    cr_assert_eq(v.ntasks, 3);
    cr_expect_eq(memcmp(out, tasks, sizeof(tasks)), 0);
    cr_expect(v.has_json);
    cr_assert_eq(v.json_len, strlen(json));
    cr_expect_eq(memcmp(jbuf, json, v.json_len), 0);
    cr_expect_eq(v.stamp, 1);
    cr_expect_eq(ipd_table_get_job(r, "pj-nope", &v), IPD_ENOTFOUND);

    ipd_job_t again;
    ipd_table_job_view_t byref = {.job = &again};
    cr_assert_eq(ipd_table_get_job_at(r, v.ref, &byref), 0);
    cr_expect_str_eq(again.id, "pj-00000001");

    cr_assert_eq(ipd_table_delete_job(w, "pj-00000001"), 0);
    cr_expect_eq(ipd_table_delete_job(w, "pj-00000001"), IPD_ENOTFOUND);
    cr_expect_eq(ipd_table_get_job(r, "pj-00000001", &v), IPD_ENOTFOUND);
    cr_expect_eq(ipd_table_get_job_at(r, v.ref, &byref), IPD_ENOTFOUND);
    cr_expect_eq(ipd_table_generation(r), 2);

    ipd_ring_entry_t e[4];
    size_t n;
    cr_assert_eq(ipd_table_ring_read(r, 0, e, 4, &n), 0);
    cr_assert_eq(n, 2);
    cr_expect_eq(e[0].seq, 1);
    cr_expect_eq(e[0].kind, IPD_RING_JOB_UPSERTED);
    cr_expect_eq(e[0].version, 7);
    cr_expect_str_eq(e[0].id, "pj-00000001");
    cr_expect_eq(e[1].kind, IPD_RING_JOB_DELETED);
    cr_expect_eq(e[1].slot, e[0].slot);

    char hex[IPD_TABLE_EPOCH_HEX_SIZE];
    ipd_table_epoch_hex(r, hex);
    cr_expect_eq(strlen(hex), 16);
    cr_expect_eq(strtoull(hex, NULL, 16), ipd_table_epoch(r));
    cr_expect_eq(ipd_table_put_job(r, &j, NULL, 0, NULL, 0), IPD_ESTATE);
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

Test(table, put_rejects_bad_input)
{
    ipd_table_t *w = make_table(4, 8, 4, 0, NULL);
    ipd_job_t j = job_of("", IPD_JOB_PENDING, 1, 0);
    cr_expect_eq(ipd_table_put_job(w, &j, NULL, 0, NULL, 0), IPD_EINVAL);
    j = job_of("pj-1", IPD_JOB_STATE_COUNT, 1, 0);
    cr_expect_eq(ipd_table_put_job(w, &j, NULL, 0, NULL, 0), IPD_EINVAL);
    j = job_of("pj-1", IPD_JOB_PENDING, 1, 0);
    memset(j.id, 'x', sizeof(j.id));
    cr_expect_eq(ipd_table_put_job(w, &j, NULL, 0, NULL, 0), IPD_EINVAL);
    j = job_of("pj-1", IPD_JOB_PENDING, 1, 0);
    cr_expect_eq(ipd_table_put_job(w, &j, NULL, 3, NULL, 0), IPD_EINVAL);
    ipd_task_t tasks[9];
    tasks_of(tasks, 9, "x");
    cr_expect_eq(ipd_table_put_job(w, &j, tasks, 9, NULL, 0), IPD_ETOOBIG);
    cr_expect_eq(ipd_table_generation(w), 0);
    ipd_table_destroy(w);
}

Test(table, index_survives_collisions_tombstones_and_reuse)
{
    /* 8 jobs in 16 buckets: collisions are certain, and churn leaves tombstones behind. */
    ipd_table_t *w = make_table(8, 64, 64, 0, NULL), *r = NULL;
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    int live[40] = {0};
    char id[32];
    unsigned seed = 12345;
    for (int step = 0; step < 4000; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % 40);
        snprintf(id, sizeof(id), "pj-%08x", (unsigned)k * 2654435761u);
        int nlive = 0;
        for (int i = 0; i < 40; i++)
            nlive += live[i];
        if (live[k]) {
            cr_assert_eq(ipd_table_delete_job(w, id), 0, "step %d", step);
            live[k] = 0;
        } else if (nlive < 8) {
            cr_assert_eq(put(w, id, IPD_JOB_PULLING, step, 0, 1), 0, "step %d", step);
            live[k] = 1;
        }
        if (step % 97 == 0) {
            for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "pj-%08x", (unsigned)i * 2654435761u);
                cr_assert_eq(present(r, id), live[i], "step %d id %s", step, id);
            }
        }
    }
    /* Updating a live id never creates a second entry. */
    for (int i = 0; i < 40; i++) {
        if (!live[i])
            continue;
        snprintf(id, sizeof(id), "pj-%08x", (unsigned)i * 2654435761u);
        put_ok(w, id, IPD_JOB_PULLING, 1, 0, 2);
        cr_assert_eq(ipd_table_delete_job(w, id), 0);
        cr_assert_not(present(r, id));
    }
    cr_expect_eq(ipd_table_job_count(w), 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

Test(table, json_is_inline_when_it_fits_else_absent)
{
    ipd_table_t *w = make_table(4, 8, 8, 64, NULL);
    ipd_job_t j = job_of("pj-json", IPD_JOB_PENDING, 1, 0), got;
    char big[65], out[128], tiny[4];
    memset(big, 'j', sizeof(big));
    ipd_table_job_view_t v = {.job = &got, .json = out, .json_cap = sizeof(out)};

    cr_assert_eq(ipd_table_put_job(w, &j, NULL, 0, big, 64), 0);
    cr_assert_eq(ipd_table_get_job(w, "pj-json", &v), 0);
    cr_expect(v.has_json);
    cr_expect_eq(v.json_len, 64);
    cr_expect_eq(memcmp(out, big, 64), 0);

    ipd_table_job_view_t small = {.job = &got, .json = tiny, .json_cap = sizeof(tiny)};
    cr_expect_eq(ipd_table_get_job(w, "pj-json", &small), IPD_ETOOBIG);
    cr_expect_eq(small.json_len, 64);
    cr_expect_str_eq(got.id, "pj-json");

    cr_assert_eq(ipd_table_put_job(w, &j, NULL, 0, big, 65), 0);
    cr_assert_eq(ipd_table_get_job(w, "pj-json", &v), 0);
    cr_expect_not(v.has_json);
    cr_expect_eq(v.json_len, 0);

    cr_assert_eq(ipd_table_put_job(w, &j, NULL, 0, NULL, 0), 0);
    cr_assert_eq(ipd_table_get_job(w, "pj-json", &v), 0);
    cr_expect_not(v.has_json);
    ipd_table_destroy(w);
}

Test(table, tasks_buffer_too_small_reports_the_count)
{
    ipd_table_t *w = make_table(4, 16, 8, 0, NULL);
    ipd_job_t got;
    ipd_task_t out[2];
    size_t n = 0;
    put_ok(w, "pj-many", IPD_JOB_PULLING, 1, 0, 5);
    cr_expect_eq(get(w, "pj-many", &got, out, 2, &n), IPD_ETOOBIG);
    cr_expect_eq(n, 5);
    cr_expect_str_eq(got.id, "pj-many");
    ipd_table_destroy(w);
}

Test(table, tasks_grow_shrink_and_move)
{
    ipd_table_t *w = make_table(8, 16, 64, 0, NULL);
    ipd_job_t got;
    ipd_task_t out[16], want[16];
    size_t n;
    put_ok(w, "pj-a", IPD_JOB_PULLING, 1, 0, 2);
    put_ok(w, "pj-b", IPD_JOB_PULLING, 2, 0, 3);
    /* pj-a cannot grow in place (pj-b follows it): it moves. */
    put_ok(w, "pj-a", IPD_JOB_PULLING, 1, 0, 6);
    cr_assert_eq(get(w, "pj-a", &got, out, 16, &n), 0);
    cr_assert_eq(n, 6);
    tasks_of(want, 6, "pj-a");
    cr_expect_eq(memcmp(out, want, 6 * sizeof(ipd_task_t)), 0);
    /* pj-b cannot grow in place either (pj-a now follows it): it moves to the end. */
    put_ok(w, "pj-b", IPD_JOB_PULLING, 2, 0, 5);
    put_ok(w, "pj-a", IPD_JOB_PULLING, 1, 0, 1);
    /* 10 task slots are free but not contiguous (no compaction): a job of 10 does not fit, one of 5 does. */
    cr_expect_eq(put(w, "pj-c", IPD_JOB_PULLING, 3, 0, 10), IPD_EFULL);
    put_ok(w, "pj-c", IPD_JOB_PULLING, 3, 0, 5);
    cr_assert_eq(get(w, "pj-b", &got, out, 16, &n), 0);
    tasks_of(want, 5, "pj-b");
    cr_assert_eq(n, 5);
    cr_expect_eq(memcmp(out, want, 5 * sizeof(ipd_task_t)), 0);
    cr_assert_eq(get(w, "pj-c", &got, out, 16, &n), 0);
    cr_assert_eq(n, 5);
    tasks_of(want, 5, "pj-c");
    cr_expect_eq(memcmp(out, want, 5 * sizeof(ipd_task_t)), 0);
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(w);
}

static size_t list_ids(const ipd_table_t *t, ipd_table_list_kind_t kind, char ids[][IPD_JOB_ID_SIZE], size_t cap)
{
    ipd_table_ref_t refs[32];
    size_t n = 0, total = 0, k = 0;
    cr_assert_eq(ipd_table_list(t, kind, refs, 32, &n, &total, NULL), 0);
    cr_assert_eq(n, total);
    for (size_t i = 0; i < n && k < cap; i++) {
        ipd_job_t j;
        ipd_table_job_view_t v = {.job = &j};
        if (ipd_table_get_job_at(t, refs[i], &v) == 0)
            memcpy(ids[k++], j.id, IPD_JOB_ID_SIZE);
    }
    return k;
}

Test(table, active_and_failed_lists_are_in_api_order)
{
    ipd_table_t *w = make_table(16, 64, 64, 0, NULL), *r = NULL;
    char ids[16][IPD_JOB_ID_SIZE];
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    put_ok(w, "pj-c", IPD_JOB_PENDING, 300, 0, 1);
    put_ok(w, "pj-a", IPD_JOB_PULLING, 100, 0, 1);
    put_ok(w, "pj-b2", IPD_JOB_PULLING, 200, 0, 1);
    put_ok(w, "pj-b1", IPD_JOB_PENDING, 200, 0, 1);
    put_ok(w, "pj-f1", IPD_JOB_FAILED, 10, 1000, 1);
    put_ok(w, "pj-f2", IPD_JOB_FAILED, 20, 3000, 1);
    put_ok(w, "pj-s", IPD_JOB_SUCCEEDED, 30, 2000, 1);

    cr_assert_eq(list_ids(r, IPD_TABLE_LIST_ACTIVE, ids, 16), 4);
    cr_expect_str_eq(ids[0], "pj-a");
    cr_expect_str_eq(ids[1], "pj-b1");
    cr_expect_str_eq(ids[2], "pj-b2");
    cr_expect_str_eq(ids[3], "pj-c");
    cr_assert_eq(list_ids(r, IPD_TABLE_LIST_FAILED, ids, 16), 2);
    cr_expect_str_eq(ids[0], "pj-f2");
    cr_expect_str_eq(ids[1], "pj-f1");

    /* pj-a fails last: it leaves the active list and heads the failed one. */
    put_ok(w, "pj-a", IPD_JOB_FAILED, 100, 5000, 1);
    put_ok(w, "pj-c", IPD_JOB_SUCCEEDED, 300, 5000, 1);
    cr_assert_eq(list_ids(r, IPD_TABLE_LIST_ACTIVE, ids, 16), 2);
    cr_expect_str_eq(ids[0], "pj-b1");
    cr_expect_str_eq(ids[1], "pj-b2");
    cr_assert_eq(list_ids(r, IPD_TABLE_LIST_FAILED, ids, 16), 3);
    cr_expect_str_eq(ids[0], "pj-a");
    cr_expect_str_eq(ids[2], "pj-f1");

    /* A short buffer gets the head of the list and the full length. */
    ipd_table_ref_t one;
    size_t n, total;
    uint64_t gen;
    cr_assert_eq(ipd_table_list(r, IPD_TABLE_LIST_FAILED, &one, 1, &n, &total, &gen), 0);
    cr_expect_eq(n, 1);
    cr_expect_eq(total, 3);
    cr_expect_leq(gen, ipd_table_generation(r));
    cr_assert_eq(ipd_table_delete_job(w, "pj-f1"), 0);
    cr_assert_eq(list_ids(r, IPD_TABLE_LIST_FAILED, ids, 16), 2);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

Test(table, eviction_takes_finished_oldest_first_and_failed_last)
{
    ipd_table_t *w = make_table(4, 64, 64, 0, NULL);
    put_ok(w, "pj-failed", IPD_JOB_FAILED, 1, 100, 1);
    put_ok(w, "pj-succ", IPD_JOB_SUCCEEDED, 2, 300, 1);
    put_ok(w, "pj-canc", IPD_JOB_CANCELLED, 3, 200, 1);
    put_ok(w, "pj-act1", IPD_JOB_PULLING, 4, 0, 1);
    uint64_t head = ipd_table_ring_head(w);

    put_ok(w, "pj-act2", IPD_JOB_PENDING, 5, 0, 1);
    cr_expect_not(present(w, "pj-canc"), "the oldest finished (cancelled at 200) goes first");
    cr_expect(present(w, "pj-succ"));
    ipd_ring_entry_t e[4];
    size_t n;
    cr_assert_eq(ipd_table_ring_read(w, head, e, 4, &n), 0);
    cr_assert_eq(n, 2);
    cr_expect_eq(e[0].kind, IPD_RING_JOB_DELETED);
    cr_expect_str_eq(e[0].id, "pj-canc");
    cr_expect_eq(e[1].kind, IPD_RING_JOB_UPSERTED);
    cr_expect_str_eq(e[1].id, "pj-act2");

    put_ok(w, "pj-act3", IPD_JOB_PENDING, 6, 0, 1);
    cr_expect_not(present(w, "pj-succ"));
    cr_expect(present(w, "pj-failed"), "failed jobs are kept longest");
    put_ok(w, "pj-act4", IPD_JOB_PENDING, 7, 0, 1);
    cr_expect_not(present(w, "pj-failed"));

    uint64_t gen = ipd_table_generation(w);
    cr_expect_eq(put(w, "pj-act5", IPD_JOB_PENDING, 8, 0, 1), IPD_EFULL);
    cr_expect_eq(ipd_table_generation(w), gen, "a refused put changes nothing");
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof(id), "pj-act%d", i);
        cr_expect(present(w, id), "%s is active and never evicted", id);
    }
    ipd_table_destroy(w);
}

Test(table, task_array_full_evicts_finished_then_refuses)
{
    ipd_table_t *w = make_table(8, 10, 64, 0, NULL);
    put_ok(w, "pj-done", IPD_JOB_SUCCEEDED, 1, 10, 4);
    put_ok(w, "pj-run", IPD_JOB_PULLING, 2, 0, 6);
    put_ok(w, "pj-new", IPD_JOB_PENDING, 3, 0, 4);
    cr_expect_not(present(w, "pj-done"), "its tasks made room");
    cr_expect_eq(put(w, "pj-big", IPD_JOB_PENDING, 4, 0, 1), IPD_EFULL);
    cr_expect_not(present(w, "pj-big"));
    cr_expect(present(w, "pj-run"));
    cr_expect(present(w, "pj-new"));
    cr_expect_eq(ipd_table_job_count(w), 2);
    ipd_table_destroy(w);
}

static int count_jobs(const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json, size_t json_len,
                      void *ctx)
{
    size_t *n = ctx;
    ipd_task_t want[4];
    tasks_of(want, ntasks, job->id);
    cr_expect_eq(memcmp(tasks, want, ntasks * sizeof(*tasks)), 0, "tasks of %s", job->id);
    cr_expect_null(json);
    cr_expect_eq(json_len, 0);
    (*n)++;
    return 0;
}

Test(table, reattach_keeps_history_and_reloads_the_model)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_table(8, 32, 8, 128, &info);
    put_ok(w, "pj-1", IPD_JOB_PULLING, 1, 0, 3);
    put_ok(w, "pj-2", IPD_JOB_FAILED, 2, 20, 2);
    put_ok(w, "pj-3", IPD_JOB_SUCCEEDED, 3, 30, 4);
    cr_assert_eq(ipd_table_delete_job(w, "pj-3"), 0);
    uint64_t epoch = ipd_table_epoch(w), gen = ipd_table_generation(w), head = ipd_table_ring_head(w);
    ipd_table_destroy(w);

    w = make_table(8, 32, 8, 128, &info);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED);
    cr_expect_eq(info.repaired_slots, 0);
    cr_expect_eq(ipd_table_epoch(w), epoch);
    cr_expect_eq(ipd_table_generation(w), gen);
    cr_expect_eq(ipd_table_ring_head(w), head);
    cr_expect_eq(ipd_table_job_count(w), 2);
    size_t n = 0;
    cr_assert_eq(ipd_table_foreach(w, count_jobs, &n), 0);
    cr_expect_eq(n, 2);
    char ids[4][IPD_JOB_ID_SIZE];
    cr_assert_eq(list_ids(w, IPD_TABLE_LIST_ACTIVE, ids, 4), 1);
    cr_expect_str_eq(ids[0], "pj-1");
    cr_assert_eq(list_ids(w, IPD_TABLE_LIST_FAILED, ids, 4), 1);
    /* The writer's allocator was rebuilt: new jobs fit around the kept ones. */
    put_ok(w, "pj-4", IPD_JOB_PENDING, 4, 0, 27);
    cr_expect_eq(ipd_table_ring_head(w), head + 1);
    /* The task array is full: the failed job is the only one that may go. */
    put_ok(w, "pj-5", IPD_JOB_PENDING, 5, 0, 2);
    cr_expect_not(present(w, "pj-2"));
    cr_expect_eq(put(w, "pj-6", IPD_JOB_PENDING, 6, 0, 1), IPD_EFULL);
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(w);
}

/* Overwrites `len` bytes at `off` of the instance's shm object. */
static void scribble(size_t off, const void *bytes, size_t len)
{
    char name[1][IPD_SHM_NAME_SIZE];
    cr_assert_eq(ipd_shm_find(instance, IPD_SHM_TABLE, name, 1), 1);
    int fd = shm_open(name[0], O_RDWR, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void expect_rebuilt(uint32_t jobs, uint64_t old_epoch, const char *what)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_table(jobs, 32, 8, 128, &info);
    cr_expect_eq(info.outcome, IPD_TABLE_REBUILT, "%s", what);
    cr_expect_eq(info.reason, IPD_ECORRUPT, "%s", what);
    cr_expect_neq(info.detail[0], '\0', "%s says why", what);
    cr_expect_neq(ipd_table_epoch(w), old_epoch, "%s: new epoch", what);
    cr_expect_eq(ipd_table_generation(w), 0, "%s", what);
    cr_expect_not(present(w, "pj-1"), "%s", what);
    ipd_table_destroy(w);
}

static uint64_t seeded(uint32_t jobs)
{
    ipd_table_t *w = make_table(jobs, 32, 8, 128, NULL);
    put_ok(w, "pj-1", IPD_JOB_PULLING, 1, 0, 3);
    uint64_t epoch = ipd_table_epoch(w);
    ipd_table_destroy(w);
    return epoch;
}

Test(table, reattach_rejects_bad_magic_version_sizes_and_checksums)
{
    uint32_t zero = 0;
    uint64_t epoch = seeded(8);
    scribble(0, &zero, sizeof(zero));
    expect_rebuilt(8, epoch, "bad magic");

    epoch = seeded(8);
    uint32_t version = 99;
    scribble(8, &version, sizeof(version));
    expect_rebuilt(8, epoch, "bad version");

    epoch = seeded(8);
    expect_rebuilt(16, epoch, "job capacity mismatch");

    /* Flip one byte of the job record published in the first job slot (the page after the header). */
    epoch = seeded(16);
    char img[8];
    int fd_ok = 0;
    {
        char name[1][IPD_SHM_NAME_SIZE];
        cr_assert_eq(ipd_shm_find(instance, IPD_SHM_TABLE, name, 1), 1);
        int fd = shm_open(name[0], O_RDONLY, 0);
        cr_assert_geq(fd, 0);
        /* Copy 1 starts on the page after the slot head and copy 0 (unpublished), which fit in one
         * with 128 JSON bytes; its head (64) + id (40) reaches the image. */
        off_t copy1 = 4096 + 4096;
        fd_ok = pread(fd, img, sizeof(img), copy1 + 64 + 40) == (ssize_t)sizeof(img);
        cr_assert(fd_ok);
        cr_assert_eq(memcmp(img, "registry", 8), 0, "found the image field of the published copy");
        img[0] ^= 1;
        close(fd);
        scribble((size_t)copy1 + 64 + 40, img, 1);
    }
    expect_rebuilt(16, epoch, "bad checksum");
}

/* The table of make_table(8, 32, 8, 128), built anew though a valid one is there. */
static ipd_table_t *rebuild_table(ipd_table_open_info_t *info)
{
    ipd_table_options_t o;
    ipd_table_t *w = NULL;
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = 8;
    o.task_capacity = 32;
    o.ring_capacity = 8;
    o.json_capacity = 128;
    o.force_rebuild = 1;
    cr_assert_eq(ipd_table_create(&o, &w, info), 0);
    return w;
}

Test(table, force_rebuild_replaces_a_valid_segment)
{
    uint64_t epoch = seeded(8);
    ipd_table_open_info_t info;
    ipd_table_t *w = rebuild_table(&info);
    cr_expect_eq(info.outcome, IPD_TABLE_REBUILT);
    cr_expect_eq(info.reason, IPD_ESTATE);
    cr_expect_neq(ipd_table_epoch(w), epoch);
    ipd_table_destroy(w);
}

Test(table, segment_mode_is_0600_or_0640_with_a_group)
{
    char path[160];
    struct stat st;
    ipd_table_open_info_t info;
    ipd_table_t *w = make_table(4, 4, 4, 0, &info);
    snprintf(path, sizeof(path), "/dev/shm%s", info.name);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    ipd_table_destroy(w);
    ipd_table_unlink(instance);

    ipd_table_options_t o;
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = o.task_capacity = o.ring_capacity = 4;
    o.group = getgid();
    cr_assert_eq(ipd_table_create(&o, &w, &info), 0);
    snprintf(path, sizeof(path), "/dev/shm%s", info.name);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0640);
    cr_expect_eq(st.st_gid, getgid());
    ipd_table_destroy(w);
}

Test(table, options_are_validated)
{
    ipd_table_options_t o;
    ipd_table_t *w = NULL;
    ipd_table_options_init(&o);
    cr_expect_eq(o.job_capacity, 4096);
    cr_expect_eq(o.task_capacity, 65536);
    cr_expect_eq(o.ring_capacity, 65536);
    cr_expect_eq(o.json_capacity, 8192);
    o.instance = "bad/name";
    cr_expect_eq(ipd_table_create(&o, &w, NULL), IPD_EINVAL);
    o.instance = instance;
    o.ring_capacity = 1000;
    cr_expect_eq(ipd_table_create(&o, &w, NULL), IPD_EINVAL);
    o.ring_capacity = 1024;
    o.job_capacity = 0;
    cr_expect_eq(ipd_table_create(&o, &w, NULL), IPD_EINVAL);
    cr_expect_null(w);
    cr_expect_eq(ipd_table_attach_readonly(instance, &w), -ENOENT);
}

Test(table, slot_walk_finds_every_job_including_finished_history)
{
    ipd_table_t *t = make_table(16, 64, 64, 256, NULL);
    put_ok(t, "pj-active", IPD_JOB_PULLING, 1000, 0, 2);
    put_ok(t, "pj-done", IPD_JOB_SUCCEEDED, 1001, 2000, 1);
    put_ok(t, "pj-cancel", IPD_JOB_CANCELLED, 1002, 2001, 1);
    put_ok(t, "pj-gone", IPD_JOB_SUCCEEDED, 1003, 2002, 1);
    cr_assert_eq(ipd_table_delete_job(t, "pj-gone"), 0);
    int seen_active = 0, seen_done = 0, seen_cancel = 0, live = 0;
    for (uint32_t s = 0; s < ipd_table_job_capacity(t); s++) {
        ipd_job_t job;
        ipd_task_t tasks[4];
        ipd_table_job_view_t v = {.job = &job, .tasks = tasks, .task_cap = 4};
        int rc = ipd_table_get_job_in_slot(t, s, &v);
        if (rc == IPD_ENOTFOUND)
            continue;
        cr_assert_eq(rc, 0);
        cr_assert_eq(v.ref.slot, s);
        cr_assert_str_neq(job.id, "pj-gone");
        live++;
        seen_active += strcmp(job.id, "pj-active") == 0 && v.ntasks == 2;
        seen_done += strcmp(job.id, "pj-done") == 0 && job.state == IPD_JOB_SUCCEEDED;
        seen_cancel += strcmp(job.id, "pj-cancel") == 0;
    }
    cr_assert_eq(live, 3);
    cr_assert_eq(seen_active + seen_done + seen_cancel, 3);
    ipd_job_t job;
    ipd_table_job_view_t v = {.job = &job};
    cr_assert_eq(ipd_table_get_job_in_slot(t, ipd_table_job_capacity(t), &v), IPD_ENOTFOUND);
    ipd_table_destroy(t);
}

/* ---- the writer at scale: puts naming their tasks, and lists kept with holes ---- */

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

/* The last `n` records (n <= 8), oldest first, into `out`. */
static void last_records(const ipd_table_t *t, ipd_ring_entry_t *out, size_t n)
{
    size_t got = 0;
    uint64_t head = ipd_table_ring_head(t);
    cr_assert_geq(head, n);
    cr_assert_eq(ipd_table_ring_read(t, head - n, out, n, &got), 0);
    cr_assert_eq(got, n);
}

Test(table, put_tasks_rewrites_only_the_named_tasks)
{
    /* A ring of 256: a change is described task by task up to 256 / 64 = 4 tasks. */
    ipd_table_t *w = make_table(8, 64, 256, 256, NULL), *r = NULL;
    ipd_task_t tasks[10], one;
    ipd_job_t j = job_of("pj-a", IPD_JOB_PULLING, 100, 0);
    tasks_of(tasks, 10, "pj-a");
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

    cr_expect_eq(e.more, 0);

    /* Two tasks: one record each, one change (one generation), the first marked `more`. */
    uint32_t two[2] = {1, 9};
    ipd_task_t changed[5] = {tasks[1], tasks[9]};
    changed[0].attempts = tasks[1].attempts = 11;
    changed[1].attempts = tasks[9].attempts = 19;
    j.version = 3;
    uint64_t head = ipd_table_ring_head(r), gen0 = ipd_table_generation(r);
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, two, changed, 2, NULL, 0), 0);
    expect_job(r, "pj-a", 3, tasks, 10);
    cr_expect_eq(ipd_table_ring_head(r), head + 2);
    cr_expect_eq(ipd_table_generation(r), gen0 + 1);
    ipd_ring_entry_t rec[2];
    last_records(r, rec, 2);
    cr_expect(rec[0].task == 1 && rec[0].more && rec[0].version == 3 && rec[0].kind == IPD_RING_JOB_UPSERTED);
    cr_expect(rec[1].task == 9 && !rec[1].more && rec[1].version == 3 && rec[1].kind == IPD_RING_JOB_UPSERTED);

    /* More tasks than a change describes one by one: one record that names none. */
    uint32_t five[5] = {0, 2, 4, 6, 8};
    for (int i = 0; i < 5; i++) {
        tasks[five[i]].attempts = 50 + (uint32_t)i;
        changed[i] = tasks[five[i]];
    }
    j.version = 4;
    head = ipd_table_ring_head(r);
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, five, changed, 5, NULL, 0), 0);
    expect_job(r, "pj-a", 4, tasks, 10);
    cr_expect_eq(ipd_table_ring_head(r), head + 1);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_NONE);

    /* The job record alone. */
    j.version = 5;
    j.nodes.pulling = 7;
    cr_assert_eq(ipd_table_put_tasks(w, &j, 10, NULL, NULL, 0, NULL, 0), 0);
    expect_job(r, "pj-a", 5, tasks, 10);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_JOB);
    j.version = 6;
    j.nodes.pulling = 6;
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, 10, NULL, 0), 0);
    cr_expect_eq(last_record(r).task, IPD_RING_TASK_JOB, "a full put that rewrites no task names the job alone");

    /* A full put that differs in one task names it too. */
    tasks[7].attempts = 77;
    j.version = 7;
    cr_assert_eq(ipd_table_put_job(w, &j, tasks, 10, NULL, 0), 0);
    expect_job(r, "pj-a", 7, tasks, 10);
    cr_expect_eq(last_record(r).task, 7);

    /* Refusals write nothing. */
    uint64_t gen = ipd_table_generation(w);
    one = tasks[0];
    one.attempts = 1000;
    idx = 0;
    j.version = 8;
    ipd_job_t other = job_of("pj-none", IPD_JOB_PULLING, 1, 0);
    cr_expect_eq(ipd_table_put_tasks(w, &other, 10, &idx, &one, 1, NULL, 0), IPD_ENOTFOUND);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 9, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 11, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    idx = 10;
    cr_expect_eq(ipd_table_put_tasks(w, &j, 10, &idx, &one, 1, NULL, 0), IPD_EINVAL);
    cr_expect_eq(ipd_table_put_tasks(w, &j, 10, NULL, &one, 1, NULL, 0), IPD_EINVAL);
    idx = 0;
    cr_expect_eq(ipd_table_put_tasks(r, &j, 10, &idx, &one, 1, NULL, 0), IPD_ESTATE);
    cr_expect_eq(ipd_table_generation(w), gen);
    expect_job(r, "pj-a", 7, tasks, 10);

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
    expect_job(r, "pj-a", 8, tasks, 10);
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

Test(table, lists_follow_a_sorted_model_through_many_enters_and_leaves)
{
    /* Room for every job and task of the pool: no eviction, so the model stays exact. */
    ipd_table_t *w = make_table(POOL + 8, POOL + 8, 1024, 0, NULL), *r = NULL;
    static const int states[] = {IPD_JOB_PENDING, IPD_JOB_PULLING, IPD_JOB_FAILED, IPD_JOB_SUCCEEDED};
    uint64_t rnd = 0x9e3779b97f4a7c15u;
    int64_t clock = 1000;
    ipd_task_t task;
    tasks_of(&task, 1, "pool");
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
            } else if ((rnd >> 36) % 16 == 0) {
                /* A job's creation time corrected (its pod was seen before its Job): it moves. */
                m->created = clock - (int64_t)((rnd >> 8) % 5000);
            }
            int64_t late = (rnd >> 58) % 16 == 0 ? (int64_t)((rnd >> 12) % 3000) : (int64_t)((rnd >> 50) % 3);
            m->finished = state == IPD_JOB_FAILED || state == IPD_JOB_SUCCEEDED ? clock - late : 0;
            m->state = state;
            ipd_job_t j = job_of(m->id, state, m->created, m->finished);
            j.version = (uint64_t)step + 1;
            /* Keep jobs may leave succeeded or failed (a final state stays final otherwise), so
             * that jobs leave the failed list as often as they enter it. */
            j.keep = 1;
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
            w = make_table(POOL + 8, POOL + 8, 1024, 0, NULL);
            expect_list(w, IPD_TABLE_LIST_ACTIVE, POOL, step);
            expect_list(w, IPD_TABLE_LIST_FAILED, POOL, step);
        }
    }
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

/*
 * Jobs moving far inside a long active list: every step changes one job's creation time, far
 * back or forward (many more positions than a list copy's remembered runs), or to a tie broken
 * by the id, with some jobs leaving and coming back so that the list holds holes. Each put
 * republishes one of the list's two copies, so a copy replays the changes of two steps; the
 * list read after every step must be the model's, in order and count.
 */
Test(table, lists_stay_sorted_while_many_jobs_move_far_back_and_forward)
{
    ipd_table_t *w = make_table(POOL + 8, POOL + 8, 1024, 0, NULL), *r = NULL;
    uint64_t rnd = 0x2545f4914f6cdd1du;
    ipd_task_t task;
    tasks_of(&task, 1, "move");
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    for (int i = 0; i < POOL; i++) {
        snprintf(pool[i].id, sizeof(pool[i].id), "pj-%05d", (i * 7919) % 100000);
        pool[i].state = IPD_JOB_PULLING;
        pool[i].created = 100000 + 10 * (int64_t)i;
        pool[i].finished = 0;
        ipd_job_t j = job_of(pool[i].id, IPD_JOB_PULLING, pool[i].created, 0);
        cr_assert_eq(ipd_table_put_job(w, &j, &task, 1, NULL, 0), 0);
    }
    expect_list(r, IPD_TABLE_LIST_ACTIVE, POOL, -1);
    for (int step = 0; step < 8000; step++) {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        /* Phases: jobs corrected in creation order, newest first, then at random. */
        int k = step < POOL ? step : step < 2 * POOL ? 2 * POOL - 1 - step : (int)(rnd % POOL);
        mjob_t *m = &pool[k];
        int what = (int)((rnd >> 20) % 16);
        int state = IPD_JOB_PULLING;
        if (step < POOL)
            m->created = m->created / 1000 * 1000 - 50000; /* far back, ties by the id */
        else if (step < 2 * POOL)
            m->created = -(int64_t)step; /* in front of every other job */
        else if (what < 6)
            m->created -= (int64_t)((rnd >> 32) % 200000); /* back, near or far */
        else if (what < 12)
            m->created += (int64_t)((rnd >> 32) % 200000); /* forward, near or far */
        else if (what < 14)
            m->created = 100000; /* a tie with other jobs */
        else
            state = m->state == IPD_JOB_PULLING ? IPD_JOB_SUCCEEDED : IPD_JOB_PULLING; /* leaves or comes back */
        if (state == IPD_JOB_SUCCEEDED)
            m->finished = 1;
        m->state = state;
        ipd_job_t j = job_of(m->id, state, m->created, m->finished);
        j.version = (uint64_t)step + 2;
        j.keep = 1;
        cr_assert_eq(ipd_table_put_job(w, &j, &task, 1, NULL, 0), 0, "step %d", step);
        expect_list(r, IPD_TABLE_LIST_ACTIVE, POOL, step);
        expect_list(w, IPD_TABLE_LIST_ACTIVE, POOL, step);
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

Test(table, readers_see_one_version_of_a_job_updated_one_task_at_a_time)
{
    ipd_table_t *w = make_table(4, 2 * BIG, 1024, 0, NULL), *r = NULL;
    static ipd_task_t tasks[BIG];
    ipd_job_t j = job_of("pj-big", IPD_JOB_PULLING, 1, 0);
    j.version = 0;
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

/* Job `id` with `n` tasks on nodes "a", "b", ... in `states`; counts as ipd_job_aggregate would. */
static int put_states(ipd_table_t *t, const char *id, int keep, int job_state, const int *states, size_t n,
                      const char *json)
{
    ipd_job_t j = job_of(id, job_state, 100, ipd_job_state_is_final((ipd_job_state_t)job_state) ? 200 : 0);
    j.keep = (uint8_t)keep;
    ipd_task_t tasks[4];
    cr_assert_leq(n, 4);
    memset(tasks, 0, sizeof(tasks));
    for (size_t i = 0; i < n; i++) {
        tasks[i].node[0] = (char)('a' + i);
        tasks[i].state = (uint8_t)states[i];
        tasks[i].image_bytes = -1;
    }
    ipd_job_aggregate(&j, tasks, n, 300);
    j.state = (uint8_t)job_state;
    return ipd_table_put_job(t, &j, tasks, n, json, json != NULL ? strlen(json) : 0);
}

/* "job-state task-state ... (succeeded=N failed=N pending=N) json|nojson" as the table holds it. */
static void held(const ipd_table_t *t, const char *id, char *out, size_t cap)
{
    ipd_job_t j;
    ipd_task_t tasks[4];
    char json[64];
    ipd_table_job_view_t v = {.job = &j, .tasks = tasks, .task_cap = 4, .json = json, .json_cap = sizeof(json)};
    cr_assert_eq(ipd_table_get_job(t, id, &v), 0, "%s", id);
    size_t used = (size_t)snprintf(out, cap, "%s", ipd_job_state_name((ipd_job_state_t)j.state));
    for (size_t i = 0; i < v.ntasks && i < 4; i++)
        used += (size_t)snprintf(out + used, cap - used, " %s:%s", tasks[i].node,
                                 ipd_task_state_name((ipd_task_state_t)tasks[i].state));
    snprintf(out + used, cap - used, " (succeeded=%u failed=%u pending=%u) %s", j.nodes.succeeded, j.nodes.failed,
             j.nodes.pending, v.has_json ? "json" : "nojson");
}

#define EXPECT_HELD(t, id, want)                                                                                       \
    do {                                                                                                               \
        char seen_[256];                                                                                               \
        held(t, id, seen_, sizeof(seen_));                                                                             \
        cr_expect_str_eq(seen_, want, "%s", id);                                                                       \
    } while (0)

Test(table, a_final_state_stays_final_whatever_the_writer_is_given)
{
    ipd_table_t *w = make_table(8, 32, 64, 512, NULL);
    const int S = IPD_TASK_SUCCEEDED, F = IPD_TASK_FAILED, P = IPD_TASK_PENDING, U = IPD_TASK_PULLING;
    cr_assert_eq(put_states(w, "pj-done", 0, IPD_JOB_SUCCEEDED, (int[]){S, S}, 2, "{}"), 0);
    EXPECT_HELD(w, "pj-done", "succeeded a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) json");
    cr_expect_eq(ipd_table_final_refusals(w), 0);

    /* A flip planted as a model bug would publish it: the job and task a keep what was published,
     * the counts follow the task kept, the JSON (which says the flip) is not stored. */
    cr_assert_eq(put_states(w, "pj-done", 0, IPD_JOB_FAILED, (int[]){F, S}, 2, "{\"state\":\"failed\"}"), 0);
    EXPECT_HELD(w, "pj-done", "succeeded a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 2, "the task's and the job's refusals");
    /* ... also through put_tasks, and back to pending. */
    ipd_job_t j = job_of("pj-done", IPD_JOB_PULLING, 100, 0);
    ipd_task_t back;
    memset(&back, 0, sizeof(back));
    back.node[0] = 'b';
    back.state = IPD_TASK_PENDING;
    j.nodes = (ipd_node_counts_t){.desired = 2, .succeeded = 1, .pending = 1};
    cr_assert_eq(ipd_table_put_tasks(w, &j, 2, (uint32_t[]){1}, &back, 1, NULL, 0), 0);
    EXPECT_HELD(w, "pj-done", "succeeded a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 4);

    /* What may change: an active task or job becomes final; a final one gains figures. */
    cr_assert_eq(put_states(w, "pj-run", 0, IPD_JOB_PULLING, (int[]){U, P}, 2, NULL), 0);
    cr_assert_eq(put_states(w, "pj-run", 0, IPD_JOB_FAILED, (int[]){S, F}, 2, "{}"), 0);
    EXPECT_HELD(w, "pj-run", "failed a:succeeded b:failed (succeeded=1 failed=1 pending=0) json");
    /* A job deleted (DELETE after completion, eviction) and put again is a new job. */
    cr_assert_eq(ipd_table_delete_job(w, "pj-run"), 0);
    cr_assert_eq(put_states(w, "pj-run", 0, IPD_JOB_PENDING, (int[]){P}, 1, NULL), 0);
    EXPECT_HELD(w, "pj-run", "pending a:pending (succeeded=0 failed=0 pending=1) nojson");
    /* A node that left: the task at that index is another node's. */
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){S, S}, 2, NULL), 0);
    ipd_job_t k = job_of("pj-keep", IPD_JOB_KEEPING, 100, 0);
    k.keep = 1;
    ipd_task_t other;
    memset(&other, 0, sizeof(other));
    snprintf(other.node, sizeof(other.node), "c");
    ipd_job_aggregate(&k, &other, 1, 300);
    cr_assert_eq(ipd_table_put_job(w, &k, &other, 1, NULL, 0), 0);
    EXPECT_HELD(w, "pj-keep", "keeping c:pending (succeeded=0 failed=0 pending=1) nojson");
    /* A keep job's refresh: succeeded, a new round (pending, pulling), then succeeded again. */
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){S, S}, 2, NULL), 0);
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){P, U}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-keep", "keeping a:pending b:pulling (succeeded=0 failed=0 pending=1) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 4, "nothing refused");
    /* ... but never one final state for another, and a cancelled keep job stays cancelled. */
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){S, S}, 2, NULL), 0);
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){F, S}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-keep", "keeping a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) nojson");
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_CANCELLED, (int[]){S, S}, 2, NULL), 0);
    cr_assert_eq(put_states(w, "pj-keep", 1, IPD_JOB_KEEPING, (int[]){S, S}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-keep", "cancelled a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 6);
    cr_expect_eq(ipd_table_verify(w), 0);

    /* A final task in other words keeps the words it was published with; figures still follow. */
    ipd_job_t said = job_of("pj-said", IPD_JOB_SUCCEEDED, 100, 200);
    ipd_task_t word;
    memset(&word, 0, sizeof(word));
    word.node[0] = 'a';
    word.state = IPD_TASK_SUCCEEDED;
    word.image_bytes = -1;
    snprintf(word.reason, sizeof(word.reason), "Pulled");
    snprintf(word.message, sizeof(word.message), "the image is on the node");
    ipd_job_aggregate(&said, &word, 1, 300);
    said.state = IPD_JOB_SUCCEEDED;
    cr_assert_eq(ipd_table_put_job(w, &said, &word, 1, "{}", 2), 0);
    snprintf(word.reason, sizeof(word.reason), "Completed");
    snprintf(word.message, sizeof(word.message), "other words");
    word.image_bytes = 123;
    const char *other_json = "{\"reason\":\"Completed\"}";
    cr_assert_eq(ipd_table_put_job(w, &said, &word, 1, other_json, strlen(other_json)), 0);
    ipd_job_t got;
    ipd_task_t got_task;
    ipd_table_job_view_t gv = {.job = &got, .tasks = &got_task, .task_cap = 1};
    cr_assert_eq(ipd_table_get_job(w, "pj-said", &gv), 0);
    cr_expect_str_eq(got_task.reason, "Pulled");
    cr_expect_str_eq(got_task.message, "the image is on the node");
    cr_expect_eq(got_task.image_bytes, 123, "figures follow");
    cr_expect_eq(gv.has_json, 0, "the JSON that says the other words is not stored");
    cr_expect_eq(ipd_table_final_refusals(w), 7);
    cr_expect_eq(ipd_table_verify(w), 0);

    /* Words from the Job alone (no pod, no attempt: a stand-in's) give way to the pod's words of
     * the same end, once; those then stay. */
    ipd_job_t lost = job_of("pj-lost", IPD_JOB_FAILED, 100, 200);
    ipd_task_t end;
    memset(&end, 0, sizeof(end));
    end.node[0] = 'a';
    end.state = IPD_TASK_FAILED;
    end.image_bytes = -1;
    snprintf(end.reason, sizeof(end.reason), "BackoffLimitExceeded");
    snprintf(end.message, sizeof(end.message), "Job has reached the specified backoff limit");
    ipd_job_aggregate(&lost, &end, 1, 300);
    lost.state = IPD_JOB_FAILED;
    cr_assert_eq(ipd_table_put_job(w, &lost, &end, 1, NULL, 0), 0);
    snprintf(end.reason, sizeof(end.reason), "ErrImagePull");
    snprintf(end.message, sizeof(end.message), "manifest unknown");
    snprintf(end.pod, sizeof(end.pod), "imgpull-pj-lost-a-x1b2c");
    end.attempts = 3;
    cr_assert_eq(ipd_table_put_job(w, &lost, &end, 1, NULL, 0), 0);
    ipd_table_job_view_t lv = {.job = &got, .tasks = &got_task, .task_cap = 1};
    cr_assert_eq(ipd_table_get_job(w, "pj-lost", &lv), 0);
    cr_expect_str_eq(got_task.reason, "ErrImagePull", "the pod's words");
    cr_expect_str_eq(got_task.pod, "imgpull-pj-lost-a-x1b2c");
    cr_expect_eq(ipd_table_final_refusals(w), 7, "nothing refused");
    snprintf(end.reason, sizeof(end.reason), "ImagePullBackOff");
    cr_assert_eq(ipd_table_put_job(w, &lost, &end, 1, NULL, 0), 0);
    cr_assert_eq(ipd_table_get_job(w, "pj-lost", &lv), 0);
    cr_expect_str_eq(got_task.reason, "ErrImagePull", "the pod's words stay");
    cr_expect_eq(ipd_table_final_refusals(w), 8);
    cr_expect_eq(ipd_table_verify(w), 0);

    /* A writer that attaches again (a restarted master) keeps guarding what the table holds. */
    ipd_table_destroy(w);
    w = make_table(8, 32, 64, 512, NULL);
    cr_assert_eq(put_states(w, "pj-done", 0, IPD_JOB_FAILED, (int[]){F, F}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-done", "succeeded a:succeeded b:succeeded (succeeded=2 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 3);
    ipd_table_destroy(w);
}

/*
 * The writer knows which tasks it published in a final state: for the others it does not read
 * the published copy back (a cache line a put would not touch otherwise). Shown by a published
 * copy changed behind its back to a final state, which only a writer that reads it refuses to
 * leave; a writer that attaches again knows nothing yet and reads it.
 */
Test(table, the_writer_reads_a_published_task_back_only_when_it_may_be_final)
{
    ipd_table_t *w = make_table(8, 32, 64, 512, NULL);
    const int U = IPD_TASK_PULLING, S = IPD_TASK_SUCCEEDED;
    cr_assert_eq(put_states(w, "pj-live", 0, IPD_JOB_PULLING, (int[]){U, U}, 2, NULL), 0);
    uint32_t slot = ipd_table_index_lookup(w, "pj-live"), ts = w->w->jobs[slot].task_first + 1;
    task_copy_t *c = task_copy(w, ts, atomic_load(&task_head(w, ts)->seq));
    c->task.state = IPD_TASK_SUCCEEDED;
    cr_assert_eq(put_states(w, "pj-live", 0, IPD_JOB_PULLING, (int[]){U, IPD_TASK_PENDING}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-live", "pulling a:pulling b:pending (succeeded=0 failed=0 pending=1) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 0, "the writer went by what it had published");
    c->task.state = IPD_TASK_PULLING; /* now the previous copy: as the writer left it */
    cr_expect_eq(ipd_table_verify(w), 0);

    /* A task it published final, it reads back and keeps. */
    cr_assert_eq(put_states(w, "pj-live", 0, IPD_JOB_PULLING, (int[]){U, S}, 2, NULL), 0);
    cr_assert_eq(put_states(w, "pj-live", 0, IPD_JOB_PULLING, (int[]){U, U}, 2, NULL), 0);
    EXPECT_HELD(w, "pj-live", "pulling a:pulling b:succeeded (succeeded=1 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 1);

    /* Reattached, the writer reads every task back before it changes it. */
    cr_assert_eq(put_states(w, "pj-back", 0, IPD_JOB_PULLING, (int[]){U}, 1, NULL), 0);
    ipd_table_destroy(w);
    w = make_table(8, 32, 64, 512, NULL);
    slot = ipd_table_index_lookup(w, "pj-back");
    ts = w->w->jobs[slot].task_first;
    c = task_copy(w, ts, atomic_load(&task_head(w, ts)->seq));
    c->task.state = IPD_TASK_SUCCEEDED;
    cr_assert_eq(put_states(w, "pj-back", 0, IPD_JOB_PULLING, (int[]){IPD_TASK_PENDING}, 1, NULL), 0);
    EXPECT_HELD(w, "pj-back", "pulling a:succeeded (succeeded=1 failed=0 pending=0) nojson");
    cr_expect_eq(ipd_table_final_refusals(w), 1, "read back after reattach");
    ipd_table_destroy(w);
}

/* Pages of [p, p + len) that are in memory. */
static size_t resident_pages(const void *p, size_t len)
{
    unsigned char vec[16];
    cr_assert_leq(len / 4096, sizeof(vec));
    cr_assert_eq(mincore((void *)p, len, vec), 0, "mincore: %s", strerror(errno));
    size_t n = 0;
    for (size_t i = 0; i < len / 4096; i++)
        n += vec[i] & 1;
    return n;
}

Test(table, a_job_with_short_json_touches_two_pages_of_its_slot)
{
    ipd_table_t *w = make_table(4, 8, 8, 8192, NULL);
    ipd_job_t j = job_of("pj-pages", IPD_JOB_PULLING, 1, 0);
    ipd_task_t task;
    char json[2224];
    memset(json, 'j', sizeof(json));
    tasks_of(&task, 1, "pages");
    for (int k = 0; k < 4; k++) {
        j.version++;
        cr_assert_eq(ipd_table_put_job(w, &j, &task, 1, json, sizeof(json)), 0);
    }
    uint32_t slot = ipd_table_index_lookup(w, "pj-pages");
    cr_assert_eq(w->job_slot_size % 4096, 0);
    cr_expect_eq(resident_pages(job_head(w, slot), w->job_slot_size), 2, "the latch and copy 0, then copy 1");
    ipd_table_destroy(w);
}

Test(table, a_table_larger_than_the_room_in_dev_shm_is_refused_at_creation)
{
    struct statvfs fs;
    cr_assert_eq(statvfs("/dev/shm", &fs), 0);
    uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize, tasks = IPD_TABLE_MAX_TASKS;
    /* The most tasks take 3648 bytes each: more than this /dev/shm can hold, unless it is huge. */
    if (avail >= tasks * 3648)
        cr_skip_test("/dev/shm has %llu bytes free: no table is larger", (unsigned long long)avail);
    ipd_table_options_t o;
    ipd_table_t *w = NULL;
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = 16;
    o.task_capacity = IPD_TABLE_MAX_TASKS;
    cr_expect_eq(ipd_table_create(&o, &w, NULL), -ENOSPC);
    cr_expect_null(w);
    char names[1][IPD_SHM_NAME_SIZE];
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_TABLE, names, 1), 0, "nothing was created");

    /* A table that fits is created, and reattached: the pages it holds count as room. */
    o.task_capacity = 64;
    cr_assert_eq(ipd_table_create(&o, &w, NULL), 0);
    ipd_table_destroy(w);
    ipd_table_open_info_t info;
    cr_assert_eq(ipd_table_create(&o, &w, &info), 0);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED);
    ipd_table_destroy(w);
}

/* The master's note (the Redis epoch it was last in step with) outlives the master, not the segment. */
Test(table, the_note_is_kept_by_a_reattach_and_gone_with_a_rebuild)
{
    ipd_table_open_info_t info;
    char note[IPD_TABLE_NOTE_SIZE];
    ipd_table_t *w = make_table(8, 32, 8, 128, &info);
    ipd_table_note(w, note);
    cr_expect_str_eq(note, "", "a new segment has a note");
    char long_text[2 * IPD_TABLE_NOTE_SIZE];
    memset(long_text, 'e', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    ipd_table_set_note(w, long_text);
    ipd_table_note(w, note);
    cr_expect_eq(strlen(note), IPD_TABLE_NOTE_SIZE - 1, "not truncated to its room");
    ipd_table_set_note(w, "0123456789abcdef:1796505785254");
    ipd_table_destroy(w);

    w = make_table(8, 32, 8, 128, &info);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED);
    ipd_table_note(w, note);
    cr_expect_str_eq(note, "0123456789abcdef:1796505785254");
    ipd_table_t *r = NULL;
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    ipd_table_set_note(r, "a reader's");
    ipd_table_note(r, note);
    cr_expect_str_eq(note, "0123456789abcdef:1796505785254", "a reader changed the note");
    ipd_table_destroy(r);
    ipd_table_destroy(w);

    w = rebuild_table(&info);
    ipd_table_note(w, note);
    cr_expect_str_eq(note, "", "a rebuilt segment kept the note");
    ipd_table_destroy(w);
}
