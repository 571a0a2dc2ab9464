/*
 * The worker's rest room: the REST handlers, each answering its request now or later; the router
 * (worker/router.c) calls them from its route table. Nothing outside worker/ includes this.
 *
 *   h_lists.c     pull-active, pull-failed, pull-jobs
 *   h_job.c       GET and DELETE pull-jobs/{id}, POST pull
 *   h_ops.c       healthz, readyz, metrics, stats
 *   admission.c   room in the table reserved for a POST about to create jobs
 *   dashboard.c   the built-in page (dashboard.h; its files: worker/dashboard/, embedded at build time)
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_REST_H
#define IPD_WORKER_REST_H

#include "worker/core/core.h"
#include "worker/http/http.h"

/** Images accepted in one POST (a request-parsing limit with no directive of its own). */
#define IPD_WORKER_MAX_IMAGES 100
/**
 * Retry-After (seconds) of a 503 for a POST or DELETE that Kubernetes refused without saying when
 * to come back (unreachable, or an error answer without Retry-After).
 */
#define IPD_KUBE_UNAVAILABLE_RETRY_AFTER_S 5
/** Labels accepted in one node_selector. */
#define IPD_WORKER_MAX_SELECTOR_TERMS 32

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
