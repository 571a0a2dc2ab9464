#include "worker/rest/rest.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"
#include "shared/stats_report.h"

const char *ipd_worker_not_ready(ipd_worker_t *w)
{
    if (w->draining)
        return "this worker is draining";
    const char *why = ipd_worker_table_not_ready(w);
    const ipd_stats_block_t *m = ipd_stats_master_block_ro(w->stats_seg);
    if (why == NULL && m != NULL && atomic_load_explicit(&m->c[IPD_MSTATS_WATCH_HEALTHY], memory_order_relaxed) == 0)
        why = "the Kubernetes API server has not been heard from lately; the jobs shown may be stale";
    return why;
}

const char *ipd_worker_table_not_ready(ipd_worker_t *w)
{
    ipd_table_t *t = ipd_worker_table(w);
    if (t == NULL)
        return "the job table is not attached";
    const ipd_stats_block_t *m = ipd_stats_master_block_ro(w->stats_seg);
    if (m != NULL)
        return atomic_load_explicit(&m->c[IPD_MSTATS_READY], memory_order_relaxed) != 0
                   ? NULL
                   : "the master has not listed every collection from Kubernetes yet";
    return ipd_table_generation(t) != 0 ? NULL : "the job table holds no list from Kubernetes yet";
}

void ipd_worker_get_healthz(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    static const char ok[] = "{\"status\":\"ok\"}";
    (void)w;
    ipd_worker_send_json(req, 200, ok, sizeof(ok) - 1);
}

void ipd_worker_get_readyz(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    static const char ready[] = "{\"status\":\"ready\"}";
    const char *why = ipd_worker_not_ready(w);
    if (why != NULL)
        ipd_worker_send_error(req, 503, why);
    else
        ipd_worker_send_json(req, 200, ready, sizeof(ready) - 1);
}

/* The figures of /metrics and /api/v1/stats; without a stats segment, this worker's own counters. */
static void gather(ipd_worker_t *w, ipd_stats_figures_t *f)
{
    ipd_stats_gather(w->stats_seg, ipd_worker_table(w), f);
    if (w->stats_seg == NULL) {
        for (unsigned k = 0; k < IPD_STATS_COUNT; k++)
            f->totals.c[k] = atomic_load_explicit(&w->own_stats->c[k], memory_order_relaxed);
        f->totals.route_slots = (uint32_t)(w->nroutes * ipd_http_status_kinds());
        for (unsigned k = 0; k < f->totals.route_slots; k++)
            f->totals.route[k] = atomic_load_explicit(&w->own_stats->route[k], memory_order_relaxed);
        f->totals.workers = 1;
    }
}

static void metric(ipd_buf_writer_t *b, const char *name, const char *type, const char *help)
{
    ipd_buf_writef(b, "# HELP imgpulld_%s %s\n# TYPE imgpulld_%s %s\n", name, help, name, type);
}

static void prom_http(const ipd_worker_t *w, const ipd_stats_figures_t *f, ipd_buf_writer_t *b)
{
    metric(b, "http_requests_total", "counter", "HTTP requests answered by all workers, by status class.");
    for (int k = 0; k < 5; k++)
        ipd_buf_writef(b, "imgpulld_http_requests_total{code=\"%dxx\"} %" PRIu64 "\n", k + 1,
                       f->totals.c[IPD_STATS_STATUS_1XX + k]);
    metric(b, "http_request_duration_seconds", "histogram", "Request latency over all workers.");
    uint64_t cum = 0;
    for (unsigned i = 0; i < IPD_STATS_LATENCY_BUCKETS; i++) {
        cum += f->totals.c[IPD_STATS_LATENCY_FIRST + i];
        uint64_t le = ipd_stats_latency_bound(i);
        if (le == UINT64_MAX)
            ipd_buf_writef(b, "imgpulld_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        else
            ipd_buf_writef(b, "imgpulld_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", le / 1e6, cum);
    }
    ipd_buf_writef(b, "imgpulld_http_request_duration_seconds_sum %.6f\n", f->totals.c[IPD_STATS_LATENCY_SUM_US] / 1e6);
    ipd_buf_writef(b, "imgpulld_http_request_duration_seconds_count %" PRIu64 "\n", cum);
    metric(b, "http_route_requests_total", "counter", "HTTP requests answered by all workers, by route and status.");
    for (size_t r = 0; r < w->nroutes; r++) {
        for (size_t k = 0; k < ipd_http_status_kinds(); k++) {
            size_t slot = r * ipd_http_status_kinds() + k;
            uint64_t n = slot < f->totals.route_slots ? f->totals.route[slot] : 0;
            if (n == 0)
                continue;
            if (ipd_http_status_kind_code(k) != 0)
                ipd_buf_writef(b, "imgpulld_http_route_requests_total{route=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                               w->route_metrics[r], ipd_http_status_kind_code(k), n);
            else
                ipd_buf_writef(b, "imgpulld_http_route_requests_total{route=\"%s\",code=\"other\"} %" PRIu64 "\n",
                               w->route_metrics[r], n);
        }
    }
}

/* HELP texts of the master's figures, by ipd_mstats_counter_t. */
static const char *const master_help[IPD_MSTATS_COUNT] = {
    [IPD_MSTATS_READY] = "1 once every collection has been listed from Kubernetes into the table.",
    [IPD_MSTATS_WATCH_HEALTHY] =
        "1 while every watch has heard from the API server within 2 x watch_idle_timeout + watch_backoff_max.",
    [IPD_MSTATS_WORKERS_ALIVE] = "Worker processes the master has running.",
    [IPD_MSTATS_RESPAWNS] = "Workers started again after they died.",
    [IPD_MSTATS_WATCH_LISTS] = "Complete lists of a collection from Kubernetes.",
    [IPD_MSTATS_WATCH_RELISTS] = "Lists forced by 410 Gone.",
    [IPD_MSTATS_WATCH_STARTS] = "Watch requests started.",
    [IPD_MSTATS_WATCH_RESTARTS] = "Watches restarted after an error, an end or silence.",
    [IPD_MSTATS_WATCH_IDLE_RESTARTS] = "Watches restarted because they were silent past watch_idle_timeout.",
    [IPD_MSTATS_WATCH_ERRORS] = "List and watch requests that failed.",
    [IPD_MSTATS_WATCH_EVENTS] = "Watch events applied to the job model.",
    [IPD_MSTATS_WATCH_BOOKMARKS] = "Watch bookmarks received.",
    [IPD_MSTATS_MODEL_OBJECTS] = "Kubernetes objects applied to the job model.",
    [IPD_MSTATS_MODEL_PUBLISHED] = "Job records written to the table.",
    [IPD_MSTATS_MODEL_PUBLISH_ERRORS] = "Job records the table refused (for instance when it is full).",
    [IPD_MSTATS_MODEL_JOBS] = "Pull jobs the master follows.",
    [IPD_MSTATS_MODEL_PODS] = "Pods the master follows.",
    [IPD_MSTATS_KUBE_ACTIONS] = "Requests the master sent to Kubernetes on its own (clean-ups).",
    [IPD_MSTATS_KUBE_ACTION_ERRORS] = "Of those requests, the ones that failed.",
    [IPD_MSTATS_RELOADS] = "Configuration reloads applied.",
    [IPD_MSTATS_STARTED_AT] = "Start time of the master, in seconds since the Unix epoch.",
    [IPD_MSTATS_REDIS_STATE] = "Redis link: 0 not configured, 1 down (degraded: own node and last known remote state), "
                               "2 connecting or resyncing, 3 up.",
    [IPD_MSTATS_REDIS_CONNECTS] = "Redis connections established (each followed by a republish and a resync).",
    [IPD_MSTATS_REDIS_PUBLISHED] = "Task records of this node written to Redis.",
    [IPD_MSTATS_REDIS_APPLIED] = "Task records of other nodes applied from Redis.",
    [IPD_MSTATS_REDIS_SKIPPED] = "Redis records skipped: malformed, or of a newer format version.",
    [IPD_MSTATS_REDIS_RESYNCS] = "Resyncs from the per-node hashes (start, reconnect, a gap in the Stream).",
    [IPD_MSTATS_REDIS_NODES_LOST] = "Nodes whose daemon's liveness key expired.",
    [IPD_MSTATS_REDIS_CATCHUP_HOLDS] = "Publications of other nodes' changes held back while the daemon caught up "
                                       "with the Redis Stream (redis_catchup_publish).",
    [IPD_MSTATS_REDIS_STOOD_IN] = "Task records this daemon wrote to Redis for nodes without a live daemon, from "
                                  "their Kubernetes Jobs (the stand-in lease).",
    [IPD_MSTATS_FINAL_REFUSED] = "Final job and task states the table writer kept over a different state it was given "
                                 "(a defect upstream; each first refusal of a job is logged).",
    /* The retries are exported with the workers' as imgpulld_kube_retries_total{reason}. */
};

static void prom_counters(const ipd_stats_figures_t *f, ipd_buf_writer_t *b)
{
    static const struct {
        ipd_stats_counter_t c;
        const char *name, *type, *help;
    } plain[] = {
        {IPD_STATS_BYTES_IN, "http_request_body_bytes_total", "counter", "Request body bytes read."},
        {IPD_STATS_BYTES_OUT, "http_response_body_bytes_total", "counter", "Response body bytes written."},
        {IPD_STATS_CONNECTIONS, "connections", "gauge", "Client connections open."},
        {IPD_STATS_RATE_LIMITED, "rate_limited_total", "counter", "Requests refused by request_rate_per_conn."},
        {IPD_STATS_RING_OVERRUNS, "ring_overruns_total", "counter", "Times a worker fell behind the event ring."},
        {IPD_STATS_WS_OPEN, "websocket_connections", "gauge", "WebSocket connections open."},
        {IPD_STATS_WS_MESSAGES_OUT, "websocket_messages_sent_total", "counter", "WebSocket messages sent."},
        {IPD_STATS_WS_OPENED, "websocket_connections_total", "counter", "WebSocket connections accepted."},
        {IPD_STATS_WS_MESSAGES_IN, "websocket_messages_received_total", "counter", "WebSocket messages received."},
        {IPD_STATS_WS_BYTES_OUT, "websocket_sent_bytes_total", "counter",
         "Job-watch bytes written, frame headers included."},
        {IPD_STATS_WS_SUBSCRIPTIONS, "websocket_subscriptions", "gauge",
         "Job subscriptions held (subscribe_all counts one)."},
        {IPD_STATS_WS_COALESCED, "websocket_updates_coalesced_total", "counter",
         "Job updates folded into a later one for a slow client."},
        {IPD_STATS_WS_RESYNCS, "websocket_resyncs_total", "counter", "Resync messages sent to job watchers."},
        {IPD_STATS_WS_SLOW_CLOSES, "websocket_slow_closes_total", "counter",
         "Job watchers closed for not taking data within ws_write_timeout."},
        {IPD_STATS_WS_REFUSED, "websocket_refused_total", "counter",
         "WebSocket upgrades refused over ws_max_connections."},
        {IPD_STATS_LOG_STREAMS, "log_streams", "gauge", "Pod-log streams open."},
        {IPD_STATS_LOG_BYTES, "log_bytes_total", "counter", "Pod-log bytes sent to clients."},
        {IPD_STATS_LOG_ERRORS, "log_stream_errors_total", "counter", "Pod-log streams ended by an error."},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        metric(b, plain[i].name, plain[i].type, plain[i].help);
        ipd_buf_writef(b, "imgpulld_%s %" PRId64 "\n", plain[i].name, (int64_t)f->totals.c[plain[i].c]);
    }
    metric(b, "workers", "gauge", "Worker processes counting in the stats segment.");
    ipd_buf_writef(b, "imgpulld_workers %u\n", f->totals.workers);
    for (unsigned k = 0; f->master != NULL && k < IPD_MSTATS_TASK_FAILURES; k++) {
        int64_t v = (int64_t)atomic_load_explicit(&f->master->c[k], memory_order_relaxed);
        if (k == IPD_MSTATS_KUBE_RETRIES_429 || k == IPD_MSTATS_KUBE_RETRIES_503)
            continue;
        if (k == IPD_MSTATS_STARTED_AT) {
            /* Prometheus wants base units in the name: seconds, not the segment's milliseconds. */
            metric(b, "master_start_time_seconds", "gauge", master_help[k]);
            ipd_buf_writef(b, "imgpulld_master_start_time_seconds %" PRId64 ".%03d\n", v / 1000, (int)(v % 1000));
            continue;
        }
        const char *name = ipd_stats_master_counter_name((ipd_mstats_counter_t)k);
        char full[96];
        snprintf(full, sizeof(full), "master_%s", name);
        metric(b, full, strstr(name, "_total") != NULL ? "counter" : "gauge", master_help[k]);
        ipd_buf_writef(b, "imgpulld_%s %" PRId64 "\n", full, v);
    }
    /* The master's own requests and the workers' (a client's POST or DELETE). */
    metric(b, "kube_retries_total", "counter",
           "Kubernetes API requests sent again after a 429 (reason too_many_requests) or 503 (reason "
           "service_unavailable) with Retry-After (kube_retries, kube_retry_max_wait).");
    static const struct {
        const char *reason;
        ipd_stats_counter_t w;
        ipd_mstats_counter_t m;
    } retries[] = {{"too_many_requests", IPD_STATS_KUBE_RETRIES_429, IPD_MSTATS_KUBE_RETRIES_429},
                   {"service_unavailable", IPD_STATS_KUBE_RETRIES_503, IPD_MSTATS_KUBE_RETRIES_503}};
    for (size_t i = 0; i < 2; i++) {
        uint64_t v = f->totals.c[retries[i].w];
        if (f->master != NULL)
            v += atomic_load_explicit(&f->master->c[retries[i].m], memory_order_relaxed);
        ipd_buf_writef(b, "imgpulld_kube_retries_total{reason=\"%s\"} %" PRIu64 "\n", retries[i].reason, v);
    }
    if (f->master == NULL)
        return;
    metric(b, "task_failures_total", "counter",
           "Tasks that reached failed, by cause (docs/api.md, Causes); each task counts once.");
    for (int c = IPD_CAUSE_AUTH; c < IPD_CAUSE_COUNT; c++)
        ipd_buf_writef(
            b, "imgpulld_task_failures_total{cause=\"%s\"} %" PRIu64 "\n", ipd_cause_name((ipd_cause_t)c),
            (uint64_t)atomic_load_explicit(&f->master->c[ipd_mstats_task_failures(c)], memory_order_relaxed));
}

static void prom_table(const ipd_stats_figures_t *f, ipd_buf_writer_t *b)
{
    if (!f->table)
        return;
    metric(b, "jobs", "gauge", "Pull jobs in the table, by state.");
    for (int s = 0; s < IPD_JOB_STATE_COUNT; s++)
        ipd_buf_writef(b, "imgpulld_jobs{state=\"%s\"} %" PRIu64 "\n", ipd_job_state_name((ipd_job_state_t)s),
                       f->jobs[s]);
    metric(b, "table_generation", "gauge", "Generation of the job table.");
    ipd_buf_writef(b, "imgpulld_table_generation %" PRIu64 "\n", f->generation);
    metric(b, "ring_head", "gauge", "Sequence number of the last change record.");
    ipd_buf_writef(b, "imgpulld_ring_head %" PRIu64 "\n", f->ring_head);
}

static int format_prometheus(ipd_worker_t *w, const ipd_stats_figures_t *f, ipd_buf_t *buf)
{
    ipd_buf_writer_t b = {buf, 0};
    prom_http(w, f, &b);
    prom_counters(f, &b);
    prom_table(f, &b);
    return b.rc;
}

static int format_json(ipd_worker_t *w, const ipd_stats_figures_t *f, ipd_buf_t *buf)
{
    (void)w;
    return ipd_stats_report_json(f, buf);
}

/* Answers the worker's figures as `format` writes them: a text body of `text_type`, or JSON when it is NULL. */
static void send_figures(ipd_worker_t *w, h2o_req_t *req,
                         int (*format)(ipd_worker_t *, const ipd_stats_figures_t *, ipd_buf_t *), const char *text_type)
{
    ipd_stats_figures_t f;
    ipd_buf_t buf;
    ipd_buf_init(&buf);
    gather(w, &f);
    int rc = format(w, &f, &buf);
    if (rc != 0)
        ipd_worker_send_error(req, 500, ipd_strerror(rc));
    else if (text_type != NULL)
        ipd_worker_send_text(req, 200, text_type, buf.data, buf.len);
    else
        ipd_worker_send_json(req, 200, buf.data, buf.len);
    ipd_buf_dispose(&buf);
}

void ipd_worker_get_metrics(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    send_figures(w, req, format_prometheus, "text/plain; version=0.0.4; charset=utf-8");
}

void ipd_worker_get_stats(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    send_figures(w, req, format_json, NULL);
}
