/*
 * Standing in for nodes without a live daemon (master/standin.h), the cluster's side. In node
 * scope with Redis, every third of redis_liveness_ttl the holder of the Redis lease
 * {p}:lease:stand-in (ipd_redis_link_lease: one daemon at a time, another takes over within the
 * lease time) lists, in one request, the pull Jobs of every node but those whose liveness key
 * exists, and publishes what master/standin.c makes of each through Redis
 * (ipd_redis_link_stand_in, which writes nothing once the node's daemon is alive). With every
 * node's daemon alive the list is empty.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/daemon_internal.h"
#include "master/standin.h"
#include "shared/log.h"

#define STANDIN_LEASE "stand-in"

/* One list on its way: the nodes it left out (alive when it was sent, "node" -> (void *)1). */
typedef struct standin_list {
    daemon_state_t *d;
    ipd_strmap_t alive;
    const char **names; /* the same names, for the selector */
    size_t n, cap;
    int oom;
} standin_list_t;

static void add_alive(void *ctx, const char *node)
{
    standin_list_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        const char **grown = realloc(l->names, cap * sizeof(*grown));
        if (grown == NULL) {
            l->oom = 1;
            return;
        }
        l->names = grown;
        l->cap = cap;
    }
    if (ipd_strmap_put(&l->alive, node, (void *)1) != 0)
        l->oom = 1;
    l->names[l->n++] = node;
}

static void list_free(standin_list_t *l)
{
    if (l->d->standin_list == l)
        l->d->standin_list = NULL;
    ipd_strmap_dispose(&l->alive);
    free(l->names);
    free(l);
}

void ipd_daemon_standin_stop(daemon_state_t *d)
{
    if (d->standin_list != NULL)
        list_free(d->standin_list);
}

/* Pull Jobs the list returned: "<job id> <node>" -> (void *)1. */
typedef struct gone_ctx {
    standin_list_t *l;
    ipd_strmap_t listed;
    int64_t now;
    size_t sent;
} gone_ctx_t;

static void listed_key(const char *id, const char *node, char out[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2])
{
    snprintf(out, IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2, "%s %s", id, node);
}

/* A lost node's unfinished task: cancelled when its Job is not in the list any more. */
static void lost_task(void *ctx, const ipd_job_t *job, uint32_t node_count, const ipd_task_t *task)
{
    gone_ctx_t *g = ctx;
    char key[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2];
    listed_key(job->id, task->node, key);
    /* A node alive when the list was sent had its Jobs left out of it. */
    if (ipd_strmap_get(&g->l->alive, task->node) != NULL || ipd_strmap_get(&g->listed, key) != NULL)
        return;
    ipd_task_t out;
    ipd_standin_cancelled(task, g->now, &out);
    if (ipd_redis_link_stand_in(g->l->d->redis, job, node_count, "", &out) == 0) {
        ipd_debug("redis", "job %s: task of node %s published for it (cancelled: its Job is gone)", job->id,
                  task->node);
        g->sent++;
    }
}

static void on_jobs(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    standin_list_t *l = data;
    daemon_state_t *d = l->d;
    (void)req;
    /* A lease lost while the list was on its way: the new holder acts instead. */
    if (d->redis == NULL || d->model == NULL || !ipd_redis_link_lease(d->redis, STANDIN_LEASE, 0)) {
        list_free(l);
        return;
    }
    json_t *list = res->error == 0 && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (list == NULL) {
        ipd_warn("redis", "listing the Jobs of nodes without a live daemon: HTTP %ld %s", res->status,
                 res->message ? res->message : "");
        list_free(l);
        return;
    }
    gone_ctx_t g = {.l = l, .now = ipd_model_now()};
    ipd_strmap_init(&g.listed);
    /* Three lease times: a Job that ended before was seen by a stand-in, unless none ran. */
    uint64_t lease = d->cfg.redis_liveness_ttl_ms > 3 * d->cfg.keep_pod_poll_ms ? d->cfg.redis_liveness_ttl_ms
                                                                                : 3 * d->cfg.keep_pod_poll_ms;
    int64_t not_before = g.now - 3 * (int64_t)lease;
    int complete = 1;
    size_t i;
    const json_t *obj;
    json_array_foreach(json_object_get(list, "items"), i, obj)
    {
        ipd_kube_job_info_t info;
        if (ipd_kube_job_parse(obj, &info) != 0 || info.anchor || ipd_strmap_get(&l->alive, info.node) != NULL)
            continue;
        char key[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2];
        listed_key(info.job_id, info.node, key);
        if (ipd_strmap_put(&g.listed, key, (void *)1) != 0)
            complete = 0;
        ipd_job_t job;
        ipd_task_t task;
        int held = ipd_model_task_held(d->model, info.job_id, info.node);
        if (ipd_standin_task(&info, held, g.now, not_before, &job, &task) &&
            ipd_redis_link_stand_in(d->redis, &job, info.node_count, info.selection, &task) == 0) {
            ipd_debug("redis", "job %s: task of node %s published for it (%s): no daemon of it is alive", job.id,
                      task.node, ipd_task_state_name((ipd_task_state_t)task.state));
            g.sent++;
        }
    }
    json_decref(list);
    /* What the list lacks was deleted, unless the list could not be told whole. */
    if (complete)
        ipd_model_lost_tasks(d->model, lost_task, &g);
    ipd_strmap_dispose(&g.listed);
    if (g.sent > 0)
        ipd_info("redis", "stood in for nodes without a live daemon: %zu tasks published from their Jobs", g.sent);
    list_free(l);
}

void ipd_daemon_standin_tick(daemon_state_t *d)
{
    uint64_t now = ipd_mloop_clock_ms();
    if (d->cfg.scope != IPD_SCOPE_NODE || d->redis == NULL || d->kube == NULL || d->model == NULL || !d->synced ||
        d->standin_list != NULL || now - d->standin_polled_ms < d->cfg.redis_liveness_ttl_ms / 3)
        return;
    d->standin_polled_ms = now;
    if (!ipd_redis_link_lease(d->redis, STANDIN_LEASE, 1))
        return;
    standin_list_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return;
    l->d = d;
    ipd_strmap_init(&l->alive);
    ipd_redis_link_alive_nodes(d->redis, add_alive, l);
    ipd_buf_t sel;
    ipd_buf_init(&sel);
    char *esc = NULL, *path = NULL;
    /* No liveness answer yet (no node known alive, not even this one): nothing to exclude by. */
    int rc = l->n == 0 || l->oom ? -EAGAIN : ipd_standin_selector(&sel, l->names, l->n);
    if (rc == 0 && ((esc = ipd_kube_escape(sel.data)) == NULL ||
                    asprintf(&path, "/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s", d->cfg.namespace, esc) < 0)) {
        path = NULL;
        rc = -ENOMEM;
    }
    if (rc == 0) {
        ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_jobs, .data = l};
        rc = ipd_kube_start(d->kube, &spec, NULL);
        if (rc == 0)
            d->standin_list = l;
    }
    if (rc != 0 && rc != -EAGAIN)
        ipd_warn("redis", "cannot list the Jobs of nodes without a live daemon: %s", ipd_strerror(rc));
    if (rc != 0)
        list_free(l);
    free(path);
    free(esc);
    ipd_buf_dispose(&sel);
}
