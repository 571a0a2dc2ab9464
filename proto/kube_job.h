/*
 * The batch/v1 Job that carries one task of a pull job, both ways: the manifest the daemon
 * creates, and what the master reads back from a Job object seen in a list or watch.
 *
 * One Job per (pull job, node), in the pull namespace:
 *   metadata.name      imgpull-<job id>-<node, cut to fit>[-<hash>]   (a DNS label, <= 56)
 *   labels             imgpulld.io/job=<id>, imgpulld.io/node=<node or "h-<hash>" if not a label value>
 *   annotations        imgpulld.io/node (full node name), imgpulld.io/created-at (RFC 3339 ms),
 *                      imgpulld.io/node-count (tasks in the whole job), imgpulld.io/timeout-seconds,
 *                      imgpulld.io/parallelism
 *   spec               backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished, suspend
 *                      (tasks beyond the job's parallelism start suspended; the master resumes them)
 *   pod template       nodeName pinned, tolerates every taint, restartPolicy Never, the image with
 *                      the job's pull policy, imagePullSecrets, and a command that need not exist
 *                      in the image: once the kubelet has pulled, whatever happens next is success.
 */
#ifndef IPD_PROTO_KUBE_JOB_H
#define IPD_PROTO_KUBE_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/job.h"

#define IPD_LABEL_JOB          "imgpulld.io/job"
#define IPD_LABEL_NODE         "imgpulld.io/node"
#define IPD_KUBE_JOB_NAME_SIZE 64
/** Set by the node's daemon on a Job whose image was pulled, before it deletes the Job, so that
 *  daemons that see only the Job (node scope without Redis) know the task succeeded. */
#define IPD_ANNOTATION_OUTCOME "imgpulld.io/outcome"
/** The command the pull pod runs; it does not exist in any image, on purpose. */
#define IPD_PULL_COMMAND "/.imgpulld-pulled"

/** Writes the Kubernetes Job name for (job id, node) into `out` (IPD_KUBE_JOB_NAME_SIZE bytes). */
void ipd_kube_job_name(const char *job_id, const char *node, char out[IPD_KUBE_JOB_NAME_SIZE]);

/** Writes the value of the imgpulld.io/node label for `node` into `out` (64 bytes). */
void ipd_kube_node_label(const char *node, char out[64]);

/**
 * Builds the Job manifest for one task of `job` (id, image, pull_policy, spec, created_at are
 * used) on `node` in namespace `ns`. `node_count` is the number of tasks of the whole job;
 * `suspend` starts it suspended. Returns an owned JSON object (json_decref), or NULL on OOM.
 */
json_t *ipd_kube_job_manifest(const ipd_job_t *job, const char *node, const char *ns, uint32_t node_count, int suspend);

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
    int complete;    /**< condition Complete=True */
    int failed;      /**< condition Failed=True */
    uint32_t active; /**< status.active: pods running now */
    int pulled;      /**< annotation imgpulld.io/outcome=succeeded: the node's daemon saw the image pulled */
    char failed_reason[IPD_REASON_SIZE]; /**< BackoffLimitExceeded, DeadlineExceeded, ... */
    char failed_message[IPD_MESSAGE_SIZE];
} ipd_kube_job_info_t;

/**
 * Reads a Job object (borrowed). Returns 0, or IPD_EINVAL when it is not one of ours (no
 * imgpulld.io/job label, no pinned node) or lacks what a Job always has.
 */
int ipd_kube_job_parse(const json_t *obj, ipd_kube_job_info_t *out);

#endif
