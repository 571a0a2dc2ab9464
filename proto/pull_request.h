/*
 * The body of POST /api/v1/images/pull, parsed and validated (API.md).
 *
 *   {"image": "...", "nodes": ["node-a"]}                  one job on named nodes
 *   {"images": ["a", "b"], "node_selector": {"k": "v"}}    one job per image, nodes by labels
 *   {"image": "...", "all_nodes": true}                    every Ready node
 *   {"pod_selector": {"namespace": "shop", "matchLabels": {"app": "web"}}, ...}
 *                                                          one job per image those pods run
 *
 * node_selector (and pod_selector) take a plain map or matchLabels/matchExpressions
 * (proto/label_selector.h).
 * plus optional pull_policy, timeout_seconds, backoff_limit, deadline_seconds, parallelism,
 * pull_secrets, ttl_seconds_after_finished, keep (with node_selector, all_nodes or pod_selector's
 * default of all nodes) and refresh_seconds (with keep; spec.refresh_seconds). Every rejection comes with a message
 * that names the field and what is wrong, ready for the JSON error body.
 */
#ifndef IPD_PROTO_PULL_REQUEST_H
#define IPD_PROTO_PULL_REQUEST_H

#include <stddef.h>

#include "proto/job.h"
#include "proto/label_selector.h"

/** Limits applied while parsing; each comes from the configuration. */
typedef struct ipd_pull_limits {
    size_t max_images;         /**< images in one request */
    size_t max_nodes;          /**< names in "nodes" (also the per-job task limit) */
    size_t max_selector_terms; /**< requirements in a selector, and values in each */
} ipd_pull_limits_t;

typedef enum ipd_node_choice {
    IPD_NODES_BY_NAME = 0, /**< "nodes": [...] */
    IPD_NODES_BY_LABELS,   /**< "node_selector": {...} */
    IPD_NODES_ALL,         /**< "all_nodes": true */
} ipd_node_choice_t;

/** A parsed request. All strings are owned by the request (freed by ipd_pull_request_dispose). */
typedef struct ipd_pull_request {
    char **images; /**< NULL with a pod_selector: the images come from the pods */
    size_t nimages;
    char *pod_namespace; /**< pod_selector's namespace; NULL without a pod_selector */
    ipd_label_selector_t pod_selector;
    ipd_node_choice_t node_choice;
    char **nodes; /**< IPD_NODES_BY_NAME */
    size_t nnodes;
    ipd_label_selector_t node_selector; /**< IPD_NODES_BY_LABELS */
    int keep;                           /**< "keep": true: the job follows the cluster's nodes until cancelled */
    ipd_pull_policy_t pull_policy;      /**< default IfNotPresent */
    ipd_job_spec_t spec;                /**< defaults: backoff_limit 3, ttl -1, everything else 0 */
} ipd_pull_request_t;

/**
 * Parses `len` bytes of JSON. On success returns 0 and fills `out` (dispose it). On failure
 * returns IPD_EINVAL (malformed JSON: the message carries the byte offset; an unknown field,
 * a wrong type, a bad value, an invalid image reference) or IPD_ETOOBIG (a list over its
 * limit), writes a one-line message to `msg` (`msgcap` bytes), and leaves `out` empty.
 */
int ipd_pull_request_parse(const char *body, size_t len, const ipd_pull_limits_t *limits, ipd_pull_request_t *out,
                           char *msg, size_t msgcap);

/** Frees what the request owns; safe on a zeroed or already disposed request. */
void ipd_pull_request_dispose(ipd_pull_request_t *req);

/**
 * Writes the request's node selector as a Kubernetes label selector ("k1=v1,k2 in (a,b)") into
 * `out` (`cap` bytes). Returns the length, or IPD_ETOOBIG when it does not fit.
 */
int ipd_pull_request_label_selector(const ipd_pull_request_t *req, char *out, size_t cap);

/** True if `s` is a DNS-1123 subdomain (node, secret names): lowercase alnum, '-', '.', <= 253. */
int ipd_is_dns_subdomain(const char *s);
/** True if the `len` bytes at `s` are a DNS-1123 label: lowercase alnum and '-', alnum at both ends, <= 63. */
int ipd_is_dns_label_n(const char *s, size_t len);
/** True if the `len` bytes at `s` are a DNS-1123 subdomain: dot-separated labels, <= 253 in all. */
int ipd_is_dns_subdomain_n(const char *s, size_t len);
/** True if `s` is a valid label value: <= 63, alnum at both ends, '-', '_', '.' inside; may be empty. */
int ipd_is_label_value(const char *s);
/** True if `s` is a valid label key: optional "dns-subdomain/" prefix, then a name of <= 63. */
int ipd_is_label_key(const char *s);

#endif
