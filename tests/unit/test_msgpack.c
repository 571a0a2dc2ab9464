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

/*
 * ---- the fast path of a change record against the generic decoder ----
 *
 * ipd_msgpack_decode_keep_change() first tries ipd_msgpack_decode_change_fast(), which reads only
 * the encoder's layout, and otherwise runs ipd_msgpack_decode_keep_change_generic(). The tests
 * below hold the three to each other on records the encoder writes (every field set, empty and
 * longest strings, keep jobs and selections, every state and cause, integers at every encoding's
 * edge) and on those records broken or rearranged in every way listed in the file's header.
 */

enum { SEL_CAP = IPD_MSGPACK_SELECTION_MAX, TASK_CAP = 4, POISON = 0xA5 };

/* One decoder's outputs, poisoned first so that any byte a decoder leaves alone shows. */
typedef struct outs {
    ipd_job_t job;
    ipd_task_t tasks[TASK_CAP];
    char sel[SEL_CAP];
    size_t n;
} outs_t;

typedef int (*change_decoder_t)(const void *, size_t, ipd_job_t *, char *, size_t, ipd_task_t *, size_t, size_t *);

static int run_decoder(change_decoder_t dec, const void *data, size_t len, size_t sel_cap, size_t cap, outs_t *o)
{
    memset(o, POISON, sizeof(*o));
    return dec(data, len, &o->job, sel_cap > 0 ? o->sel : NULL, sel_cap, o->tasks, cap, &o->n);
}

static int same_outs(const outs_t *a, const outs_t *b)
{
    return a->n == b->n && memcmp(&a->job, &b->job, sizeof(a->job)) == 0 &&
           memcmp(a->tasks, b->tasks, a->n * sizeof(a->tasks[0])) == 0 && memcmp(a->sel, b->sel, sizeof(a->sel)) == 0;
}

static size_t fast_taken, fast_declined;

/*
 * Decodes `len` bytes with the whole decoder, the generic one and the fast path alone, asks for
 * the same return code from the first two and, on success, the same bytes everywhere; the fast
 * path either gives exactly the generic result or declines (1) without touching the selection.
 * Returns whether the fast path took the record.
 */
static int agree(const void *data, size_t len, size_t sel_cap, size_t cap, const char *what)
{
    static outs_t whole, generic, fast;
    int rc_generic = run_decoder(ipd_msgpack_decode_keep_change_generic, data, len, sel_cap, cap, &generic);
    int rc_whole = run_decoder(ipd_msgpack_decode_keep_change, data, len, sel_cap, cap, &whole);
    int rc_fast = run_decoder(ipd_msgpack_decode_change_fast, data, len, sel_cap, cap, &fast);
    cr_assert_eq(rc_whole, rc_generic, "%s: %d against the generic decoder's %d", what, rc_whole, rc_generic);
    if (rc_generic == 0)
        cr_assert(same_outs(&whole, &generic), "%s: the decoders disagree", what);
    else
        cr_assert_eq(whole.n, 0, "%s", what);
    if (rc_fast == 0) {
        cr_assert_eq(rc_generic, 0, "%s: the fast path took what the generic decoder refuses (%d)", what, rc_generic);
        cr_assert(same_outs(&fast, &generic), "%s: the fast path and the generic decoder disagree", what);
        fast_taken++;
        return 1;
    }
    cr_assert_eq(rc_fast, 1, "%s", what);
    cr_assert_eq(fast.n, 0, "%s", what);
    for (size_t i = 0; i < sizeof(fast.sel); i++)
        cr_assert_eq((unsigned char)fast.sel[i], POISON, "%s: a declined record wrote the selection", what);
    fast_declined++;
    return 0;
}

/* agree() with the selection asked for, ignored, and given too little room; over two capacities. */
static int agree_all_ways(const void *data, size_t len, size_t ntasks, const char *what)
{
    int taken = agree(data, len, SEL_CAP, TASK_CAP, what);
    agree(data, len, 0, TASK_CAP, what);
    agree(data, len, 16, TASK_CAP, what);
    agree(data, len, SEL_CAP, ntasks > 0 ? ntasks - 1 : 0, what);
    return taken;
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Integers at the edges of every msgpack integer encoding, and some others. */
static int64_t rnd_int(void)
{
    static const int64_t edges[] = {0,          1,
                                    127,        128,
                                    255,        256,
                                    65535,      65536,
                                    INT32_MAX,  (int64_t)INT32_MAX + 1,
                                    UINT32_MAX, (int64_t)UINT32_MAX + 1,
                                    INT64_MAX,  -1,
                                    -32,        -33,
                                    -128,       -129,
                                    -32768,     -32769,
                                    INT32_MIN,  (int64_t)INT32_MIN - 1,
                                    INT64_MIN,  INT64_C(1795773600123)};
    uint64_t r = rnd();
    return r % 4 == 0 ? (int64_t)(r >> 2) : edges[(r >> 2) % (sizeof(edges) / sizeof(edges[0]))];
}

/*
 * A string for a field of `size` bytes: often empty, often the longest that fits, sometimes
 * filling the whole field without a NUL (the encoder then writes `size` bytes: an identifier
 * no longer fits, text is cut at a UTF-8 boundary), else random; text may hold two- and
 * three-byte UTF-8 characters.
 */
static void rnd_string(char *dst, size_t size, int text)
{
    static const char *const pieces[] = {"a", "Z", "-", ".", "0", "\xC3\xA9", "\xE2\x82\xAC", " ", "\""};
    uint64_t r = rnd();
    size_t len = r % 5 == 0 ? 0 : r % 5 == 1 ? size - 1 : r % 97 == 2 ? size : (size_t)(r >> 8) % size;
    size_t at = 0;
    memset(dst, 0, size);
    while (at < len) {
        const char *p = text ? pieces[rnd() % 9] : pieces[rnd() % 5];
        size_t n = strlen(p);
        if (at + n > len)
            p = "x", n = 1;
        memcpy(dst + at, p, n);
        at += n;
    }
}

static void rnd_task(ipd_task_t *t)
{
    memset(t, 0, sizeof(*t));
    rnd_string(t->node, sizeof(t->node), 0);
    if (rnd() % 3 == 0)
        snprintf(t->node, sizeof(t->node), "node-%u", (unsigned)(rnd() % 100));
    rnd_string(t->ns, sizeof(t->ns), 0);
    rnd_string(t->pod, sizeof(t->pod), 0);
    rnd_string(t->reason, sizeof(t->reason), 1);
    rnd_string(t->message, sizeof(t->message), 1);
    rnd_string(t->fail_reason, sizeof(t->fail_reason), 1);
    rnd_string(t->fail_message, sizeof(t->fail_message), 1);
    t->state = (uint8_t)(rnd() % IPD_TASK_STATE_COUNT);
    t->cause = (uint8_t)(rnd() % IPD_CAUSE_COUNT);
    t->attempts = (uint32_t)rnd_int();
    t->image_bytes = rnd_int();
    t->pull_ms = rnd_int();
    t->updated_at = rnd_int();
}

static void rnd_job(ipd_job_t *j, char *sel)
{
    static const char *const selections[] = {
        "", "{\"node_selector\":{\"matchLabels\":{\"pool\":\"warm\"}}}",
        "{\"node_selector\":{\"matchLabels\":{\"pool\":\"warm\"}},\"pod_selector\":{\"namespace\":\"shop\","
        "\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\","
        "\"values\":[\"front\",\"edge\"]}]}}",
        NULL, /* the longest selection a record carries */
    };
    memset(j, 0, sizeof(*j));
    rnd_string(j->id, sizeof(j->id), 0);
    if (rnd() % 3 == 0)
        snprintf(j->id, sizeof(j->id), "pj-%08x", (unsigned)rnd());
    rnd_string(j->image, sizeof(j->image), 0);
    j->created_at = rnd_int();
    j->started_at = rnd_int();
    j->finished_at = rnd_int();
    j->version = rnd();
    if (rnd() % 4 == 0)
        j->version = (uint64_t)rnd_int();
    j->spec.timeout_seconds = (int32_t)rnd_int();
    j->spec.backoff_limit = (int32_t)rnd_int();
    j->spec.deadline_seconds = (int32_t)rnd_int();
    j->spec.parallelism = (int32_t)rnd_int();
    j->spec.ttl_seconds_after_finished = (int32_t)rnd_int();
    rnd_string(j->spec.pull_secrets, sizeof(j->spec.pull_secrets), 1);
    uint32_t *counts = &j->nodes.desired;
    for (int i = 0; i < 8; i++)
        counts[i] = (uint32_t)rnd_int();
    rnd_string(j->error_reason, sizeof(j->error_reason), 1);
    rnd_string(j->error_message, sizeof(j->error_message), 1);
    j->state = (uint8_t)(rnd() % IPD_JOB_STATE_COUNT);
    j->pull_policy = (uint8_t)(rnd() % IPD_PULL_POLICY_COUNT);
    j->cancelled = (uint8_t)(rnd() % 2);
    j->error_cause = (uint8_t)(rnd() % IPD_CAUSE_COUNT);
    j->keep = (uint8_t)(rnd() % 2);
    sel[0] = '\0';
    if (j->keep) {
        j->spec.refresh_seconds = (int32_t)rnd_int();
        const char *s = selections[rnd() % 4];
        if (s != NULL) {
            strcpy(sel, s);
        } else {
            memset(sel, 'k', SEL_CAP - 1);
            sel[SEL_CAP - 1] = '\0';
        }
    }
}

/* Encodes a random record into `b`; returns its number of tasks. */
static size_t rnd_record(ipd_buf_t *b)
{
    ipd_job_t job;
    ipd_task_t tasks[TASK_CAP];
    char sel[SEL_CAP];
    size_t n = rnd() % (TASK_CAP + 1);
    rnd_job(&job, sel);
    for (size_t i = 0; i < n; i++)
        rnd_task(&tasks[i]);
    ipd_buf_reset(b);
    cr_assert_eq(ipd_msgpack_encode_keep_change(b, &job, job.keep ? sel : NULL, tasks, n), 0);
    return n;
}

Test(msgpack_fast, the_fast_path_decodes_what_the_encoder_writes_as_the_generic_decoder_does)
{
    ipd_buf_t b;
    size_t taken = 0, refused = 0;
    char what[64];
    ipd_buf_init(&b);
    for (int i = 0; i < 4000; i++) {
        size_t n = rnd_record(&b);
        snprintf(what, sizeof(what), "record %d", i);
        outs_t o;
        int rc = run_decoder(ipd_msgpack_decode_keep_change_generic, b.data, b.len, SEL_CAP, TASK_CAP, &o);
        int fast = agree_all_ways(b.data, b.len, n, what);
        /* Every record the generic decoder takes is the fast path's: only an identifier filling its
         * whole field (which neither takes) goes elsewhere. */
        cr_assert_eq(fast, rc == 0, "%s: fast %d, generic %d", what, fast, rc);
        taken += fast;
        refused += rc != 0;
    }
    cr_assert_gt(taken, 2000);
    cr_assert_gt(refused, 10);
    ipd_buf_dispose(&b);
}

/* The records the broken ones below start from: full fields, a keep job with a pod selection,
 * and a bare one. */
static void base_record(ipd_buf_t *b, int which, size_t *ntasks)
{
    ipd_job_t job;
    ipd_task_t tasks[2];
    const char *sel = NULL;
    full_job(&job);
    full_task(&tasks[0], 0);
    full_task(&tasks[1], 1);
    *ntasks = 2;
    if (which == 1) {
        job.keep = 1;
        job.state = IPD_JOB_KEEPING;
        job.spec.refresh_seconds = 3600;
        job.error_cause = IPD_CAUSE_NONE;
        sel = "{\"node_selector\":{},\"pod_selector\":{\"namespace\":\"shop\",\"matchLabels\":{\"app\":\"web\"}}}";
        *ntasks = 1;
    } else if (which == 2) {
        memset(&job, 0, sizeof(job));
        strcpy(job.id, "pj-1");
        ipd_task_init(&tasks[0], "n", 0);
        *ntasks = 1;
    }
    ipd_buf_reset(b);
    cr_assert_eq(ipd_msgpack_encode_keep_change(b, &job, sel, tasks, *ntasks), 0);
}

Test(msgpack_fast, every_truncation_and_every_byte_changed_agree_with_the_generic_decoder)
{
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xbf, 0xc0, 0xc1,
                                     0xc2, 0xc3, 0xc4, 0xca, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
                                     0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    ipd_buf_t b;
    char what[64];
    size_t n;
    ipd_buf_init(&b);
    for (int which = 0; which < 3; which++) {
        base_record(&b, which, &n);
        cr_assert(agree_all_ways(b.data, b.len, n, "base"), "the fast path takes base record %d", which);
        uint8_t *copy = malloc(b.len);
        for (size_t len = 0; len < b.len; len++) {
            snprintf(what, sizeof(what), "record %d cut to %zu bytes", which, len);
            memcpy(copy, b.data, len); /* its own allocation, so ASan sees a read past the cut */
            cr_assert_not(agree_all_ways(copy, len, n, what), "%s: taken", what);
        }
        memcpy(copy, b.data, b.len);
        for (size_t at = 0; at < b.len; at++) {
            uint8_t was = copy[at];
            for (size_t v = 0; v < sizeof(values) + 2; v++) {
                copy[at] = v < sizeof(values) ? values[v] : v == sizeof(values) ? was ^ 0x01 : was ^ 0x20;
                snprintf(what, sizeof(what), "record %d, byte %zu = 0x%02x", which, at, copy[at]);
                agree_all_ways(copy, b.len, n, what);
            }
            copy[at] = was;
        }
        free(copy);
    }
    ipd_buf_dispose(&b);
}

/*
 * Rewrites a record through msgpack-c's object tree, changing one map on the way: the kinds of
 * record another writer (or a later version) may produce.
 */
typedef enum mutation {
    M_NONE,
    M_DROP,      /* pair `at` left out */
    M_SWAP,      /* pairs `at` and `at + 1` exchanged */
    M_EXTRA,     /* an unknown key before pair `at` */
    M_TWICE,     /* pair `at` written twice */
    M_VALUE,     /* pair `at`'s value replaced by `value` */
    M_KEY_INT,   /* pair `at`'s key written as an integer */
    M_KEY_UPPER, /* pair `at`'s key with its first letter upper case */
} mutation_t;

typedef struct mutate {
    const msgpack_object *map; /* the map to change */
    mutation_t kind;
    uint32_t at;
    int value; /* M_VALUE: an index into pack_value() */
} mutate_t;

/* The values a key may be given in place of its own, as msgpack bytes: every type, the edges of
 * the ranges, a string of 300 bytes (str 16). */
#define RAW(bytes)                                                                                                     \
    {                                                                                                                  \
        bytes, sizeof(bytes) - 1                                                                                       \
    }
static const struct {
    const char *bytes;
    size_t len;
} other_values[] = {
    RAW("\xc0"),                                 /* nil */
    RAW("\xc3"),                                 /* true */
    RAW("\xc2"),                                 /* false */
    RAW("\x00"),                                 /* 0 */
    RAW("\x01"),                                 /* 1 */
    RAW("\xff"),                                 /* -1 */
    RAW("\xcf\x00\x00\x01\x00\x00\x00\x00\x00"), /* 2^40 */
    RAW("\xd3\xff\xff\xff\x00\x00\x00\x00\x00"), /* -2^40 */
    RAW("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), /* UINT64_MAX */
    RAW("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), /* 1.5 */
    RAW("\xa1x"),                                /* "x" */
    RAW("\xa0"),                                 /* "" */
    RAW("\xa7pulling"),                          /* a state name */
    RAW("\x90"),                                 /* [] */
    RAW("\x91\x01"),                             /* [1] */
    RAW("\x80"),                                 /* {} */
    RAW("\xc4\x01x"),                            /* bin */
    RAW("\xd4\x07x"),                            /* fixext 1 */
    RAW("\xda\x01\x2c"),                         /* a str 16 of 300 bytes follows */
};
enum { VALUE_KINDS = sizeof(other_values) / sizeof(other_values[0]) };

static void pack_value(msgpack_packer *pk, int kind)
{
    static const char big[300] = {'b'};
    pk->callback(pk->data, other_values[kind].bytes, other_values[kind].len);
    if (kind == VALUE_KINDS - 1)
        pk->callback(pk->data, big, sizeof(big));
}

static void pack_tree(msgpack_packer *pk, const msgpack_object *o, const mutate_t *m);

static void pack_pair(msgpack_packer *pk, const msgpack_object_kv *kv, const mutate_t *m, uint32_t i, int mine)
{
    if (mine && m->kind == M_KEY_INT && i == m->at) {
        msgpack_pack_uint64(pk, 5);
    } else if (mine && m->kind == M_KEY_UPPER && i == m->at && kv->key.type == MSGPACK_OBJECT_STR) {
        char k[64];
        uint32_t n = kv->key.via.str.size < sizeof(k) ? kv->key.via.str.size : sizeof(k);
        memcpy(k, kv->key.via.str.ptr, n);
        if (n > 0 && k[0] >= 'a' && k[0] <= 'z')
            k[0] = (char)(k[0] - 'a' + 'A');
        msgpack_pack_str_with_body(pk, k, n);
    } else {
        pack_tree(pk, &kv->key, m);
    }
    if (mine && m->kind == M_VALUE && i == m->at)
        pack_value(pk, m->value);
    else
        pack_tree(pk, &kv->val, m);
}

static void pack_tree(msgpack_packer *pk, const msgpack_object *o, const mutate_t *m)
{
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            pack_tree(pk, &o->via.array.ptr[i], m);
        return;
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        msgpack_pack_object(pk, *o);
        return;
    }
    const msgpack_object_map *map = &o->via.map;
    int mine = o == m->map && m->kind != M_NONE;
    uint32_t size = map->size;
    if (mine && m->kind == M_DROP)
        size--;
    else if (mine && (m->kind == M_EXTRA || m->kind == M_TWICE))
        size++;
    msgpack_pack_map(pk, size);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object_kv *kv = &map->ptr[i];
        if (mine && i == m->at) {
            if (m->kind == M_DROP)
                continue;
            if (m->kind == M_EXTRA) {
                msgpack_pack_str_with_body(pk, "zz_future", 9);
                msgpack_pack_uint64(pk, 1);
            } else if (m->kind == M_TWICE) {
                pack_pair(pk, kv, m, i, 0);
            } else if (m->kind == M_SWAP && i + 1 < map->size) {
                pack_pair(pk, &map->ptr[i + 1], m, i, 0);
                pack_pair(pk, kv, m, i, 0);
                i++;
                continue;
            }
        }
        pack_pair(pk, kv, m, i, mine);
    }
}

/* Whether pair `at` of `map` is one the encoder writes only for some records. */
static int optional_key(const msgpack_object *map, uint32_t at)
{
    static const char *const optional[] = {"selection", "error_cause", "keep", "refresh_seconds", "cause"};
    const msgpack_object *k = &map->via.map.ptr[at].key;
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(optional[i]) &&
            memcmp(k->via.str.ptr, optional[i], k->via.str.size) == 0)
            return 1;
    return 0;
}

/* The maps of a record's tree, depth first. */
static size_t collect_maps(const msgpack_object *o, const msgpack_object **maps, size_t n, size_t cap)
{
    if (o->type == MSGPACK_OBJECT_MAP) {
        cr_assert_lt(n, cap);
        maps[n++] = o;
        for (uint32_t i = 0; i < o->via.map.size; i++)
            n = collect_maps(&o->via.map.ptr[i].val, maps, n, cap);
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            n = collect_maps(&o->via.array.ptr[i], maps, n, cap);
    }
    return n;
}

Test(msgpack_fast, keys_in_another_order_extra_missing_twice_or_of_another_type_agree_with_the_generic_decoder)
{
    ipd_buf_t b;
    char what[96];
    size_t n, reordered_taken = 0;
    ipd_buf_init(&b);
    for (int which = 0; which < 3; which++) {
        base_record(&b, which, &n);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        cr_assert_eq(msgpack_unpack_next(&up, b.data, b.len, NULL), MSGPACK_UNPACK_SUCCESS);
        const msgpack_object *maps[16];
        size_t nmaps = collect_maps(&up.data, maps, 0, 16);
        cr_assert_geq(nmaps, 4, "top, job, nodes, spec and the tasks");

        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        mutate_t none = {NULL, M_NONE, 0, 0};
        pack_tree(&pk, &up.data, &none);
        cr_assert_eq(sb.size, b.len, "the rewriter writes the encoder's bytes");
        cr_assert_eq(memcmp(sb.data, b.data, b.len), 0);

        for (size_t mi = 0; mi < nmaps; mi++) {
            for (uint32_t at = 0; at < maps[mi]->via.map.size; at++) {
                for (int kind = M_DROP; kind <= M_KEY_UPPER; kind++) {
                    if (kind == M_SWAP && at + 1 == maps[mi]->via.map.size)
                        continue;
                    for (int value = 0; value < (kind == M_VALUE ? VALUE_KINDS : 1); value++) {
                        mutate_t m = {maps[mi], (mutation_t)kind, at, value};
                        msgpack_sbuffer_clear(&sb);
                        pack_tree(&pk, &up.data, &m);
                        snprintf(what, sizeof(what), "record %d, map %zu, pair %u, mutation %d, value %d", which, mi,
                                 at, kind, value);
                        /* In its own allocation, so ASan sees a read past the end. */
                        void *copy = malloc(sb.size);
                        memcpy(copy, sb.data, sb.size);
                        int taken = agree_all_ways(copy, sb.size, n, what);
                        free(copy);
                        /* Only a value the encoder could have written there, or leaving out
                         * a key the encoder leaves out too, keeps the fast path. */
                        if (kind != M_VALUE && !(kind == M_DROP && optional_key(maps[mi], at)))
                            cr_assert_not(taken, "%s: taken", what);
                        reordered_taken += taken;
                    }
                }
            }
        }
        msgpack_sbuffer_destroy(&sb);
        msgpack_unpacked_destroy(&up);
    }
    cr_assert_gt(reordered_taken, 0, "a value of the encoder's kind is still the fast path's");
    ipd_buf_dispose(&b);
}

/* What msgpack-c's packer writes for one value: the reference the encoder's bytes must equal. */
typedef enum { REF_INT, REF_UINT, REF_STR } ref_kind_t;

static size_t ref_bytes(ref_kind_t kind, int64_t v, const char *s, size_t len, char *out, size_t cap)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (kind == REF_INT)
        msgpack_pack_int64(&pk, v);
    else if (kind == REF_UINT)
        msgpack_pack_uint64(&pk, (uint64_t)v);
    else
        msgpack_pack_str_with_body(&pk, s, len);
    size_t n = sb.size < cap ? sb.size : cap;
    memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* The encoded value right after key `key` in `buf` equals msgpack-c's encoding of it. */
static void expect_value_after(const ipd_buf_t *buf, const char *key, ref_kind_t kind, int64_t v, const char *s,
                               size_t len)
{
    char k[64], want[600];
    size_t kl = ref_bytes(REF_STR, 0, key, strlen(key), k, sizeof(k));
    size_t wl = ref_bytes(kind, v, s, len, want, sizeof(want));
    const char *at = memmem(buf->data, buf->len, k, kl);
    cr_assert_not_null(at, "key %s not found", key);
    at += kl;
    cr_assert_leq((size_t)(at - buf->data) + wl, buf->len, "%s: the record ends early", key);
    cr_assert_eq(memcmp(at, want, wl), 0, "%s = %lld (%zu bytes): not as msgpack-c writes it", key, (long long)v, len);
}

Test(msgpack, integers_and_strings_are_written_as_msgpack_c_writes_them)
{
    static const int64_t values[] = {0,
                                     1,
                                     31,
                                     32,
                                     127,
                                     128,
                                     255,
                                     256,
                                     65535,
                                     65536,
                                     INT64_C(4294967295),
                                     INT64_C(4294967296),
                                     INT64_MAX,
                                     -1,
                                     -32,
                                     -33,
                                     -128,
                                     -129,
                                     -32768,
                                     -32769,
                                     INT32_MIN,
                                     (int64_t)INT32_MIN - 1,
                                     INT64_MIN};
    static const size_t lengths[] = {0, 1, 31, 32, 255, 256, 511};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ipd_task_t t;
        full_task(&t, 1);
        t.image_bytes = values[i];
        t.pull_ms = values[i];
        t.attempts = (uint32_t)values[i];
        ipd_job_t j;
        full_job(&j);
        j.version = (uint64_t)values[i];
        ipd_buf_t buf;
        ipd_buf_init(&buf);
        cr_assert_eq(ipd_msgpack_encode_change(&buf, &j, &t, 1), 0);
        expect_value_after(&buf, "image_bytes", REF_INT, values[i], NULL, 0);
        expect_value_after(&buf, "pull_ms", REF_INT, values[i], NULL, 0);
        expect_value_after(&buf, "attempts", REF_UINT, (int64_t)(uint32_t)values[i], NULL, 0);
        expect_value_after(&buf, "version", REF_UINT, values[i], NULL, 0);
        cr_assert_eq(buf.data[buf.len], '\0', "the buffer stays NUL-terminated");
        ipd_buf_dispose(&buf);
    }
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        ipd_task_t t;
        full_task(&t, 2);
        memset(t.message, 'm', lengths[i]);
        t.message[lengths[i]] = '\0';
        ipd_buf_t buf;
        ipd_buf_init(&buf);
        cr_assert_eq(ipd_msgpack_encode_task(&buf, &t), 0);
        expect_value_after(&buf, "message", REF_STR, 0, t.message, lengths[i]);
        ipd_buf_dispose(&buf);
    }
}

Test(msgpack, task_arrays_of_16_and_more_take_the_16_bit_header)
{
    static ipd_task_t tasks[17];
    ipd_job_t j;
    full_job(&j);
    for (int i = 0; i < 17; i++)
        full_task(&tasks[i], i);
    for (size_t n = 14; n <= 17; n++) {
        ipd_buf_t buf;
        ipd_buf_init(&buf);
        cr_assert_eq(ipd_msgpack_encode_change(&buf, &j, tasks, n), 0);
        char k[16];
        size_t kl = ref_bytes(REF_STR, 0, "tasks", 5, k, sizeof(k));
        const unsigned char *at = memmem(buf.data, buf.len, k, kl);
        cr_assert_not_null(at);
        at += kl;
        if (n < 16)
            cr_assert_eq(at[0], 0x90 | n);
        else
            cr_assert(at[0] == 0xdc && at[1] == 0 && at[2] == n, "%zu tasks: %02x %02x %02x", n, at[0], at[1], at[2]);
        ipd_job_t job;
        static ipd_task_t back[17];
        size_t got = 0;
        cr_assert_eq(ipd_msgpack_decode_change(buf.data, buf.len, &job, back, 17, &got), 0);
        cr_assert_eq(got, n);
        ipd_buf_dispose(&buf);
    }
}

Test(msgpack, encoding_appends_to_what_the_buffer_holds)
{
    ipd_buf_t buf;
    ipd_buf_init(&buf);
    cr_assert_eq(ipd_buf_append_str(&buf, "head"), 0);
    ipd_task_t t;
    full_task(&t, 3);
    cr_assert_eq(ipd_msgpack_encode_task(&buf, &t), 0);
    ipd_buf_t alone;
    ipd_buf_init(&alone);
    cr_assert_eq(ipd_msgpack_encode_task(&alone, &t), 0);
    cr_assert_eq(buf.len, 4 + alone.len);
    cr_assert_eq(memcmp(buf.data, "head", 4), 0);
    cr_assert_eq(memcmp(buf.data + 4, alone.data, alone.len), 0);
    ipd_buf_dispose(&buf);
    ipd_buf_dispose(&alone);
}
