/*
 * Worker processes: fork, respawn with backoff, reload by generations, graceful and fast stop.
 *
 * Slot i always serves listener slot i. A worker that dies unexpectedly is respawned on its slot
 * after a delay that doubles while it keeps dying young (respawn_backoff_initial .. _max), so a
 * crash loop cannot spin. A reload starts a new generation of workers on the same sockets, then
 * asks the old generation to drain (SIGTERM) and kills what is left after reload_drain_timeout.
 *
 * Each worker gets its own eventfd, which the master writes when the ring head moves, and the
 * read end of a pipe whose write end only the master holds: EOF there means the master is gone
 * (as does PR_SET_PDEATHSIG, which the child also sets).
 */
#ifndef IPD_MASTER_SUPERVISOR_H
#define IPD_MASTER_SUPERVISOR_H

#include <stddef.h>
#include <sys/types.h>

#include "master/listeners.h"
#include "master/loop.h"
#include "shared/config.h"
#include "shared/worker_args.h"

typedef struct ipd_supervisor ipd_supervisor_t;

/**
 * Creates a supervisor for `cfg->workers` slots on `listeners` (borrowed; the caller keeps it
 * and reconciles it before ipd_supervisor_reload). `cfg` is copied. Returns 0 and an owned
 * supervisor (ipd_supervisor_destroy), or a negative code.
 */
int ipd_supervisor_create(ipd_mloop_t *loop, const ipd_config_t *cfg, const ipd_listeners_t *listeners,
                          ipd_worker_main_fn worker_main, ipd_supervisor_t **out);

/** Forks one worker per slot. Returns 0 or -errno from fork/eventfd/pipe. */
int ipd_supervisor_start(ipd_supervisor_t *sup);

/** Reaps exited children (call on SIGCHLD) and schedules respawns. Returns how many were reaped. */
int ipd_supervisor_reap(ipd_supervisor_t *sup);

/** Wakes every current worker: the ring head moved. Cheap; call once per table flush. */
void ipd_supervisor_notify_ring(ipd_supervisor_t *sup);

/**
 * Starts a new generation with `cfg` (copied) on the (already reconciled) listeners, then
 * sends SIGTERM to the old generation and arms the drain deadline. Returns 0 or -errno.
 */
int ipd_supervisor_reload(ipd_supervisor_t *sup, const ipd_config_t *cfg);

/**
 * Stops every worker: `fast` sends SIGQUIT (exit now), else SIGTERM (drain); no respawn
 * afterwards; stragglers get SIGKILL after reload_drain_timeout.
 */
void ipd_supervisor_stop(ipd_supervisor_t *sup, int fast);

/** Number of live worker processes, old generations included. */
size_t ipd_supervisor_alive(const ipd_supervisor_t *sup);

/** True when every slot of the current generation has a live worker. */
int ipd_supervisor_healthy(const ipd_supervisor_t *sup);

/** Total respawns since start. */
unsigned long ipd_supervisor_respawns(const ipd_supervisor_t *sup);

/** The pid serving `slot` in the current generation, or 0 while it is being respawned. */
pid_t ipd_supervisor_pid(const ipd_supervisor_t *sup, int slot);

/** Kills (SIGKILL) and reaps every worker, then frees the supervisor. */
void ipd_supervisor_destroy(ipd_supervisor_t *sup);

#endif
