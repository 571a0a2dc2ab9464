/*
 * The top of worker/: what server.c calls of router.c. Nothing outside worker/ includes this.
 *
 *   server.c      ipd_worker_main: set-up, the loop, signals, parent pipe, drain, tear-down
 *   router.c      the single h2o handler: the route table, rate cap, auth, method; the stats logger
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_ROUTER_H
#define IPD_WORKER_ROUTER_H

#include <h2o.h>

#include "worker/core/core.h"

/**
 * Registers the handler and the stats logger on the configuration, and sets the worker's
 * route labels for the metrics (w->route_metrics, w->nroutes) from the route table.
 */
void ipd_worker_router_register(ipd_worker_t *w, h2o_hostconf_t *host);

#endif
