/*
 * Standing in for nodes without a live daemon (master/standin.h), the cluster's side. In node
 * scope with Redis, every third of redis_liveness_ttl the holder of the Redis lease
 * {p}:lease:stand-in (ipd_redis_link_lease: one daemon at a time, another takes over within the
 * lease time) lists the pull Jobs of every node but those whose liveness key exists, a page of
 * redis_standin_page Jobs at a time, and publishes what master/standin.c makes of each through Redis
 * (ipd_redis_link_stand_in, which writes nothing once the node's daemon is alive). Once the last
 * page is in, a lost node's unfinished task whose Job none of the pages held is published
 * cancelled. With every node's daemon alive the list is one empty page.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/daemon_internal.h"
#include "master/standin.h"
#include "proto/kube_node.h"
#include "shared/log.h"

#define STANDIN_LEASE "stand-in"

/* One list on its way, over its pages. */
typedef struct standin_list {
    daemon_state_t *d;
    ipd_strmap_t alive;  /* the nodes it leaves out, alive when it was sent ("node" -> (void *)1) */
    ipd_strmap_t listed; /* the Jobs its pages held ("<job id> <node>" -> (void *)1) */
    ipd_strmap_t claims; /* per job id, the parallelism slots it claimed (a count in the pointer) */
    size_t node_reads;   /* Nodes listed for suspended Jobs: at most redis_standin_node_reads */
    const char **names;  /* the nodes alive, for the selector (borrowed from the link, for the tick) */
    size_t n, cap;
    int oom;    /* a node or a Job could not be noted: nothing is inferred from what is missing */
    char *path; /* the first page's path (owned) */
    int64_t now, not_before;
    size_t sent;
} standin_list_t;

/* A suspended Job on a node without a live daemon: its Node is listed before the Job is resumed,
 * or a parallelism slot claimed for it. */
typedef struct standin_claim {
    daemon_state_t *d;
    char id[IPD_JOB_ID_SIZE], node[IPD_NODE_SIZE], ns[IPD_NAMESPACE_SIZE], name[IPD_KUBE_JOB_NAME_SIZE];
    int32_t parallelism; /* the job's; 0: resumed once the node can take a pull pod */
    json_t *tolerations; /* the pull pod's (owned), NULL for none */
    struct standin_claim *next;
} standin_claim_t;

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
    ipd_strmap_dispose(&l->claims);
    free(l->names);
    free(l->path);
    free(l);
}

static void claim_free(standin_claim_t *c)
{
    for (standin_claim_t **p = &c->d->standin_claims; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    json_decref(c->tolerations);
    free(c);
}

void ipd_daemon_standin_stop(daemon_state_t *d)
{
    if (d->standin_list != NULL)
        list_free(d->standin_list);
    while (d->standin_claims != NULL)
        claim_free(d->standin_claims);
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
    /* A Job that is gone runs no more: its parallelism slot, if it held one, is free. */
    if (gone && job->spec.parallelism > 0)
        ipd_redis_link_slot(l->d->redis, job->id, task->node, IPD_REDIS_SLOT_DONE, job->spec.parallelism, task->ns, "");
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

static void on_node(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    standin_claim_t *c = data;
    daemon_state_t *d = c->d;
    (void)req;
    /* A node the cluster does not have (an empty list) is not usable either. */
    json_t *list = res->error == 0 && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    const json_t *node = json_array_get(json_object_get(list, "items"), 0);
    char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
    if (list != NULL && d->redis != NULL && ipd_redis_link_lease(d->redis, STANDIN_LEASE, 0) &&
        ipd_kube_node_check(node, c->node, c->tolerations, reason, sizeof(reason), message, sizeof(message)) ==
            IPD_NODE_USABLE) {
        if (c->parallelism > 0)
            ipd_redis_link_slot(d->redis, c->id, c->node, IPD_REDIS_SLOT_CLAIM, c->parallelism, c->ns, c->name);
        else
            ipd_daemon_resume_job(d, c->ns, c->name);
    }
    json_decref(list);
    claim_free(c);
}

/*
 * What a node's own daemon does with its Job, for a node without a live daemon. A Job waits
 * suspended when its node could not take a pull pod at creation, or beyond the job's
 * parallelism: once its node can (its Node is listed, at most redis_standin_node_reads a list), it is
 * resumed, or, with a parallelism, a slot is claimed for it (master/redis_link.h,
 * ipd_redis_link_slot), for at most `parallelism` such Jobs per job and list (no more can be
 * granted), and a slot granted resumes it (master/daemon_kube.c). A slot is freed once the Job
 * ended, and held while it runs (said again after Redis lost it). Without this, such a node's
 * Job would wait for ever, its job would never end, and a lost node's finished Job would keep
 * its slot. Keep jobs are left to their nodes' daemons.
 */
static void standin_actions(standin_list_t *l, const ipd_kube_job_info_t *info, const json_t *obj)
{
    daemon_state_t *d = l->d;
    if (info->keep || info->complete || info->failed || info->gave_up) {
        if (!info->keep && info->spec.parallelism > 0 && info->active == 0)
            ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_DONE, info->spec.parallelism,
                                info->ns, info->name);
        return;
    }
    if (!info->suspended) {
        if (info->spec.parallelism > 0)
            ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_HOLD, info->spec.parallelism,
                                info->ns, info->name);
        return;
    }
    if (l->node_reads >= (size_t)d->cfg.redis_standin_node_reads)
        return;
    if (info->spec.parallelism > 0) {
        uintptr_t claimed = (uintptr_t)ipd_strmap_get(&l->claims, info->job_id);
        if (claimed >= (uintptr_t)info->spec.parallelism ||
            ipd_strmap_put(&l->claims, info->job_id, (void *)(claimed + 1)) != 0)
            return;
    }
    l->node_reads++;
    standin_claim_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->d = d;
    snprintf(c->id, sizeof(c->id), "%s", info->job_id);
    snprintf(c->node, sizeof(c->node), "%s", info->node);
    snprintf(c->ns, sizeof(c->ns), "%s", info->ns);
    snprintf(c->name, sizeof(c->name), "%s", info->name);
    c->parallelism = info->spec.parallelism > 0 ? info->spec.parallelism : 0;
    c->tolerations = json_incref((json_t *)ipd_kube_job_tolerations(obj));
    /* A list of one by name: the nodes list the daemons' role allows already (deploy/rbac.yaml). */
    char sel[IPD_NODE_SIZE + 16];
    snprintf(sel, sizeof(sel), "metadata.name=%s", info->node);
    char *esc = ipd_kube_escape(sel), *path = NULL;
    if (esc == NULL || asprintf(&path, "/api/v1/nodes?fieldSelector=%s", esc) < 0)
        path = NULL;
    free(esc);
    ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_node, .data = c};
    c->next = d->standin_claims;
    d->standin_claims = c;
    if (path == NULL || ipd_kube_start(d->kube, &spec, NULL) != 0)
        claim_free(c);
    free(path);
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
        standin_actions(l, &info, obj);
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
    ipd_strmap_init(&l->claims);
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
                             d->cfg.redis_standin_page, esc) < 0)) {
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
