#include "proto/error.h"
#include "proto/msgpack_codec.h"

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <string.h>

/*
 * ---- encoding: a packer writing straight into an ipd_buf_t, with a sticky error ----
 *
 * Each value is written through a pointer into room reserved in the buffer, in the encoding
 * msgpack-c's packer picks (the smallest that holds it: positive and negative fixints, then
 * uint 8-64 for values >= 0 and int 8-64 below, fixstr then str 8/16/32, fixmap and fixarray
 * then 16/32), so the bytes are the same as msgpack_pack_*() wrote before; one callback and
 * one buffer append per token made that packer most of the cost of a record.
 */

typedef struct packer {
    ipd_buf_t *buf;
    size_t start;
    unsigned char *cur, *end; /* the buffer's room: written at cur, one byte left for its NUL */
    int failed;
} packer_t;

/* Makes room for `n` more bytes at p->cur. Returns 0, or -1 once the buffer cannot grow. */
static int grow(packer_t *p, size_t n)
{
    if (p->failed)
        return -1;
    size_t used = p->cur != NULL ? (size_t)(p->cur - (unsigned char *)p->buf->data) : p->buf->len;
    p->buf->len = used;
    if (ipd_buf_reserve(p->buf, n < 1024 ? 1024 : n) != 0) {
        p->failed = 1;
        return -1;
    }
    p->cur = (unsigned char *)p->buf->data + used;
    p->end = (unsigned char *)p->buf->data + p->buf->cap - 1;
    return 0;
}

static inline int room(packer_t *p, size_t n)
{
    return (size_t)(p->end - p->cur) >= n ? 0 : grow(p, n);
}

static void packer_init(packer_t *p, ipd_buf_t *buf)
{
    p->buf = buf;
    p->start = buf->len;
    p->failed = 0;
    p->cur = p->end = NULL;
    grow(p, 512); /* a failure is sticky: packer_finish reports it */
}

static int packer_finish(packer_t *p)
{
    if (p->failed) {
        ipd_buf_truncate(p->buf, p->start);
        return -ENOMEM;
    }
    p->buf->len = (size_t)(p->cur - (unsigned char *)p->buf->data);
    p->buf->data[p->buf->len] = '\0';
    return 0;
}

/* A type byte and `bytes` (0, 1, 2, 4 or 8) of `v`, big-endian. Room must be had. */
static inline void put(packer_t *p, unsigned char type, uint64_t v, int bytes)
{
    *p->cur++ = type;
    for (int i = bytes - 1; i >= 0; i--)
        *p->cur++ = (unsigned char)(v >> (8 * i));
}

static void pack_uint(packer_t *p, uint64_t d)
{
    if (room(p, 9) != 0)
        return;
    if (d < 128)
        *p->cur++ = (unsigned char)d;
    else if (d < 256)
        put(p, 0xcc, d, 1);
    else if (d < 65536)
        put(p, 0xcd, d, 2);
    else if (d < (UINT64_C(1) << 32))
        put(p, 0xce, d, 4);
    else
        put(p, 0xcf, d, 8);
}

static void pack_int(packer_t *p, int64_t d)
{
    if (d >= 0) {
        pack_uint(p, (uint64_t)d);
        return;
    }
    if (room(p, 9) != 0)
        return;
    if (d >= -32)
        *p->cur++ = (unsigned char)(int8_t)d;
    else if (d >= -128)
        put(p, 0xd0, (uint64_t)d, 1);
    else if (d >= -32768)
        put(p, 0xd1, (uint64_t)d, 2);
    else if (d >= INT32_MIN)
        put(p, 0xd2, (uint64_t)d, 4);
    else
        put(p, 0xd3, (uint64_t)d, 8);
}

/* A map's or an array's header: fix form below 16 entries, else 16 or 32 bits. */
static void pack_head(packer_t *p, unsigned char fix, unsigned char h16, size_t n)
{
    if (room(p, 5) != 0)
        return;
    if (n < 16)
        *p->cur++ = (unsigned char)(fix | n);
    else if (n < 65536)
        put(p, h16, n, 2);
    else
        put(p, (unsigned char)(h16 + 1), n, 4);
}

static void pack_str(packer_t *p, const char *s, size_t l)
{
    if (room(p, 5 + l) != 0)
        return;
    if (l < 32)
        *p->cur++ = (unsigned char)(0xa0 | l);
    else if (l < 256)
        put(p, 0xd9, l, 1);
    else if (l < 65536)
        put(p, 0xda, l, 2);
    else
        put(p, 0xdb, l, 4);
    memcpy(p->cur, s, l);
    p->cur += l;
}

/* Inlined, so that the length of a literal key is known when compiling. */
static inline __attribute__((always_inline)) void key(packer_t *p, const char *k)
{
    pack_str(p, k, strlen(k));
}

static inline __attribute__((always_inline)) void kv_str(packer_t *p, const char *k, const char *v, size_t cap)
{
    key(p, k);
    pack_str(p, v, strnlen(v, cap));
}

#define KV_FIELD(p, k, arr) kv_str((p), (k), (arr), sizeof(arr))

static inline __attribute__((always_inline)) void kv_name(packer_t *p, const char *k, const char *name)
{
    kv_str(p, k, name, strlen(name));
}

static inline __attribute__((always_inline)) void kv_i64(packer_t *p, const char *k, int64_t v)
{
    key(p, k);
    pack_int(p, v);
}

static inline __attribute__((always_inline)) void kv_u64(packer_t *p, const char *k, uint64_t v)
{
    key(p, k);
    pack_uint(p, v);
}

static void map(packer_t *p, size_t n)
{
    pack_head(p, 0x80, 0xde, n);
}

static void pack_task(packer_t *p, const ipd_task_t *t)
{
    const char *cause = ipd_cause_name((ipd_cause_t)t->cause);
    map(p, cause != NULL ? 13 : 12);
    KV_FIELD(p, "node", t->node);
    KV_FIELD(p, "namespace", t->ns);
    KV_FIELD(p, "pod", t->pod);
    kv_name(p, "state", ipd_task_state_name((ipd_task_state_t)t->state));
    KV_FIELD(p, "reason", t->reason);
    KV_FIELD(p, "message", t->message);
    KV_FIELD(p, "fail_reason", t->fail_reason);
    KV_FIELD(p, "fail_message", t->fail_message);
    if (cause != NULL)
        kv_name(p, "cause", cause);
    kv_u64(p, "attempts", t->attempts);
    kv_i64(p, "image_bytes", t->image_bytes);
    kv_i64(p, "pull_ms", t->pull_ms);
    kv_i64(p, "updated_at", t->updated_at);
}

static void pack_job(packer_t *p, const ipd_job_t *j)
{
    const ipd_node_counts_t *c = &j->nodes;
    const char *cause = ipd_cause_name((ipd_cause_t)j->error_cause);
    /* keep and spec.refresh_seconds only on keep jobs: other records keep their bytes. */
    map(p, (cause != NULL ? 14 : 13) + (j->keep ? 1 : 0));
    KV_FIELD(p, "id", j->id);
    KV_FIELD(p, "image", j->image);
    kv_name(p, "state", ipd_job_state_name((ipd_job_state_t)j->state));
    kv_name(p, "pull_policy", ipd_pull_policy_name((ipd_pull_policy_t)j->pull_policy));
    kv_u64(p, "cancelled", j->cancelled != 0);
    kv_i64(p, "created_at", j->created_at);
    kv_i64(p, "started_at", j->started_at);
    kv_i64(p, "finished_at", j->finished_at);
    kv_u64(p, "version", j->version);
    KV_FIELD(p, "error_reason", j->error_reason);
    KV_FIELD(p, "error_message", j->error_message);
    if (cause != NULL)
        kv_name(p, "error_cause", cause);
    if (j->keep)
        kv_u64(p, "keep", 1);
    key(p, "nodes");
    map(p, 8);
    kv_u64(p, "desired", c->desired);
    kv_u64(p, "pending", c->pending);
    kv_u64(p, "pulling", c->pulling);
    kv_u64(p, "retrying", c->retrying);
    kv_u64(p, "succeeded", c->succeeded);
    kv_u64(p, "failed", c->failed);
    kv_u64(p, "cancelled", c->cancelled);
    kv_u64(p, "unknown", c->unknown);
    key(p, "spec");
    map(p, j->keep ? 7 : 6);
    kv_i64(p, "timeout_seconds", j->spec.timeout_seconds);
    kv_i64(p, "backoff_limit", j->spec.backoff_limit);
    kv_i64(p, "deadline_seconds", j->spec.deadline_seconds);
    kv_i64(p, "parallelism", j->spec.parallelism);
    kv_i64(p, "ttl_seconds_after_finished", j->spec.ttl_seconds_after_finished);
    KV_FIELD(p, "pull_secrets", j->spec.pull_secrets);
    if (j->keep)
        kv_i64(p, "refresh_seconds", j->spec.refresh_seconds);
}

int ipd_msgpack_encode_task(ipd_buf_t *buf, const ipd_task_t *task)
{
    packer_t p;
    packer_init(&p, buf);
    pack_task(&p, task);
    return packer_finish(&p);
}

int ipd_msgpack_encode_job(ipd_buf_t *buf, const ipd_job_t *job)
{
    packer_t p;
    packer_init(&p, buf);
    pack_job(&p, job);
    return packer_finish(&p);
}

int ipd_msgpack_encode_change(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks)
{
    return ipd_msgpack_encode_keep_change(buf, job, NULL, tasks, ntasks);
}

int ipd_msgpack_encode_keep_change(ipd_buf_t *buf, const ipd_job_t *job, const char *selection, const ipd_task_t *tasks,
                                   size_t ntasks)
{
    packer_t p;
    packer_init(&p, buf);
    int sel = selection != NULL && selection[0] != '\0';
    map(&p, sel ? 3 : 2);
    if (sel)
        kv_str(&p, "selection", selection, IPD_MSGPACK_SELECTION_MAX - 1);
    key(&p, "job");
    pack_job(&p, job);
    key(&p, "tasks");
    pack_head(&p, 0x90, 0xdc, ntasks);
    for (size_t i = 0; i < ntasks && !p.failed; i++)
        pack_task(&p, &tasks[i]);
    return packer_finish(&p);
}

/*
 * ---- decoding: field tables applied by a walk over checked bytes ----
 *
 * ipd_msgpack_check() first proves the bytes are one well-formed object within the limits; the
 * walk below then reads them in place into the caller's structs. No object tree is built and
 * nothing is allocated: a remote record is decoded for every Stream entry a daemon applies
 * (docs/benchmarks.md, the Redis link's ingestion). The walk still checks every length against
 * the end, so it never reads past the input even if called on unchecked bytes.
 */

typedef enum kind {
    K_ID,
    K_TEXT,
    K_I64,
    K_U64,
    K_U32,
    K_I32,
    K_BOOL,
    K_TASK_STATE,
    K_JOB_STATE,
    K_POLICY,
    K_CAUSE,
    K_MAP
} kind_t;

typedef struct field {
    const char *key;
    size_t klen; /* strlen(key) */
    kind_t kind;
    size_t off, size;
    const struct field *sub; /* K_MAP: the nested table, ended by a NULL key */
} field_t;

#define F(type, k, kind, member)                                                                                       \
    {                                                                                                                  \
        k, sizeof(k) - 1, kind, offsetof(type, member), sizeof(((type *)0)->member), NULL                              \
    }

static const field_t task_fields[] = {
    F(ipd_task_t, "node", K_ID, node),
    F(ipd_task_t, "namespace", K_ID, ns),
    F(ipd_task_t, "pod", K_ID, pod),
    F(ipd_task_t, "state", K_TASK_STATE, state),
    F(ipd_task_t, "reason", K_TEXT, reason),
    F(ipd_task_t, "message", K_TEXT, message),
    F(ipd_task_t, "fail_reason", K_TEXT, fail_reason),
    F(ipd_task_t, "fail_message", K_TEXT, fail_message),
    F(ipd_task_t, "cause", K_CAUSE, cause),
    F(ipd_task_t, "attempts", K_U32, attempts),
    F(ipd_task_t, "image_bytes", K_I64, image_bytes),
    F(ipd_task_t, "pull_ms", K_I64, pull_ms),
    F(ipd_task_t, "updated_at", K_I64, updated_at),
    {NULL, 0, K_ID, 0, 0, NULL},
};

static const field_t count_fields[] = {
    F(ipd_node_counts_t, "desired", K_U32, desired),
    F(ipd_node_counts_t, "pending", K_U32, pending),
    F(ipd_node_counts_t, "pulling", K_U32, pulling),
    F(ipd_node_counts_t, "retrying", K_U32, retrying),
    F(ipd_node_counts_t, "succeeded", K_U32, succeeded),
    F(ipd_node_counts_t, "failed", K_U32, failed),
    F(ipd_node_counts_t, "cancelled", K_U32, cancelled),
    F(ipd_node_counts_t, "unknown", K_U32, unknown),
    {NULL, 0, K_ID, 0, 0, NULL},
};

static const field_t spec_fields[] = {
    F(ipd_job_spec_t, "timeout_seconds", K_I32, timeout_seconds),
    F(ipd_job_spec_t, "backoff_limit", K_I32, backoff_limit),
    F(ipd_job_spec_t, "deadline_seconds", K_I32, deadline_seconds),
    F(ipd_job_spec_t, "parallelism", K_I32, parallelism),
    F(ipd_job_spec_t, "ttl_seconds_after_finished", K_I32, ttl_seconds_after_finished),
    F(ipd_job_spec_t, "pull_secrets", K_TEXT, pull_secrets),
    F(ipd_job_spec_t, "refresh_seconds", K_I32, refresh_seconds),
    {NULL, 0, K_ID, 0, 0, NULL},
};

static const field_t job_fields[] = {
    F(ipd_job_t, "id", K_ID, id),
    F(ipd_job_t, "image", K_ID, image),
    F(ipd_job_t, "state", K_JOB_STATE, state),
    F(ipd_job_t, "pull_policy", K_POLICY, pull_policy),
    F(ipd_job_t, "cancelled", K_BOOL, cancelled),
    F(ipd_job_t, "created_at", K_I64, created_at),
    F(ipd_job_t, "started_at", K_I64, started_at),
    F(ipd_job_t, "finished_at", K_I64, finished_at),
    F(ipd_job_t, "version", K_U64, version),
    F(ipd_job_t, "error_reason", K_TEXT, error_reason),
    F(ipd_job_t, "error_message", K_TEXT, error_message),
    F(ipd_job_t, "error_cause", K_CAUSE, error_cause),
    F(ipd_job_t, "keep", K_BOOL, keep),
    {"nodes", 5, K_MAP, offsetof(ipd_job_t, nodes), sizeof(ipd_node_counts_t), count_fields},
    {"spec", 4, K_MAP, offsetof(ipd_job_t, spec), sizeof(ipd_job_spec_t), spec_fields},
    {NULL, 0, K_ID, 0, 0, NULL},
};

/*
 * Copies at most cap - 1 bytes of a counted string, stopping at a NUL, cutting at a UTF-8
 * boundary. Returns the bytes copied; the rest of the field is left as it is.
 */
static size_t put_text(char *dst, size_t cap, const char *src, size_t len)
{
    const char *nul = memchr(src, '\0', len);
    size_t n = nul != NULL ? (size_t)(nul - src) : len;
    if (n >= cap) {
        n = cap - 1;
        for (int back = 0; back < 3 && n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80; back++)
            n--;
    }
    memcpy(dst, src, n);
    return n;
}

/* put_text(), and the rest of the field zeroed, so equal records compare equal byte for byte. */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = put_text(dst, cap, src, len);
    memset(dst + n, 0, cap - n);
}

/* One value as the walk reads it: a scalar, a string in place, or a container's header. */
typedef enum vtype { V_NIL, V_BOOL, V_POS, V_NEG, V_FLOAT, V_STR, V_BIN, V_EXT, V_ARRAY, V_MAP } vtype_t;

typedef struct value {
    vtype_t type;
    uint64_t u;    /* V_POS, V_BOOL; V_ARRAY and V_MAP: the element or pair count */
    int64_t i;     /* V_NEG */
    const char *s; /* V_STR: the bytes in place, `u` of them */
} value_t;

typedef struct reader {
    const uint8_t *p, *end;
    int bad;            /* sticky: a length ran past the end */
    unsigned max_depth; /* the limits of ipd_msgpack_check(), which the walk enforces too */
    uint32_t max_items;
} reader_t;

static uint64_t be(reader_t *r, unsigned n)
{
    uint64_t v = 0;
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        r->p = r->end;
        return 0;
    }
    for (unsigned k = 0; k < n; k++)
        v = v << 8 | r->p[k];
    r->p += n;
    return v;
}

static void skip_bytes(reader_t *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        r->p = r->end;
    } else {
        r->p += n;
    }
}

/*
 * Reads one value's header at r->p. Scalars and strings are consumed whole; a container leaves
 * r->p at its first element. Integers follow msgpack-c: a signed encoding of a value >= 0 is V_POS.
 */
static int read_value_any(reader_t *r, value_t *v)
{
    if (r->p >= r->end)
        return IPD_EINVAL;
    uint8_t b = *r->p++;
    v->u = 0;
    if ((b & 0xe0) == 0xa0) { /* fixstr first: every key, and most values, are one */
        v->type = V_STR;
        v->u = b & 0x1f;
        v->s = (const char *)r->p;
        skip_bytes(r, v->u);
    } else if (b <= 0x7f) {
        v->type = V_POS;
        v->u = b;
    } else if (b >= 0xe0) {
        v->type = V_NEG;
        v->i = (int8_t)b;
    } else if (b <= 0x8f) {
        v->type = V_MAP;
        v->u = b & 0x0f;
    } else if (b <= 0x9f) {
        v->type = V_ARRAY;
        v->u = b & 0x0f;
    } else {
        switch (b) {
        case 0xc0:
            v->type = V_NIL;
            break;
        case 0xc2:
        case 0xc3:
            v->type = V_BOOL;
            v->u = b == 0xc3;
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            v->type = V_BIN;
            skip_bytes(r, be(r, 1u << (b - 0xc4)));
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            v->type = V_EXT;
            skip_bytes(r, be(r, 1u << (b - 0xc7)) + 1);
            break;
        case 0xca:
        case 0xcb:
            v->type = V_FLOAT;
            skip_bytes(r, b == 0xca ? 4 : 8);
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            v->type = V_POS;
            v->u = be(r, 1u << (b - 0xcc));
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {
            unsigned n = 1u << (b - 0xd0);
            uint64_t raw = be(r, n);
            int64_t x;
            if (n == 8) {
                memcpy(&x, &raw, sizeof(x));
            } else {
                uint64_t sign = UINT64_C(1) << (n * 8 - 1);
                x = (int64_t)(raw ^ sign) - (int64_t)sign;
            }
            if (x >= 0) {
                v->type = V_POS;
                v->u = (uint64_t)x;
            } else {
                v->type = V_NEG;
                v->i = x;
            }
            break;
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            v->type = V_EXT;
            skip_bytes(r, (1u << (b - 0xd4)) + 1);
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            v->type = V_STR;
            v->u = be(r, 1u << (b - 0xd9));
            v->s = (const char *)r->p;
            skip_bytes(r, v->u);
            break;
        case 0xdc:
        case 0xdd:
            v->type = V_ARRAY;
            v->u = be(r, 2u << (b - 0xdc));
            break;
        case 0xde:
        case 0xdf:
            v->type = V_MAP;
            v->u = be(r, 2u << (b - 0xde));
            break;
        default: /* 0xc1 is never used */
            return IPD_EINVAL;
        }
    }
    return r->bad ? IPD_EINVAL : 0;
}

/*
 * read_value_any(), with the two encodings of most of a record's bytes read inline: a short
 * string (every key, most values) and a small positive integer. A record is about 45 keys and
 * values, each read once per Stream entry applied (docs/benchmarks.md, the Redis link).
 */
static inline int read_value(reader_t *r, value_t *v)
{
    if (r->p < r->end) {
        uint8_t b = *r->p;
        size_t n = b & 0x1f;
        if ((b & 0xe0) == 0xa0 && n < (size_t)(r->end - r->p)) {
            v->type = V_STR;
            v->u = n;
            v->s = (const char *)r->p + 1;
            r->p += n + 1;
            return r->bad ? IPD_EINVAL : 0;
        }
        if (b <= 0x7f) {
            r->p++;
            v->type = V_POS;
            v->u = b;
            return r->bad ? IPD_EINVAL : 0;
        }
    }
    return read_value_any(r, v);
}

/* Skips the rest of a value whose header `v` was just read (its elements, for a container). */
static int skip_rest(reader_t *r, const value_t *v, unsigned depth)
{
    if (v->type != V_ARRAY && v->type != V_MAP)
        return 0;
    if (depth >= r->max_depth || v->u > r->max_items)
        return IPD_ETOOBIG;
    uint64_t n = v->type == V_MAP ? v->u * 2 : v->u;
    if (n > (uint64_t)(r->end - r->p)) /* every element takes at least one byte */
        return IPD_EINVAL;
    for (uint64_t k = 0; k < n; k++) {
        value_t e;
        int rc = read_value(r, &e);
        if (rc == 0)
            rc = skip_rest(r, &e, depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int get_int(const value_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (v->type == V_POS && v->u <= (uint64_t)hi)
        *out = (int64_t)v->u;
    else if (v->type == V_NEG && v->i >= lo)
        *out = v->i;
    else
        return IPD_EINVAL;
    return 0;
}

static int set_enum(uint8_t *dst, const value_t *v, int (*parse)(const char *, size_t))
{
    int x = v->type == V_STR ? parse(v->s, (size_t)v->u) : -1;
    if (x < 0)
        return IPD_EINVAL;
    *dst = (uint8_t)x;
    return 0;
}

static int decode_map(reader_t *r, const value_t *m, const field_t *fields, void *base, const field_t *required,
                      unsigned depth);

/* Applies the value whose header `v` was just read to field `f` at `dst`. */
static int set_field(reader_t *r, const field_t *f, const value_t *v, char *dst, unsigned depth)
{
    int64_t x;
    if (v->type == V_NIL)
        return 0;
    switch (f->kind) {
    case K_ID:
        if (v->type != V_STR || v->u >= f->size || memchr(v->s, 0, (size_t)v->u))
            return IPD_EINVAL;
        memset(dst, 0, f->size);
        memcpy(dst, v->s, (size_t)v->u);
        return 0;
    case K_TEXT:
        if (v->type != V_STR)
            return IPD_EINVAL;
        copy_text(dst, f->size, v->s, (size_t)v->u);
        return 0;
    case K_BOOL:
        if (v->type == V_BOOL)
            x = (int64_t)v->u;
        else if (get_int(v, 0, 1, &x) != 0)
            return IPD_EINVAL;
        *(uint8_t *)dst = (uint8_t)x;
        return 0;
    case K_I64:
        if (get_int(v, INT64_MIN, INT64_MAX, &x) != 0)
            return IPD_EINVAL;
        memcpy(dst, &x, sizeof(x));
        return 0;
    case K_U64:
        if (v->type != V_POS)
            return IPD_EINVAL;
        memcpy(dst, &v->u, sizeof(uint64_t));
        return 0;
    case K_U32: {
        if (get_int(v, 0, UINT32_MAX, &x) != 0)
            return IPD_EINVAL;
        uint32_t u = (uint32_t)x;
        memcpy(dst, &u, sizeof(u));
        return 0;
    }
    case K_I32: {
        if (get_int(v, INT32_MIN, INT32_MAX, &x) != 0)
            return IPD_EINVAL;
        int32_t i = (int32_t)x;
        memcpy(dst, &i, sizeof(i));
        return 0;
    }
    case K_TASK_STATE:
        return set_enum((uint8_t *)dst, v, ipd_task_state_parse);
    case K_JOB_STATE:
        return set_enum((uint8_t *)dst, v, ipd_job_state_parse);
    case K_POLICY:
        return set_enum((uint8_t *)dst, v, ipd_pull_policy_parse);
    case K_CAUSE:
        return set_enum((uint8_t *)dst, v, ipd_cause_parse);
    case K_MAP:
        return decode_map(r, v, f->sub, dst, NULL, depth + 1);
    }
    return IPD_EINVAL;
}

/* Whether the `n` bytes at `a` and `b` are the same, compared eight at a time: a map key is
 * matched once per key of every record, and most keys are longer than eight bytes. */
static inline int same_key(const char *a, const char *b, size_t n)
{
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b)
            return 0;
    return 1;
}

/*
 * Applies the known keys of the map whose header `m` was just read to `base`, consuming the
 * map; `required` (an entry of `fields`, or NULL) must be present and not nil. Unknown keys, and keys that
 * are not strings, are skipped with their values.
 */
static int decode_map(reader_t *r, const value_t *m, const field_t *fields, void *base, const field_t *required,
                      unsigned depth)
{
    int found = required == NULL;
    if (m->type != V_MAP)
        return IPD_EINVAL;
    if (depth >= r->max_depth || m->u > r->max_items)
        return IPD_ETOOBIG;
    /*
     * Keys are looked up starting after the field the previous key matched: the encoder writes
     * them in table order, so each key matches at the first comparison instead of after a scan
     * of the table. Keys are unique in each table, so the match is the same whatever the order.
     */
    size_t hint = 0;
    for (uint64_t i = 0; i < m->u; i++) {
        value_t k, v;
        int rc = read_value(r, &k);
        if (rc == 0 && (k.type == V_ARRAY || k.type == V_MAP))
            rc = skip_rest(r, &k, depth + 1);
        if (rc == 0)
            rc = read_value(r, &v);
        if (rc != 0)
            return rc;
        const field_t *f = NULL;
        if (k.type == V_STR && k.u > 0) { /* no field has an empty key */
            for (const field_t *c = &fields[hint]; f == NULL && c->key != NULL; c++)
                if (c->klen == k.u && same_key(c->key, k.s, c->klen))
                    f = c;
            for (const field_t *c = fields; f == NULL && c < &fields[hint]; c++)
                if (c->klen == k.u && same_key(c->key, k.s, c->klen))
                    f = c;
            if (f != NULL)
                hint = (size_t)(f - fields) + 1;
        }
        if (f == NULL) {
            if ((rc = skip_rest(r, &v, depth + 1)) != 0)
                return rc;
            continue;
        }
        if (f->kind != K_MAP && (v.type == V_ARRAY || v.type == V_MAP))
            return IPD_EINVAL;
        if ((rc = set_field(r, f, &v, (char *)base + f->off, depth)) != 0)
            return rc;
        if (f == required && v.type != V_NIL)
            found = 1;
    }
    return found ? 0 : IPD_EINVAL;
}

static void job_defaults(ipd_job_t *job)
{
    memset(job, 0, sizeof(*job));
    job->spec.ttl_seconds_after_finished = -1;
}

/*
 * Starts the walk over `len` bytes at `data` within `limits`, and reads the header of the object
 * they hold. The walk enforces the limits of ipd_msgpack_check() itself; finish() runs the check
 * only when the walk failed, so that the error is the one the check gives where it gives one.
 */
static int start(reader_t *r, value_t *top, const void *data, size_t len, const ipd_msgpack_limits_t *limits)
{
    r->p = data;
    r->end = r->p + len;
    r->bad = 0;
    r->max_depth = limits->max_depth < IPD_MSGPACK_DEPTH_CEILING ? limits->max_depth : IPD_MSGPACK_DEPTH_CEILING;
    r->max_items = limits->max_items;
    if (len > limits->max_size)
        return IPD_ETOOBIG;
    return read_value(r, top);
}

/* After the walk: every byte was the one object, or the error the check gives first. */
static int finish(const reader_t *r, int rc, const void *data, size_t len, const ipd_msgpack_limits_t *limits)
{
    if (rc == 0 && (r->bad || r->p != r->end))
        rc = IPD_EINVAL;
    if (rc != 0) {
        int checked = ipd_msgpack_check(data, len, limits);
        if (checked != 0)
            rc = checked;
    }
    return rc;
}

static const ipd_msgpack_limits_t record_limits = {IPD_MSGPACK_RECORD_MAX, IPD_MSGPACK_DEPTH_MAX,
                                                   IPD_MSGPACK_ITEMS_MAX};

int ipd_msgpack_decode_task(const void *data, size_t len, ipd_task_t *task)
{
    reader_t r;
    value_t top;
    ipd_task_t t;
    ipd_task_init(&t, "", IPD_TIME_NULL);
    int rc = start(&r, &top, data, len, &record_limits);
    if (rc == 0)
        rc = decode_map(&r, &top, task_fields, &t, &task_fields[0], 0);
    rc = finish(&r, rc, data, len, &record_limits);
    if (rc == 0)
        *task = t;
    return rc;
}

int ipd_msgpack_decode_job(const void *data, size_t len, ipd_job_t *job)
{
    reader_t r;
    value_t top;
    ipd_job_t j;
    job_defaults(&j);
    int rc = start(&r, &top, data, len, &record_limits);
    if (rc == 0)
        rc = decode_map(&r, &top, job_fields, &j, &job_fields[0], 0);
    rc = finish(&r, rc, data, len, &record_limits);
    if (rc == 0)
        *job = j;
    return rc;
}

static int key_is(const value_t *k, const char *name, size_t len)
{
    return k->type == V_STR && k->u == len && memcmp(k->s, name, len) == 0;
}

/*
 * The change map {job, tasks}, walked once: each is decoded where it stands, so a key that
 * comes again replaces what the earlier one decoded (the last one counts).
 */
static int decode_change(reader_t *r, const value_t *top, ipd_job_t *job, ipd_task_t *tasks, size_t cap, size_t *ntasks,
                         char *selection, size_t selection_cap)
{
    int have_job = 0, too_many = 0;
    if (top->type != V_MAP)
        return IPD_EINVAL;
    if (r->max_depth == 0 || top->u > r->max_items)
        return IPD_ETOOBIG;
    for (uint64_t i = 0; i < top->u; i++) {
        value_t k, v;
        int rc = read_value(r, &k);
        if (rc == 0)
            rc = skip_rest(r, &k, 1);
        if (rc == 0)
            rc = read_value(r, &v);
        if (rc != 0)
            return rc;
        if (key_is(&k, "job", 3)) {
            job_defaults(job);
            if ((rc = decode_map(r, &v, job_fields, job, &job_fields[0], 1)) != 0)
                return rc;
            have_job = 1;
        } else if (key_is(&k, "selection", 9) && selection != NULL) {
            if (v.type == V_NIL) {
                selection[0] = '\0';
                continue;
            }
            if (v.type != V_STR || v.u >= selection_cap || memchr(v.s, 0, (size_t)v.u))
                return IPD_EINVAL;
            memcpy(selection, v.s, (size_t)v.u);
            selection[v.u] = '\0';
        } else if (key_is(&k, "tasks", 5)) {
            *ntasks = 0;
            if (v.type == V_NIL)
                continue;
            if (v.type != V_ARRAY)
                return IPD_EINVAL;
            if (v.u > r->max_items || r->max_depth <= 1)
                return IPD_ETOOBIG;
            if (v.u > cap) { /* reported once the job is known to be there and good */
                too_many = 1;
                if ((rc = skip_rest(r, &v, 1)) != 0)
                    return rc;
                continue;
            }
            too_many = 0;
            for (uint64_t t = 0; t < v.u; t++) {
                value_t e;
                ipd_task_init(&tasks[t], "", IPD_TIME_NULL);
                if ((rc = read_value(r, &e)) != 0 ||
                    (rc = decode_map(r, &e, task_fields, &tasks[t], &task_fields[0], 2)) != 0)
                    return rc;
            }
            *ntasks = (size_t)v.u;
        } else if ((rc = skip_rest(r, &v, 1)) != 0) {
            return rc;
        }
    }
    if (!have_job)
        return IPD_EINVAL;
    return too_many ? IPD_ETOOBIG : 0;
}

int ipd_msgpack_decode_change(const void *data, size_t len, ipd_job_t *job, ipd_task_t *tasks, size_t cap,
                              size_t *ntasks)
{
    return ipd_msgpack_decode_keep_change(data, len, job, NULL, 0, tasks, cap, ntasks);
}

/* The limits of a change record of at most `cap` tasks. */
static void change_limits(ipd_msgpack_limits_t *limits, size_t cap)
{
    *limits = record_limits;
    limits->max_size = cap < SIZE_MAX / IPD_MSGPACK_RECORD_MAX - 1 ? IPD_MSGPACK_RECORD_MAX * (cap + 1) : SIZE_MAX;
    if (cap > limits->max_items)
        limits->max_items = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
}

int ipd_msgpack_decode_keep_change_generic(const void *data, size_t len, ipd_job_t *job, char *selection,
                                           size_t selection_cap, ipd_task_t *tasks, size_t cap, size_t *ntasks)
{
    if (selection != NULL && selection_cap > 0)
        selection[0] = '\0';
    else
        selection = NULL;
    reader_t r;
    value_t top;
    ipd_msgpack_limits_t limits;
    *ntasks = 0;
    change_limits(&limits, cap);
    int rc = start(&r, &top, data, len, &limits);
    if (rc == 0)
        rc = decode_change(&r, &top, job, tasks, cap, ntasks, selection, selection_cap);
    rc = finish(&r, rc, data, len, &limits);
    if (rc != 0)
        *ntasks = 0;
    return rc;
}

/*
 * ---- the fast path: a change record laid out as the encoder writes it ----
 *
 * The encoder writes every key in one order (pack_job, pack_task, encode_keep_change above), each
 * value in the encoding msgpack-c chooses for it. A Stream record is decoded once per entry a
 * daemon applies, so the fast path walks those bytes once, in that order: it compares each key
 * with the one expected there (its fixstr header and bytes) and reads the value straight into
 * its field. Whatever differs from that layout (another order, a key more or less, nil, another
 * type or encoding, a value the generic walk refuses, a size or count over a limit) makes it
 * give up and the generic walk decode the whole record, so both paths give the same result and
 * the same error for every input (tests/unit/test_msgpack.c holds them to each other).
 */

typedef struct fast {
    const uint8_t *p, *end;
} fast_t;

/* The helpers below are inlined at every key: `n` is then a constant, and each key comparison
 * a few loads and compares instead of a call and a loop. */
#define FAST_INLINE inline __attribute__((always_inline))

static FAST_INLINE uint64_t load8(const void *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

static FAST_INLINE uint32_t load4(const void *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/*
 * Zeroes a record through the C library's memset, called through a pointer the compiler cannot
 * see through: with the size known, it writes memset as `rep stos` (eight bytes a step, and a
 * slow start), where the library's vector loop stores 128 bytes a step.
 */
static void *(*volatile const fast_memset)(void *, int, size_t) = memset;

/*
 * The next key is the `n` bytes at `t + 1` (n < 32, a fixstr), and a byte of its value follows;
 * consumes the key. `t` is FAST_KEY's literal: a byte for the header, the key, seven bytes of
 * padding, so that it can be read a word at a time. With `n` and `t` constants, the header and
 * the key's first seven bytes are one word compared under a mask, the rest a word or two.
 * `checked` 0 skips the bounds check, where the caller proved FAST_ROOM(k) bytes are there.
 */
static FAST_INLINE int fast_key(fast_t *f, const char *t, size_t n, int checked)
{
    static const uint8_t ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t *p = f->p;
    size_t left = (size_t)(f->end - p), m = n + 1;     /* the header and the key */
    if (!checked || left >= (m + 1 > 8 ? m + 1 : 8)) { /* one comparison with a constant */
        uint8_t first[8];
        memcpy(first, t, sizeof(first));
        first[0] = (uint8_t)(0xa0 | n);
        uint64_t mask = m >= 8 ? ~UINT64_C(0) : load8(ones + 8 - m); /* the first m bytes */
        if (((load8(p) ^ load8(first)) & mask) != 0)
            return 0;
        for (size_t i = 8; i < m; i += 8) { /* the last word may overlap the one before */
            size_t at = i + 8 <= m ? i : m - 8;
            if (load8(p + at) != load8(t + at))
                return 0;
        }
    } else {
        if (left <= m || p[0] != (0xa0 | n))
            return 0;
        for (size_t i = 1; i < m; i++)
            if (p[i] != (uint8_t)t[i])
                return 0;
    }
    f->p = p + m;
    return 1;
}

#define FAST_KEY_C(f, k, checked) fast_key((f), "\0" k "\0\0\0\0\0\0\0", sizeof(k) - 1, (checked))
#define FAST_KEY(f, k)            FAST_KEY_C((f), k, 1)
/*
 * The most bytes a key and an integer (or a container's header) after it take: the header and
 * the key (sizeof counts the header in place of the NUL), and a value of at most 9 bytes. The
 * word fast_key() reads from a short key stays within that too.
 */
#define FAST_ROOM(k) (sizeof(k) + 9)

/*
 * The next value is a string (fixstr, str 8, str 16: what the encoder writes for our fields).
 * This and the value readers below read a value right after its key, whose first byte
 * fast_key() saw there.
 */
static FAST_INLINE int fast_str(fast_t *f, const char **s, size_t *n)
{
    size_t left = (size_t)(f->end - f->p), h, len;
    uint8_t b = f->p[0];
    if ((b & 0xe0) == 0xa0) {
        h = 1;
        len = b & 0x1f;
    } else if (b == 0xd9 && left >= 2) {
        h = 2;
        len = f->p[1];
    } else if (b == 0xda && left >= 3) {
        h = 3;
        len = (size_t)f->p[1] << 8 | f->p[2];
    } else {
        return 0;
    }
    if (left - h < len)
        return 0;
    *s = (const char *)f->p + h;
    *n = len;
    f->p += h + len;
    return 1;
}

/*
 * The next value is an integer that get_int() takes within [lo, hi]: a value >= 0 in any
 * encoding is at most `hi`, a negative one at least `lo` (lo = 0 takes no negative value, as
 * K_U64 takes only V_POS). Stores its two's complement bits in *out. `checked` 0 skips the
 * bounds check, where the caller proved 9 bytes are there.
 */
static FAST_INLINE int fast_int(fast_t *f, int64_t lo, uint64_t hi, uint64_t *out, int checked)
{
    uint8_t b = f->p[0];
    uint64_t u;
    if (b <= 0x7f) {
        u = b;
        f->p++;
    } else if (b >= 0xe0) {
        if ((int8_t)b < lo)
            return 0;
        *out = (uint64_t)(int64_t)(int8_t)b;
        f->p++;
        return 1;
    } else if (b >= 0xcc && b <= 0xd3) {
        unsigned n = 1u << ((b - 0xcc) & 3);
        if (checked && (size_t)(f->end - f->p) <= n)
            return 0;
        const uint8_t *q = f->p + 1;
        switch (n) {
        case 1:
            u = q[0];
            break;
        case 2:
            u = (uint64_t)q[0] << 8 | q[1];
            break;
        case 4:
            u = (uint64_t)q[0] << 24 | (uint64_t)q[1] << 16 | (uint64_t)q[2] << 8 | q[3];
            break;
        default:
            u = (uint64_t)q[0] << 56 | (uint64_t)q[1] << 48 | (uint64_t)q[2] << 40 | (uint64_t)q[3] << 32 |
                (uint64_t)q[4] << 24 | (uint64_t)q[5] << 16 | (uint64_t)q[6] << 8 | q[7];
            break;
        }
        f->p += n + 1;
        if (b >= 0xd0 && n < 8) { /* a signed encoding: extend its sign */
            uint64_t sign = UINT64_C(1) << (n * 8 - 1);
            u = (u ^ sign) - sign;
        }
        if (b >= 0xd0 && (int64_t)u < 0) {
            if ((int64_t)u < lo)
                return 0;
            *out = u;
            return 1;
        }
    } else {
        return 0;
    }
    if (u > hi)
        return 0;
    *out = u;
    return 1;
}

static FAST_INLINE int fast_i64(fast_t *f, int64_t *dst, int checked)
{
    uint64_t u;
    if (!fast_int(f, INT64_MIN, INT64_MAX, &u, checked))
        return 0;
    memcpy(dst, &u, sizeof(u));
    return 1;
}

static FAST_INLINE int fast_i32(fast_t *f, int32_t *dst, int checked)
{
    uint64_t u;
    if (!fast_int(f, INT32_MIN, INT32_MAX, &u, checked))
        return 0;
    *dst = (int32_t)(int64_t)u;
    return 1;
}

static FAST_INLINE int fast_u32(fast_t *f, uint32_t *dst, int checked)
{
    uint64_t u;
    if (!fast_int(f, 0, UINT32_MAX, &u, checked))
        return 0;
    *dst = (uint32_t)u;
    return 1;
}

/* K_BOOL as the encoder writes it: 0 or 1 (true and false go the generic way). */
static FAST_INLINE int fast_flag(fast_t *f, uint8_t *dst, int checked)
{
    uint64_t u;
    if (!fast_int(f, 0, 1, &u, checked))
        return 0;
    *dst = (uint8_t)u;
    return 1;
}

/* Whether a word holds a zero byte (each byte below 0x80 minus one borrows into its top bit). */
static FAST_INLINE int zero_in8(uint64_t x)
{
    return ((x - UINT64_C(0x0101010101010101)) & ~x & UINT64_C(0x8080808080808080)) != 0;
}

static FAST_INLINE int zero_in4(uint32_t x)
{
    return ((x - 0x01010101u) & ~x & 0x80808080u) != 0;
}

/* Whether the `n` bytes at `s` hold a NUL: words, the last one overlapping; an identifier is
 * a few dozen bytes at most. */
static FAST_INLINE int has_nul(const char *s, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8)
            if (zero_in8(load8(s + i)))
                return 1;
        return zero_in8(load8(s + n - 8));
    }
    if (n >= 4)
        return zero_in4(load4(s)) || zero_in4(load4(s + n - 4));
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            return 1;
    return 0;
}

static void *(*volatile const fast_memcpy)(void *, const void *, size_t) = memcpy;

/*
 * Copies `n` bytes: up to 32 as words, the last ones overlapping those before, more through the
 * C library (inlined, a memcpy of a size the compiler bounds becomes `rep movs`, slow to start
 * for a short string).
 */
static FAST_INLINE void fast_copy(char *dst, const char *s, size_t n)
{
    if (n >= 8 && n <= 32) {
        uint64_t a = load8(s), b = load8(s + n - 8);
        if (n > 16) {
            uint64_t c = load8(s + 8), d = load8(s + n - 16);
            memcpy(dst + 8, &c, sizeof(c));
            memcpy(dst + n - 16, &d, sizeof(d));
        }
        memcpy(dst, &a, sizeof(a));
        memcpy(dst + n - 8, &b, sizeof(b));
    } else if (n >= 4 && n < 8) {
        uint32_t a = load4(s), b = load4(s + n - 4);
        memcpy(dst, &a, sizeof(a));
        memcpy(dst + n - 4, &b, sizeof(b));
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dst[i] = s[i];
    } else {
        fast_memcpy(dst, s, n);
    }
}

/* K_ID into a field that is already zero: fits with its NUL, holds no NUL. */
static FAST_INLINE int fast_id(fast_t *f, char *dst, size_t size)
{
    const char *s;
    size_t n;
    if (!fast_str(f, &s, &n) || n >= size || has_nul(s, n))
        return 0;
    fast_copy(dst, s, n);
    return 1;
}

/* K_TEXT into a field that is already zero, as copy_text() cuts it. */
static FAST_INLINE int fast_text(fast_t *f, char *dst, size_t size)
{
    const char *s;
    size_t n;
    if (*f->p == 0xa0) { /* most text is empty: nothing to copy */
        f->p++;
        return 1;
    }
    if (!fast_str(f, &s, &n))
        return 0;
    if (n > 0)
        put_text(dst, size, s, n);
    return 1;
}

static FAST_INLINE int fast_enum(fast_t *f, uint8_t *dst, int (*parse)(const char *, size_t))
{
    const char *s;
    size_t n;
    if (!fast_str(f, &s, &n))
        return 0;
    int x = parse(s, n);
    if (x < 0)
        return 0;
    *dst = (uint8_t)x;
    return 1;
}

/* The pairs a fixmap header announces, or -1 for anything else. */
static FAST_INLINE int fast_map(fast_t *f)
{
    if (f->p >= f->end || (f->p[0] & 0xf0) != 0x80)
        return -1;
    return *f->p++ & 0x0f;
}

/* A task map as pack_task() writes it, into `t` (caller's memory). */
static FAST_INLINE int fast_task(fast_t *f, ipd_task_t *t)
{
    int pairs = fast_map(f);
    if (pairs != 12 && pairs != 13)
        return 0;
    fast_memset(t, 0, sizeof(*t));
    if (!(FAST_KEY(f, "node") && fast_id(f, t->node, sizeof(t->node)) && FAST_KEY(f, "namespace") &&
          fast_id(f, t->ns, sizeof(t->ns)) && FAST_KEY(f, "pod") && fast_id(f, t->pod, sizeof(t->pod)) &&
          FAST_KEY(f, "state") && fast_enum(f, &t->state, ipd_task_state_parse) && FAST_KEY(f, "reason") &&
          fast_text(f, t->reason, sizeof(t->reason)) && FAST_KEY(f, "message") &&
          fast_text(f, t->message, sizeof(t->message)) && FAST_KEY(f, "fail_reason") &&
          fast_text(f, t->fail_reason, sizeof(t->fail_reason)) && FAST_KEY(f, "fail_message") &&
          fast_text(f, t->fail_message, sizeof(t->fail_message))))
        return 0;
    if (pairs == 13 && !(FAST_KEY(f, "cause") && fast_enum(f, &t->cause, ipd_cause_parse)))
        return 0;
    return FAST_KEY(f, "attempts") && fast_u32(f, &t->attempts, 1) && FAST_KEY(f, "image_bytes") &&
           fast_i64(f, &t->image_bytes, 1) && FAST_KEY(f, "pull_ms") && fast_i64(f, &t->pull_ms, 1) &&
           FAST_KEY(f, "updated_at") && fast_i64(f, &t->updated_at, 1);
}

/*
 * Runs of a job map made of keys and integers only, from a key to the key of the next string.
 * Where FAST_..._ROOM bytes are left, the caller runs them with `checked` 0: one comparison
 * instead of one per key and value.
 */
#define FAST_TIMES_ROOM                                                                                                \
    (FAST_ROOM("cancelled") + FAST_ROOM("created_at") + FAST_ROOM("started_at") + FAST_ROOM("finished_at") +           \
     FAST_ROOM("version") + FAST_ROOM("error_reason"))

static FAST_INLINE int fast_job_times(fast_t *f, ipd_job_t *j, int checked)
{
    return FAST_KEY_C(f, "cancelled", checked) && fast_flag(f, &j->cancelled, checked) &&
           FAST_KEY_C(f, "created_at", checked) && fast_i64(f, &j->created_at, checked) &&
           FAST_KEY_C(f, "started_at", checked) && fast_i64(f, &j->started_at, checked) &&
           FAST_KEY_C(f, "finished_at", checked) && fast_i64(f, &j->finished_at, checked) &&
           FAST_KEY_C(f, "version", checked) && fast_int(f, 0, UINT64_MAX, &j->version, checked) &&
           FAST_KEY_C(f, "error_reason", checked);
}

#define FAST_COUNTS_ROOM                                                                                               \
    (FAST_ROOM("nodes") + FAST_ROOM("desired") + FAST_ROOM("pending") + FAST_ROOM("pulling") + FAST_ROOM("retrying") + \
     FAST_ROOM("succeeded") + FAST_ROOM("failed") + FAST_ROOM("cancelled") + FAST_ROOM("unknown") +                    \
     FAST_ROOM("spec") + FAST_ROOM("timeout_seconds") + FAST_ROOM("backoff_limit") + FAST_ROOM("deadline_seconds") +   \
     FAST_ROOM("parallelism") + FAST_ROOM("ttl_seconds_after_finished") + FAST_ROOM("pull_secrets"))

/* "nodes" and "spec" up to the key "pull_secrets"; *spec is the spec map's pair count. */
static FAST_INLINE int fast_job_counts(fast_t *f, ipd_job_t *j, int *spec, int checked)
{
    ipd_node_counts_t *c = &j->nodes;
    ipd_job_spec_t *s = &j->spec;
    if (!(FAST_KEY_C(f, "nodes", checked) && fast_map(f) == 8 && FAST_KEY_C(f, "desired", checked) &&
          fast_u32(f, &c->desired, checked) && FAST_KEY_C(f, "pending", checked) && fast_u32(f, &c->pending, checked) &&
          FAST_KEY_C(f, "pulling", checked) && fast_u32(f, &c->pulling, checked) &&
          FAST_KEY_C(f, "retrying", checked) && fast_u32(f, &c->retrying, checked) &&
          FAST_KEY_C(f, "succeeded", checked) && fast_u32(f, &c->succeeded, checked) &&
          FAST_KEY_C(f, "failed", checked) && fast_u32(f, &c->failed, checked) && FAST_KEY_C(f, "cancelled", checked) &&
          fast_u32(f, &c->cancelled, checked) && FAST_KEY_C(f, "unknown", checked) &&
          fast_u32(f, &c->unknown, checked) && FAST_KEY_C(f, "spec", checked)))
        return 0;
    *spec = fast_map(f);
    return (*spec == 6 || *spec == 7) && FAST_KEY_C(f, "timeout_seconds", checked) &&
           fast_i32(f, &s->timeout_seconds, checked) && FAST_KEY_C(f, "backoff_limit", checked) &&
           fast_i32(f, &s->backoff_limit, checked) && FAST_KEY_C(f, "deadline_seconds", checked) &&
           fast_i32(f, &s->deadline_seconds, checked) && FAST_KEY_C(f, "parallelism", checked) &&
           fast_i32(f, &s->parallelism, checked) && FAST_KEY_C(f, "ttl_seconds_after_finished", checked) &&
           fast_i32(f, &s->ttl_seconds_after_finished, checked) && FAST_KEY_C(f, "pull_secrets", checked);
}

/* A job map as pack_job() writes it, into `j` (caller's memory). */
static FAST_INLINE int fast_job(fast_t *f, ipd_job_t *j)
{
    int pairs = fast_map(f);
    if (pairs < 13)
        return 0;
    fast_memset(j, 0, sizeof(*j));
    if (!(FAST_KEY(f, "id") && fast_id(f, j->id, sizeof(j->id)) && FAST_KEY(f, "image") &&
          fast_id(f, j->image, sizeof(j->image)) && FAST_KEY(f, "state") &&
          fast_enum(f, &j->state, ipd_job_state_parse) && FAST_KEY(f, "pull_policy") &&
          fast_enum(f, &j->pull_policy, ipd_pull_policy_parse)))
        return 0;
    int ok = (size_t)(f->end - f->p) >= FAST_TIMES_ROOM ? fast_job_times(f, j, 0) : fast_job_times(f, j, 1);
    if (!ok || !fast_text(f, j->error_reason, sizeof(j->error_reason)) || !FAST_KEY(f, "error_message") ||
        !fast_text(f, j->error_message, sizeof(j->error_message)))
        return 0;
    int left = pairs - 13; /* the optional keys still to come: error_cause, keep */
    if (left > 0 && FAST_KEY(f, "error_cause")) {
        if (!fast_enum(f, &j->error_cause, ipd_cause_parse))
            return 0;
        left--;
    }
    if (left > 0 && FAST_KEY(f, "keep")) {
        if (!fast_flag(f, &j->keep, 1))
            return 0;
        left--;
    }
    int spec;
    if (left != 0)
        return 0;
    ok =
        (size_t)(f->end - f->p) >= FAST_COUNTS_ROOM ? fast_job_counts(f, j, &spec, 0) : fast_job_counts(f, j, &spec, 1);
    if (!ok || !fast_text(f, j->spec.pull_secrets, sizeof(j->spec.pull_secrets)))
        return 0;
    return spec == 6 || (FAST_KEY(f, "refresh_seconds") && fast_i32(f, &j->spec.refresh_seconds, 1));
}

/*
 * Everything above is inlined here, where the cursor `f` is a local variable whose address goes
 * nowhere else: it stays in registers, where a cursor in memory would be read back after every
 * store into a record's char fields (which may alias anything).
 */
int ipd_msgpack_decode_change_fast(const void *data, size_t len, ipd_job_t *job, char *selection, size_t selection_cap,
                                   ipd_task_t *tasks, size_t cap, size_t *ntasks)
{
    fast_t f = {data, (const uint8_t *)data + len};
    const char *sel = NULL;
    size_t sel_len = 0, n;
    ipd_msgpack_limits_t limits;
    *ntasks = 0;
    change_limits(&limits, cap);
    if (len > limits.max_size)
        return 1;
    int pairs = fast_map(&f);
    if (pairs == 3 && !(FAST_KEY(&f, "selection") && fast_str(&f, &sel, &sel_len)))
        return 1;
    if ((pairs != 2 && pairs != 3) || !FAST_KEY(&f, "job") || !fast_job(&f, job) || !FAST_KEY(&f, "tasks") ||
        f.p >= f.end)
        return 1;
    if ((*f.p & 0xf0) == 0x90) {
        n = *f.p++ & 0x0f;
    } else if (*f.p == 0xdc && f.end - f.p >= 3) {
        n = (size_t)f.p[1] << 8 | f.p[2];
        f.p += 3;
    } else {
        return 1;
    }
    if (n > cap || n > limits.max_items)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (!fast_task(&f, &tasks[i]))
            return 1;
    if (f.p != f.end)
        return 1;
    if (selection != NULL && selection_cap > 0) {
        if (sel_len >= selection_cap || (sel_len > 0 && memchr(sel, 0, sel_len) != NULL))
            return 1;
        if (sel_len > 0)
            memcpy(selection, sel, sel_len);
        selection[sel_len] = '\0';
    }
    *ntasks = n;
    return 0;
}

int ipd_msgpack_decode_keep_change(const void *data, size_t len, ipd_job_t *job, char *selection, size_t selection_cap,
                                   ipd_task_t *tasks, size_t cap, size_t *ntasks)
{
    if (ipd_msgpack_decode_change_fast(data, len, job, selection, selection_cap, tasks, cap, ntasks) == 0)
        return 0;
    return ipd_msgpack_decode_keep_change_generic(data, len, job, selection, selection_cap, tasks, cap, ntasks);
}
