/*
 * The master's job model: what Kubernetes says about pull jobs, folded into jobs and tasks and
 * published to the shared-memory table.
 *
 * Inputs come from four reflectors (batch/v1 Jobs labelled imgpulld.io/job, their Pods, the
 * Events of the pull namespace, and the Nodes, which say why a pending task waits). Each input
 * marks the affected task (or, for a change of the job itself, every task) dirty;
 * ipd_model_flush recomputes the dirty tasks of each dirty job once (task states through
 * proto/kube_pod.h), aggregates the job over its tasks' states (ipd_job_aggregate), and writes
 * to the table only the jobs whose record actually changed, bumping their version. A burst of
 * watch events therefore costs one table write per job, and a pod's change in a job of 5 000
 * tasks recomputes that pod's task only.
 *
 * The model also decides what the cluster must be told, through the action callbacks:
 * resume a suspended Job when its node can take a pull pod (proto/kube_node.h) and the job's
 * parallelism allows another task, stop a task whose image pull keeps failing past its backoff
 * limit (the kubelet would retry forever), and restart a pull attempt that exceeds the job's
 * per-attempt timeout.
 *
 * Memory: the model keeps jobs that still have Kubernetes objects, and active jobs. A finished
 * job whose objects are gone (TTL, cancellation) lives on only in the table, as history.
 */
#ifndef IPD_MASTER_MODEL_H
#define IPD_MASTER_MODEL_H

#include "proto/error.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "master/reflector.h"
#include "shared/table.h"

/** Which collection a resync concerns. */
typedef enum ipd_model_kind {
    IPD_MODEL_KJOBS = 0,
    IPD_MODEL_PODS,
    IPD_MODEL_EVENTS,
    IPD_MODEL_NODES,
    /** Keep jobs' anchor Jobs, listed on their own where the Jobs reflector sees one node's only. */
    IPD_MODEL_ANCHORS,
    IPD_MODEL_KIND_COUNT
} ipd_model_kind_t;

/** What the model asks of the cluster. Strings are borrowed for the call. */
typedef struct ipd_model_actions {
    /** Un-suspend the Job `ns`/`name`. */
    void (*resume_job)(void *ctx, const char *ns, const char *name);
    /** Delete the Job `ns`/`name` and its pods (the task is final; stop the kubelet's retries). */
    void (*delete_job)(void *ctx, const char *ns, const char *name);
    /** Delete the pod `ns`/`name` (its Job starts a new pull attempt). */
    void (*delete_pod)(void *ctx, const char *ns, const char *name);
    /**
     * Node scope: mark the Job `ns`/`name` of a task the model gave up as failed (annotation
     * imgpulld.io/outcome=failed), then delete it, so that daemons that see only the Job learn the
     * task failed: a Job deleted without it is a cancel. NULL: the model calls delete_job instead.
     */
    void (*fail_job)(void *ctx, const char *ns, const char *name);
    /**
     * Node scope: start (`on`) or stop watching the Events of the pod `ns`/`name`, a pull pod
     * of this node. Events are selected per pod (involvedObject.name), the finest selection the
     * apiserver offers for Events.
     */
    void (*watch_pod_events)(void *ctx, const char *ns, const char *name, int on);
    /**
     * Node scope: a task of this node changed (what other nodes' daemons must learn). `job` is
     * the job as last aggregated, `node_count` the nodes it targets, `selection` a keep job's node
     * selection (JSON text, "" when not known or not a keep job). Borrowed for the call.
     */
    void (*own_task)(void *ctx, const ipd_job_t *job, uint32_t node_count, const char *selection,
                     const ipd_task_t *task);
    void *ctx;
    /**
     * Keep jobs: create the Kubernetes Job of `job`'s task on `node` (the manifest of
     * proto/kube_job.h, `suspend`ed or not, carrying the node selection `selection`).
     */
    void (*create_job)(void *ctx, const ipd_job_t *job, const char *node, int suspend, const char *selection);
    /**
     * The table evicted the finished job `id` (borrowed for the call) to make room: it has aged
     * out of this daemon's history (the Redis link drops its records).
     */
    void (*job_evicted)(void *ctx, const char *id);
    /**
     * Keep jobs that follow pods (ipd_model_pod_images): create a new keep job for `image`, with
     * the pull policy and spec of `like` and the selection `selection` (its anchor Job; the
     * model learns the job from it and gives it its nodes' tasks).
     */
    void (*create_keep_job)(void *ctx, const ipd_job_t *like, const char *image, const char *selection);
    /** Cancel job `id`: delete every Job of its id, as DELETE /api/v1/images/pull-jobs/{id} does. */
    void (*cancel_job)(void *ctx, const char *id);
    /**
     * Node scope with Redis: this node's parallelism slot of job `id`, whose Job is `ns`/`name`
     * (master/redis_link.h, ipd_redis_link_slot): `op` IPD_MODEL_SLOT_CLAIM (the Job waits
     * suspended; once granted, ipd_model_slot_granted), IPD_MODEL_SLOT_HOLD (the Job runs) or
     * IPD_MODEL_SLOT_DONE (it will never run again). NULL: the slots are counted here from the
     * Jobs, which every daemon then sees. Returns 0 when it was sent (else it is said again later).
     */
    int (*slot)(void *ctx, const char *id, int op, int32_t parallelism, const char *ns, const char *name);
    /**
     * Node scope: this node's task of keep job `id` (borrowed for the call) left the job (its
     * node left the selection, or the cluster): the other daemons remove it too
     * (ipd_model_remote_leave). NULL: not told.
     */
    void (*task_left)(void *ctx, const char *id);
} ipd_model_actions_t;

#define IPD_MODEL_SLOT_CLAIM 0
#define IPD_MODEL_SLOT_HOLD  1
#define IPD_MODEL_SLOT_DONE  2

/** Counters, for metrics and tests. */
typedef struct ipd_model_stats {
    uint64_t objects;        /**< objects applied */
    uint64_t flushes;        /**< flushes that published something */
    uint64_t published;      /**< job records written to the table */
    uint64_t publish_errors; /**< table writes that failed (e.g. IPD_EFULL) */
    uint64_t jobs;           /**< jobs held in memory now */
    uint64_t pods;           /**< pods held in memory now */
    uint64_t tasks_computed; /**< tasks recomputed from their objects by flushes */
    /** Tasks of this daemon's nodes that reached failed, by ipd_cause_t (counted once per task:
     *  a task read back from the table as failed was counted by the master that failed it). */
    uint64_t task_failures[IPD_CAUSE_COUNT];
} ipd_model_stats_t;

typedef struct ipd_model ipd_model_t;

/**
 * Creates a model writing to `table` (borrowed, writer side) and loads the jobs the table
 * already holds (a reattached table keeps its history). `actions` is copied; its callbacks may
 * be NULL. Returns 0 and an owned model (ipd_model_destroy), or a negative code.
 */
IPD_MUST_USE int ipd_model_create(ipd_table_t *table, const ipd_model_actions_t *actions, ipd_model_t **out);
void ipd_model_destroy(ipd_model_t *m);

/**
 * Node scope: the model is authoritative for the tasks of `node` only (borrowed string, copied).
 * Without `remote_feed`, other nodes' tasks show what their Kubernetes Job says (pending,
 * pulling, succeeded, failed, without reasons or figures). With it (Redis), they show what
 * ipd_model_remote_task() last set. Cluster actions (resume, stop, restart) are taken for this
 * node's tasks only. NULL or "" is cluster scope.
 */
void ipd_model_set_node(ipd_model_t *m, const char *node, int remote_feed);

/**
 * With a remote feed: how long (ms) a job whose every task seen so far is cancelled (its Jobs
 * deleted, by a cancel or a POST rolled back part way) waits for the records of the nodes not
 * seen yet before it counts them cancelled too and ends. Records come back one at a time after
 * Redis lost its data or while this daemon learns the job from them; a job that ended at once
 * would publish `cancelled` for good where the others show how it ended. 0 ends it at once.
 */
void ipd_model_set_teardown_wait(ipd_model_t *m, int64_t ms);

/**
 * Applies another node's task as its daemon published it: `job` (borrowed) carries the job's
 * image, pull policy, creation time, spec and, in nodes.desired, the number of nodes it
 * targets, and for a keep job `keep`, spec.refresh_seconds and its node selection `selection`
 * (borrowed JSON text, "" or NULL when none), which the job then follows as if its Jobs had
 * said so; `task` (borrowed) the task. The job's started_at and finished_at, when set, are
 * times the job takes when they are earlier than its own. A record of this node is kept until
 * ipd_model_own_records_done() and ignored after; while kept, it makes this node's task, and
 * its job, when the model has none (but for a keep job). Returns 0, -ENOMEM, or IPD_EINVAL for a
 * record the model cannot take (empty id or node).
 */
int ipd_model_remote_task(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task);

/**
 * Another node's daemon says job `id` (borrowed) aged out of its history: the job leaves the
 * table and memory, unless this model still follows it (a task of this node, or Kubernetes
 * objects, not final yet). Returns 0, or a negative code from the table.
 */
int ipd_model_remote_drop(ipd_model_t *m, const char *id);

/**
 * Another node's daemon says its task of keep job `id` left the job (ipd_model_actions_t,
 * task_left): the task is removed here too (`desired` shrinks) and its node remembered as
 * removed, until a record of that node's new task comes. Nothing for another job or node.
 */
void ipd_model_remote_leave(ipd_model_t *m, const char *id, const char *node);

/**
 * Another node's daemon is alive (its liveness key exists) or lost: the unfinished tasks of a
 * lost node show unknown with reason NodeDaemonLost until it is alive again.
 */
void ipd_model_remote_node(ipd_model_t *m, const char *node, int alive);

/** ipd_model_task_held: the model holds neither the job nor a task of the node. */
#define IPD_MODEL_NO_TASK (-1)
/** ipd_model_task_held: the job was let go of (evicted, or finished and in the table only with
 * a task of each of its nodes). */
#define IPD_MODEL_JOB_GONE (-2)
/** ipd_model_task_held: the model holds the job, but no task of the node. */
#define IPD_MODEL_JOB_ONLY (-3)

/**
 * The state (ipd_task_state_t) of `node`'s task of job `id` (both borrowed) as this model holds
 * it, or IPD_MODEL_NO_TASK, IPD_MODEL_JOB_GONE or IPD_MODEL_JOB_ONLY. A finished job the model
 * let go of that the table holds with fewer tasks than nodes (it ended torn down, or by its
 * deadline, before some nodes told) is read from the table: its node's task, or
 * IPD_MODEL_JOB_ONLY.
 */
int ipd_model_task_held(ipd_model_t *m, const char *id, const char *node);

/** True if the model holds `node`'s task of job `id` (both borrowed) and it is not final; then copies it to `out`. */
int ipd_model_task_unfinished(ipd_model_t *m, const char *id, const char *node, ipd_task_t *out);

/**
 * Calls `fn` for each unfinished task of a node whose daemon is lost (ipd_model_remote_node), with
 * its job as last aggregated, the nodes it targets, and the state of the task's record as that
 * node's daemon (or a stand-in) published it; keep jobs are left out (their nodes come and go with
 * their selection). All borrowed for the call.
 */
void ipd_model_lost_tasks(ipd_model_t *m,
                          void (*fn)(void *ctx, const ipd_job_t *job, uint32_t node_count, const ipd_task_t *task,
                                     ipd_task_state_t published),
                          void *ctx);

/**
 * Redis granted this node a parallelism slot of job `id` (borrowed): its Job is resumed if it
 * still waits suspended (actions.resume_job).
 */
void ipd_model_slot_granted(ipd_model_t *m, const char *id);

/**
 * Redis may have lost the parallelism slots (it restarted empty) or this daemon's word on them:
 * what this node's Jobs hold is said again at their next actions (actions.slot).
 */
void ipd_model_slots_again(ipd_model_t *m);

/**
 * Keep jobs with a pod_selector (master/model_follow.c): calls `cb` once for each distinct
 * selection (JSON text, proto/label_selector.h) of the active keep jobs that follow pods, with the
 * pods' namespace, the selector in the apiserver's labelSelector syntax, and `first_node`, the
 * first node (by name) with a task of the group's oldest job (earliest created, then smallest id;
 * "" while it has none), which every daemon that sees the same Jobs agrees on (all borrowed for
 * the call), so that the caller lists those pods.
 */
void ipd_model_pod_groups(ipd_model_t *m,
                          void (*cb)(void *data, const char *selection, const char *ns, const char *label_selector,
                                     const char *first_node),
                          void *data);

/**
 * The pods of `selection` run `images` now (`n` borrowed strings). The keep jobs of that selection follow at wall time
 * `now`: an image none of them pulls gets a new keep job (create_keep_job), and a job whose image no pod runs any more
 * is cancelled (cancel_job). No pod at all (scaled to zero) changes nothing.
 */
void ipd_model_pod_images(ipd_model_t *m, const char *selection, const char *const *images, size_t n, int64_t now);

/** Reflector callbacks for each collection: pass ipd_model_ops(kind) with the model as ctx. */
const ipd_reflector_ops_t *ipd_model_ops(ipd_model_kind_t kind);

/** Applies one object (borrowed) of `kind`. */
void ipd_model_apply(ipd_model_t *m, ipd_model_kind_t kind, ipd_watch_type_t type, json_t *obj);

/**
 * Called once every collection has completed its first list: tasks of jobs loaded from the
 * table that have no Kubernetes Job and no pod any more are cancelled (their objects were
 * deleted while no master watched).
 */
void ipd_model_initial_sync_done(ipd_model_t *m);

/**
 * Records of this node's own tasks that a daemon of this node published before this master
 * started (the first Redis snapshot) give a task the time they carry, when this master computes
 * it the same, and the job the times it had. Call once every collection was listed, the
 * snapshot was applied and nothing waits to be published: they are freed, and later records of
 * this node are echoes of this master's own, not looked at. Returns whether it was still open
 * (ipd_model_own_records_open).
 */
int ipd_model_own_records_done(ipd_model_t *m);
/** Whether ipd_model_own_records_done() was not called yet. */
int ipd_model_own_records_open(const ipd_model_t *m);

/**
 * Recomputes dirty jobs at wall-clock time `now` (Unix ms), publishes the changed ones, and
 * runs the actions they call for. Returns the number of jobs written.
 */
size_t ipd_model_flush(ipd_model_t *m, int64_t now);

/**
 * What waits for ipd_model_flush(): 0 when no job does; the monotonic time (ms,
 * ipd_model_monotonic_ms) of the first change since the last flush when records of other nodes
 * (ipd_model_remote_task) made every change that waits, which the master may hold back while
 * the Redis link catches up (ipd_redis_link_publish_delay); -1 when another input made one of
 * them (this node's Kubernetes objects, a request, the clock), which is published at once.
 */
int64_t ipd_model_remote_dirty_since(const ipd_model_t *m);

/**
 * ipd_model_flush() of the first `max_jobs` dirty jobs at most, in the order they were marked:
 * the others stay dirty and come first at the next flush. Returns the number of jobs written.
 */
size_t ipd_model_flush_some(ipd_model_t *m, int64_t now, size_t max_jobs);

/** Marks active jobs (and jobs with unfinished cluster actions) dirty; call about once a second. */
void ipd_model_tick(ipd_model_t *m);

const ipd_model_stats_t *ipd_model_stats(const ipd_model_t *m);

/**
 * For tests: recounts every job's tasks from scratch and compares the counts the model keeps as
 * tasks change (the job's counts by state, its first failing task, and what the parallelism,
 * give-ups and the clock need; master/model_counts.c); the recount replaces them. Jobs whose
 * tasks moved since their last flush are skipped. Call it right after ipd_model_flush().
 * Returns 0 when all agree, IPD_ESTATE (logged, naming the job) when one differs, -ENOMEM.
 */
int ipd_model_check_counts(ipd_model_t *m);

/**
 * For tests: with `on` non-zero, the model takes its general path wherever it has a shorter one,
 * so that a test can check that both write the same table. A publication copies a job's tasks
 * into the model's own arrays for the table and the JSON, as it does for a job of several tasks,
 * also when the job has one task or one changed task (which are otherwise passed where the model
 * keeps them); a published remote task is computed by every rule, also when none applies (it is
 * otherwise taken as published).
 */
void ipd_model_set_copy_tasks(ipd_model_t *m, int on);

/** Wall-clock Unix time in ms. */
int64_t ipd_model_now(void);

/** CLOCK_MONOTONIC in ms, never 0 (ipd_model_remote_dirty_since). */
int64_t ipd_model_monotonic_ms(void);

#endif
