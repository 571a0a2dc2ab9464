#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/msgpack_codec.h"

static const ipd_msgpack_limits_t limits = {1024, 4, 16};

static void full_task(ipd_task_t *t, int i)
{
    ipd_task_init(t, "node-a", 1000 + i);
    snprintf(t->node, sizeof(t->node), "node-%d", i);
    snprintf(t->ns, sizeof(t->ns), "imgpulld");
    snprintf(t->pod, sizeof(t->pod), "imgpull-pj-1-node-%d-abcde", i);
    snprintf(t->reason, sizeof(t->reason), "ImagePullBackOff");
    snprintf(t->message, sizeof(t->message), "Back-off pulling image \"x\" \xC3\xA9");
    snprintf(t->fail_reason, sizeof(t->fail_reason), "ErrImagePull");
    snprintf(t->fail_message, sizeof(t->fail_message), "unexpected status from HEAD request: 401 Unauthorized");
    t->cause = IPD_CAUSE_AUTH;
    t->state = IPD_TASK_RETRYING;
    t->attempts = 3 + (uint32_t)i;
    t->image_bytes = INT64_C(1) << 40;
    t->pull_ms = 1834;
}

static void full_job(ipd_job_t *j)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "pj-7f3a9c2e");
    snprintf(j->image, sizeof(j->image), "ghcr.io/a/b:v1");
    j->created_at = INT64_C(1795773600123);
    j->started_at = INT64_C(1795773601000);
    j->finished_at = -5;
    j->version = UINT64_MAX;
    j->spec.timeout_seconds = 30;
    j->spec.backoff_limit = 6;
    j->spec.deadline_seconds = 600;
    j->spec.parallelism = INT32_MAX;
    j->spec.ttl_seconds_after_finished = INT32_MIN;
    snprintf(j->spec.pull_secrets, sizeof(j->spec.pull_secrets), "regcred,other");
    j->nodes = (ipd_node_counts_t){8, 1, 2, 1, 3, 1, 0, 1};
    snprintf(j->error_reason, sizeof(j->error_reason), "ErrImagePull");
    snprintf(j->error_message, sizeof(j->error_message), "manifest unknown");
    j->error_cause = IPD_CAUSE_NOT_FOUND;
    j->state = IPD_JOB_FAILED;
    j->pull_policy = IPD_PULL_ALWAYS;
    j->cancelled = 1;
}

Test(msgpack, task_round_trips_field_for_field)
{
    ipd_task_t in, out;
    ipd_buf_t b;
    full_task(&in, 1);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_task(&b, &in), 0);
    cr_assert_eq(ipd_msgpack_decode_task(b.data, b.len, &out), 0);
    cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
    ipd_buf_dispose(&b);
}

Test(msgpack, job_round_trips_field_for_field)
{
    ipd_job_t in, out;
    ipd_buf_t b;
    full_job(&in);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_job(&b, &in), 0);
    memset(&out, 0x77, sizeof(out));
    cr_assert_eq(ipd_msgpack_decode_job(b.data, b.len, &out), 0);
    memset(out._reserved, 0, sizeof(out._reserved));
    cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
    ipd_buf_dispose(&b);
}

Test(msgpack, a_task_without_a_cause_round_trips_and_leaves_the_key_out)
{
    ipd_task_t in, out;
    ipd_buf_t b;
    full_task(&in, 2);
    in.cause = IPD_CAUSE_NONE;
    memset(in.fail_reason, 0, sizeof(in.fail_reason));
    memset(in.fail_message, 0, sizeof(in.fail_message));
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_task(&b, &in), 0);
    cr_assert_null(memmem(b.data, b.len, "cause", 5));
    memset(&out, 0x55, sizeof(out));
    cr_assert_eq(ipd_msgpack_decode_task(b.data, b.len, &out), 0);
    out._reserved[0] = out._reserved[1] = 0;
    cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
    ipd_buf_dispose(&b);
}

Test(msgpack, change_record_round_trips_and_respects_capacity)
{
    ipd_job_t job, jout;
    ipd_task_t tasks[5], tout[5];
    size_t n = 99;
    ipd_buf_t b;
    full_job(&job);
    for (int i = 0; i < 5; i++)
        full_task(&tasks[i], i);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_change(&b, &job, tasks, 5), 0);
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, tout, 5, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(&job, &jout, sizeof(job)), 0);
    cr_assert_eq(memcmp(tasks, tout, sizeof(tasks)), 0);
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, tout, 4, &n), IPD_ETOOBIG);
    cr_assert_eq(n, 0);
    ipd_buf_reset(&b);
    cr_assert_eq(ipd_msgpack_encode_change(&b, &job, NULL, 0), 0);
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, NULL, 0, &n), 0);
    cr_assert_eq(n, 0);
    ipd_buf_dispose(&b);
}

Test(msgpack, a_keep_jobs_change_record_carries_keep_refresh_and_selection)
{
    ipd_job_t job, jout;
    ipd_task_t task, tout;
    size_t n = 0;
    char sel[IPD_MSGPACK_SELECTION_MAX];
    static const char text[] = "{\"node_selector\":{\"matchLabels\":{\"pool\":\"warm\"}}}";
    ipd_buf_t b;
    full_job(&job);
    full_task(&task, 0);
    job.keep = 1;
    job.spec.refresh_seconds = 3600;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_keep_change(&b, &job, text, &task, 1), 0);
    cr_assert_eq(ipd_msgpack_decode_keep_change(b.data, b.len, &jout, sel, sizeof(sel), &tout, 1, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(memcmp(&job, &jout, sizeof(job)), 0, "keep and refresh_seconds travel");
    cr_assert_str_eq(sel, text);
    /* A reader that does not ask for the selection skips it; one with too little room refuses. */
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, &tout, 1, &n), 0);
    cr_assert_eq(jout.keep, 1);
    cr_assert_eq(ipd_msgpack_decode_keep_change(b.data, b.len, &jout, sel, 8, &tout, 1, &n), IPD_EINVAL);
    /* Other jobs' records have no selection, and their bytes do not change. */
    job.keep = 0;
    job.spec.refresh_seconds = 0;
    ipd_buf_t plain;
    ipd_buf_init(&plain);
    ipd_buf_reset(&b);
    cr_assert_eq(ipd_msgpack_encode_keep_change(&b, &job, NULL, &task, 1), 0);
    cr_assert_eq(ipd_msgpack_encode_change(&plain, &job, &task, 1), 0);
    cr_assert_eq(b.len, plain.len);
    cr_assert_eq(memcmp(b.data, plain.data, b.len), 0);
    cr_assert_eq(ipd_msgpack_decode_keep_change(b.data, b.len, &jout, sel, sizeof(sel), &tout, 1, &n), 0);
    cr_assert_str_eq(sel, "");
    ipd_buf_dispose(&plain);
    ipd_buf_dispose(&b);
}

Test(msgpack, change_record_over_large_capacity_round_trips)
{
    enum { N = 600 };
    ipd_job_t job, jout;
    ipd_task_t *tasks = calloc(N, sizeof(*tasks)), *tout = calloc(N, sizeof(*tout));
    size_t n = 0;
    ipd_buf_t b;
    full_job(&job);
    for (int i = 0; i < N; i++)
        full_task(&tasks[i], i);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_change(&b, &job, tasks, N), 0);
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, tout, N, &n), 0);
    cr_assert_eq(n, N);
    cr_assert_eq(memcmp(tasks, tout, N * sizeof(*tasks)), 0);
    cr_assert_eq(ipd_msgpack_decode_change(b.data, b.len, &jout, tout, N - 1, &n), IPD_ETOOBIG);
    ipd_buf_dispose(&b);
    free(tasks);
    free(tout);
}

Test(msgpack, every_truncation_is_rejected)
{
    ipd_job_t job, out;
    ipd_task_t tasks[2], tout[2];
    size_t n;
    ipd_buf_t b;
    full_job(&job);
    full_task(&tasks[0], 0);
    full_task(&tasks[1], 1);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_change(&b, &job, tasks, 2), 0);
    for (size_t len = 0; len < b.len; len++)
        cr_assert_eq(ipd_msgpack_decode_change(b.data, len, &out, tout, 2, &n), IPD_EINVAL, "prefix %zu", len);
    ipd_buf_reset(&b);
    cr_assert_eq(ipd_msgpack_encode_task(&b, &tasks[0]), 0);
    for (size_t len = 0; len < b.len; len++)
        cr_assert_eq(ipd_msgpack_decode_task(b.data, len, &tout[0]), IPD_EINVAL, "prefix %zu", len);
    ipd_buf_dispose(&b);
}

Test(msgpack, trailing_bytes_are_rejected)
{
    ipd_task_t t;
    ipd_buf_t b;
    full_task(&t, 0);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_msgpack_encode_task(&b, &t), 0);
    cr_assert_eq(ipd_buf_append_char(&b, '\0'), 0);
    cr_assert_eq(ipd_msgpack_decode_task(b.data, b.len, &t), IPD_EINVAL);
    ipd_buf_dispose(&b);
}

Test(msgpack, hostile_declared_counts_are_rejected_before_allocation)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff\x00", 6}, /* array32 of 4G elements */
        {"\xdf\xff\xff\xff\xff\x00", 6}, /* map32 of 4G pairs */
        {"\xdc\xff\xff\x00", 4},         /* array16 of 65535 */
        {"\xdb\xff\xff\xff\xff\x00", 6}, /* str32 of 4 GB */
        {"\xc6\xff\xff\xff\xff\x00", 6}, /* bin32 */
        {"\xc9\xff\xff\xff\xff\x01", 6}, /* ext32 */
        {"\x82\xa1\x61\x01", 4},         /* map of 2 pairs with 3 bytes left */
        {"\x9f", 1},                     /* fixarray of 15 with nothing */
        {"\xc1", 1},                     /* never used */
        {"\xdd\x00\x00", 3},             /* array32 with a cut length */
    };
    ipd_task_t t;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(ipd_msgpack_check(cases[i].bytes, cases[i].len, &limits), IPD_EINVAL, "case %zu", i);
        cr_assert_eq(ipd_msgpack_decode_task(cases[i].bytes, cases[i].len, &t), IPD_EINVAL, "case %zu", i);
    }
    cr_assert_eq(ipd_msgpack_check("", 0, &limits), IPD_EINVAL);
}

Test(msgpack, limits_on_size_depth_and_items_give_etoobig)
{
    unsigned char deep[64];
    memset(deep, 0x91, sizeof(deep)); /* [[[[...]]]] */
    deep[sizeof(deep) - 1] = 0xc0;
    cr_assert_eq(ipd_msgpack_check(deep + sizeof(deep) - 5, 5, &limits), 0, "depth 4 is allowed");
    cr_assert_eq(ipd_msgpack_check(deep + sizeof(deep) - 6, 6, &limits), IPD_ETOOBIG);
    ipd_task_t t;
    cr_assert_eq(ipd_msgpack_decode_task(deep, sizeof(deep), &t), IPD_ETOOBIG);
    ipd_msgpack_limits_t huge_depth = {1024, 1000, 16};
    cr_assert_eq(ipd_msgpack_check(deep, sizeof(deep), &huge_depth), IPD_ETOOBIG, "depth is capped by the ceiling");

    unsigned char many[40] = {0xdc, 0x00, 17};
    cr_assert_eq(ipd_msgpack_check(many, 3 + 17, &limits), IPD_ETOOBIG);
    many[2] = 16;
    cr_assert_eq(ipd_msgpack_check(many, 3 + 16, &limits), 0);

    static unsigned char big[IPD_MSGPACK_RECORD_MAX + 8];
    big[0] = 0xc6;
    uint32_t n = IPD_MSGPACK_RECORD_MAX + 3;
    big[1] = (unsigned char)(n >> 24), big[2] = (unsigned char)(n >> 16), big[3] = (unsigned char)(n >> 8);
    big[4] = (unsigned char)n;
    cr_assert_eq(ipd_msgpack_check(big, 5 + n, &limits), IPD_ETOOBIG);
    cr_assert_eq(ipd_msgpack_decode_task(big, 5 + n, &t), IPD_ETOOBIG);
}

Test(msgpack, check_accepts_every_scalar_kind)
{
    static const unsigned char items[] = {
        0xc0, 0xc2, 0xc3, 0x05, 0xe0, 0xcc, 0x01, 0xcd, 0,    1,    0xce, 0,    0,    0, 1, 0xcf, 0,    0,    0, 0,
        0,    0,    0,    1,    0xd0, 0x80, 0xca, 0,    0,    0,    0,    0xcb, 0,    0, 0, 0,    0,    0,    0, 0,
        0xa2, 'h',  'i',  0xd9, 1,    'x',  0xc4, 1,    0xff, 0xd4, 1,    2,    0xc7, 1, 5, 9,    0x80, 0x90,
    };
    const ipd_msgpack_limits_t wide = {1024, 4, 64};
    unsigned char all[128] = {0xdc, 0x00, 20};
    memcpy(all + 3, items, sizeof(items));
    size_t len = 3 + sizeof(items);
    all[len++] = 0xd8; /* fixext 16: type byte and 16 bytes */
    len += 17;
    cr_assert_eq(ipd_msgpack_check(all, len, &wide), 0);
    cr_assert_eq(ipd_msgpack_check(all, len - 1, &wide), IPD_EINVAL);
    all[2] = 21;
    cr_assert_eq(ipd_msgpack_check(all, len, &wide), IPD_EINVAL, "one element short");
}

/* Packs a map of the given string/int pairs with a raw packer. */
static void pack_pairs(msgpack_sbuffer *sb, int n, const char **keys, const char **strs, const int64_t *ints)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
        if (strs[i] != NULL)
            msgpack_pack_str_with_body(&pk, strs[i], strlen(strs[i]));
        else
            msgpack_pack_int64(&pk, ints[i]);
    }
}

Test(msgpack, unknown_keys_are_ignored_and_missing_keys_default)
{
    const char *keys[] = {"future", "node", "n2"};
    const char *strs[] = {"x", "node-z", NULL};
    const int64_t ints[] = {0, 0, -7};
    msgpack_sbuffer sb;
    ipd_task_t t;
    pack_pairs(&sb, 3, keys, strs, ints);
    cr_assert_eq(ipd_msgpack_decode_task(sb.data, sb.size, &t), 0);
    cr_assert_str_eq(t.node, "node-z");
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_eq(t.pull_ms, IPD_UNKNOWN_I64);
    msgpack_sbuffer_destroy(&sb);
}

Test(msgpack, bad_fields_are_invalid)
{
    static const struct {
        const char *key, *str;
        int64_t num;
    } cases[] = {
        {"state", "sleeping", 0}, /* unknown enum name */
        {"state", NULL, 1},       /* enum as a number */
        {"attempts", NULL, -1},   /* negative count */
        {"attempts", NULL, INT64_C(1) << 33},
        {"node", NULL, 5},        /* string expected */
        {"image_bytes", "12", 0}, /* number expected */
        {"cause", "bad_luck", 0}, /* unknown cause */
        {"cause", "", 0},         /* none travels as an absent key, never as "" */
        {"cause", NULL, 2},       /* cause as a number */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *keys[] = {"node", cases[i].key};
        const char *strs[] = {"n", cases[i].str};
        const int64_t ints[] = {0, cases[i].num};
        msgpack_sbuffer sb;
        ipd_task_t t;
        pack_pairs(&sb, 2, keys, strs, ints);
        cr_assert_eq(ipd_msgpack_decode_task(sb.data, sb.size, &t), IPD_EINVAL, "case %zu", i);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(msgpack, identifiers_that_do_not_fit_are_invalid_text_is_truncated)
{
    char long_id[IPD_JOB_ID_SIZE + 1], long_msg[IPD_MESSAGE_SIZE + 10];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    const char *keys[] = {"id", "error_message"};
    const char *strs[] = {long_id, long_msg};
    const int64_t ints[] = {0, 0};
    msgpack_sbuffer sb;
    ipd_job_t j;
    pack_pairs(&sb, 2, keys, strs, ints);
    cr_assert_eq(ipd_msgpack_decode_job(sb.data, sb.size, &j), IPD_EINVAL);
    msgpack_sbuffer_destroy(&sb);
    long_id[IPD_JOB_ID_SIZE - 1] = '\0';
    pack_pairs(&sb, 2, keys, strs, ints);
    cr_assert_eq(ipd_msgpack_decode_job(sb.data, sb.size, &j), 0);
    cr_assert_eq(strlen(j.id), IPD_JOB_ID_SIZE - 1);
    cr_assert_eq(strlen(j.error_message), IPD_MESSAGE_SIZE - 1);
    cr_assert_eq(j.spec.ttl_seconds_after_finished, -1);
    msgpack_sbuffer_destroy(&sb);
}

Test(msgpack, records_without_their_key_or_not_maps_are_invalid)
{
    const char *keys[] = {"image"};
    const char *strs[] = {"nginx"};
    const int64_t ints[] = {0};
    msgpack_sbuffer sb;
    ipd_job_t j;
    ipd_task_t t;
    size_t n;
    pack_pairs(&sb, 1, keys, strs, ints);
    cr_assert_eq(ipd_msgpack_decode_job(sb.data, sb.size, &j), IPD_EINVAL);
    cr_assert_eq(ipd_msgpack_decode_task(sb.data, sb.size, &t), IPD_EINVAL);
    cr_assert_eq(ipd_msgpack_decode_change(sb.data, sb.size, &j, &t, 1, &n), IPD_EINVAL);
    msgpack_sbuffer_destroy(&sb);
    cr_assert_eq(ipd_msgpack_decode_task("\x93\x01\x02\x03", 4, &t), IPD_EINVAL);
    cr_assert_eq(ipd_msgpack_decode_task("\x01", 1, &t), IPD_EINVAL);
}

Test(msgpack, failed_decode_leaves_output_untouched)
{
    ipd_task_t t, before;
    full_task(&t, 3);
    before = t;
    cr_assert_eq(ipd_msgpack_decode_task("\x81\xa4node\x05", 7, &t), IPD_EINVAL);
    cr_assert_eq(memcmp(&t, &before, sizeof(t)), 0);
}

Test(msgpack, decoded_records_are_zero_padded_whatever_the_key_order)
{
    /* "image" twice, the second value shorter: no byte of the first may survive. */
    static const char in[] = "\x83\xa2id\xa1x\xa5image\xaanginx:1.27\xa5image\xa3"
                             "abc";
    ipd_job_t j, want;
    cr_assert_eq(ipd_msgpack_decode_job(in, sizeof(in) - 1, &j), 0);
    memset(&want, 0, sizeof(want));
    want.spec.ttl_seconds_after_finished = -1;
    strcpy(want.id, "x");
    strcpy(want.image, "abc");
    cr_assert_eq(memcmp(&j, &want, sizeof(j)), 0);
}
