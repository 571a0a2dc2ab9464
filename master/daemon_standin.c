/*
 * Standing in for nodes without a live daemon (master/standin.h), the cluster's side. In node
 * scope with Redis, every third of redis_liveness_ttl the holder of the Redis lease
 * {p}:lease:stand-in (ipd_redis_link_lease: one daemon at a time, another takes over within the
 * lease time) lists the pull Jobs of every node but those whose liveness key exists, a page of
 * STANDIN_PAGE Jobs at a time, and publishes what master/standin.c makes of each through Redis
 * (ipd_redis_link_stand_in, which writes nothing once the node's daemon is alive). Once the last
 * page is in, a lost node's unfinished task whose Job none of the pages held is published
 * cancelled. With every node's daemon alive the list is one empty page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/daemon_internal.h"
#include "master/standin.h"
#include "shared/log.h"

#define STANDIN_LEASE "stand-in"
/* Jobs per page of the list: a page stays far below the client's cap on a body (16 MiB). */
#define STANDIN_PAGE 500

/* One list on its way, over its pages. */
typedef struct standin_list {
    daemon_state_t *d;
    ipd_strmap_t alive;  /* the nodes it leaves out, alive when it was sent ("node" -> (void *)1) */
    ipd_strmap_t listed; /* the Jobs its pages held ("<job id> <node>" -> (void *)1) */
    const char **names;  /* the nodes alive, for the selector (borrowed from the link, for the tick) */
    size_t n, cap;
    int oom;    /* a node or a Job could not be noted: nothing is inferred from what is missing */
    char *path; /* the first page's path (owned) */
    int64_t now, not_before;
    size_t sent;
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
    ipd_strmap_dispose(&l->listed);
    free(l->names);
    free(l->path);
    free(l);
}

void ipd_daemon_standin_stop(daemon_state_t *d)
{
    if (d->standin_list != NULL)
        list_free(d->standin_list);
}

static void listed_key(const char *id, const char *node, char out[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2])
{
    snprintf(out, IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2, "%s %s", id, node);
}

/*
 * A lost node's unfinished task: cancelled when its Job is on none of the pages; else, while its
 * record still says what the lost daemon last published, unknown, so that every daemon shows it
 * from the same record, with one time, rather than each from when it saw the daemon lost.
 */
static void lost_task(void *ctx, const ipd_job_t *job, uint32_t node_count, const ipd_task_t *task,
                      ipd_task_state_t published)
{
    standin_list_t *l = ctx;
    char key[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2];
    listed_key(job->id, task->node, key);
    /* A node alive when the list was sent had its Jobs left out of it. */
    if (ipd_strmap_get(&l->alive, task->node) != NULL)
        return;
    ipd_task_t out;
    int gone = ipd_strmap_get(&l->listed, key) == NULL;
    if (gone)
        ipd_standin_cancelled(task, l->now, &out);
    else if (published != IPD_TASK_UNKNOWN)
        ipd_standin_unknown(task, l->now, &out);
    else
        return;
    if (ipd_redis_link_stand_in(l->d->redis, job, node_count, "", &out) == 0) {
        ipd_debug("redis", "job %s: task of node %s published for it (%s)", job->id, task->node,
                  gone ? "cancelled: its Job is gone" : "unknown: its daemon is lost");
        l->sent++;
    }
}

/* Publishes what the page's Jobs say; returns the page's continue token (borrowed from `list`) or NULL. */
static const char *take_page(standin_list_t *l, const json_t *list)
{
    daemon_state_t *d = l->d;
    size_t i;
    const json_t *obj;
    json_array_foreach(json_object_get(list, "items"), i, obj)
    {
        ipd_kube_job_info_t info;
        if (ipd_kube_job_parse(obj, &info) != 0 || info.anchor || ipd_strmap_get(&l->alive, info.node) != NULL)
            continue;
        char key[IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 2];
        listed_key(info.job_id, info.node, key);
        if (ipd_strmap_put(&l->listed, key, (void *)1) != 0)
            l->oom = 1;
        ipd_job_t job;
        ipd_task_t task;
        int held = ipd_model_task_held(d->model, info.job_id, info.node);
        if (ipd_standin_task(&info, held, l->now, l->not_before, &job, &task) &&
            ipd_redis_link_stand_in(d->redis, &job, info.node_count, info.selection, &task) == 0) {
            ipd_debug("redis", "job %s: task of node %s published for it (%s): no daemon of it is alive", job.id,
                      task.node, ipd_task_state_name((ipd_task_state_t)task.state));
            l->sent++;
        }
    }
    const char *next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
    return next != NULL && next[0] != '\0' ? next : NULL;
}

static void on_jobs(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data);

/* Sends the page after `token` (NULL: the first). Returns 0 or a negative code. */
static int send_page(standin_list_t *l, const char *token)
{
    char *esc = token != NULL ? ipd_kube_escape(token) : NULL, *path = NULL;
    if (token != NULL && esc == NULL)
        return -ENOMEM;
    int n = esc != NULL ? asprintf(&path, "%s&continue=%s", l->path, esc) : asprintf(&path, "%s", l->path);
    free(esc);
    if (n < 0)
        return -ENOMEM;
    ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_jobs, .data = l};
    int rc = ipd_kube_start(l->d->kube, &spec, NULL);
    free(path);
    return rc;
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
        /* An expired continue token (410) too: the next round lists again from the start. */
        ipd_warn("redis", "listing the Jobs of nodes without a live daemon: HTTP %ld %s", res->status,
                 res->message ? res->message : "");
        list_free(l);
        return;
    }
    const char *next = take_page(l, list);
    int rc = next != NULL ? send_page(l, next) : 0;
    json_decref(list);
    if (next != NULL && rc == 0)
        return; /* d->standin_list stays l */
    if (rc != 0)
        ipd_warn("redis", "cannot list the next Jobs of nodes without a live daemon: %s", ipd_strerror(rc));
    /* What the pages lack was deleted, unless they could not be told whole. */
    else if (!l->oom)
        ipd_model_lost_tasks(d->model, lost_task, l);
    if (l->sent > 0)
        ipd_info("redis", "stood in for nodes without a live daemon: %zu tasks published from their Jobs", l->sent);
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
    ipd_strmap_init(&l->listed);
    l->now = ipd_model_now();
    /* Three lease times: a Job that ended before was seen by a stand-in, unless none ran. */
    l->not_before = l->now - 3 * (int64_t)ipd_redis_link_lease_ms(d->redis);
    ipd_redis_link_alive_nodes(d->redis, add_alive, l);
    ipd_buf_t sel;
    ipd_buf_init(&sel);
    char *esc = NULL;
    /* No liveness answer yet (no node known alive, not even this one): nothing to exclude by. */
    int rc = l->n == 0 || l->oom ? -EAGAIN : ipd_standin_selector(&sel, l->names, l->n);
    if (rc == 0 && ((esc = ipd_kube_escape(sel.data)) == NULL ||
                    asprintf(&l->path, "/apis/batch/v1/namespaces/%s/jobs?limit=%d&labelSelector=%s", d->cfg.namespace,
                             STANDIN_PAGE, esc) < 0)) {
        l->path = NULL;
        rc = -ENOMEM;
    }
    free(esc);
    ipd_buf_dispose(&sel);
    /* The names are the link's: not kept past this call. */
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
    if (rc == 0 && (rc = send_page(l, NULL)) == 0) {
        d->standin_list = l;
        return;
    }
    if (rc != -EAGAIN)
        ipd_warn("redis", "cannot list the Jobs of nodes without a live daemon: %s", ipd_strerror(rc));
    list_free(l);
}
