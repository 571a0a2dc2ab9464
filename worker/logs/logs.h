/*
 * Pod log streaming over WebSocket: GET /ws/pod-logs (docs/api.md, "Pod logs").
 *
 *   logs.c         the module: per-worker state, admission limits, drain and tear-down, stats
 *   logs_open.c    before the upgrade: validation, resolving the pod, the container check, upgrade
 *   logs_stream.c  after the upgrade: waiting for the pod, the log request, ending
 *   logs_ws.c      the WebSocket side: control messages, binary frames, backpressure, closing
 *
 * The pure parts (the query string, the apiserver path, framing, what a Pod says) are in
 * proto/pod_logs.h.
 *
 * Data path: apiserver -> libcurl (the worker's Kubernetes client, one bytes stream per client)
 * -> framer (one frame of logs_frame_size at most) -> wslay's queue -> one socket write per
 * frame (logs_ws.c replaces h2o's send callback, which wrote a frame's header and its payload in
 * two writes, each waiting for the previous one to complete). When wslay
 * holds more than IPD_LOGS_QUEUE_FRAMES frames the stream refuses bytes (IPD_KUBE_DATA_PAUSE),
 * curl stops reading its socket and TCP pushes back to the apiserver; the stream resumes once
 * h2o has taken the queue (wslay's send callback is wrapped to learn it). Memory per stream is
 * therefore bounded by about (1 + 2 * (IPD_LOGS_QUEUE_FRAMES + 1)) frames plus one curl chunk,
 * whatever the log rate.
 *
 * Lifetime. A stream is heap memory owned by the module from admission to its end. Before the
 * upgrade it is tied to its request by an anchor in the request's pool (the request's end frees
 * the stream); after the upgrade it is owned by its WebSocket connection and freed when h2o
 * reports the connection closed. After the upgrade, Kubernetes callbacks never free a stream:
 * they queue messages and arm the stream's flush, so that everything that may close the
 * connection runs from a timer or an h2o socket callback, at the top of the loop. (Before the
 * upgrade the pod read's callback may answer the request and free the stream: nothing else
 * refers to it then.)
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_LOGS_H
#define IPD_WORKER_LOGS_H

#include <h2o.h>
#include <h2o/websocket.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"
#include "proto/pod_logs.h"
#include "shared/kube_client.h"

typedef struct ipd_worker ipd_worker_t;

/* ---------------------------------------------------------------------------------------- */
/* Used by the router and the server (the rest of the worker).                               */

/** Creates the module for `w` (w->logs). Returns 0 or -ENOMEM. */
int ipd_logs_init(ipd_worker_t *w);
/** Answers GET /ws/pod-logs (auth and method already checked by the router), now or later. */
void ipd_logs_handle(ipd_worker_t *w, h2o_req_t *req, const char *id);
/**
 * The worker begins to drain: every upgraded stream gets {"type":"end","reason":"server_shutdown"}
 * and close 1001; requests not yet upgraded are answered 503. New requests are refused (503).
 */
void ipd_logs_drain(ipd_worker_t *w);
/**
 * Tear-down: closes every stream at once (no messages), cancels their Kubernetes requests and
 * frees the module. Call before the Kubernetes client is destroyed and before the loop's last
 * run. NULL module is allowed.
 */
void ipd_logs_dispose(ipd_worker_t *w);

/* ---------------------------------------------------------------------------------------- */
/* Between the logs_*.c files.                                                                */

/** Frames wslay may hold before the stream stops taking log bytes. */
#define IPD_LOGS_QUEUE_FRAMES 2
/** Largest WebSocket message accepted from a client (the endpoint takes none it acts on). */
#define IPD_LOGS_MAX_CLIENT_MSG 4096
/** Before the upgrade, how long the log request may go without bytes before the pod read starts. */
#define IPD_LOGS_POD_CHECK_GRACE_MS 100 /* h2o's 100 ms timer */
/** Timeout of the one-shot pod reads. */
#define IPD_LOGS_POD_GET_TIMEOUT_MS 10000
/** How often a waiting stream asks the apiserver for its pod again. */
#define IPD_LOGS_POLL_MS 1000
/** A partial last line is sent when no more bytes came for this long (h2o's 100 ms timer). */
#define IPD_LOGS_LINGER_MS 100
/** How long a closing stream waits for the client's close frame before dropping the socket. */
#define IPD_LOGS_CLOSE_WAIT_MS 5000

/** WebSocket close codes of the endpoint (docs/api.md lists them). */
enum {
    IPD_LOGS_CLOSE_NORMAL = 1000,      /**< the log ended ("end" message) */
    IPD_LOGS_CLOSE_GOING_AWAY = 1001,  /**< the worker drains */
    IPD_LOGS_CLOSE_INTERNAL = 1011,    /**< apiserver 5xx, transport failure, our own failure */
    IPD_LOGS_CLOSE_BAD_REQUEST = 4400, /**< container unknown, not named among several; upstream 400 */
    IPD_LOGS_CLOSE_FORBIDDEN = 4403,   /**< upstream 401 / 403 */
    IPD_LOGS_CLOSE_NOT_FOUND = 4404,   /**< no pod within logs_pod_wait; upstream 404 */
    IPD_LOGS_CLOSE_TIMEOUT = 4408,     /**< the client took nothing for logs_client_write_timeout */
};

/* ---- streams ---- */

/** Where a stream is. */
typedef enum ipd_logs_phase {
    IPD_LOGS_CHECKING = 0, /**< before the upgrade: the log request, and the pod read if needed */
    IPD_LOGS_WAITING,      /**< upgraded; no pod yet, or its container has not started */
    IPD_LOGS_STREAMING,    /**< the log request runs */
    IPD_LOGS_ENDING,       /**< the log ended cleanly; the pod is read to tell why */
    IPD_LOGS_CLOSING,      /**< the close frame is queued; nothing more is sent */
} ipd_logs_phase_t;

typedef struct ipd_logs ipd_logs_t;
typedef struct ipd_logs_stream ipd_logs_stream_t;

/** Ties a stream to its request before the upgrade; lives in the request's pool. */
typedef struct ipd_logs_anchor {
    ipd_logs_stream_t *stream; /**< NULL once the request was answered or upgraded */
} ipd_logs_anchor_t;

/** One client's log stream. Heap memory owned by the module (see the lifetime rules above). */
struct ipd_logs_stream {
    ipd_logs_t *mod;
    ipd_worker_t *w;
    h2o_linklist_t link; /**< in the module's list */
    ipd_logs_query_t q;
    ipd_logs_phase_t phase;
    /** The pod being followed: from the query, or the task's current pod (empty until known). */
    char ns[IPD_NAMESPACE_SIZE];
    char pod[IPD_POD_SIZE];
    /** Resolved; empty until the pod was read, or while the apiserver chose it (none named, early answer). */
    char container[IPD_LOGS_CONTAINER_SIZE];

    h2o_req_t *req;            /**< before the upgrade only */
    ipd_logs_anchor_t *anchor; /**< before the upgrade only; in req's pool */
    h2o_websocket_conn_t *ws;  /**< after the upgrade; owned by h2o, closed with h2o_websocket_close */
    ipd_kube_req_t *kreq;      /**< the one Kubernetes request in flight, or NULL */
    /**
     * The log request started next to the pod read before the upgrade (logs_open.c), so that
     * the log's first bytes do not wait for two apiserver round trips in a row. It takes no
     * bytes (it pauses on the first) until start_log adopts it as kreq; NULL once adopted, or
     * cancelled when the stream does not start at once (refused, waiting for the pod or its
     * container). A request that ends before it is adopted (an error status, an empty log) leaves
     * its result in early_end, which start_log hands on as if the request had just ended.
     */
    ipd_kube_req_t *early;
    /** The early request's result when it ended before it was adopted; body and message owned. */
    struct ipd_logs_early_end {
        int ended;
        ipd_kube_result_t res; /**< body and message point to the copies below */
        char *body;            /**< heap copy of res.body, or NULL */
        char *message;         /**< heap copy of res.message, or NULL */
    } early_end;
    ipd_logs_framer_t framer;
    /**
     * After the upgrade: the frame being written to the client socket (its header and payload,
     * which wslay hands over in two calls, go out in one write). Emptied when the write completes.
     */
    ipd_buf_t out;

    h2o_timeout_entry_t flush_entry; /**< zero timeout: frames, resume, proceed */
    h2o_timeout_entry_t short_entry; /**< 100 ms: partial-line linger; table poll while waiting */
    h2o_timeout_entry_t tick_entry;  /**< 1 s: deadlines, pod polls, the client write timeout */

    uint64_t wait_deadline;  /**< h2o_now() ms at which waiting gives up */
    uint64_t next_poll;      /**< next pod read while waiting */
    uint64_t last_progress;  /**< last time the client socket took bytes (or the queue was empty) */
    uint64_t last_rx;        /**< last time log bytes came from the apiserver */
    uint64_t ping_sent_at;   /**< last server ping (ws_ping_interval); the upgrade time before the first */
    int awaiting_pong;       /**< nothing came from the client since that ping (ws_pong_timeout runs) */
    uint64_t close_deadline; /**< CLOSING, once the close frame is queued: when the socket is dropped */
    int close_code;          /**< CLOSING: the code to send */
    int close_queued;        /**< CLOSING: the close frame is in wslay (it goes after the data queued before it) */
    char close_reason[64];   /**< CLOSING: the reason to send */
    uint64_t sent_bytes;     /**< log bytes taken from the apiserver, over every pod followed */
    int waiting_sent;        /**< a "waiting" message went out for the current wait */
    int pod_seen;            /**< WAITING: the pod exists but its container has not started */
    int task_final;          /**< following a pull task whose state is final (its pod goes away for good) */
    char last_error[256];    /**< WAITING: why the last pod read failed, for the final message */
};

/* logs.c */
/**
 * Admits a new stream: checks draining, logs_max_streams_per_worker and logs_max_streams (the
 * IPD_STATS_LOG_STREAMS gauge summed over every worker's block) and counts it. Returns the
 * stream (zeroed, linked, its framer allocated), or NULL with the HTTP status to answer in
 * *status and a message in *why (static).
 */
ipd_logs_stream_t *ipd_logs_stream_create(ipd_worker_t *w, const ipd_logs_query_t *q, int *status, const char **why);
/** Cancels the stream's request, unlinks its timers, detaches it from its anchor or connection and frees it. */
void ipd_logs_stream_destroy(ipd_logs_stream_t *s);
/** Counts one stream-level error (an error message sent to a client). */
void ipd_logs_count_error(ipd_logs_stream_t *s);

/* logs_open.c */
/**
 * Reads the task (job, node) from the table: 0 with its namespace and pod copied (the pod is
 * empty while the task has none; the namespace defaults to the pull namespace) and *final set
 * for a final task state; IPD_ENOTFOUND for an unknown job or node; IPD_EBUSY or -ENOMEM.
 */
int ipd_logs_read_task(ipd_worker_t *w, const char *job, const char *node, char ns[IPD_NAMESPACE_SIZE],
                       char pod[IPD_POD_SIZE], int *final);
/**
 * Starts the stream's early log request (s->early) for the pod and container known so far, before
 * any pod read; failure to start it leaves s->early NULL (start_log then asks as usual).
 */
void ipd_logs_start_early(ipd_logs_stream_t *s);
/**
 * Before the upgrade, the early log request ended without 2xx bytes: starts the pod read at the
 * end of this loop turn (never inside curl), unless it runs already. Nothing after the upgrade.
 */
void ipd_logs_check_pod_soon(ipd_logs_stream_t *s);
/** Cancels the early log request and frees what it left (early_end); nothing when there is none. */
void ipd_logs_early_dispose(ipd_logs_stream_t *s);
/** Starts a one-shot GET of the stream's pod, answered to `on_done`. Returns 0 or a negative code. */
int ipd_logs_get_pod(ipd_logs_stream_t *s, ipd_kube_done_cb on_done);
/**
 * The early log request of a stream still before its upgrade got its first 2xx bytes: the
 * apiserver found the pod and the container the query names, or, with none named, a pod with
 * exactly one container (pkg/registry/core/pod/strategy.go, validateContainer: the rule of
 * ipd_logs_pick_container), and has a log for it, which is all the pod read checks. Schedules
 * (at the end of this loop turn, never inside curl) the upgrade without the pod read, which is
 * cancelled; s->container stays empty when the query named none. Nothing when the pod read ends
 * first. An error status is not acted on: the apiserver answers 400 both for several containers
 * none named and for a container not started yet, which the pod read tells apart.
 */
void ipd_logs_early_answered(ipd_logs_stream_t *s);

/* logs_stream.c */
/** The error code of a failed Kubernetes request (`err` from ipd_kube_result_t): "upstream_unreachable", ... */
const char *ipd_logs_transport_code(int err);
/** A short description of that failure for clients ("connection refused", "TLS failure", ...). Static. */
const char *ipd_logs_transport_text(int err);
/** Right after the upgrade: streams at once if `pod` (borrowed, may be NULL) is ready, else waits. */
void ipd_logs_stream_begin(ipd_logs_stream_t *s, const json_t *pod);
/** Right after an upgrade made on the early log request's 2xx answer: streams it at once. */
void ipd_logs_stream_begin_answered(ipd_logs_stream_t *s);
/** Arms the stream's flush: pending frames, resume, h2o proceed at the end of this loop turn. */
void ipd_logs_kick(ipd_logs_stream_t *s);

/* logs_ws.c */
/** Upgrades the stream's request (s->req) to a WebSocket. Returns 0, or -1 (nothing was sent). */
int ipd_logs_ws_upgrade(ipd_logs_stream_t *s);
/** Queues a JSON text message (`len` bytes, copied). */
void ipd_logs_ws_text(ipd_logs_stream_t *s, const char *json, size_t len);
/** Queues a binary message of log bytes (copied). Frame callback for the framer: always 0. */
int ipd_logs_ws_binary(const char *data, size_t len, void *stream);
/** True while wslay holds IPD_LOGS_QUEUE_FRAMES frames or more: the upstream must pause. */
int ipd_logs_ws_blocked(const ipd_logs_stream_t *s);
/** True while bytes wait for the client (in wslay's queue or in h2o's socket write). */
int ipd_logs_ws_pending(const ipd_logs_stream_t *s);
/** Sends {"type":"error","code","message"} and closes with `close_code`. Counts the error. */
void ipd_logs_ws_error(ipd_logs_stream_t *s, const char *code, const char *message, int close_code);
/** Flushes the framer, sends {"type":"end","reason"} and closes with `close_code`. */
void ipd_logs_ws_end(ipd_logs_stream_t *s, const char *reason, int close_code);
/**
 * Queues the pending close frame once wslay's data queue is empty (wslay sends control frames
 * ahead of data, so an earlier close would cut the messages before it), then runs h2o's
 * WebSocket write loop. May free the stream: call it last.
 */
void ipd_logs_ws_proceed(ipd_logs_stream_t *s);
/** Queues a ping (the heartbeat: a client silent for ws_pong_timeout after it is dropped). */
void ipd_logs_ws_ping(ipd_logs_stream_t *s);
/** Drops the connection without a close handshake and frees the stream. */
void ipd_logs_ws_abort(ipd_logs_stream_t *s);

#endif
