/* Before the upgrade: validation, limits, resolving the pod, the container check, the upgrade. */
#include "worker/logs/logs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/error.h"
#include "shared/log.h"
#include "worker/http/http.h"

static int namespace_allowed(const ipd_worker_t *w, const char *ns)
{
    for (size_t i = 0; i < w->cfg->log_namespace_count; i++)
        if (strcmp(w->cfg->log_namespace[i], ns) == 0)
            return 1;
    return 0;
}

/* Copies a fixed-size field of a table record, which need not hold a NUL. */
static void copy_field(char *dst, size_t cap, const char *src, size_t srccap)
{
    size_t n = strnlen(src, srccap < cap ? srccap : cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int ipd_logs_read_task(ipd_worker_t *w, const char *job, const char *node, char ns[IPD_NAMESPACE_SIZE],
                       char pod[IPD_POD_SIZE], int *final)
{
    ipd_table_job_view_t view;
    ipd_table_ref_t none = {0, 0};
    if (ipd_worker_table(w) == NULL)
        return IPD_EBUSY;
    int rc = ipd_worker_read_job(w, job, none, &view);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < view.ntasks && i < view.task_cap; i++) {
        const ipd_task_t *t = &view.tasks[i];
        if (strncmp(t->node, node, sizeof(t->node)) != 0)
            continue;
        if (t->ns[0] != '\0')
            copy_field(ns, IPD_NAMESPACE_SIZE, t->ns, sizeof(t->ns));
        else
            copy_field(ns, IPD_NAMESPACE_SIZE, w->cfg->namespace, sizeof(w->cfg->namespace));
        copy_field(pod, IPD_POD_SIZE, t->pod, sizeof(t->pod));
        *final = ipd_task_state_is_final((ipd_task_state_t)t->state);
        return 0;
    }
    return IPD_ENOTFOUND;
}

int ipd_logs_get_pod(ipd_logs_stream_t *s, ipd_kube_done_cb on_done)
{
    char path[IPD_NAMESPACE_SIZE + IPD_POD_SIZE + 32];
    ipd_kube_req_spec_t spec;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", s->ns, s->pod);
    memset(&spec, 0, sizeof(spec));
    spec.path = path;
    spec.timeout_ms = IPD_LOGS_POD_GET_TIMEOUT_MS;
    spec.on_done = on_done;
    spec.data = s;
    return ipd_kube_start(s->w->kube, &spec, &s->kreq);
}

/* The request ended before it was answered (the client left): the stream goes with it. */
static void on_anchor_dispose(void *p)
{
    ipd_logs_anchor_t *a = p;
    ipd_logs_stream_t *s = a->stream;
    if (s != NULL) {
        s->anchor = NULL;
        s->req = NULL;
        ipd_logs_stream_destroy(s);
    }
}

/* Answers the request with an error and drops the stream. */
static void refuse(ipd_logs_stream_t *s, int status, const char *message)
{
    h2o_req_t *req = s->req;
    ipd_logs_stream_destroy(s);
    ipd_worker_send_error(req, status, message);
}

static void upgrade(ipd_logs_stream_t *s, const json_t *pod)
{
    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry); /* the pod read's grace (below) */
    if (ipd_logs_ws_upgrade(s) != 0) {
        refuse(s, 400, "the WebSocket handshake is malformed");
        return;
    }
    ipd_logs_stream_begin(s, pod);
}

static void on_early_answered(h2o_timeout_entry_t *e)
{
    ipd_logs_stream_t *s = H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, flush_entry, e);
    if (s->req == NULL || s->phase != IPD_LOGS_CHECKING || s->early == NULL)
        return; /* the pod read ended first and decided */
    ipd_kube_cancel(s->kreq);
    s->kreq = NULL;
    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry);
    /* With none named the apiserver served the pod's only container, which its answer does not name. */
    snprintf(s->container, sizeof(s->container), "%s", s->q.container);
    if (ipd_logs_ws_upgrade(s) != 0) {
        refuse(s, 400, "the WebSocket handshake is malformed");
        return;
    }
    ipd_logs_stream_begin_answered(s);
}

void ipd_logs_early_answered(ipd_logs_stream_t *s)
{
    if (s->req == NULL || s->phase != IPD_LOGS_CHECKING || h2o_timeout_is_linked(&s->flush_entry))
        return;
    s->flush_entry.cb = on_early_answered;
    h2o_timeout_link(s->w->loop, &s->w->ctx.zero_timeout, &s->flush_entry);
}

static void on_check_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data);

/* Starts the pod read before the upgrade, once. May answer the request and free the stream. */
static void check_pod(ipd_logs_stream_t *s)
{
    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry);
    if (s->req == NULL || s->phase != IPD_LOGS_CHECKING || s->kreq != NULL)
        return;
    if (ipd_logs_get_pod(s, on_check_done) != 0)
        refuse(s, 503, "could not start a request to the Kubernetes API");
}

static void on_check_due(h2o_timeout_entry_t *e)
{
    check_pod(H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, short_entry, e));
}

void ipd_logs_check_pod_soon(ipd_logs_stream_t *s)
{
    if (s->req == NULL || s->phase != IPD_LOGS_CHECKING || s->kreq != NULL)
        return;
    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry);
    s->short_entry.cb = on_check_due;
    h2o_timeout_link(s->w->loop, &s->w->ctx.zero_timeout, &s->short_entry);
}

/* The pod read before the upgrade: a missing pod is waited for; a wrong container is a 400 now. */
static void on_check_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_logs_stream_t *s = data;
    char msg[768], status_msg[256];
    (void)req;
    s->kreq = NULL;
    if (res->error == 0 && res->status == 200) {
        json_t *pod = json_loadb(res->body, res->body_len, 0, NULL);
        if (pod == NULL)
            refuse(s, 503, "the Kubernetes API sent a pod that could not be read");
        else if (ipd_logs_pick_container(pod, s->pod, s->q.container, s->container, msg, sizeof(msg)) != 0)
            refuse(s, 400, msg);
        else
            upgrade(s, pod);
        json_decref(pod);
        return;
    }
    if (res->error == 0 && res->status == 404 && s->task_final) {
        snprintf(msg, sizeof(msg), "job: the pod of job %s on node %s is gone (the task is final)", s->q.job,
                 s->q.node);
        refuse(s, 404, msg);
        return;
    }
    if (res->error == 0 && res->status == 404) {
        upgrade(s, NULL);
        return;
    }
    if (res->error == 0) {
        ipd_logs_status_message(res->body, res->body_len, status_msg, sizeof(status_msg));
        snprintf(msg, sizeof(msg), "reading pod %s/%s: the Kubernetes API answered %ld: %s", s->ns, s->pod, res->status,
                 status_msg);
    } else {
        snprintf(msg, sizeof(msg), "reading pod %s/%s: the Kubernetes API is unreachable: %s", s->ns, s->pod,
                 ipd_logs_transport_text(res->error));
    }
    refuse(s, 503, msg);
}

/* Fills the pod to follow from a pull task and whether the task is final; answers and returns -1 when there is none. */
static int resolve_task(ipd_worker_t *w, h2o_req_t *req, const ipd_logs_query_t *q, char *ns, char *pod, int *final)
{
    char msg[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 96];
    int rc = ipd_logs_read_task(w, q->job, q->node, ns, pod, final);
    if (rc == IPD_ENOTFOUND) {
        snprintf(msg, sizeof(msg), "job: no pull job %s with a task on node %s", q->job, q->node);
        ipd_worker_send_error(req, 404, msg);
        return -1;
    }
    if (rc != 0) {
        ipd_worker_send_error(req, rc == -ENOMEM ? 500 : 503, ipd_strerror(rc));
        return -1;
    }
    if (q->ns[0] != '\0' && strcmp(q->ns, ns) != 0) {
        snprintf(msg, sizeof(msg), "namespace: the task's pod runs in namespace %s", ns);
        ipd_worker_send_error(req, 400, msg);
        return -1;
    }
    return 0;
}

void ipd_logs_handle(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    ipd_logs_query_t q;
    char msg[512], ns[IPD_NAMESPACE_SIZE], pod[IPD_POD_SIZE];
    const char *key, *why;
    int status, final = 0;

    h2o_iovec_t query = ipd_worker_query(req);
    if (ipd_logs_query_parse(query.base, query.len, w->cfg->logs_tail_lines_max, &q, msg, sizeof(msg)) != 0) {
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || key == NULL) {
        ipd_worker_send_error(req, 400, "this endpoint needs a WebSocket handshake over HTTP/1.1");
        return;
    }
    if (w->kube == NULL) {
        ipd_worker_send_error(req, 503, w->kube_error[0] ? w->kube_error : "no Kubernetes client");
        return;
    }
    if (q.job[0] != '\0') {
        if (resolve_task(w, req, &q, ns, pod, &final) != 0)
            return;
    } else {
        snprintf(ns, sizeof(ns), "%s", q.ns[0] != '\0' ? q.ns : w->cfg->namespace);
        memcpy(pod, q.pod, sizeof(pod));
    }
    if (!namespace_allowed(w, ns)) {
        snprintf(msg, sizeof(msg), "namespace: pod logs of namespace %s are not served (log_namespace)", ns);
        ipd_worker_send_error(req, 400, msg);
        return;
    }
    ipd_logs_stream_t *s = ipd_logs_stream_create(w, &q, &status, &why);
    if (s == NULL) {
        ipd_worker_send_error(req, status, why);
        return;
    }
    memcpy(s->ns, ns, sizeof(s->ns));
    memcpy(s->pod, pod, sizeof(s->pod));
    s->task_final = final;
    s->req = req;
    s->anchor = h2o_mem_alloc_shared(&req->pool, sizeof(*s->anchor), on_anchor_dispose);
    s->anchor->stream = s;
    if (pod[0] == '\0') {
        upgrade(s, NULL); /* the task has no pod yet: wait for the master to see one */
        return;
    }
    /*
     * The log request goes first and alone: its first 2xx bytes upgrade the stream without a pod
     * read (ipd_logs_early_answered). The pod read starts when it ends without them (an error, an
     * empty log), or has none after IPD_LOGS_POD_CHECK_GRACE_MS (a quiet follow stream).
     */
    ipd_logs_start_early(s);
    if (s->early == NULL) {
        check_pod(s);
        return;
    }
    s->short_entry.cb = on_check_due;
    h2o_timeout_link(w->loop, &w->ctx.hundred_ms_timeout, &s->short_entry);
}
