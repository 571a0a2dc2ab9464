#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "master/daemon_internal.h"
#include "proto/error.h"
#include "proto/kube_job.h"
#include "shared/kube_profile.h"
#include "shared/log.h"

static void on_kube_epoll(ipd_mloop_io_t *io, uint32_t events)
{
    (void)events;
    ipd_kube_on_epoll_ready(io->data);
}

static void on_kube_timer(ipd_mloop_io_t *io, uint32_t events)
{
    (void)events;
    ipd_kube_on_timer_ready(io->data);
}

static void on_action_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    daemon_state_t *d = data;
    (void)req;
    /* 404: already gone, which is what was asked. */
    if (res->error != 0 || (res->status >= 300 && res->status != 404)) {
        d->kube_action_errors++;
        ipd_warn("model", "cluster action failed: HTTP %ld %s", res->status, res->message ? res->message : "");
    }
}

static void action(daemon_state_t *d, const char *method, const char *path, const char *body, const char *type)
{
    ipd_kube_req_spec_t spec = {.method = method,
                                .path = path,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .content_type = type,
                                .on_done = on_action_done,
                                .data = d};
    d->kube_actions++;
    int rc = ipd_kube_start(d->kube, &spec, NULL);
    if (rc != 0) {
        d->kube_action_errors++;
        ipd_warn("model", "cannot start %s %s: %s", method, path, ipd_strerror(rc));
    }
}

static void resume_job(void *ctx, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    action(ctx, "PATCH", path, "{\"spec\":{\"suspend\":false}}", "application/merge-patch+json");
}

static void delete_job(void *ctx, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s?propagationPolicy=Background", ns, name);
    action(ctx, "DELETE", path, NULL, NULL);
}

static void delete_pod(void *ctx, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
    action(ctx, "DELETE", path, NULL, NULL);
}

static int open_kube(daemon_state_t *d)
{
    ipd_kube_config_t kc;
    ipd_kube_source_t source;
    char err[IPD_KUBE_ERRLEN];
    int rc = ipd_kube_profile_load(&d->cfg, NULL, &kc, &source, err, sizeof(err));
    if (rc != 0) {
        ipd_error("master", "Kubernetes configuration: %s", err);
        return rc;
    }
    if ((rc = ipd_kube_create(&d->kube, &kc, NULL)) != 0) {
        ipd_kube_config_dispose(&kc);
        ipd_error("master", "Kubernetes client: %s", ipd_strerror(rc));
        return rc;
    }
    int epfd, tfd;
    ipd_kube_fds(d->kube, &epfd, &tfd);
    ipd_mloop_io_init(&d->kube_epoll_io, epfd, on_kube_epoll, d->kube);
    ipd_mloop_io_init(&d->kube_timer_io, tfd, on_kube_timer, d->kube);
    if ((rc = ipd_mloop_io_start(d->loop, &d->kube_epoll_io, EPOLLIN)) != 0 ||
        (rc = ipd_mloop_io_start(d->loop, &d->kube_timer_io, EPOLLIN)) != 0)
        return rc;
    ipd_info("master", "Kubernetes API at %s (from %s)", ipd_kube_config(d->kube)->server, ipd_kube_source_name(source));
    return 0;
}

/* The three collections, scoped to the pull namespace and, in node scope, to this node. */
static int start_reflectors(daemon_state_t *d)
{
    const ipd_config_t *c = &d->cfg;
    int node_scope = c->scope == IPD_SCOPE_NODE;
    char paths[IPD_MODEL_KIND_COUNT][256], jobs_sel[128], node_label[64], pods_field[300];
    snprintf(paths[IPD_MODEL_KJOBS], sizeof(paths[0]), "/apis/batch/v1/namespaces/%s/jobs", c->namespace);
    snprintf(paths[IPD_MODEL_PODS], sizeof(paths[0]), "/api/v1/namespaces/%s/pods", c->namespace);
    snprintf(paths[IPD_MODEL_EVENTS], sizeof(paths[0]), "/api/v1/namespaces/%s/events", c->namespace);
    ipd_kube_node_label(c->node_name, node_label);
    snprintf(jobs_sel, sizeof(jobs_sel), node_scope ? "%s,%s=%s" : "%s", IPD_LABEL_JOB, IPD_LABEL_NODE, node_label);
    snprintf(pods_field, sizeof(pods_field), "spec.nodeName=%s", c->node_name);
    static const char *const names[IPD_MODEL_KIND_COUNT] = {"jobs", "pods", "events"};
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++) {
        ipd_reflector_spec_t spec = {
            .name = names[k],
            .path = paths[k],
            .label_selector = k == IPD_MODEL_KJOBS ? jobs_sel : k == IPD_MODEL_PODS ? IPD_LABEL_JOB : NULL,
            .field_selector = k == IPD_MODEL_PODS && node_scope ? pods_field
                              : k == IPD_MODEL_EVENTS           ? "involvedObject.kind=Pod"
                                                                : NULL,
            .page_size = c->list_page_size,
            .watch_timeout_ms = c->watch_timeout_ms,
            .idle_timeout_ms = c->watch_idle_timeout_ms,
            .backoff_initial_ms = c->watch_backoff_initial_ms,
            .backoff_max_ms = c->watch_backoff_max_ms,
        };
        int rc = ipd_reflector_create(d->loop, d->kube, &spec, ipd_model_ops((ipd_model_kind_t)k), d->model,
                                      &d->refl[k]);
        if (rc != 0)
            return rc;
    }
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        ipd_reflector_start(d->refl[k]);
    return 0;
}

int daemon_kube_start(daemon_state_t *d)
{
    int rc = open_kube(d);
    if (rc != 0)
        return rc;
    ipd_model_actions_t actions = {.resume_job = resume_job, .delete_job = delete_job, .delete_pod = delete_pod,
                                   .ctx = d};
    if ((rc = ipd_model_create(d->table, &actions, &d->model)) != 0) {
        ipd_error("master", "job model: %s", ipd_strerror(rc));
        return rc;
    }
    return start_reflectors(d);
}

void daemon_kube_stop(daemon_state_t *d)
{
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++) {
        ipd_reflector_destroy(d->refl[k]);
        d->refl[k] = NULL;
    }
    ipd_model_destroy(d->model);
    d->model = NULL;
    if (d->kube != NULL) {
        ipd_mloop_io_stop(d->loop, &d->kube_epoll_io);
        ipd_mloop_io_stop(d->loop, &d->kube_timer_io);
        ipd_kube_destroy(d->kube);
        d->kube = NULL;
    }
}

int daemon_kube_synced(const daemon_state_t *d)
{
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (d->refl[k] == NULL || !ipd_reflector_synced(d->refl[k]))
            return 0;
    return 1;
}

int daemon_kube_healthy(const daemon_state_t *d)
{
    /* A reflector that has heard from the apiserver recently enough is healthy, whether it is
     * watching or relisting; one that keeps failing for longer than a backoff cycle is not. */
    uint64_t now = ipd_mloop_clock_ms(), grace = 2 * d->cfg.watch_idle_timeout_ms + d->cfg.watch_backoff_max_ms;
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (d->refl[k] == NULL || now - ipd_reflector_last_contact(d->refl[k]) > grace)
            return 0;
    return 1;
}
