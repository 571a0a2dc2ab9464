#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "common/at.h"
#include "proto/error.h"
#include "proto/json.h"

static char *encode_string(const char *s, size_t len)
{
    static char out[512];
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_append_string(&b, s, len), 0);
    cr_assert_lt(b.len, sizeof(out));
    memcpy(out, b.data, b.len + 1);
    ipd_buf_dispose(&b);
    return out;
}

/* An input of `len` bytes and its JSON string. */
typedef struct encoding {
    const char *in;
    size_t len;
    const char *want;
} encoding_t;

/* Asserts each case of the array `cases`; a failure names the caller's line and the case. */
#define expect_encodings(cases) expect_encodings_at(IPD_AT, cases, sizeof(cases) / sizeof(cases[0]))
static void expect_encodings_at(const char *file, int line, const encoding_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = encode_string(cases[i].in, cases[i].len);
        ipd_assert_at(file, line, strcmp(got, cases[i].want) == 0, "case %zu: %s, want %s", i, got, cases[i].want);
    }
}

Test(json, escapes_quotes_backslashes_and_control_characters)
{
    static const encoding_t cases[] = {
        {"plain", 5, "\"plain\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\n\t\x01\x1f", 4, "\"\\u000a\\u0009\\u0001\\u001f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"del\x7f/", 5, "\"del\x7f/\""},
        {"", 0, "\"\""},
    };
    expect_encodings(cases);
}

Test(json, keeps_valid_utf8_and_replaces_invalid_sequences)
{
    static const encoding_t cases[] = {
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
        /* A lone continuation byte, an overlong "/", a UTF-16 surrogate, a code point above U+10FFFF. */
        {"a\x80z", 3, "\"a\xEF\xBF\xBDz\""},
        {"\xC0\xAF", 2, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"\xED\xA0\x80", 3, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"\xF4\x90\x80\x80", 4, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
        /* A truncated 3-byte sequence is one maximal invalid subpart: one replacement. */
        {"x\xE2\x82", 3, "\"x\xEF\xBF\xBD\""},
        {"\xE2\x82y", 3, "\"\xEF\xBF\xBDy\""},
        {"\xFF", 1, "\"\xEF\xBF\xBD\""},
    };
    expect_encodings(cases);
}

Test(json, every_byte_string_encodes_to_valid_json)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_append_string(&b, (const char *)all, sizeof(all)), 0);
    json_error_t err;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "jansson rejected: %s", err.text);
    cr_assert(json_is_string(v));
    cr_assert_eq(memcmp(json_string_value(v), "\0\x01", 2), 0);
    json_decref(v);
    ipd_buf_dispose(&b);
}

static void sample(ipd_job_t *job, ipd_task_t tasks[2])
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-7f3a9c2e");
    snprintf(job->image, sizeof(job->image), "docker.io/library/nginx:1.27");
    job->created_at = INT64_C(1795773600123); /* 2026-11-27T10:00:00.123Z */
    job->version = 17;
    ipd_task_init(&tasks[0], "node-a", INT64_C(1795773601000));
    snprintf(tasks[0].ns, sizeof(tasks[0].ns), "imgpulld");
    snprintf(tasks[0].pod, sizeof(tasks[0].pod), "imgpull-pj-7f3a9c2e-node-a-x1b2c");
    snprintf(tasks[0].reason, sizeof(tasks[0].reason), "ErrImagePull");
    snprintf(tasks[0].message, sizeof(tasks[0].message), "rpc error: \"not found\"");
    tasks[0].state = IPD_TASK_RETRYING;
    tasks[0].attempts = 2;
    snprintf(tasks[0].fail_reason, sizeof(tasks[0].fail_reason), "ErrImagePull");
    snprintf(tasks[0].fail_message, sizeof(tasks[0].fail_message), "rpc error: \"not found\"");
    tasks[0].cause = IPD_CAUSE_NOT_FOUND;
    ipd_task_init(&tasks[1], "node-b", INT64_C(1795773602000));
    tasks[1].state = IPD_TASK_SUCCEEDED;
    tasks[1].image_bytes = 187654321;
    tasks[1].pull_ms = 1834;
    tasks[1].attempts = 1;
    ipd_job_aggregate(job, tasks, 2, INT64_C(1795773601500));
}

Test(json, encodes_a_job_exactly_as_the_api_shows)
{
    ipd_job_t job;
    ipd_task_t tasks[2];
    ipd_buf_t b;
    sample(&job, tasks);
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_encode_job(&b, &job, tasks, 2), 0);
    const char *want =
        "{\"id\":\"pj-7f3a9c2e\",\"image\":\"docker.io/library/nginx:1.27\",\"state\":\"pulling\","
        "\"pull_policy\":\"IfNotPresent\",\"created_at\":\"2026-11-27T10:00:00.123Z\","
        "\"started_at\":\"2026-11-27T10:00:01.500Z\",\"finished_at\":null,"
        "\"nodes\":{\"desired\":2,\"pending\":0,\"pulling\":1,\"succeeded\":1,\"failed\":0,\"retrying\":1,"
        "\"cancelled\":0,\"unknown\":0},"
        "\"tasks\":[{\"node\":\"node-a\",\"state\":\"retrying\",\"namespace\":\"imgpulld\","
        "\"pod\":\"imgpull-pj-7f3a9c2e-node-a-x1b2c\",\"reason\":\"ErrImagePull\","
        "\"message\":\"rpc error: \\\"not found\\\"\",\"cause\":\"not_found\","
        "\"last_failure\":{\"reason\":\"ErrImagePull\",\"message\":\"rpc error: \\\"not "
        "found\\\"\"},\"attempts\":2,\"image_bytes\":null,\"pull_ms\":null,"
        "\"updated_at\":\"2026-11-27T10:00:01.000Z\"},"
        "{\"node\":\"node-b\",\"state\":\"succeeded\",\"namespace\":null,\"pod\":null,\"reason\":null,"
        "\"message\":null,\"cause\":null,\"last_failure\":null,\"attempts\":1,\"image_bytes\":187654321,\"pull_ms\":"
        "1834,"
        "\"updated_at\":\"2026-11-27T10:00:02.000Z\"}],"
        "\"error\":{\"reason\":\"ErrImagePull\",\"message\":\"rpc error: \\\"not found\\\"\",\"cause\":\"not_found\"},"
        "\"version\":17}";
    cr_assert_str_eq(b.data, want);
    ipd_buf_dispose(&b);
}

Test(json, job_without_error_or_tasks_has_null_error_and_empty_tasks)
{
    ipd_job_t job;
    ipd_buf_t b;
    memset(&job, 0, sizeof(job));
    snprintf(job.id, sizeof(job.id), "pj-1");
    job.pull_policy = IPD_PULL_ALWAYS;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_encode_job(&b, &job, NULL, 0), 0);
    json_t *v = json_loadb(b.data, b.len, 0, NULL);
    cr_assert_not_null(v);
    cr_assert(json_is_null(json_object_get(v, "error")));
    cr_assert_eq(json_array_size(json_object_get(v, "tasks")), 0);
    cr_assert(json_is_null(json_object_get(v, "created_at")));
    cr_assert_str_eq(json_string_value(json_object_get(v, "pull_policy")), "Always");
    cr_assert_str_eq(json_string_value(json_object_get(v, "image")), "");
    json_decref(v);
    ipd_buf_dispose(&b);
}

Test(json, unterminated_fields_are_read_to_their_size)
{
    ipd_job_t job;
    ipd_buf_t b;
    memset(&job, 'A', sizeof(job));
    job.state = IPD_JOB_PENDING;
    job.created_at = job.started_at = job.finished_at = IPD_TIME_NULL;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_encode_job(&b, &job, NULL, 0), 0);
    json_t *v = json_loadb(b.data, b.len, 0, NULL);
    cr_assert_not_null(v);
    cr_assert_eq(json_string_length(json_object_get(v, "id")), IPD_JOB_ID_SIZE);
    cr_assert_eq(json_string_length(json_object_get(json_object_get(v, "error"), "reason")), IPD_REASON_SIZE);
    json_decref(v);
    ipd_buf_dispose(&b);
}

Test(json, list_document_wraps_pre_encoded_jobs)
{
    ipd_buf_t b;
    ipd_json_list_t list;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_list_begin(&list, &b, UINT64_C(0xabc), 42), 0);
    cr_assert_eq(ipd_json_list_end(&list, NULL), 0);
    cr_assert_str_eq(b.data, "{\"epoch\":\"0000000000000abc\",\"generation\":42,\"jobs\":[]}");
    ipd_buf_reset(&b);
    cr_assert_eq(ipd_json_list_begin(&list, &b, UINT64_MAX, 0), 0);
    cr_assert_eq(ipd_json_list_add(&list, "{\"id\":\"a\"}", 10), 0);
    cr_assert_eq(ipd_json_list_add(&list, "{\"id\":\"b\"}", 10), 0);
    cr_assert_eq(ipd_json_list_end(&list, "tok\"1"), 0);
    cr_assert_eq(list.count, 2);
    cr_assert_str_eq(b.data,
                     "{\"epoch\":\"ffffffffffffffff\",\"generation\":0,\"jobs\":[{\"id\":\"a\"},{\"id\":\"b\"}],"
                     "\"continue\":\"tok\\\"1\"}");
    ipd_buf_dispose(&b);
}

Test(json, time_format_gives_utc_with_milliseconds)
{
    char s[IPD_TIME_STR_SIZE];
    cr_assert_eq(ipd_time_format(INT64_C(1795773600123), s, sizeof(s)), 24);
    cr_assert_str_eq(s, "2026-11-27T10:00:00.123Z");
    cr_assert_eq(ipd_time_format(0, s, sizeof(s)), 24);
    cr_assert_str_eq(s, "1970-01-01T00:00:00.000Z");
    cr_assert_eq(ipd_time_format(-1, s, sizeof(s)), 24);
    cr_assert_str_eq(s, "1969-12-31T23:59:59.999Z");
    cr_assert_eq(ipd_time_format(INT64_C(951782400000), s, sizeof(s)), 24);
    cr_assert_str_eq(s, "2000-02-29T00:00:00.000Z");
    cr_assert_eq(ipd_time_format(INT64_C(253402300799999), s, sizeof(s)), 24);
    cr_assert_str_eq(s, "9999-12-31T23:59:59.999Z");
    cr_assert_eq(ipd_time_format(INT64_C(253402300800000), s, sizeof(s)), IPD_EINVAL);
    cr_assert_str_eq(s, "");
    cr_assert_eq(ipd_time_format(INT64_MIN, s, sizeof(s)), IPD_EINVAL);
    cr_assert_eq(ipd_time_format(0, s, 24), IPD_EINVAL, "no room for the NUL");
}

static int64_t parse(const char *s)
{
    int64_t ms = 12345;
    cr_assert_eq(ipd_time_parse(s, strlen(s), &ms), 0, "rejected %s", s);
    return ms;
}

Test(json, time_parse_accepts_z_offsets_and_any_fraction)
{
    cr_assert_eq(parse("2026-11-27T10:00:00.123Z"), INT64_C(1795773600123));
    cr_assert_eq(parse("2026-11-27T10:00:00Z"), INT64_C(1795773600000));
    cr_assert_eq(parse("2026-11-27T10:00:00.1Z"), INT64_C(1795773600100));
    cr_assert_eq(parse("2026-11-27T10:00:00.123456789Z"), INT64_C(1795773600123));
    cr_assert_eq(parse("2026-11-27T11:30:00.5+01:30"), INT64_C(1795773600500));
    cr_assert_eq(parse("2026-11-27T05:00:00-05:00"), INT64_C(1795773600000));
    cr_assert_eq(parse("2026-11-27t10:00:00z"), INT64_C(1795773600000));
    cr_assert_eq(parse("2026-11-27 10:00:00Z"), INT64_C(1795773600000));
    cr_assert_eq(parse("1969-12-31T23:59:59.999Z"), -1);
    cr_assert_eq(parse("2024-02-29T00:00:00Z"), INT64_C(1709164800000));
}

Test(json, time_parse_rejects_malformed_and_impossible_dates)
{
    static const char *bad[] = {
        "",
        "2026-11-27",
        "2026-11-27T10:00:00",
        "2026-11-27T10:00:00.Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-11-27T10:00:61Z",
        "2026-11-27T10:00:00+1:00",
        "2026-11-27T10:00:00+24:00",
        "2026-11-27T10:00:00Zjunk",
        "26-11-27T10:00:00Z",
        "2026-11-27X10:00:00Z",
        "2026-1a-27T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 7;
        cr_assert_eq(ipd_time_parse(bad[i], strlen(bad[i]), &ms), IPD_EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(ms, 7);
    }
}

Test(json, time_format_and_parse_round_trip)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = (int64_t)(x % UINT64_C(253402300800000)) - INT64_C(62167219200000);
        char s[IPD_TIME_STR_SIZE];
        int64_t back;
        cr_assert_eq(ipd_time_format(ms, s, sizeof(s)), 24);
        cr_assert_eq(ipd_time_parse(s, 24, &back), 0, "%s", s);
        cr_assert_eq(back, ms, "%s", s);
    }
}

Test(json, null_times_and_unknown_sizes_encode_as_null)
{
    ipd_buf_t b;
    ipd_task_t t;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_json_append_time(&b, IPD_TIME_NULL), 0);
    cr_assert_str_eq(b.data, "null");
    ipd_buf_reset(&b);
    ipd_task_init(&t, "n", IPD_TIME_NULL);
    t.pull_ms = 0;
    cr_assert_eq(ipd_json_encode_task(&b, &t), 0);
    cr_assert_not_null(strstr(b.data, "\"image_bytes\":null,\"pull_ms\":0,\"updated_at\":null"));
    ipd_buf_dispose(&b);
}
