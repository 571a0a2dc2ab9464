#include "worker/internal.h"

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
 */
struct pending_op {
    ipd_worker_t *w;
    h2o_req_t *req;
    ipd_pull_op_t *op; /* NULL once the callback ran */
    char id[IPD_JOB_ID_SIZE];
};

static void on_op_dispose(void *p)
{
    struct pending_op *o = p;
    if (o->op != NULL)
        ipd_pull_abort(o->op);
    o->op = NULL;
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
static void send_failure(h2o_req_t *req, const ipd_pull_result_t *res)
{
    char msg[512];
    const char *why = res->message != NULL ? res->message : ipd_strerror(res->error);
    if (res->error == IPD_EINVAL || res->error == IPD_ETOOBIG ||
        (res->error == IPD_EREMOTE && (res->status == 400 || res->status == 422))) {
        ipd_worker_send_error(req, 400, why);
        return;
    }
    snprintf(msg, sizeof(msg), "Kubernetes API: %s", why);
    ipd_worker_send_error(req, 503, msg);
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

void ipd_worker_get_job(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    char etag[IPD_HTTP_ETAG_SIZE + IPD_JOB_ID_SIZE];
    ipd_table_job_view_t view;
    if (ipd_worker_table(w) == NULL) {
        ipd_worker_send_error(req, 503, "the job table is not available yet");
        return;
    }
    /* A per-job tag: it changes with the job's version only, so pollers of one job get 304s. */
    if (ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view) == 0) {
        snprintf(etag, sizeof(etag), "\"%016llx-%s-%llu\"", (unsigned long long)ipd_table_epoch(w->table),
                 view.job->id, (unsigned long long)view.job->version);
        if (ipd_worker_not_modified(req, etag))
            return;
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, h2o_strdup(&req->pool, etag, SIZE_MAX).base,
                       strlen(etag), 1);
    }
    send_job(w, req, id, 200, 404);
}

static void on_cancelled(const ipd_pull_result_t *res, void *data)
{
    struct pending_op *o = data;
    o->op = NULL;
    if (res->error != 0 && res->error != IPD_ENOTFOUND) {
        send_failure(o->req, res);
        return;
    }
    ipd_info("worker", "pull job %s cancelled (%zu Kubernetes Jobs deleted)", o->id, res->deleted);
    send_job(o->w, o->req, o->id, 202, 404);
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

static void on_created(const ipd_pull_result_t *res, void *data)
{
    struct pending_op *o = data;
    ipd_buf_t body;
    o->op = NULL;
    if (res->error != 0) {
        send_failure(o->req, res);
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
    if (rc != 0)
        ipd_worker_send_error(o->req, 500, "out of memory");
    else
        ipd_worker_send_json(o->req, 202, body.data, body.len);
    ipd_buf_dispose(&body);
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

void ipd_worker_post_pull(ipd_worker_t *w, h2o_req_t *req)
{
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
    ipd_pull_options_t opts = {w->cfg->namespace, (size_t)w->cfg->max_nodes_per_job, 0};
    struct pending_op *o = new_op(w, req);
    int rc = ipd_pull_create(w->kube, &preq, &opts, on_created, o, &o->op);
    ipd_pull_request_dispose(&preq);
    if (rc != 0) {
        o->op = NULL;
        snprintf(msg, sizeof(msg), "creating the pull jobs: %s", ipd_strerror(rc));
        ipd_worker_send_error(req, 503, msg);
    }
}
