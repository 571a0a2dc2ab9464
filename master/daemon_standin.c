/*
 * Standing in for nodes without a live daemon (master/standin.h), the cluster's side. In node
 * scope with Redis, every third of redis_liveness_ttl the holder of the Redis lease
 * {p}:lease:stand-in (ipd_redis_link_lease: one daemon at a time, another takes over within the
 * lease time) lists the pull Jobs of every node but those whose liveness key exists, a page of
 * redis_standin_page Jobs at a time, and publishes what master/standin.c makes of each through Redis
 * (ipd_redis_link_stand_in, which writes nothing once the node's daemon is alive). Once the last
 * page is in, a lost node's unfinished task whose Job none of the pages held is published
 * cancelled. With every node's daemon alive the list is one empty page. When the last list found
 * one of those Jobs running, the round first lists their pull pods with the same selector, so that
 * a pull that keeps failing is given up as its node's daemon would (read_events). The Node of a
 * node with a running Job or a keep job's Job is read once a list: a node deleted has its tasks
 * given up, or leave their keep jobs (node_deleted).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/daemon_internal.h"
#include "master/standin.h"
#include "proto/json_get.h"
#include "proto/kube_node.h"
#include "proto/kube_pod.h"
#include "shared/log.h"

#define STANDIN_LEASE "stand-in"

/* One list on its way, over its pages. */
typedef struct standin_list {
    daemon_state_t *d;
    ipd_strmap_t alive;      /* the nodes it leaves out, alive when it was sent ("node" -> (void *)1) */
    ipd_strmap_t listed;     /* the Jobs its pages held ("<job id> <node>" -> (void *)1) */
    ipd_strmap_t claims;     /* per job id, the parallelism slots it claimed (a count in the pointer) */
    ipd_strmap_t pods;       /* per Job ("<namespace>/<name>"), its pods the pods list held (standin_pods_t, owned) */
    ipd_strmap_t nodes_read; /* nodes whose Node it read (read_node_of), or found deleted ("node" -> (void *)1) */
    size_t node_reads;       /* Nodes listed: at most redis_standin_node_reads */
    size_t event_reads;      /* Events listed for failing pulls: at most redis_standin_event_reads */
    size_t failing;          /* Jobs in `pods` whose pull fails */
    size_t running;          /* Jobs the pages held that run (not suspended, not ended) */
    const char **names;      /* the nodes alive, for the selector (borrowed from the link, for the tick) */
    size_t n, cap;
    int oom;         /* a node or a Job could not be noted: nothing is inferred from what is missing */
    int jobs;        /* the pages are the Jobs' (else the pods', listed first) */
    char *path;      /* the Jobs' first page's path (owned) */
    char *pods_path; /* the pods' (owned), NULL when no Job ran at the last list */
    int64_t now, not_before;
    size_t sent;
} standin_list_t;

/* The pull pods of one Job of a node without a live daemon. */
typedef struct standin_pods {
    uint32_t n;       /* pods listed */
    json_t *failing;  /* the newest whose pull fails (owned), or NULL */
    char created[40]; /* its creationTimestamp */
} standin_pods_t;

/* A read for one Job of a node without a live daemon: its Node, before a suspended Job is resumed
 * or a parallelism slot claimed for it, or to tell whether the node of a running one is still
 * there; or the Events of its pull pod whose pull fails, to count the attempts. */
typedef struct standin_read {
    daemon_state_t *d;
    ipd_kube_job_info_t info;
    json_t *tolerations; /* a Node read: the pull pod's (owned), NULL for none */
    json_t *pod;         /* an Events read: the pod (owned) */
    uint32_t earlier;    /* an Events read: the Job's other pods, an attempt each at least */
    struct standin_read *next;
} standin_read_t;

static void watch_jobs(daemon_state_t *d, const char *sel, const ipd_strmap_t *alive);

/* Frees the values of `m` (owned strings). */
static void free_values(ipd_strmap_t *m)
{
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(m, &b, e)) != NULL)
        free(e->value);
}

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
    ipd_strmap_dispose(&l->nodes_read);
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&l->pods, &b, e)) != NULL) {
        standin_pods_t *p = e->value;
        json_decref(p->failing);
        free(p);
    }
    ipd_strmap_dispose(&l->pods);
    free(l->names);
    free(l->path);
    free(l->pods_path);
    free(l);
}

/* A read for the Job `info` (copied), linked into the daemon's until read_free. */
static standin_read_t *read_new(daemon_state_t *d, const ipd_kube_job_info_t *info)
{
    standin_read_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->d = d;
    r->info = *info;
    r->next = d->standin_reads;
    d->standin_reads = r;
    return r;
}

static void read_free(standin_read_t *r)
{
    for (standin_read_t **p = &r->d->standin_reads; *p != NULL; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    json_decref(r->tolerations);
    json_decref(r->pod);
    free(r);
}

/* Starts the GET of `base` with the field selector `selector` (both borrowed; escaped here) for
 * `r`, or frees `r`. */
static void read_start(standin_read_t *r, const char *base, const char *selector, ipd_kube_done_cb on_done)
{
    char *esc = ipd_kube_escape(selector), *path = NULL;
    if (esc == NULL || asprintf(&path, "%s?fieldSelector=%s", base, esc) < 0)
        path = NULL;
    free(esc);
    ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_done, .data = r};
    if (path == NULL || ipd_kube_start(r->d->kube, &spec, NULL) != 0)
        read_free(r);
    free(path);
}

void ipd_daemon_standin_stop(daemon_state_t *d)
{
    if (d->standin_list != NULL)
        list_free(d->standin_list);
    while (d->standin_reads != NULL)
        read_free(d->standin_reads);
    ipd_strmap_dispose(&d->standin_deleted);
    watch_jobs(d, NULL, NULL);
    free_values(&d->standin_rv);
    ipd_strmap_dispose(&d->standin_rv);
}

void ipd_daemon_standin_node(daemon_state_t *d, const char *node, int alive, const char *rv)
{
    if (alive) {
        free(ipd_strmap_del(&d->standin_rv, node));
        return;
    }
    char *was = ipd_strmap_get(&d->standin_rv, node), *copy;
    if (rv[0] == '\0' || (was != NULL && strcmp(was, rv) == 0))
        return;
    if ((copy = strdup(rv)) == NULL || ipd_strmap_put(&d->standin_rv, node, copy) != 0) {
        free(copy);
        return;
    }
    free(was);
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

/* Three lease times before `now`: a Job that ended before was seen by a stand-in, unless none ran
 * (ipd_standin_task's not_before). */
static int64_t not_before(const daemon_state_t *d, int64_t now)
{
    return now - 3 * (int64_t)ipd_redis_link_lease_ms(d->redis);
}

/* Whether one node is alive (ipd_redis_link_alive_nodes). */
typedef struct node_alive {
    const char *node;
    int alive;
} node_alive_t;

static void note_alive(void *ctx, const char *node)
{
    node_alive_t *a = ctx;
    a->alive |= strcmp(node, a->node) == 0;
}

/*
 * A task of a node without a live daemon is given up as that node's daemon gives it up: published
 * failed with `seen`'s reason and `message` (its pod and figures kept), its parallelism slot
 * freed, and its Job marked given up and deleted.
 */
static void give_up(daemon_state_t *d, const ipd_kube_job_info_t *info, const ipd_task_t *seen, const char *message,
                    int64_t now)
{
    ipd_task_t task;
    ipd_job_t job;
    /* A node whose daemon came back since the list gives its task up itself. */
    node_alive_t alive = {info->node, 0};
    ipd_redis_link_alive_nodes(d->redis, note_alive, &alive);
    if (alive.alive)
        return;
    ipd_standin_gave_up(info, seen, message, now, &job, &task);
    if (ipd_redis_link_stand_in(d->redis, &job, info->node_count, info->selection, &task) != 0)
        return;
    ipd_info("redis", "job %s: task of node %s given up for it (no daemon of it is alive): %s", info->job_id,
             info->node, message);
    if (info->spec.parallelism > 0)
        ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_DONE, info->spec.parallelism, info->ns,
                            info->name);
    ipd_daemon_fail_job(d, info->ns, info->name);
}

/*
 * The Job's node is not in the cluster: it was deleted, since the Job was made for a node that
 * was (the POST lists the nodes). The pull can never happen there; Kubernetes would only fail
 * its pods one by one (pkg/controller/podgc/gc_controller.go, about a minute each) until the
 * Job's backoff limit. The task is given up now, as a node's own daemon gives up its task when
 * its Node is deleted (master/model_kube.c), and so are the node's other Jobs at the next list.
 */
static void node_deleted(daemon_state_t *d, const ipd_kube_job_info_t *info)
{
    ipd_task_t held;
    char message[IPD_MESSAGE_SIZE];
    if (ipd_strmap_put(&d->standin_deleted, info->node, (void *)1) != 0)
        return;
    /*
     * A keep job's node that left the cluster leaves the job, as its own daemon has it leave, and
     * its Job goes once Redis wrote the leave (ipd_daemon_stood_in_left): while the Job is there, a
     * later list finds it and leaves again. The leave is written whatever this model holds of the
     * task: a record this round published from the Job may still be on its way through Redis,
     * and the leave, sent after it, takes it out again.
     */
    if (info->keep) {
        if (ipd_redis_link_stand_in_leave(d->redis, info->job_id, info->node, info->ns, info->name) == 0)
            ipd_debug("redis", "keep job %s: node %s leaves it (deleted; no daemon of it is alive)", info->job_id,
                      info->node);
        return;
    }
    if (!ipd_model_task_unfinished(d->model, info->job_id, info->node, &held))
        return;
    ipd_kube_node_deleted_message(info->node, message, sizeof(message));
    ipd_strlcpy_utf8(held.reason, IPD_REASON_NODE_DELETED, sizeof(held.reason));
    give_up(d, info, &held, message, ipd_model_now());
}

void ipd_daemon_stood_in_left(void *ctx, const char *id, const char *node, const char *ns, const char *name)
{
    daemon_state_t *d = ctx;
    ipd_info("redis", "keep job %s: node %s left for it (deleted; no daemon of it is alive)", id, node);
    ipd_daemon_delete_job(d, ns, name);
}

/* The Node read answered (one item, or none for a node the cluster does not have), or not (NULL). */
static const json_t *read_node(standin_read_t *c, const ipd_kube_result_t *res, json_t **list)
{
    daemon_state_t *d = c->d;
    *list = res->error == 0 && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    const json_t *items = json_object_get(*list, "items");
    if (!json_is_array(items) || d->redis == NULL || d->model == NULL ||
        !ipd_redis_link_lease(d->redis, STANDIN_LEASE, 0))
        return NULL;
    if (json_array_size(items) == 0) {
        node_deleted(d, &c->info);
        return NULL;
    }
    return json_array_get(items, 0);
}

static void on_running_node(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    standin_read_t *c = data;
    json_t *list;
    (void)req;
    (void)read_node(c, res, &list);
    json_decref(list);
    read_free(c);
}

static void on_node(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    standin_read_t *c = data;
    const ipd_kube_job_info_t *info = &c->info;
    daemon_state_t *d = c->d;
    (void)req;
    json_t *list;
    const json_t *node = read_node(c, res, &list);
    char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
    if (node != NULL && ipd_kube_node_check(node, info->node, c->tolerations, reason, sizeof(reason), message,
                                            sizeof(message)) == IPD_NODE_USABLE) {
        if (info->spec.parallelism > 0)
            ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_CLAIM, info->spec.parallelism,
                                info->ns, info->name);
        else
            ipd_daemon_resume_job(d, info->ns, info->name);
    }
    json_decref(list);
    read_free(c);
}

/*
 * The Events of a failing pull pod of a node without a live daemon are in: its attempts are
 * counted as that node's daemon counts them (proto/kube_pod.h), and once the job's backoff_limit
 * is exhausted the task is given up, which stops the kubelet's retries.
 */
static void give_up_if_exhausted(standin_read_t *r, const json_t *list)
{
    daemon_state_t *d = r->d;
    const ipd_kube_job_info_t *info = &r->info;
    const json_t *items = json_object_get(list, "items");
    size_t n = json_array_size(items), k = 0, i;
    const json_t *obj;
    ipd_kube_event_t *events = n > 0 ? calloc(n, sizeof(*events)) : NULL;
    if (n > 0 && events == NULL)
        return;
    json_array_foreach(items, i, obj) k += ipd_kube_event_parse(obj, &events[k]) == 0;
    int64_t now = ipd_model_now();
    ipd_task_t seen;
    char message[IPD_MESSAGE_SIZE];
    int held = ipd_model_task_held(d->model, info->job_id, info->node);
    int rc = ipd_kube_pod_map(r->pod, events, k, 0, now, &seen);
    free(events);
    if (rc != 0 || held == IPD_MODEL_JOB_GONE || (held >= 0 && ipd_task_state_is_final((ipd_task_state_t)held)))
        return;
    seen.attempts = seen.attempts > UINT32_MAX - r->earlier ? UINT32_MAX : seen.attempts + r->earlier;
    if (ipd_kube_pull_exhausted(&seen, info->spec.backoff_limit, message, sizeof(message)))
        give_up(d, info, &seen, message, now);
}

static void on_events(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
{
    standin_read_t *r = data;
    daemon_state_t *d = r->d;
    (void)req;
    json_t *list = res->error == 0 && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (list != NULL && d->redis != NULL && d->model != NULL && ipd_redis_link_lease(d->redis, STANDIN_LEASE, 0))
        give_up_if_exhausted(r, list);
    json_decref(list);
    read_free(r);
}

/* A well mixed hash of `x`. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/*
 * A running Job of a node without a live daemon whose pull pod fails its pull (the pods list
 * said so): the pod's Events are listed (at most redis_standin_event_reads a list) to count its
 * attempts. With more such Jobs than that, each is read in a list at random, one in as many
 * lists as it takes, so none waits for ever behind the others.
 */
static void read_events(standin_list_t *l, const ipd_kube_job_info_t *info)
{
    daemon_state_t *d = l->d;
    char key[IPD_NAMESPACE_SIZE + IPD_KUBE_JOB_NAME_SIZE + 2];
    snprintf(key, sizeof(key), "%s/%s", info->ns, info->name);
    standin_pods_t *p = ipd_strmap_get(&l->pods, key);
    size_t budget = (size_t)d->cfg.redis_standin_event_reads;
    if (p == NULL || p->failing == NULL || l->event_reads >= budget)
        return;
    size_t every = (l->failing + budget - 1) / budget;
    if (every > 1 && mix(ipd_strmap_hash(key) ^ (d->standin_rounds * 0x9e3779b97f4a7c15ULL)) % every != 0)
        return;
    l->event_reads++;
    standin_read_t *r = read_new(d, info);
    if (r == NULL)
        return;
    r->pod = json_incref(p->failing);
    r->earlier = p->n - 1;
    char base[IPD_NAMESPACE_SIZE + 32], sel[IPD_POD_SIZE + 64];
    snprintf(base, sizeof(base), "/api/v1/namespaces/%s/events", info->ns);
    snprintf(sel, sizeof(sel), "involvedObject.kind=Pod,involvedObject.name=%s",
             ipd_json_str_at(json_object_get(p->failing, "metadata"), "name", ""));
    read_start(r, base, sel, on_events);
}

/* The Node of a running Job's node (or a keep Job's), once a list (within redis_standin_node_reads): still there? */
static void read_node_of(standin_list_t *l, const ipd_kube_job_info_t *info)
{
    daemon_state_t *d = l->d;
    if (l->node_reads >= (size_t)d->cfg.redis_standin_node_reads ||
        ipd_strmap_get(&l->nodes_read, info->node) != NULL ||
        ipd_strmap_put(&l->nodes_read, info->node, (void *)1) != 0)
        return;
    l->node_reads++;
    standin_read_t *c = read_new(d, info);
    if (c == NULL)
        return;
    char sel[IPD_NODE_SIZE + 16];
    snprintf(sel, sizeof(sel), "metadata.name=%s", info->node);
    read_start(c, "/api/v1/nodes", sel, on_running_node);
}

/*
 * What a node's own daemon does with its Job, for a node without a live daemon. A Job waits
 * suspended when its node could not take a pull pod at creation, or beyond the job's
 * parallelism: once its node can (its Node is listed, at most redis_standin_node_reads a list), it is
 * resumed, or, with a parallelism, a slot is claimed for it (master/redis_link.h,
 * ipd_redis_link_slot), for at most `parallelism` such Jobs per job and list (no more can be
 * granted), and a slot granted resumes it (master/daemon_kube.c). A slot is freed once the Job
 * ended, and held while it runs (said again after Redis lost it). A running Job whose pull keeps
 * failing is given up past the job's backoff_limit (read_events), and the Job of a node that was
 * deleted at once (node_deleted). A keep job's Jobs are no different, but its refresh is left
 * to its node's daemon, and a deleted node leaves it (its Node is read as a running Job's is,
 * whatever its Job's state). Returns 1 when the Job's task left its keep job: nothing more is
 * published of it. Without this, such a node's Job
 * would wait for ever, its job would never end (a keep job would never pull there), and a lost
 * node's finished Job would keep its slot.
 */
static int standin_actions(standin_list_t *l, const ipd_kube_job_info_t *info, const json_t *obj)
{
    daemon_state_t *d = l->d;
    /* A node a read found deleted: each of its Jobs is given up, or leaves its keep job, as the
     * list finds it. */
    if (ipd_strmap_get(&d->standin_deleted, info->node) != NULL &&
        (info->keep || !(info->complete || info->failed || info->gave_up))) {
        if (ipd_strmap_put(&l->nodes_read, info->node, (void *)1) != 0)
            l->oom = 1;
        node_deleted(d, info);
        return info->keep;
    }
    if (info->keep)
        read_node_of(l, info);
    if (info->complete || info->failed || info->gave_up) {
        if (info->spec.parallelism > 0 && (info->active == 0 || info->gave_up))
            ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_DONE, info->spec.parallelism,
                                info->ns, info->name);
        /* Given up but still there (its deletion failed, or the node's daemon was lost before
         * it deleted it): deleted again, or the kubelet retries its pull for ever. */
        if (info->gave_up && !info->complete && !info->failed)
            ipd_daemon_delete_job(d, info->ns, info->name);
        return 0;
    }
    if (!info->suspended) {
        if (info->spec.parallelism > 0)
            ipd_redis_link_slot(d->redis, info->job_id, info->node, IPD_REDIS_SLOT_HOLD, info->spec.parallelism,
                                info->ns, info->name);
        l->running++;
        read_events(l, info);
        read_node_of(l, info);
        return 0;
    }
    if (l->node_reads >= (size_t)d->cfg.redis_standin_node_reads)
        return 0;
    if (info->spec.parallelism > 0) {
        uintptr_t claimed = (uintptr_t)ipd_strmap_get(&l->claims, info->job_id);
        if (claimed >= (uintptr_t)info->spec.parallelism ||
            ipd_strmap_put(&l->claims, info->job_id, (void *)(claimed + 1)) != 0)
            return 0;
    }
    l->node_reads++;
    standin_read_t *c = read_new(d, info);
    if (c == NULL)
        return 0;
    c->tolerations = json_incref((json_t *)ipd_kube_job_tolerations(obj));
    /* A list of one by name: the nodes list the daemons' role allows already (deploy/rbac.yaml). */
    char sel[IPD_NODE_SIZE + 16];
    snprintf(sel, sizeof(sel), "metadata.name=%s", info->node);
    read_start(c, "/api/v1/nodes", sel, on_node);
    return 0;
}

/* A list page's continue token (borrowed from `list`), or NULL on the last page. */
static const char *page_continue(const json_t *list)
{
    const char *next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
    return next != NULL && next[0] != '\0' ? next : NULL;
}

/* The name of the Job that controls `pod` (borrowed), or NULL. */
static const char *owner_job(const json_t *pod)
{
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), i, ref)
    {
        if (json_is_true(json_object_get(ref, "controller")) && strcmp(ipd_json_str_at(ref, "kind", ""), "Job") == 0)
            return ipd_json_str_at(ref, "name", NULL);
    }
    return NULL;
}

/* Notes the page's pull pods per Job; returns the page's continue token (borrowed from `list`) or NULL. */
static const char *take_pods_page(standin_list_t *l, const json_t *list)
{
    size_t i;
    const json_t *pod;
    json_array_foreach(json_object_get(list, "items"), i, pod)
    {
        const json_t *meta = json_object_get(pod, "metadata");
        const char *job = owner_job(pod), *ns = ipd_json_str_at(meta, "namespace", NULL);
        char key[IPD_NAMESPACE_SIZE + IPD_KUBE_JOB_NAME_SIZE + 2];
        if (job == NULL || ns == NULL || (size_t)snprintf(key, sizeof(key), "%s/%s", ns, job) >= sizeof(key))
            continue;
        standin_pods_t *p = ipd_strmap_get(&l->pods, key);
        if (p == NULL) {
            if ((p = calloc(1, sizeof(*p))) == NULL || ipd_strmap_put(&l->pods, key, p) != 0) {
                free(p);
                continue;
            }
        }
        p->n++;
        ipd_task_t t;
        const char *created = ipd_json_str_at(meta, "creationTimestamp", "");
        if (ipd_kube_pod_map(pod, NULL, 0, 0, l->now, &t) != 0 || !ipd_kube_pull_failing(&t) ||
            (p->failing != NULL && strcmp(created, p->created) < 0))
            continue;
        l->failing += p->failing == NULL;
        json_decref(p->failing);
        p->failing = json_incref((json_t *)pod);
        snprintf(p->created, sizeof(p->created), "%s", created);
    }
    return page_continue(list);
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
        if (standin_actions(l, &info, obj))
            continue;
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
    return page_continue(list);
}

static void on_page(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data);

/* Sends the page after `token` (NULL: the first) of the pods, else of the Jobs. Returns 0 or a negative code. */
static int send_page(standin_list_t *l, const char *token)
{
    const char *base = l->jobs ? l->path : l->pods_path;
    char *esc = token != NULL ? ipd_kube_escape(token) : NULL, *path = NULL;
    if (token != NULL && esc == NULL)
        return -ENOMEM;
    int n = esc != NULL ? asprintf(&path, "%s&continue=%s", base, esc) : asprintf(&path, "%s", base);
    free(esc);
    if (n < 0)
        return -ENOMEM;
    ipd_kube_req_spec_t spec = {.method = "GET", .path = path, .on_done = on_page, .data = l};
    int rc = ipd_kube_start(l->d->kube, &spec, NULL);
    free(path);
    return rc;
}

/* A deleted node none of whose Jobs the list found unfinished is forgotten (collected first:
 * forgetting edits the map being walked). */
static void forget_deleted(standin_list_t *l)
{
    ipd_strmap_t *deleted = &l->d->standin_deleted;
    size_t n = 0, b = 0;
    char **gone = deleted->count > 0 ? calloc(deleted->count, sizeof(*gone)) : NULL;
    ipd_strmap_entry_t *e = NULL;
    while (gone != NULL && (e = ipd_strmap_next(deleted, &b, e)) != NULL)
        if (ipd_strmap_get(&l->nodes_read, e->key) == NULL)
            gone[n++] = strdup(e->key);
    for (size_t i = 0; i < n; i++) {
        if (gone[i] != NULL)
            ipd_strmap_del(deleted, gone[i]);
        free(gone[i]);
    }
    free(gone);
}

static void on_page(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data)
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
    if (!l->jobs) {
        /* The pods serve give-ups only: a list that fails part way gives what it held so far. */
        const char *next = list != NULL ? take_pods_page(l, list) : NULL;
        if (list == NULL)
            ipd_warn("redis", "listing the pull pods of nodes without a live daemon: HTTP %ld %s", res->status,
                     res->message ? res->message : "");
        int rc = next != NULL ? send_page(l, next) : 0;
        json_decref(list);
        if (next != NULL && rc == 0)
            return;
        l->jobs = 1;
        if ((rc = send_page(l, NULL)) == 0)
            return;
        ipd_warn("redis", "cannot list the Jobs of nodes without a live daemon: %s", ipd_strerror(rc));
        list_free(l);
        return;
    }
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
    else if (!l->oom) {
        ipd_model_lost_tasks(d->model, lost_task, l);
        d->standin_running = l->running;
        forget_deleted(l);
    }
    if (l->sent > 0)
        ipd_info("redis", "stood in for nodes without a live daemon: %zu tasks published from their Jobs", l->sent);
    list_free(l);
}

/* What fill_in put back since the epoch changed (daemon_state_t.standin_filled). */
enum { FILLED_FINALS = 1, FILLED_ALL = 2 };
#define FILL_NOT_STARTED UINT64_MAX

typedef struct fill {
    daemon_state_t *d;
    ipd_strmap_t alive;
    int finals_only; /* a daemon that does not hold the stand-in lease puts back final tasks only */
    int oom;         /* a live node could not be noted: nothing is put back */
    size_t sent, unsent;
} fill_t;

static void fill_alive(void *ctx, const char *node)
{
    fill_t *f = ctx;
    if (ipd_strmap_put(&f->alive, node, (void *)1) != 0)
        f->oom = 1;
}

static int fill_job(const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json, size_t json_len,
                    void *data)
{
    fill_t *f = data;
    char selection[IPD_SELECTION_SIZE];
    int selected = 0;
    for (size_t i = 0; i < ntasks; i++) {
        int final = ipd_task_state_is_final((ipd_task_state_t)tasks[i].state);
        int alive = ipd_strmap_get(&f->alive, tasks[i].node) != NULL;
        /* This node's own are republished; a live node's only when final, and not a keep job's
         * (its daemon follows those from its Jobs). */
        if (strcmp(tasks[i].node, f->d->cfg.node_name) == 0 || (alive && (!final || job->keep)) ||
            (f->finals_only && !final))
            continue;
        if (!selected++)
            ipd_daemon_job_selection(job, json, json_len, selection);
        if (ipd_redis_link_fill_in(f->d->redis, job, job->nodes.desired, selection, alive, &tasks[i]) == 0)
            f->sent++;
        else
            f->unsent++;
    }
    return 0;
}

/*
 * Redis lost its data (its epoch is not the one the table noted, ipd_table_note): every daemon
 * republishes its own node's tasks, but no daemon those of nodes without a live daemon, which the
 * stand-in wrote, nor a task a node's daemon no longer holds (a reboot emptied its table, and its
 * Job is gone). A daemon that starts or restarts then would never learn them, nor a job only on
 * such nodes. So within two lease times of seeing the new epoch, every daemon puts back, from its
 * table, the final tasks of other nodes whose job that node's hash lacks (a live node's daemon
 * takes such a task as its own; a keep job's are left to it), and the stand-in the unfinished ones
 * of nodes not alive too (ipd_redis_link_fill_in: never over a record there, nor for a keep job
 * the node left). The note outlives this master: a daemon that was down while Redis lost its data
 * puts back, once started, what its table alone still holds; with the epoch unchanged the hashes
 * are the truth (a task they lack was dropped) and nothing is put back.
 */
void ipd_daemon_standin_epoch(daemon_state_t *d, const char *epoch)
{
    char noted[IPD_TABLE_NOTE_SIZE];
    if (d->table == NULL || epoch[0] == '\0')
        return;
    ipd_table_note(d->table, noted);
    if (strcmp(epoch, noted) == 0 || strcmp(epoch, d->standin_fill_epoch) == 0)
        return;
    /* A table that noted none (new, or older than the note) holds nothing Redis lost. */
    if (noted[0] == '\0') {
        ipd_table_set_note(d->table, epoch);
        return;
    }
    snprintf(d->standin_fill_epoch, sizeof(d->standin_fill_epoch), "%s", epoch);
    d->standin_fill_until = FILL_NOT_STARTED; /* its time starts once the lists are in (fill_in) */
    d->standin_filled = 0;
}

static void fill_in(daemon_state_t *d, int held)
{
    uint64_t now = ipd_mloop_clock_ms();
    if (d->standin_fill_until == FILL_NOT_STARTED)
        d->standin_fill_until = now + 2 * ipd_redis_link_lease_ms(d->redis);
    /* The epoch is noted once its time is over: a master that stops before fills in again. */
    if (d->standin_fill_until != 0 && now >= d->standin_fill_until) {
        ipd_table_set_note(d->table, d->standin_fill_epoch);
        d->standin_fill_until = 0;
    }
    if (d->standin_fill_until == 0)
        return;
    int want = held ? FILLED_ALL : FILLED_FINALS;
    if (d->standin_filled >= want)
        return;
    fill_t f = {.d = d, .finals_only = !held};
    ipd_redis_link_alive_nodes(d->redis, fill_alive, &f);
    if (!f.oom)
        ipd_table_foreach(d->table, fill_job, &f);
    ipd_strmap_dispose(&f.alive);
    if (f.oom || f.unsent > 0)
        return; /* again at the next tick, within the time */
    d->standin_filled = want;
    if (held) {
        ipd_table_set_note(d->table, d->standin_fill_epoch);
        d->standin_fill_until = 0;
    }
    ipd_info("redis", "Redis lost its data: %zu tasks of other nodes put back from this table (%s)", f.sent,
             held ? "final ones, and unfinished ones of nodes without a live daemon" : "final ones");
}

/*
 * A Job of a node without a live daemon was deleted (an event of the stand-in's watch, which
 * selects the Jobs its lists select). A Job none of the lists found, created and deleted between
 * two of them (a cancel right after the POST), leaves no task here: its deletion took the only
 * source of that node's task, and its job would stay one task short for ever. The task is
 * published from the Job: as it ended, or cancelled when it had not, as a node's own daemon counts
 * a Job deleted before the pull ended. A task held here is the next list's (lost_task), a keep
 * job's Jobs follow the keep rules, and a job let go of, or whose Job ended three lease times
 * ago (aged out of the history), is not brought back (ipd_standin_task).
 */
static void on_watched_job(void *ctx, ipd_watch_type_t type, json_t *obj)
{
    daemon_state_t *d = ctx;
    ipd_kube_job_info_t info;
    if (type != IPD_WATCH_DELETED || d->redis == NULL || d->model == NULL ||
        !ipd_redis_link_lease(d->redis, STANDIN_LEASE, 0) || ipd_kube_job_parse(obj, &info) != 0 || info.anchor ||
        info.keep)
        return;
    int held = ipd_model_task_held(d->model, info.job_id, info.node);
    if (held != IPD_MODEL_NO_TASK && held != IPD_MODEL_JOB_ONLY)
        return;
    ipd_job_t job;
    ipd_task_t task, out;
    int64_t now = ipd_model_now();
    if (!ipd_standin_task(&info, held, now, not_before(d, now), &job, &task))
        return;
    if (ipd_task_state_is_final((ipd_task_state_t)task.state))
        ipd_task_copy(&out, &task);
    else
        ipd_standin_cancelled(&task, now, &out);
    if (info.spec.parallelism > 0)
        ipd_redis_link_slot(d->redis, info.job_id, info.node, IPD_REDIS_SLOT_DONE, info.spec.parallelism, info.ns,
                            info.name);
    if (ipd_redis_link_stand_in(d->redis, &job, info.node_count, info.selection, &out) == 0)
        ipd_info("redis", "job %s: task of node %s published for it (%s: its Job was deleted before a list found it)",
                 job.id, out.node, ipd_task_state_name((ipd_task_state_t)out.state));
}

static void watch_nothing(void *ctx)
{
    (void)ctx;
}

/* Whether resourceVersion `a` comes before `b`: both decimal numbers, as the apiserver's are
 * (etcd revisions); anything else is not ordered. */
static int rv_before(const char *a, const char *b)
{
    size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
    if (la == 0 || lb == 0 || a[la] != '\0' || b[lb] != '\0')
        return 0;
    return la != lb ? la < lb : strcmp(a, b) < 0;
}

/* Samples this node's Jobs' resourceVersion every third of the TTL (daemon_state_t.rv_samples). */
static void sample_rv(daemon_state_t *d, const char *rv, uint64_t now)
{
    const struct rv_sample *last =
        d->rv_nsamples > 0 ? &d->rv_samples[(d->rv_next + RV_SAMPLES - 1) % RV_SAMPLES] : NULL;
    if (rv[0] == '\0' || strlen(rv) >= IPD_REDIS_RV_SIZE ||
        (last != NULL && now - last->ms < d->cfg.redis_liveness_ttl_ms / 3))
        return;
    d->rv_samples[d->rv_next].ms = now;
    snprintf(d->rv_samples[d->rv_next].rv, IPD_REDIS_RV_SIZE, "%s", rv);
    d->rv_next = (d->rv_next + 1) % RV_SAMPLES;
    if (d->rv_nsamples < RV_SAMPLES)
        d->rv_nsamples++;
}

/*
 * A stand-in's first watch, the lease just taken (or taken back: Redis was down, or another
 * daemon held it): the daemon that held it before may have died up to a lease time before it
 * expired, and from then on nobody watched the Jobs of nodes without a live daemon. A Job made
 * and deleted meanwhile (a POST and its cancel) left no trace a list can find. So the watch starts
 * from this node's own Jobs' resourceVersion as it was a lease time and a liveness TTL ago
 * (versions are global: a watch from there replays every change since, whatever its selector),
 * or, on a daemon younger than that, from its first. None sampled: "" (it lists).
 */
static void rv_before_gap(const daemon_state_t *d, char from[IPD_REDIS_RV_SIZE])
{
    uint64_t now = ipd_mloop_clock_ms(), gap = ipd_redis_link_lease_ms(d->redis) + d->cfg.redis_liveness_ttl_ms;
    from[0] = '\0';
    for (size_t i = 0; i < d->rv_nsamples; i++) {
        const struct rv_sample *s = &d->rv_samples[(d->rv_next + RV_SAMPLES - 1 - i) % RV_SAMPLES];
        snprintf(from, IPD_REDIS_RV_SIZE, "%s", s->rv);
        if (now - s->ms >= gap)
            break;
    }
}

/*
 * Where a new watch of the stand-in starts (`from`, "" for a list), made anew because the nodes
 * alive changed (`alive`: those it leaves out). A list would miss every Job created and deleted
 * before it: on the nodes the old watch covered, since that watch's last resourceVersion; on a
 * node just lost, since its daemon last saw its Jobs (the daemon wrote that resourceVersion into
 * Redis, ipd_redis_link_note_rv), for that daemon was dead while its liveness key lived on, and
 * a cancel then left that node's task unpublished for ever. So the new watch starts from the
 * oldest of those, and its replay of what came since publishes those deletions (on_watched_job;
 * a deletion the model holds the task of changes nothing). Without an old watch (the lease just
 * taken) it starts where rv_before_gap says. A version that is not a number, none at all, or one
 * the apiserver no longer keeps (410) makes it list.
 */
static void watch_from(const daemon_state_t *d, const ipd_strmap_t *alive, char from[IPD_REDIS_RV_SIZE])
{
    from[0] = '\0';
    if (alive == NULL)
        return;
    if (d->standin_watch == NULL) {
        rv_before_gap(d, from);
        return;
    }
    snprintf(from, IPD_REDIS_RV_SIZE, "%s", ipd_reflector_resource_version(d->standin_watch));
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while (from[0] != '\0' && (e = ipd_strmap_next(&d->standin_watch_alive, &b, e)) != NULL) {
        const char *rv = ipd_strmap_get(alive, e->key) == NULL ? ipd_strmap_get(&d->standin_rv, e->key) : NULL;
        if (rv == NULL)
            continue;
        if (rv_before(rv, from))
            snprintf(from, IPD_REDIS_RV_SIZE, "%s", rv);
        else if (!rv_before(from, rv) && strcmp(from, rv) != 0)
            from[0] = '\0';
    }
}

/* The stand-in's watch of the Jobs its lists select (`sel`, borrowed; NULL: none, the lease is
 * not held): made anew when the nodes alive (`alive`, borrowed: those `sel` leaves out) change. */
static void watch_jobs(daemon_state_t *d, const char *sel, const ipd_strmap_t *alive)
{
    if (sel != NULL && d->standin_watch_sel != NULL && strcmp(sel, d->standin_watch_sel) == 0)
        return;
    char from[IPD_REDIS_RV_SIZE];
    watch_from(d, sel != NULL ? alive : NULL, from);
    ipd_reflector_destroy(d->standin_watch);
    d->standin_watch = NULL;
    free(d->standin_watch_sel);
    d->standin_watch_sel = NULL;
    ipd_strmap_clear(&d->standin_watch_alive);
    if (sel == NULL) {
        ipd_strmap_dispose(&d->standin_watch_alive);
        return;
    }
    static const ipd_reflector_ops_t ops = {
        .on_list_begin = watch_nothing, .on_object = on_watched_job, .on_list_end = watch_nothing};
    char path[IPD_NAMESPACE_SIZE + 32];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", d->cfg.namespace);
    ipd_reflector_spec_t spec = {.name = "stand-in jobs", .path = path, .label_selector = sel};
    ipd_daemon_reflector_spec(&d->cfg, &spec);
    spec.page_size = d->cfg.redis_standin_page;
    int rc = (d->standin_watch_sel = strdup(sel)) == NULL
                 ? -ENOMEM
                 : ipd_reflector_create(d->loop, d->kube, &spec, &ops, d, &d->standin_watch);
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while (rc == 0 && alive != NULL && (e = ipd_strmap_next(alive, &b, e)) != NULL)
        rc = ipd_strmap_put(&d->standin_watch_alive, e->key, (void *)1);
    if (rc != 0) {
        ipd_warn("redis", "cannot watch the Jobs of nodes without a live daemon: %s", ipd_strerror(rc));
        ipd_reflector_destroy(d->standin_watch);
        ipd_strmap_dispose(&d->standin_watch_alive);
        free(d->standin_watch_sel);
        d->standin_watch_sel = NULL;
        d->standin_watch = NULL;
        return;
    }
    if (from[0] != '\0') {
        ipd_debug("redis", "watching the Jobs of nodes without a live daemon from resourceVersion %s", from);
        ipd_reflector_start_at(d->standin_watch, from);
    } else {
        ipd_reflector_start(d->standin_watch);
    }
}

void ipd_daemon_standin_tick(daemon_state_t *d)
{
    uint64_t now = ipd_mloop_clock_ms();
    if ((d->cfg.scope != IPD_SCOPE_NODE || d->redis == NULL) && d->standin_watch != NULL)
        watch_jobs(d, NULL, NULL);
    /* How far this daemon saw its node's Jobs, for whoever stands in once it is lost (watch_from). */
    if (d->cfg.scope == IPD_SCOPE_NODE && d->redis != NULL && d->refl[IPD_MODEL_KJOBS] != NULL) {
        const char *rv = ipd_reflector_resource_version(d->refl[IPD_MODEL_KJOBS]);
        ipd_redis_link_note_rv(d->redis, rv);
        sample_rv(d, rv, now);
    }
    if (d->cfg.scope != IPD_SCOPE_NODE || d->redis == NULL || d->kube == NULL || d->model == NULL || !d->synced ||
        d->standin_list != NULL || now - d->standin_polled_ms < d->cfg.redis_liveness_ttl_ms / 3)
        return;
    d->standin_polled_ms = now;
    int held = ipd_redis_link_lease(d->redis, STANDIN_LEASE, 1);
    fill_in(d, held);
    if (!held) {
        watch_jobs(d, NULL, NULL);
        return;
    }
    standin_list_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return;
    l->d = d;
    ipd_strmap_init(&l->alive);
    ipd_strmap_init(&l->listed);
    ipd_strmap_init(&l->claims);
    ipd_strmap_init(&l->nodes_read);
    ipd_strmap_init(&l->pods);
    l->now = ipd_model_now();
    l->not_before = not_before(d, l->now);
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
    /* Their pull pods first, with the same selector (the pods carry the Job's labels), when the
     * last list found a Job that ran: a pull that fails there is given up (read_events). */
    if (rc == 0 && d->standin_running > 0 && d->cfg.redis_standin_event_reads > 0 &&
        asprintf(&l->pods_path, "/api/v1/namespaces/%s/pods?limit=%d&labelSelector=%s", d->cfg.namespace,
                 d->cfg.redis_standin_page, esc) < 0) {
        l->pods_path = NULL;
        rc = -ENOMEM;
    }
    l->jobs = l->pods_path == NULL;
    d->standin_rounds++;
    if (rc == 0)
        watch_jobs(d, d->cfg.redis_standin_watch ? sel.data : NULL, &l->alive);
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
