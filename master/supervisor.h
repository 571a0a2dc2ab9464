/*
 * Worker processes: fork, respawn with backoff, reload by generations, graceful and fast stop.
 *
 * Slot i always serves listener slot i. A worker that dies unexpectedly is respawned on its slot
 * after a delay that doubles while it keeps dying young (respawn_backoff_initial .. _max), so a
 * crash loop cannot spin. A reload starts a new generation of workers on the same sockets next to
 * the serving one. Only once every new worker serves is the reload committed: the old generation
 * is asked to drain (SIGTERM) and what is left is killed after reload_drain_timeout. A new worker
 * that dies before it serves fails the reload; aborting it kills the new generation and the old
 * one goes on serving as if no reload had been asked.
 *
 * Each worker counts in a stats block the supervisor assigns (its slot's block unless a worker
 * of another generation still holds that one). When a worker is reaped, whatever the cause, the
 * gauges of its block are cleared: the connections and streams it counted died with it.
 *
 * Each worker gets its own eventfd, which the master writes when the ring head moves, and the
 * read end of a pipe whose write end only the master holds: EOF there means the master is gone
 * (as does PR_SET_PDEATHSIG, which the child also sets).
 */
#ifndef IPD_MASTER_SUPERVISOR_H
#define IPD_MASTER_SUPERVISOR_H

#include "proto/error.h"
#include <stddef.h>
#include <sys/types.h>

#include "master/listeners.h"
#include "master/loop.h"
#include "shared/config.h"
#include "shared/stats_segment.h"
#include "shared/worker_args.h"

typedef struct ipd_supervisor ipd_supervisor_t;

/** Where a reload stands (ipd_supervisor_reload_state). */
typedef enum ipd_reload_state {
    IPD_RELOAD_NONE = 0, /**< no reload pending */
    IPD_RELOAD_PENDING,  /**< new workers started, not all of them serve yet */
    IPD_RELOAD_SERVING,  /**< every new worker serves: commit */
    IPD_RELOAD_FAILED,   /**< a new worker died or could not be forked: abort */
} ipd_reload_state_t;

/**
 * Creates a supervisor for `cfg->workers` slots on `listeners` (borrowed; the caller keeps it
 * and reconciles it before ipd_supervisor_reload). `stats` (borrowed, may be NULL) is the stats
 * segment whose blocks workers count in; without it workers count privately and a new worker
 * counts as serving once forked. `cfg` is copied. Returns 0 and an owned supervisor
 * (ipd_supervisor_destroy), or a negative code.
 */
IPD_MUST_USE int ipd_supervisor_create(ipd_mloop_t *loop, const ipd_config_t *cfg, const ipd_listeners_t *listeners,
                                       ipd_stats_segment_t *stats, ipd_worker_main_fn worker_main,
                                       ipd_supervisor_t **out);

/**
 * `fn(data)` runs in every forked child before the worker's main, e.g. to unmap what only the
 * master may write. `data` is borrowed.
 */
void ipd_supervisor_set_child_setup(ipd_supervisor_t *sup, void (*fn)(void *data), void *data);

/** Forks one worker per slot. Returns 0 or -errno from fork/eventfd/pipe. */
IPD_MUST_USE int ipd_supervisor_start(ipd_supervisor_t *sup);

/** Reaps exited children (call on SIGCHLD) and schedules respawns. Returns how many were reaped. */
int ipd_supervisor_reap(ipd_supervisor_t *sup);

/** Wakes every current worker: the ring head moved. Cheap; call once per table flush. */
void ipd_supervisor_notify_ring(ipd_supervisor_t *sup);

/**
 * Starts a new generation with `cfg` (copied) on the (already reconciled) listeners, next to
 * the serving one. Follow it with ipd_supervisor_reload_state until it is SERVING (then
 * ipd_supervisor_reload_commit) or FAILED (then ipd_supervisor_reload_abort). Returns 0, or
 * -EBUSY while another reload is pending or a stop was asked.
 */
IPD_MUST_USE int ipd_supervisor_reload(ipd_supervisor_t *sup, const ipd_config_t *cfg);

/** Where the pending reload stands. Cheap; call after every loop iteration. */
ipd_reload_state_t ipd_supervisor_reload_state(const ipd_supervisor_t *sup);

/** The new generation serves from now on: SIGTERM to the old one and the drain deadline armed. */
void ipd_supervisor_reload_commit(ipd_supervisor_t *sup);

/** Kills the new generation; the serving one stays, with its configuration. */
void ipd_supervisor_reload_abort(ipd_supervisor_t *sup);

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
