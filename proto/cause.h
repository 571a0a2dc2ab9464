/*
 * Root causes: the one place that turns what the kubelet, the container runtime, the registry
 * and the Job controller said into an ipd_cause_t class, and that decides which failure a task
 * keeps as its last one. Pure functions, no I/O. The mapping is documented as a table in
 * docs/api.md ("Causes"); tests/unit/test_cause.c holds real messages for each class.
 *
 * Classification, first rule that applies wins:
 *   1. the reason alone, when it is specific: InvalidImageName (invalid_reference),
 *      ErrImageNeverPull (not_found), RegistryUnavailable (network), PullTimeout (timeout),
 *      DeadlineExceeded (deadline), Cancelled (cancelled), NodeLost, NodeNotReady, NodeCordoned,
 *      NodeShutdown, Shutdown, Evicted, NodeAffinity, NodeDaemonLost (node_unavailable);
 *   2. the message, case-insensitively, in this order: rate_limited, invalid_reference, tls,
 *      auth, not_found, network, timeout, cancelled, node_unavailable (the order settles
 *      messages that hold words of two classes: "429 ... authenticating" is rate_limited, a
 *      "TLS handshake timeout" is timeout, "dial tcp ...: i/o timeout" is network);
 *   3. unknown.
 */
#ifndef IPD_PROTO_CAUSE_H
#define IPD_PROTO_CAUSE_H

#include "proto/job.h"

/**
 * Classifies a failure from its reason and message (both borrowed, NUL-terminated, may be NULL
 * or empty). Never returns IPD_CAUSE_NONE: a failure nothing recognises is IPD_CAUSE_UNKNOWN.
 */
ipd_cause_t ipd_cause_classify(const char *reason, const char *message);

/**
 * True when `reason` is a Job controller's verdict (DeadlineExceeded, BackoffLimitExceeded,
 * JobFailed, PodFailurePolicy, MaxFailedIndexesExceeded) rather than what happened to a pull.
 */
int ipd_cause_is_job_verdict(const char *reason);

/**
 * Carries `prev`'s last failure (fail_reason, fail_message) into `t` (both borrowed; `t` is
 * written) unless `t` brings one of its own (the pod's Events named it, ipd_kube_pod_map()),
 * then replaces it by `t`'s own reason and message when `t` is retrying or failed
 * and they describe what happened to the pull: not a Job controller verdict, and not an
 * ImagePullBackOff whose message names no cause while a failure is already kept (the kubelet's
 * "Back-off pulling image" replaces the registry's words in the container status). Call it
 * with the task as the cluster shows it, before the caller substitutes messages of its own.
 */
void ipd_task_keep_failure(ipd_task_t *t, const ipd_task_t *prev);

/**
 * Sets t->cause from its state, reason, message and kept failure: cancelled tasks are
 * `cancelled`; retrying and failed tasks take the class of their reason and message, or of the
 * kept failure when those name none (a bare back-off, "BackoffLimitExceeded"); a succeeded task
 * has none; an `unknown` task (its node stopped reporting) is node_unavailable; pending and
 * pulling tasks keep the class of the kept failure (a retry after it), else none.
 */
void ipd_task_set_cause(ipd_task_t *t);

#endif
