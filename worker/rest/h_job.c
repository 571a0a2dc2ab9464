#include "worker/rest/rest.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json.h"
#include "proto/pull_request.h"
#include "shared/log.h"
#include "shared/pulljobs.h"

/*
 * A Kubernetes operation started for a request. Lives in the request's pool; if the request
 * is disposed first (the client went away), the operation is aborted and never calls back.
 *
 * Read-your-writes. The table learns of a created or cancelled Kubernetes Job through the
 * master's watch, tens of milliseconds after the API server answered. So the 202 waits until
 * the table shows the change (every created job present; the cancelled job final), checked
 * on each ring record that names one of the ids, or until op_visible_timeout passes: a client
 * that follows the answer with GET pull-jobs/{id} or a watch then finds what it was told.
 */
enum { AWAIT_NONE, AWAIT_PRESENT, AWAIT_FINAL };

struct pending_op {
    ipd_worker_t *w;
    h2o_req_t *req;
    ipd_pull_op_t *op; /* NULL once the callback ran */
    char id[IPD_JOB_ID_SIZE];
    /* While the answer waits for the table (await != AWAIT_NONE): */
    int await;
    char (*ids)[IPD_JOB_ID_SIZE]; /* in the request's pool */
    size_t nids;
    h2o_iovec_t body;           /* POST: the answer, in the request's pool */
    size_t res_jobs, res_tasks; /* POST: room reserved in the table until it shows the jobs */
    h2o_linklist_t link;        /* in w->awaiting */
    h2o_timeout_entry_t timeout;
};

static void stop_waiting(struct pending_op *o)
{
    if (h2o_linklist_is_linked(&o->link))
        h2o_linklist_unlink(&o->link);
    if (h2o_timeout_is_linked(&o->timeout))
        h2o_timeout_unlink(&o->timeout);
    o->await = AWAIT_NONE;
}

/* Gives back the table room a POST reserved (admission.c): the table shows its jobs, or never will. */
static void release(struct pending_op *o)
{
    ipd_worker_admit_release(o->w, o->res_jobs, o->res_tasks);
    o->res_jobs = o->res_tasks = 0;
}

static void on_op_dispose(void *p)
{
    struct pending_op *o = p;
    release(o);
    if (o->op != NULL)
        ipd_pull_abort(o->op);
    o->op = NULL;
    stop_waiting(o);
}

static struct pending_op *new_op(ipd_worker_t *w, h2o_req_t *req)
{
    struct pending_op *o = h2o_mem_alloc_shared(&req->pool, sizeof(*o), on_op_dispose);
    memset(o, 0, sizeof(*o));
    o->w = w;
    o->req = req;
    return o;
}

/* The answer for a failed operation: 400 for what the client can fix, 503 for the cluster. */
static void send_failure(ipd_worker_t *w, h2o_req_t *req, const ipd_pull_result_t *res)
{
    char msg[512];
    const char *why = res->message != NULL ? res->message : ipd_strerror(res->error);
    if (res->error == IPD_EFULL) {
        uint64_t ms = w->cfg->table_full_retry_after_ms;
        ipd_worker_send_unavailable(req, "table_full", why, (int)((ms + 999) / 1000));
        return;
    }
    if (res->error == IPD_EBUSY) {
        ipd_worker_send_unavailable(req, "not_ready", why, 1);
        return;
    }
    if (res->error == IPD_EINVAL || res->error == IPD_ETOOBIG ||
        (res->error == IPD_EREMOTE && (res->status == 400 || res->status == 422))) {
        ipd_worker_send_error(req, 400, why);
        return;
    }
    /*
     * The client's own retries ran out (or the apiserver is unreachable): the client is told when
     * to come back, as the apiserver told us (capped at kube_retry_max_wait), else after
     * IPD_KUBE_UNAVAILABLE_RETRY_AFTER_S.
     */
    uint64_t ms = res->retry_after_ms;
    if (ms > w->cfg->kube_retry_max_wait_ms)
        ms = w->cfg->kube_retry_max_wait_ms;
    int after = ms > 0 ? (int)((ms + 999) / 1000) : IPD_KUBE_UNAVAILABLE_RETRY_AFTER_S;
    snprintf(msg, sizeof(msg), "Kubernetes API: %s", why);
    ipd_worker_send_unavailable(req, "unavailable", msg, after);
}

/* Adds the Kubernetes client's retries since the last call to this worker's counters. */
static void count_kube_retries(ipd_worker_t *w)
{
    if (w->kube == NULL)
        return;
    uint64_t now[2] = {ipd_kube_retries_429(w->kube), ipd_kube_retries(w->kube) - ipd_kube_retries_429(w->kube)};
    static const ipd_stats_counter_t slot[2] = {IPD_STATS_KUBE_RETRIES_429, IPD_STATS_KUBE_RETRIES_503};
    for (int i = 0; i < 2; i++) {
        if (now[i] > w->kube_retries_counted[i])
            atomic_fetch_add_explicit(&w->stats->c[slot[i]], now[i] - w->kube_retries_counted[i], memory_order_relaxed);
        w->kube_retries_counted[i] = now[i];
    }
}

/* Sends a Job from the table, or `missing_status` when it is not there. */
static void send_job(ipd_worker_t *w, h2o_req_t *req, const char *id, int status, int missing_status)
{
    ipd_table_job_view_t view;
    ipd_buf_t body;
    char msg[128];
    int rc = ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view);
    if (rc == IPD_ENOTFOUND) {
        snprintf(msg, sizeof(msg), "no pull job %s", id);
        ipd_worker_send_error(req, missing_status, msg);
        return;
    }
    ipd_buf_init(&body);
    if (rc == 0)
        rc = ipd_worker_append_job(&view, &body);
    if (rc != 0)
        ipd_worker_send_error(req, rc == IPD_EBUSY ? 503 : 500, ipd_strerror(rc));
    else
        ipd_worker_send_json(req, status, body.data, body.len);
    ipd_buf_dispose(&body);
}

/*
 * Answers GET pull-jobs/{id} from the worker's job cache: the document of one job copy (keyed
 * by id and the generation the copy was written at) is encoded, and gzip'd on first demand,
 * once, then shared by every answer until the job changes. A 5 000-task job is 12 MB of task
 * records to copy and about 1 MB of JSON to encode: per request that held the endpoint to a
 * few dozen answers per second. Only the job record is read to find the cached copy; the key
 * holds the job's version and the generation its record was written at, so any rewrite of the
 * job misses.
 */
void ipd_worker_get_job(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    char etag[IPD_HTTP_ETAG_SIZE + IPD_JOB_ID_SIZE], key[IPD_JOB_ID_SIZE + 48];
    ipd_table_job_view_t view = {.job = &w->job};
    ipd_table_t *t = ipd_worker_table(w);
    if (t == NULL) {
        ipd_worker_send_error(req, 503, "the job table is not available yet");
        return;
    }
    if (ipd_table_get_job(t, id, &view) != 0) {
        send_job(w, req, id, 200, 404); /* not there (404) or unreadable (503), as before */
        return;
    }
    /* A per-job tag: it changes with the job's version only, so pollers of one job get 304s. */
    uint64_t epoch = ipd_table_epoch(t);
    snprintf(etag, sizeof(etag), "\"%016llx-%s-%llu\"", (unsigned long long)epoch, view.job->id,
             (unsigned long long)view.job->version);
    if (ipd_worker_not_modified(req, etag))
        return;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, h2o_strdup(&req->pool, etag, SIZE_MAX).base,
                   strlen(etag), 1);
    int keylen = snprintf(key, sizeof(key), "%s/%llu/%llu", view.job->id, (unsigned long long)view.job->version,
                          (unsigned long long)view.stamp);
    ipd_worker_doc_t *doc = ipd_worker_cache_get(&w->job_cache, key, (size_t)keylen, epoch, 0);
    if (doc != NULL) {
        ipd_worker_send_doc(req, 200, doc);
        return;
    }
    int rc = ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view);
    if (rc == IPD_ENOTFOUND) {
        send_job(w, req, id, 200, 404);
        return;
    }
    if (rc == 0 && (doc = ipd_worker_doc_create()) == NULL)
        rc = -ENOMEM;
    if (rc == 0 && (rc = ipd_worker_append_job(&view, &doc->body[IPD_DOC_JSON][IPD_DOC_IDENTITY])) == 0) {
        /* The copy read may be newer than the record above: key it by its own generation. */
        keylen = snprintf(key, sizeof(key), "%s/%llu/%llu", view.job->id, (unsigned long long)view.job->version,
                          (unsigned long long)view.stamp);
        ipd_worker_cache_put(&w->job_cache, key, (size_t)keylen, epoch, 0, doc);
        ipd_worker_send_doc(req, 200, doc);
    } else {
        ipd_worker_send_error(req, rc == IPD_EBUSY ? 503 : 500, ipd_strerror(rc));
    }
    ipd_worker_doc_release(doc);
}

/* Whether the table shows what the operation did to `id`. */
static int shows(ipd_worker_t *w, int await, const char *id)
{
    ipd_table_job_view_t view;
    int rc = ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view);
    if (await == AWAIT_PRESENT)
        return rc == 0;
    return rc == IPD_ENOTFOUND || (rc == 0 && ipd_job_state_is_final((ipd_job_state_t)view.job->state));
}

/* Sends the answer the operation owes (202), now that the table shows it or the wait is over. */
static void answer(struct pending_op *o)
{
    int await = o->await;
    stop_waiting(o);
    release(o);
    if (await == AWAIT_FINAL)
        send_job(o->w, o->req, o->id, 202, 404);
    else
        ipd_worker_send_json(o->req, 202, o->body.base, o->body.len);
}

/* Drops the ids the table already shows; answers when none is left. */
static void recheck(struct pending_op *o)
{
    for (size_t i = 0; i < o->nids;) {
        if (shows(o->w, o->await, o->ids[i]))
            memcpy(o->ids[i], o->ids[--o->nids], sizeof(o->ids[i]));
        else
            i++;
    }
    if (o->nids == 0)
        answer(o);
}

static void on_await_timeout(h2o_timeout_entry_t *entry)
{
    struct pending_op *o = H2O_STRUCT_FROM_MEMBER(struct pending_op, timeout, entry);
    ipd_info("worker", "answering %s after op_visible_timeout: the table does not show it yet",
             o->await == AWAIT_FINAL ? o->id : o->ids[0]);
    answer(o);
}

static void await_table(struct pending_op *o, int await)
{
    ipd_worker_t *w = o->w;
    o->await = await;
    recheck(o);
    if (o->await == AWAIT_NONE)
        return; /* answered */
    if (w->cfg->op_visible_timeout_ms == 0 || ipd_worker_table(w) == NULL) {
        answer(o);
        return;
    }
    h2o_linklist_insert(&w->awaiting, &o->link);
    o->timeout.cb = on_await_timeout;
    h2o_timeout_link(w->loop, &w->await_timeout, &o->timeout);
}

/* Ring observer: a record naming an id an answer waits for may complete it. */
static void on_ring_change(ipd_worker_t *w, const ipd_ring_entry_t *e, void *data)
{
    (void)data;
    for (h2o_linklist_t *l = w->awaiting.next, *next; l != &w->awaiting; l = next) {
        next = l->next;
        struct pending_op *o = H2O_STRUCT_FROM_MEMBER(struct pending_op, link, l);
        for (size_t i = 0; i < o->nids; i++) {
            if (strcmp(o->ids[i], e->id) == 0) {
                recheck(o);
                break;
            }
        }
    }
}

/* After an overrun or a new table every waiting answer is checked again. */
static void on_ring_resync(ipd_worker_t *w, void *data)
{
    (void)data;
    for (h2o_linklist_t *l = w->awaiting.next, *next; l != &w->awaiting; l = next) {
        next = l->next;
        recheck(H2O_STRUCT_FROM_MEMBER(struct pending_op, link, l));
    }
}

int ipd_worker_ops_start(ipd_worker_t *w)
{
    h2o_linklist_init_anchor(&w->awaiting);
    h2o_timeout_init(w->loop, &w->await_timeout, w->cfg->op_visible_timeout_ms);
    ipd_worker_observer_t o = {on_ring_change, on_ring_resync, NULL};
    return ipd_worker_observe(w, &o);
}

static void on_cancelled(const ipd_pull_result_t *res, void *data)
{
    struct pending_op *o = data;
    o->op = NULL;
    count_kube_retries(o->w);
    if (res->error != 0 && res->error != IPD_ENOTFOUND) {
        send_failure(o->w, o->req, res);
        return;
    }
    ipd_info("worker", "pull job %s cancelled (%zu Kubernetes Jobs deleted)", o->id, res->deleted);
    o->ids = h2o_mem_alloc_pool(&o->req->pool, sizeof(*o->ids));
    memcpy(o->ids[0], o->id, sizeof(o->id));
    o->nids = 1;
    await_table(o, AWAIT_FINAL);
}

void ipd_worker_delete_job(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    ipd_table_job_view_t view;
    char msg[160];
    if (ipd_worker_table(w) == NULL) {
        ipd_worker_send_error(req, 503, "the job table is not available yet");
        return;
    }
    int rc = ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), rc == IPD_ENOTFOUND ? "no pull job %s" : "reading pull job %s failed", id);
        ipd_worker_send_error(req, rc == IPD_ENOTFOUND ? 404 : 503, msg);
        return;
    }
    if (ipd_job_state_is_final((ipd_job_state_t)view.job->state)) {
        snprintf(msg, sizeof(msg), "pull job %s is already %s", id, ipd_job_state_name(view.job->state));
        ipd_worker_send_error(req, 409, msg);
        return;
    }
    if (w->kube == NULL) {
        ipd_worker_send_error(req, 503, w->kube_error);
        return;
    }
    struct pending_op *o = new_op(w, req);
    snprintf(o->id, sizeof(o->id), "%s", id);
    if ((rc = ipd_pull_cancel(w->kube, w->cfg->namespace, id, on_cancelled, o, &o->op)) != 0) {
        o->op = NULL;
        snprintf(msg, sizeof(msg), "cancelling %s: %s", id, ipd_strerror(rc));
        ipd_worker_send_error(req, 503, msg);
    }
}

static int on_admit(void *data, size_t njobs, size_t ntasks, char *msg, size_t cap)
{
    struct pending_op *o = data;
    int rc = ipd_worker_admit(o->w, njobs, ntasks, msg, cap);
    if (rc == 0) {
        o->res_jobs = njobs;
        o->res_tasks = ntasks;
    }
    return rc;
}

static void on_created(const ipd_pull_result_t *res, void *data)
{
    struct pending_op *o = data;
    ipd_buf_t body;
    o->op = NULL;
    count_kube_retries(o->w);
    if (res->error != 0) {
        release(o);
        send_failure(o->w, o->req, res);
        return;
    }
    ipd_buf_init(&body);
    int rc = ipd_buf_append_str(&body, "{\"jobs\":[");
    for (size_t i = 0; rc == 0 && i < res->njobs; i++) {
        if (i > 0)
            rc = ipd_buf_append_char(&body, ',');
        if (rc == 0)
            rc = ipd_json_encode_job(&body, &res->jobs[i].job, res->jobs[i].tasks, res->jobs[i].ntasks);
        ipd_info("worker", "pull job %s created: %s on %zu nodes", res->jobs[i].job.id, res->jobs[i].job.image,
                 res->jobs[i].ntasks);
    }
    if (rc == 0)
        rc = ipd_buf_append_str(&body, "]}");
    if (rc != 0) {
        ipd_buf_dispose(&body);
        ipd_worker_send_error(o->req, 500, "out of memory");
        return;
    }
    o->body = h2o_strdup(&o->req->pool, body.data, body.len);
    ipd_buf_dispose(&body);
    o->ids = h2o_mem_alloc_pool(&o->req->pool, sizeof(*o->ids) * (res->njobs != 0 ? res->njobs : 1));
    for (size_t i = 0; i < res->njobs; i++)
        snprintf(o->ids[i], sizeof(o->ids[i]), "%s", res->jobs[i].job.id);
    o->nids = res->njobs;
    await_table(o, AWAIT_PRESENT);
}

/* Checks the request's Content-Type and size; answers and returns -1 when they are wrong. */
static int check_body(ipd_worker_t *w, h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0 || !ipd_http_is_json_type(req->headers.entries[i].value.base, req->headers.entries[i].value.len)) {
        ipd_worker_send_error(req, 415, "Content-Type must be application/json");
        return -1;
    }
    if (req->entity.len > w->cfg->max_request_body) {
        ipd_worker_send_error(req, 413, "request body is larger than max_request_body");
        return -1;
    }
    return 0;
}

void ipd_worker_post_pull(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    ipd_pull_request_t preq;
    char msg[512];
    if (check_body(w, req) != 0)
        return;
    ipd_pull_limits_t limits = {IPD_WORKER_MAX_IMAGES, (size_t)w->cfg->max_nodes_per_job,
                                IPD_WORKER_MAX_SELECTOR_TERMS};
    memset(&preq, 0, sizeof(preq));
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    if (ipd_pull_request_parse(body, req->entity.len, &limits, &preq, msg, sizeof(msg)) != 0) {
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    if (w->kube == NULL) {
        ipd_pull_request_dispose(&preq);
        ipd_worker_send_error(req, 503, w->kube_error);
        return;
    }
    const char *tolerations[IPD_CONFIG_MAX_TOLERS];
    ipd_kube_pod_config_t pod = ipd_pull_pod_config(w->cfg, tolerations);
    struct pending_op *o = new_op(w, req);
    ipd_pull_options_t opts = {.ns = w->cfg->namespace,
                               .max_nodes = (size_t)w->cfg->max_nodes_per_job,
                               .pod = &pod,
                               .max_images = IPD_WORKER_MAX_IMAGES,
                               .admit = on_admit,
                               .admit_data = o,
                               .slots_in_redis = w->cfg->scope == IPD_SCOPE_NODE && w->cfg->redis[0] != '\0'};
    int rc = ipd_pull_create(w->kube, &preq, &opts, on_created, o, &o->op);
    ipd_pull_request_dispose(&preq);
    if (rc == IPD_ETOOBIG) {
        o->op = NULL;
        ipd_worker_send_error(req, 400, "keep: the node selection is too long to keep (2047 bytes of JSON at most)");
    } else if (rc != 0) {
        o->op = NULL;
        snprintf(msg, sizeof(msg), "creating the pull jobs: %s", ipd_strerror(rc));
        ipd_worker_send_error(req, 503, msg);
    }
}
