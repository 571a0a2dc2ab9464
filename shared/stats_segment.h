/*
 * The per-worker stats segment: a second shm object per instance (shared/shm.h names it),
 * created by the master and mapped read-write by every worker (unlike the job table, which
 * workers map read-only). It holds one block per worker slot; worker i updates only block i,
 * with relaxed atomic adds, so counting costs no lock and no cache line is shared between
 * workers. /metrics and SIGUSR1 read every block and sum them (ipd_stats_aggregate()).
 *
 * Layout: a 64-byte header (magic, version, block size, block count, counters in use, route
 * slots), then the master's block, then `blocks` worker blocks, all of one block size, each
 * starting on a cache line. The block size follows from the route slots the segment was
 * created with (ipd_stats_block_size()): the worker's route table decides them, so a new route
 * changes the size, never the layout. The master's block holds the figures only the master knows
 * (readiness, watch and model counters, ipd_mstats_counter_t), which workers serve. A block has
 * room for IPD_STATS_SLOTS counters of which IPD_STATS_COUNT are defined; new counters take
 * reserved slots and bump IPD_STATS_VERSION. docs/shm-layout.md has the details.
 *
 * Counters are monotonic (never reset, also across a worker respawn in the same slot) except
 * the gauges (ipd_stats_is_gauge()), which hold signed values in two's complement and which
 * the master clears with ipd_stats_reset_gauges() when the slot's worker died.
 */
#ifndef IPD_SHARED_STATS_SEGMENT_H
#define IPD_SHARED_STATS_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/job.h"

#define IPD_STATS_VERSION 7u
/** Counter slots in a block, after its 64-byte head. */
#define IPD_STATS_SLOTS 56u
/** Bytes of a block before its route slots: the head and the counters. */
#define IPD_STATS_BLOCK_HEAD 512u
/**
 * Most request counters by route and status a block may hold (after the counters: slot
 * route * kinds + kind, in the worker's classification, worker/router.c); this layer only
 * sums them. A segment holds as many as ipd_stats_create() was asked for.
 */
#define IPD_STATS_ROUTE_SLOTS_MAX 1024u
/** Most worker blocks a segment may hold. */
#define IPD_STATS_MAX_BLOCKS 1024u

/** Upper bounds of the request latency histogram buckets, in microseconds; the last bucket is +Inf. */
#define IPD_STATS_LATENCY_BOUNDS_US                                                                                    \
    {                                                                                                                  \
        250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000                                       \
    }
#define IPD_STATS_LATENCY_BUCKETS 12

/** The counters of a block, by index. */
typedef enum ipd_stats_counter {
    IPD_STATS_REQUESTS = 0,  /**< HTTP requests answered */
    IPD_STATS_BYTES_IN,      /**< request bytes read (headers and bodies) */
    IPD_STATS_BYTES_OUT,     /**< response bytes written */
    IPD_STATS_STATUS_1XX,    /**< responses with a 1xx status (101 for WebSocket upgrades) */
    IPD_STATS_STATUS_2XX,    /**< responses with a 2xx status */
    IPD_STATS_STATUS_3XX,    /**< responses with a 3xx status (304 for a matching ETag) */
    IPD_STATS_STATUS_4XX,    /**< responses with a 4xx status */
    IPD_STATS_STATUS_5XX,    /**< responses with a 5xx status */
    IPD_STATS_LATENCY_FIRST, /**< first of IPD_STATS_LATENCY_BUCKETS non-cumulative histogram buckets */
    IPD_STATS_LATENCY_SUM_US = IPD_STATS_LATENCY_FIRST + IPD_STATS_LATENCY_BUCKETS, /**< sum of latencies, µs */
    IPD_STATS_WS_OPEN,          /**< gauge: WebSocket connections open now */
    IPD_STATS_WS_OPENED,        /**< WebSocket connections accepted */
    IPD_STATS_WS_MESSAGES_OUT,  /**< WebSocket messages sent */
    IPD_STATS_WS_MESSAGES_IN,   /**< WebSocket messages received */
    IPD_STATS_WS_COALESCED,     /**< job updates folded into a later one for a slow client */
    IPD_STATS_LOG_STREAMS,      /**< gauge: pod-log streams open now */
    IPD_STATS_LOG_BYTES,        /**< pod-log bytes relayed */
    IPD_STATS_RING_OVERRUNS,    /**< times this worker fell behind the event ring and resynced */
    IPD_STATS_RATE_LIMITED,     /**< requests or connections refused by a rate limit */
    IPD_STATS_CONNECTIONS,      /**< gauge: client connections open now */
    IPD_STATS_LOG_ERRORS,       /**< pod-log streams ended by an error message or a dropped slow client */
    IPD_STATS_WS_BYTES_OUT,     /**< WebSocket job-watch bytes written (frames, headers included) */
    IPD_STATS_WS_SUBSCRIPTIONS, /**< gauge: job subscriptions held (a subscribe_all counts one) */
    IPD_STATS_WS_RESYNCS,       /**< resync messages sent (stale resume point or worker overrun) */
    IPD_STATS_WS_SLOW_CLOSES,   /**< WebSockets closed for not taking data within ws_write_timeout */
    IPD_STATS_WS_REFUSED,       /**< WebSocket upgrades answered 503 over ws_max_connections */
    IPD_STATS_RESERVED_JOBS,    /**< gauge: job slots this worker holds for POSTs the table does not show yet */
    IPD_STATS_RESERVED_TASKS,   /**< gauge: task slots held the same way (worker/rest/admission.c) */
    IPD_STATS_KUBE_RETRIES_429, /**< Kubernetes requests sent again after a 429 with Retry-After */
    IPD_STATS_KUBE_RETRIES_503, /**< ... after a 503 with Retry-After */
    IPD_STATS_COUNT             /**< number of defined counters (<= IPD_STATS_SLOTS) */
} ipd_stats_counter_t;

_Static_assert(IPD_STATS_COUNT <= IPD_STATS_SLOTS, "counters fit in a block");

/** The counters of the master's block, by index. Gauges are marked; the rest are monotonic. */
typedef enum ipd_mstats_counter {
    IPD_MSTATS_READY = 0,            /**< gauge: 1 once every collection is listed into the table */
    IPD_MSTATS_WATCH_HEALTHY,        /**< gauge: 1 while every watch hears from the apiserver */
    IPD_MSTATS_WORKERS_ALIVE,        /**< gauge: live worker processes */
    IPD_MSTATS_RESPAWNS,             /**< workers respawned after dying */
    IPD_MSTATS_WATCH_LISTS,          /**< complete lists */
    IPD_MSTATS_WATCH_RELISTS,        /**< lists forced by 410 Gone */
    IPD_MSTATS_WATCH_STARTS,         /**< watch requests started */
    IPD_MSTATS_WATCH_RESTARTS,       /**< watches restarted after an error or silence */
    IPD_MSTATS_WATCH_IDLE_RESTARTS,  /**< of which for silence */
    IPD_MSTATS_WATCH_ERRORS,         /**< failed list/watch requests */
    IPD_MSTATS_WATCH_EVENTS,         /**< watch events applied */
    IPD_MSTATS_WATCH_BOOKMARKS,      /**< bookmarks received */
    IPD_MSTATS_MODEL_OBJECTS,        /**< Kubernetes objects applied to the model */
    IPD_MSTATS_MODEL_PUBLISHED,      /**< job records written to the table */
    IPD_MSTATS_MODEL_PUBLISH_ERRORS, /**< table writes refused (e.g. table full) */
    IPD_MSTATS_MODEL_JOBS,           /**< gauge: jobs the master follows */
    IPD_MSTATS_MODEL_PODS,           /**< gauge: pods the master follows */
    IPD_MSTATS_KUBE_ACTIONS,         /**< requests the master sent (resume, stop, restart) */
    IPD_MSTATS_KUBE_ACTION_ERRORS,   /**< of which failed */
    IPD_MSTATS_RELOADS,              /**< configuration reloads applied */
    IPD_MSTATS_STARTED_AT,           /**< gauge: Unix ms the master started */
    IPD_MSTATS_REDIS_STATE,          /**< gauge: Redis link, 0 not used, 1 down, 2 syncing, 3 up */
    IPD_MSTATS_REDIS_CONNECTS,       /**< Redis connections established */
    IPD_MSTATS_REDIS_PUBLISHED,      /**< this node's task records written to Redis */
    IPD_MSTATS_REDIS_APPLIED,        /**< other nodes' records applied */
    IPD_MSTATS_REDIS_SKIPPED,        /**< records skipped: malformed or of a newer format */
    IPD_MSTATS_REDIS_RESYNCS,        /**< resyncs from the per-node hashes */
    IPD_MSTATS_REDIS_NODES_LOST,     /**< gauge: nodes whose daemon's liveness key expired */
    IPD_MSTATS_KUBE_RETRIES_429,     /**< the master's Kubernetes requests sent again after a 429 */
    IPD_MSTATS_KUBE_RETRIES_503,     /**< ... after a 503 */
    IPD_MSTATS_FINAL_REFUSED,        /**< final states the table writer kept over a different one (table.h) */
    IPD_MSTATS_REDIS_CATCHUP_HOLDS,  /**< publications held back while the Redis link caught up */
    IPD_MSTATS_REDIS_STOOD_IN,       /**< task records written for nodes without a live daemon */
    /** Tasks that reached failed, by cause: slot IPD_MSTATS_TASK_FAILURES + (cause - IPD_CAUSE_AUTH)
     *  for each ipd_cause_t from IPD_CAUSE_AUTH to IPD_CAUSE_UNKNOWN (ipd_mstats_task_failures()). */
    IPD_MSTATS_TASK_FAILURES,
    IPD_MSTATS_COUNT = IPD_MSTATS_TASK_FAILURES + (IPD_CAUSE_COUNT - IPD_CAUSE_AUTH)
} ipd_mstats_counter_t;

/** The master's slot counting failed tasks of `cause` (IPD_CAUSE_AUTH..IPD_CAUSE_UNKNOWN). */
#define ipd_mstats_task_failures(cause) ((ipd_mstats_counter_t)(IPD_MSTATS_TASK_FAILURES + (cause)-IPD_CAUSE_AUTH))

_Static_assert(IPD_MSTATS_COUNT <= IPD_STATS_SLOTS, "master counters fit in a block");

/** One worker's block. Only that worker writes it (relaxed atomics); anyone may read it. */
typedef struct ipd_stats_block {
    /** pid of the worker currently owning the slot, 0 if none (set by ipd_stats_claim()) */
    _Atomic uint64_t pid;
    /** Unix ms at which the current owner claimed the slot */
    _Atomic uint64_t claimed_at;
    /** reserved, zero */
    uint64_t _reserved[6];
    /** the counters, indexed by ipd_stats_counter_t; slots from IPD_STATS_COUNT on are reserved */
    _Atomic uint64_t c[IPD_STATS_SLOTS];
    /** requests by route and status, as many as the segment's route slots (ipd_stats_route_slots()) */
    _Atomic uint64_t route[];
} ipd_stats_block_t;

_Static_assert(sizeof(ipd_stats_block_t) == IPD_STATS_BLOCK_HEAD, "the route slots start at byte 512");

/** Bytes of a block with `route_slots` route slots, rounded up to whole cache lines. */
static inline size_t ipd_stats_block_size(uint32_t route_slots)
{
    return (IPD_STATS_BLOCK_HEAD + (size_t)route_slots * sizeof(uint64_t) + 63) / 64 * 64;
}

/** Summed counters (ipd_stats_aggregate()). Gauges are to be read as int64_t. */
typedef struct ipd_stats_totals {
    uint64_t c[IPD_STATS_COUNT];               /**< indexed by ipd_stats_counter_t */
    uint64_t route[IPD_STATS_ROUTE_SLOTS_MAX]; /**< requests by route and status, summed; route_slots used */
    uint32_t route_slots;                      /**< the segment's route slots */
    uint32_t workers;                          /**< blocks with an owner (pid != 0) */
} ipd_stats_totals_t;

/** A mapping of the stats segment. Opaque. */
typedef struct ipd_stats_segment ipd_stats_segment_t;

/**
 * Master: creates (replacing this user's older ones) the instance's stats segment with `blocks`
 * zeroed blocks (1..IPD_STATS_MAX_BLOCKS) of `route_slots` route slots each
 * (0..IPD_STATS_ROUTE_SLOTS_MAX; the worker's route table says how many), mode 0600, or 0640
 * owned by `group` unless it is (gid_t)-1. `*out` is owned by the caller (ipd_stats_destroy()).
 * Returns 0, IPD_EINVAL or -errno.
 */
int ipd_stats_create(const char *instance, uint32_t blocks, uint32_t route_slots, gid_t group,
                     ipd_stats_segment_t **out);

/** The route slots of each block of `seg`. */
uint32_t ipd_stats_route_slots(const ipd_stats_segment_t *seg);

/** Worker: maps this user's newest stats segment of `instance` read-write after validating its header.
 *  `*out` is owned by the caller. Returns 0, IPD_EINVAL, IPD_ECORRUPT or -errno. */
int ipd_stats_attach(const char *instance, ipd_stats_segment_t **out);

/** Unmaps and frees `seg` (may be NULL). */
void ipd_stats_destroy(ipd_stats_segment_t *seg);

/** Removes this user's stats objects of `instance`. Returns 0, -ENOENT when there was none, IPD_EINVAL or -errno. */
int ipd_stats_unlink(const char *instance);

/** The master's block (borrowed, valid until ipd_stats_destroy()); NULL if `seg` is NULL.
 *  Only the master writes it, with relaxed stores, indexed by ipd_mstats_counter_t. */
ipd_stats_block_t *ipd_stats_master_block(ipd_stats_segment_t *seg);
const ipd_stats_block_t *ipd_stats_master_block_ro(const ipd_stats_segment_t *seg);

/** Metric-style name of a master counter ("watch_restarts_total", ...); never NULL. */
const char *ipd_stats_master_counter_name(ipd_mstats_counter_t which);

/** Number of worker blocks. */
uint32_t ipd_stats_blocks(const ipd_stats_segment_t *seg);

/** Block `i` (borrowed, valid until ipd_stats_destroy()), or NULL if out of range. */
ipd_stats_block_t *ipd_stats_block(ipd_stats_segment_t *seg, uint32_t i);

/** Worker: records that `pid` now owns block `i` (keeps the monotonic counters). Returns 0 or IPD_EINVAL. */
int ipd_stats_claim(ipd_stats_segment_t *seg, uint32_t i, pid_t pid);

/** Master: after block `i`'s worker died, clears its gauges and owner; counters stay. */
void ipd_stats_reset_gauges(ipd_stats_segment_t *seg, uint32_t i);

/** Adds `n` to counter `which` of `b` (relaxed; only the block's owner calls this). */
static inline void ipd_stats_add(ipd_stats_block_t *b, ipd_stats_counter_t which, uint64_t n)
{
    atomic_fetch_add_explicit(&b->c[which], n, memory_order_relaxed);
}

/** Counts one request in route slot `slot` (< the segment's ipd_stats_route_slots()) of `b`. */
static inline void ipd_stats_route_add(ipd_stats_block_t *b, unsigned slot)
{
    atomic_fetch_add_explicit(&b->route[slot], 1, memory_order_relaxed);
}

/** Adds a signed delta to a gauge of `b` (two's complement). */
static inline void ipd_stats_gauge(ipd_stats_block_t *b, ipd_stats_counter_t which, int64_t delta)
{
    atomic_fetch_add_explicit(&b->c[which], (uint64_t)delta, memory_order_relaxed);
}

/** Counts one answered request: status class, latency bucket and sum, bytes. */
void ipd_stats_request(ipd_stats_block_t *b, int status, uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out);

/** Index of the latency bucket (0..IPD_STATS_LATENCY_BUCKETS-1) for `latency_us`. */
unsigned ipd_stats_latency_bucket(uint64_t latency_us);

/** Upper bound of latency bucket `i` in µs; UINT64_MAX for the last (+Inf) one. */
uint64_t ipd_stats_latency_bound(unsigned i);

/** True for counters that are gauges (signed, reset when their worker dies). */
int ipd_stats_is_gauge(ipd_stats_counter_t which);

/** Metric-style name of a counter ("requests_total", ...); never NULL. */
const char *ipd_stats_counter_name(ipd_stats_counter_t which);

/** Sums every block into `out` (caller's). Each counter is read once with a relaxed load, so a
 *  sum is as of some moment during the call, per counter. */
void ipd_stats_aggregate(const ipd_stats_segment_t *seg, ipd_stats_totals_t *out);

#endif
