/*
 * From Kubernetes objects to task state: the pure mapping of a pull task's Pod, plus that pod's
 * image-pull Events, to the fields of an ipd_task_t. No I/O, no clock: the caller passes the
 * parsed JSON (borrowed jansson values), the parsed events, the Job's verdict and the time.
 *
 * Mapping (first rule that applies wins; "container" is any entry of status.containerStatuses,
 * which holds only the pull pod's `pull` container, never the helper init container). A task is
 * final only on evidence nothing later can overturn: the no-op program's exit 0 (the image was
 * pulled and a container created from it) or the Job's Failed condition. A failed pod is one
 * failed attempt; its Job may start another.
 *
 *   the pod failed with status.reason DeadlineExceeded (its activeDeadlineSeconds: the per-attempt
 *   timeout)
 *       -> failed if the Job failed, else retrying; reason DeadlineExceeded and the pod's message
 *          (the master names it PullTimeout with the seconds).
 *   a container waits with ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull,
 *   RegistryUnavailable, ImageInspectError or SignatureValidationFailed (the pull failed), or the
 *   image is there but the container cannot run: it waits with CreateContainerError,
 *   CreateContainerConfigError, RunContainerError, StartError, CrashLoopBackOff or a hook error,
 *   or it terminated with a non-zero exit code
 *       -> failed if the Job failed (`job_failed`), else retrying; reason and message are the
 *          container's. ImageInspectError (the runtime cannot read the image it has) and
 *          SignatureValidationFailed (the image is rejected by signature policy) count as pull
 *          failures: the image is not usable on the node either way.
 *   every container terminated with exit code 0, or the phase is Succeeded
 *       -> succeeded; reason IPD_REASON_PULLED and message IPD_MESSAGE_PULLED, always (neither the
 *          Pulled event nor the container's words: they depend on which watch came first).
 *   the Job has not failed and the image is on the node but the no-op has not finished: every
 *   container is running, terminated or has an imageID or a previous termination, or a Pulled
 *   event was seen
 *       -> pulling; reason and message of the latest Pulled event, else the container's.
 *   phase Failed otherwise (evicted, node lost)
 *       -> failed if the Job failed, else retrying (the Job starts a new pod); status.reason and
 *          status.message, or "PodFailed".
 *   the Job failed (backoff limit or deadline) before the image was pulled
 *       -> failed, reason "JobFailed" (the caller may substitute the Job condition's reason).
 *   a Pulling event was seen (ContainerCreating, PodInitializing, or any other waiting reason,
 *   including ones this code does not know)
 *       -> pulling, with the Pulling event's reason and message.
 *   otherwise
 *       -> pending, with the container's waiting reason, or the PodScheduled=False condition's
 *          reason (Unschedulable) and message, or none.
 *
 * Events of init containers (involvedObject.fieldPath spec.initContainers{...}: the helper that
 * installs the no-op program) are not the pull of the task's image and are ignored.
 *
 * attempts: the sum of the `count` of the pod's Pulling events (the kubelet emits one per pull
 * try, aggregated into one Event with a count), and at least 1 once the task left pending (no
 * Pulling event is emitted when the image is present or the policy forbids pulling). Container
 * restartCount is not used: restarts happen after a successful pull. The Job replaces a failed
 * pod with a new one, so these are per-pod attempts; a caller following several pods of one
 * task adds them up.
 * image_bytes and pull_ms come from the latest Pulled event whose message could be read.
 */
#ifndef IPD_PROTO_KUBE_POD_H
#define IPD_PROTO_KUBE_POD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/job.h"
#include "proto/json_prune.h"

/**
 * The reason and message of every succeeded task, whatever the evidence of the success (the pull
 * container's exit 0, the Job's Complete condition) and whether or not the kubelet's Pulled Event
 * arrived first: a final task's words never depend on the order of the watches. The Pulled
 * Event's figures stay in pull_ms and image_bytes.
 */
#define IPD_REASON_PULLED  "Pulled"
#define IPD_MESSAGE_PULLED "the image is on the node"

/** The reason of a task whose pull attempt outlasted the job's timeout_seconds. */
#define IPD_REASON_PULL_TIMEOUT "PullTimeout"

/** Room for an involved object's kind ("Pod"). */
#define IPD_KUBE_KIND_SIZE 32

/** The part of a Kubernetes Event the mapping uses. Strings are copies, truncated to fit. */
typedef struct ipd_kube_event {
    char reason[IPD_REASON_SIZE];   /**< Pulling, Pulled, Failed, BackOff, ... */
    char message[IPD_MESSAGE_SIZE]; /**< truncated at a UTF-8 boundary */
    char kind[IPD_KUBE_KIND_SIZE];  /**< the involved object's kind; may be empty */
    char ns[IPD_NAMESPACE_SIZE];    /**< the involved object's namespace; may be empty */
    char pod[IPD_POD_SIZE];         /**< the involved object's name */
    uint32_t count;                 /**< occurrences aggregated in this Event, >= 1 */
    uint8_t init_container;         /**< fieldPath names an init container (the pull pod's helper) */
    int64_t time;        /**< Unix ms: lastTimestamp, else eventTime, else firstTimestamp, else IPD_TIME_NULL */
    int64_t pull_ms;     /**< Pulled events: parsed from the full message, else IPD_UNKNOWN_I64 */
    int64_t image_bytes; /**< Pulled events: parsed from the full message, else IPD_UNKNOWN_I64 */
} ipd_kube_event_t;

/**
 * Reads an Event object (`obj`, borrowed): core/v1 (involvedObject, message, count,
 * lastTimestamp) or events.k8s.io/v1 (regarding, note, deprecatedCount, series.count,
 * deprecatedLastTimestamp). Returns 0, or IPD_EINVAL if `obj` is not an object or lacks a
 * reason or the involved object's name. Malformed optional fields are treated as absent.
 */
int ipd_kube_event_parse(const json_t *obj, ipd_kube_event_t *out);

/**
 * Reads a Pulled event message of `len` bytes (borrowed):
 *   Successfully pulled image "X" in 1.2s (1.5s including waiting). Image size: 123 bytes.
 * (older kubelets omit the parenthesis, the size, or the duration) gives *pull_ms = 1200 and
 * *image_bytes = 123, or IPD_UNKNOWN_I64 for what is missing;
 *   Container image "X" already present on machine
 * gives *pull_ms = 0 and *image_bytes = IPD_UNKNOWN_I64. Returns 0, or IPD_EINVAL (outputs
 * untouched) if the message is neither form or carries an unreadable duration or size.
 */
int ipd_kube_pulled_parse(const char *msg, size_t len, int64_t *pull_ms, int64_t *image_bytes);

/** Identity of a pull task's Pod. Strings are copies. */
typedef struct ipd_kube_pod_info {
    char ns[IPD_NAMESPACE_SIZE];    /**< metadata.namespace */
    char name[IPD_POD_SIZE];        /**< metadata.name */
    char node[IPD_NODE_SIZE];       /**< spec.nodeName; empty if unset */
    char job_id[IPD_JOB_ID_SIZE];   /**< label imgpulld.io/job; empty if absent */
    char node_label[IPD_NODE_SIZE]; /**< label imgpulld.io/node; empty if absent (may be a hash form) */
    int deleting;                   /**< metadata.deletionTimestamp is set */
} ipd_kube_pod_info_t;

/**
 * Reads a Pod's identity (`pod` borrowed). Returns 0, or IPD_EINVAL if `pod` is not an object,
 * lacks metadata, a non-empty name or namespace, or a name/namespace/label does not fit its
 * field (identifiers are never truncated).
 */
int ipd_kube_pod_info(const json_t *pod, ipd_kube_pod_info_t *out);

/**
 * Maps a Pod and its events to a task, following the table at the top of this file. `pod` and
 * the `nevents` entries of `events` (may be NULL if 0) are borrowed; events whose involved
 * object is another pod are ignored. `job_failed` is true when the pod's batch/v1 Job has the
 * condition Failed=True. `task` (caller's memory) is fully overwritten: node (spec.nodeName,
 * else the imgpulld.io/node label), namespace, pod, state, reason, message, attempts,
 * image_bytes, pull_ms, fail_reason and fail_message (ErrImagePull and the error of the
 * kubelet's last `Failed to pull image "IMAGE": ERROR` Event, else empty), and updated_at =
 * `now` (a caller that keeps the old record when nothing else changed keeps its time). Returns 0, or IPD_EINVAL as
 * ipd_kube_pod_info() does (then `task` is untouched).
 */
int ipd_kube_pod_map(const json_t *pod, const ipd_kube_event_t *events, size_t nevents, int job_failed, int64_t now,
                     ipd_task_t *task);

/** Whether `task` (borrowed) is retrying after a pull failure: ErrImagePull, ImagePullBackOff,
 * InvalidImageName, ErrImageNeverPull, RegistryUnavailable, ImageInspectError or
 * SignatureValidationFailed. */
int ipd_kube_pull_failing(const ipd_task_t *task);

/**
 * Whether the pull of `task` (borrowed, as ipd_kube_pod_map() gives it, attempts of earlier pods
 * added) is exhausted under the job's `backoff_limit`: retrying after a pull failure
 * (ipd_kube_pull_failing) with backoff_limit + 1 attempts made.
 * A pod stuck so never fails its Job (the kubelet retries the pull for ever), so the task is
 * given up instead. Then fills `message` (`cap` bytes, truncated at a UTF-8 boundary) with the
 * words of the give-up, the registry's words included, and returns 1; else returns 0.
 */
int ipd_kube_pull_exhausted(const ipd_task_t *task, int32_t backoff_limit, char *message, size_t cap);

/**
 * Every member of a Pod that ipd_kube_pod_info() and ipd_kube_pod_map() read, and the few the
 * master reads besides (metadata.creationTimestamp, spec.containers[].image): a Pod decoded with
 * this shape (proto/json_prune.h) gives both functions, and the master, what the whole Pod gives.
 * A new read of the Pod must be added here.
 */
extern const ipd_json_shape_t ipd_kube_pod_shape;

#endif
