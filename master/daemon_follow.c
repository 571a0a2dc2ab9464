/*
 * Keep jobs that follow pods (master/model_follow.c), the cluster's side: every keep_pod_poll the
 * master lists the pods of each distinct pod selection of its keep jobs and hands their images
 * to the model, and it carries out what the model asks: a new keep job's anchor Job, or the
 * cancellation of a job whose image the pods run no more.
 *
 * Who lists: one daemon per selection, so that the apiserver sees one list (namespace and
 * labelSelector, every node's pods) per selection and keep_pod_poll, whatever the number of
 * daemons, and two daemons never both create a job for the same new image.
 *   scope cluster: the daemon (there is one).
 *   scope node with Redis: the holder of the selection's Redis lease {p}:lease:follow-<hash>
 *     (ipd_redis_link_lease), which any daemon takes when nobody holds it: a daemon that dies or
 *     loses Redis stops renewing it, and another takes over within the lease time.
 *   scope node without Redis: the daemon of the first node (by name) with a task of the
 *     selection's oldest job, which every daemon reads from the same Jobs. Nothing says whether
 *     that daemon runs: while it does not, the selection is not followed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/daemon_internal.h"
#include "proto/hash64.h"
#include "proto/kube_job.h"
#include "shared/log.h"
#include "shared/pulljobs.h"

/* Most images one selection's pods may bring (as for a POST with pod_selector). */
#define FOLLOW_MAX_IMAGES 100

typedef struct follow_list {
    daemon_state_t *d;
    struct follow_list *next; /* d->follow_lists */
    char selection[IPD_SELECTION_SIZE];
} follow_list_t;

/* Takes `l` out of d->follow_lists and frees it. */
static void list_done(daemon_state_t *d, follow_list_t *l)
{
    for (follow_list_t **p = &d->follow_lists; *p != NULL; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    d->follow_inflight--;
    free(l);
}

void ipd_daemon_follow_stop(daemon_state_t *d)
{
    while (d->follow_lists != NULL)
        list_done(d, d->follow_lists);
}

/* The name of selection's lease: "follow-" and 16 hex digits of its hash. */
static void lease_name(const char *selection, char out[32])
{
    snprintf(out, 32, "follow-%016" PRIx64, ipd_hash64(selection, strlen(selection), 0));
}

/* Whether this daemon follows `selection` now (see the top of the file); `renew` claims the lease. */
static int follower(daemon_state_t *d, const char *selection, const char *first_node, int renew)
{
    if (d->cfg.scope != IPD_SCOPE_NODE)
        return 1;
    if (d->cfg.redis[0] == '\0')
        return strcmp(first_node, d->cfg.node_name) == 0;
    char name[32];
    lease_name(selection, name);
    return d->redis != NULL && ipd_redis_link_lease(d->redis, name, renew);
}

static void on_pods(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    follow_list_t *l = data;
    daemon_state_t *d = l->d;
    (void)req;
    /* A lease lost while the list was on its way: the new holder acts instead. */
    if (d->cfg.scope == IPD_SCOPE_NODE && d->cfg.redis[0] != '\0' && !follower(d, l->selection, "", 0)) {
        list_done(d, l);
        return;
    }
    json_t *list = res->error == 0 && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (list == NULL) {
        ipd_warn("model", "listing the pods keep jobs follow (%s): HTTP %ld %s", l->selection, res->status,
                 res->message ? res->message : "");
        list_done(d, l);
        return;
    }
    char **images = NULL;
    size_t n = 0, i;
    const json_t *pod;
    int rc = 0;
    json_array_foreach(json_object_get(list, "items"), i, pod)
    {
        if (rc == 0)
            rc = ipd_pull_pod_images(pod, &images, &n, FOLLOW_MAX_IMAGES);
    }
    json_decref(list);
    if (rc != 0)
        ipd_warn("model", "the pods keep jobs follow (%s): %s; the first %zu images are followed", l->selection,
                 ipd_strerror(rc), n);
    if (d->model != NULL)
        ipd_model_pod_images(d->model, l->selection, (const char *const *)images, n, ipd_model_now());
    for (i = 0; i < n; i++)
        free(images[i]);
    free(images);
    list_done(d, l);
}

static void list_group(void *data, const char *selection, const char *ns, const char *label_selector,
                       const char *first_node)
{
    daemon_state_t *d = data;
    if (!follower(d, selection, first_node, 1))
        return;
    char *esc = ipd_kube_escape(label_selector);
    follow_list_t *l = esc != NULL ? malloc(sizeof(*l)) : NULL;
    if (l == NULL) {
        free(esc);
        return;
    }
    l->d = d;
    snprintf(l->selection, sizeof(l->selection), "%s", selection);
    char path[2048];
    int len = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, esc);
    free(esc);
    ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_pods, .data = l};
    int rc = len > 0 && (size_t)len < sizeof(path) ? ipd_kube_start(d->kube, &spec, NULL) : IPD_ETOOBIG;
    if (rc != 0) {
        ipd_warn("model", "cannot list the pods keep jobs follow (%s): %s", selection, ipd_strerror(rc));
        free(l);
        return;
    }
    d->follow_inflight++;
    l->next = d->follow_lists;
    d->follow_lists = l;
}

void ipd_daemon_follow_tick(daemon_state_t *d)
{
    uint64_t now = ipd_mloop_clock_ms();
    if (d->model == NULL || d->kube == NULL || !d->synced || d->follow_inflight > 0 ||
        now - d->follow_polled_ms < d->cfg.keep_pod_poll_ms)
        return;
    d->follow_polled_ms = now;
    ipd_model_pod_groups(d->model, list_group, d);
}

void ipd_daemon_create_keep_job(void *ctx, const ipd_job_t *like, const char *image, const char *selection)
{
    daemon_state_t *d = ctx;
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    if (ipd_pull_new_id(job.id) != 0)
        return;
    snprintf(job.image, sizeof(job.image), "%s", image);
    job.pull_policy = like->pull_policy;
    job.spec = like->spec;
    job.keep = 1;
    job.created_at = ipd_model_now();
    const char *tolerations[IPD_CONFIG_MAX_TOLERS];
    ipd_kube_pod_config_t pod = ipd_pull_pod_config(&d->cfg, tolerations);
    json_t *manifest = ipd_kube_job_anchor_manifest(&job, d->cfg.namespace, selection, &pod);
    char *body = manifest != NULL ? json_dumps(manifest, JSON_COMPACT) : NULL;
    json_decref(manifest);
    if (body == NULL) {
        d->kube_action_errors++;
        return;
    }
    ipd_info("model", "keep job %s: created for %s, which the followed pods run", job.id, image);
    char path[256];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", d->cfg.namespace);
    ipd_daemon_kube_action(d, "POST", path, body, NULL);
    free(body);
}

void ipd_daemon_cancel_job(void *ctx, const char *id)
{
    daemon_state_t *d = ctx;
    char sel[128], path[512];
    snprintf(sel, sizeof(sel), "%s%%3D%s", IPD_LABEL_JOB, id);
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s&propagationPolicy=Background",
             d->cfg.namespace, sel);
    ipd_daemon_kube_action(d, "DELETE", path, NULL, NULL);
}
