#include "proto/json.h"
#include "proto/decimal.h"
#include "proto/utf8.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

/*
 * The writer reserves room for a piece of a document at once (a job's head, each task, its
 * tail: each has an upper bound known from its fields' lengths), then writes into it through a
 * plain pointer with no further checks; the buffer's length and NUL are set once at the end.
 * A job's JSON is about a hundred small pieces, and a check and a call per piece was most of
 * the cost of encoding it (the Redis link's ingestion encodes every changed job).
 *
 * After a failure `p` is NULL and every later reservation fails too.
 */
typedef struct writer {
    ipd_buf_t *buf; /* borrowed */
    size_t start;   /* buf->len before the call, restored on failure */
    char *p;        /* next byte to write, inside buf->data */
    char *end;      /* end of the room, one byte before the buffer's end (the NUL's place) */
    int rc;
} writer_t;

static void begin(writer_t *w, ipd_buf_t *buf)
{
    w->buf = buf;
    w->start = buf->len;
    w->rc = 0;
    w->p = buf->data != NULL ? buf->data + buf->len : NULL;
    w->end = buf->data != NULL ? buf->data + buf->cap - 1 : NULL;
}

static int grow(writer_t *w, size_t n)
{
    ipd_buf_t *b = w->buf;
    if (w->rc != 0)
        return 0;
    if (w->p != NULL)
        b->len = (size_t)(w->p - b->data);
    w->rc = ipd_buf_reserve(b, n);
    if (w->rc != 0) {
        w->p = w->end = NULL;
        return 0;
    }
    w->p = b->data + b->len;
    w->end = b->data + b->cap - 1;
    return 1;
}

/* Makes room for `n` bytes at w->p; 0 when that fails (w->rc says why). */
static inline int room(writer_t *w, size_t n)
{
    return (w->p != NULL && (size_t)(w->end - w->p) >= n) || grow(w, n);
}

static int finish(writer_t *w)
{
    if (w->rc != 0) {
        ipd_buf_truncate(w->buf, w->start);
        return w->rc;
    }
    w->buf->len = (size_t)(w->p - w->buf->data);
    *w->p = '\0';
    return 0;
}

/* Writes a literal's bytes (without its NUL) at `p`, to the next write position. */
#define LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* Bytes a string of `n` bytes can take: 6 per byte at most (\u00XX), the quotes, or null. */
#define STRING_ROOM(n) (6 * (n) + 4)
/* Bytes a time can take: a quoted "YYYY-MM-DDTHH:MM:SS.mmmZ", and ipd_time_format's NUL. */
#define TIME_ROOM (IPD_TIME_STR_SIZE + 2)

/* Whether a byte is copied as it is: printable ASCII but '"' and '\\'. The others are escaped,
 * or start a UTF-8 sequence to check. */
static inline int is_plain(unsigned char c)
{
    return (unsigned)c - 0x20u < 0x60u && c != '"' && c != '\\';
}

/*
 * Whether any of the 8 bytes of `x` is below 0x20, '"', '\\' or above 0x7f. Per byte, a
 * subtraction sets the high bit when the byte is below 0x20 (x - 0x20) or equal to '"' or '\\'
 * (their XOR with x, minus 1), and bytes above 0x7f have it already. A borrow into a byte only
 * comes from a lower byte that is flagged itself, so the lowest such byte is always found and
 * a chunk of plain bytes never is.
 */
static inline int needs_look(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    return ((x | (x - ones * 0x20) | (quote - ones) | (backslash - ones)) & highs) != 0;
}

/*
 * Writes `len` bytes of `s` as a quoted JSON string at `p` (STRING_ROOM(len) bytes of room);
 * returns the next write position. Runs of plain bytes are copied eight at a time.
 */
static char *write_string(char *p, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    *p++ = '"';
    while (i < len) {
        size_t stop = len;
        uint64_t x;
        if (len - i >= 8) {
            memcpy(&x, s + i, 8);
            if (!needs_look(x)) {
                memcpy(p, &x, 8);
                p += 8;
                i += 8;
                continue;
            }
            stop = i + 8;
        } else if (len >= 8) {
            /* Fewer than eight left: the last eight, when all plain, overlap bytes already
             * copied as they are, and are written again in place. */
            memcpy(&x, s + len - 8, 8);
            if (!needs_look(x)) {
                memcpy(p - (8 - (len - i)), &x, 8);
                p += len - i;
                break;
            }
        }
        /* Byte by byte to the end of those eight; a UTF-8 sequence may carry i past it. */
        while (i < stop) {
            unsigned char c = s[i];
            size_t n, bad;
            if (is_plain(c)) {
                *p++ = (char)c;
                i++;
            } else if (c >= 0x80 && (n = ipd_utf8_seq(s + i, len - i, &bad)) != 0) {
                for (size_t k = 0; k < n; k++)
                    *p++ = (char)s[i + k];
                i += n;
            } else if (c >= 0x80) {
                p = LIT(p, "\xEF\xBF\xBD");
                i += bad;
            } else if (c == '"' || c == '\\') {
                p[0] = '\\';
                p[1] = (char)c;
                p += 2;
                i++;
            } else {
                p = LIT(p, "\\u00");
                p[0] = hex[c >> 4];
                p[1] = hex[c & 15];
                p += 2;
                i++;
            }
        }
    }
    *p++ = '"';
    return p;
}

int ipd_json_append_string(ipd_buf_t *buf, const char *s, size_t len)
{
    writer_t w;
    begin(&w, buf);
    if (len <= (SIZE_MAX - 4) / 6 && room(&w, STRING_ROOM(len)))
        w.p = write_string(w.p, s, len);
    else if (w.rc == 0)
        w.rc = -ENOMEM;
    return finish(&w);
}

/* A fixed-size field's length, up to the first NUL or its size. Most of a task's text fields
 * are empty most of the time, and those need no call. */
static inline size_t field_len(const char *s, size_t size)
{
    return s[0] == '\0' ? 0 : strnlen(s, size);
}

#define FIELD_LEN(arr) field_len((arr), sizeof(arr))

/* FIELD_LEN() of a task's string, 0 without reading it when bit `span` (its place in
 * proto/job_spans.h) of `blank` says it is empty. */
#define TASK_FIELD_LEN(t, m, span, blank)                                                                              \
    ((blank) & (1u << (span)) ? (assert((t)->m[0] == '\0'), 0) : FIELD_LEN((t)->m))

/* Writes a field of length `n` as a string, or null when it is empty and `empty_is_null`. */
static char *write_field(char *p, const char *s, size_t n, int empty_is_null)
{
    if (n == 0 && empty_is_null)
        return LIT(p, "null");
    return write_string(p, s, n);
}

/* A name from the model's tables (NULL for none): its length, counted in its room. */
static size_t name_len(const char *name)
{
    return name != NULL ? strlen(name) : 0;
}

/* The names are plain ASCII words (proto/job.c): copied as they are, quoted. */
static char *write_name(char *p, const char *name, size_t n)
{
    if (name == NULL)
        return LIT(p, "null");
    *p = '"';
    memcpy(p + 1, name, n);
    p[n + 1] = '"';
    return p + n + 2;
}

static char *write_time(char *p, int64_t ms)
{
    if (ms == IPD_TIME_NULL || ipd_time_format(ms, p + 1, IPD_TIME_STR_SIZE) < 0)
        return LIT(p, "null");
    p[0] = '"';
    p[25] = '"';
    return p + 26;
}

int ipd_json_append_time(ipd_buf_t *buf, int64_t ms)
{
    writer_t w;
    begin(&w, buf);
    if (room(&w, TIME_ROOM))
        w.p = write_time(w.p, ms);
    return finish(&w);
}

static char *write_u64(char *p, uint64_t v)
{
    /* Most numbers in a job are node counts below ten. */
    if (v < 10) {
        *p = (char)('0' + v);
        return p + 1;
    }
    return p + ipd_decimal_u64(p, v);
}

static char *write_i64_or_null(char *p, int64_t v)
{
    return v < 0 ? LIT(p, "null") : write_u64(p, (uint64_t)v);
}

/* Room for a task's keys, punctuation, numbers, time and the quotes (or null) of its strings and
 * names, 250 bytes at most (the largest job of tests/unit/test_json_encode.c); the bytes of its
 * strings and names come on top. */
#define TASK_FIXED_ROOM 320

/* The task strings' places among ipd_task_spans (proto/job_spans.h), the bits of ipd_task_blank(). */
enum { SPAN_NODE, SPAN_NS, SPAN_POD, SPAN_REASON, SPAN_MESSAGE, SPAN_FAIL_REASON, SPAN_FAIL_MESSAGE };

/* `blank`: ipd_task_blank() bits of strings of `t` known empty, which are not read (0: unknown).
 * An empty string's bytes are never written, so the output is the same either way. */
static void put_task(writer_t *w, const ipd_task_t *t, unsigned blank)
{
    size_t node = TASK_FIELD_LEN(t, node, SPAN_NODE, blank), ns = TASK_FIELD_LEN(t, ns, SPAN_NS, blank);
    size_t pod = TASK_FIELD_LEN(t, pod, SPAN_POD, blank);
    size_t reason = TASK_FIELD_LEN(t, reason, SPAN_REASON, blank);
    size_t message = TASK_FIELD_LEN(t, message, SPAN_MESSAGE, blank);
    size_t fail_reason = TASK_FIELD_LEN(t, fail_reason, SPAN_FAIL_REASON, blank);
    size_t fail_message = TASK_FIELD_LEN(t, fail_message, SPAN_FAIL_MESSAGE, blank);
    const char *state = ipd_task_state_name((ipd_task_state_t)t->state);
    const char *cause = ipd_cause_name((ipd_cause_t)t->cause);
    size_t state_len = name_len(state), cause_len = name_len(cause);
    size_t need =
        TASK_FIXED_ROOM + 6 * (node + ns + pod + reason + message + fail_reason + fail_message) + state_len + cause_len;
    if (!room(w, need))
        return;
    char *p = w->p;
    p = LIT(p, "{\"node\":");
    p = write_field(p, t->node, node, 0);
    p = LIT(p, ",\"state\":");
    p = write_name(p, state, state_len);
    p = LIT(p, ",\"namespace\":");
    p = write_field(p, t->ns, ns, 1);
    p = LIT(p, ",\"pod\":");
    p = write_field(p, t->pod, pod, 1);
    p = LIT(p, ",\"reason\":");
    p = write_field(p, t->reason, reason, 1);
    p = LIT(p, ",\"message\":");
    p = write_field(p, t->message, message, 1);
    p = LIT(p, ",\"cause\":");
    p = write_name(p, cause, cause_len);
    p = LIT(p, ",\"last_failure\":");
    if (fail_reason == 0 && fail_message == 0) {
        p = LIT(p, "null");
    } else {
        p = LIT(p, "{\"reason\":");
        p = write_field(p, t->fail_reason, fail_reason, 1);
        p = LIT(p, ",\"message\":");
        p = write_field(p, t->fail_message, fail_message, 1);
        *p++ = '}';
    }
    p = LIT(p, ",\"attempts\":");
    p = write_u64(p, t->attempts);
    p = LIT(p, ",\"image_bytes\":");
    p = write_i64_or_null(p, t->image_bytes);
    p = LIT(p, ",\"pull_ms\":");
    p = write_i64_or_null(p, t->pull_ms);
    p = LIT(p, ",\"updated_at\":");
    p = write_time(p, t->updated_at);
    *p++ = '}';
    assert(p <= w->p + need);
    w->p = p;
}

int ipd_json_encode_task(ipd_buf_t *buf, const ipd_task_t *task)
{
    writer_t w;
    begin(&w, buf);
    put_task(&w, task, 0);
    return finish(&w);
}

/* A count's key, padded to 16 bytes to be copied as two words whatever its length `len`, and
 * where the count is in ipd_node_counts_t. */
typedef struct count_key {
    char text[16];
    uint8_t len;
    uint8_t offset;
} count_key_t;

#define COUNT_KEY(lit, member)                                                                                         \
    {                                                                                                                  \
        lit, sizeof(lit) - 1, offsetof(ipd_node_counts_t, member)                                                      \
    }

/* The keys write up to 5 bytes past their end (inside the head's room), which the count after
 * each key overwrites or leaves beyond the written length. */
static char *write_counts(char *p, const ipd_node_counts_t *c)
{
    static const count_key_t keys[] = {
        COUNT_KEY("{\"desired\":", desired),     COUNT_KEY(",\"pending\":", pending),
        COUNT_KEY(",\"pulling\":", pulling),     COUNT_KEY(",\"succeeded\":", succeeded),
        COUNT_KEY(",\"failed\":", failed),       COUNT_KEY(",\"retrying\":", retrying),
        COUNT_KEY(",\"cancelled\":", cancelled), COUNT_KEY(",\"unknown\":", unknown),
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint32_t v;
        memcpy(p, keys[i].text, sizeof(keys[i].text));
        memcpy(&v, (const char *)c + keys[i].offset, sizeof(v));
        p = write_u64(p + keys[i].len, v);
    }
    *p++ = '}';
    return p;
}

/* The same for the job's members before its tasks (350 bytes at most) and after them (78). */
#define JOB_HEAD_ROOM 448
#define JOB_TAIL_ROOM 120

/* Everything before the tasks. */
static void put_job_head(writer_t *w, const ipd_job_t *job)
{
    size_t id = FIELD_LEN(job->id), image = FIELD_LEN(job->image);
    const char *state = ipd_job_state_name((ipd_job_state_t)job->state);
    const char *policy = ipd_pull_policy_name((ipd_pull_policy_t)job->pull_policy);
    size_t state_len = name_len(state), policy_len = name_len(policy);
    size_t need = JOB_HEAD_ROOM + 6 * (id + image) + state_len + policy_len;
    if (!room(w, need))
        return;
    char *p = w->p;
    p = LIT(p, "{\"id\":");
    p = write_string(p, job->id, id);
    p = LIT(p, ",\"image\":");
    p = write_string(p, job->image, image);
    p = LIT(p, ",\"state\":");
    p = write_name(p, state, state_len);
    p = LIT(p, ",\"pull_policy\":");
    p = write_name(p, policy, policy_len);
    p = LIT(p, ",\"created_at\":");
    p = write_time(p, job->created_at);
    p = LIT(p, ",\"started_at\":");
    p = write_time(p, job->started_at);
    p = LIT(p, ",\"finished_at\":");
    p = write_time(p, job->finished_at);
    p = LIT(p, ",\"nodes\":");
    p = write_counts(p, &job->nodes);
    assert(p <= w->p + need);
    w->p = p;
}

/* Everything after the tasks. */
static void put_job_tail(writer_t *w, const ipd_job_t *job)
{
    size_t reason = FIELD_LEN(job->error_reason);
    size_t message = reason > 0 ? FIELD_LEN(job->error_message) : 0;
    const char *cause = ipd_cause_name((ipd_cause_t)job->error_cause);
    size_t cause_len = name_len(cause);
    size_t need = JOB_TAIL_ROOM + 6 * (reason + message) + cause_len;
    if (!room(w, need))
        return;
    char *p = w->p;
    p = LIT(p, ",\"error\":");
    if (reason == 0) {
        p = LIT(p, "null");
    } else {
        p = LIT(p, "{\"reason\":");
        p = write_string(p, job->error_reason, reason);
        p = LIT(p, ",\"message\":");
        p = write_field(p, job->error_message, message, 1);
        p = LIT(p, ",\"cause\":");
        p = write_name(p, cause, cause_len);
        *p++ = '}';
    }
    p = LIT(p, ",\"version\":");
    p = write_u64(p, job->version);
    *p++ = '}';
    assert(p <= w->p + need);
    w->p = p;
}

/* A Job object; `with_tasks` 0 leaves the "tasks" member out (a summary). */
static int encode_job(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, const uint8_t *blank,
                      size_t ntasks, int with_tasks)
{
    writer_t w;
    begin(&w, buf);
    put_job_head(&w, job);
    if (with_tasks && room(&w, 16)) {
        w.p = LIT(w.p, ",\"tasks\":[");
        for (size_t i = 0; i < ntasks; i++) {
            if (i > 0 && room(&w, 1))
                *w.p++ = ',';
            put_task(&w, &tasks[i], blank != NULL ? blank[i] : 0);
        }
        if (room(&w, 1))
            *w.p++ = ']';
    }
    put_job_tail(&w, job);
    return finish(&w);
}

int ipd_json_encode_job(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks)
{
    return encode_job(buf, job, tasks, NULL, ntasks, 1);
}

int ipd_json_encode_job_known(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, const uint8_t *blank,
                              size_t ntasks)
{
    return encode_job(buf, job, tasks, blank, ntasks, 1);
}

int ipd_json_encode_job_summary(ipd_buf_t *buf, const ipd_job_t *job)
{
    return encode_job(buf, job, NULL, NULL, 0, 0);
}

void ipd_json_epoch_hex(uint64_t epoch, char out[IPD_EPOCH_HEX_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, epoch >>= 4)
        out[i] = hex[epoch & 15];
    out[16] = '\0';
}

int ipd_json_list_begin(ipd_json_list_t *list, ipd_buf_t *buf, uint64_t epoch, uint64_t generation)
{
    writer_t w;
    begin(&w, buf);
    list->buf = buf;
    list->count = 0;
    if (room(&w, 80)) {
        char *p = LIT(w.p, "{\"epoch\":\"");
        ipd_json_epoch_hex(epoch, p);
        p = LIT(p + IPD_EPOCH_HEX_SIZE - 1, "\",\"generation\":");
        p = write_u64(p, generation);
        w.p = LIT(p, ",\"jobs\":[");
    }
    return finish(&w);
}

int ipd_json_list_add(ipd_json_list_t *list, const char *job_json, size_t len)
{
    writer_t w;
    begin(&w, list->buf);
    if (len < SIZE_MAX / 2 && room(&w, len + 1)) {
        if (list->count > 0)
            *w.p++ = ',';
        memcpy(w.p, job_json, len);
        w.p += len;
        list->count++;
    } else if (w.rc == 0) {
        w.rc = -ENOMEM;
    }
    return finish(&w);
}

int ipd_json_list_end(ipd_json_list_t *list, const char *continue_token)
{
    writer_t w;
    size_t n = continue_token != NULL ? strlen(continue_token) : 0;
    begin(&w, list->buf);
    if (n <= SIZE_MAX / 8 && room(&w, 16 + STRING_ROOM(n))) {
        *w.p++ = ']';
        if (continue_token != NULL) {
            w.p = LIT(w.p, ",\"continue\":");
            w.p = write_string(w.p, continue_token, n);
        }
        *w.p++ = '}';
    } else if (w.rc == 0) {
        w.rc = -ENOMEM;
    }
    return finish(&w);
}
