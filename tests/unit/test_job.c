#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/job.h"

Test(job, state_names_round_trip_through_parse)
{
    for (int s = 0; s < IPD_TASK_STATE_COUNT; s++) {
        const char *n = ipd_task_state_name((ipd_task_state_t)s);
        cr_assert_eq(ipd_task_state_parse(n, strlen(n)), s);
    }
    for (int s = 0; s < IPD_JOB_STATE_COUNT; s++) {
        const char *n = ipd_job_state_name((ipd_job_state_t)s);
        cr_assert_eq(ipd_job_state_parse(n, strlen(n)), s);
    }
    for (int p = 0; p < IPD_PULL_POLICY_COUNT; p++) {
        const char *n = ipd_pull_policy_name((ipd_pull_policy_t)p);
        cr_assert_eq(ipd_pull_policy_parse(n, strlen(n)), p);
    }
    cr_assert_str_eq(ipd_task_state_name(IPD_TASK_RETRYING), "retrying");
    cr_assert_str_eq(ipd_job_state_name(IPD_JOB_CANCELLED), "cancelled");
    cr_assert_str_eq(ipd_pull_policy_name(IPD_PULL_IF_NOT_PRESENT), "IfNotPresent");
}

Test(job, parse_rejects_prefixes_case_and_unknown_names)
{
    cr_assert_eq(ipd_task_state_parse("pend", 4), -1);
    cr_assert_eq(ipd_task_state_parse("pendingX", 8), -1);
    cr_assert_eq(ipd_job_state_parse("Pending", 7), -1);
    cr_assert_eq(ipd_job_state_parse("retrying", 8), -1);
    cr_assert_eq(ipd_pull_policy_parse("Never", 5), -1);
    cr_assert_eq(ipd_pull_policy_parse(NULL, 0), -1);
    cr_assert_eq(ipd_task_state_parse("pending", 0), -1);
    /* The length is honoured: a longer buffer is cut to `len`. */
    cr_assert_eq(ipd_task_state_parse("failedXYZ", 6), IPD_TASK_FAILED);
}

Test(job, out_of_range_enums_have_a_name)
{
    cr_assert_str_eq(ipd_task_state_name((ipd_task_state_t)99), "unknown");
    cr_assert_not_null(ipd_job_state_name((ipd_job_state_t)99));
    cr_assert_not_null(ipd_pull_policy_name((ipd_pull_policy_t)99));
}

Test(job, final_states_are_succeeded_failed_cancelled)
{
    int task_final[IPD_TASK_STATE_COUNT] = {0, 0, 0, 1, 1, 1, 0};
    int job_final[IPD_JOB_STATE_COUNT] = {0, 0, 1, 1, 1};
    for (int s = 0; s < IPD_TASK_STATE_COUNT; s++)
        cr_assert_eq(!!ipd_task_state_is_final((ipd_task_state_t)s), task_final[s], "task state %d", s);
    for (int s = 0; s < IPD_JOB_STATE_COUNT; s++)
        cr_assert_eq(!!ipd_job_state_is_final((ipd_job_state_t)s), job_final[s], "job state %d", s);
}

Test(job, task_init_sets_pending_and_unknown_sizes)
{
    ipd_task_t t;
    memset(&t, 0x5a, sizeof(t));
    ipd_task_init(&t, "node-a", 1234);
    cr_assert_str_eq(t.node, "node-a");
    cr_assert_str_eq(t.pod, "");
    cr_assert_str_eq(t.ns, "");
    cr_assert_str_eq(t.reason, "");
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_eq(t.image_bytes, IPD_UNKNOWN_I64);
    cr_assert_eq(t.pull_ms, IPD_UNKNOWN_I64);
    cr_assert_eq(t.updated_at, 1234);
    cr_assert_eq(t.attempts, 0);
}

static void make_tasks(ipd_task_t *tasks, const char *states)
{
    for (size_t i = 0; states[i] != '\0'; i++) {
        char node[32];
        snprintf(node, sizeof(node), "n%zu", i);
        ipd_task_init(&tasks[i], node, 1);
        /* p=pending u=pulling r=retrying s=succeeded f=failed c=cancelled ?=unknown */
        tasks[i].state = (uint8_t)(strchr("purSfc?", states[i] == 's' ? 'S' : states[i]) - "purSfc?");
        if (tasks[i].state == IPD_TASK_RETRYING || tasks[i].state == IPD_TASK_FAILED)
            snprintf(tasks[i].reason, sizeof(tasks[i].reason), "Reason%zu", i);
    }
}

Test(job, aggregate_table_covers_every_job_state)
{
    static const struct {
        const char *tasks;
        int cancelled;
        ipd_job_state_t want;
    } cases[] = {
        {"", 0, IPD_JOB_PENDING},     {"p", 0, IPD_JOB_PENDING},    {"ppp", 0, IPD_JOB_PENDING},
        {"p?", 0, IPD_JOB_PENDING},   {"pc", 0, IPD_JOB_PENDING},   {"pu", 0, IPD_JOB_PULLING},
        {"pr", 0, IPD_JOB_PULLING},   {"ps", 0, IPD_JOB_PULLING},   {"pf", 0, IPD_JOB_PULLING},
        {"s?", 0, IPD_JOB_PULLING},   {"s", 0, IPD_JOB_SUCCEEDED},  {"sss", 0, IPD_JOB_SUCCEEDED},
        {"sf", 0, IPD_JOB_FAILED},    {"f", 0, IPD_JOB_FAILED},     {"sfc", 0, IPD_JOB_FAILED},
        {"sc", 0, IPD_JOB_CANCELLED}, {"cc", 0, IPD_JOB_CANCELLED}, {"pu", 1, IPD_JOB_CANCELLED},
        {"s", 1, IPD_JOB_CANCELLED},  {"", 1, IPD_JOB_CANCELLED},   {"rrr", 0, IPD_JOB_PULLING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ipd_task_t tasks[8];
        ipd_job_t job;
        memset(&job, 0, sizeof(job));
        job.cancelled = (uint8_t)cases[i].cancelled;
        make_tasks(tasks, cases[i].tasks);
        ipd_job_aggregate(&job, tasks, strlen(cases[i].tasks), 100);
        cr_assert_eq(job.state, cases[i].want, "case %zu (%s): got %s", i, cases[i].tasks,
                     ipd_job_state_name((ipd_job_state_t)job.state));
    }
}

Test(job, aggregate_counts_tasks_and_pulling_includes_retrying)
{
    ipd_task_t tasks[8];
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    make_tasks(tasks, "purrsfc?");
    ipd_job_aggregate(&job, tasks, 8, 100);
    cr_assert_eq(job.nodes.desired, 8);
    cr_assert_eq(job.nodes.pending, 1);
    cr_assert_eq(job.nodes.pulling, 3);
    cr_assert_eq(job.nodes.retrying, 2);
    cr_assert_eq(job.nodes.succeeded, 1);
    cr_assert_eq(job.nodes.failed, 1);
    cr_assert_eq(job.nodes.cancelled, 1);
    cr_assert_eq(job.nodes.unknown, 1);
    const ipd_node_counts_t *c = &job.nodes;
    cr_assert_eq(c->pending + c->pulling + c->succeeded + c->failed + c->cancelled + c->unknown, c->desired);
}

Test(job, aggregate_sets_started_once_and_finished_when_final)
{
    ipd_task_t tasks[2];
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    make_tasks(tasks, "pp");
    ipd_job_aggregate(&job, tasks, 2, 100);
    cr_assert_eq(job.started_at, IPD_TIME_NULL);
    cr_assert_eq(job.finished_at, IPD_TIME_NULL);
    tasks[0].state = IPD_TASK_PULLING;
    ipd_job_aggregate(&job, tasks, 2, 200);
    cr_assert_eq(job.started_at, 200);
    tasks[0].state = IPD_TASK_SUCCEEDED;
    tasks[1].state = IPD_TASK_SUCCEEDED;
    ipd_job_aggregate(&job, tasks, 2, 300);
    cr_assert_eq(job.started_at, 200);
    cr_assert_eq(job.finished_at, 300);
    ipd_job_aggregate(&job, tasks, 2, 400);
    cr_assert_eq(job.finished_at, 300, "finished_at must be kept once set");
    tasks[1].state = IPD_TASK_RETRYING;
    ipd_job_aggregate(&job, tasks, 2, 500);
    cr_assert_eq(job.state, IPD_JOB_PULLING);
    cr_assert_eq(job.finished_at, IPD_TIME_NULL, "an active job has no finish time");
    cr_assert_eq(job.started_at, 200);
}

/*
 * A job whose tasks ran and are now all unknown (their nodes' daemons lost, with Redis: the
 * stand-in shows them NodeDaemonLost) is still a job that started: pulling, not pending again.
 * Before, it went back from pulling to pending until a task ended.
 */
Test(job, a_started_job_whose_tasks_turn_unknown_stays_pulling)
{
    ipd_task_t tasks[2];
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    make_tasks(tasks, "??");
    ipd_job_aggregate(&job, tasks, 2, 100);
    cr_assert_eq(job.state, IPD_JOB_PENDING, "never started: %s", ipd_job_state_name((ipd_job_state_t)job.state));
    make_tasks(tasks, "r?");
    ipd_job_aggregate(&job, tasks, 2, 200);
    cr_assert_eq(job.state, IPD_JOB_PULLING);
    make_tasks(tasks, "??");
    ipd_job_aggregate(&job, tasks, 2, 300);
    cr_assert_eq(job.state, IPD_JOB_PULLING, "got %s", ipd_job_state_name((ipd_job_state_t)job.state));
    cr_assert_eq(job.started_at, 200);
    make_tasks(tasks, "f?");
    ipd_job_aggregate(&job, tasks, 2, 400);
    cr_assert_eq(job.state, IPD_JOB_PULLING);
    make_tasks(tasks, "ff");
    ipd_job_aggregate(&job, tasks, 2, 500);
    cr_assert_eq(job.state, IPD_JOB_FAILED);
}

Test(job, aggregate_error_is_first_failing_task)
{
    ipd_task_t tasks[4];
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    make_tasks(tasks, "srfr");
    snprintf(tasks[1].message, sizeof(tasks[1].message), "back-off pulling");
    ipd_job_aggregate(&job, tasks, 4, 1);
    cr_assert_str_eq(job.error_reason, "Reason1");
    cr_assert_str_eq(job.error_message, "back-off pulling");
    tasks[1].state = IPD_TASK_SUCCEEDED;
    tasks[2].reason[0] = '\0';
    ipd_job_aggregate(&job, tasks, 4, 2);
    cr_assert_str_eq(job.error_reason, "failed", "a failing task without a reason still gives an error");
    cr_assert_str_eq(job.error_message, "");
    make_tasks(tasks, "ss");
    ipd_job_aggregate(&job, tasks, 2, 3);
    cr_assert_str_eq(job.error_reason, "");
    cr_assert_str_eq(job.error_message, "");
    /* The cleared fields keep their old bytes past the NUL: by value, the job is the one a fresh
     * record aggregates to. */
    ipd_job_t fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.started_at = job.started_at;
    ipd_job_aggregate(&fresh, tasks, 2, 3);
    cr_assert(ipd_job_same(&job, &fresh));
    cr_assert_neq(memcmp(&job, &fresh, sizeof(job)), 0, "the tails differ, so this compares by value");
    cr_assert_eq(job.version, 0, "aggregation does not bump the version");
}

/* Fills every byte of `p` from `seed`: what a record's buffers hold past their NULs. */
static void scribble(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((seed + i * 131u) % 251u + 1u);
}

/* A task with short strings over scribbled tails. */
static void scribbled_task(ipd_task_t *t, unsigned seed)
{
    scribble(t, sizeof(*t), seed);
    snprintf(t->node, 7, "node-%u", seed % 10);
    snprintf(t->ns, 4, "ns%u", seed % 10);
    t->pod[0] = '\0';
    snprintf(t->reason, 8, "Pulling");
    snprintf(t->message, 20, "pulling image %u", seed % 100);
    t->fail_reason[0] = '\0';
    snprintf(t->fail_message, 3, "x%u", seed % 10);
    t->image_bytes = 10;
    t->pull_ms = 20;
    t->updated_at = 30;
    t->attempts = 1;
    t->state = IPD_TASK_PULLING;
    t->cause = IPD_CAUSE_NONE;
    memset(t->_reserved, 0, sizeof(t->_reserved));
}

/* The string members of a task with their offsets, in span order (proto/job_spans.h). */
static const size_t task_strings[] = {offsetof(ipd_task_t, node),        offsetof(ipd_task_t, ns),
                                      offsetof(ipd_task_t, pod),         offsetof(ipd_task_t, reason),
                                      offsetof(ipd_task_t, message),     offsetof(ipd_task_t, fail_reason),
                                      offsetof(ipd_task_t, fail_message)};
#define NSTRINGS (sizeof(task_strings) / sizeof(task_strings[0]))

/* Task `seed` whose string i is empty where bit i of `empty` is set, "v<seed>" otherwise. */
static void task_with_blanks(ipd_task_t *t, unsigned seed, unsigned empty)
{
    scribbled_task(t, seed);
    for (size_t i = 0; i < NSTRINGS; i++) {
        char *str = (char *)t + task_strings[i];
        if (empty & (1u << i))
            str[0] = '\0';
        else
            snprintf(str, 4, "v%u", seed % 10);
    }
}

Test(job, a_task_initialised_by_value_is_the_initialised_task)
{
    ipd_task_t a, b;
    ipd_task_init(&a, "node-3", 42);
    scribble(&b, sizeof(b), 9);
    ipd_task_init_value(&b, "node-3", 42);
    cr_assert(ipd_task_same(&a, &b));
    cr_assert_eq(ipd_task_blank(&b), ipd_task_blank(&a));
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0, "the strings' tails are left as they were");
    ipd_task_init_value(&b, NULL, 42);
    ipd_task_init(&a, NULL, 42);
    cr_assert(ipd_task_same(&a, &b));
}

Test(job, records_compare_and_copy_with_known_blanks)
{
    /* Every pattern of empty strings on either side, the same or other words, the same or other
     * scalars; every subset of the true blanks given as known: the same answers as without. */
    const unsigned patterns[] = {0x00, 0x7f, 0x7e, 0x01, 0x2a, 0x55, 0x40};
    const size_t np = sizeof(patterns) / sizeof(patterns[0]);
    for (size_t pa = 0; pa < np; pa++)
        for (size_t pb = 0; pb < np; pb++)
            for (unsigned variant = 0; variant < 3; variant++) {
                ipd_task_t a, b;
                task_with_blanks(&a, 1, patterns[pa]);
                task_with_blanks(&b, variant == 1 ? 2 : 1, patterns[pb]);
                if (variant == 2)
                    b.attempts++;
                b.updated_at = a.updated_at + 1;
                unsigned ba = ipd_task_blank(&a), bb = ipd_task_blank(&b);
                cr_assert_eq(ba, patterns[pa]);
                cr_assert_eq(bb, patterns[pb]);
                int same = ipd_task_same_but_time(&a, &b);
                const unsigned known[] = {0, ba, ba & 0x0f, ba & 0x70};
                const unsigned known_b[] = {bb, 0, bb & 0x33, bb & 0x4c};
                for (size_t k = 0; k < 4; k++) {
                    cr_assert_eq(ipd_task_same_but_time_known(&a, known[k], &b, known_b[k]), same,
                                 "patterns %#x %#x variant %u known %#x %#x", patterns[pa], patterns[pb], variant,
                                 known[k], known_b[k]);
                    ipd_task_t d = b;
                    ipd_task_copy_known(&d, known_b[k], &a, known[k]);
                    cr_assert(ipd_task_same(&d, &a), "patterns %#x %#x", patterns[pa], patterns[pb]);
                    cr_assert_eq(ipd_task_blank(&d), ba);
                }
            }
    /* A string empty on both sides and known so is left as it is, its tail included. */
    ipd_task_t a, d;
    task_with_blanks(&a, 1, 0x04);
    task_with_blanks(&d, 2, 0x04);
    d.pod[1] = 'q';
    ipd_task_copy_known(&d, 0x04, &a, 0x04);
    cr_assert(ipd_task_same(&d, &a));
    cr_assert_eq(d.pod[1], 'q');
}

/* Job `seed` whose string i (id, image, pull_secrets, error_reason, error_message) is empty where
 * bit i of `empty` is set. */
static void job_with_blanks(ipd_job_t *j, unsigned seed, unsigned empty)
{
    char *const strings[] = {j->id, j->image, j->spec.pull_secrets, j->error_reason, j->error_message};
    scribble(j, sizeof(*j), seed);
    memset(&j->created_at, 0, offsetof(ipd_job_t, spec.pull_secrets) - offsetof(ipd_job_t, created_at));
    j->spec.refresh_seconds = 0;
    memset(&j->nodes, 0, sizeof(j->nodes));
    memset(&j->state, 0, sizeof(*j) - offsetof(ipd_job_t, state));
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (empty & (1u << i))
            strings[i][0] = '\0';
        else
            snprintf(strings[i], 4, "w%u", seed % 10);
    }
}

Test(job, job_records_compare_and_copy_with_known_blanks)
{
    /* The job's string spans are spans 0, 1, 3, 5 and 6 (proto/job_spans.h). */
    static const unsigned span_bit[] = {0x01, 0x02, 0x08, 0x20, 0x40};
    const unsigned patterns[] = {0x00, 0x1f, 0x1c, 0x03, 0x15, 0x0a};
    const size_t np = sizeof(patterns) / sizeof(patterns[0]);
    for (size_t pa = 0; pa < np; pa++)
        for (size_t pb = 0; pb < np; pb++)
            for (unsigned variant = 0; variant < 3; variant++) {
                ipd_job_t a, b;
                job_with_blanks(&a, 1, patterns[pa]);
                job_with_blanks(&b, variant == 1 ? 2 : 1, patterns[pb]);
                if (variant == 2)
                    b.nodes.pending++;
                unsigned ba = ipd_job_blank(&a), bb = ipd_job_blank(&b), want_a = 0;
                for (size_t i = 0; i < 5; i++)
                    if (patterns[pa] & (1u << i))
                        want_a |= span_bit[i];
                cr_assert_eq(ba, want_a);
                int same = ipd_job_same(&a, &b);
                const unsigned known[] = {0, ba, ba & 0x0b, ba & 0x60};
                const unsigned known_b[] = {bb, 0, bb & 0x29, bb & 0x42};
                for (size_t k = 0; k < 4; k++) {
                    cr_assert_eq(ipd_job_same_known(&a, known[k], &b, known_b[k]), same,
                                 "patterns %#x %#x variant %u known %#x %#x", patterns[pa], patterns[pb], variant,
                                 known[k], known_b[k]);
                    ipd_job_t d = b;
                    ipd_job_copy_known(&d, known_b[k], &a, known[k]);
                    cr_assert(ipd_job_same(&d, &a), "patterns %#x %#x", patterns[pa], patterns[pb]);
                    cr_assert_eq(ipd_job_blank(&d), ba);
                }
            }
}

Test(job, records_compare_and_copy_by_value)
{
    ipd_task_t a, b;
    scribbled_task(&a, 1);
    scribbled_task(&b, 2);
    memcpy(b.node, a.node, strlen(a.node) + 1);
    memcpy(b.ns, a.ns, strlen(a.ns) + 1);
    memcpy(b.message, a.message, strlen(a.message) + 1);
    memcpy(b.fail_message, a.fail_message, strlen(a.fail_message) + 1);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    cr_assert(ipd_task_same(&a, &b), "bytes past the NULs are no part of the value");
    /* Each member in turn: a byte before a NUL, or a scalar, makes them differ. */
    const size_t at[] = {
        offsetof(ipd_task_t, node),    offsetof(ipd_task_t, ns),           offsetof(ipd_task_t, reason),
        offsetof(ipd_task_t, message), offsetof(ipd_task_t, fail_message), offsetof(ipd_task_t, image_bytes),
        offsetof(ipd_task_t, pull_ms), offsetof(ipd_task_t, attempts),     offsetof(ipd_task_t, state),
        offsetof(ipd_task_t, cause),   offsetof(ipd_task_t, _reserved)};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        ipd_task_t c = b;
        ((unsigned char *)&c)[at[i]] ^= 0x40;
        cr_assert(!ipd_task_same(&a, &c), "member at %zu", at[i]);
        cr_assert(!ipd_task_same_but_time(&a, &c), "member at %zu", at[i]);
    }
    b.updated_at = 31;
    cr_assert(!ipd_task_same(&a, &b));
    cr_assert(ipd_task_same_but_time(&a, &b), "updated_at is left out");
    /* A copy over a scribbled record holds the value; a full buffer without a NUL is copied whole. */
    ipd_task_t d;
    scribble(&d, sizeof(d), 7);
    memset(a.pod, 'p', sizeof(a.pod));
    ipd_task_copy(&d, &a);
    cr_assert(ipd_task_same(&d, &a));
    cr_assert_eq(memcmp(d.pod, a.pod, sizeof(a.pod)), 0);
    ipd_task_copy(&d, &d);
    cr_assert(ipd_task_same(&d, &a), "a copy onto itself changes nothing");

    ipd_job_t j, k;
    scribble(&j, sizeof(j), 3);
    scribble(&k, sizeof(k), 4);
    snprintf(j.id, sizeof(j.id), "pj-1");
    snprintf(j.image, sizeof(j.image), "img:1");
    j.spec.pull_secrets[0] = '\0';
    j.error_reason[0] = '\0';
    snprintf(j.error_message, sizeof(j.error_message), "m");
    ipd_job_copy(&k, &j);
    cr_assert(ipd_job_same(&k, &j));
    cr_assert(ipd_job_spec_same(&k.spec, &j.spec));
    cr_assert_neq(memcmp(&k, &j, sizeof(j)), 0, "the tails were left as they were");
    k.spec.backoff_limit++;
    cr_assert(!ipd_job_same(&k, &j));
    cr_assert(!ipd_job_spec_same(&k.spec, &j.spec));
    k.spec.backoff_limit--;
    k.spec.pull_secrets[0] = 's';
    k.spec.pull_secrets[1] = '\0';
    cr_assert(!ipd_job_spec_same(&k.spec, &j.spec));
}

Test(job, strlcpy_utf8_cuts_at_a_character_boundary)
{
    char dst[6];
    cr_assert_eq(ipd_strlcpy_utf8(dst, "abc", sizeof(dst)), 3);
    cr_assert_str_eq(dst, "abc");
    cr_assert_eq(ipd_strlcpy_utf8(dst, "abcdefgh", sizeof(dst)), 5);
    cr_assert_str_eq(dst, "abcde");
    /* "abcd" + "é" (2 bytes): 6 bytes do not fit in 5, the é must not be split. */
    cr_assert_eq(ipd_strlcpy_utf8(dst, "abcd\xC3\xA9", sizeof(dst)), 4);
    cr_assert_str_eq(dst, "abcd");
    /* A 4-byte character starting at offset 2 does not fit in 5 bytes. */
    cr_assert_eq(ipd_strlcpy_utf8(dst, "ab\xF0\x9F\x98\x80", sizeof(dst)), 2);
    cr_assert_eq(ipd_strlcpy_utf8(dst, "a\xF0\x9F\x98\x80z", sizeof(dst)), 5);
    cr_assert_eq(memcmp(dst, "a\xF0\x9F\x98\x80", 6), 0);
    cr_assert_eq(ipd_strlcpy_utf8(dst, "xyz", 1), 0);
    cr_assert_str_eq(dst, "");
    /* Runs of stray continuation bytes are cut at the size rather than emptied. */
    cr_assert_eq(ipd_strlcpy_utf8(dst, "\x80\x80\x80\x80\x80\x80\x80", sizeof(dst)), 5);
}

Test(job, a_keep_job_is_keeping_whatever_its_tasks_until_cancelled)
{
    ipd_job_t job;
    ipd_task_t tasks[2];
    memset(&job, 0, sizeof(job));
    job.keep = 1;
    ipd_task_init(&tasks[0], "node-a", 1000);
    ipd_task_init(&tasks[1], "node-b", 1000);
    tasks[0].state = tasks[1].state = IPD_TASK_SUCCEEDED;
    ipd_job_aggregate(&job, tasks, 2, 2000);
    cr_assert_eq(job.state, IPD_JOB_KEEPING);
    cr_assert_str_eq(ipd_job_state_name((ipd_job_state_t)job.state), "keeping");
    cr_assert_not(ipd_job_state_is_final((ipd_job_state_t)job.state));
    cr_assert_eq(job.finished_at, IPD_TIME_NULL);
    cr_assert_eq(job.nodes.succeeded, 2);
    ipd_job_aggregate(&job, tasks, 0, 2500);
    cr_assert_eq(job.state, IPD_JOB_KEEPING, "no node matches now: still keeping");
    job.cancelled = 1;
    ipd_job_aggregate(&job, tasks, 2, 3000);
    cr_assert_eq(job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(job.finished_at, 3000);
}
