#include "shared/pulljobs.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proto/error.h"
#include "proto/kube_job.h"
#include "proto/image_ref.h"
#include "proto/kube_node.h"
#include "shared/log.h"

enum { OP_CREATE, OP_CANCEL };

#define POD_MAX_TOLERATIONS 32
_Static_assert(IPD_CONFIG_TOLER_SIZE == IPD_TOLERATION_SIZE, "pull_toleration entries hold one toleration");

struct ipd_pull_op {
    ipd_kube_t *kube;
    int kind;
    ipd_pull_done_cb cb;
    void *data;
    char ns[IPD_NAMESPACE_SIZE];
    ipd_pull_request_t req; /* deep copy of the caller's request */
    size_t max_nodes, max_inflight, max_images;
    int slots_in_redis; /* every task of a job with a parallelism starts suspended (ipd_pull_options_t) */
    int (*admit)(void *data, size_t njobs, size_t ntasks, char *msg, size_t cap);
    void *admit_data;
    char *cont;   /* node list continue token */
    char **nodes; /* resolved target nodes, sorted */
    size_t nnodes, capnodes;
    char **held; /* named nodes a pull pod cannot start on now (proto/kube_node.h), sorted */
    size_t nheld, capheld;
    json_t *tolerations;                /* the pull pod's tolerations, from its manifest (owned) */
    char selection[IPD_SELECTION_SIZE]; /* keep: the node selection the master follows (JSON) */
    ipd_pull_job_t *jobs;
    size_t njobs;
    size_t next_post, inflight, deletes_pending;
    ipd_kube_req_t **reqs; /* in-flight requests, for abort */
    size_t nreqs, capreqs;
    int error;
    long status;
    uint64_t retry_after_ms; /* the failing answer's Retry-After; 0 without one */
    char message[512];
    size_t deleted;
    /* The pull pods' shape, copied from the options: manifests are built after the node list. */
    char helper_image[IPD_IMAGE_SIZE], helper_noop[256], helper_copy[256];
    char toleration_text[POD_MAX_TOLERATIONS][IPD_TOLERATION_SIZE];
    const char *toleration_ptrs[POD_MAX_TOLERATIONS];
    ipd_kube_pod_config_t pod;
};

static void op_free(ipd_pull_op_t *op)
{
    ipd_pull_request_dispose(&op->req);
    for (size_t i = 0; i < op->nnodes; i++)
        free(op->nodes[i]);
    free(op->nodes);
    for (size_t i = 0; i < op->nheld; i++)
        free(op->held[i]);
    free(op->held);
    json_decref(op->tolerations);
    for (size_t i = 0; i < op->njobs; i++)
        free(op->jobs[i].tasks);
    free(op->jobs);
    free(op->reqs);
    free(op->cont);
    free(op);
}

static void finish(ipd_pull_op_t *op)
{
    ipd_pull_result_t res = {.error = op->error,
                             .status = op->status,
                             .retry_after_ms = op->error ? op->retry_after_ms : 0,
                             .message = op->error ? op->message : NULL,
                             .jobs = op->error || op->kind == OP_CANCEL ? NULL : op->jobs,
                             .njobs = op->error || op->kind == OP_CANCEL ? 0 : op->njobs,
                             .deleted = op->deleted};
    op->cb(&res, op->data);
    op_free(op);
}

static void fail(ipd_pull_op_t *op, int error, long status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fail(ipd_pull_op_t *op, int error, long status, const char *fmt, ...)
{
    if (op->error != 0)
        return; /* the first failure is the one reported */
    op->error = error;
    op->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->message, sizeof(op->message), fmt, ap);
    va_end(ap);
}

/* Keeps the handle of an in-flight request so that an abort can cancel it. */
static int track(ipd_pull_op_t *op, ipd_kube_req_t *req)
{
    if (op->nreqs == op->capreqs) {
        size_t cap = op->capreqs ? op->capreqs * 2 : 8;
        ipd_kube_req_t **r = realloc(op->reqs, cap * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        op->reqs = r;
        op->capreqs = cap;
    }
    op->reqs[op->nreqs++] = req;
    return 0;
}

static void untrack(ipd_pull_op_t *op, ipd_kube_req_t *req)
{
    for (size_t i = 0; i < op->nreqs; i++)
        if (op->reqs[i] == req) {
            op->reqs[i] = op->reqs[--op->nreqs];
            return;
        }
}

static int start(ipd_pull_op_t *op, const char *method, const char *path, const char *body, ipd_kube_done_cb done)
{
    ipd_kube_req_spec_t spec = {
        .method = method, .path = path, .body = body, .body_len = body ? strlen(body) : 0, .on_done = done, .data = op};
    ipd_kube_req_t *req;
    int rc = ipd_kube_start(op->kube, &spec, &req);
    if (rc == 0 && (rc = track(op, req)) != 0)
        ipd_kube_cancel(req);
    return rc;
}

/* Describes a failed apiserver answer: the Status message when there is one. */
static void fail_remote(ipd_pull_op_t *op, const ipd_kube_result_t *res, const char *what)
{
    if (res->error != 0 && res->error != IPD_EREMOTE) {
        fail(op, res->error, 0, "%s: Kubernetes API unreachable: %s", what, res->message ? res->message : "");
        return;
    }
    json_t *st = json_loadb(res->body ? res->body : "", res->body_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(st, "message"));
    if (op->error == 0)
        op->retry_after_ms = res->retry_after_ms;
    fail(op, IPD_EREMOTE, res->status, "%s: Kubernetes API answered %ld: %s", what, res->status, msg ? msg : "");
    json_decref(st);
}

/* ---- cancel ---- */

static void on_cancel_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_pull_op_t *op = data;
    untrack(op, req);
    if (res->error != 0 || res->status < 200 || res->status >= 300) {
        fail_remote(op, res, "deleting the job's Kubernetes Jobs");
    } else {
        json_t *list = json_loadb(res->body, res->body_len, 0, NULL);
        op->deleted = json_array_size(json_object_get(list, "items"));
        json_decref(list);
        if (op->deleted == 0)
            fail(op, IPD_ENOTFOUND, 0, "the job has no Kubernetes Jobs left");
    }
    finish(op);
}

static int delete_collection(ipd_pull_op_t *op, const char *job_id, ipd_kube_done_cb done)
{
    char sel[IPD_JOB_ID_SIZE + 32], path[512];
    snprintf(sel, sizeof(sel), "%s=%s", IPD_LABEL_JOB, job_id);
    char *esc = ipd_kube_escape(sel);
    if (esc == NULL)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s&propagationPolicy=Background",
             op->ns, esc);
    free(esc);
    return start(op, "DELETE", path, NULL, done);
}

int ipd_pull_cancel(ipd_kube_t *kube, const char *ns, const char *job_id, ipd_pull_done_cb cb, void *data,
                    ipd_pull_op_t **out)
{
    ipd_pull_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -ENOMEM;
    *op = (ipd_pull_op_t){.kube = kube, .kind = OP_CANCEL, .cb = cb, .data = data};
    snprintf(op->ns, sizeof(op->ns), "%s", ns);
    int rc = delete_collection(op, job_id, on_cancel_done);
    if (rc != 0) {
        op_free(op);
        return rc;
    }
    if (out != NULL)
        *out = op;
    return 0;
}

void ipd_pull_abort(ipd_pull_op_t *op)
{
    if (op == NULL)
        return;
    for (size_t i = 0; i < op->nreqs; i++)
        ipd_kube_cancel(op->reqs[i]);
    op_free(op);
}

int ipd_pull_new_id(char out[IPD_JOB_ID_SIZE])
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -errno;
    snprintf(out, IPD_JOB_ID_SIZE, "pj-%08x", r);
    return 0;
}

/* ---- create ---- */

static void post_more(ipd_pull_op_t *op);

static void on_rollback_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_pull_op_t *op = data;
    untrack(op, req);
    if (res->error != 0 || res->status >= 300)
        ipd_warn("pulljobs", "rolling back a partly created job failed: HTTP %ld %s", res->status,
                 res->message ? res->message : "");
    if (--op->deletes_pending == 0)
        finish(op);
}

/* Everything posted has answered: report, after deleting what a failed request left behind. */
static void conclude(ipd_pull_op_t *op)
{
    if (op->error == 0) {
        finish(op);
        return;
    }
    for (size_t i = 0; i < op->njobs; i++)
        if (delete_collection(op, op->jobs[i].job.id, on_rollback_done) == 0)
            op->deletes_pending++;
    if (op->deletes_pending == 0)
        finish(op);
}

static void on_post_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_pull_op_t *op = data;
    untrack(op, req);
    op->inflight--;
    /*
     * A keep job's Jobs are also created by the master, which follows the job's node selection as
     * soon as it sees the job's first Job: it can create a node's Job before this POST reaches
     * it. Job names are the job's own id and the node, so "already exists" is that very Job.
     */
    int created_by_master = res->error == 0 && res->status == 409 && op->njobs > 0 && op->jobs[0].job.keep;
    /*
     * A POST sent again after a 429 or 503 with Retry-After (kube_client.h, "Retries") that finds
     * its Job there: an earlier attempt created it after all, as nothing else uses the name.
     */
    int created_by_earlier_attempt = res->error == 0 && res->status == 409 && res->attempts > 1;
    if (!created_by_master && !created_by_earlier_attempt &&
        (res->error != 0 || res->status < 200 || res->status >= 300))
        fail_remote(op, res, "creating a pull Job");
    post_more(op);
}

static int cmp_str(const void *a, const void *b);

static int is_held(const ipd_pull_op_t *op, const char *node)
{
    return op->nheld > 0 && bsearch(&node, op->held, op->nheld, sizeof(char *), cmp_str) != NULL;
}

/*
 * Tasks on nodes a pull pod cannot start on now, and tasks beyond the job's parallelism, start
 * suspended: the master resumes them when their node can take them and a slot is free.
 */
static int starts_suspended(const ipd_pull_op_t *op, const ipd_pull_job_t *pj, size_t n)
{
    if (is_held(op, op->nodes[n]))
        return 1;
    if (pj->job.spec.parallelism <= 0)
        return 0;
    if (op->slots_in_redis)
        return 1;
    size_t before = 0;
    for (size_t i = 0; i < n; i++)
        before += !is_held(op, op->nodes[i]);
    return before >= (size_t)pj->job.spec.parallelism;
}

/* The Job POST number `p` of the operation: a keep job's anchor Job after its tasks' Jobs. */
static json_t *manifest_at(ipd_pull_op_t *op, size_t p)
{
    size_t per = op->nnodes + (op->req.keep ? 1 : 0);
    size_t j = p / per, n = p % per;
    ipd_pull_job_t *pj = &op->jobs[j];
    if (n == op->nnodes)
        return ipd_kube_job_anchor_manifest(&pj->job, op->ns, op->selection, &op->pod);
    int suspend = starts_suspended(op, pj, n);
    json_t *manifest = ipd_kube_job_manifest(&pj->job, op->nodes[n], op->ns, (uint32_t)op->nnodes, suspend, &op->pod);
    if (manifest != NULL && pj->job.keep && ipd_kube_job_set_selection(manifest, op->selection) != 0) {
        json_decref(manifest);
        manifest = NULL;
    }
    return manifest;
}

static void post_more(ipd_pull_op_t *op)
{
    size_t total = op->njobs * (op->nnodes + (op->req.keep ? 1 : 0));
    while (op->error == 0 && op->next_post < total && op->inflight < op->max_inflight) {
        json_t *manifest = manifest_at(op, op->next_post);
        char *body = manifest ? json_dumps(manifest, JSON_COMPACT) : NULL;
        char path[128];
        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", op->ns);
        int rc = body ? start(op, "POST", path, body, on_post_done) : -ENOMEM;
        free(body);
        json_decref(manifest);
        if (rc != 0) {
            fail(op, rc, 0, "creating a pull Job: %s", ipd_strerror(rc));
            break;
        }
        op->next_post++;
        op->inflight++;
    }
    if (op->inflight == 0)
        conclude(op);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int build_jobs(ipd_pull_op_t *op)
{
    op->jobs = calloc(op->req.nimages, sizeof(*op->jobs));
    if (op->jobs == NULL)
        return -ENOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < op->req.nimages; i++, op->njobs++) {
        ipd_pull_job_t *pj = &op->jobs[i];
        int rc = ipd_pull_new_id(pj->job.id);
        for (size_t k = 0; rc == 0 && k < i; k++)
            if (strcmp(op->jobs[k].job.id, pj->job.id) == 0)
                rc = ipd_pull_new_id(pj->job.id), k = (size_t)-1;
        if (rc != 0)
            return rc;
        ipd_strlcpy_utf8(pj->job.image, op->req.images[i], sizeof(pj->job.image));
        pj->job.pull_policy = (uint8_t)op->req.pull_policy;
        pj->job.spec = op->req.spec;
        pj->job.keep = (uint8_t)op->req.keep;
        pj->job.created_at = now;
        pj->job.version = 1;
        if ((pj->tasks = calloc(op->nnodes > 0 ? op->nnodes : 1, sizeof(*pj->tasks))) == NULL)
            return -ENOMEM;
        pj->ntasks = op->nnodes;
        for (size_t n = 0; n < op->nnodes; n++) {
            ipd_task_init(&pj->tasks[n], op->nodes[n], now);
            ipd_strlcpy_utf8(pj->tasks[n].ns, op->ns, sizeof(pj->tasks[n].ns));
        }
        ipd_job_aggregate(&pj->job, pj->tasks, pj->ntasks, now);
    }
    return 0;
}

static int add_node(ipd_pull_op_t *op, const char *name)
{
    if (op->nnodes == op->capnodes) {
        size_t cap = op->capnodes ? op->capnodes * 2 : 16;
        char **n = realloc(op->nodes, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        op->nodes = n;
        op->capnodes = cap;
    }
    if ((op->nodes[op->nnodes] = strdup(name)) == NULL)
        return -ENOMEM;
    op->nnodes++;
    return 0;
}

static int add_held(ipd_pull_op_t *op, const char *name)
{
    if (op->nheld == op->capheld) {
        size_t cap = op->capheld ? op->capheld * 2 : 8;
        char **n = realloc(op->held, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        op->held = n;
        op->capheld = cap;
    }
    if ((op->held[op->nheld] = strdup(name)) == NULL)
        return -ENOMEM;
    op->nheld++;
    return 0;
}

/*
 * Takes one page of the node list. By name, every node counts (checked later), and those a pull
 * pod cannot start on now (not Ready, cordoned, an untolerated taint) are held: their tasks wait,
 * pending with the reason. By labels or all_nodes, only the nodes a pull pod can start on now.
 */
static int take_nodes(ipd_pull_op_t *op, const json_t *list)
{
    size_t i;
    const json_t *node;
    json_array_foreach(json_object_get(list, "items"), i, node)
    {
        const char *name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
        if (name == NULL)
            continue;
        char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
        int usable = ipd_kube_node_check(node, name, op->tolerations, reason, sizeof(reason), message,
                                         sizeof(message)) == IPD_NODE_USABLE;
        if (op->req.node_choice != IPD_NODES_BY_NAME && !op->req.keep && !usable)
            continue;
        int rc = add_node(op, name);
        if (rc == 0 && !usable)
            rc = add_held(op, name);
        if (rc != 0)
            return rc;
    }
    free(op->cont);
    const char *cont = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
    op->cont = cont != NULL && cont[0] != '\0' ? strdup(cont) : NULL;
    return 0;
}

/* The cluster's node list is in: turn it into the target set, or say why there is none. */
static int select_nodes(ipd_pull_op_t *op)
{
    if (op->nnodes > 0)
        qsort(op->nodes, op->nnodes, sizeof(char *), cmp_str);
    if (op->nheld > 0)
        qsort(op->held, op->nheld, sizeof(char *), cmp_str);
    if (op->req.node_choice == IPD_NODES_BY_NAME) {
        for (size_t i = 0; i < op->req.nnodes; i++) {
            if (op->nnodes == 0 || bsearch(&op->req.nodes[i], op->nodes, op->nnodes, sizeof(char *), cmp_str) == NULL) {
                fail(op, IPD_EINVAL, 0, "nodes[%zu]: no node named \"%.100s\" in the cluster", i, op->req.nodes[i]);
                return IPD_EINVAL;
            }
        }
        for (size_t i = 0; i < op->nnodes; i++)
            free(op->nodes[i]);
        op->nnodes = 0;
        for (size_t i = 0; i < op->req.nnodes; i++)
            if (add_node(op, op->req.nodes[i]) != 0)
                return -ENOMEM;
        qsort(op->nodes, op->nnodes, sizeof(char *), cmp_str);
    }
    /* A keep job waits for nodes that match: its anchor Job records it until they come. */
    if (op->nnodes == 0 && !op->req.keep) {
        if (op->req.node_choice == IPD_NODES_BY_LABELS) {
            char sel[1024];
            ipd_pull_request_label_selector(&op->req, sel, sizeof(sel));
            fail(op, IPD_EINVAL, 0,
                 "node_selector %s matches no node a pull pod can start on (Ready, not cordoned, taints tolerated)",
                 sel);
        } else {
            fail(op, IPD_EINVAL, 0,
                 "all_nodes: the cluster has no node a pull pod can start on (Ready, not cordoned, taints tolerated)");
        }
        return IPD_EINVAL;
    }
    if (op->nnodes > op->max_nodes) {
        fail(op, IPD_ETOOBIG, 0, "the selection matches %zu nodes, at most %zu are allowed per job", op->nnodes,
             op->max_nodes);
        return IPD_ETOOBIG;
    }
    return 0;
}

static int list_nodes(ipd_pull_op_t *op);

static void on_nodes(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_pull_op_t *op = data;
    untrack(op, req);
    if (res->error != 0 || res->status != 200) {
        fail_remote(op, res, "listing nodes");
        finish(op);
        return;
    }
    json_t *list = json_loadb(res->body, res->body_len, 0, NULL);
    int rc = list ? take_nodes(op, list) : IPD_EINVAL;
    json_decref(list);
    if (rc == 0 && op->cont != NULL && (rc = list_nodes(op)) == 0)
        return;
    if (rc != 0)
        fail(op, rc, 0, "listing nodes: %s", ipd_strerror(rc));
    if (op->error == 0 && select_nodes(op) == 0 && (rc = build_jobs(op)) != 0)
        fail(op, rc, 0, "%s", ipd_strerror(rc));
    if (op->error == 0 && op->admit != NULL) {
        char why[256] = "";
        if ((rc = op->admit(op->admit_data, op->njobs, op->njobs * op->nnodes, why, sizeof(why))) != 0)
            fail(op, rc, 0, "%s", why[0] != '\0' ? why : ipd_strerror(rc));
    }
    if (op->error != 0) {
        finish(op);
        return;
    }
    post_more(op);
}

static int list_nodes(ipd_pull_op_t *op)
{
    char sel[1024], path[4096];
    char *esc_sel = NULL, *esc_cont = NULL;
    if (op->req.node_choice == IPD_NODES_BY_LABELS) {
        if (ipd_pull_request_label_selector(&op->req, sel, sizeof(sel)) < 0)
            return IPD_ETOOBIG;
        esc_sel = ipd_kube_escape(sel);
    }
    if (op->cont != NULL)
        esc_cont = ipd_kube_escape(op->cont);
    int n = snprintf(path, sizeof(path), "/api/v1/nodes?limit=500%s%s%s%s", esc_sel ? "&labelSelector=" : "",
                     esc_sel ? esc_sel : "", esc_cont ? "&continue=" : "", esc_cont ? esc_cont : "");
    free(esc_sel);
    free(esc_cont);
    if (n < 0 || (size_t)n >= sizeof(path))
        return IPD_ETOOBIG;
    return start(op, "GET", path, NULL, on_nodes);
}

int ipd_pull_pod_images(const json_t *pod, char ***images, size_t *n, size_t max)
{
    static const char *const lists[] = {"initContainers", "containers"};
    const json_t *spec = json_object_get(pod, "spec");
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            const char *image = json_string_value(json_object_get(c, "image"));
            char why[160];
            if (image == NULL || ipd_image_ref_validate(image, why, sizeof(why)) != 0)
                continue;
            int seen = 0;
            for (size_t k = 0; k < *n && !seen; k++)
                seen = strcmp((*images)[k], image) == 0;
            if (seen)
                continue;
            if (*n >= max)
                return IPD_ETOOBIG;
            char **v = realloc(*images, (*n + 1) * sizeof(*v));
            if (v == NULL)
                return -ENOMEM;
            *images = v;
            if ((v[*n] = strdup(image)) == NULL)
                return -ENOMEM;
            (*n)++;
        }
    }
    return 0;
}

/* Adds the images of one pod's init containers and containers that are not in the list yet. */
static int take_pod_images(ipd_pull_op_t *op, const json_t *pod)
{
    int rc = ipd_pull_pod_images(pod, &op->req.images, &op->req.nimages, op->max_images);
    if (rc == IPD_ETOOBIG)
        fail(op, IPD_ETOOBIG, 0, "pod_selector: the pods run more than %zu distinct images", op->max_images);
    return rc;
}

static int list_pods(ipd_pull_op_t *op);

static void on_pods(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    ipd_pull_op_t *op = data;
    untrack(op, req);
    if (res->error != 0 || res->status != 200) {
        fail_remote(op, res, "listing the pods of pod_selector");
        finish(op);
        return;
    }
    json_t *list = json_loadb(res->body, res->body_len, 0, NULL);
    int rc = list ? 0 : IPD_EINVAL;
    size_t i;
    const json_t *pod;
    json_array_foreach(json_object_get(list, "items"), i, pod)
    {
        if (rc == 0)
            rc = take_pod_images(op, pod);
    }
    free(op->cont);
    const char *cont = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
    op->cont = rc == 0 && cont != NULL && cont[0] != '\0' ? strdup(cont) : NULL;
    json_decref(list);
    if (rc == 0 && op->cont != NULL && (rc = list_pods(op)) == 0)
        return;
    if (rc == 0 && op->req.nimages == 0) {
        char sel[1024];
        ipd_label_selector_format(&op->req.pod_selector, sel, sizeof(sel));
        fail(op, IPD_EINVAL, 0, "pod_selector %s matches no pod in namespace %s", sel, op->req.pod_namespace);
    }
    if (rc != 0)
        fail(op, rc, 0, "listing the pods of pod_selector: %s", ipd_strerror(rc));
    if (op->error == 0 && (rc = list_nodes(op)) != 0)
        fail(op, rc, 0, "listing nodes: %s", ipd_strerror(rc));
    if (op->error != 0)
        finish(op);
}

static int list_pods(ipd_pull_op_t *op)
{
    char sel[1024], path[4096];
    if (ipd_label_selector_format(&op->req.pod_selector, sel, sizeof(sel)) < 0)
        return IPD_ETOOBIG;
    char *esc_sel = ipd_kube_escape(sel), *esc_cont = op->cont ? ipd_kube_escape(op->cont) : NULL;
    int n =
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?limit=500&labelSelector=%s%s%s", op->req.pod_namespace,
                 esc_sel ? esc_sel : "", esc_cont ? "&continue=" : "", esc_cont ? esc_cont : "");
    free(esc_sel);
    free(esc_cont);
    if (n < 0 || (size_t)n >= sizeof(path))
        return IPD_ETOOBIG;
    return start(op, "GET", path, NULL, on_pods);
}

static int copy_list(char ***dst, char *const *src, size_t n)
{
    if (n == 0)
        return 0;
    if ((*dst = calloc(n, sizeof(char *))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (((*dst)[i] = strdup(src[i])) == NULL)
            return -ENOMEM;
    return 0;
}

/* The tolerations every pull pod carries, read from the manifest that creates it. */
static int pod_tolerations(ipd_pull_op_t *op)
{
    ipd_job_t probe;
    memset(&probe, 0, sizeof(probe));
    snprintf(probe.id, sizeof(probe.id), "pj-00000000");
    snprintf(probe.image, sizeof(probe.image), "%s", op->req.nimages > 0 ? op->req.images[0] : "probe");
    probe.spec = op->req.spec;
    json_t *manifest = ipd_kube_job_manifest(&probe, "probe", op->ns, 1, 0, &op->pod);
    if (manifest == NULL)
        return -ENOMEM;
    json_t *podspec = json_object_get(json_object_get(json_object_get(manifest, "spec"), "template"), "spec");
    op->tolerations = json_incref(json_object_get(podspec, "tolerations"));
    json_decref(manifest);
    return 0;
}

ipd_kube_pod_config_t ipd_pull_pod_config(const ipd_config_t *cfg, const char *tolerations[IPD_CONFIG_MAX_TOLERS])
{
    for (size_t i = 0; i < cfg->pull_toleration_count; i++)
        tolerations[i] = cfg->pull_toleration[i];
    return (ipd_kube_pod_config_t){
        .helper_image = cfg->pull_helper_image,
        .helper_noop = cfg->pull_helper_noop,
        .helper_copy = cfg->pull_helper_copy,
        .uid = cfg->pull_uid,
        .tolerations = tolerations,
        .ntolerations = cfg->pull_toleration_count,
        .ttl_seconds_after_finished = (int32_t)(cfg->pull_job_ttl_ms / 1000),
    };
}

static int copy_pod_config(ipd_pull_op_t *op, const ipd_kube_pod_config_t *pod)
{
    if (pod->ntolerations > POD_MAX_TOLERATIONS || strlen(pod->helper_image) >= sizeof(op->helper_image) ||
        strlen(pod->helper_noop) >= sizeof(op->helper_noop) || strlen(pod->helper_copy) >= sizeof(op->helper_copy))
        return IPD_EINVAL;
    op->pod = *pod;
    op->pod.helper_image = strcpy(op->helper_image, pod->helper_image);
    op->pod.helper_noop = strcpy(op->helper_noop, pod->helper_noop);
    op->pod.helper_copy = strcpy(op->helper_copy, pod->helper_copy);
    for (size_t i = 0; i < pod->ntolerations; i++) {
        if (strlen(pod->tolerations[i]) >= sizeof(op->toleration_text[i]))
            return IPD_EINVAL;
        op->toleration_ptrs[i] = strcpy(op->toleration_text[i], pod->tolerations[i]);
    }
    op->pod.tolerations = op->toleration_ptrs;
    return 0;
}

int ipd_pull_create(ipd_kube_t *kube, const ipd_pull_request_t *req, const ipd_pull_options_t *opts,
                    ipd_pull_done_cb cb, void *data, ipd_pull_op_t **out)
{
    ipd_pull_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -ENOMEM;
    *op = (ipd_pull_op_t){.kube = kube, .kind = OP_CREATE, .cb = cb, .data = data};
    snprintf(op->ns, sizeof(op->ns), "%s", opts->ns);
    op->max_nodes = opts->max_nodes;
    if (copy_pod_config(op, opts->pod != NULL ? opts->pod : &ipd_kube_pod_config_default) != 0) {
        op_free(op);
        return IPD_EINVAL;
    }
    op->max_inflight = opts->max_inflight ? opts->max_inflight : 16;
    op->admit = opts->admit;
    op->admit_data = opts->admit_data;
    op->req.node_choice = req->node_choice;
    op->req.pull_policy = req->pull_policy;
    op->req.spec = req->spec;
    op->max_images = opts->max_images ? opts->max_images : 100;
    op->slots_in_redis = opts->slots_in_redis;
    op->req.nimages = req->nimages;
    op->req.nnodes = req->nnodes;
    op->req.keep = req->keep;
    /* A keep job with a pod_selector carries it in its selection: the master follows those pods. */
    if (req->keep && ipd_selection_write(req->node_choice == IPD_NODES_ALL, &req->node_selector, req->pod_namespace,
                                         &req->pod_selector, op->selection, sizeof(op->selection)) < 0) {
        op_free(op);
        return IPD_ETOOBIG;
    }
    int rc = copy_list(&op->req.images, req->images, req->nimages);
    if (rc == 0)
        rc = pod_tolerations(op);
    if (rc == 0)
        rc = copy_list(&op->req.nodes, req->nodes, req->nnodes);
    if (rc == 0)
        rc = ipd_label_selector_copy(&op->req.node_selector, &req->node_selector);
    if (rc == 0)
        rc = ipd_label_selector_copy(&op->req.pod_selector, &req->pod_selector);
    if (rc == 0 && req->pod_namespace != NULL && (op->req.pod_namespace = strdup(req->pod_namespace)) == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        rc = op->req.pod_namespace != NULL ? list_pods(op) : list_nodes(op);
    if (rc != 0) {
        op_free(op);
        return rc;
    }
    if (out != NULL)
        *out = op;
    return 0;
}
