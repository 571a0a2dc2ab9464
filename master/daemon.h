/*
 * The master process from start to stop: table, listeners, Kubernetes watch, job model,
 * workers, signals and systemd notifications, all on one epoll loop.
 */
#ifndef IPD_MASTER_DAEMON_H
#define IPD_MASTER_DAEMON_H

#include <stdint.h>

#include "shared/config.h"
#include "shared/worker_args.h"

/**
 * Runs the daemon with the finalized configuration `cfg` (borrowed; copied) until it is told
 * to stop. `worker_main` is run in each forked worker; NULL runs no workers (the master alone
 * keeps the table current, which tests of the watch use). `worker_check` (may be NULL) loads the
 * files a worker will load before a reload starts any worker: a reload into a file a worker
 * cannot load is rejected and the running workers stay. `stats_route_slots` is how many request
 * counters by route and status each stats block holds (the workers' route table decides it).
 *
 * Binds every listener before forking, so a bind error is reported here; sends READY=1 only
 * once every collection has been listed into the table; SIGHUP reloads (RELOADING=1, new
 * workers, the old ones drain once every new one serves; if one dies first, the new ones are
 * killed, the old configuration stays and READY=1 comes with a STATUS= saying so); SIGUSR1
 * writes the stats line; SIGTERM/SIGINT stop gracefully, SIGQUIT at once. Returns 0 after a
 * requested stop, or a negative code after logging why the daemon could not start.
 */
int ipd_daemon_run(const ipd_config_t *cfg, ipd_worker_main_fn worker_main, ipd_worker_check_fn worker_check,
                   uint32_t stats_route_slots);

#endif
