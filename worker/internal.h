/*
 * The worker's private contract between its files. Nothing outside worker/ includes this.
 *
 *   server.c      ipd_worker_main: set-up, the loop, signals, parent pipe, drain, tear-down
 *   accept.c      listeners, TLS, accepting, connection tracking and the connection cap
 *   linger.c      lingering close of refused HTTP/1 connections
 *   h2_guard.c    HTTP/2 header blocks never finished and streams reset before their request
 *   worker_kube.c the Kubernetes client on the loop
 *   worker_ring.c the ring eventfd, the job catalogue, change observers
 *   router.c      the single h2o handler: route, rate cap, auth, method; the stats logger
 *   h2o_errors.c  JSON bodies for the errors h2o answers before routing
 *   respond.c     answering: negotiation (msgpack, gzip), ETag/304, error bodies
 *   doc_cache.c   documents encoded once per generation and shared by responses
 *   msgpack_doc.c JSON document -> msgpack conversion
 *   h_lists.c     pull-active, pull-failed, pull-jobs
 *   h_job.c       GET and DELETE pull-jobs/{id}, POST pull
 *   h_ops.c       healthz, readyz, metrics, stats
 *   dashboard.c   the built-in page (its files: worker/dashboard/, embedded at build time)
 *   ws_*.c        WebSocket job watches (worker/ws/ws.h)
 *   logs*.c       pod-log streaming over WebSocket (worker/logs/logs.h)
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_INTERNAL_H
#define IPD_WORKER_INTERNAL_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/buf.h"
#include "shared/kube_client.h"
#include "shared/stats_segment.h"
#include "shared/table.h"
#include "proto/http_auth.h"
#include "proto/http_parse.h"
#include "worker/worker.h"

/** Images accepted in one POST (a request-parsing limit with no directive of its own). */
#define IPD_WORKER_MAX_IMAGES 100
/** Labels accepted in one node_selector. */
#define IPD_WORKER_MAX_SELECTOR_TERMS 32
/** Cached list documents per worker. */
#define IPD_WORKER_CACHE_SLOTS 16
/** Bodies smaller than this are never gzip'd. */
#define IPD_WORKER_GZIP_MIN 256
/** Observers of table changes (the REST caches, later the WebSocket fan-out). */
#define IPD_WORKER_MAX_OBSERVERS 4

/** Representations of a document: [format][encoding]. */
enum { IPD_DOC_JSON = 0, IPD_DOC_MSGPACK = 1 };
enum { IPD_DOC_IDENTITY = 0, IPD_DOC_GZIP = 1 };

/**
 * A response document encoded once and shared: the JSON form, and the msgpack and gzip forms
 * built on first use. Reference counted: the cache holds one reference, each response in
 * flight another (released when its request is disposed). Heap memory.
 */
typedef struct ipd_worker_doc {
    unsigned refs;
    /** body[format][encoding]; body[JSON][IDENTITY] is filled by the creator */
    ipd_buf_t body[2][2];
    /** per form: 1 built, -1 could not be built (then the plainer form is sent), 0 not yet */
    signed char state[2][2];
    /** the ETag of the document, quotes included; empty for none */
    char etag[IPD_HTTP_ETAG_SIZE];
} ipd_worker_doc_t;

/** Returns a new document with one reference and empty bodies, or NULL on ENOMEM. */
ipd_worker_doc_t *ipd_worker_doc_create(void);
/** Drops one reference; frees the document with the last. NULL is allowed. */
void ipd_worker_doc_release(ipd_worker_doc_t *doc);
/**
 * Returns the body of form (`format`, `encoding`), building it from the JSON on first use.
 * Falls back to the identity encoding (and to JSON) when a form cannot be built; *format and
 * *encoding say what was returned. The buffer is borrowed from the document.
 */
const ipd_buf_t *ipd_worker_doc_body(ipd_worker_doc_t *doc, int *format, int *encoding);

/** A small cache of documents keyed by a string, valid for one table generation. */
typedef struct ipd_worker_cache {
    struct ipd_worker_cache_entry {
        char key[192];
        size_t keylen;
        uint64_t used;         /**< LRU clock */
        ipd_worker_doc_t *doc; /**< one reference held; NULL when the entry is free */
    } entries[IPD_WORKER_CACHE_SLOTS];
    uint64_t clock;
    uint64_t generation; /**< the generation every entry was built at */
    uint64_t epoch;
} ipd_worker_cache_t;

/** Returns the cached document for `key` at (epoch, generation) as a borrowed pointer, or NULL.
 *  Entries of another generation are dropped first. */
ipd_worker_doc_t *ipd_worker_cache_get(ipd_worker_cache_t *c, const char *key, size_t keylen, uint64_t epoch,
                                       uint64_t generation);
/** Stores `doc` (a new reference is taken) for `key`; evicts the least recently used entry.
 *  Keys that do not fit are not cached. */
void ipd_worker_cache_put(ipd_worker_cache_t *c, const char *key, size_t keylen, uint64_t epoch, uint64_t generation,
                          ipd_worker_doc_t *doc);
/** Drops every entry. */
void ipd_worker_cache_clear(ipd_worker_cache_t *c);

/** Converts one JSON document (`len` bytes, borrowed) to msgpack appended to `out`. 0, IPD_EINVAL or -ENOMEM. */
int ipd_worker_json_to_msgpack(const char *json, size_t len, ipd_buf_t *out);

/** gzip-compresses `len` bytes into `out` (appended) at compression `level`. 0, -ENOMEM or -EIO. */
int ipd_worker_gzip(const void *data, size_t len, int level, ipd_buf_t *out);

typedef struct ipd_worker ipd_worker_t;

/**
 * Observer of table changes: `on_change` per ring record read, `on_resync` when the worker
 * fell behind the ring or the ring was reset (state must be rebuilt from the table). Both
 * may be NULL. This is the hook the WebSocket fan-out plugs into.
 */
typedef struct ipd_worker_observer {
    void (*on_change)(ipd_worker_t *w, const ipd_ring_entry_t *e, void *data);
    void (*on_resync)(ipd_worker_t *w, void *data);
    void *data;
} ipd_worker_observer_t;

/** The job ids the worker knows the table to hold, by slot, maintained from the ring. */
typedef struct ipd_worker_catalog {
    char (*ids)[IPD_JOB_ID_SIZE]; /**< owned, one per job slot; "" for an empty slot */
    uint32_t nslots;
    uint64_t cursor;  /**< last ring seq applied */
    uint64_t resyncs; /**< rebuilds after an overrun */
} ipd_worker_catalog_t;

/** One accepted client connection (its socket's on_close.data). Heap memory, freed on close. */
typedef struct ipd_worker_conn {
    ipd_worker_t *w;
    h2o_socket_t *sock;
    int needs_auth; /**< accepted on a listener whose configured address is not loopback */
    int closing;    /**< over its rate: answered 429 and being closed */
    int linger_fd;  /**< a dup of the socket, drained once h2o has closed it (linger.c); -1 if none */
    ipd_http_rate_t rate;
    uint64_t h2_requests;     /**< HTTP/2 requests that reached the handler */
    uint64_t h2_resets;       /**< HTTP/2 streams counted as ended before reaching it (h2_guard.c) */
    uint64_t h2_block_since;  /**< loop ms since an unfinished header block was first seen; 0: none */
    uint32_t h2_block_stream; /**< the stream that block belongs to */
} ipd_worker_conn_t;

/** A listening socket and what its configuration entry says. */
typedef struct ipd_worker_listener {
    ipd_worker_t *w;
    h2o_socket_t *sock; /**< owns the fd (the worker's inherited copy) */
    int needs_auth;
} ipd_worker_listener_t;

/** The worker. One per process, in ipd_worker_main's frame. */
struct ipd_worker {
    const ipd_worker_args_t *args; /**< borrowed */
    const ipd_config_t *cfg;       /**< borrowed */
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_evloop_t *loop;
    h2o_accept_ctx_t accept_ctx;
    SSL_CTX *ssl; /**< owned; NULL without TLS */

    ipd_worker_listener_t listeners[IPD_CONFIG_MAX_LISTEN];
    size_t nlisten;
    int accepting;                     /**< listeners are being read */
    int accept_paused;                 /**< accept(2) ran out of descriptors or memory: wait, then retry */
    h2o_timeout_t accept_pause;        /**< IPD_ACCEPT_PAUSE_MS */
    h2o_timeout_entry_t accept_resume; /**< linked while paused */
    uint64_t accept_warned_at;         /**< loop ms of the last warning about it */
    unsigned long accept_failures;     /**< failed accepts since that warning */
    size_t nconns;
    h2o_timeout_t linger_timeout; /**< linger_timeout; 0 when lingering is off */
    h2o_linklist_t lingering;     /**< connections being drained (linger.c) */
    size_t nlingering;
    h2o_timeout_entry_t h2_sweep; /**< h2_guard.c, in ctx.one_sec_timeout while there are connections */
    uint64_t h2_warned_at;        /**< loop ms of the last warning about dropped HTTP/2 connections */
    unsigned long h2_drops;       /**< HTTP/2 connections dropped since that warning */
    int h2_trim;                  /**< connections were dropped: return freed memory at the next sweep */
    h2o_linklist_t awaiting;      /**< POST/DELETE answers waiting for the table to show the change (h_job.c) */
    h2o_timeout_t await_timeout;  /**< op_visible_timeout */

    h2o_socket_t *signal_sock, *parent_sock, *ring_sock;
    int draining, stop;
    uint64_t drain_deadline; /**< h2o_now() value */

    ipd_table_t *table; /**< owned; NULL until attached */
    uint64_t table_retry_at;
    ipd_worker_catalog_t catalog;
    ipd_worker_observer_t observers[IPD_WORKER_MAX_OBSERVERS];
    size_t nobservers;
    ipd_worker_cache_t cache;     /**< list documents of the current generation (rest/h_lists.c) */
    ipd_worker_cache_t job_cache; /**< one-job documents keyed by id and the copy's generation (rest/h_job.c) */
    struct ipd_ws *ws;            /**< owned: the WebSocket job watches (worker/ws/ws.h); NULL when not started */

    ipd_stats_segment_t *stats_seg; /**< owned; NULL without a stats segment */
    ipd_stats_block_t *stats;       /**< this worker's block, or own_stats */
    ipd_stats_block_t *own_stats;   /**< owned: counts before the block is claimed, or without a segment */

    ipd_kube_t *kube;                             /**< owned; NULL when it could not be created (kube_error says why) */
    h2o_socket_t *kube_ep_sock, *kube_timer_sock; /**< own dup()s of the client's fds */
    char kube_error[256];
    struct ipd_logs *logs; /**< owned; pod-log streams (worker/logs/logs.h), NULL before ipd_logs_init */

    ipd_http_tokens_t tokens;

    /* Scratch for table reads, grown on demand (owned). */
    ipd_job_t job;
    ipd_task_t *tasks;
    size_t task_cap;
    char *json;
    size_t json_cap;
    ipd_table_ref_t *refs;
    size_t ref_cap;
};

/* ---- accept.c ---- */
/** Sets up TLS (if configured) and the listeners from args->listen_fds. Returns 0 or -1 (logged). */
int ipd_worker_listen(ipd_worker_t *w);

/**
 * The TLS context for cfg's tls_cert and tls_key: `*out` is owned (SSL_CTX_free), NULL when TLS
 * is not configured. Returns 0, or IPD_EINVAL with `err` naming the directive, file and reason.
 */
int ipd_worker_tls_load(const ipd_config_t *cfg, SSL_CTX **out, char *err, size_t errlen);
/** Starts or stops reading the listeners according to the drain state and the connection cap. */
void ipd_worker_update_accepting(ipd_worker_t *w);
/** Closes the listeners and frees the TLS context. */
void ipd_worker_unlisten(ipd_worker_t *w);
/** The connection state of a request, or NULL if the request has no socket of ours. */
ipd_worker_conn_t *ipd_worker_conn_of(h2o_req_t *req);
/** The connection state of a socket (also after h2o's HTTP/1 upgrade handed it over), or NULL. */
ipd_worker_conn_t *ipd_worker_conn_of_socket(h2o_socket_t *sock);
/** Closes the connection of `conn` after what is queued has been written (used after a 429). */
void ipd_worker_conn_close_soon(ipd_worker_conn_t *conn, h2o_req_t *req);

/* ---- linger.c ---- */
/**
 * Lingering close for HTTP/1 connections that h2o closes with client input possibly unread (a
 * refused body, a malformed request, a 429, a WebSocket close after a protocol error): closing
 * such a socket makes the kernel send a reset that can destroy the answer before the client
 * reads it. Arming keeps a dup of the
 * socket; when h2o closes its own fd, the dup's sending side is shut down (the client sees
 * the answer and end of stream) and input is read and discarded until the client closes or
 * linger_timeout passes. No-op over TLS, when off, or at max_lingering_per_worker.
 */
void ipd_worker_linger_arm(ipd_worker_conn_t *conn);
/** Starts draining an armed connection; called when h2o has closed its socket. Takes conn->linger_fd. */
void ipd_worker_linger_start(ipd_worker_t *w, int fd);
/** Initialises the worker's lingering state (after the loop exists). */
void ipd_worker_linger_init(ipd_worker_t *w);
/** Closes every connection still being drained. */
void ipd_worker_linger_dispose(ipd_worker_t *w);

/* ---- h2_guard.c ---- */
/** Starts the once-a-second check of HTTP/2 connections if the worker has connections and it is not running. */
void ipd_worker_h2_guard_arm(ipd_worker_t *w);
/** Stops the check. */
void ipd_worker_h2_guard_dispose(ipd_worker_t *w);

/* ---- worker_kube.c ---- */
/** Creates the Kubernetes client from the configuration and registers its fds; failure is logged and kept in
 * kube_error. */
void ipd_worker_kube_start(ipd_worker_t *w);
/** Unregisters and destroys the client. */
void ipd_worker_kube_stop(ipd_worker_t *w);

/* ---- worker_ring.c ---- */
/** The table, attaching it first if needed (at most one attempt per second). NULL while unavailable. */
ipd_table_t *ipd_worker_table(ipd_worker_t *w);
/** Registers the ring eventfd on the loop (if any). Returns 0 or -1. */
int ipd_worker_ring_start(ipd_worker_t *w);
/** Applies every ring record not yet seen: catalogue, cache invalidation, observers. */
void ipd_worker_ring_poll(ipd_worker_t *w);
/** Adds an observer (copied). Returns 0 or -1 when the table of observers is full. */
int ipd_worker_observe(ipd_worker_t *w, const ipd_worker_observer_t *o);
/** Frees the catalogue and the scratch buffers. */
void ipd_worker_ring_dispose(ipd_worker_t *w);
/**
 * Reads one job into the worker's scratch (by `id` when not NULL, else by `ref`), growing the
 * scratch as needed. `view` is filled; its pointers stay valid until the next read. Returns 0,
 * IPD_ENOTFOUND, IPD_EBUSY or -ENOMEM.
 */
int ipd_worker_read_job(ipd_worker_t *w, const char *id, ipd_table_ref_t ref, ipd_table_job_view_t *view);
/** Appends the JSON of a job read by ipd_worker_read_job (inline copy or encoded). 0 or -ENOMEM. */
int ipd_worker_append_job(const ipd_table_job_view_t *view, ipd_buf_t *out);
/** Reads list `kind` into the worker's ref scratch; returns the count or a negative code. */
ssize_t ipd_worker_read_list(ipd_worker_t *w, ipd_table_list_kind_t kind, uint64_t *generation);

/* ---- router.c ---- */
/** Registers the handler and the stats logger on the configuration. */
void ipd_worker_router_register(ipd_worker_t *w, h2o_hostconf_t *host);
/** Routes counted in the metrics: the route table's rows, then "other". Route r, status kind k
 *  (ipd_http_status_kind(), proto/http_parse.h) count in route slot
 *  r * ipd_http_status_kinds() + k (ipd_worker_stats_route_slots() in all). */
size_t ipd_worker_route_count(void);
/** The `route` label of route `i` (< ipd_worker_route_count()); static. */
const char *ipd_worker_route_metric(size_t i);

/* ---- h2o_errors.c ---- */
/** Makes the errors h2o answers itself before routing (413, malformed requests) JSON error bodies. */
void ipd_worker_errors_register(h2o_hostconf_t *host);

/* ---- respond.c ---- */
/** Answers with a JSON error body (code from the status) and `message`. */
void ipd_worker_send_error(h2o_req_t *req, int status, const char *message);
/**
 * Ends a malformed HTTP/2 request with a stream error of type PROTOCOL_ERROR: h2o sends the
 * response's HEADERS (400), then RST_STREAM. For requests the library itself should have
 * refused as malformed (RFC 9113 section 8.1.1).
 */
void ipd_worker_reset_stream(h2o_req_t *req);
/**
 * Answers 503 with the JSON error body's `code` (a literal: "not_ready", "table_full") and
 * `message`, and, when `retry_after_s` > 0, a Retry-After header of that many seconds.
 */
void ipd_worker_send_unavailable(h2o_req_t *req, const char *code, const char *message, int retry_after_s);
/** Answers `doc` (a reference is taken for the response) with `status`, negotiating msgpack and gzip. */
void ipd_worker_send_doc(h2o_req_t *req, int status, ipd_worker_doc_t *doc);
/** Answers a one-off JSON body (copied) with `status`, negotiating msgpack and gzip. */
void ipd_worker_send_json(h2o_req_t *req, int status, const char *json, size_t len);
/** Answers a non-JSON body (copied) with `content_type` (a literal), gzip'd when accepted. */
void ipd_worker_send_text(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/** Answers 304 if the request's If-None-Match matches `etag`; returns 1 then, else 0. */
int ipd_worker_not_modified(h2o_req_t *req, const char *etag);

/* ---- handlers (h_*.c, dashboard.c); each answers the request, now or later ---- */
void ipd_worker_get_active(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_failed(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_jobs(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_job(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_delete_job(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_post_pull(ipd_worker_t *w, h2o_req_t *req, const char *id);
/** Sets up the answers of POST and DELETE that wait for the table (h_job.c). Returns 0 or -1. */
int ipd_worker_ops_start(ipd_worker_t *w);
void ipd_worker_get_healthz(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_readyz(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_metrics(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_stats(ipd_worker_t *w, h2o_req_t *req, const char *id);
void ipd_worker_get_dashboard(ipd_worker_t *w, h2o_req_t *req, const char *id);

/* ---- admission.c ---- */
/**
 * Reserves room in the table for `njobs` jobs with `ntasks` tasks in all, for a POST about to
 * create them. Returns 0 (the reservation is held until ipd_worker_admit_release() with the
 * same figures), IPD_EFULL when the table cannot hold them next to its active jobs and what
 * other POSTs hold, or IPD_EBUSY when the table cannot be read; then `msg` (`cap` bytes) says
 * why and nothing is held. The protocol and why it is race-free are at the top of admission.c.
 */
int ipd_worker_admit(ipd_worker_t *w, size_t njobs, size_t ntasks, char *msg, size_t cap);
/** Gives back a reservation of ipd_worker_admit(); (0, 0) is a no-op. */
void ipd_worker_admit_release(ipd_worker_t *w, size_t njobs, size_t ntasks);

/** The query string of a request (after '?'), or an empty one. */
h2o_iovec_t ipd_worker_query(h2o_req_t *req);
/** Table state for readiness: NULL when ready, else the reason (static string). */
const char *ipd_worker_not_ready(ipd_worker_t *w);
/**
 * Whether the table is complete enough to list from: ipd_worker_not_ready() without the
 * draining of this worker (a draining worker still reads a complete table, and a reload must
 * not fail the lists of the connections it drains). NULL when ready, else the reason.
 */
const char *ipd_worker_table_not_ready(ipd_worker_t *w);

#endif
