/*
 * The worker's core room: its state and what every room above uses. Nothing outside worker/
 * includes this.
 *
 *   core.h        the worker's state (ipd_worker_t), one per process, in ipd_worker_main's frame
 *   worker_ring.c the table, the ring eventfd, the job catalogue, change observers
 *   worker_kube.c the Kubernetes client on the loop
 *   doc_cache.c   documents encoded once per generation and shared by responses, gzip
 *   msgpack_doc.c JSON document -> msgpack conversion
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_CORE_H
#define IPD_WORKER_CORE_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/buf.h"
#include "proto/http_auth.h"
#include "proto/http_parse.h"
#include "shared/kube_client.h"
#include "shared/stats_segment.h"
#include "shared/table.h"
#include "worker/worker.h"

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
    /** The `route` labels of the per-route metrics: the route table's rows, then "other" (set by
     *  ipd_worker_router_register(), worker/router.h; static strings). Route r, status kind k
     *  (ipd_http_status_kind(), proto/http_parse.h) count in route slot r * ipd_http_status_kinds() + k. */
    const char *const *route_metrics;
    size_t nroutes;

    ipd_kube_t *kube;                             /**< owned; NULL when it could not be created (kube_error says why) */
    h2o_socket_t *kube_ep_sock, *kube_timer_sock; /**< own dup()s of the client's fds */
    char kube_error[256];
    uint64_t kube_retries_counted[2]; /**< the client's retries (after 429, after 503) already in `stats` */
    struct ipd_logs *logs;            /**< owned; pod-log streams (worker/logs/logs.h), NULL before ipd_logs_init */

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

#endif
