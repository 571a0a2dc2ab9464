/*
 * Standing in for nodes without a live daemon (node scope with Redis): what the daemon that
 * holds the stand-in lease publishes for them (master/daemon_standin.c).
 *
 * Each daemon watches only its own node's pods and Jobs and learns the others through Redis. A
 * node whose daemon never ran, or is lost, would otherwise have no task anywhere (a node not seen
 * yet counts as pending) or keep its last one: its job is never final, and a job on such nodes
 * only is never shown at all, while its Kubernetes Jobs run and end. One daemon, the holder of
 * {p}:lease:stand-in, lists the pull Jobs of the nodes whose liveness key is absent and publishes
 * a task for each from what the Job says, as a node-scope daemon without Redis shows another
 * node's task (docs/architecture.md): unknown with reason NodeDaemonLost until the Job ends, then
 * succeeded (Complete, or the imgpulld.io/outcome annotation, in the words the node's daemon
 * gives it) or failed (its Failed condition), or cancelled when the Job was deleted first. A pull
 * that keeps failing there is given up after the job's backoff_limit, as that node's daemon
 * would: the kubelet retries it for ever, so the job would never end.
 */
#ifndef IPD_MASTER_STANDIN_H
#define IPD_MASTER_STANDIN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"
#include "proto/kube_job.h"

/** The reason of a task shown for a node without a live daemon. */
#define IPD_STANDIN_REASON "NodeDaemonLost"
/** Its message while the Job runs; every daemon shows the same for a lost node's unfinished task. */
#define IPD_STANDIN_MESSAGE "no daemon of this node refreshes its liveness key in Redis"

/**
 * Appends the label selector of the pull Jobs of every node but `nodes` (n of them, borrowed):
 * `imgpulld.io/job,imgpulld.io/node notin (<label value of each>)`, not escaped. Returns 0 or
 * -ENOMEM.
 */
int ipd_standin_selector(ipd_buf_t *out, const char *const *nodes, size_t n);

/**
 * What to publish for the task of the Job `info` (borrowed) when this model holds `held` of it
 * (ipd_model_task_held: a task state, IPD_MODEL_NO_TASK, IPD_MODEL_JOB_GONE or
 * IPD_MODEL_JOB_ONLY), at `now`. Returns 1 and fills `job` and `task` when there is news: no task
 * held, or a held task that is not final while the Job has ended. An ended task is dated by the
 * Job's condition (the end of its second). A final task stays as it is (a terminal state never
 * changes), a job let go of is not brought back, and an anchor Job (no node) has no task. Neither
 * is a job of which nothing is held (IPD_MODEL_NO_TASK: not even the job) and whose Job ended
 * before `not_before`: a stand-in would have published it then, so it is a job that aged out of
 * the history (a drop this daemon did not see) and not one to bring back. A job held without the
 * node's task is published however old its Job's end: every daemon may have been down then.
 * Returns 0 otherwise.
 */
int ipd_standin_task(const ipd_kube_job_info_t *info, int held, int64_t now, int64_t not_before, ipd_job_t *job,
                     ipd_task_t *task);

/**
 * A lost node's unfinished task `held` (borrowed) whose Job is gone from the list of its node's
 * Jobs: it was deleted before the image was pulled, a cancel, as a node's own daemon counts it.
 * Fills `out` with it cancelled at `now`.
 */
void ipd_standin_cancelled(const ipd_task_t *held, int64_t now, ipd_task_t *out);

/**
 * A lost node's unfinished task `held` (borrowed) whose Job runs: `out` is it unknown with reason
 * NodeDaemonLost at `now`, its pod and figures kept, for every daemon to show from one record.
 */
void ipd_standin_unknown(const ipd_task_t *held, int64_t now, ipd_task_t *out);

/**
 * The task of the Job `info` (borrowed) on a node without a live daemon, given up as that
 * node's daemon gives it up: `seen` (borrowed) is what its pull pod and the pod's Events show
 * (proto/kube_pod.h, ipd_kube_pod_map, attempts of earlier pods added), exhausted under the
 * job's backoff_limit with the words `message` (ipd_kube_pull_exhausted). Fills `task` with it
 * failed at `now`, its pod, figures and reason kept, and `job` with the job, started then.
 */
void ipd_standin_gave_up(const ipd_kube_job_info_t *info, const ipd_task_t *seen, const char *message, int64_t now,
                         ipd_job_t *job, ipd_task_t *task);

#endif
