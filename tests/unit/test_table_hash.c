/*
 * The record checksums (shared/table_hash.c): they cover the bytes in use, and reattach also
 * requires every string's tail to be zero, so a stray byte anywhere in a copy still fails it.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/instance.h"
#include "common/table_fixture.h"
#include "proto/error.h"
#include "shared/table.h"
#include "shared/table_internal.h"

#define JSON_CAP 256

static char instance[64];
static int instance_seq;

static void new_instance(void)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "table-hash-%d", ++instance_seq);
    ipd_test_instance(instance, sizeof(instance), tag);
    ipd_table_unlink(instance);
}

static void drop_instance(void)
{
    ipd_table_unlink(instance);
}

TestSuite(table_hash, .init = new_instance, .fini = drop_instance, .timeout = 60);

static ipd_table_t *open_table(ipd_table_open_info_t *info)
{
    return ipd_test_table_create(instance, 4, 8, 8, JSON_CAP, 0, info);
}

static void fill(char *dst, size_t size, char c)
{
    memset(dst, c, size - 1);
    dst[size - 1] = '\0';
}

/* A job and its task with every string at its longest (size - 1 bytes), or short ones. */
static void records(ipd_job_t *job, ipd_task_t *task, int longest)
{
    memset(job, 0, sizeof(*job));
    memset(task, 0, sizeof(*task));
    snprintf(job->id, sizeof(job->id), "pj-hash");
    if (longest) {
        fill(job->image, sizeof(job->image), 'i');
        fill(job->spec.pull_secrets, sizeof(job->spec.pull_secrets), 's');
        fill(job->error_reason, sizeof(job->error_reason), 'r');
        fill(job->error_message, sizeof(job->error_message), 'm');
        fill(task->node, sizeof(task->node), 'n');
        fill(task->ns, sizeof(task->ns), 'k');
        fill(task->pod, sizeof(task->pod), 'p');
        fill(task->reason, sizeof(task->reason), 'R');
        fill(task->message, sizeof(task->message), 'M');
        fill(task->fail_reason, sizeof(task->fail_reason), 'f');
        fill(task->fail_message, sizeof(task->fail_message), 'F');
    } else {
        snprintf(job->image, sizeof(job->image), "registry.local/app:1");
        snprintf(job->error_reason, sizeof(job->error_reason), "ErrImagePull");
        snprintf(job->error_message, sizeof(job->error_message), "pull access denied");
        snprintf(task->node, sizeof(task->node), "node-1");
        snprintf(task->message, sizeof(task->message), "Back-off pulling image");
    }
    job->created_at = 1700000000000;
    job->version = 7;
    job->state = IPD_JOB_PULLING;
    job->nodes.desired = 1;
    job->nodes.pulling = 1;
    task->image_bytes = 123456789;
    task->pull_ms = 4321;
    task->attempts = 2;
    task->state = IPD_TASK_PULLING;
}

static const char json[] = "{\"id\":\"pj-hash\",\"state\":\"pulling\"}";

static void put_records(ipd_table_t *w, int longest)
{
    ipd_job_t job;
    ipd_task_t task;
    records(&job, &task, longest);
    cr_assert_eq(ipd_table_put_job(w, &job, &task, 1, json, sizeof(json) - 1), 0);
}

/* Reads the job back and expects what records() made. */
static void expect_records(const ipd_table_t *t, int longest, const char *what)
{
    ipd_job_t want, got;
    ipd_task_t want_task, got_task;
    char got_json[JSON_CAP];
    records(&want, &want_task, longest);
    ipd_table_job_view_t v = {.job = &got, .tasks = &got_task, .task_cap = 1, .json = got_json, .json_cap = JSON_CAP};
    cr_assert_eq(ipd_table_get_job(t, "pj-hash", &v), 0, "%s", what);
    cr_expect_eq(memcmp(&got, &want, sizeof(got)), 0, "%s: the job round-trips byte for byte", what);
    cr_expect_eq(v.ntasks, 1, "%s", what);
    cr_expect_eq(memcmp(&got_task, &want_task, sizeof(got_task)), 0, "%s: the task round-trips byte for byte", what);
    cr_expect(v.has_json, "%s", what);
    cr_expect_eq(v.json_len, sizeof(json) - 1, "%s", what);
    cr_expect_eq(memcmp(got_json, json, sizeof(json) - 1), 0, "%s", what);
}

static job_copy_t *published_job(const ipd_table_t *w)
{
    uint32_t slot = ipd_table_index_lookup(w, "pj-hash");
    cr_assert_neq(slot, UINT32_MAX);
    return job_copy(w, slot, atomic_load(&job_head(w, slot)->seq));
}

static task_copy_t *published_task(const ipd_table_t *w)
{
    uint32_t ts = published_job(w)->task_first;
    return task_copy(w, ts, atomic_load(&task_head(w, ts)->seq));
}

Test(table_hash, maximum_length_strings_round_trip_and_reattach)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = open_table(&info);
    put_records(w, 1);
    expect_records(w, 1, "written");
    put_records(w, 1); /* both copies of each slot hold it */
    cr_expect_eq(ipd_table_verify(w), 0);
    ipd_table_destroy(w);

    w = open_table(&info);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    expect_records(w, 1, "reattached");
    ipd_table_destroy(w);
}

/* The byte of the published job or task copy that `where` names, for a stray write. */
typedef enum where {
    JOB_STRING,
    JOB_TAIL,
    JOB_SCALAR,
    JOB_JSON,
    TASK_STRING,
    TASK_TAIL,
    TASK_SCALAR,
    WHERE_COUNT
} where_t;

static const char *const where_names[WHERE_COUNT] = {
    "a byte inside the job's image",  "a byte in the zero tail of the job's image",
    "a byte of the job's created_at", "a byte of the job's used JSON",
    "a byte inside the task's node",  "a byte in the zero tail of the task's message",
    "a byte of the task's pull_ms",
};

static uint8_t *byte_at(const ipd_table_t *w, where_t where)
{
    job_copy_t *j = published_job(w);
    task_copy_t *t = published_task(w);
    switch (where) {
    case JOB_STRING:
        return (uint8_t *)&j->job.image[5];
    case JOB_TAIL:
        return (uint8_t *)&j->job.image[sizeof(j->job.image) - 3];
    case JOB_SCALAR:
        return (uint8_t *)&j->job.created_at + 2;
    case JOB_JSON:
        return job_json(j) + 10;
    case TASK_STRING:
        return (uint8_t *)&t->task.node[2];
    case TASK_TAIL:
        return (uint8_t *)&t->task.message[200];
    case TASK_SCALAR:
        return (uint8_t *)&t->task.pull_ms + 1;
    default:
        return NULL;
    }
}

Test(table_hash, a_byte_flipped_anywhere_in_a_copy_fails_reattach)
{
    ipd_table_open_info_t info;
    for (int where = 0; where < WHERE_COUNT; where++) {
        ipd_table_t *w = open_table(&info);
        put_records(w, 0);
        put_records(w, 0);
        uint64_t epoch = ipd_table_epoch(w);
        *byte_at(w, (where_t)where) ^= 0x20;
        cr_expect_eq(ipd_table_verify(w), IPD_ECORRUPT, "verify: %s", where_names[where]);
        ipd_table_destroy(w);

        w = open_table(&info);
        cr_expect_eq(info.outcome, IPD_TABLE_REBUILT, "%s", where_names[where]);
        cr_expect_eq(info.reason, IPD_ECORRUPT, "%s", where_names[where]);
        cr_expect_neq(ipd_table_epoch(w), epoch, "%s", where_names[where]);
        ipd_table_destroy(w);
        ipd_table_unlink(instance);
    }
    /* The same copies, untouched, reattach: the failures above are the flipped bytes'. */
    ipd_table_t *w = open_table(&info);
    put_records(w, 0);
    put_records(w, 0);
    ipd_table_destroy(w);
    w = open_table(&info);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    expect_records(w, 0, "untouched");
    ipd_table_destroy(w);
}

/* A string shortened in place keeps its old bytes after the NUL (ipd_strlcpy_utf8 does not pad). */
static void dirty_tails(ipd_job_t *job, ipd_task_t *task)
{
    fill(job->image, sizeof(job->image), 'x');
    fill(task->message, sizeof(task->message), 'y');
    fill(task->pod, sizeof(task->pod), 'z');
    ipd_job_t clean;
    ipd_task_t clean_task;
    records(&clean, &clean_task, 0);
    memcpy(job->image, clean.image, strlen(clean.image) + 1);
    memcpy(task->message, clean_task.message, strlen(clean_task.message) + 1);
    task->pod[3] = '\0';
}

Test(table_hash, bytes_after_a_nul_are_stored_as_zero_and_reattach)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = open_table(&info);
    put_records(w, 1); /* both copies hold long strings, which the short ones below overwrite */
    put_records(w, 1);
    ipd_job_t job;
    ipd_task_t task;
    records(&job, &task, 0);
    dirty_tails(&job, &task);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(ipd_table_put_job(w, &job, &task, 1, json, sizeof(json) - 1), 0);
        cr_expect_eq(ipd_table_verify(w), 0, "put %d", k);
    }
    ipd_job_t got;
    ipd_task_t got_task;
    ipd_table_job_view_t v = {.job = &got, .tasks = &got_task, .task_cap = 1};
    cr_assert_eq(ipd_table_get_job(w, "pj-hash", &v), 0);
    cr_expect_str_eq(got.image, job.image);
    cr_expect_str_eq(got_task.message, task.message);
    cr_expect_str_eq(got_task.pod, "zzz");
    for (size_t i = strlen(got.image); i < sizeof(got.image); i++)
        cr_assert_eq(got.image[i], 0, "image byte %zu after the NUL", i);
    for (size_t i = strlen(got_task.message); i < sizeof(got_task.message); i++)
        cr_assert_eq(got_task.message[i], 0, "message byte %zu after the NUL", i);
    for (size_t i = 3; i < sizeof(got_task.pod); i++)
        cr_assert_eq(got_task.pod[i], 0, "pod byte %zu after the NUL", i);

    /* The same task with other bytes after its NULs is no change: the put names the job alone. */
    ipd_task_t again = task;
    memset(again.fail_message + 1, 'q', 10);
    cr_assert_eq(ipd_table_put_job(w, &job, &again, 1, json, sizeof(json) - 1), 0);
    ipd_ring_entry_t e;
    size_t n;
    cr_assert_eq(ipd_table_ring_read(w, ipd_table_ring_head(w) - 1, &e, 1, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(e.task, IPD_RING_TASK_JOB);
    ipd_table_destroy(w);

    w = open_table(&info);
    cr_expect_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    ipd_table_destroy(w);
}

/* records() with every string but the ids and the node empty (`empty`), or as it makes them; the
 * task's `attempts` is `n`, so that the task is rewritten (into the other copy) every time. */
static void put_words(ipd_table_t *w, int empty, uint32_t n, const char *what)
{
    ipd_job_t job, got;
    ipd_task_t task, got_task;
    records(&job, &task, 0);
    task.attempts = n;
    if (empty) {
        memset(job.image, 0, sizeof(job.image));
        memset(job.error_reason, 0, sizeof(job.error_reason));
        memset(job.error_message, 0, sizeof(job.error_message));
        memset(task.message, 0, sizeof(task.message));
    }
    cr_assert_eq(ipd_table_put_job(w, &job, &task, 1, json, sizeof(json) - 1), 0, "%s", what);
    ipd_table_job_view_t v = {.job = &got, .tasks = &got_task, .task_cap = 1};
    cr_assert_eq(ipd_table_get_job(w, "pj-hash", &v), 0, "%s", what);
    cr_expect_eq(memcmp(&got, &job, sizeof(got)), 0, "%s: the job reads back byte for byte", what);
    cr_expect_eq(memcmp(&got_task, &task, sizeof(got_task)), 0, "%s: the task reads back byte for byte", what);
    cr_expect_eq(ipd_table_verify(w), 0, "%s", what);
}

Test(table_hash, an_empty_string_is_written_unless_the_writer_knows_the_copy_holds_zeroes)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = open_table(&info);
    /* Copies of a new segment hold zeroes; each copy then holds words, then loses them, twice
     * (the writer alternates copies, so each step below is one copy's history). */
    const int steps[] = {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0};
    char what[32];
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        snprintf(what, sizeof(what), "put %zu (%s)", k, steps[k] ? "empty" : "words");
        put_words(w, steps[k], (uint32_t)k, what);
    }
    /* A writer that attaches again knows nothing of the copies, which both hold words here. */
    ipd_table_destroy(w);
    w = open_table(&info);
    cr_assert_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    put_words(w, 1, 100, "empty after reattach, copy a");
    put_words(w, 1, 101, "empty after reattach, copy b");
    put_words(w, 1, 102, "empty after reattach, again");
    ipd_table_destroy(w);
}

/* A record with each string empty, short or at its longest, chosen by `r`. */
static void mixed_records(ipd_job_t *job, ipd_task_t *task, unsigned r)
{
    ipd_job_t longest_job;
    ipd_task_t longest_task;
    records(job, task, 0);
    records(&longest_job, &longest_task, 1);
    char *js[] = {job->image, job->spec.pull_secrets, job->error_reason, job->error_message};
    const char *jl[] = {longest_job.image, longest_job.spec.pull_secrets, longest_job.error_reason,
                        longest_job.error_message};
    size_t jn[] = {sizeof(job->image), sizeof(job->spec.pull_secrets), sizeof(job->error_reason),
                   sizeof(job->error_message)};
    char *ts[] = {task->node, task->ns, task->pod, task->reason, task->message, task->fail_reason, task->fail_message};
    const char *tl[] = {longest_task.node,    longest_task.ns,          longest_task.pod,         longest_task.reason,
                        longest_task.message, longest_task.fail_reason, longest_task.fail_message};
    size_t tn[] = {sizeof(task->node),    sizeof(task->ns),          sizeof(task->pod),         sizeof(task->reason),
                   sizeof(task->message), sizeof(task->fail_reason), sizeof(task->fail_message)};
    for (size_t i = 0; i < 4; i++, r /= 3)
        if (r % 3 == 0)
            js[i][0] = '\0'; /* empty, the rest of the short string left behind the NUL */
        else if (r % 3 == 2)
            memcpy(js[i], jl[i], jn[i]);
    for (size_t i = 0; i < 7; i++, r /= 3)
        if (r % 3 == 0)
            ts[i][0] = '\0';
        else if (r % 3 == 2)
            memcpy(ts[i], tl[i], tn[i]);
}

/* The stores with the empty strings known write the same bytes, checksums included, as those that
 * read them: run over one pair of copies each, through a history of records that leaves words
 * behind and takes them away. */
Test(table_hash, known_blank_strings_store_the_same_bytes)
{
    static task_copy_t a, b;
    static job_copy_t ja, jb;
    uint8_t za = 0, zb = 0, jza = 0, jzb = 0;
    unsigned r = 12345;
    for (int step = 0; step < 2000; step++) {
        ipd_job_t job;
        ipd_task_t task;
        r = r * 1103515245u + 12345u;
        mixed_records(&job, &task, r >> 4);
        unsigned mask = step % 3 == 0 ? 0xff : (r >> 20) & 0xff; /* all known, or some */
        a.stamp = b.stamp = ja.stamp = jb.stamp = (uint64_t)step;
        ipd_table_task_store(&a, &task, 0, &za);
        ipd_table_task_store(&b, &task, ipd_task_blank(&task) & mask, &zb);
        cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "step %d: the task copies differ", step);
        cr_assert_eq(za, zb, "step %d", step);
        cr_assert(ipd_table_task_copy_ok(&b), "step %d", step);
        ipd_table_job_store(&ja, &job, 0, 0, &jza);
        ipd_table_job_store(&jb, &job, ipd_job_blank(&job) & mask, 0, &jzb);
        cr_assert_eq(memcmp(&ja, &jb, sizeof(ja)), 0, "step %d: the job copies differ", step);
        cr_assert_eq(jza, jzb, "step %d", step);
        cr_assert(ipd_table_job_copy_ok(&jb, 0), "step %d", step);
    }
}

/* Through the put entry points: a job and task put with their blank bits read back as put. */
Test(table_hash, puts_with_known_blank_strings_round_trip)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = open_table(&info);
    ipd_job_t job;
    ipd_task_t task;
    for (int longest = 0; longest < 2; longest++) {
        records(&job, &task, longest);
        uint8_t blank = (uint8_t)ipd_task_blank(&task);
        cr_assert_eq(ipd_table_put_job_known(w, &job, ipd_job_blank(&job), &task, &blank, 1, json, sizeof(json) - 1),
                     0);
        expect_records(w, longest, "put_job_known");
        const uint32_t index = 0;
        cr_assert_eq(ipd_table_put_tasks_known(w, &job, ipd_job_blank(&job), 1, &index, &task, &blank, 1, json,
                                               sizeof(json) - 1),
                     0);
        expect_records(w, longest, "put_tasks_known");
    }
    ipd_table_destroy(w);
}

#ifndef NDEBUG
/* A blank bit must be true: a debug build stops on one set over a string that is not empty. */
Test(table_hash, a_blank_bit_over_a_string_that_is_not_empty_aborts, .signal = SIGABRT)
{
    static task_copy_t c;
    uint8_t zero = 0;
    ipd_job_t job;
    ipd_task_t task;
    records(&job, &task, 0);
    ipd_table_task_store(&c, &task, ipd_task_blank(&task) | 1u << 4 /* the message's bit */, &zero);
}
#endif
