#include "proto/job.h"

#include "proto/job_spans.h"

#include <stdio.h>
#include <string.h>

/*
 * Each API name with its length, zero-padded to a fixed size, so that parsing compares lengths
 * first and then the bytes a word at a time (a Stream record of the Redis link carries three
 * names). The longest name is 17 bytes.
 */
typedef struct name {
    char s[24];
    size_t len;
} name_t;

#define NAME(lit)                                                                                                      \
    {                                                                                                                  \
        lit, sizeof(lit) - 1                                                                                           \
    }

static const name_t task_state_names[IPD_TASK_STATE_COUNT] = {
    NAME("pending"), NAME("pulling"),   NAME("retrying"), NAME("succeeded"),
    NAME("failed"),  NAME("cancelled"), NAME("unknown"),
};
static const name_t job_state_names[IPD_JOB_STATE_COUNT] = {
    NAME("pending"), NAME("pulling"), NAME("succeeded"), NAME("failed"), NAME("cancelled"), NAME("keeping"),
};
static const name_t pull_policy_names[IPD_PULL_POLICY_COUNT] = {NAME("IfNotPresent"), NAME("Always")};
/* Index 0 (IPD_CAUSE_NONE) is null in the API and has no name. */
static const name_t cause_names[IPD_CAUSE_COUNT] = {
    NAME(""),
    NAME("auth"),
    NAME("not_found"),
    NAME("network"),
    NAME("tls"),
    NAME("rate_limited"),
    NAME("timeout"),
    NAME("invalid_reference"),
    NAME("node_unavailable"),
    NAME("deadline"),
    NAME("cancelled"),
    NAME("unknown"),
};

static uint64_t word8(const char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

static uint32_t word4(const char *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Whether the `len` bytes at `name` are `n`'s name, `len` being its length (at most 24). Words
 * of `name` are read inside its `len` bytes, the last one overlapping the one before. */
static int same_name(const name_t *n, const char *name, size_t len)
{
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            if (word8(n->s + i) != word8(name + i))
                return 0;
        return i == len || word8(n->s + len - 8) == word8(name + len - 8);
    }
    if (len >= 4)
        return word4(n->s) == word4(name) && word4(n->s + len - 4) == word4(name + len - 4);
    for (size_t i = 0; i < len; i++)
        if (n->s[i] != name[i])
            return 0;
    return 1;
}

static int lookup(const name_t *names, int count, const char *name, size_t len)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < count; i++)
        if (names[i].len == len && same_name(&names[i], name, len))
            return i;
    return -1;
}

const char *ipd_task_state_name(ipd_task_state_t s)
{
    return (unsigned)s < IPD_TASK_STATE_COUNT ? task_state_names[s].s : "unknown";
}

const char *ipd_job_state_name(ipd_job_state_t s)
{
    return (unsigned)s < IPD_JOB_STATE_COUNT ? job_state_names[s].s : "unknown";
}

const char *ipd_pull_policy_name(ipd_pull_policy_t p)
{
    return (unsigned)p < IPD_PULL_POLICY_COUNT ? pull_policy_names[p].s : "unknown";
}

const char *ipd_cause_name(ipd_cause_t c)
{
    return (unsigned)c < IPD_CAUSE_COUNT && c != IPD_CAUSE_NONE ? cause_names[c].s : NULL;
}

int ipd_cause_parse(const char *name, size_t len)
{
    int v = lookup(cause_names, IPD_CAUSE_COUNT, name, len);
    return v == IPD_CAUSE_NONE ? -1 : v;
}

int ipd_task_state_parse(const char *name, size_t len)
{
    return lookup(task_state_names, IPD_TASK_STATE_COUNT, name, len);
}

int ipd_job_state_parse(const char *name, size_t len)
{
    return lookup(job_state_names, IPD_JOB_STATE_COUNT, name, len);
}

int ipd_pull_policy_parse(const char *name, size_t len)
{
    return lookup(pull_policy_names, IPD_PULL_POLICY_COUNT, name, len);
}

int ipd_task_words_from_job(const ipd_task_t *t)
{
    return t->pod[0] == '\0' && t->attempts == 0;
}

int ipd_task_state_is_final(ipd_task_state_t s)
{
    return s == IPD_TASK_SUCCEEDED || s == IPD_TASK_FAILED || s == IPD_TASK_CANCELLED;
}

int ipd_job_state_is_final(ipd_job_state_t s)
{
    return s == IPD_JOB_SUCCEEDED || s == IPD_JOB_FAILED || s == IPD_JOB_CANCELLED;
}

void ipd_task_init(ipd_task_t *task, const char *node, int64_t now)
{
    memset(task, 0, sizeof(*task));
    ipd_strlcpy_utf8(task->node, node != NULL ? node : "", sizeof(task->node));
    task->image_bytes = IPD_UNKNOWN_I64;
    task->pull_ms = IPD_UNKNOWN_I64;
    task->updated_at = now;
    task->state = IPD_TASK_PENDING;
}

void ipd_task_init_value(ipd_task_t *task, const char *node, int64_t now)
{
    char *p = (char *)task;
    for (size_t i = 0; i < IPD_TASK_NSPANS; i++)
        if (ipd_task_spans[i].str)
            p[ipd_task_spans[i].off] = '\0';
    ipd_strlcpy_utf8(task->node, node != NULL ? node : "", sizeof(task->node));
    /* The bytes after the strings, as ipd_task_init leaves them. */
    memset(&task->image_bytes, 0, sizeof(*task) - offsetof(ipd_task_t, image_bytes));
    task->image_bytes = IPD_UNKNOWN_I64;
    task->pull_ms = IPD_UNKNOWN_I64;
    task->updated_at = now;
    task->state = IPD_TASK_PENDING;
}

static ipd_job_state_t job_state_of(const ipd_job_t *job, const ipd_node_counts_t *c)
{
    uint32_t final = c->succeeded + c->failed + c->cancelled;
    if (job->cancelled)
        return IPD_JOB_CANCELLED;
    if (job->keep)
        return IPD_JOB_KEEPING;
    if (c->desired > 0 && final == c->desired) {
        if (c->failed > 0)
            return IPD_JOB_FAILED;
        return c->cancelled > 0 ? IPD_JOB_CANCELLED : IPD_JOB_SUCCEEDED;
    }
    /* A job that started stays started: its tasks that ran may all be unknown now (their nodes'
     * daemons lost, with Redis), which says nothing of a return to pending. */
    return c->pulling + c->succeeded + c->failed > 0 || job->started_at != IPD_TIME_NULL ? IPD_JOB_PULLING
                                                                                         : IPD_JOB_PENDING;
}

void ipd_job_aggregate(ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, int64_t now)
{
    ipd_job_aggregate_stride(job, tasks, sizeof(*tasks), ntasks, 0, 0, now);
}

void ipd_node_counts_add(ipd_node_counts_t *c, uint8_t state, int delta)
{
    uint32_t *n;
    switch ((ipd_task_state_t)state) {
    case IPD_TASK_PENDING:
        n = &c->pending;
        break;
    case IPD_TASK_RETRYING:
        c->retrying += (uint32_t)delta;
        n = &c->pulling;
        break;
    case IPD_TASK_PULLING:
        n = &c->pulling;
        break;
    case IPD_TASK_SUCCEEDED:
        n = &c->succeeded;
        break;
    case IPD_TASK_FAILED:
        n = &c->failed;
        break;
    case IPD_TASK_CANCELLED:
        n = &c->cancelled;
        break;
    default:
        n = &c->unknown;
        break;
    }
    *n += (uint32_t)delta;
}

void ipd_job_aggregate_stride(ipd_job_t *job, const ipd_task_t *tasks, size_t stride, size_t ntasks,
                              uint32_t extra_pending, uint32_t extra_cancelled, int64_t now)
{
    ipd_node_counts_t c;
    const ipd_task_t *failing = NULL;
    memset(&c, 0, sizeof(c));
    c.desired = (uint32_t)ntasks + extra_pending + extra_cancelled;
    c.pending = extra_pending;
    c.cancelled = extra_cancelled;
    for (size_t i = 0; i < ntasks; i++) {
        const ipd_task_t *t = (const ipd_task_t *)(const void *)((const char *)tasks + i * stride);
        ipd_node_counts_add(&c, t->state, 1);
        if (failing == NULL && (t->state == IPD_TASK_RETRYING || t->state == IPD_TASK_FAILED))
            failing = t;
    }
    ipd_job_aggregate_counts(job, &c, failing, now);
}

void ipd_job_aggregate_counts(ipd_job_t *job, const ipd_node_counts_t *c, const ipd_task_t *failing, int64_t now)
{
    job->nodes = *c;
    job->state = (uint8_t)job_state_of(job, c);
    if (job->started_at == IPD_TIME_NULL && c->pulling + c->succeeded + c->failed > 0)
        job->started_at = now;
    if (ipd_job_state_is_final((ipd_job_state_t)job->state)) {
        if (job->finished_at == IPD_TIME_NULL)
            job->finished_at = now;
    } else {
        job->finished_at = IPD_TIME_NULL;
    }
    /* Strings end at their NUL (ipd_job_same): the buffers' tails are left as they are. */
    job->error_reason[0] = '\0';
    job->error_message[0] = '\0';
    job->error_cause = IPD_CAUSE_NONE;
    if (failing == NULL)
        return;
    const char *reason =
        failing->reason[0] != '\0' ? failing->reason : ipd_task_state_name((ipd_task_state_t)failing->state);
    ipd_strlcpy_utf8(job->error_reason, reason, sizeof(job->error_reason));
    job->error_cause = failing->cause != IPD_CAUSE_NONE ? failing->cause : IPD_CAUSE_UNKNOWN;
    size_t mlen = strnlen(failing->message, sizeof(failing->message));
    size_t flen = strnlen(failing->fail_message, sizeof(failing->fail_message));
    if (flen == 0 || memmem(failing->message, mlen, failing->fail_message, flen) != NULL) {
        ipd_strlcpy_utf8(job->error_message, failing->message, sizeof(job->error_message));
        return;
    }
    /* The registry's words were replaced (a bare back-off, a deadline): name them again. */
    char msg[IPD_MESSAGE_SIZE * 2 + IPD_REASON_SIZE + 8];
    snprintf(msg, sizeof(msg), "%.*s%s%.*s: %.*s", (int)mlen, failing->message, mlen > 0 ? ": " : "",
             (int)strnlen(failing->fail_reason, sizeof(failing->fail_reason)), failing->fail_reason, (int)flen,
             failing->fail_message);
    ipd_strlcpy_utf8(job->error_message, msg, sizeof(job->error_message));
}

size_t ipd_strlcpy_utf8(char *dst, const char *src, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t n = strnlen(src, cap);
    if (n == cap) {
        n = cap - 1;
        /* Cut before the lead byte of a sequence that does not fit (at most 3 continuation bytes back). */
        for (int back = 0; back < 3 && n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80; back++)
            n--;
        if (((unsigned char)src[n] & 0xC0) == 0x80)
            n = cap - 1;
    }
    memmove(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* Compares the bytes [off, off + len) of two records, leaving out [skip, skip + skip_len). */
static int same_bytes(const uint8_t *a, const uint8_t *b, size_t off, size_t len, size_t skip, size_t skip_len)
{
    if (skip >= off && skip + skip_len <= off + len)
        return memcmp(a + off, b + off, skip - off) == 0 &&
               memcmp(a + skip + skip_len, b + skip + skip_len, off + len - skip - skip_len) == 0;
    return memcmp(a + off, b + off, len) == 0;
}

/* Records whose empty strings are known (proto/job.h): bit i of a blank set is span i. */
#define SPAN_BIT(i) (1u << (i))
_Static_assert(IPD_TASK_NSPANS <= 16 && IPD_JOB_NSPANS <= 16, "a record's spans fit the bits of a blank set");

static unsigned blank_spans(const void *rec, const ipd_span_t *spans, size_t n)
{
    const char *p = rec;
    unsigned blank = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].str && p[spans[i].off] == '\0')
            blank |= SPAN_BIT(i);
    return blank;
}

/* Whether two records are the same by their spans, the bytes [skip, skip + skip_len) of a raw
 * span left out (skip_len 0: none), with the blank sets of each side (0: none known): the bytes
 * other than strings first, then the strings not known empty on both sides. */
static int same_spans_known(const void *va, unsigned a_blank, const void *vb, unsigned b_blank, const ipd_span_t *spans,
                            size_t n, size_t skip, size_t skip_len)
{
    const uint8_t *pa = va, *pb = vb;
    for (size_t i = 0; i < n; i++)
        if (!spans[i].str && !same_bytes(pa, pb, spans[i].off, spans[i].len, skip, skip_len))
            return 0;
    for (size_t i = 0; i < n; i++) {
        size_t off = spans[i].off, len = spans[i].len;
        unsigned bit = SPAN_BIT(i);
        if (!spans[i].str || (a_blank & b_blank & bit))
            continue;
        /* One side known empty: the other is the same only when empty too (its first byte). */
        if ((a_blank | b_blank) & bit) {
            if (((a_blank & bit) ? pb[off] : pa[off]) != '\0')
                return 0;
            continue;
        }
        if (strncmp((const char *)pa + off, (const char *)pb + off, len) != 0)
            return 0;
    }
    return 1;
}

/* Copies a record span by span, each string up to its NUL, with the blank sets of each side (0:
 * none known): a string empty in both is left alone. */
static void copy_spans_known(void *vdst, unsigned dst_blank, const void *vsrc, unsigned src_blank,
                             const ipd_span_t *spans, size_t n)
{
    uint8_t *d = vdst;
    const uint8_t *s = vsrc;
    if (d == s)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t off = spans[i].off, len = spans[i].len;
        if (!spans[i].str) {
            memcpy(d + off, s + off, len);
        } else if (src_blank & SPAN_BIT(i)) {
            if (!(dst_blank & SPAN_BIT(i)))
                d[off] = '\0';
        } else {
            size_t used = strnlen((const char *)s + off, len);
            memcpy(d + off, s + off, used < len ? used + 1 : len);
        }
    }
}

/* same_spans_known() and copy_spans_known() with no string known empty. */
static int same_spans(const void *a, const void *b, const ipd_span_t *spans, size_t n, size_t skip, size_t skip_len)
{
    return same_spans_known(a, 0, b, 0, spans, n, skip, skip_len);
}

static void copy_spans(void *dst, const void *src, const ipd_span_t *spans, size_t n)
{
    copy_spans_known(dst, 0, src, 0, spans, n);
}

int ipd_task_same(const ipd_task_t *a, const ipd_task_t *b)
{
    return same_spans(a, b, ipd_task_spans, IPD_TASK_NSPANS, 0, 0);
}

int ipd_task_same_but_time(const ipd_task_t *a, const ipd_task_t *b)
{
    return same_spans(a, b, ipd_task_spans, IPD_TASK_NSPANS, offsetof(ipd_task_t, updated_at), sizeof(a->updated_at));
}

unsigned ipd_task_blank(const ipd_task_t *t)
{
    return blank_spans(t, ipd_task_spans, IPD_TASK_NSPANS);
}

int ipd_task_same_but_time_known(const ipd_task_t *a, unsigned a_blank, const ipd_task_t *b, unsigned b_blank)
{
    return same_spans_known(a, a_blank, b, b_blank, ipd_task_spans, IPD_TASK_NSPANS, offsetof(ipd_task_t, updated_at),
                            sizeof(a->updated_at));
}

void ipd_task_copy_known(ipd_task_t *dst, unsigned dst_blank, const ipd_task_t *src, unsigned src_blank)
{
    copy_spans_known(dst, dst_blank, src, src_blank, ipd_task_spans, IPD_TASK_NSPANS);
}

unsigned ipd_job_blank(const ipd_job_t *job)
{
    return blank_spans(job, ipd_job_spans, IPD_JOB_NSPANS);
}

int ipd_job_same_known(const ipd_job_t *a, unsigned a_blank, const ipd_job_t *b, unsigned b_blank)
{
    return same_spans_known(a, a_blank, b, b_blank, ipd_job_spans, IPD_JOB_NSPANS, 0, 0);
}

void ipd_job_copy_known(ipd_job_t *dst, unsigned dst_blank, const ipd_job_t *src, unsigned src_blank)
{
    copy_spans_known(dst, dst_blank, src, src_blank, ipd_job_spans, IPD_JOB_NSPANS);
}

int ipd_job_same(const ipd_job_t *a, const ipd_job_t *b)
{
    return same_spans(a, b, ipd_job_spans, IPD_JOB_NSPANS, 0, 0);
}

int ipd_job_spec_same(const ipd_job_spec_t *a, const ipd_job_spec_t *b)
{
    /* Every member of ipd_job_spec_t: proto/job_spans.h asserts the list. */
    return a->timeout_seconds == b->timeout_seconds && a->backoff_limit == b->backoff_limit &&
           a->deadline_seconds == b->deadline_seconds && a->parallelism == b->parallelism &&
           a->ttl_seconds_after_finished == b->ttl_seconds_after_finished &&
           strncmp(a->pull_secrets, b->pull_secrets, sizeof(a->pull_secrets)) == 0 &&
           a->refresh_seconds == b->refresh_seconds;
}

void ipd_task_copy(ipd_task_t *dst, const ipd_task_t *src)
{
    copy_spans(dst, src, ipd_task_spans, IPD_TASK_NSPANS);
}

void ipd_job_copy(ipd_job_t *dst, const ipd_job_t *src)
{
    copy_spans(dst, src, ipd_job_spans, IPD_JOB_NSPANS);
}
