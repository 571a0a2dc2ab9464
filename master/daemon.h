/*
 * The master process from start to stop: table, listeners, Kubernetes watch, job model,
 * workers, signals and systemd notifications, all on one epoll loop.
 */
#ifndef IPD_MASTER_DAEMON_H
#define IPD_MASTER_DAEMON_H

#include "shared/config.h"
#include "shared/worker_args.h"

/**
 * Runs the daemon with the finalized configuration `cfg` (borrowed; copied) until it is told
 * to stop. `worker_main` is run in each forked worker; NULL runs no workers (the master alone
 * keeps the table current, which tests of the watch use).
 *
 * Binds every listener before forking, so a bind error is reported here; sends READY=1 only
 * once every collection has been listed into the table; SIGHUP reloads (RELOADING=1, new
 * workers, old workers drain), SIGUSR1 writes the stats line, SIGTERM/SIGINT stop gracefully,
 * SIGQUIT at once. Returns 0 after a requested stop, or a negative code after logging why the
 * daemon could not start.
 */
int ipd_daemon_run(const ipd_config_t *cfg, ipd_worker_main_fn worker_main);

#endif
