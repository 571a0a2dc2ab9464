/*
 * The declarations of the top of worker/ and of the rest room, which the rooms' own headers do
 * not carry yet. Nothing outside worker/ includes this. The worker's state and the core room:
 * worker/core/core.h; connections and answers: worker/http/http.h.
 *
 *   server.c      ipd_worker_main: set-up, the loop, signals, parent pipe, drain, tear-down
 *   router.c      the single h2o handler: route, rate cap, auth, method; the stats logger
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

#include "worker/core/core.h"
#include "worker/http/http.h"

/** Images accepted in one POST (a request-parsing limit with no directive of its own). */
#define IPD_WORKER_MAX_IMAGES 100
/** Labels accepted in one node_selector. */
#define IPD_WORKER_MAX_SELECTOR_TERMS 32

/* ---- router.c ---- */
/** Registers the handler and the stats logger on the configuration. */
void ipd_worker_router_register(ipd_worker_t *w, h2o_hostconf_t *host);
/** Routes counted in the metrics: the route table's rows, then "other". Route r, status kind k
 *  (ipd_http_status_kind(), proto/http_parse.h) count in route slot
 *  r * ipd_http_status_kinds() + k (ipd_worker_stats_route_slots() in all). */
size_t ipd_worker_route_count(void);
/** The `route` label of route `i` (< ipd_worker_route_count()); static. */
const char *ipd_worker_route_metric(size_t i);

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

/** Table state for readiness: NULL when ready, else the reason (static string). */
const char *ipd_worker_not_ready(ipd_worker_t *w);
/**
 * Whether the table is complete enough to list from: ipd_worker_not_ready() without the
 * draining of this worker (a draining worker still reads a complete table, and a reload must
 * not fail the lists of the connections it drains). NULL when ready, else the reason.
 */
const char *ipd_worker_table_not_ready(ipd_worker_t *w);

#endif
