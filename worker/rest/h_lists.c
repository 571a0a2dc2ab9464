#include "worker/rest/rest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json.h"

/* Builds a list document into `out`; returns 0, or an HTTP status with `msg` set. */
typedef int (*build_fn)(ipd_worker_t *w, const void *arg, uint64_t epoch, uint64_t generation, ipd_buf_t *out,
                        char *msg, size_t msgcap);

/* Maps a table read error to an HTTP status and message. */
static int read_failure(int rc, char *msg, size_t msgcap)
{
    if (rc == IPD_EBUSY) {
        snprintf(msg, msgcap, "the job table is being rewritten too fast to read; retry");
        return 503;
    }
    snprintf(msg, msgcap, "reading the job table: %s", ipd_strerror(rc));
    return 500;
}

/* Appends the job of `view` to the list (inline JSON as it is, or freshly encoded). */
static int add_job(ipd_json_list_t *list, const ipd_table_job_view_t *view, ipd_buf_t *tmp)
{
    if (view->has_json && view->json_len > 0)
        return ipd_json_list_add(list, view->json, view->json_len);
    ipd_buf_reset(tmp);
    int rc = ipd_worker_append_job(view, tmp);
    return rc != 0 ? rc : ipd_json_list_add(list, tmp->data, tmp->len);
}

/* The active (want_failed 0) or failed list, at most `limit` jobs, skipping jobs that moved on. */
static int build_list(ipd_worker_t *w, ipd_table_list_kind_t kind, size_t limit, uint64_t epoch, uint64_t gen,
                      ipd_buf_t *out, char *msg, size_t msgcap)
{
    ipd_json_list_t list;
    ipd_table_job_view_t view;
    ipd_buf_t tmp;
    ssize_t n = ipd_worker_read_list(w, kind, NULL);
    if (n < 0)
        return read_failure((int)n, msg, msgcap);
    int rc = ipd_json_list_begin(&list, out, epoch, gen);
    ipd_buf_init(&tmp);
    for (ssize_t i = 0; rc == 0 && i < n && list.count < limit; i++) {
        rc = ipd_worker_read_job(w, NULL, w->refs[i], &view);
        if (rc == IPD_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        int final = ipd_job_state_is_final((ipd_job_state_t)view.job->state);
        if (kind == IPD_TABLE_LIST_ACTIVE ? final : view.job->state != IPD_JOB_FAILED)
            continue;
        rc = add_job(&list, &view, &tmp);
    }
    ipd_buf_dispose(&tmp);
    if (rc == 0)
        rc = ipd_json_list_end(&list, NULL);
    return rc == 0 ? 0 : read_failure(rc, msg, msgcap);
}

static int build_active(ipd_worker_t *w, const void *arg, uint64_t epoch, uint64_t gen, ipd_buf_t *out, char *msg,
                        size_t msgcap)
{
    (void)arg;
    return build_list(w, IPD_TABLE_LIST_ACTIVE, SIZE_MAX, epoch, gen, out, msg, msgcap);
}

static int build_failed(ipd_worker_t *w, const void *arg, uint64_t epoch, uint64_t gen, ipd_buf_t *out, char *msg,
                        size_t msgcap)
{
    const ipd_http_failed_query_t *q = arg;
    return build_list(w, IPD_TABLE_LIST_FAILED, q->limit, epoch, gen, out, msg, msgcap);
}

/* Answers from the cache, building the document on a miss; 304 when the client has this generation. */
static void serve(ipd_worker_t *w, h2o_req_t *req, const char *key, size_t keylen, build_fn build, const void *arg)
{
    char msg[256], etag[IPD_HTTP_ETAG_SIZE];
    ipd_table_t *t = ipd_worker_table(w);
    /* A list of a table the master has not filled from Kubernetes yet would pass for the truth. */
    const char *why = ipd_worker_table_not_ready(w);
    if (why != NULL) {
        ipd_worker_send_unavailable(req, "not_ready", why, 1);
        return;
    }
    ipd_worker_ring_poll(w);
    uint64_t epoch = ipd_table_epoch(t), gen = ipd_table_generation(t);
    /* A cached document carries this generation's ETag already: no formatting per request. */
    ipd_worker_doc_t *doc = ipd_worker_cache_get(&w->cache, key, keylen, epoch, gen);
    if (doc != NULL) {
        if (!ipd_worker_not_modified(req, doc->etag))
            ipd_worker_send_doc(req, 200, doc);
        return;
    }
    ipd_http_etag_format(epoch, gen, etag);
    if (ipd_worker_not_modified(req, etag))
        return;
    if ((doc = ipd_worker_doc_create()) == NULL) {
        ipd_worker_send_error(req, 500, "out of memory");
        return;
    }
    int status = build(w, arg, epoch, gen, &doc->body[IPD_DOC_JSON][IPD_DOC_IDENTITY], msg, sizeof(msg));
    if (status != 0) {
        ipd_worker_doc_release(doc);
        ipd_worker_send_error(req, status, msg);
        return;
    }
    memcpy(doc->etag, etag, sizeof(etag));
    ipd_worker_cache_put(&w->cache, key, keylen, epoch, gen, doc);
    ipd_worker_send_doc(req, 200, doc);
    ipd_worker_doc_release(doc);
}

void ipd_worker_get_active(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    h2o_iovec_t q = ipd_worker_query(req);
    ipd_http_param_t p;
    size_t pos = 0;
    char msg[128];
    if (ipd_http_query_next(q.base, q.len, &pos, &p)) {
        snprintf(msg, sizeof(msg), "%.*s: unknown parameter", (int)(p.name_len > 64 ? 64 : p.name_len), p.name);
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    serve(w, req, H2O_STRLIT("active"), build_active, NULL);
}

void ipd_worker_get_failed(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    h2o_iovec_t q = ipd_worker_query(req);
    ipd_http_failed_query_t fq;
    char msg[256], key[32];
    if (ipd_http_parse_failed_query(q.base, q.len, &fq, msg, sizeof(msg)) != 0) {
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    int n = snprintf(key, sizeof(key), "failed:%u", fq.limit);
    serve(w, req, key, (size_t)n, build_failed, &fq);
}

/* ---- GET /api/v1/images/pull-jobs ---- */

struct jobs_args {
    ipd_http_jobs_query_t q;
    ipd_http_cursor_t cursor;
    int has_cursor;
};

struct candidate {
    int64_t created_at;
    char id[IPD_JOB_ID_SIZE];
};

static int cmp_candidates(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    return ipd_http_cursor_cmp(x->created_at, x->id, y->created_at, y->id);
}

/* True when a task of the job has one of the causes in `mask`. */
static int has_cause(const ipd_table_job_view_t *v, unsigned mask)
{
    for (size_t i = 0; i < v->ntasks; i++)
        if (v->tasks[i].cause < IPD_CAUSE_COUNT && (mask & (1u << v->tasks[i].cause)) != 0)
            return 1;
    return 0;
}

static int matches(const struct jobs_args *a, const ipd_table_job_view_t *v)
{
    if (a->q.states != 0 && !(a->q.states & (1u << v->job->state)))
        return 0;
    if (a->q.image[0] != '\0' && strncmp(a->q.image, v->job->image, IPD_IMAGE_SIZE) != 0)
        return 0;
    if (a->has_cursor && ipd_http_cursor_cmp(v->job->created_at, v->job->id, a->cursor.created_at, a->cursor.id) <= 0)
        return 0;
    if (a->q.causes != 0 && !has_cause(v, a->q.causes))
        return 0;
    if (a->q.node[0] == '\0')
        return 1;
    for (size_t i = 0; i < v->ntasks; i++)
        if (strncmp(v->tasks[i].node, a->q.node, IPD_NODE_SIZE) == 0)
            return 1;
    return 0;
}

/* Collects the catalogue's jobs that match, in (created_at, id) order. Returns the count or a negative code. */
static ssize_t collect(ipd_worker_t *w, const struct jobs_args *a, struct candidate **out)
{
    ipd_table_job_view_t view;
    size_t n = 0;
    struct candidate *c = malloc((w->catalog.nslots + 1) * sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    for (uint32_t s = 0; s < w->catalog.nslots; s++) {
        if (w->catalog.ids[s][0] == '\0')
            continue;
        int rc = ipd_worker_read_job(w, w->catalog.ids[s], (ipd_table_ref_t){0, 0}, &view);
        if (rc == IPD_ENOTFOUND)
            continue;
        if (rc != 0) {
            free(c);
            return rc;
        }
        if (!matches(a, &view))
            continue;
        c[n].created_at = view.job->created_at;
        memcpy(c[n++].id, view.job->id, IPD_JOB_ID_SIZE);
    }
    qsort(c, n, sizeof(*c), cmp_candidates);
    *out = c;
    return (ssize_t)n;
}

static int build_jobs(ipd_worker_t *w, const void *arg, uint64_t epoch, uint64_t gen, ipd_buf_t *out, char *msg,
                      size_t msgcap)
{
    const struct jobs_args *a = arg;
    struct candidate *c = NULL;
    ipd_table_job_view_t view;
    ipd_json_list_t list;
    ipd_buf_t tmp;
    ssize_t n = collect(w, a, &c);
    if (n < 0)
        return read_failure((int)n, msg, msgcap);
    size_t last = 0, take = (size_t)n < a->q.limit ? (size_t)n : a->q.limit;
    int rc = ipd_json_list_begin(&list, out, epoch, gen);
    ipd_buf_init(&tmp);
    for (size_t i = 0; rc == 0 && i < take; i++) {
        rc = ipd_worker_read_job(w, c[i].id, (ipd_table_ref_t){0, 0}, &view);
        if (rc == 0)
            rc = add_job(&list, &view, &tmp);
        else if (rc == IPD_ENOTFOUND)
            rc = 0; /* deleted since it was collected */
        last = i;
    }
    ipd_buf_dispose(&tmp);
    char token[IPD_HTTP_CURSOR_MAX + 1];
    if (rc == 0 && (size_t)n > take) {
        ipd_http_cursor_t next = {.epoch = epoch, .created_at = c[last].created_at};
        memcpy(next.id, c[last].id, IPD_JOB_ID_SIZE);
        rc = ipd_http_cursor_encode(&next, token, sizeof(token)) < 0 ? -ENOMEM : ipd_json_list_end(&list, token);
    } else if (rc == 0) {
        rc = ipd_buf_append_str(out, "],\"continue\":null}");
    }
    free(c);
    return rc == 0 ? 0 : read_failure(rc, msg, msgcap);
}

void ipd_worker_get_jobs(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    h2o_iovec_t q = ipd_worker_query(req);
    struct jobs_args a;
    char msg[256], key[192];
    memset(&a, 0, sizeof(a));
    if (ipd_http_parse_jobs_query(q.base, q.len, &a.q, msg, sizeof(msg)) != 0) {
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    ipd_table_t *t = ipd_worker_table(w);
    if (t != NULL && a.q.cont[0] != '\0') {
        int rc = ipd_http_cursor_decode(a.q.cont, strlen(a.q.cont), ipd_table_epoch(t), &a.cursor);
        if (rc != 0) {
            ipd_worker_send_error(req, 400,
                                  rc == -2 ? "continue: the token is from another table epoch; list again "
                                             "from the start"
                                           : "continue: malformed or altered token");
            return;
        }
        a.has_cursor = 1;
    }
    int n = snprintf(key, sizeof(key), "jobs:%.*s", (int)q.len, q.base);
    serve(w, req, key, n > 0 && (size_t)n < sizeof(key) ? (size_t)n : sizeof(key) + 1, build_jobs, &a);
}
