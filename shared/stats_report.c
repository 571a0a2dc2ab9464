#include "shared/stats_report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/error.h"

void ipd_stats_count_jobs(const ipd_table_t *table, uint64_t jobs[IPD_JOB_STATE_COUNT])
{
    memset(jobs, 0, IPD_JOB_STATE_COUNT * sizeof(*jobs));
    for (uint32_t s = 0, n = ipd_table_job_capacity(table); s < n; s++) {
        ipd_job_t job;
        ipd_table_job_view_t view = {.job = &job};
        int rc = ipd_table_get_job_in_slot(table, s, &view);
        if ((rc == 0 || rc == IPD_ETOOBIG) && job.state < IPD_JOB_STATE_COUNT)
            jobs[job.state]++;
    }
}

void ipd_stats_gather(const ipd_stats_segment_t *seg, const ipd_table_t *table, ipd_stats_figures_t *f)
{
    memset(f, 0, sizeof(*f));
    if (seg != NULL) {
        ipd_stats_aggregate(seg, &f->totals);
        f->master = ipd_stats_master_block_ro(seg);
    }
    if (table == NULL)
        return;
    f->table = 1;
    ipd_table_epoch_hex(table, f->epoch);
    f->generation = ipd_table_generation(table);
    f->ring_head = ipd_table_ring_head(table);
    ipd_stats_count_jobs(table, f->jobs);
}

static void put_http(ipd_buf_writer_t *b, const uint64_t *c)
{
    ipd_buf_writef(b, "\"http\":{\"requests\":%" PRIu64 ",\"status\":{", c[IPD_STATS_REQUESTS]);
    for (int k = 0; k < 5; k++)
        ipd_buf_writef(b, "%s\"%dxx\":%" PRIu64, k ? "," : "", k + 1, c[IPD_STATS_STATUS_1XX + k]);
    ipd_buf_writef(b, "},\"latency\":{\"buckets\":[");
    for (unsigned i = 0; i < IPD_STATS_LATENCY_BUCKETS; i++) {
        uint64_t le = ipd_stats_latency_bound(i);
        if (le == UINT64_MAX)
            ipd_buf_writef(b, "%s{\"le_seconds\":null,\"count\":%" PRIu64 "}", i ? "," : "",
                           c[IPD_STATS_LATENCY_FIRST + i]);
        else
            ipd_buf_writef(b, "%s{\"le_seconds\":%g,\"count\":%" PRIu64 "}", i ? "," : "", (double)le / 1e6,
                           c[IPD_STATS_LATENCY_FIRST + i]);
    }
    ipd_buf_writef(b,
                   "],\"sum_seconds\":%.6f},\"request_body_bytes\":%" PRIu64 ",\"response_body_bytes\":%" PRIu64
                   ",\"connections\":%" PRId64 ",\"rate_limited\":%" PRIu64 "},",
                   (double)c[IPD_STATS_LATENCY_SUM_US] / 1e6, c[IPD_STATS_BYTES_IN], c[IPD_STATS_BYTES_OUT],
                   (int64_t)c[IPD_STATS_CONNECTIONS], c[IPD_STATS_RATE_LIMITED]);
}

int ipd_stats_report_json(const ipd_stats_figures_t *f, ipd_buf_t *out)
{
    ipd_buf_writer_t b = {out, 0};
    const uint64_t *c = f->totals.c;
    ipd_buf_writef(&b, "{\"workers\":%u,", f->totals.workers);
    put_http(&b, c);
    ipd_buf_writef(&b,
                   "\"websocket\":{\"open\":%" PRId64 ",\"opened\":%" PRIu64 ",\"messages_out\":%" PRIu64
                   ",\"messages_in\":%" PRIu64 ",\"coalesced\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                   ",\"subscriptions\":%" PRId64 ",\"resyncs\":%" PRIu64 ",\"slow_closes\":%" PRIu64
                   ",\"refused\":%" PRIu64 "},",
                   (int64_t)c[IPD_STATS_WS_OPEN], c[IPD_STATS_WS_OPENED], c[IPD_STATS_WS_MESSAGES_OUT],
                   c[IPD_STATS_WS_MESSAGES_IN], c[IPD_STATS_WS_COALESCED], c[IPD_STATS_WS_BYTES_OUT],
                   (int64_t)c[IPD_STATS_WS_SUBSCRIPTIONS], c[IPD_STATS_WS_RESYNCS], c[IPD_STATS_WS_SLOW_CLOSES],
                   c[IPD_STATS_WS_REFUSED]);
    ipd_buf_writef(&b,
                   "\"logs\":{\"streams\":%" PRId64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
                   "},\"ring_overruns\":%" PRIu64 ",\"master\":",
                   (int64_t)c[IPD_STATS_LOG_STREAMS], c[IPD_STATS_LOG_BYTES], c[IPD_STATS_LOG_ERRORS],
                   c[IPD_STATS_RING_OVERRUNS]);
    if (f->master == NULL)
        ipd_buf_writef(&b, "null");
    for (unsigned k = 0; f->master != NULL && k < IPD_MSTATS_COUNT; k++)
        ipd_buf_writef(&b, "%s\"%s\":%" PRId64, k ? "," : "{", ipd_stats_master_counter_name((ipd_mstats_counter_t)k),
                       (int64_t)atomic_load_explicit(&f->master->c[k], memory_order_relaxed));
    ipd_buf_writef(&b, "%s,\"table\":", f->master != NULL ? "}" : "");
    if (!f->table) {
        ipd_buf_writef(&b, "null}");
        return b.rc;
    }
    ipd_buf_writef(&b, "{\"epoch\":\"%s\",\"generation\":%" PRIu64 ",\"ring_head\":%" PRIu64 ",\"jobs\":{", f->epoch,
                   f->generation, f->ring_head);
    for (int s = 0; s < IPD_JOB_STATE_COUNT; s++)
        ipd_buf_writef(&b, "%s\"%s\":%" PRIu64, s ? "," : "", ipd_job_state_name((ipd_job_state_t)s), f->jobs[s]);
    ipd_buf_writef(&b, "}}}");
    return b.rc;
}
