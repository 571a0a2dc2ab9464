#include "proto/error.h"
#include "proto/msgpack_codec.h"

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <string.h>

/* ---- encoding: a packer writing into an ipd_buf_t, with a sticky error ---- */

typedef struct packer {
    msgpack_packer pk;
    ipd_buf_t *buf;
    size_t start;
    int failed;
} packer_t;

static int on_write(void *data, const char *bytes, size_t len)
{
    return ipd_buf_append(data, bytes, len) == 0 ? 0 : -1;
}

static void packer_init(packer_t *p, ipd_buf_t *buf)
{
    msgpack_packer_init(&p->pk, buf, on_write);
    p->buf = buf;
    p->start = buf->len;
    p->failed = 0;
}

static int packer_finish(packer_t *p)
{
    if (!p->failed)
        return 0;
    ipd_buf_truncate(p->buf, p->start);
    return -ENOMEM;
}

static void key(packer_t *p, const char *k)
{
    p->failed |= msgpack_pack_str_with_body(&p->pk, k, strlen(k)) != 0;
}

static void kv_str(packer_t *p, const char *k, const char *v, size_t cap)
{
    key(p, k);
    p->failed |= msgpack_pack_str_with_body(&p->pk, v, strnlen(v, cap)) != 0;
}

#define KV_FIELD(p, k, arr) kv_str((p), (k), (arr), sizeof(arr))

static void kv_name(packer_t *p, const char *k, const char *name)
{
    kv_str(p, k, name, strlen(name));
}

static void kv_i64(packer_t *p, const char *k, int64_t v)
{
    key(p, k);
    p->failed |= msgpack_pack_int64(&p->pk, v) != 0;
}

static void kv_u64(packer_t *p, const char *k, uint64_t v)
{
    key(p, k);
    p->failed |= msgpack_pack_uint64(&p->pk, v) != 0;
}

static void map(packer_t *p, size_t n)
{
    p->failed |= msgpack_pack_map(&p->pk, n) != 0;
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
    map(p, cause != NULL ? 14 : 13);
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
    map(p, 6);
    kv_i64(p, "timeout_seconds", j->spec.timeout_seconds);
    kv_i64(p, "backoff_limit", j->spec.backoff_limit);
    kv_i64(p, "deadline_seconds", j->spec.deadline_seconds);
    kv_i64(p, "parallelism", j->spec.parallelism);
    kv_i64(p, "ttl_seconds_after_finished", j->spec.ttl_seconds_after_finished);
    KV_FIELD(p, "pull_secrets", j->spec.pull_secrets);
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
    packer_t p;
    packer_init(&p, buf);
    map(&p, 2);
    key(&p, "job");
    pack_job(&p, job);
    key(&p, "tasks");
    p.failed |= msgpack_pack_array(&p.pk, ntasks) != 0;
    for (size_t i = 0; i < ntasks && !p.failed; i++)
        pack_task(&p, &tasks[i]);
    return packer_finish(&p);
}

/* ---- decoding: field tables applied to a checked, unpacked object ---- */

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
    kind_t kind;
    size_t off, size;
    const struct field *sub; /* K_MAP: the nested table, ended by a NULL key */
} field_t;

#define F(type, k, kind, member)                                                                                       \
    {                                                                                                                  \
        k, kind, offsetof(type, member), sizeof(((type *)0)->member), NULL                                             \
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
    {NULL, K_ID, 0, 0, NULL},
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
    {NULL, K_ID, 0, 0, NULL},
};

static const field_t spec_fields[] = {
    F(ipd_job_spec_t, "timeout_seconds", K_I32, timeout_seconds),
    F(ipd_job_spec_t, "backoff_limit", K_I32, backoff_limit),
    F(ipd_job_spec_t, "deadline_seconds", K_I32, deadline_seconds),
    F(ipd_job_spec_t, "parallelism", K_I32, parallelism),
    F(ipd_job_spec_t, "ttl_seconds_after_finished", K_I32, ttl_seconds_after_finished),
    F(ipd_job_spec_t, "pull_secrets", K_TEXT, pull_secrets),
    {NULL, K_ID, 0, 0, NULL},
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
    {"nodes", K_MAP, offsetof(ipd_job_t, nodes), sizeof(ipd_node_counts_t), count_fields},
    {"spec", K_MAP, offsetof(ipd_job_t, spec), sizeof(ipd_job_spec_t), spec_fields},
    {NULL, K_ID, 0, 0, NULL},
};

/*
 * Copies at most cap - 1 bytes of a counted string, stopping at a NUL, cutting at a UTF-8
 * boundary. The rest of the field is zeroed, so equal records compare equal byte for byte.
 */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    const char *nul = memchr(src, '\0', len);
    size_t n = nul != NULL ? (size_t)(nul - src) : len;
    if (n >= cap) {
        n = cap - 1;
        for (int back = 0; back < 3 && n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80; back++)
            n--;
    }
    memcpy(dst, src, n);
    memset(dst + n, 0, cap - n);
}

static int get_int(const msgpack_object *o, int64_t lo, int64_t hi, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)hi)
        *v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= lo)
        *v = o->via.i64;
    else
        return IPD_EINVAL;
    return 0;
}

static int set_enum(uint8_t *dst, const msgpack_object *o, int (*parse)(const char *, size_t))
{
    int v = o->type == MSGPACK_OBJECT_STR ? parse(o->via.str.ptr, o->via.str.size) : -1;
    if (v < 0)
        return IPD_EINVAL;
    *dst = (uint8_t)v;
    return 0;
}

static int decode_map(const msgpack_object *obj, const field_t *fields, void *base, const char *required);

static int set_field(const field_t *f, const msgpack_object *o, char *dst)
{
    int64_t v;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    switch (f->kind) {
    case K_ID:
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= f->size || memchr(o->via.str.ptr, 0, o->via.str.size))
            return IPD_EINVAL;
        memset(dst, 0, f->size);
        memcpy(dst, o->via.str.ptr, o->via.str.size);
        return 0;
    case K_TEXT:
        if (o->type != MSGPACK_OBJECT_STR)
            return IPD_EINVAL;
        copy_text(dst, f->size, o->via.str.ptr, o->via.str.size);
        return 0;
    case K_BOOL:
        if (o->type == MSGPACK_OBJECT_BOOLEAN)
            v = o->via.boolean;
        else if (get_int(o, 0, 1, &v) != 0)
            return IPD_EINVAL;
        *(uint8_t *)dst = (uint8_t)v;
        return 0;
    case K_I64:
        if (get_int(o, INT64_MIN, INT64_MAX, &v) != 0)
            return IPD_EINVAL;
        memcpy(dst, &v, sizeof(v));
        return 0;
    case K_U64:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return IPD_EINVAL;
        memcpy(dst, &o->via.u64, sizeof(uint64_t));
        return 0;
    case K_U32: {
        if (get_int(o, 0, UINT32_MAX, &v) != 0)
            return IPD_EINVAL;
        uint32_t u = (uint32_t)v;
        memcpy(dst, &u, sizeof(u));
        return 0;
    }
    case K_I32: {
        if (get_int(o, INT32_MIN, INT32_MAX, &v) != 0)
            return IPD_EINVAL;
        int32_t i = (int32_t)v;
        memcpy(dst, &i, sizeof(i));
        return 0;
    }
    case K_TASK_STATE:
        return set_enum((uint8_t *)dst, o, ipd_task_state_parse);
    case K_JOB_STATE:
        return set_enum((uint8_t *)dst, o, ipd_job_state_parse);
    case K_POLICY:
        return set_enum((uint8_t *)dst, o, ipd_pull_policy_parse);
    case K_CAUSE:
        return set_enum((uint8_t *)dst, o, ipd_cause_parse);
    case K_MAP:
        return decode_map(o, f->sub, dst, NULL);
    }
    return IPD_EINVAL;
}

/* Applies the known keys of a map to `base`; `required` names a key that must be present. */
static int decode_map(const msgpack_object *obj, const field_t *fields, void *base, const char *required)
{
    int found = required == NULL;
    if (obj->type != MSGPACK_OBJECT_MAP)
        return IPD_EINVAL;
    size_t nfields = 0;
    while (fields[nfields].key != NULL)
        nfields++;
    /*
     * Keys are looked up starting after the field the previous key matched: the encoder writes
     * them in table order, so each key matches at the first comparison instead of after a scan
     * of the table (a remote record is decoded for every Stream entry a daemon applies). Keys
     * are unique in each table, so the match is the same whatever the order.
     */
    size_t hint = 0;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key, *v = &obj->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0) /* no field has an empty key */
            continue;
        for (size_t t = 0; t < nfields; t++) {
            size_t at = hint + t < nfields ? hint + t : hint + t - nfields;
            const field_t *f = &fields[at];
            if (f->key[0] != k->via.str.ptr[0] || strlen(f->key) != k->via.str.size ||
                memcmp(f->key, k->via.str.ptr, k->via.str.size) != 0)
                continue;
            int rc = set_field(f, v, (char *)base + f->off);
            if (rc != 0)
                return rc;
            if (required != NULL && strcmp(f->key, required) == 0 && v->type != MSGPACK_OBJECT_NIL)
                found = 1;
            hint = at + 1 < nfields ? at + 1 : 0;
            break;
        }
    }
    return found ? 0 : IPD_EINVAL;
}

static void job_defaults(ipd_job_t *job)
{
    memset(job, 0, sizeof(*job));
    job->spec.ttl_seconds_after_finished = -1;
}

/* Checks the bytes, then unpacks them into `up` (the caller destroys it). */
static int unpack(msgpack_unpacked *up, const void *data, size_t len, const ipd_msgpack_limits_t *limits)
{
    size_t off = 0;
    int rc = ipd_msgpack_check(data, len, limits);
    msgpack_unpacked_init(up);
    if (rc != 0)
        return rc;
    switch (msgpack_unpack_next(up, data, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        return off == len ? 0 : IPD_EINVAL;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return -ENOMEM;
    default:
        return IPD_EINVAL;
    }
}

static const ipd_msgpack_limits_t record_limits = {IPD_MSGPACK_RECORD_MAX, IPD_MSGPACK_DEPTH_MAX,
                                                   IPD_MSGPACK_ITEMS_MAX};

int ipd_msgpack_decode_task(const void *data, size_t len, ipd_task_t *task)
{
    msgpack_unpacked up;
    ipd_task_t t;
    ipd_task_init(&t, "", IPD_TIME_NULL);
    int rc = unpack(&up, data, len, &record_limits);
    if (rc == 0)
        rc = decode_map(&up.data, task_fields, &t, "node");
    msgpack_unpacked_destroy(&up);
    if (rc == 0)
        *task = t;
    return rc;
}

int ipd_msgpack_decode_job(const void *data, size_t len, ipd_job_t *job)
{
    msgpack_unpacked up;
    ipd_job_t j;
    job_defaults(&j);
    int rc = unpack(&up, data, len, &record_limits);
    if (rc == 0)
        rc = decode_map(&up.data, job_fields, &j, "id");
    msgpack_unpacked_destroy(&up);
    if (rc == 0)
        *job = j;
    return rc;
}

static int decode_change(const msgpack_object *obj, ipd_job_t *job, ipd_task_t *tasks, size_t cap, size_t *ntasks)
{
    const msgpack_object *jobobj = NULL, *arr = NULL;
    if (obj->type != MSGPACK_OBJECT_MAP)
        return IPD_EINVAL;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 3 && memcmp(k->via.str.ptr, "job", 3) == 0)
            jobobj = &obj->via.map.ptr[i].val;
        else if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 5 && memcmp(k->via.str.ptr, "tasks", 5) == 0)
            arr = &obj->via.map.ptr[i].val;
    }
    if (jobobj == NULL || (arr != NULL && arr->type != MSGPACK_OBJECT_ARRAY && arr->type != MSGPACK_OBJECT_NIL))
        return IPD_EINVAL;
    job_defaults(job);
    int rc = decode_map(jobobj, job_fields, job, "id");
    if (rc != 0)
        return rc;
    size_t n = arr != NULL && arr->type == MSGPACK_OBJECT_ARRAY ? arr->via.array.size : 0;
    if (n > cap)
        return IPD_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        ipd_task_init(&tasks[i], "", IPD_TIME_NULL);
        if ((rc = decode_map(&arr->via.array.ptr[i], task_fields, &tasks[i], "node")) != 0)
            return rc;
    }
    *ntasks = n;
    return 0;
}

int ipd_msgpack_decode_change(const void *data, size_t len, ipd_job_t *job, ipd_task_t *tasks, size_t cap,
                              size_t *ntasks)
{
    msgpack_unpacked up;
    ipd_msgpack_limits_t limits = record_limits;
    *ntasks = 0;
    limits.max_size = cap < SIZE_MAX / IPD_MSGPACK_RECORD_MAX - 1 ? IPD_MSGPACK_RECORD_MAX * (cap + 1) : SIZE_MAX;
    if (cap > limits.max_items)
        limits.max_items = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
    int rc = unpack(&up, data, len, &limits);
    if (rc == 0)
        rc = decode_change(&up.data, job, tasks, cap, ntasks);
    msgpack_unpacked_destroy(&up);
    return rc;
}
