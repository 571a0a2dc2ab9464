/*
 * When the master publishes its model (ipd_model_flush) while the Redis link catches up with
 * the Stream: the one policy of the daemon's loop (master/daemon.c) and of the ingestion
 * benchmark (tests/bench/bench_redis.c).
 *
 * Changes that only other nodes' records made are held back while the link is behind, for at
 * most `window_ms` after the first of them (redis_catchup_publish,
 * ipd_redis_link_publish_delay), so that a job a backlog changes many times is written once.
 * Held changes then go out IPD_PUBLISH_PART jobs per turn of the loop, the link reading nothing
 * meanwhile (ipd_redis_link_pause): one turn stays short however many jobs the window gathered,
 * and no new record makes the held jobs dirty again before they are written. Any other change
 * (this node's objects, a request, the clock) is published whole, in the turn it was made.
 */
#ifndef IPD_MASTER_PUBLISH_H
#define IPD_MASTER_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "master/model.h"
#include "master/redis_link.h"

/** Jobs one turn publishes at most of the changes other nodes' records made. */
#define IPD_PUBLISH_PART 1024

typedef enum ipd_publish_state {
    IPD_PUBLISH_DONE,     /**< nothing waits */
    IPD_PUBLISH_HELD,     /**< held back: call again within `again_ms` */
    IPD_PUBLISH_PART_LEFT /**< published a part, more waits: call again at the next turn (again_ms 0) */
} ipd_publish_state_t;

/**
 * One turn: publishes what `m` has to publish now, at `now_ms` (monotonic, ipd_model_monotonic_ms)
 * and wall-clock `now` (Unix ms), pausing or resuming `l` (NULL: no link). `*written` gets the
 * jobs written, `*again_ms` when to call again (IPD_PUBLISH_DONE: -1).
 */
ipd_publish_state_t ipd_publish_turn(ipd_model_t *m, ipd_redis_link_t *l, uint64_t window_ms, int64_t now_ms,
                                     int64_t now, size_t *written, int64_t *again_ms);

#endif
