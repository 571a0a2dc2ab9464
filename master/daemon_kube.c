#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "master/daemon_internal.h"
#include "proto/error.h"
#include "proto/kube_job.h"
#include "shared/kube_profile.h"
#include "shared/log.h"
#include "shared/pulljobs.h"

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

/* Counts and logs a cluster action the API server refused or that never got an answer. */
static void action_failed(daemon_state_t *d, const ipd_kube_result_t *res)
{
    d->kube_action_errors++;
    ipd_warn("model", "cluster action failed: HTTP %ld %s", res->status, res->message ? res->message : "");
}

/* Starts a cluster action and counts it; returns ipd_kube_start()'s code, counted and logged when it failed (the
 * spec's callback is then never called). */
static int start_action(daemon_state_t *d, const ipd_kube_req_spec_t *spec)
{
    d->kube_actions++;
    int rc = ipd_kube_start(d->kube, spec, NULL);
    if (rc != 0) {
        d->kube_action_errors++;
        ipd_warn("model", "cannot start %s %s: %s", spec->method, spec->path, ipd_strerror(rc));
    }
    return rc;
}

static void on_action_done(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    daemon_state_t *d = data;
    (void)req;
    /* 404: already gone, which is what was asked; 409: a keep job's Job that is already there. */
    if (res->error != 0 || (res->status >= 300 && res->status != 404 && res->status != 409))
        action_failed(d, res);
}

void ipd_daemon_kube_action(daemon_state_t *d, const char *method, const char *path, const char *body, const char *type)
{
    ipd_kube_req_spec_t spec = {.method = method,
                                .path = path,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .content_type = type,
                                .on_done = on_action_done,
                                .data = d};
    start_action(d, &spec);
}

/* A Job to delete once its outcome annotation is written. */
typedef struct finish_req {
    daemon_state_t *d;
    char path[512];
} finish_req_t;

static void on_marked(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    finish_req_t *f = data;
    (void)req;
    /* A Job that is gone (404) needs nothing more; another failure is retried by the model. */
    if (res->error == 0 && res->status < 300) {
        char del[600];
        snprintf(del, sizeof(del), "%s?propagationPolicy=Background", f->path);
        ipd_daemon_kube_action(f->d, "DELETE", del, NULL, NULL);
    } else if (res->status != 404) {
        action_failed(f->d, res);
    }
    free(f);
}

void ipd_daemon_fail_job(daemon_state_t *d, const char *ns, const char *name)
{
    finish_req_t *f = malloc(sizeof(*f));
    if (f == NULL) {
        d->kube_action_errors++;
        return;
    }
    f->d = d;
    snprintf(f->path, sizeof(f->path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    static const char body[] = "{\"metadata\":{\"annotations\":{\"" IPD_ANNOTATION_OUTCOME "\":\"failed\"}}}";
    ipd_kube_req_spec_t spec = {.method = "PATCH",
                                .path = f->path,
                                .body = body,
                                .body_len = sizeof(body) - 1,
                                .content_type = "application/merge-patch+json",
                                .on_done = on_marked,
                                .data = f};
    if (start_action(d, &spec) != 0)
        free(f);
}

static void fail_job(void *ctx, const char *ns, const char *name)
{
    ipd_daemon_fail_job(ctx, ns, name);
}

void ipd_daemon_reflector_spec(const ipd_config_t *c, ipd_reflector_spec_t *spec)
{
    spec->page_size = c->list_page_size;
    spec->watch_timeout_ms = c->watch_timeout_ms;
    spec->idle_timeout_ms = c->watch_idle_timeout_ms;
    spec->backoff_initial_ms = c->watch_backoff_initial_ms;
    spec->backoff_max_ms = c->watch_backoff_max_ms;
}

static void add_stats(ipd_reflector_stats_t *sum, const ipd_reflector_stats_t *s)
{
    sum->lists += s->lists;
    sum->list_pages += s->list_pages;
    sum->relists_gone += s->relists_gone;
    sum->watches += s->watches;
    sum->watch_restarts += s->watch_restarts;
    sum->idle_restarts += s->idle_restarts;
    sum->errors += s->errors;
    sum->events += s->events;
    sum->coalesced += s->coalesced;
    sum->bookmarks += s->bookmarks;
}

static void own_task(void *ctx, const ipd_job_t *job, uint32_t node_count, const char *selection,
                     const ipd_task_t *task)
{
    daemon_state_t *d = ctx;
    ipd_redis_link_publish(d->redis, job, node_count, selection, task);
}

static void task_left(void *ctx, const char *id)
{
    daemon_state_t *d = ctx;
    ipd_redis_link_leave(d->redis, id);
}

static void job_evicted(void *ctx, const char *id)
{
    daemon_state_t *d = ctx;
    ipd_redis_link_drop(d->redis, id);
}

/* Node scope: one Events reflector per pull pod of this node (involvedObject.name). */
static void watch_pod_events(void *ctx, const char *ns, const char *name, int on)
{
    daemon_state_t *d = ctx;
    char key[IPD_NAMESPACE_SIZE + 256];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    ipd_reflector_t *r = ipd_strmap_get(&d->pod_events, key);
    if (!on) {
        if (r != NULL) {
            ipd_strmap_del(&d->pod_events, key);
            add_stats(&d->base, ipd_reflector_stats(r));
            ipd_reflector_destroy(r);
        }
        return;
    }
    if (r != NULL)
        return;
    char path[256], field[384];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    snprintf(field, sizeof(field), "involvedObject.kind=Pod,involvedObject.name=%s", name);
    ipd_reflector_spec_t spec = {.name = "events", .path = path, .field_selector = field};
    ipd_daemon_reflector_spec(&d->cfg, &spec);
    int rc = ipd_reflector_create(d->loop, d->kube, &spec, ipd_model_ops(IPD_MODEL_EVENTS), d->model, &r);
    if (rc == 0 && (rc = ipd_strmap_put(&d->pod_events, key, r)) != 0)
        ipd_reflector_destroy(r);
    if (rc != 0) {
        ipd_error("master", "cannot watch the events of pod %s: %s", key, ipd_strerror(rc));
        return;
    }
    ipd_reflector_start(r);
}

void ipd_daemon_resume_job(daemon_state_t *d, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    ipd_daemon_kube_action(d, "PATCH", path, "{\"spec\":{\"suspend\":false}}", "application/merge-patch+json");
}

static void resume_job(void *ctx, const char *ns, const char *name)
{
    ipd_daemon_resume_job(ctx, ns, name);
}

static int slot(void *ctx, const char *id, int op, int32_t parallelism, const char *ns, const char *name)
{
    daemon_state_t *d = ctx;
    ipd_redis_slot_op_t o = op == IPD_MODEL_SLOT_CLAIM  ? IPD_REDIS_SLOT_CLAIM
                            : op == IPD_MODEL_SLOT_HOLD ? IPD_REDIS_SLOT_HOLD
                                                        : IPD_REDIS_SLOT_DONE;
    return ipd_redis_link_slot(d->redis, id, d->cfg.node_name, o, parallelism, ns, name);
}

void ipd_daemon_delete_job(daemon_state_t *d, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s?propagationPolicy=Background", ns, name);
    ipd_daemon_kube_action(d, "DELETE", path, NULL, NULL);
}

static void delete_job(void *ctx, const char *ns, const char *name)
{
    ipd_daemon_delete_job(ctx, ns, name);
}

/* A keep job's task on a node that joined: its Job, as the workers create them (shared/pulljobs.c). */
static void create_job(void *ctx, const ipd_job_t *job, const char *node, int suspend, const char *selection)
{
    daemon_state_t *d = ctx;
    const char *tolerations[IPD_CONFIG_MAX_TOLERS];
    ipd_kube_pod_config_t pod = ipd_pull_pod_config(&d->cfg, tolerations);
    json_t *manifest = ipd_kube_job_manifest(job, node, d->cfg.namespace, 1, suspend, &pod);
    char *body = NULL;
    if (manifest != NULL && ipd_kube_job_set_selection(manifest, selection) == 0)
        body = json_dumps(manifest, JSON_COMPACT);
    json_decref(manifest);
    if (body == NULL) {
        d->kube_action_errors++;
        ipd_warn("model", "keep job %s: cannot build the Job for node %s", job->id, node);
        return;
    }
    char path[256];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", d->cfg.namespace);
    ipd_daemon_kube_action(d, "POST", path, body, NULL);
    free(body);
}

static void delete_pod(void *ctx, const char *ns, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
    ipd_daemon_kube_action(ctx, "DELETE", path, NULL, NULL);
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
    ipd_kube_options_t kopts = ipd_kube_profile_options(&d->cfg);
    if ((rc = ipd_kube_create(&d->kube, &kc, &kopts)) != 0) {
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
    ipd_info("master", "Kubernetes API at %s (from %s)", ipd_kube_config(d->kube)->server,
             ipd_kube_source_name(source));
    return 0;
}

/*
 * The collections that have a reflector: node scope has no namespace-wide Events one, and the
 * keep jobs' anchors have one of their own only where the Jobs reflector sees this node's Jobs
 * only (node scope with Redis); elsewhere the Jobs reflector shows them.
 */
static int wanted(const daemon_state_t *d, int k)
{
    int node_scope = d->cfg.scope == IPD_SCOPE_NODE;
    if (k == IPD_MODEL_EVENTS)
        return !node_scope;
    if (k == IPD_MODEL_ANCHORS)
        return node_scope && d->cfg.redis[0] != '\0';
    return 1;
}

/* The pull Jobs' label selector: this node's only (node scope with Redis), or every node's. */
static void jobs_selector(const ipd_config_t *c, int own_only, char out[128])
{
    char node_label[64];
    ipd_kube_node_label(c->node_name, node_label);
    snprintf(out, 128, own_only ? "%s,%s=%s" : "%s", IPD_LABEL_JOB, IPD_LABEL_NODE, node_label);
}

/*
 * The collections, scoped to the pull namespace. In node scope: this node's pods, the
 * Events of those pods only (one reflector per pod, watch_pod_events), and the Jobs of every
 * node without Redis (other nodes' tasks show what their Job says) or this node's Jobs with
 * Redis (which carries the other nodes' tasks) plus, then, every keep job's anchor Job (they are
 * few; without them a restarted daemon would take a keep job with no Job on its node for
 * cancelled). The Nodes say why a pending task waits: all of
 * them, or in node scope this node only (other nodes' tasks are their daemons' to explain).
 */
static int start_reflectors(daemon_state_t *d)
{
    const ipd_config_t *c = &d->cfg;
    int node_scope = c->scope == IPD_SCOPE_NODE;
    int own_jobs_only = node_scope && c->redis[0] != '\0';
    char paths[IPD_MODEL_KIND_COUNT][256], jobs_sel[128], pods_field[300], nodes_field[300];
    snprintf(paths[IPD_MODEL_KJOBS], sizeof(paths[0]), "/apis/batch/v1/namespaces/%s/jobs", c->namespace);
    snprintf(paths[IPD_MODEL_PODS], sizeof(paths[0]), "/api/v1/namespaces/%s/pods", c->namespace);
    snprintf(paths[IPD_MODEL_EVENTS], sizeof(paths[0]), "/api/v1/namespaces/%s/events", c->namespace);
    snprintf(paths[IPD_MODEL_NODES], sizeof(paths[0]), "/api/v1/nodes");
    snprintf(paths[IPD_MODEL_ANCHORS], sizeof(paths[0]), "/apis/batch/v1/namespaces/%s/jobs", c->namespace);
    snprintf(nodes_field, sizeof(nodes_field), "metadata.name=%s", c->node_name);
    jobs_selector(c, own_jobs_only, jobs_sel);
    snprintf(pods_field, sizeof(pods_field), "spec.nodeName=%s", c->node_name);
    static const char *const names[IPD_MODEL_KIND_COUNT] = {"jobs", "pods", "events", "nodes", "anchors"};
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++) {
        if (!wanted(d, k))
            continue;
        ipd_reflector_spec_t spec = {
            .name = names[k],
            .path = paths[k],
            .label_selector = k == IPD_MODEL_KJOBS     ? jobs_sel
                              : k == IPD_MODEL_PODS    ? IPD_LABEL_JOB
                              : k == IPD_MODEL_ANCHORS ? IPD_LABEL_ANCHOR "=true"
                                                       : NULL,
            .field_selector = k == IPD_MODEL_PODS && node_scope    ? pods_field
                              : k == IPD_MODEL_NODES && node_scope ? nodes_field
                              : k == IPD_MODEL_EVENTS              ? "involvedObject.kind=Pod"
                                                                   : NULL,
        };
        ipd_daemon_reflector_spec(c, &spec);
        int rc =
            ipd_reflector_create(d->loop, d->kube, &spec, ipd_model_ops((ipd_model_kind_t)k), d->model, &d->refl[k]);
        if (rc != 0)
            return rc;
    }
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (d->refl[k] != NULL)
            ipd_reflector_start(d->refl[k]);
    return 0;
}

int ipd_daemon_kube_start(daemon_state_t *d)
{
    ipd_strmap_init(&d->pod_events);
    int rc = open_kube(d);
    if (rc != 0)
        return rc;
    int node_scope = d->cfg.scope == IPD_SCOPE_NODE;
    ipd_model_actions_t actions = {.resume_job = resume_job,
                                   .delete_job = delete_job,
                                   .delete_pod = delete_pod,
                                   .fail_job = node_scope ? fail_job : NULL,
                                   .watch_pod_events = node_scope ? watch_pod_events : NULL,
                                   .own_task = node_scope ? own_task : NULL,
                                   .ctx = d,
                                   .create_job = create_job,
                                   .job_evicted = node_scope ? job_evicted : NULL,
                                   .create_keep_job = ipd_daemon_create_keep_job,
                                   .cancel_job = ipd_daemon_cancel_job,
                                   .slot = node_scope ? slot : NULL,
                                   .task_left = node_scope ? task_left : NULL};
    if ((rc = ipd_model_create(d->table, &actions, &d->model)) != 0) {
        ipd_error("master", "job model: %s", ipd_strerror(rc));
        return rc;
    }
    if (node_scope)
        ipd_model_set_node(d->model, d->cfg.node_name, d->cfg.redis[0] != '\0');
    /* A live daemon republishes its node's records within a liveness time of Redis coming back. */
    ipd_model_set_teardown_wait(d->model, (int64_t)d->cfg.redis_liveness_ttl_ms);
    return start_reflectors(d);
}

static void replay_nothing(void *ctx)
{
    (void)ctx;
}

/* The replay's events: a deletion goes to the model (apply_kjob in master/model_kube.c makes a
 * task it did not hold from the Job), the rest is older than what the lists gave. */
static void replay_object(void *ctx, ipd_watch_type_t type, json_t *obj)
{
    daemon_state_t *d = ctx;
    if (type == IPD_WATCH_DELETED && d->model != NULL)
        ipd_model_ops(IPD_MODEL_KJOBS)->on_object(d->model, type, obj);
}

static void replay_stop(daemon_state_t *d)
{
    if (d->replay == NULL)
        return;
    add_stats(&d->base, ipd_reflector_stats(d->replay));
    ipd_reflector_destroy(d->replay);
    d->replay = NULL;
    d->replay_done = 1;
}

/*
 * A master killed and started again within its liveness TTL (a crash, a restart by systemd) is
 * never taken for lost, so no stand-in covers its node meanwhile, and its lists do not show a Job
 * made and deleted in between (a POST and its cancel): that task would have no source, and its
 * job would end without it, or never. The master before it wrote into Redis how far it saw this
 * node's Jobs (ipd_redis_link_note_rv); once this one has listed, it watches them from there for
 * a liveness TTL and hands the model each deletion. A version the apiserver no longer keeps (410)
 * makes that watch list, and a deletion from before it is missed, as before.
 */
void ipd_daemon_replay_tick(daemon_state_t *d)
{
    if (d->replay != NULL && ipd_mloop_clock_ms() >= d->replay_until)
        replay_stop(d);
    if (d->replay != NULL || d->replay_done || d->replay_from[0] == '\0' || !d->synced || d->kube == NULL ||
        d->model == NULL || d->refl[IPD_MODEL_KJOBS] == NULL || d->cfg.scope != IPD_SCOPE_NODE)
        return;
    static const ipd_reflector_ops_t ops = {
        .on_list_begin = replay_nothing, .on_object = replay_object, .on_list_end = replay_nothing};
    char path[IPD_NAMESPACE_SIZE + 32], sel[128];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", d->cfg.namespace);
    jobs_selector(&d->cfg, 1, sel);
    ipd_reflector_spec_t spec = {.name = "replayed jobs", .path = path, .label_selector = sel};
    ipd_daemon_reflector_spec(&d->cfg, &spec);
    d->replay_done = 1;
    int rc = ipd_reflector_create(d->loop, d->kube, &spec, &ops, d, &d->replay);
    if (rc != 0) {
        ipd_warn("master", "cannot watch this node's Jobs from resourceVersion %s: %s", d->replay_from,
                 ipd_strerror(rc));
        d->replay = NULL;
        return;
    }
    ipd_info("master", "watching this node's Jobs from resourceVersion %s, where the master before this one saw them",
             d->replay_from);
    d->replay_until = ipd_mloop_clock_ms() + d->cfg.redis_liveness_ttl_ms;
    ipd_reflector_start_at(d->replay, d->replay_from);
}

void ipd_daemon_kube_stop(daemon_state_t *d)
{
    replay_stop(d);
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++) {
        ipd_reflector_destroy(d->refl[k]);
        d->refl[k] = NULL;
    }
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&d->pod_events, &b, e)) != NULL)
        ipd_reflector_destroy(e->value);
    ipd_strmap_dispose(&d->pod_events);
    ipd_model_destroy(d->model);
    d->model = NULL;
    if (d->kube != NULL) {
        ipd_mloop_io_stop(d->loop, &d->kube_epoll_io);
        ipd_mloop_io_stop(d->loop, &d->kube_timer_io);
        /* The client cancels its requests without calling back: their contexts go here. */
        ipd_daemon_follow_stop(d);
        ipd_daemon_standin_stop(d);
        ipd_kube_destroy(d->kube);
        d->kube = NULL;
    }
}

void ipd_daemon_kube_drain(daemon_state_t *d)
{
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (d->refl[k] != NULL)
            ipd_reflector_drain(d->refl[k]);
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&d->pod_events, &b, e)) != NULL)
        ipd_reflector_drain(e->value);
    if (d->standin_watch != NULL)
        ipd_reflector_drain(d->standin_watch);
    if (d->replay != NULL)
        ipd_reflector_drain(d->replay);
}

void ipd_daemon_kube_reflector_stats(const daemon_state_t *d, ipd_reflector_stats_t *sum)
{
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (d->refl[k] != NULL)
            add_stats(sum, ipd_reflector_stats(d->refl[k]));
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&d->pod_events, &b, e)) != NULL)
        add_stats(sum, ipd_reflector_stats(e->value));
    if (d->standin_watch != NULL)
        add_stats(sum, ipd_reflector_stats(d->standin_watch));
    if (d->replay != NULL)
        add_stats(sum, ipd_reflector_stats(d->replay));
}

/* Those of wanted() as the reflectors started (the Redis setting may change at a reload). */
static int required(const daemon_state_t *d, int k)
{
    return k == IPD_MODEL_ANCHORS ? d->refl[k] != NULL : wanted(d, k);
}

int ipd_daemon_kube_synced(const daemon_state_t *d)
{
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (required(d, k) && (d->refl[k] == NULL || !ipd_reflector_synced(d->refl[k])))
            return 0;
    return 1;
}

int ipd_daemon_kube_healthy(const daemon_state_t *d)
{
    /* A reflector that has heard from the apiserver recently enough is healthy, whether it is
     * watching or relisting; one that keeps failing for longer than a backoff cycle is not. */
    uint64_t now = ipd_mloop_clock_ms(), grace = 2 * d->cfg.watch_idle_timeout_ms + d->cfg.watch_backoff_max_ms;
    for (int k = 0; k < IPD_MODEL_KIND_COUNT; k++)
        if (required(d, k) && (d->refl[k] == NULL || now - ipd_reflector_last_contact(d->refl[k]) > grace))
            return 0;
    return 1;
}

/* ---- the Redis link ---- */

static void redis_apply(void *ctx, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    daemon_state_t *d = ctx;
    if (d->model != NULL)
        ipd_model_remote_task(d->model, job, selection, task);
}

static void redis_drop(void *ctx, const char *id)
{
    daemon_state_t *d = ctx;
    if (d->model != NULL)
        ipd_model_remote_drop(d->model, id);
}

static void redis_leave(void *ctx, const char *id, const char *node)
{
    daemon_state_t *d = ctx;
    if (d->model != NULL)
        ipd_model_remote_leave(d->model, id, node);
}

/* A parallelism slot granted: this node's Job is the model's to resume; another node's (the
 * stand-in claimed it for a node without a live daemon, master/daemon_standin.c) is resumed here. */
static void redis_slot_granted(void *ctx, const char *id, const char *node, const char *ns, const char *name)
{
    daemon_state_t *d = ctx;
    if (strcmp(node, d->cfg.node_name) == 0) {
        if (d->model != NULL)
            ipd_model_slot_granted(d->model, id);
    } else if (d->kube != NULL) {
        ipd_daemon_resume_job(d, ns, name);
    }
}

static void redis_node_alive(void *ctx, const char *node, int alive, const char *rv)
{
    daemon_state_t *d = ctx;
    if (d->model != NULL)
        ipd_model_remote_node(d->model, node, alive);
    ipd_daemon_standin_node(d, node, alive, rv);
}

static void redis_epoch(void *ctx, const char *epoch)
{
    ipd_daemon_standin_epoch(ctx, epoch);
}

static void redis_own_rv(void *ctx, const char *rv)
{
    daemon_state_t *d = ctx;
    if (d->replay_from[0] == '\0' && !d->replay_done)
        snprintf(d->replay_from, sizeof(d->replay_from), "%s", rv);
}

typedef struct republish_ctx {
    daemon_state_t *d;
    size_t n;
} republish_ctx_t;

void ipd_daemon_job_selection(const ipd_job_t *job, const void *json, size_t json_len,
                              char selection[IPD_SELECTION_SIZE])
{
    selection[0] = '\0';
    /* A keep job's record in the table carries its selection's members (all_nodes, node_selector,
     * pod_selector). */
    if (job->keep) {
        json_t *doc = json_loadb(json, json_len, 0, NULL);
        if (doc == NULL || ipd_selection_copy(doc, selection, IPD_SELECTION_SIZE) < 0)
            selection[0] = '\0';
        json_decref(doc);
    }
}

static int republish_job(const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json,
                         size_t json_len, void *data)
{
    republish_ctx_t *r = data;
    char selection[IPD_SELECTION_SIZE];
    ipd_daemon_job_selection(job, json, json_len, selection);
    for (size_t i = 0; i < ntasks; i++)
        if (strcmp(tasks[i].node, r->d->cfg.node_name) == 0) {
            ipd_redis_link_publish(r->d->redis, job, job->nodes.desired, selection, &tasks[i]);
            r->n++;
        }
    return 0;
}

void ipd_daemon_redis_republish(daemon_state_t *d)
{
    if (d->redis == NULL)
        return;
    /* Before the first lists the table may hold what the cluster no longer says. */
    if (!d->synced) {
        d->republish_pending = 1;
        return;
    }
    d->republish_pending = 0;
    if (d->model != NULL)
        ipd_model_slots_again(d->model);
    republish_ctx_t r = {d, 0};
    ipd_table_foreach(d->table, republish_job, &r);
    ipd_info("redis", "republished %zu tasks of node %s", r.n, d->cfg.node_name);
}

static void redis_republish(void *ctx)
{
    ipd_daemon_redis_republish(ctx);
}

int ipd_daemon_redis_apply(daemon_state_t *d)
{
    if (d->redis != NULL) {
        ipd_redis_link_stats_t rs;
        ipd_redis_link_stats(d->redis, &rs);
        d->base_redis.connects += rs.connects;
        d->base_redis.published += rs.published;
        d->base_redis.applied += rs.applied;
        d->base_redis.skipped += rs.skipped;
        d->base_redis.resyncs += rs.resyncs;
        d->base_redis.stood_in += rs.stood_in;
    }
    ipd_redis_link_destroy(d->redis);
    d->redis = NULL;
    d->republish_pending = 0;
    if (d->model != NULL)
        ipd_model_set_teardown_wait(d->model, (int64_t)d->cfg.redis_liveness_ttl_ms);
    if (d->cfg.redis[0] == '\0')
        return 0;
    ipd_redis_link_ops_t ops = {.apply = redis_apply,
                                .node_alive = redis_node_alive,
                                .republish = redis_republish,
                                .drop = redis_drop,
                                .leave = redis_leave,
                                .slot_granted = redis_slot_granted,
                                .stood_in_left = ipd_daemon_stood_in_left,
                                .epoch = redis_epoch,
                                .own_rv = redis_own_rv,
                                .ctx = d};
    char err[512];
    int rc = ipd_redis_link_create(d->loop, &d->cfg, &ops, &d->redis, err, sizeof(err));
    if (rc != 0)
        ipd_error("redis", "link not started: %s", err);
    return rc;
}
