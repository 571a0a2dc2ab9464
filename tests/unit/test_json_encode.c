/*
 * The job encoder against a reference: API.md's rules (proto/json.h) written the plainest way,
 * with stdio and gmtime_r, over many generated jobs, so that a faster encoder stays byte for byte
 * what clients have always seen. Known strings pin the edge cases the reference also derives.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/error.h"
#include "proto/json.h"
#include "proto/utf8.h"

/* ---- The reference ---- */

static void ref_string(ipd_buf_t *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    cr_assert_eq(ipd_buf_append_char(b, '"'), 0);
    for (size_t i = 0; i < len;) {
        size_t n = 1, bad = 1;
        if (s[i] == '"' || s[i] == '\\')
            cr_assert_eq(ipd_buf_appendf(b, "\\%c", s[i]), 0);
        else if (s[i] < 0x20)
            cr_assert_eq(ipd_buf_appendf(b, "\\u%04x", s[i]), 0);
        else if (s[i] < 0x80 || (n = ipd_utf8_seq(s + i, len - i, &bad)) != 0)
            cr_assert_eq(ipd_buf_append(b, s + i, n), 0);
        else {
            cr_assert_eq(ipd_buf_append_str(b, "\xEF\xBF\xBD"), 0);
            n = bad;
        }
        i += n;
    }
    cr_assert_eq(ipd_buf_append_char(b, '"'), 0);
}

static void ref_field(ipd_buf_t *b, const char *s, size_t size, int empty_is_null)
{
    size_t n = strnlen(s, size);
    if (n == 0 && empty_is_null)
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
    else
        ref_string(b, s, n);
}

#define REF_FIELD(b, arr, null) ref_field((b), (arr), sizeof(arr), (null))

static void ref_name(ipd_buf_t *b, const char *name)
{
    if (name == NULL)
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
    else
        ref_string(b, name, strlen(name));
}

static void ref_time(ipd_buf_t *b, int64_t ms)
{
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    time_t t = (time_t)secs;
    struct tm tm;
    if (ms == IPD_TIME_NULL || gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
        return;
    }
    cr_assert_eq(ipd_buf_appendf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - secs * 1000)),
                 0);
}

static void ref_i64(ipd_buf_t *b, int64_t v)
{
    if (v < 0)
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
    else
        cr_assert_eq(ipd_buf_appendf(b, "%" PRId64, v), 0);
}

static void ref_task(ipd_buf_t *b, const ipd_task_t *t)
{
    cr_assert_eq(ipd_buf_append_str(b, "{\"node\":"), 0);
    REF_FIELD(b, t->node, 0);
    cr_assert_eq(ipd_buf_append_str(b, ",\"state\":"), 0);
    ref_name(b, ipd_task_state_name((ipd_task_state_t)t->state));
    const char *keys[] = {",\"namespace\":", ",\"pod\":", ",\"reason\":", ",\"message\":"};
    const char *vals[] = {t->ns, t->pod, t->reason, t->message};
    const size_t sizes[] = {sizeof(t->ns), sizeof(t->pod), sizeof(t->reason), sizeof(t->message)};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(ipd_buf_append_str(b, keys[i]), 0);
        ref_field(b, vals[i], sizes[i], 1);
    }
    cr_assert_eq(ipd_buf_append_str(b, ",\"cause\":"), 0);
    ref_name(b, ipd_cause_name((ipd_cause_t)t->cause));
    cr_assert_eq(ipd_buf_append_str(b, ",\"last_failure\":"), 0);
    if (strnlen(t->fail_reason, sizeof(t->fail_reason)) + strnlen(t->fail_message, sizeof(t->fail_message)) == 0) {
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
    } else {
        cr_assert_eq(ipd_buf_append_str(b, "{\"reason\":"), 0);
        REF_FIELD(b, t->fail_reason, 1);
        cr_assert_eq(ipd_buf_append_str(b, ",\"message\":"), 0);
        REF_FIELD(b, t->fail_message, 1);
        cr_assert_eq(ipd_buf_append_char(b, '}'), 0);
    }
    cr_assert_eq(ipd_buf_appendf(b, ",\"attempts\":%" PRIu32 ",\"image_bytes\":", t->attempts), 0);
    ref_i64(b, t->image_bytes);
    cr_assert_eq(ipd_buf_append_str(b, ",\"pull_ms\":"), 0);
    ref_i64(b, t->pull_ms);
    cr_assert_eq(ipd_buf_append_str(b, ",\"updated_at\":"), 0);
    ref_time(b, t->updated_at);
    cr_assert_eq(ipd_buf_append_char(b, '}'), 0);
}

static void ref_job(ipd_buf_t *b, const ipd_job_t *j, const ipd_task_t *tasks, size_t ntasks, int with_tasks)
{
    cr_assert_eq(ipd_buf_append_str(b, "{\"id\":"), 0);
    REF_FIELD(b, j->id, 0);
    cr_assert_eq(ipd_buf_append_str(b, ",\"image\":"), 0);
    REF_FIELD(b, j->image, 0);
    cr_assert_eq(ipd_buf_append_str(b, ",\"state\":"), 0);
    ref_name(b, ipd_job_state_name((ipd_job_state_t)j->state));
    cr_assert_eq(ipd_buf_append_str(b, ",\"pull_policy\":"), 0);
    ref_name(b, ipd_pull_policy_name((ipd_pull_policy_t)j->pull_policy));
    const char *tkeys[] = {",\"created_at\":", ",\"started_at\":", ",\"finished_at\":"};
    const int64_t times[] = {j->created_at, j->started_at, j->finished_at};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(ipd_buf_append_str(b, tkeys[i]), 0);
        ref_time(b, times[i]);
    }
    const ipd_node_counts_t *c = &j->nodes;
    cr_assert_eq(ipd_buf_appendf(b,
                                 ",\"nodes\":{\"desired\":%" PRIu32 ",\"pending\":%" PRIu32 ",\"pulling\":%" PRIu32
                                 ",\"succeeded\":%" PRIu32 ",\"failed\":%" PRIu32 ",\"retrying\":%" PRIu32
                                 ",\"cancelled\":%" PRIu32 ",\"unknown\":%" PRIu32 "}",
                                 c->desired, c->pending, c->pulling, c->succeeded, c->failed, c->retrying, c->cancelled,
                                 c->unknown),
                 0);
    if (with_tasks) {
        cr_assert_eq(ipd_buf_append_str(b, ",\"tasks\":["), 0);
        for (size_t i = 0; i < ntasks; i++) {
            if (i > 0)
                cr_assert_eq(ipd_buf_append_char(b, ','), 0);
            ref_task(b, &tasks[i]);
        }
        cr_assert_eq(ipd_buf_append_char(b, ']'), 0);
    }
    cr_assert_eq(ipd_buf_append_str(b, ",\"error\":"), 0);
    if (strnlen(j->error_reason, sizeof(j->error_reason)) == 0) {
        cr_assert_eq(ipd_buf_append_str(b, "null"), 0);
    } else {
        cr_assert_eq(ipd_buf_append_str(b, "{\"reason\":"), 0);
        REF_FIELD(b, j->error_reason, 0);
        cr_assert_eq(ipd_buf_append_str(b, ",\"message\":"), 0);
        REF_FIELD(b, j->error_message, 1);
        cr_assert_eq(ipd_buf_append_str(b, ",\"cause\":"), 0);
        ref_name(b, ipd_cause_name((ipd_cause_t)j->error_cause));
        cr_assert_eq(ipd_buf_append_char(b, '}'), 0);
    }
    cr_assert_eq(ipd_buf_appendf(b, ",\"version\":%" PRIu64 "}", j->version), 0);
}

/* ---- Generated jobs ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* Pieces a field is made of: plain text, every escape, valid and invalid UTF-8. */
static const char *const pieces[] = {
    "a",
    "registry.example/app:1",
    "-",
    " ",
    "\"",
    "\\",
    "\x01",
    "\x1f",
    "\n",
    "\x7f",
    "/",
    "\0",
    "\xC3\xA9",
    "\xE2\x80\xA8",
    "\xE2\x80\xA9",
    "\xF0\x9F\x98\x80",
    "\xEF\xBF\xBD",
    "\x80",
    "\xC0\xAF",
    "\xED\xA0\x80",
    "\xF4\x90\x80\x80",
    "\xE2\x82",
    "\xFF",
    "\xF0\x9F",
    "0123456789abcdef",
};

/* Fills `size` bytes at `dst`: empty, full to the last byte (no NUL), or some pieces. */
static void gen_field(char *dst, size_t size)
{
    memset(dst, 0, size);
    uint64_t r = next();
    size_t at = 0, want = r % 4 == 0 ? 0 : r % 4 == 1 ? size : (size_t)(next() % size);
    while (at < want) {
        const char *p = pieces[next() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t n = p[0] == '\0' ? 1 : strlen(p);
        for (size_t i = 0; i < n && at < want; i++)
            dst[at++] = p[i];
    }
}

static int64_t gen_i64(void)
{
    static const int64_t special[] = {0, 1, 9, 10, 99, 100, 1000, IPD_UNKNOWN_I64, INT64_MIN, INT64_MAX, -2};
    uint64_t r = next();
    return r % 2 ? special[next() % (sizeof(special) / sizeof(special[0]))] : (int64_t)(next() >> (r % 64));
}

static int64_t gen_time(void)
{
    static const int64_t special[] = {IPD_TIME_NULL,
                                      -1,
                                      1,
                                      INT64_MIN,
                                      INT64_MAX,
                                      INT64_C(-62167219200000),
                                      INT64_C(-62167219200001),
                                      INT64_C(253402300799999),
                                      INT64_C(253402300800000),
                                      INT64_C(1795773600123)};
    uint64_t r = next();
    if (r % 3 == 0)
        return special[next() % (sizeof(special) / sizeof(special[0]))];
    /* Years 0000..9999 and a little beyond either end. */
    return (int64_t)(next() % UINT64_C(320000000000000)) - INT64_C(66000000000000);
}

static uint32_t gen_u32(void)
{
    uint64_t r = next();
    return r % 3 == 0 ? UINT32_MAX : (uint32_t)(next() >> (32 + r % 32));
}

static void gen_task(ipd_task_t *t)
{
    memset(t, 0, sizeof(*t));
    gen_field(t->node, sizeof(t->node));
    gen_field(t->ns, sizeof(t->ns));
    gen_field(t->pod, sizeof(t->pod));
    gen_field(t->reason, sizeof(t->reason));
    gen_field(t->message, sizeof(t->message));
    gen_field(t->fail_reason, sizeof(t->fail_reason));
    gen_field(t->fail_message, sizeof(t->fail_message));
    t->image_bytes = gen_i64();
    t->pull_ms = gen_i64();
    t->updated_at = gen_time();
    t->attempts = gen_u32();
    t->state = (uint8_t)(next() % (IPD_TASK_STATE_COUNT + 2));
    t->cause = (uint8_t)(next() % 2 ? next() % (IPD_CAUSE_COUNT + 2) : 255);
}

static void gen_job(ipd_job_t *j)
{
    memset(j, 0, sizeof(*j));
    gen_field(j->id, sizeof(j->id));
    gen_field(j->image, sizeof(j->image));
    gen_field(j->error_reason, sizeof(j->error_reason));
    gen_field(j->error_message, sizeof(j->error_message));
    j->created_at = gen_time();
    j->started_at = gen_time();
    j->finished_at = gen_time();
    j->version = next() % 2 ? UINT64_MAX : next() >> (next() % 64);
    uint32_t *counts = &j->nodes.desired;
    for (size_t i = 0; i < sizeof(j->nodes) / sizeof(uint32_t); i++)
        counts[i] = gen_u32();
    j->state = (uint8_t)(next() % (IPD_JOB_STATE_COUNT + 2));
    j->pull_policy = (uint8_t)(next() % (IPD_PULL_POLICY_COUNT + 2));
    j->error_cause = (uint8_t)(next() % (IPD_CAUSE_COUNT + 2));
}

/*
 * A buffer as callers hand it over: empty and unallocated, or holding some text already with
 * some room left, so that the encoder's growth happens at every possible point.
 */
static void gen_buf(ipd_buf_t *b, size_t room)
{
    ipd_buf_init(b);
    if (next() % 4 == 0)
        return;
    cr_assert_eq(ipd_buf_append_str(b, "prefix,"), 0);
    cr_assert_eq(ipd_buf_reserve(b, room), 0);
}

/* Asserts the same bytes; a failure shows where they first differ, with some context. */
static void expect_same(const ipd_buf_t *got, const ipd_buf_t *want, const char *what, int i)
{
    size_t at = 0;
    while (at < got->len && at < want->len && got->data[at] == want->data[at])
        at++;
    if (at == got->len && at == want->len)
        return;
    size_t from = at > 40 ? at - 40 : 0;
    cr_assert_fail("%s %d differs at byte %zu of %zu (want %zu):\n got: ...%.80s\nwant: ...%.80s", what, i, at,
                   got->len, want->len, got->data + from, want->data + from);
}

Test(json_encode, generated_jobs_match_the_reference)
{
    static ipd_task_t tasks[4];
    ipd_job_t job;
    for (int i = 0; i < 10000; i++) {
        size_t ntasks = (size_t)(next() % 5);
        gen_job(&job);
        for (size_t k = 0; k < ntasks; k++)
            gen_task(&tasks[k]);
        ipd_buf_t got, want;
        size_t room = (size_t)(next() % 4096);
        for (int summary = 0; summary < 2; summary++) {
            gen_buf(&got, room);
            ipd_buf_init(&want);
            cr_assert_eq(ipd_buf_append(&want, got.data, got.len), 0);
            ref_job(&want, &job, tasks, ntasks, !summary);
            int rc = summary ? ipd_json_encode_job_summary(&got, &job) : ipd_json_encode_job(&got, &job, tasks, ntasks);
            cr_assert_eq(rc, 0);
            expect_same(&got, &want, summary ? "summary" : "job", i);
            ipd_buf_dispose(&got);
            ipd_buf_dispose(&want);
        }
        /* The same bytes when the empty strings are known, all of them or some (a clear bit is
         * always right), or none (NULL). */
        uint8_t blank[4];
        for (size_t k = 0; k < ntasks; k++)
            blank[k] = (uint8_t)(ipd_task_blank(&tasks[k]) & (next() % 2 ? 0xff : next()));
        for (int hinted = 0; hinted < 2; hinted++) {
            gen_buf(&got, room);
            ipd_buf_init(&want);
            cr_assert_eq(ipd_buf_append(&want, got.data, got.len), 0);
            ref_job(&want, &job, tasks, ntasks, 1);
            cr_assert_eq(ipd_json_encode_job_known(&got, &job, tasks, hinted ? blank : NULL, ntasks), 0);
            expect_same(&got, &want, hinted ? "job, blank strings known" : "job, blank NULL", i);
            ipd_buf_dispose(&got);
            ipd_buf_dispose(&want);
        }
        for (size_t k = 0; k < ntasks; k++) {
            gen_buf(&got, room);
            ipd_buf_init(&want);
            cr_assert_eq(ipd_buf_append(&want, got.data, got.len), 0);
            ref_task(&want, &tasks[k]);
            cr_assert_eq(ipd_json_encode_task(&got, &tasks[k]), 0);
            expect_same(&got, &want, "task", i);
            ipd_buf_dispose(&got);
            ipd_buf_dispose(&want);
        }
    }
}

Test(json_encode, generated_strings_and_times_match_the_reference)
{
    static char field[2048];
    for (int i = 0; i < 5000; i++) {
        size_t size = (size_t)(next() % sizeof(field)) + 1;
        gen_field(field, size);
        int64_t ms = gen_time();
        ipd_buf_t got, want;
        gen_buf(&got, (size_t)(next() % 64));
        ipd_buf_init(&want);
        cr_assert_eq(ipd_buf_append(&want, got.data, got.len), 0);
        ref_string(&want, field, size);
        ref_time(&want, ms);
        cr_assert_eq(ipd_json_append_string(&got, field, size), 0);
        cr_assert_eq(ipd_json_append_time(&got, ms), 0);
        expect_same(&got, &want, "string and time", i);
        ipd_buf_dispose(&got);
        ipd_buf_dispose(&want);
    }
}

/*
 * Every day from 1900 to 2200 and every 13th day of years 0000..9999, at some time of day and
 * at the last millisecond before it.
 */
Test(json_encode, days_of_ten_thousand_years_match_gmtime)
{
    char got[IPD_TIME_STR_SIZE];
    ipd_buf_t want;
    ipd_buf_init(&want);
    for (int64_t day = -719528; day <= 2932897; day += day >= -25567 && day <= 84006 ? 1 : 13) {
        int64_t at[2] = {day * 86400000 + (day * 7919) % 86400000, day * 86400000 - 1};
        for (int k = 0; k < 2; k++) {
            /* 1970-01-01T00:00:00.000Z is also IPD_TIME_NULL, which JSON shows as null. */
            if (at[k] == IPD_TIME_NULL)
                continue;
            int n = ipd_time_format(at[k], got, sizeof(got));
            ipd_buf_reset(&want);
            ref_time(&want, at[k]);
            if (want.data[0] == 'n') {
                cr_assert_eq(n, IPD_EINVAL, "%" PRId64 " gave %s", at[k], got);
                continue;
            }
            cr_assert_eq(n, 24, "%" PRId64, at[k]);
            cr_assert_eq(memcmp(got, want.data + 1, 24), 0, "%" PRId64 ": %s, want %.24s", at[k], got, want.data + 1);
        }
    }
    ipd_buf_dispose(&want);
}

/* ---- Known strings: what the reference derives, spelled out ---- */

static const char *time_json(int64_t ms)
{
    static char out[64];
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_append_time(&b, ms), 0);
    cr_assert_lt(b.len, sizeof(out));
    memcpy(out, b.data, b.len + 1);
    ipd_buf_dispose(&b);
    return out;
}

Test(json_encode, known_times)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {IPD_TIME_NULL, "null"},
        {1, "\"1970-01-01T00:00:00.001Z\""},
        {-1, "\"1969-12-31T23:59:59.999Z\""},
        {INT64_C(951782400000), "\"2000-02-29T00:00:00.000Z\""},
        {INT64_C(951868799999), "\"2000-02-29T23:59:59.999Z\""},
        {INT64_C(1709164800000), "\"2024-02-29T00:00:00.000Z\""},
        {INT64_C(1709251199999), "\"2024-02-29T23:59:59.999Z\""},
        {INT64_C(4107542400000), "\"2100-03-01T00:00:00.000Z\""},
        {INT64_C(4107542399999), "\"2100-02-28T23:59:59.999Z\""},
        {INT64_C(253402300799999), "\"9999-12-31T23:59:59.999Z\""},
        {INT64_C(253402300800000), "null"},
        {INT64_C(-62167219200000), "\"0000-01-01T00:00:00.000Z\""},
        {INT64_C(-62162121600000), "\"0000-02-29T00:00:00.000Z\""},
        {INT64_C(-62167219200001), "null"},
        {INT64_MIN, "null"},
        {INT64_MAX, "null"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = time_json(cases[i].ms);
        cr_assert_str_eq(got, cases[i].want, "%" PRId64 ": %s, want %s", cases[i].ms, got, cases[i].want);
    }
}

Test(json_encode, known_strings_with_every_escape)
{
    static const char in[] = "\"\\/\x01\x1f\x7f \xE2\x80\xA8\xE2\x80\xA9\xC3\x28\xF0\x9F\x98\xED\xBF\xBFz\0\n";
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_append_string(&b, in, sizeof(in) - 1), 0);
    /* U+2028 and U+2029 stay as they are; each maximal invalid subpart is one U+FFFD. */
    cr_assert_eq(b.len, strlen(b.data));
    cr_assert_str_eq(b.data,
                     "\"\\\"\\\\/\\u0001\\u001f\x7f \xE2\x80\xA8\xE2\x80\xA9\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD"
                     "\xEF\xBF\xBD\xEF\xBF\xBDz\\u0000\\u000a\"");
    ipd_buf_dispose(&b);
}

Test(json_encode, known_task_with_extreme_numbers_and_full_fields)
{
    ipd_task_t t;
    ipd_buf_t b;
    memset(&t, 0, sizeof(t));
    memset(t.node, 'n', sizeof(t.node));
    memset(t.message, '\x01', sizeof(t.message));
    t.image_bytes = INT64_MAX;
    t.pull_ms = INT64_MIN;
    t.attempts = UINT32_MAX;
    t.updated_at = INT64_C(253402300799999);
    t.state = 200;
    t.cause = IPD_CAUSE_COUNT;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_encode_task(&b, &t), 0);
    char want[8192];
    char node[IPD_NODE_SIZE + 1], message[6 * IPD_MESSAGE_SIZE + 1];
    memset(node, 'n', IPD_NODE_SIZE);
    node[IPD_NODE_SIZE] = '\0';
    for (size_t i = 0; i < IPD_MESSAGE_SIZE; i++)
        memcpy(message + 6 * i, "\\u0001", 6);
    message[6 * IPD_MESSAGE_SIZE] = '\0';
    snprintf(want, sizeof(want),
             "{\"node\":\"%s\",\"state\":\"unknown\",\"namespace\":null,\"pod\":null,\"reason\":null,"
             "\"message\":\"%s\",\"cause\":null,\"last_failure\":null,\"attempts\":4294967295,"
             "\"image_bytes\":9223372036854775807,\"pull_ms\":null,\"updated_at\":\"9999-12-31T23:59:59.999Z\"}",
             node, message);
    cr_assert_str_eq(b.data, want);
    ipd_buf_dispose(&b);
}

Test(json_encode, known_counts_and_version_at_their_limits)
{
    ipd_job_t job;
    ipd_buf_t b;
    memset(&job, 0, sizeof(job));
    memcpy(job.id, "pj-1", 4);
    uint32_t *counts = &job.nodes.desired;
    for (size_t i = 0; i < sizeof(job.nodes) / sizeof(uint32_t); i++)
        counts[i] = i % 2 ? UINT32_MAX : (uint32_t)(i * 10);
    job.version = UINT64_MAX;
    job.state = 99;
    job.pull_policy = 99;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_encode_job_summary(&b, &job), 0);
    cr_assert_str_eq(b.data, "{\"id\":\"pj-1\",\"image\":\"\",\"state\":\"unknown\",\"pull_policy\":\"unknown\","
                             "\"created_at\":null,\"started_at\":null,\"finished_at\":null,"
                             "\"nodes\":{\"desired\":0,\"pending\":4294967295,\"pulling\":20,\"succeeded\":40,"
                             "\"failed\":4294967295,\"retrying\":4294967295,\"cancelled\":60,\"unknown\":4294967295},"
                             "\"error\":null,\"version\":18446744073709551615}");
    ipd_buf_dispose(&b);
}

/*
 * The most bytes a job and a task can take: every field full of control bytes (six bytes each),
 * the longest numbers, names and times. In a Debug build the encoder asserts that each piece
 * stays within the room it reserved.
 */
Test(json_encode, largest_job_matches_the_reference)
{
    static ipd_task_t tasks[3];
    ipd_job_t job;
    memset(&job, '\x01', sizeof(job));
    job.created_at = job.started_at = job.finished_at = INT64_C(253402300799999);
    job.version = UINT64_MAX;
    memset(&job.nodes, 0xff, sizeof(job.nodes));
    job.state = IPD_JOB_SUCCEEDED;
    job.pull_policy = IPD_PULL_IF_NOT_PRESENT;
    job.error_cause = IPD_CAUSE_INVALID_REFERENCE;
    for (size_t k = 0; k < 3; k++) {
        memset(&tasks[k], k == 1 ? '"' : '\x1f', sizeof(tasks[k]));
        tasks[k].image_bytes = tasks[k].pull_ms = INT64_MAX;
        tasks[k].updated_at = INT64_C(253402300799999);
        tasks[k].attempts = UINT32_MAX;
        tasks[k].state = IPD_TASK_SUCCEEDED;
        tasks[k].cause = IPD_CAUSE_INVALID_REFERENCE;
    }
    ipd_buf_t got, want;
    ipd_buf_init(&got);
    ipd_buf_init(&want);
    ref_job(&want, &job, tasks, 3, 1);
    cr_assert_eq(ipd_json_encode_job(&got, &job, tasks, 3), 0);
    expect_same(&got, &want, "largest job", 0);
    ipd_buf_dispose(&got);
    ipd_buf_dispose(&want);
}

#ifndef NDEBUG
/* A blank bit must be true: a debug build stops on one set over a string that is not empty. */
Test(json_encode, a_blank_bit_over_a_string_that_is_not_empty_aborts, .signal = SIGABRT)
{
    ipd_job_t job;
    ipd_task_t task;
    memset(&job, 0, sizeof(job));
    memset(&task, 0, sizeof(task));
    snprintf(job.id, sizeof(job.id), "pj-1");
    snprintf(task.node, sizeof(task.node), "node-1");
    snprintf(task.reason, sizeof(task.reason), "ErrImagePull");
    uint8_t blank = (uint8_t)(ipd_task_blank(&task) | 1u << 3); /* the reason's bit */
    ipd_buf_t buf;
    ipd_buf_init(&buf);
    ipd_json_encode_job_known(&buf, &job, &task, &blank, 1);
    ipd_buf_dispose(&buf);
}
#endif
