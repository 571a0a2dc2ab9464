/*
 * What a Node says about starting a pull task on it: the pending reasons of a task whose node
 * cannot take it (API.md "A pending task says why").
 *
 * A pull pod is pinned with spec.nodeName, so the scheduler never looks at it and Kubernetes
 * itself holds it back only while the node's kubelet is away (the pod stays Pending) or, in the
 * kubelet's admission, for an untolerated NoExecute taint (pkg/kubelet/lifecycle/predicate.go:
 * the pod fails with reason TaintToleration). A cordon and NoSchedule taints are scheduler
 * matters and would not stop it. imgpulld applies the scheduler's rules itself instead: a task
 * does not start on a node that is not Ready, is cordoned, or carries a NoSchedule or NoExecute
 * taint the pull pod does not tolerate (PreferNoSchedule never blocks). Its Job waits suspended,
 * and the task says why:
 *
 *   NodeNotReady     the node is missing, or its Ready condition is not True
 *   NodeCordoned     spec.unschedulable (kubectl cordon / drain)
 *   Unschedulable    a NoSchedule/NoExecute taint without a matching toleration
 *
 * The taints the node controller adds for the first two (node.kubernetes.io/not-ready,
 * unreachable, unschedulable) are reported as the first two, not as Unschedulable.
 */
#ifndef IPD_PROTO_KUBE_NODE_H
#define IPD_PROTO_KUBE_NODE_H

#include <jansson.h>

#include "proto/json_prune.h"

#define IPD_REASON_NODE_NOT_READY "NodeNotReady"
#define IPD_REASON_NODE_CORDONED  "NodeCordoned"
#define IPD_REASON_UNSCHEDULABLE  "Unschedulable"
#define IPD_REASON_QUEUED         "Queued"
#define IPD_REASON_NODE_DELETED   "NodeDeleted"

typedef enum ipd_node_block {
    IPD_NODE_USABLE = 0,
    IPD_NODE_NOT_READY,   /**< missing, or Ready is not True */
    IPD_NODE_CORDONED,    /**< spec.unschedulable */
    IPD_NODE_UNTOLERATED, /**< a NoSchedule or NoExecute taint the pod does not tolerate */
} ipd_node_block_t;

/** What of a Node ipd_kube_node_check and label selectors read (name, labels, spec, conditions). */
extern const ipd_json_shape_t ipd_kube_node_shape;

/**
 * Decides whether a pull pod with `tolerations` (a borrowed JSON array of core/v1 Toleration, or
 * NULL for none) can start on `node` (a borrowed Node object, or NULL when the cluster has no
 * such node, named `name`). On a block, writes the task's reason (one of the IPD_REASON_NODE_*
 * words, `reason_cap` bytes) and a one-line message naming the node and what holds it back
 * (`message_cap` bytes); on IPD_NODE_USABLE leaves both untouched. Never fails.
 */
ipd_node_block_t ipd_kube_node_check(const json_t *node, const char *name, const json_t *tolerations, char *reason,
                                     size_t reason_cap, char *message, size_t message_cap);

/**
 * The words of a task given up because its Node was deleted while the task was not final: the
 * pull can never happen there, and Kubernetes' pod garbage collector would only fail its pods
 * one by one (pkg/controller/podgc/gc_controller.go, about a minute each) until the Job's
 * backoff limit. Writes IPD_REASON_NODE_DELETED's message for `node` (`message_cap` bytes).
 */
void ipd_kube_node_deleted_message(const char *node, char *message, size_t message_cap);

/**
 * True if `tolerations` (borrowed array, NULL for none) tolerate the taint `taint` (borrowed
 * object with key, value, effect), with the Kubernetes rules: operator Exists (the default when
 * the key is empty matches every key), Equal compares the value; an empty effect matches every
 * effect.
 */
int ipd_toleration_matches(const json_t *tolerations, const json_t *taint);

#endif
