#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/model_internal.h"
#include "master/standin.h"
#include "proto/cause.h"
#include "proto/error.h"
#include "proto/kube_node.h"
#include "shared/log.h"

/* An action the cluster has not carried out after this long is asked again. */
#define ACTION_RETRY_MS 5000
/* A parallelism slot not granted is claimed again this long after (about every tick). */
#define SLOT_RETRY_MS 900
/* A Job seen Failed before its pod's failure waits this long for the pod's own words. */
#define POD_WORDS_WAIT_MS 10000

static void set_text(ipd_task_t *t, const char *reason, const char *message)
{
    ipd_strlcpy_utf8(t->reason, reason, sizeof(t->reason));
    ipd_strlcpy_utf8(t->message, message, sizeof(t->message));
}

/* Reasons the model gives a pending task itself; the cluster's own words replace them. */
static int is_waiting_reason(const char *reason)
{
    return strcmp(reason, IPD_REASON_QUEUED) == 0 || strcmp(reason, IPD_REASON_NODE_NOT_READY) == 0 ||
           strcmp(reason, IPD_REASON_NODE_CORDONED) == 0 || strcmp(reason, IPD_REASON_UNSCHEDULABLE) == 0;
}

/* A pod failed by its activeDeadlineSeconds, which is the job's per-attempt timeout_seconds. */
static void name_timeout(const job_rec_t *j, ipd_task_t *next)
{
    char msg[IPD_MESSAGE_SIZE];
    if (strcmp(next->reason, "DeadlineExceeded") != 0 || j->job.spec.timeout_seconds <= 0)
        return;
    snprintf(msg, sizeof(msg), "the pull attempt took longer than timeout_seconds (%d s)",
             (int)j->job.spec.timeout_seconds);
    set_text(next, IPD_REASON_PULL_TIMEOUT, msg);
}

/* The task as its pod and events say, or as its Job says when there is no pod. */
static void from_cluster(ipd_model_t *m, const job_rec_t *j, task_rec_t *t, ipd_task_t *next, int64_t now)
{
    const task_kube_t *k = task_text(t);
    pod_rec_t *p = k->pod_key[0] ? ipd_strmap_get(&m->pods, k->pod_key) : NULL;
    if (p != NULL && p->obj != NULL) {
        ipd_kube_event_t evs[POD_MAX_EVENTS];
        for (size_t i = 0; i < p->nevents; i++)
            evs[i] = p->events[i].ev;
        int64_t pulled_ms = next->pull_ms, pulled_bytes = next->image_bytes;
        if (ipd_kube_pod_map(p->obj, evs, p->nevents, t->kjob_failed, now, next) == 0) {
            /* A replacement pod finds the image "already present" (our own earlier pull): the
             * task keeps the figures of the pull that actually happened. */
            if (pulled_ms > 0 && next->pull_ms <= 0 && next->image_bytes < 0) {
                next->pull_ms = pulled_ms;
                next->image_bytes = pulled_bytes;
            }
            if (t->kjob_failed && strcmp(next->reason, "JobFailed") == 0 && k->kjob_reason[0] != '\0')
                set_text(next, k->kjob_reason, k->kjob_message);
            name_timeout(j, next);
            /* The Job controller fails a Job only after it counted the pod failed, but the pods
             * watch may deliver that pod after the Job: the task stays retrying (up to 10 s) so that
             * its final words are the pod's (PullTimeout, the registry's answer), not the Job's. */
            if (t->kjob_failed && next->state == IPD_TASK_FAILED && !p->failed &&
                !ipd_task_state_is_final((ipd_task_state_t)t->task.state)) {
                if (t->job_failed_at == 0)
                    t->job_failed_at = now;
                if (now - t->job_failed_at < POD_WORDS_WAIT_MS) {
                    next->state = IPD_TASK_RETRYING;
                    /* No object may change when the wait ends: ipd_model_tick recomputes the task. */
                    t->recheck_at = t->job_failed_at + POD_WORDS_WAIT_MS;
                }
            }
            /* The Job's Complete condition: a pod of it exited 0, whether or not the pods watch
             * has shown that pod yet. */
            if (t->kjob_complete && !t->kjob_failed && next->state != IPD_TASK_SUCCEEDED) {
                next->state = IPD_TASK_SUCCEEDED;
                set_text(next, IPD_REASON_PULLED, IPD_MESSAGE_PULLED);
            }
            p->attempts = next->attempts;
            next->attempts += t->attempts_before;
            /* The task is keyed by its Job's node; the pod is pinned there. */
            ipd_strlcpy_utf8(next->node, t->task.node, sizeof(next->node));
        }
    } else if (t->kjob_failed) {
        next->state = IPD_TASK_FAILED;
        set_text(next, k->kjob_reason[0] ? k->kjob_reason : "JobFailed", k->kjob_message);
    } else if (t->kjob_complete) {
        next->state = IPD_TASK_SUCCEEDED;
        set_text(next, IPD_REASON_PULLED, IPD_MESSAGE_PULLED);
    } else if (t->suspended) {
        next->state = IPD_TASK_PENDING;
        set_text(next, IPD_REASON_QUEUED, "waiting for a free slot of the job's parallelism");
    } else if (t->has_kjob && k->pod_key[0] == '\0' && next->state == IPD_TASK_PENDING &&
               is_waiting_reason(next->reason)) {
        set_text(next, "", "");
    }
}

/*
 * Another node's task, in node scope, as its Kubernetes Job says: the pods and Events that carry
 * reasons and figures are watched by that node's daemon only.
 */
static void from_kjob(const task_rec_t *t, ipd_task_t *next)
{
    if (ipd_task_state_is_final((ipd_task_state_t)next->state))
        return;
    if (t->kjob_complete || t->kjob_pulled)
        next->state = IPD_TASK_SUCCEEDED;
    else if (t->kjob_failed || t->kjob_gave_up)
        next->state = IPD_TASK_FAILED;
    else if (t->has_kjob && t->kjob_active > 0 && !t->suspended)
        next->state = IPD_TASK_PULLING;
    else
        next->state = IPD_TASK_PENDING;
    set_text(next, "", "");
}

/*
 * A pending task whose node cannot take a pull pod says so. A task that waits on its own side
 * (no Job yet, or a suspended one) waits for any block; a pod already on the node waits only for
 * the kubelet (Kubernetes runs a pinned pod on a cordoned or NoSchedule-tainted node).
 */
static void node_reason(ipd_model_t *m, job_rec_t *j, task_rec_t *t, ipd_task_t *next)
{
    char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
    ipd_node_block_t b = ipd_model_node_block(m, j, t->task.node, reason, sizeof(reason), message, sizeof(message));
    int waits_here = !t->has_kjob || t->suspended || task_text(t)->pod_key[0] == '\0';
    if (b == IPD_NODE_NOT_READY || (b != IPD_NODE_USABLE && waits_here))
        set_text(next, reason, message);
}

/* True while the daemon of `node` (or of the task's node) is lost: its liveness key expired. */
static int node_name_lost(const ipd_model_t *m, const char *node)
{
    return m->lost_nodes.count > 0 && ipd_strmap_get(&m->lost_nodes, node) != NULL;
}

static int node_lost(const ipd_model_t *m, const task_rec_t *t)
{
    return node_name_lost(m, t->task.node);
}

/* True when the task has rules of its own that change a published record: attempts adopted
 * from the table, a give-up, or its Job deleted before it finished. */
static int own_rules(const task_rec_t *t)
{
    return t->adopted_attempts != 0 || t->gave_up || t->kjob_gone;
}

/*
 * A published remote task that no rule of ipd_model_compute_task changes becomes its record as
 * it is: the record carries its cause already (ipd_model_remote_task), and a change takes the
 * record's time. Returns 1 or 0 as ipd_model_compute_task does, or -1 when a rule applies (the
 * daemon is lost, the task is final, or attempts, a give-up or a deletion of its own apply):
 * the general computation then decides.
 */
static int from_published(ipd_model_t *m, task_rec_t *t)
{
    const ipd_task_t *rec = t->remote;
    if (own_rules(t) || ipd_task_state_is_final((ipd_task_state_t)t->task.state) ||
        strcmp(rec->node, t->task.node) != 0 ||
        (!ipd_task_state_is_final((ipd_task_state_t)rec->state) && node_lost(m, t)))
        return -1;
    t->recheck_at = 0;
    unsigned rec_blank = ipd_task_blank(rec);
    if (!t->untimed && ipd_task_same_but_time_known(rec, rec_blank, &t->task, t->blank))
        return 0;
    ipd_task_copy_known(&t->task, t->blank, rec, rec_blank);
    t->blank = (uint8_t)rec_blank;
    return 1;
}

int ipd_model_takes_record(const ipd_model_t *m, const task_rec_t *t, const ipd_task_t *rec)
{
    ipd_task_state_t s = (ipd_task_state_t)rec->state;
    if (m->copy_tasks || !m->remote_feed || ipd_task_state_is_final(s) || s == IPD_TASK_UNKNOWN ||
        node_name_lost(m, rec->node))
        return 0;
    /* The conditions of from_published, on the task as it is now. */
    return t == NULL ||
           (t->remote == NULL && !own_rules(t) && !ipd_task_state_is_final((ipd_task_state_t)t->task.state) &&
            strcmp(rec->node, t->task.node) == 0);
}

void ipd_model_take_record(task_rec_t *t, const ipd_task_t *rec)
{
    ipd_task_t r;
    ipd_task_copy(&r, rec);
    ipd_task_set_cause(&r);
    t->has_record = 1;
    t->record_updated_at = r.updated_at;
    /* As from_published: a record that differs in its time only leaves the task as it is (a
     * task not computed yet takes the record's time). Its strings known empty on both sides
     * (t->blank) are not looked at: with thousands of jobs, each is a line out of the cache. */
    assert((ipd_task_blank(&t->task) & t->blank) == t->blank);
    unsigned r_blank = ipd_task_blank(&r);
    if (!t->untimed && ipd_task_same_but_time_known(&r, r_blank, &t->task, t->blank))
        return;
    ipd_task_copy_known(&t->task, t->blank, &r, r_blank);
    t->blank = (uint8_t)r_blank;
    t->record_changed = 1;
}

void ipd_model_task_set(task_rec_t *t, const ipd_task_t *src)
{
    unsigned src_blank = ipd_task_blank(src);
    ipd_task_copy_known(&t->task, t->blank, src, src_blank);
    t->blank = (uint8_t)src_blank;
}

/*
 * The record taken into `t->task` (ipd_model_take_record) still stands as the task (0), or is
 * put apart into `t->remote` (1) for the general computation: a rule applies now (the daemon
 * was lost meanwhile, ...), or the model always computes (ipd_model_set_copy_tasks). -ENOMEM
 * when it cannot be put apart.
 */
static int record_apart(ipd_model_t *m, task_rec_t *t)
{
    if (!m->copy_tasks && !own_rules(t) && !node_lost(m, t))
        return 0;
    if ((t->remote = malloc(sizeof(*t->remote))) == NULL)
        return -ENOMEM;
    ipd_task_copy(t->remote, &t->task);
    t->remote->updated_at = t->record_updated_at;
    return 1;
}

/*
 * Another node's task as its daemon published it through Redis, unknown while that daemon is lost.
 * `next` starts as the published record when there is one (ipd_model_compute_task), else as the
 * task last computed.
 */
static void from_remote(ipd_model_t *m, const task_rec_t *t, ipd_task_t *next)
{
    /* The record was filed under its own node name: the copy is the same string, kept as a guard. */
    if (t->remote != NULL && strcmp(next->node, t->task.node) != 0)
        ipd_strlcpy_utf8(next->node, t->task.node, sizeof(next->node));
    if (node_lost(m, t) && !ipd_task_state_is_final((ipd_task_state_t)next->state)) {
        next->state = IPD_TASK_UNKNOWN;
        set_text(next, IPD_STANDIN_REASON, IPD_STANDIN_MESSAGE);
    }
}

/*
 * This node's final task as a daemon of this node published it before this master (own_rec_t):
 * what that daemon saw of it and this master cannot see any more (a pod deleted since, Events
 * expired) stands, as it would have had the daemon kept running: its pod, and figures and
 * attempts its objects no longer show.
 */
static void own_final_kept(ipd_task_t *next, const ipd_task_t *rec)
{
    if (rec->state != next->state || !ipd_task_state_is_final((ipd_task_state_t)next->state))
        return;
    if (next->pod[0] == '\0') {
        ipd_strlcpy_utf8(next->pod, rec->pod, sizeof(next->pod));
        ipd_strlcpy_utf8(next->ns, rec->ns, sizeof(next->ns));
    }
    if (next->pull_ms < 0)
        next->pull_ms = rec->pull_ms;
    if (next->image_bytes < 0)
        next->image_bytes = rec->image_bytes;
    if (next->attempts < rec->attempts)
        next->attempts = rec->attempts;
}

static int compute(ipd_model_t *m, job_rec_t *j, task_rec_t *t, int64_t now)
{
    int remote = model_is_remote(m, t->task.node);
    if (remote && m->remote_feed && t->has_record && t->remote == NULL) {
        int apart = record_apart(m, t);
        if (apart == 0) {
            t->recheck_at = 0;
            return 0;
        }
        if (apart < 0) {
            ipd_error("model", "task %s of job %s kept as it is: %s", t->task.node, j->job.id, ipd_strerror(apart));
            return 0;
        }
    }
    if (remote && m->remote_feed && t->remote != NULL && !m->copy_tasks) {
        int rc = from_published(m, t);
        if (rc >= 0)
            return rc;
    }
    /* A published remote task starts from its record, every other from the task as last computed:
     * one copy of the record, not two. */
    const ipd_task_t *base = remote && m->remote_feed && t->remote != NULL ? t->remote : &t->task;
    ipd_task_t next = *base;
    t->recheck_at = 0; /* set again below by a time-based rule that still waits */
    /* This node's task as a daemon of this node published it before this master (own_rec_t). */
    const own_rec_t *o = remote ? NULL : ipd_model_own_record(m, j->job.id);
    if (o != NULL && strcmp(o->task.node, t->task.node) != 0)
        o = NULL;
    /* Its attempts count as a table's would (below): pods of earlier attempts may be gone. */
    if (o != NULL && o->task.attempts > t->adopted_attempts)
        t->adopted_attempts = o->task.attempts;
    if (remote && m->remote_feed)
        from_remote(m, t, &next);
    else if (remote)
        from_kjob(t, &next);
    else
        from_cluster(m, j, t, &next, now);
    /* The kubelet's own words, before this model puts messages of its own in their place. A task
     * another daemon publishes comes with the failure that daemon kept: it saw the pods. */
    if (!(remote && m->remote_feed))
        ipd_task_keep_failure(&next, &t->task);
    if (!remote && next.state == IPD_TASK_PENDING)
        node_reason(m, j, t, &next);
    /*
     * A task reloaded from the table (a new master), or published by this node's daemon before
     * it, counted attempts of pods that may be gone, deleted while no master watched. Until every
     * collection is listed, the pods and events seen so far may not show all the attempts they
     * hold either: the count only never goes back. Once listed, what the table or the record held
     * and the pods do not show is taken as the earlier pods' attempts, once, and later attempts
     * add to it.
     */
    if (t->adopted_attempts != 0) {
        if (j->from_table || !m->lists_done) {
            if (next.attempts < t->adopted_attempts)
                next.attempts = t->adopted_attempts;
        } else {
            if (t->adopted_attempts > next.attempts) {
                t->attempts_before += t->adopted_attempts - next.attempts;
                next.attempts = t->adopted_attempts;
            }
            t->adopted_attempts = 0;
        }
    }
    /*
     * A final state is published once and never changes. It is only ever reached on evidence
     * nothing later can overturn: success from the pull container's exit 0 (the image was pulled
     * and a container created from it) or the Job's Complete condition; failure from the Job's
     * Failed condition (its backoff limit or deadline, counted by Kubernetes) or this model's own
     * decision to give up on a pull the kubelet would retry forever; cancellation from the Job's
     * deletion before either. A pod or Event that arrives afterwards (a watch that was behind, a
     * replacement pod, an Event of an older attempt) may still bring figures the record lacks and
     * attempts it did not count, never another state or other words. One exception: words given
     * without any pod or attempt, from the Job alone (a stand-in's, master/standin.h), give way to
     * the words of the same end that its pod gave (its node's daemon, back), with the pod.
     */
    if (ipd_task_state_is_final((ipd_task_state_t)t->task.state)) {
        ipd_task_t kept = t->task;
        if (ipd_task_words_from_job(&kept) && next.state == kept.state && next.pod[0] != '\0' &&
            strcmp(kept.ns, next.ns) == 0) {
            kept = next;
            kept.updated_at = t->task.updated_at;
        }
        if (kept.pull_ms < 0 && next.pull_ms > 0)
            kept.pull_ms = next.pull_ms;
        if (kept.image_bytes < 0 && next.image_bytes >= 0)
            kept.image_bytes = next.image_bytes;
        if (next.attempts > kept.attempts)
            kept.attempts = next.attempts;
        /* So does the pod a stand-in could not name (master/standin.h). */
        if (kept.pod[0] == '\0' && next.pod[0] != '\0' && strcmp(kept.ns, next.ns) == 0)
            ipd_strlcpy_utf8(kept.pod, next.pod, sizeof(kept.pod));
        next = kept;
    } else if (t->gave_up) {
        next.state = IPD_TASK_FAILED;
        set_text(&next, task_text(t)->gave_up_reason, task_text(t)->gave_up_message);
    }
    /* The Job went while no master of this node watched, and a daemon (a stand-in, master/standin.h)
     * published the task's end meanwhile, from the Job this master can no longer see: that end
     * stands, as every other daemon shows it. */
    if (t->kjob_gone && o != NULL && !ipd_task_state_is_final((ipd_task_state_t)next.state) &&
        ipd_task_state_is_final((ipd_task_state_t)o->task.state))
        ipd_task_copy(&next, &o->task);
    if (t->kjob_gone && !ipd_task_state_is_final((ipd_task_state_t)next.state)) {
        next.state = IPD_TASK_CANCELLED;
        set_text(&next, IPD_REASON_JOB_DELETED, IPD_MESSAGE_JOB_DELETED);
    }
    ipd_task_set_cause(&next);
    /* A published remote task keeps its daemon's time, so that every daemon shows the same task
     * (unknown too when the record says so: a stand-in's, master/standin.h), but not the time of
     * a task this daemon judges lost; so does this node's task as a daemon of this node
     * published it before this master. */
    int64_t updated_at = remote && m->remote_feed && t->remote != NULL &&
                                 (next.state != IPD_TASK_UNKNOWN || t->remote->state == IPD_TASK_UNKNOWN)
                             ? t->remote->updated_at
                             : now;
    if (o != NULL) {
        own_final_kept(&next, &o->task);
        /* The same task, or the same final state as published before (by a stand-in too, whose
         * task the pod and figures seen here fill in): with the time it was published with. */
        if (ipd_task_same_but_time(&o->task, &next) ||
            (ipd_task_state_is_final((ipd_task_state_t)o->task.state) && o->task.state == next.state))
            updated_at = o->task.updated_at;
        else
            o = NULL;
    }
    /* A final task keeps the earliest time its end was seen with: figures and attempts that come
     * later fill it in without moving it, and a record or this node's daemon that saw the same
     * end earlier (a stand-in saw it from the Job, the node's daemon from the pod) moves it
     * there. Whatever order the records come in, every daemon ends with the same time, and the
     * job's end with it (model.c, last_task_end). */
    if (ipd_task_state_is_final((ipd_task_state_t)t->task.state) && !t->untimed && t->task.updated_at < updated_at)
        updated_at = t->task.updated_at;
    /* The time is news when a record gives it: this node's from before this master, a stand-in's
     * unknown task (the daemons showed it unknown from their own moments), an earlier end. */
    int record_time =
        o != NULL ||
        (remote && m->remote_feed && t->remote != NULL &&
         (t->remote->state == IPD_TASK_UNKNOWN || ipd_task_state_is_final((ipd_task_state_t)t->task.state)));
    next.updated_at = t->task.updated_at;
    if (!t->untimed && ipd_task_same(&next, &t->task) && (!record_time || updated_at == t->task.updated_at))
        return 0;
    next.updated_at = updated_at;
    if (next.state == IPD_TASK_FAILED && t->task.state != IPD_TASK_FAILED && next.cause < IPD_CAUSE_COUNT &&
        !model_is_remote(m, next.node))
        m->stats.task_failures[next.cause]++;
    ipd_model_task_set(t, &next);
    return 1;
}

int ipd_model_compute_task(ipd_model_t *m, job_rec_t *j, task_rec_t *t, int64_t now)
{
    /* A record taken since the last computation changed the task already. */
    int c = compute(m, j, t, now);
    c |= t->record_changed;
    t->record_changed = 0;
    t->untimed = 0;
    return c;
}

/* The task fails in these words and its Job is deleted (stop_if_done). */
static void give_up(ipd_model_t *m, job_rec_t *j, size_t i, const char *reason, const char *message)
{
    task_rec_t *t = &j->tasks[i];
    task_kube_t *k = ipd_model_task_kube(t);
    if (k == NULL)
        return; /* tried again at the task's next computation */
    t->gave_up = 1;
    snprintf(k->gave_up_reason, sizeof(k->gave_up_reason), "%s", reason);
    snprintf(k->gave_up_message, sizeof(k->gave_up_message), "%s", message);
    ipd_info("model", "job %s node %s: %s", j->job.id, t->task.node, k->gave_up_message);
    ipd_model_mark_task(m, j, t);
    ipd_model_count_task(m, j, i);
}

/*
 * A pod stuck in ImagePullBackOff never fails its Job: the kubelet retries forever. The job's
 * backoff_limit is honoured here (proto/kube_pod.h, ipd_kube_pull_exhausted): after
 * backoff_limit + 1 failed attempts the task fails and its Job is deleted, which stops the
 * retries. A task whose Node was deleted fails at once (proto/kube_node.h,
 * ipd_kube_node_deleted_message): its pull can never happen.
 */
static void give_up_if_done_for(ipd_model_t *m, job_rec_t *j, size_t i)
{
    task_rec_t *t = &j->tasks[i];
    ipd_task_t *task = &t->task;
    char msg[IPD_MESSAGE_SIZE];
    if (t->gave_up)
        return;
    if (t->node_deleted && !ipd_task_state_is_final((ipd_task_state_t)task->state)) {
        ipd_kube_node_deleted_message(task->node, msg, sizeof(msg));
        give_up(m, j, i, IPD_REASON_NODE_DELETED, msg);
    } else if (ipd_kube_pull_exhausted(task, j->job.spec.backoff_limit, msg, sizeof(msg))) {
        give_up(m, j, i, task->reason, msg);
    }
}

/*
 * A task that gave up keeps asking for its Job's deletion until the Job is gone: the kubelet
 * would retry the pull forever. A task that succeeded leaves its Job alone: the Job Completed by
 * itself and its ttlSecondsAfterFinished removes it (a keep job's Job, which carries the job for
 * a restarted master, has none).
 */
static void stop_if_done(ipd_model_t *m, task_rec_t *t, int64_t now)
{
    if (!t->gave_up || !t->has_kjob || m->actions.delete_job == NULL ||
        (t->stop_asked_at != 0 && now - t->stop_asked_at < ACTION_RETRY_MS))
        return;
    t->stop_asked_at = now;
    t->master_deleting = 1;
    if (m->actions.fail_job != NULL)
        m->actions.fail_job(m->actions.ctx, task_text(t)->kjob_ns, task_text(t)->kjob_name);
    else
        m->actions.delete_job(m->actions.ctx, task_text(t)->kjob_ns, task_text(t)->kjob_name);
}

/* This node's Job of a task will never run again: finished (and no pod left active), or gone
 * with the task final. */
static int slot_done(const task_rec_t *t)
{
    if (t->has_kjob)
        return (t->kjob_complete || t->kjob_failed) && t->kjob_active == 0;
    return t->kjob_gone || ipd_task_state_is_final((ipd_task_state_t)t->task.state);
}

/*
 * Node scope with Redis (actions.slot): each daemon sees only its node's Job, so the job's
 * `parallelism` is counted in Redis (master/redis_link.h, ipd_redis_link_slot). Every Job of
 * such a job is created suspended (shared/pulljobs.c); this node's daemon claims a slot for its
 * Job while it waits and its node can take a pull pod, again every tick until granted
 * (ipd_model_slot_granted resumes it); it holds the slot while the Job runs (said once per
 * republish: after a restart of Redis or of this daemon), and frees it once the Job will never
 * run again.
 */
static void own_slot(ipd_model_t *m, job_rec_t *j, int64_t now)
{
    task_rec_t *t = ipd_model_task(j, m->self_node, 0);
    if (t == NULL || (!t->has_kjob && !ipd_task_state_is_final((ipd_task_state_t)t->task.state)))
        return;
    const task_kube_t *k = task_text(t);
    int32_t limit = j->job.spec.parallelism;
    /* Said once, when it was sent (the link may be down, or syncing after a reconnect). */
    int op = slot_done(t) ? IPD_MODEL_SLOT_DONE : !t->suspended ? IPD_MODEL_SLOT_HOLD : IPD_MODEL_SLOT_CLAIM;
    if (op != IPD_MODEL_SLOT_CLAIM) {
        if (t->slot != 1 + op && m->actions.slot(m->actions.ctx, j->job.id, op, limit, k->kjob_ns, k->kjob_name) == 0)
            t->slot = (uint8_t)(1 + op);
        return;
    }
    if (t->resume_asked_at != 0 && now - t->resume_asked_at < SLOT_RETRY_MS)
        return;
    char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
    if (ipd_model_node_block(m, j, t->task.node, reason, sizeof(reason), message, sizeof(message)) != IPD_NODE_USABLE)
        return;
    t->resume_asked_at = now;
    t->slot = 1 + IPD_MODEL_SLOT_CLAIM;
    ipd_model_count_task(m, j, (size_t)(t - j->tasks));
    m->actions.slot(m->actions.ctx, j->job.id, IPD_MODEL_SLOT_CLAIM, limit, k->kjob_ns, k->kjob_name);
}

void ipd_model_slots_again(ipd_model_t *m)
{
    size_t b = 0;
    job_rec_t *j = NULL;
    while (m->self_node[0] != '\0' && (j = ipd_model_next_job(m, &b, j)) != NULL) {
        task_rec_t *t = j->job.spec.parallelism > 0 ? ipd_model_task(j, m->self_node, 0) : NULL;
        if (t != NULL && t->slot != 0) {
            t->slot = 0;
            ipd_model_mark_job(m, j);
        }
    }
}

void ipd_model_slot_granted(ipd_model_t *m, const char *id)
{
    job_rec_t *j = ipd_model_job(m, id, 0);
    task_rec_t *t = j != NULL && m->self_node[0] != '\0' ? ipd_model_task(j, m->self_node, 0) : NULL;
    if (t == NULL || !t->has_kjob || !t->suspended || slot_done(t) || j->job.cancelled || m->actions.resume_job == NULL)
        return;
    t->resume_asked_at = ipd_model_now();
    m->actions.resume_job(m->actions.ctx, task_text(t)->kjob_ns, task_text(t)->kjob_name);
}

/*
 * Node scope without Redis: every daemon sees every node's Job but resumes only its own node's.
 * Counting the Jobs that run is not enough then: when a slot frees, each daemon whose Job waits
 * would take it, all at once. So a Job waits also for the Jobs that wait before it, in task
 * order, which every daemon sees alike: of the Jobs that may run at once, the last one's daemon
 * counted every other as running, waiting before it, or not seen yet, whatever it had not seen
 * yet of the others. A Job waiting on a node that cannot take a pull pod holds the later ones
 * back until it can (a daemon sees only its own Node); Redis does not (own_slot).
 */
static int64_t waiting_ahead(const ipd_model_t *m, const job_rec_t *j)
{
    const task_rec_t *own = ipd_model_task((job_rec_t *)j, m->self_node, 0);
    int64_t n = 0;
    for (const task_rec_t *t = j->tasks; own != NULL && t < own; t++)
        n += t->has_kjob && t->suspended && !t->kjob_complete && !t->kjob_failed;
    return n;
}

/*
 * parallelism is a hard cap on the job's Jobs active in the cluster, counted from the Jobs
 * themselves (their suspend flag, conditions and status.active), never from the tasks' states:
 * a task the pods watch shows pulled may still have its pod, and a watch that is behind shows
 * less than exists. A resume asked and not yet seen holds its place, and so does every Job of
 * the job not seen yet (node_count from the annotations): it may have been created unsuspended.
 *
 * The Jobs that hold a slot and those seen are counted as the tasks change (master/model_counts.c);
 * the suspended Jobs of this node are visited in task order from the job's bitmaps: those with a
 * resume asked (held places, asked again when due) and, while a slot is free, those waiting.
 */
static void resume_within_parallelism(ipd_model_t *m, job_rec_t *j, int64_t now)
{
    if (m->remote_feed && m->actions.slot != NULL && j->job.spec.parallelism > 0) {
        own_slot(m, j, now);
        return;
    }
    /* Without a parallelism, only tasks held for their node are suspended: no slot limit. */
    int32_t limit = j->job.spec.parallelism > 0 ? j->job.spec.parallelism : INT32_MAX;
    if (m->actions.resume_job == NULL || j->counts.queued + j->counts.asked == 0)
        return;
    int64_t running = j->counts.running;
    if (m->self_node[0] != '\0' && j->job.spec.parallelism > 0)
        running += waiting_ahead(m, j);
    size_t seen = j->counts.seen;
    if (j->node_count > seen)
        running += (int64_t)(j->node_count - seen);
    /* Once no slot is free, a waiting task is passed over: only the asked ones are visited. */
    unsigned asked = 1u << IPD_TASK_BITS_ASKED, both = asked | 1u << IPD_TASK_BITS_QUEUED;
    for (size_t i = ipd_model_next_bits(j, running < limit ? both : asked, 0); i < j->ntasks;
         i = ipd_model_next_bits(j, running < limit ? both : asked, i + 1)) {
        task_rec_t *t = &j->tasks[i];
        /* A task whose node cannot take a pull pod now stays suspended (proto/kube_node.h). */
        char reason[IPD_REASON_SIZE], message[IPD_MESSAGE_SIZE];
        if (t->resume_asked_at == 0 && ipd_model_node_block(m, j, t->task.node, reason, sizeof(reason), message,
                                                            sizeof(message)) != IPD_NODE_USABLE)
            continue;
        if (t->resume_asked_at == 0 || now - t->resume_asked_at >= ACTION_RETRY_MS) {
            t->resume_asked_at = now;
            m->actions.resume_job(m->actions.ctx, task_text(t)->kjob_ns, task_text(t)->kjob_name);
            ipd_model_count_task(m, j, i); /* waiting -> asked */
        }
        running++;
    }
}

void ipd_model_run_actions(ipd_model_t *m, job_rec_t *j, int64_t now)
{
    if (j->job.cancelled)
        return;
    ipd_model_keep_reconcile(m, j, now);
    /* A task can come to give up only when it was recomputed (its state, reason or attempts) or
     * its job's backoff_limit changed (which recomputes every task): the tasks the publication
     * just recomputed, or every task when the counts had to be made anew. */
    int every = j->counts_due;
    ipd_model_counts_ready(m, j);
    size_t n = every ? j->ntasks : m->ncomputed;
    for (size_t k = 0; k < n; k++) {
        size_t i = every ? k : m->computed_index[k];
        if (!model_is_remote(m, j->tasks[i].task.node))
            give_up_if_done_for(m, j, i);
    }
    size_t first_gave_up = j->counts.gave_up > 0 ? ipd_model_next_bits(j, 1u << IPD_TASK_BITS_GAVE_UP, 0) : j->ntasks;
    for (size_t i = first_gave_up; i < j->ntasks; i = ipd_model_next_bits(j, 1u << IPD_TASK_BITS_GAVE_UP, i + 1))
        if (!model_is_remote(m, j->tasks[i].task.node))
            stop_if_done(m, &j->tasks[i], now);
    resume_within_parallelism(m, j, now);
}
