/*
 * The worker process: one h2o event loop serving the REST API (shared/API.md, docs/api.md)
 * from a read-only mapping of the job table.
 *
 * The master forks the worker and calls ipd_worker_main() in the child. Everything the worker
 * needs comes from the arguments: the configuration, its listening sockets (listen_fds[i] was
 * opened for cfg->listen[i]), the ring eventfd and the parent pipe. The worker then:
 *   - builds its h2o configuration, context and loop (after fork: nothing h2o is inherited);
 *   - attaches the instance's table read-only (retrying while it does not exist yet) and its
 *     stats segment read-write (its block `slot`), both found as shared/shm.h says, falling
 *     back to private counters when there is no stats segment;
 *   - creates its own Kubernetes client for POST and DELETE, driven by the same loop;
 *   - serves HTTP/1.1, cleartext HTTP/2 (prior knowledge and Upgrade: h2c) and, with tls_cert
 *     and tls_key, TLS with ALPN h2.
 *
 * Signals: SIGTERM and SIGINT drain (stop accepting, let open connections finish, exit 0 when
 * none is left or after reload_drain_timeout); SIGQUIT exits at once. SIGHUP, SIGUSR1 and
 * SIGPIPE are ignored (the master owns them). EOF on the parent pipe exits at once.
 */
#ifndef IPD_WORKER_WORKER_H
#define IPD_WORKER_WORKER_H

#include <stdint.h>

#include "shared/worker_args.h"

/**
 * Runs a worker until it is told to stop. `args` is borrowed for the whole call. Returns the
 * process exit status: 0 after a drain or a fast stop, 1 when the worker could not start
 * (the log says why).
 */
int ipd_worker_main(const ipd_worker_args_t *args);

/** The worker's ipd_worker_check_fn: loads tokens_file, tls_cert and tls_key as a worker would. */
int ipd_worker_check_config(const ipd_config_t *cfg, char *err, size_t errlen);

/** Request counters by route and status each stats block needs: the master creates the stats
 *  segment with this many route slots (ipd_stats_create()). Follows the route table. */
uint32_t ipd_worker_stats_route_slots(void);

#endif
