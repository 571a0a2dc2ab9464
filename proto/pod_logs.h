/*
 * The pure parts of the pod-log streams (GET /ws/pod-logs, docs/api.md "Pod logs"; the
 * streaming itself is worker/logs/): the query string a client sends and the apiserver path it
 * maps to, cutting log bytes into frames at line ends, and what a Pod object and a Kubernetes
 * Status body say. No I/O, no h2o: libc and jansson only, fuzzed by tests/fuzz/fuzz_pod_logs_*.c.
 *
 *   pod_logs_query.c  the query string and the apiserver path
 *   pod_logs_frame.c  cutting log bytes into frames at line ends
 *   pod_logs_pod.c    what a Pod object and a Status body say
 */
#ifndef IPD_PROTO_POD_LOGS_H
#define IPD_PROTO_POD_LOGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"

/** Room for a container name (a DNS label) and its NUL. */
#define IPD_LOGS_CONTAINER_SIZE 64

/** The validated query of /ws/pod-logs. Caller's memory; holds no pointers. */
typedef struct ipd_logs_query {
    char ns[IPD_NAMESPACE_SIZE];             /**< empty: the pull namespace (or the task's) */
    char pod[IPD_POD_SIZE];                  /**< empty when job + node are given */
    char job[IPD_JOB_ID_SIZE];               /**< empty unless following a pull task */
    char node[IPD_NODE_SIZE];                /**< with job */
    char container[IPD_LOGS_CONTAINER_SIZE]; /**< empty: the pod's only container */
    int follow;                              /**< default 1 */
    int timestamps;                          /**< default 0 */
    int previous;                            /**< default 0 */
    int64_t tail_lines;                      /**< -1 when not given */
    int64_t since_seconds;                   /**< 0 when not given */
    int64_t since_time_ms;                   /**< valid when has_since_time */
    int has_since_time;
    int64_t limit_bytes; /**< 0 when not given */
} ipd_logs_query_t;

/**
 * Parses the query string of /ws/pod-logs (`len` bytes, borrowed; may be NULL when len is 0)
 * into `out`. `tail_max` is logs_tail_lines_max. Every parameter may be given once; unknown
 * parameters are refused except `access_token` (read by the router). Returns 0, or -1 with a
 * one-line message naming the parameter in `msg` (`msgcap` bytes).
 */
int ipd_logs_query_parse(const char *query, size_t len, int64_t tail_max, ipd_logs_query_t *out, char *msg,
                         size_t msgcap);
/**
 * Appends the apiserver path of the log request to `out`:
 * /api/v1/namespaces/NS/pods/POD/log?container=C&follow=true&... with the options of `q`;
 * `limit_bytes` (0 for none) replaces q->limit_bytes. Names are borrowed and already validated.
 * Returns 0 or -ENOMEM.
 */
int ipd_logs_query_log_path(const ipd_logs_query_t *q, const char *ns, const char *pod, const char *container,
                            int64_t limit_bytes, ipd_buf_t *out);
/** True for a DNS-1123 label (1..63 of a-z 0-9 '-', alphanumeric at both ends). */
int ipd_logs_is_dns_label(const char *s, size_t len);
/** True for a DNS-1123 subdomain (1..253, labels separated by '.'). */
int ipd_logs_is_dns_subdomain(const char *s, size_t len);

/**
 * Cuts a byte stream into frames of at most `cap` bytes, ending each frame at the last line end
 * it holds whenever a line fits; a line longer than `cap` is split. Owns its buffer (`cap` bytes).
 */
typedef struct ipd_logs_framer {
    char *buf;  /**< owned */
    size_t cap; /**< frame size */
    size_t len; /**< bytes held */
} ipd_logs_framer_t;

/** Receives one frame (borrowed for the call). Returns 0, or non-zero to stop the caller. */
typedef int (*ipd_logs_frame_cb)(const char *frame, size_t len, void *data);

/** Allocates the buffer. Returns 0 or -ENOMEM. */
int ipd_logs_framer_init(ipd_logs_framer_t *f, size_t cap);
/** Frees the buffer. */
void ipd_logs_framer_dispose(ipd_logs_framer_t *f);
/** Takes `len` bytes; emits each frame that fills. Returns 0 or the first non-zero `emit` return. */
int ipd_logs_framer_push(ipd_logs_framer_t *f, const char *p, size_t len, ipd_logs_frame_cb emit, void *data);
/**
 * Emits what is held: with `whole_lines`, up to the last line end (a partial line stays);
 * otherwise everything. Returns 0 or the `emit` return.
 */
int ipd_logs_framer_flush(ipd_logs_framer_t *f, int whole_lines, ipd_logs_frame_cb emit, void *data);

/**
 * Picks the container to stream from a parsed Pod (`pod` borrowed, named `podname`), as the
 * apiserver does for a log request (pkg/registry/core/pod/strategy.go, validateContainer):
 * `wanted` when it is one of the pod's init, regular or ephemeral containers, else the only
 * regular container when `wanted` is empty. Copies
 * it into `out` (IPD_LOGS_CONTAINER_SIZE bytes) and returns 0; otherwise returns -1 with a
 * message naming the `container` parameter and listing the pod's containers in `msg`.
 */
int ipd_logs_pick_container(const json_t *pod, const char *podname, const char *wanted, char *out, char *msg,
                            size_t msgcap);

/** The state of one container as a Pod's status tells it. */
typedef enum ipd_logs_container_state {
    IPD_LOGS_CONTAINER_UNKNOWN = 0, /**< no status yet, or waiting */
    IPD_LOGS_CONTAINER_RUNNING,
    IPD_LOGS_CONTAINER_TERMINATED,
} ipd_logs_container_state_t;

/** Number of regular containers (spec.containers) of a parsed Pod (`pod` borrowed). */
size_t ipd_logs_pod_ncontainers(const json_t *pod);
/** Name of container `i` (borrowed from `pod`), or NULL. */
const char *ipd_logs_pod_container(const json_t *pod, size_t i);
/** True when `name` is in spec.initContainers, spec.containers or spec.ephemeralContainers. */
int ipd_logs_pod_has_container(const json_t *pod, const char *name);
/** Appends the names of the init, regular and ephemeral containers, in that order, comma-separated, to `out`. Returns 0
 * or -ENOMEM. */
int ipd_logs_pod_list_containers(const json_t *pod, ipd_buf_t *out);
/** The state of container `name`; `has_previous` (may be NULL) is set when it has a lastState.terminated. */
ipd_logs_container_state_t ipd_logs_pod_container_state(const json_t *pod, const char *name, int *has_previous);
/**
 * The message of a Kubernetes Status body (`len` bytes, borrowed), copied into `out` (`cap`
 * bytes, NUL-terminated): its "message", else the body itself, truncated at a UTF-8 boundary.
 */
void ipd_logs_status_message(const char *body, size_t len, char *out, size_t cap);

#endif
