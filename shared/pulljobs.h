/*
 * Creating and cancelling pull jobs in the cluster: the library behind
 * POST /api/v1/images/pull and DELETE /api/v1/images/pull-jobs/{id}.
 *
 * Create: resolves the target nodes (names must exist; labels and all_nodes take the matching
 * nodes a pull pod can start on now: Ready, not cordoned, taints tolerated, proto/kube_node.h),
 * then creates one batch/v1 Job per (image, node) as proto/kube_job.h describes. Tasks on named
 * nodes that cannot take a pod now, and tasks beyond the job's parallelism, start suspended.
 * A job whose Jobs cannot all be created is rolled back (its Jobs deleted) and reported as
 * failed. The jobs come back in their initial state (pending tasks), ready for the 202 answer;
 * the master's watch takes over from there. An admission callback may refuse the request
 * between the two steps.
 *
 * With a pod_selector, the pods of its namespace that match are listed first (paginated), and
 * the distinct images of their init containers and containers, in the order first seen, are
 * the request's images: one job each, on the request's node selection (all nodes by default).
 *
 * A keep job takes every matching node, those a pull pod cannot start on now included (their
 * tasks wait, suspended), and its Jobs carry the node selection for the master to follow
 * (proto/kube_job.h). A selection too long for that is IPD_ETOOBIG at start.
 *
 * Cancel: deletes the job's Jobs (and so their pods) with one collection DELETE by label.
 *
 * Both run on the caller's loop through the Kubernetes client; the callback runs once, from a
 * client callback, unless the operation is aborted first (then never).
 */
#ifndef IPD_SHARED_PULLJOBS_H
#define IPD_SHARED_PULLJOBS_H

#include <stddef.h>

#include "proto/job.h"
#include "proto/kube_job.h"
#include "proto/pull_request.h"
#include "shared/config.h"
#include "shared/kube_client.h"

/** One created job with its tasks. */
typedef struct ipd_pull_job {
    ipd_job_t job;
    ipd_task_t *tasks; /**< owned by the operation; valid during the callback */
    size_t ntasks;
} ipd_pull_job_t;

/** The outcome. Everything it points to is borrowed for the duration of the callback. */
typedef struct ipd_pull_result {
    /**
     * 0; IPD_EINVAL (the node selection names an unknown node or matches no node: `message`
     * says which); IPD_ETOOBIG (more nodes than allowed); IPD_ENOTFOUND (cancel: the job has no
     * Jobs left); IPD_EFULL (create: refused by the admission callback, nothing created);
     * IPD_EREMOTE (the apiserver refused: `status` is its HTTP status); or a
     * transport error from the client (-ECONNREFUSED, -ETIMEDOUT, ...).
     */
    int error;
    /** HTTP status of the failing apiserver answer, 0 if none. */
    long status;
    /** That answer's Retry-After in ms (after the client's own retries ran out), 0 without one. */
    uint64_t retry_after_ms;
    /** NULL on success; else a one-line explanation for the client. */
    const char *message;
    /** Create: the jobs, one per image, in request order. Cancel: NULL. */
    const ipd_pull_job_t *jobs;
    size_t njobs;
    /** Cancel: how many Kubernetes Jobs were deleted. */
    size_t deleted;
} ipd_pull_result_t;

typedef void (*ipd_pull_done_cb)(const ipd_pull_result_t *res, void *data);

typedef struct ipd_pull_op ipd_pull_op_t;

/** Options of a create. */
typedef struct ipd_pull_options {
    const char *ns;      /**< pull namespace (borrowed, copied) */
    size_t max_nodes;    /**< tasks per job */
    size_t max_inflight; /**< concurrent apiserver requests; 0 means 16 */
    /** The pull pods' shape (borrowed, used during the ipd_pull_create call only); NULL: defaults. */
    const ipd_kube_pod_config_t *pod;
    size_t max_images; /**< images a pod_selector may bring, one job each; 0 means 100 */
    /**
     * Optional: asked once the target nodes are known and before anything is created, with the
     * jobs and tasks the request would add. Returns 0 to go on, or an error code (IPD_EFULL)
     * with a one-line reason in `msg` (`cap` bytes): the create then fails with that code and
     * creates nothing.
     */
    int (*admit)(void *data, size_t njobs, size_t ntasks, char *msg, size_t cap);
    void *admit_data; /**< passed to admit */
    /**
     * Every task of a job with a `parallelism` starts suspended: the daemons count the slots in
     * Redis (node scope with Redis, master/redis_link.h ipd_redis_link_slot) and each resumes its
     * node's Job once granted one. 0: the first `parallelism` tasks start, as one daemon that
     * sees every Job counts them.
     */
    int slots_in_redis;
} ipd_pull_options_t;

/**
 * Starts creating the jobs of `req` (borrowed; copied). On success returns 0 and, if `out` is
 * not NULL, an operation handle valid until the callback returns. Fails with -ENOMEM, IPD_EINVAL
 * (opts->pod has more than 32 tolerations or a string too long to copy) or the client's start
 * error, without calling back.
 */
int ipd_pull_create(ipd_kube_t *kube, const ipd_pull_request_t *req, const ipd_pull_options_t *opts,
                    ipd_pull_done_cb cb, void *data, ipd_pull_op_t **out);

/** Starts cancelling job `job_id` in namespace `ns` (both borrowed). Same contract as ipd_pull_create. */
int ipd_pull_cancel(ipd_kube_t *kube, const char *ns, const char *job_id, ipd_pull_done_cb cb, void *data,
                    ipd_pull_op_t **out);

/**
 * Abandons an operation (the client went away): its requests are cancelled and the callback
 * never runs. Jobs already created stay; they are complete jobs and the master follows them.
 */
void ipd_pull_abort(ipd_pull_op_t *op);

/**
 * The pull pods' shape the configuration `cfg` (borrowed) asks for: the pull_* directives. The
 * result points into `cfg` and into `tolerations` (caller's array, filled here); both must outlive
 * its use.
 */
ipd_kube_pod_config_t ipd_pull_pod_config(const ipd_config_t *cfg, const char *tolerations[IPD_CONFIG_MAX_TOLERS]);

/**
 * Adds to `*images` (`*n` entries, owned strings in a realloc'd array: free both) each valid image
 * reference of the init containers and containers of `pod` (a borrowed Pod object) that is not
 * there yet, in order. Returns 0, IPD_ETOOBIG when more than `max` would be needed (what fitted
 * stays), or -ENOMEM.
 */
int ipd_pull_pod_images(const json_t *pod, char ***images, size_t *n, size_t max);

/** Writes a new random job id ("pj-" + 8 lowercase hex digits) into `out`. 0 or -errno (getrandom). */
int ipd_pull_new_id(char out[IPD_JOB_ID_SIZE]);

#endif
