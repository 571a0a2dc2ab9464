#include "proto/json.h"
#include "proto/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A writer with a sticky error: after the first failure every call is a no-op. */
typedef struct writer {
    ipd_buf_t *buf;
    size_t start;
    int rc;
} writer_t;

/*
 * Bytes that fit the buffer's room are copied in place; ipd_buf_append() only when it must
 * grow. A job's JSON is about a hundred pieces, and the call per piece was most of the cost
 * of encoding it (docs/benchmarks.md, the Redis link's ingestion).
 */
static inline void put(writer_t *w, const char *s, size_t n)
{
    ipd_buf_t *b = w->buf;
    if (w->rc == 0 && b->data != NULL && n < b->cap - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else if (w->rc == 0) {
        w->rc = ipd_buf_append(b, s, n);
    }
}

#define PUT_LIT(w, lit) put((w), lit, sizeof(lit) - 1)

static int finish(writer_t *w)
{
    if (w->rc != 0)
        ipd_buf_truncate(w->buf, w->start);
    return w->rc;
}

static void put_string(writer_t *w, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    PUT_LIT(w, "\"");
    while (i < len) {
        unsigned char c = s[i];
        size_t n = 1, bad = 0;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = ipd_utf8_seq(s + i, len - i, &bad)) != 0) {
            i += n;
            continue;
        }
        put(w, str + run, i - run);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
        } else if (c < 0x20) {
            char esc[7];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(w, esc, 6);
        } else {
            PUT_LIT(w, "\xEF\xBF\xBD");
            n = bad;
        }
        i += n;
        run = i;
    }
    put(w, str + run, i - run);
    PUT_LIT(w, "\"");
}

int ipd_json_append_string(ipd_buf_t *buf, const char *s, size_t len)
{
    writer_t w = {buf, buf->len, 0};
    put_string(&w, s, len);
    return finish(&w);
}

static void put_cstr(writer_t *w, const char *s)
{
    put_string(w, s, strlen(s));
}

static void put_field(writer_t *w, const char *s, size_t size, int empty_is_null)
{
    size_t n = strnlen(s, size);
    if (n == 0 && empty_is_null)
        PUT_LIT(w, "null");
    else
        put_string(w, s, n);
}

#define FIELD(w, arr, null) put_field((w), (arr), sizeof(arr), (null))

static void put_time(writer_t *w, int64_t ms)
{
    char t[IPD_TIME_STR_SIZE + 2];
    int n = ms == IPD_TIME_NULL ? -1 : ipd_time_format(ms, t + 1, IPD_TIME_STR_SIZE);
    if (n < 0) {
        PUT_LIT(w, "null");
        return;
    }
    t[0] = '"';
    t[n + 1] = '"';
    put(w, t, (size_t)n + 2);
}

int ipd_json_append_time(ipd_buf_t *buf, int64_t ms)
{
    writer_t w = {buf, buf->len, 0};
    put_time(&w, ms);
    return finish(&w);
}

/* Decimal digits without snprintf: a job record carries a dozen numbers (see put_time). */
static void put_u64(writer_t *w, uint64_t v)
{
    char num[24];
    size_t at = sizeof(num);
    do {
        num[--at] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, num + at, sizeof(num) - at);
}

static void put_i64_or_null(writer_t *w, int64_t v)
{
    if (v < 0) {
        PUT_LIT(w, "null");
        return;
    }
    put_u64(w, (uint64_t)v);
}

static void put_cause(writer_t *w, ipd_cause_t c)
{
    const char *name = ipd_cause_name(c);
    if (name == NULL)
        PUT_LIT(w, "null");
    else
        put_cstr(w, name);
}

static void put_task(writer_t *w, const ipd_task_t *t)
{
    PUT_LIT(w, "{\"node\":");
    FIELD(w, t->node, 0);
    PUT_LIT(w, ",\"state\":");
    put_cstr(w, ipd_task_state_name((ipd_task_state_t)t->state));
    PUT_LIT(w, ",\"namespace\":");
    FIELD(w, t->ns, 1);
    PUT_LIT(w, ",\"pod\":");
    FIELD(w, t->pod, 1);
    PUT_LIT(w, ",\"reason\":");
    FIELD(w, t->reason, 1);
    PUT_LIT(w, ",\"message\":");
    FIELD(w, t->message, 1);
    PUT_LIT(w, ",\"cause\":");
    put_cause(w, (ipd_cause_t)t->cause);
    PUT_LIT(w, ",\"last_failure\":");
    if (strnlen(t->fail_reason, sizeof(t->fail_reason)) == 0 &&
        strnlen(t->fail_message, sizeof(t->fail_message)) == 0) {
        PUT_LIT(w, "null");
    } else {
        PUT_LIT(w, "{\"reason\":");
        FIELD(w, t->fail_reason, 1);
        PUT_LIT(w, ",\"message\":");
        FIELD(w, t->fail_message, 1);
        PUT_LIT(w, "}");
    }
    PUT_LIT(w, ",\"attempts\":");
    put_u64(w, t->attempts);
    PUT_LIT(w, ",\"image_bytes\":");
    put_i64_or_null(w, t->image_bytes);
    PUT_LIT(w, ",\"pull_ms\":");
    put_i64_or_null(w, t->pull_ms);
    PUT_LIT(w, ",\"updated_at\":");
    put_time(w, t->updated_at);
    PUT_LIT(w, "}");
}

int ipd_json_encode_task(ipd_buf_t *buf, const ipd_task_t *task)
{
    writer_t w = {buf, buf->len, 0};
    put_task(&w, task);
    return finish(&w);
}

static void put_counts(writer_t *w, const ipd_node_counts_t *c)
{
    const char *keys[] = {"{\"desired\":", ",\"pending\":",  ",\"pulling\":",   ",\"succeeded\":",
                          ",\"failed\":",  ",\"retrying\":", ",\"cancelled\":", ",\"unknown\":"};
    const uint32_t vals[] = {c->desired, c->pending,  c->pulling,   c->succeeded,
                             c->failed,  c->retrying, c->cancelled, c->unknown};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        put(w, keys[i], strlen(keys[i]));
        put_u64(w, vals[i]);
    }
    PUT_LIT(w, "}");
}

/* A Job object; `with_tasks` 0 leaves the "tasks" member out (a summary). */
static int encode_job(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, int with_tasks)
{
    writer_t w = {buf, buf->len, 0};
    PUT_LIT(&w, "{\"id\":");
    FIELD(&w, job->id, 0);
    PUT_LIT(&w, ",\"image\":");
    FIELD(&w, job->image, 0);
    PUT_LIT(&w, ",\"state\":");
    put_cstr(&w, ipd_job_state_name((ipd_job_state_t)job->state));
    PUT_LIT(&w, ",\"pull_policy\":");
    put_cstr(&w, ipd_pull_policy_name((ipd_pull_policy_t)job->pull_policy));
    PUT_LIT(&w, ",\"created_at\":");
    put_time(&w, job->created_at);
    PUT_LIT(&w, ",\"started_at\":");
    put_time(&w, job->started_at);
    PUT_LIT(&w, ",\"finished_at\":");
    put_time(&w, job->finished_at);
    PUT_LIT(&w, ",\"nodes\":");
    put_counts(&w, &job->nodes);
    if (with_tasks) {
        PUT_LIT(&w, ",\"tasks\":[");
        for (size_t i = 0; i < ntasks; i++) {
            if (i > 0)
                PUT_LIT(&w, ",");
            put_task(&w, &tasks[i]);
        }
        PUT_LIT(&w, "]");
    }
    PUT_LIT(&w, ",\"error\":");
    if (strnlen(job->error_reason, sizeof(job->error_reason)) == 0) {
        PUT_LIT(&w, "null");
    } else {
        PUT_LIT(&w, "{\"reason\":");
        FIELD(&w, job->error_reason, 0);
        PUT_LIT(&w, ",\"message\":");
        FIELD(&w, job->error_message, 1);
        PUT_LIT(&w, ",\"cause\":");
        put_cause(&w, (ipd_cause_t)job->error_cause);
        PUT_LIT(&w, "}");
    }
    PUT_LIT(&w, ",\"version\":");
    put_u64(&w, job->version);
    PUT_LIT(&w, "}");
    return finish(&w);
}

int ipd_json_encode_job(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks)
{
    return encode_job(buf, job, tasks, ntasks, 1);
}

int ipd_json_encode_job_summary(ipd_buf_t *buf, const ipd_job_t *job)
{
    return encode_job(buf, job, NULL, 0, 0);
}

void ipd_json_epoch_hex(uint64_t epoch, char out[IPD_EPOCH_HEX_SIZE])
{
    snprintf(out, IPD_EPOCH_HEX_SIZE, "%016" PRIx64, epoch);
}

int ipd_json_list_begin(ipd_json_list_t *list, ipd_buf_t *buf, uint64_t epoch, uint64_t generation)
{
    char hex[IPD_EPOCH_HEX_SIZE];
    writer_t w = {buf, buf->len, 0};
    list->buf = buf;
    list->count = 0;
    ipd_json_epoch_hex(epoch, hex);
    PUT_LIT(&w, "{\"epoch\":\"");
    put(&w, hex, IPD_EPOCH_HEX_SIZE - 1);
    PUT_LIT(&w, "\",\"generation\":");
    put_u64(&w, generation);
    PUT_LIT(&w, ",\"jobs\":[");
    return finish(&w);
}

int ipd_json_list_add(ipd_json_list_t *list, const char *job_json, size_t len)
{
    writer_t w = {list->buf, list->buf->len, 0};
    if (list->count > 0)
        PUT_LIT(&w, ",");
    put(&w, job_json, len);
    if (w.rc == 0)
        list->count++;
    return finish(&w);
}

int ipd_json_list_end(ipd_json_list_t *list, const char *continue_token)
{
    writer_t w = {list->buf, list->buf->len, 0};
    PUT_LIT(&w, "]");
    if (continue_token != NULL) {
        PUT_LIT(&w, ",\"continue\":");
        put_cstr(&w, continue_token);
    }
    PUT_LIT(&w, "}");
    return finish(&w);
}
