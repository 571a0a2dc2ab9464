#include "shared/stats_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"
#include "shared/shm.h"
#include "shared/table.h"

#define STATS_MAGIC UINT64_C(0x7374617473647069) /* "ipdstats" in little-endian byte order */

typedef struct stats_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint32_t block_size;
    uint32_t blocks;
    uint32_t counters;
    uint32_t route_slots;
    uint32_t _reserved[8];
} stats_header_t;

_Static_assert(sizeof(stats_header_t) == 64, "the stats header is one cache line");

struct ipd_stats_segment {
    stats_header_t *hdr;
    ipd_stats_block_t *master;
    uint8_t *blocks; /* the first worker block; block i starts block_size * i bytes on */
    size_t block_size;
    size_t size;
};

static const uint64_t latency_bounds[IPD_STATS_LATENCY_BUCKETS - 1] = IPD_STATS_LATENCY_BOUNDS_US;

static const char *const counter_names[IPD_STATS_COUNT] = {
    [IPD_STATS_REQUESTS] = "requests_total",
    [IPD_STATS_BYTES_IN] = "request_bytes_total",
    [IPD_STATS_BYTES_OUT] = "response_bytes_total",
    [IPD_STATS_STATUS_1XX] = "responses_1xx_total",
    [IPD_STATS_STATUS_2XX] = "responses_2xx_total",
    [IPD_STATS_STATUS_3XX] = "responses_3xx_total",
    [IPD_STATS_STATUS_4XX] = "responses_4xx_total",
    [IPD_STATS_STATUS_5XX] = "responses_5xx_total",
    [IPD_STATS_LATENCY_SUM_US] = "request_latency_us_sum",
    [IPD_STATS_WS_OPEN] = "ws_connections",
    [IPD_STATS_WS_OPENED] = "ws_connections_total",
    [IPD_STATS_WS_MESSAGES_OUT] = "ws_messages_out_total",
    [IPD_STATS_WS_MESSAGES_IN] = "ws_messages_in_total",
    [IPD_STATS_WS_COALESCED] = "ws_updates_coalesced_total",
    [IPD_STATS_LOG_STREAMS] = "log_streams",
    [IPD_STATS_LOG_BYTES] = "log_bytes_total",
    [IPD_STATS_RING_OVERRUNS] = "ring_overruns_total",
    [IPD_STATS_RATE_LIMITED] = "rate_limited_total",
    [IPD_STATS_CONNECTIONS] = "connections",
    [IPD_STATS_LOG_ERRORS] = "log_errors_total",
    [IPD_STATS_WS_BYTES_OUT] = "ws_bytes_out_total",
    [IPD_STATS_WS_SUBSCRIPTIONS] = "ws_subscriptions",
    [IPD_STATS_WS_RESYNCS] = "ws_resyncs_total",
    [IPD_STATS_WS_SLOW_CLOSES] = "ws_slow_closes_total",
    [IPD_STATS_WS_REFUSED] = "ws_refused_total",
    [IPD_STATS_RESERVED_JOBS] = "reserved_jobs",
    [IPD_STATS_RESERVED_TASKS] = "reserved_tasks",
    [IPD_STATS_KUBE_RETRIES_429] = "kube_retries_429_total",
    [IPD_STATS_KUBE_RETRIES_503] = "kube_retries_503_total",
};

static const char *const master_names[IPD_MSTATS_COUNT] = {
    [IPD_MSTATS_READY] = "ready",
    [IPD_MSTATS_WATCH_HEALTHY] = "watch_healthy",
    [IPD_MSTATS_WORKERS_ALIVE] = "workers",
    [IPD_MSTATS_RESPAWNS] = "worker_respawns_total",
    [IPD_MSTATS_WATCH_LISTS] = "watch_lists_total",
    [IPD_MSTATS_WATCH_RELISTS] = "watch_relists_gone_total",
    [IPD_MSTATS_WATCH_STARTS] = "watch_starts_total",
    [IPD_MSTATS_WATCH_RESTARTS] = "watch_restarts_total",
    [IPD_MSTATS_WATCH_IDLE_RESTARTS] = "watch_idle_restarts_total",
    [IPD_MSTATS_WATCH_ERRORS] = "watch_errors_total",
    [IPD_MSTATS_WATCH_EVENTS] = "watch_events_total",
    [IPD_MSTATS_WATCH_BOOKMARKS] = "watch_bookmarks_total",
    [IPD_MSTATS_MODEL_OBJECTS] = "model_objects_total",
    [IPD_MSTATS_MODEL_PUBLISHED] = "model_published_total",
    [IPD_MSTATS_MODEL_PUBLISH_ERRORS] = "model_publish_errors_total",
    [IPD_MSTATS_MODEL_JOBS] = "model_jobs",
    [IPD_MSTATS_MODEL_PODS] = "model_pods",
    [IPD_MSTATS_KUBE_ACTIONS] = "kube_actions_total",
    [IPD_MSTATS_KUBE_ACTION_ERRORS] = "kube_action_errors_total",
    [IPD_MSTATS_RELOADS] = "reloads_total",
    [IPD_MSTATS_STARTED_AT] = "started_at_ms",
    [IPD_MSTATS_REDIS_STATE] = "redis_link_state",
    [IPD_MSTATS_REDIS_CONNECTS] = "redis_connects_total",
    [IPD_MSTATS_REDIS_PUBLISHED] = "redis_published_total",
    [IPD_MSTATS_REDIS_APPLIED] = "redis_records_applied_total",
    [IPD_MSTATS_REDIS_SKIPPED] = "redis_records_skipped_total",
    [IPD_MSTATS_REDIS_RESYNCS] = "redis_resyncs_total",
    [IPD_MSTATS_REDIS_NODES_LOST] = "redis_nodes_lost",
    [IPD_MSTATS_KUBE_RETRIES_429] = "kube_retries_429_total",
    [IPD_MSTATS_KUBE_RETRIES_503] = "kube_retries_503_total",
    [IPD_MSTATS_FINAL_REFUSED] = "final_overwrites_refused_total",
    [IPD_MSTATS_REDIS_CATCHUP_HOLDS] = "redis_catchup_holds_total",
    [IPD_MSTATS_REDIS_STOOD_IN] = "redis_standin_records_total",
    /* The task failure slots are named by their cause (ipd_stats_master_counter_name()). */
};

/* The header, then the master's block, then one block per worker slot. */
static size_t segment_size(uint32_t blocks, uint32_t route_slots)
{
    return sizeof(stats_header_t) + ((size_t)blocks + 1) * ipd_stats_block_size(route_slots);
}

/* Takes the mapping `m` into a new handle. */
static int wrap(ipd_shm_t *m, ipd_stats_segment_t **out)
{
    ipd_stats_segment_t *seg = calloc(1, sizeof(*seg));
    if (seg == NULL) {
        ipd_shm_unmap(m);
        return -ENOMEM;
    }
    seg->hdr = m->base;
    seg->block_size = ipd_stats_block_size(seg->hdr->route_slots);
    seg->master = (ipd_stats_block_t *)((uint8_t *)m->base + sizeof(stats_header_t));
    seg->blocks = (uint8_t *)seg->master + seg->block_size;
    seg->size = m->size;
    *out = seg;
    return 0;
}

int ipd_stats_create(const char *instance, uint32_t blocks, uint32_t route_slots, gid_t group,
                     ipd_stats_segment_t **out)
{
    ipd_shm_t m;
    if (ipd_table_check_instance(instance) != 0 || blocks < 1 || blocks > IPD_STATS_MAX_BLOCKS ||
        route_slots > IPD_STATS_ROUTE_SLOTS_MAX)
        return IPD_EINVAL;
    /* Counters of an older master are not carried over: a new segment starts at zero. */
    int rc = ipd_shm_unlink_all(instance, IPD_SHM_STATS);
    if (rc < 0 || (rc = ipd_shm_create(instance, IPD_SHM_STATS, segment_size(blocks, route_slots), group, &m)) != 0)
        return rc;
    /* The header first: wrap() reads the route slots from it. */
    *(stats_header_t *)m.base = (stats_header_t){.magic = STATS_MAGIC,
                                                 .version = IPD_STATS_VERSION,
                                                 .header_size = sizeof(stats_header_t),
                                                 .block_size = (uint32_t)ipd_stats_block_size(route_slots),
                                                 .blocks = blocks,
                                                 .counters = IPD_STATS_COUNT,
                                                 .route_slots = route_slots};
    return wrap(&m, out);
}

uint32_t ipd_stats_route_slots(const ipd_stats_segment_t *seg)
{
    return seg->hdr->route_slots;
}

int ipd_stats_attach(const char *instance, ipd_stats_segment_t **out)
{
    char names[1][IPD_SHM_NAME_SIZE];
    ipd_shm_t m;
    int rc = ipd_shm_find(instance, IPD_SHM_STATS, names, 1);
    if (rc <= 0)
        return rc == 0 ? -ENOENT : rc;
    if ((rc = ipd_shm_open(names[0], 1, (gid_t)-2, sizeof(stats_header_t), &m)) != 0)
        return rc;
    const stats_header_t *h = m.base;
    if (h->magic != STATS_MAGIC || h->version != IPD_STATS_VERSION || h->header_size != sizeof(stats_header_t) ||
        h->route_slots > IPD_STATS_ROUTE_SLOTS_MAX || h->block_size != ipd_stats_block_size(h->route_slots) ||
        h->blocks < 1 || h->blocks > IPD_STATS_MAX_BLOCKS || segment_size(h->blocks, h->route_slots) != m.size) {
        ipd_error("stats", "%s failed validation", names[0]);
        ipd_shm_unmap(&m);
        return IPD_ECORRUPT;
    }
    return wrap(&m, out);
}

void ipd_stats_destroy(ipd_stats_segment_t *seg)
{
    if (seg == NULL)
        return;
    munmap(seg->hdr, seg->size);
    free(seg);
}

int ipd_stats_unlink(const char *instance)
{
    int rc = ipd_shm_unlink_all(instance, IPD_SHM_STATS);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

ipd_stats_block_t *ipd_stats_master_block(ipd_stats_segment_t *seg)
{
    return seg != NULL ? seg->master : NULL;
}

const ipd_stats_block_t *ipd_stats_master_block_ro(const ipd_stats_segment_t *seg)
{
    return seg != NULL ? seg->master : NULL;
}

const char *ipd_stats_master_counter_name(ipd_mstats_counter_t which)
{
    static const char *const failure_names[IPD_CAUSE_COUNT - IPD_CAUSE_AUTH] = {
        "task_failures_auth_total",
        "task_failures_not_found_total",
        "task_failures_network_total",
        "task_failures_tls_total",
        "task_failures_rate_limited_total",
        "task_failures_timeout_total",
        "task_failures_invalid_reference_total",
        "task_failures_node_unavailable_total",
        "task_failures_deadline_total",
        "task_failures_cancelled_total",
        "task_failures_unknown_total",
    };
    if ((unsigned)which >= IPD_MSTATS_TASK_FAILURES && (unsigned)which < IPD_MSTATS_COUNT)
        return failure_names[which - IPD_MSTATS_TASK_FAILURES];
    return (unsigned)which < IPD_MSTATS_COUNT && master_names[which] ? master_names[which] : "unknown";
}

uint32_t ipd_stats_blocks(const ipd_stats_segment_t *seg)
{
    return seg->hdr->blocks;
}

ipd_stats_block_t *ipd_stats_block(ipd_stats_segment_t *seg, uint32_t i)
{
    return i < seg->hdr->blocks ? (ipd_stats_block_t *)(seg->blocks + (size_t)i * seg->block_size) : NULL;
}

int ipd_stats_claim(ipd_stats_segment_t *seg, uint32_t i, pid_t pid)
{
    ipd_stats_block_t *b = ipd_stats_block(seg, i);
    struct timespec ts;
    if (b == NULL || pid <= 0)
        return IPD_EINVAL;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store_explicit(&b->claimed_at, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
                          memory_order_relaxed);
    atomic_store_explicit(&b->pid, (uint64_t)pid, memory_order_relaxed);
    return 0;
}

void ipd_stats_reset_gauges(ipd_stats_segment_t *seg, uint32_t i)
{
    ipd_stats_block_t *b = ipd_stats_block(seg, i);
    if (b == NULL)
        return;
    for (unsigned k = 0; k < IPD_STATS_COUNT; k++)
        if (ipd_stats_is_gauge((ipd_stats_counter_t)k))
            atomic_store_explicit(&b->c[k], 0, memory_order_relaxed);
    atomic_store_explicit(&b->pid, 0, memory_order_relaxed);
}

unsigned ipd_stats_latency_bucket(uint64_t latency_us)
{
    unsigned i = 0;
    while (i < IPD_STATS_LATENCY_BUCKETS - 1 && latency_us > latency_bounds[i])
        i++;
    return i;
}

uint64_t ipd_stats_latency_bound(unsigned i)
{
    return i < IPD_STATS_LATENCY_BUCKETS - 1 ? latency_bounds[i] : UINT64_MAX;
}

void ipd_stats_request(ipd_stats_block_t *b, int status, uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out)
{
    ipd_stats_add(b, IPD_STATS_REQUESTS, 1);
    if (status >= 100 && status < 600)
        ipd_stats_add(b, (ipd_stats_counter_t)(IPD_STATS_STATUS_1XX + status / 100 - 1), 1);
    ipd_stats_add(b, (ipd_stats_counter_t)(IPD_STATS_LATENCY_FIRST + ipd_stats_latency_bucket(latency_us)), 1);
    ipd_stats_add(b, IPD_STATS_LATENCY_SUM_US, latency_us);
    ipd_stats_add(b, IPD_STATS_BYTES_IN, bytes_in);
    ipd_stats_add(b, IPD_STATS_BYTES_OUT, bytes_out);
}

int ipd_stats_is_gauge(ipd_stats_counter_t which)
{
    return which == IPD_STATS_WS_OPEN || which == IPD_STATS_LOG_STREAMS || which == IPD_STATS_CONNECTIONS ||
           which == IPD_STATS_WS_SUBSCRIPTIONS || which == IPD_STATS_RESERVED_JOBS || which == IPD_STATS_RESERVED_TASKS;
}

const char *ipd_stats_counter_name(ipd_stats_counter_t which)
{
    static const char *const buckets[IPD_STATS_LATENCY_BUCKETS] = {
        "request_latency_le_250us", "request_latency_le_500us", "request_latency_le_1ms",  "request_latency_le_2500us",
        "request_latency_le_5ms",   "request_latency_le_10ms",  "request_latency_le_25ms", "request_latency_le_50ms",
        "request_latency_le_100ms", "request_latency_le_250ms", "request_latency_le_1s",   "request_latency_le_inf"};
    if (which >= IPD_STATS_LATENCY_FIRST && which < IPD_STATS_LATENCY_SUM_US)
        return buckets[which - IPD_STATS_LATENCY_FIRST];
    if ((unsigned)which < IPD_STATS_COUNT && counter_names[which] != NULL)
        return counter_names[which];
    return "unknown";
}

void ipd_stats_aggregate(const ipd_stats_segment_t *seg, ipd_stats_totals_t *out)
{
    memset(out, 0, sizeof(*out));
    out->route_slots = seg->hdr->route_slots;
    for (uint32_t i = 0; i < seg->hdr->blocks; i++) {
        const ipd_stats_block_t *b = (const ipd_stats_block_t *)(seg->blocks + (size_t)i * seg->block_size);
        if (atomic_load_explicit(&b->pid, memory_order_relaxed) != 0)
            out->workers++;
        for (unsigned k = 0; k < IPD_STATS_COUNT; k++)
            out->c[k] += atomic_load_explicit(&b->c[k], memory_order_relaxed);
        for (unsigned k = 0; k < out->route_slots; k++)
            out->route[k] += atomic_load_explicit(&b->route[k], memory_order_relaxed);
    }
}
