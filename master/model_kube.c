#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/model_internal.h"
#include "proto/rfc3339.h"
#include "shared/log.h"
#include "proto/json_get.h"

#define MAX_ORPHANS 4096

void ipd_model_pod_free(pod_rec_t *p)
{
    json_decref(p->obj);
    free(p->events);
    free(p);
}

/* The pull attempts `p` shows now. p->attempts is only refreshed by a flush, so it misses the
 * events and updates applied since (a list brings a task's old and new pod in one batch). */
static uint32_t pod_attempts(const pod_rec_t *p)
{
    ipd_kube_event_t evs[POD_MAX_EVENTS];
    ipd_task_t task;
    for (size_t i = 0; i < p->nevents; i++)
        evs[i] = p->events[i].ev;
    if (p->obj == NULL || ipd_kube_pod_map(p->obj, evs, p->nevents, 0, 0, &task) != 0)
        return p->attempts;
    return task.attempts;
}

static void forget_pod(ipd_model_t *m, pod_rec_t *p)
{
    job_rec_t *j = p->job_id[0] ? ipd_model_job(m, p->job_id, 0) : NULL;
    task_rec_t *t = j ? ipd_model_task(j, p->node, 0) : NULL;
    if (t != NULL && strcmp(task_text(t)->pod_key, p->key) == 0) {
        /* The task keeps its last state; a replacement pod, if any, takes over when it shows up. */
        t->attempts_before += pod_attempts(p);
        if (t->kube != NULL)
            t->kube->pod_key[0] = '\0';
        ipd_model_mark_task(m, j, t);
    }
    ipd_strmap_del(&m->pods, p->key);
    if (p->obj != NULL) {
        m->stats.pods--;
        const char *slash = strchr(p->key, '/');
        if (m->self_node[0] != '\0' && m->actions.watch_pod_events != NULL && slash != NULL) {
            char ns[IPD_NAMESPACE_SIZE];
            snprintf(ns, sizeof(ns), "%.*s", (int)(slash - p->key), p->key);
            m->actions.watch_pod_events(m->actions.ctx, ns, slash + 1, 0);
        }
    }
    ipd_model_pod_free(p);
}

static pod_rec_t *pod_get(ipd_model_t *m, const char *key)
{
    pod_rec_t *p = ipd_strmap_get(&m->pods, key);
    if (p != NULL)
        return p;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    snprintf(p->key, sizeof(p->key), "%s", key);
    p->mark = m->mark[IPD_MODEL_PODS];
    p->seen_at = ipd_model_now();
    p->order = ++m->pod_order;
    if (ipd_strmap_put(&m->pods, key, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/*
 * True when `a` replaced `b` as its task's pod. creationTimestamp has a resolution of one
 * second; within a second, a Job creates a replacement only after the previous pod failed, so
 * a pod that has not failed is the newer one; failing that, the one seen later.
 */
static int newer(const pod_rec_t *a, const pod_rec_t *b)
{
    if (a->created != b->created)
        return a->created > b->created;
    if (a->failed != b->failed)
        return !a->failed;
    return a->order > b->order;
}

static void apply_pod(ipd_model_t *m, ipd_watch_type_t type, json_t *obj)
{
    ipd_kube_pod_info_t info;
    char key[POD_KEY_SIZE];
    if (ipd_kube_pod_info(obj, &info) != 0 || info.job_id[0] == '\0')
        return;
    snprintf(key, sizeof(key), "%s/%s", info.ns, info.name);
    if (type == IPD_WATCH_DELETED) {
        pod_rec_t *gone = ipd_strmap_get(&m->pods, key);
        if (gone != NULL)
            forget_pod(m, gone);
        return;
    }
    /* No job (one the table evicted, see ipd_model_job): no pod record either. */
    job_rec_t *j = ipd_model_job(m, info.job_id, 1);
    if (j == NULL)
        return;
    pod_rec_t *p = pod_get(m, key);
    const char *node = info.node[0] ? info.node : info.node_label;
    task_rec_t *t = node[0] ? ipd_model_task(j, node, !ipd_model_keep_refuses(j, node)) : NULL;
    if (p == NULL || t == NULL)
        return;
    task_kube_t *k = ipd_model_task_kube(t);
    if (k == NULL) {
        ipd_error("model", "pod %s not applied: %s", key, ipd_strerror(-ENOMEM));
        return;
    }
    if (p->obj == NULL) {
        m->stats.pods++;
        if (m->self_node[0] != '\0' && m->actions.watch_pod_events != NULL)
            m->actions.watch_pod_events(m->actions.ctx, info.ns, info.name, 1);
    }
    /* managedFields is the bulk of a pod and nothing here reads it. */
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
    json_incref(obj);
    json_decref(p->obj);
    p->obj = obj;
    p->mark = m->mark[IPD_MODEL_PODS];
    if (p->job_id[0] != '\0' && (strcmp(p->job_id, info.job_id) != 0 || strcmp(p->node, node) != 0)) {
        /* The pod moved (a node label before nodeName): the task it was counted for is recomputed. */
        job_rec_t *was_j = ipd_model_job(m, p->job_id, 0);
        task_rec_t *was_t = was_j ? ipd_model_task(was_j, p->node, 0) : NULL;
        if (was_t != NULL)
            ipd_model_mark_task(m, was_j, was_t);
    }
    snprintf(p->job_id, sizeof(p->job_id), "%s", info.job_id);
    snprintf(p->node, sizeof(p->node), "%s", node);
    const char *created = ipd_json_str_at(json_object_get(obj, "metadata"), "creationTimestamp", NULL);
    if (created == NULL || ipd_time_parse(created, strlen(created), &p->created) != 0)
        p->created = 0;
    ipd_model_take_created(m, j, p->created, CREATED_POD);
    if (j->job.image[0] == '\0') {
        const json_t *c0 = json_array_get(json_object_get(json_object_get(obj, "spec"), "containers"), 0);
        const char *image = ipd_json_str_at(c0, "image", NULL);
        if (image != NULL)
            ipd_strlcpy_utf8(j->job.image, image, sizeof(j->job.image));
    }
    const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    p->failed = phase != NULL && strcmp(phase, "Failed") == 0;
    if (strcmp(k->pod_key, key) != 0) {
        pod_rec_t *cur = k->pod_key[0] ? ipd_strmap_get(&m->pods, k->pod_key) : NULL;
        if (cur == NULL || newer(p, cur)) {
            if (cur != NULL)
                t->attempts_before += pod_attempts(cur);
            snprintf(k->pod_key, sizeof(k->pod_key), "%s", key);
        }
    }
    ipd_model_mark_task(m, j, t);
}

static void apply_event(ipd_model_t *m, ipd_watch_type_t type, json_t *obj)
{
    ipd_kube_event_t ev;
    char key[POD_KEY_SIZE];
    /* A deleted Event only expired; what it said stays true. */
    if (type == IPD_WATCH_DELETED || ipd_kube_event_parse(obj, &ev) != 0)
        return;
    if (ev.kind[0] != '\0' && strcmp(ev.kind, "Pod") != 0)
        return;
    const char *ns = ev.ns[0] ? ev.ns : ipd_json_str_at(json_object_get(obj, "metadata"), "namespace", NULL);
    snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", ev.pod);
    pod_rec_t *p = ipd_strmap_get(&m->pods, key);
    /* Events may precede their pod. Such orphans are bounded, and the next pods list sweeps
     * the ones whose pod never came (events of other pods of the namespace). */
    if (p == NULL && (m->pods.count - m->stats.pods >= MAX_ORPHANS || (p = pod_get(m, key)) == NULL))
        return;
    const char *name = ipd_json_str_at(json_object_get(obj, "metadata"), "name", NULL);
    size_t slot = p->nevents;
    for (size_t i = 0; i < p->nevents && name != NULL; i++)
        if (strcmp(p->events[i].name, name) == 0)
            slot = i;
    if (slot == p->events_cap && p->events_cap < POD_MAX_EVENTS) {
        /* A fixed array of POD_MAX_EVENTS would be most of a pod's memory (about 15 KB each). */
        size_t cap = p->events_cap ? p->events_cap * 2 : 4;
        if (cap > POD_MAX_EVENTS)
            cap = POD_MAX_EVENTS;
        pod_event_t *grown = realloc(p->events, cap * sizeof(*grown));
        if (grown != NULL) {
            p->events = grown;
            p->events_cap = cap;
        }
    }
    if (slot == p->events_cap && slot == 0)
        return; /* no memory for the first one */
    if (slot == p->events_cap) {
        /* Full: drop the oldest event that is not a Pulled one (sizes and durations live there). */
        slot = 0;
        for (size_t i = 1; i < p->events_cap; i++)
            if (strcmp(p->events[i].ev.reason, "Pulled") != 0 &&
                (strcmp(p->events[slot].ev.reason, "Pulled") == 0 || p->events[i].ev.time < p->events[slot].ev.time))
                slot = i;
    }
    snprintf(p->events[slot].name, sizeof(p->events[slot].name), "%s", name ? name : "");
    p->events[slot].ev = ev;
    if (slot == p->nevents)
        p->nevents++;
    job_rec_t *j = p->job_id[0] ? ipd_model_job(m, p->job_id, 0) : NULL;
    task_rec_t *t = j ? ipd_model_task(j, p->node, 0) : NULL;
    if (t != NULL)
        ipd_model_mark_task(m, j, t);
    else if (j != NULL)
        ipd_model_mark_job(m, j);
}

static void kjob_gone(ipd_model_t *m, job_rec_t *j, task_rec_t *t)
{
    /* A keep job's Jobs go only when the master asks, or when the job is cancelled. */
    if (j->job.keep && t->has_kjob && !t->master_deleting && !j->job.cancelled) {
        ipd_info("model", "keep job %s: its Job %s was deleted: the job is cancelled", j->job.id,
                 task_text(t)->kjob_name);
        j->job.cancelled = 1;
    }
    t->master_deleting = 0;
    t->has_kjob = 0;
    if (!ipd_task_state_is_final((ipd_task_state_t)t->task.state))
        t->kjob_gone = 1;
    ipd_model_mark_task(m, j, t);
}

/*
 * A keep job's anchor Job (proto/kube_job.h): the job exists while it does, with or without
 * tasks. Only a cancel deletes it (the master never does), so its deletion cancels the job.
 */
static void apply_anchor(ipd_model_t *m, job_rec_t *j, ipd_model_kind_t kind, ipd_watch_type_t type,
                         const ipd_kube_job_info_t *info)
{
    j->keep.anchor_kind = (int)kind;
    j->keep.anchor_mark = m->mark[kind];
    if (type == IPD_WATCH_DELETED) {
        if (j->keep.anchored && !j->job.cancelled) {
            ipd_info("model", "keep job %s: its anchor Job %s was deleted: the job is cancelled", j->job.id,
                     info->name);
            j->job.cancelled = 1;
        }
        j->keep.anchored = 0;
        ipd_model_mark_dirty(m, j);
        return;
    }
    if (!j->keep.anchored || j->job.image[0] == '\0') {
        ipd_strlcpy_utf8(j->job.image, info->image, sizeof(j->job.image));
        j->job.pull_policy = info->pull_policy;
        j->job.spec = info->spec;
    }
    ipd_model_take_created(m, j, info->created_at, CREATED_KJOB);
    j->keep.anchored = 1;
    ipd_model_mark_dirty(m, j);
}

static void apply_kjob(ipd_model_t *m, ipd_model_kind_t kind, ipd_watch_type_t type, json_t *obj)
{
    ipd_kube_job_info_t info;
    if (ipd_kube_job_parse(obj, &info) != 0)
        return;
    /*
     * A Job deleted whose task this model does not hold: made and deleted between two reads of
     * its collection (a loop turn keeps the last event of each object: a POST cancelled at once),
     * or while this master did not run (the replay of master/daemon_kube.c). Its deletion is the
     * only trace of that task, and without it the job stays a task short for ever: the task is
     * made from the Job's last state and ends as a deleted Job's does (cancelled, or as the Job
     * ended). A job let go of stays so; a Job that ended, of a job held nowhere here, aged out
     * of the history and is not brought back; keep jobs follow their own rules.
     */
    if (type == IPD_WATCH_DELETED && !info.keep && !info.anchor) {
        int held = ipd_model_task_held(m, info.job_id, info.node);
        if (held == IPD_MODEL_JOB_ONLY || (held == IPD_MODEL_NO_TASK && !info.complete && !info.failed))
            apply_kjob(m, kind, IPD_WATCH_ADDED, obj);
    }
    job_rec_t *j = ipd_model_job(m, info.job_id, type != IPD_WATCH_DELETED);
    if (j != NULL && info.keep) {
        j->job.keep = 1;
        json_t *sel = info.selection[0] ? json_loads(info.selection, 0, NULL) : NULL;
        ipd_model_keep_learn(j, sel);
        json_decref(sel);
    }
    if (j != NULL && info.anchor) {
        apply_anchor(m, j, kind, type, &info);
        return;
    }
    /* A node that left a keep job comes back only through the master's own new Job. */
    int create = type != IPD_WATCH_DELETED && !(j != NULL && ipd_model_keep_refuses(j, info.node));
    task_rec_t *t = j ? ipd_model_task(j, info.node, create) : NULL;
    if (t == NULL)
        return;
    task_kube_t *k = ipd_model_task_kube(t);
    if (k == NULL) {
        ipd_error("model", "Job %s/%s not applied: %s", info.ns, info.name, ipd_strerror(-ENOMEM));
        return;
    }
    if (type == IPD_WATCH_DELETED) {
        /* The deleted Job's last state is evidence too: a TTL deletes a Job right after it
         * finished, and a watch may merge the update that finished it into the deletion. */
        if (info.complete)
            t->kjob_complete = 1;
        if (info.gave_up)
            t->kjob_gave_up = 1;
        if (info.failed && !t->kjob_failed) {
            t->kjob_failed = 1;
            snprintf(k->kjob_reason, sizeof(k->kjob_reason), "%s", info.failed_reason);
            snprintf(k->kjob_message, sizeof(k->kjob_message), "%s", info.failed_message);
        }
        kjob_gone(m, j, t);
        return;
    }
    t->create_asked_at = 0;
    /* The job's spec (timeout_seconds names a timeout) and tolerations (a node's taints) are
     * inputs of every task. */
    int job_changed = !ipd_job_spec_same(&j->job.spec, &info.spec);
    ipd_strlcpy_utf8(j->job.image, info.image, sizeof(j->job.image));
    j->job.pull_policy = info.pull_policy;
    j->job.spec = info.spec;
    ipd_model_take_created(m, j, info.created_at, CREATED_KJOB);
    if (info.node_count > j->node_count)
        j->node_count = info.node_count;
    snprintf(k->kjob_name, sizeof(k->kjob_name), "%s", info.name);
    snprintf(k->kjob_ns, sizeof(k->kjob_ns), "%s", info.ns);
    t->has_kjob = 1;
    t->kjob_gone = 0;
    t->suspended = info.suspended != 0;
    if (!info.suspended)
        t->resume_asked_at = 0;
    t->kjob_failed = info.failed != 0;
    t->kjob_complete = info.complete != 0;
    t->kjob_pulled = info.pulled != 0;
    t->kjob_gave_up = info.gave_up != 0;
    t->kjob_active = info.active;
    snprintf(k->kjob_reason, sizeof(k->kjob_reason), "%s", info.failed_reason);
    snprintf(k->kjob_message, sizeof(k->kjob_message), "%s", info.failed_message);
    t->kjob_mark = m->mark[IPD_MODEL_KJOBS];
    json_t *tol = (json_t *)ipd_kube_job_tolerations(obj);
    /* json_equal() says NULL differs from NULL. */
    if (tol != j->tolerations && (tol == NULL || j->tolerations == NULL || !json_equal(tol, j->tolerations))) {
        json_decref(j->tolerations);
        j->tolerations = json_incref(tol);
        job_changed = 1;
    }
    if (job_changed)
        ipd_model_mark_dirty(m, j);
    else
        ipd_model_mark_task(m, j, t);
}

/* The Nodes were listed for the first time: every active task may wait on its node. */
static void nodes_changed(ipd_model_t *m)
{
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        if (!ipd_job_state_is_final((ipd_job_state_t)j->job.state))
            ipd_model_mark_dirty(m, j);
    }
}

/*
 * A Node this master had seen is gone (its DELETED event, or a list without it): every task of
 * an active job on it that is not final is noted, and its authority gives it up
 * (ipd_model_run_actions; master/standin.h for a node without a daemon). A keep job's node
 * leaves its selection instead (master/model_keep.c). A node never seen is not taken for
 * deleted: a job may name a node the workers listed before this master did.
 */
static void forget_node(ipd_model_t *m, const char *name)
{
    node_rec_t *n = ipd_strmap_get(&m->nodes, name);
    if (n == NULL)
        return;
    ipd_strmap_del(&m->nodes, name);
    json_decref(n->obj);
    free(n);
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        task_rec_t *t =
            ipd_job_state_is_final((ipd_job_state_t)j->job.state) || j->job.keep ? NULL : ipd_model_task(j, name, 0);
        if (t != NULL && !ipd_task_state_is_final((ipd_task_state_t)t->task.state))
            t->node_deleted = 1;
    }
    ipd_model_mark_node(m, name, 1);
}

static void apply_node(ipd_model_t *m, ipd_watch_type_t type, json_t *obj)
{
    const char *name = ipd_json_str_at(json_object_get(obj, "metadata"), "name", NULL);
    if (name == NULL || name[0] == '\0')
        return;
    if (type == IPD_WATCH_DELETED) {
        forget_node(m, name);
        return;
    }
    node_rec_t *n = ipd_strmap_get(&m->nodes, name);
    if (n == NULL) {
        if ((n = calloc(1, sizeof(*n))) == NULL)
            return;
        if (ipd_strmap_put(&m->nodes, name, n) != 0) {
            free(n);
            return;
        }
    }
    n->mark = m->mark[IPD_MODEL_NODES];
    if (n->obj != NULL && json_equal(n->obj, obj))
        return; /* a heartbeat-only change is pruned away to nothing */
    json_decref(n->obj);
    n->obj = json_incref(obj);
    ipd_model_mark_node(m, name, 1);
}

ipd_node_block_t ipd_model_node_block(ipd_model_t *m, const job_rec_t *j, const char *node, char *reason, size_t rcap,
                                      char *message, size_t mcap)
{
    if (!m->nodes_listed)
        return IPD_NODE_USABLE;
    node_rec_t *n = ipd_strmap_get(&m->nodes, node);
    return ipd_kube_node_check(n ? n->obj : NULL, node, j->tolerations, reason, rcap, message, mcap);
}

void ipd_model_apply(ipd_model_t *m, ipd_model_kind_t kind, ipd_watch_type_t type, json_t *obj)
{
    m->stats.objects++;
    if (kind == IPD_MODEL_KJOBS || kind == IPD_MODEL_ANCHORS)
        apply_kjob(m, kind, type, obj);
    else if (kind == IPD_MODEL_PODS)
        apply_pod(m, type, obj);
    else if (kind == IPD_MODEL_NODES)
        apply_node(m, type, obj);
    else
        apply_event(m, type, obj);
}

/* A list is complete: what it did not mention is gone. */
static void sweep(ipd_model_t *m, ipd_model_kind_t kind)
{
    size_t b = 0;
    job_rec_t *j = NULL;
    ipd_strmap_entry_t *e = NULL;
    if (kind == IPD_MODEL_KJOBS || kind == IPD_MODEL_ANCHORS) {
        while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
            /* An anchor this collection showed before and its new list does not: deleted meanwhile. */
            if (j->keep.anchored && j->keep.anchor_kind == (int)kind && j->keep.anchor_mark != m->mark[kind]) {
                ipd_kube_job_info_t gone = {.anchor = 1};
                snprintf(gone.name, sizeof(gone.name), "imgpull-%s", j->job.id);
                apply_anchor(m, j, kind, IPD_WATCH_DELETED, &gone);
            }
            for (size_t i = 0; i < j->ntasks && kind == IPD_MODEL_KJOBS; i++)
                if (j->tasks[i].has_kjob && j->tasks[i].kjob_mark != m->mark[kind])
                    kjob_gone(m, j, &j->tasks[i]);
        }
    } else if (kind == IPD_MODEL_NODES) {
        size_t n = 0, cap = m->nodes.count;
        char **gone = cap ? calloc(cap, sizeof(*gone)) : NULL;
        while (gone != NULL && (e = ipd_strmap_next(&m->nodes, &b, e)) != NULL)
            if (((node_rec_t *)e->value)->mark != m->mark[kind] && n < cap)
                gone[n++] = strdup(e->key);
        for (size_t i = 0; i < n; i++) {
            if (gone[i] != NULL)
                forget_node(m, gone[i]);
            free(gone[i]);
        }
        free(gone);
        if (!m->nodes_listed)
            nodes_changed(m);
        m->nodes_listed = 1;
    } else if (kind == IPD_MODEL_PODS) {
        /* Collect first: forgetting a pod edits the map being walked. */
        size_t n = 0, cap = m->pods.count;
        pod_rec_t **stale = cap ? malloc(cap * sizeof(*stale)) : NULL;
        while (stale != NULL && (e = ipd_strmap_next(&m->pods, &b, e)) != NULL)
            if (((pod_rec_t *)e->value)->mark != m->mark[kind] && n < cap)
                stale[n++] = e->value;
        for (size_t i = 0; i < n; i++)
            forget_pod(m, stale[i]);
        free(stale);
    }
}

void ipd_model_expire_orphans(ipd_model_t *m, int64_t now, int64_t max_age_ms)
{
    size_t b = 0, n = 0;
    ipd_strmap_entry_t *e = NULL;
    pod_rec_t *stale[256];
    while (n < 256 && (e = ipd_strmap_next(&m->pods, &b, e)) != NULL) {
        pod_rec_t *p = e->value;
        if (p->obj == NULL && now - p->seen_at > max_age_ms)
            stale[n++] = p;
    }
    for (size_t i = 0; i < n; i++)
        forget_pod(m, stale[i]);
}

#define OPS(kind, suffix)                                                                                              \
    static void begin_##suffix(void *ctx)                                                                              \
    {                                                                                                                  \
        ((ipd_model_t *)ctx)->mark[kind]++;                                                                            \
    }                                                                                                                  \
    static void object_##suffix(void *ctx, ipd_watch_type_t type, json_t *obj)                                         \
    {                                                                                                                  \
        ipd_model_apply(ctx, kind, type, obj);                                                                         \
    }                                                                                                                  \
    static void end_##suffix(void *ctx)                                                                                \
    {                                                                                                                  \
        sweep(ctx, kind);                                                                                              \
    }

OPS(IPD_MODEL_KJOBS, kjobs)
OPS(IPD_MODEL_PODS, pods)
OPS(IPD_MODEL_EVENTS, events)
OPS(IPD_MODEL_NODES, nodes)
OPS(IPD_MODEL_ANCHORS, anchors)

/* Pods are decoded to what apply_pod() and the task mapping read (ipd_kube_pod_shape): a watched
 * Pod is several KB of which they read a few dozen bytes. Jobs and Events are small and rare. */
static const ipd_reflector_ops_t ops_by_kind[IPD_MODEL_KIND_COUNT] = {
    {begin_kjobs, object_kjobs, end_kjobs, NULL},       {begin_pods, object_pods, end_pods, &ipd_kube_pod_shape},
    {begin_events, object_events, end_events, NULL},    {begin_nodes, object_nodes, end_nodes, &ipd_kube_node_shape},
    {begin_anchors, object_anchors, end_anchors, NULL},
};

const ipd_reflector_ops_t *ipd_model_ops(ipd_model_kind_t kind)
{
    return &ops_by_kind[kind];
}
