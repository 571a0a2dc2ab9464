/*
 * What the master hands a forked worker. Shared by master/ (which forks) and worker/ (which
 * serves), so that neither includes the other's headers.
 */
#ifndef IPD_SHARED_WORKER_ARGS_H
#define IPD_SHARED_WORKER_ARGS_H

#include <stddef.h>

#include "shared/config.h"

/** The largest number of worker processes (the bound of the `workers` directive). */
#define IPD_MAX_WORKERS 256

/** Everything is borrowed and valid for the worker's whole life (it is the forked copy). */
typedef struct ipd_worker_args {
    const ipd_config_t *cfg; /**< the configuration of the worker's generation */
    int slot;                /**< 0 .. workers-1: which stats block and listeners are this worker's */
    unsigned generation;     /**< 1 at start, +1 per reload */
    int stats_block;         /**< the stats segment block to count in (claimed once serving), -1 for none */
    const int *listen_fds;   /**< nlisten listening sockets of this slot (non-blocking, SO_REUSEPORT) */
    size_t nlisten;
    int ring_fd;   /**< eventfd: readable when the table's ring head moved; read it to re-arm */
    int parent_fd; /**< read end of a pipe only the master writes: EOF means the master is gone */
} ipd_worker_args_t;

/**
 * A worker's main. Runs in the child after fork; its return value becomes the exit status.
 * SIGTERM asks it to drain (stop accepting, finish what is in flight, close WebSockets with
 * 1001, exit 0); SIGQUIT asks it to exit at once.
 */
typedef int (*ipd_worker_main_fn)(const ipd_worker_args_t *args);

/**
 * Loads the files a worker would load for `cfg` (tokens, TLS certificate and key) the way a
 * worker does, and discards them. Returns 0, or a negative code with `err` naming the directive,
 * the file and what is wrong with it.
 */
typedef int (*ipd_worker_check_fn)(const ipd_config_t *cfg, char *err, size_t errlen);

#endif
