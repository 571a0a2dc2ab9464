/*
 * The batch/v1 Job that carries one task of a pull job, both ways: the manifest the daemon
 * creates, and what the master reads back from a Job object seen in a list or watch.
 *
 * One Job per (pull job, node), in the pull namespace:
 *   metadata.name      imgpull-<job id>-<node, cut to fit>[-<hash>]   (a DNS label, <= 56)
 *   labels             imgpulld.io/job=<id>, imgpulld.io/node=<node or "h-<hash>" if not a label value>
 *   annotations        imgpulld.io/node (full node name), imgpulld.io/created-at (RFC 3339 ms),
 *                      imgpulld.io/node-count (tasks in the whole job), imgpulld.io/timeout-seconds,
 *                      imgpulld.io/parallelism; keep jobs also imgpulld.io/keep, refresh-seconds and
 *                      node-selection (set by the caller: ipd_kube_job_set_selection), and no TTL
 *   spec               backoffLimit, activeDeadlineSeconds, suspend (tasks beyond the job's
 *                      parallelism start suspended; the master resumes them), ttlSecondsAfterFinished
 *                      (the client's, else the configured default)
 *   pod template       nodeName pinned, restartPolicy Never, the operator's tolerations only,
 *                      imagePullSecrets, no service-account token, no service links,
 *                      activeDeadlineSeconds = timeout_seconds (the per-attempt timeout: the
 *                      kubelet fails the pod, its Job counts a failed attempt), and:
 *     volume           "imgpulld-bin", an emptyDir (IPD_PULL_VOLUME_LIMIT)
 *     init container   "install-noop": the helper image copies its no-op program into the volume
 *                      (`<helper_copy> <helper_noop> /imgpulld-bin/<basename of helper_noop>`)
 *     container        "pull": the target image with the job's pull policy, running the copied
 *                      program from the volume (mounted read-only). Nothing from the pulled image
 *                      runs: the runtime pulls it, creates the container from it, and the program
 *                      the pod brought along exits 0, so the pod Succeeds and the Job Completes.
 *     both containers  uid/gid `uid`, runAsNonRoot, no privilege escalation, every capability
 *                      dropped, read-only root file system, seccomp RuntimeDefault, and small
 *                      requests and limits (IPD_PULL_CPU_*, IPD_PULL_MEMORY_*).
 */
#ifndef IPD_PROTO_KUBE_JOB_H
#define IPD_PROTO_KUBE_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/job.h"

#define IPD_LABEL_JOB  "imgpulld.io/job"
#define IPD_LABEL_NODE "imgpulld.io/node"
/** Label "true" of a keep job's anchor Job (see ipd_kube_job_anchor_manifest). */
#define IPD_LABEL_ANCHOR       "imgpulld.io/anchor"
#define IPD_KUBE_JOB_NAME_SIZE 64
/** Keep jobs: "true"; the re-pull period; the node selection to follow, as JSON. */
#define IPD_ANNOTATION_KEEP      "imgpulld.io/keep"
#define IPD_ANNOTATION_REFRESH   "imgpulld.io/refresh-seconds"
#define IPD_ANNOTATION_SELECTION "imgpulld.io/node-selection"
/** Room for a keep job's node selection: {"all_nodes":true} or {"node_selector":{...}}. */
#define IPD_SELECTION_SIZE 2048
/** Set by the node's daemon on a Job before it deletes it, so that daemons that see only the Job
 *  (node scope without Redis) know how the task ended: `failed` when the daemon gave the task up
 *  (a Job deleted without it is a cancel); `succeeded` (the image was pulled) is read too. */
#define IPD_ANNOTATION_OUTCOME "imgpulld.io/outcome"

/** A task whose Job was deleted before its image was pulled (a cancel): its reason and message. */
#define IPD_REASON_JOB_DELETED  "Cancelled"
#define IPD_MESSAGE_JOB_DELETED "the task's Kubernetes Job was deleted before the image was pulled"

/** Where the no-op program is mounted in both containers of a pull pod. */
#define IPD_PULL_BIN_DIR        "/imgpulld-bin"
#define IPD_PULL_VOLUME         "imgpulld-bin"
#define IPD_PULL_VOLUME_LIMIT   "16Mi"
#define IPD_PULL_CPU_REQUEST    "1m"
#define IPD_PULL_CPU_LIMIT      "100m"
#define IPD_PULL_MEMORY_REQUEST "8Mi"
#define IPD_PULL_MEMORY_LIMIT   "32Mi"
/** Room for one toleration in the configuration's syntax (key 253 + '=' + value 63 + ':' + effect). */
#define IPD_TOLERATION_SIZE 384

/**
 * What the operator decides about pull pods (the pull_* directives). Strings are borrowed for the
 * duration of the call that takes the structure.
 */
typedef struct ipd_kube_pod_config {
    const char *helper_image;       /**< image that holds the no-op program and a copy program */
    const char *helper_noop;        /**< absolute path of a static program in helper_image that exits 0 */
    const char *helper_copy;        /**< absolute path of a `cp SOURCE DEST` program in helper_image */
    int64_t uid;                    /**< non-root uid (and gid) both containers run as, >= 1 */
    const char *const *tolerations; /**< ntolerations entries, syntax of ipd_kube_toleration_parse() */
    size_t ntolerations;
    int32_t ttl_seconds_after_finished; /**< for Jobs whose client set none; -1: none */
} ipd_kube_pod_config_t;

/** The built-in defaults, as the pull_* directives' defaults (busybox's static musl build). */
extern const ipd_kube_pod_config_t ipd_kube_pod_config_default;

/**
 * Reads one toleration written as `*` (every taint), `key` (any value, any effect), `key=value`,
 * either of those followed by `:Effect` (NoSchedule, PreferNoSchedule, NoExecute), or `*:Effect`.
 * On success returns 0 and, when `out` is not NULL, an owned JSON toleration (json_decref).
 * Returns IPD_EINVAL with a reason in `why` (`cap` bytes) for anything else.
 */
int ipd_kube_toleration_parse(const char *text, json_t **out, char *why, size_t cap);

/** Writes the Kubernetes Job name for (job id, node) into `out` (IPD_KUBE_JOB_NAME_SIZE bytes). */
void ipd_kube_job_name(const char *job_id, const char *node, char out[IPD_KUBE_JOB_NAME_SIZE]);

/** Writes the value of the imgpulld.io/node label for `node` into `out` (64 bytes). */
void ipd_kube_node_label(const char *node, char out[64]);

/**
 * Builds the Job manifest for one task of `job` (id, image, pull_policy, spec, created_at are
 * used) on `node` in namespace `ns`, with the pull pod `pod` describes (borrowed; NULL takes
 * ipd_kube_pod_config_default). `node_count` is the number of tasks of the whole job; `suspend`
 * starts it suspended. Returns an owned JSON object (json_decref), or NULL on OOM or when a
 * toleration of `pod` does not parse (configuration checks them first).
 */
json_t *ipd_kube_job_manifest(const ipd_job_t *job, const char *node, const char *ns, uint32_t node_count, int suspend,
                              const ipd_kube_pod_config_t *pod);

/**
 * Sets a keep job's node selection (`selection`, borrowed JSON text of at most
 * IPD_SELECTION_SIZE - 1 bytes: {"all_nodes":true} or {"node_selector":{...}}) on `manifest`.
 * Returns 0, or -ENOMEM.
 */
int ipd_kube_job_set_selection(json_t *manifest, const char *selection);

/**
 * Builds the anchor Job of keep job `job`: the record, in the cluster, that the keep job exists,
 * whether or not a node matches its selection now. Named imgpull-<job id> (no node), labelled
 * imgpulld.io/job=<id> and imgpulld.io/anchor=true (no imgpulld.io/node), annotated as a task's
 * Job is (node-count 0) plus the node selection (`selection`, as ipd_kube_job_set_selection
 * takes), suspended with parallelism 0 and no node: it never runs a pod and never finishes, so
 * it stays until the job is cancelled (DELETE deletes every Job labelled with the id). A
 * restarted master finds the job, its spec and its selection there even when it has no task.
 * Returns an owned JSON object (json_decref), or NULL on OOM.
 */
json_t *ipd_kube_job_anchor_manifest(const ipd_job_t *job, const char *ns, const char *selection,
                                     const ipd_kube_pod_config_t *pod);

/** What the master needs from a Job object. Strings are copied in (no pointers into the JSON). */
typedef struct ipd_kube_job_info {
    char job_id[IPD_JOB_ID_SIZE];
    char node[IPD_NODE_SIZE];
    char name[IPD_KUBE_JOB_NAME_SIZE];
    char ns[IPD_NAMESPACE_SIZE];
    char image[IPD_IMAGE_SIZE];
    uint8_t pull_policy;
    ipd_job_spec_t spec;
    int64_t created_at;  /**< from the annotation, else metadata.creationTimestamp */
    uint32_t node_count; /**< 0 if absent */
    int suspended;
    int complete;     /**< condition Complete=True */
    int failed;       /**< condition Failed=True */
    uint32_t active;  /**< status.active: pods running now */
    int pulled;       /**< annotation imgpulld.io/outcome=succeeded: the node's daemon saw the image pulled */
    int gave_up;      /**< annotation imgpulld.io/outcome=failed: the node's daemon gave the task up */
    int64_t ended_at; /**< lastTransitionTime of the Complete or Failed condition; IPD_TIME_NULL if none */
    char failed_reason[IPD_REASON_SIZE]; /**< BackoffLimitExceeded, DeadlineExceeded, ... */
    char failed_message[IPD_MESSAGE_SIZE];
    int keep;                           /**< annotation imgpulld.io/keep=true */
    char selection[IPD_SELECTION_SIZE]; /**< annotation imgpulld.io/node-selection, "" if absent */
    int anchor;                         /**< a keep job's anchor Job (label imgpulld.io/anchor=true): `node` is "" */
} ipd_kube_job_info_t;

/**
 * Reads a Job object (borrowed). Returns 0, or IPD_EINVAL when it is not one of ours (no
 * imgpulld.io/job label, no pinned node unless it is an anchor) or lacks what a Job always has.
 */
int ipd_kube_job_parse(const json_t *obj, ipd_kube_job_info_t *out);

/** The pull pod's tolerations in the Job `obj` (borrowed): spec.template.spec.tolerations, or NULL. */
const json_t *ipd_kube_job_tolerations(const json_t *obj);

#endif
