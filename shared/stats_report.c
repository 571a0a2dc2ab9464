#include "shared/stats_report.h"

#include <errno.h>
#include <stdlib.h>

#include "proto/error.h"

int ipd_stats_job_counts(const ipd_table_t *table, ipd_job_counts_t *out)
{
    size_t cap = ipd_table_job_capacity(table), count = 0, total = 0;
    ipd_table_ref_t *refs = malloc(cap * sizeof(*refs));
    *out = (ipd_job_counts_t){0};
    if (refs == NULL)
        return -ENOMEM;
    int rc = ipd_table_list(table, IPD_TABLE_LIST_ACTIVE, refs, cap, &count, NULL, NULL);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        ipd_job_t job;
        ipd_table_job_view_t view = {.job = &job};
        int r = ipd_table_get_job_at(table, refs[i], &view);
        if (r == 0 || r == IPD_ETOOBIG) {
            if (job.state == IPD_JOB_PENDING)
                out->pending++;
            else if (job.state == IPD_JOB_PULLING)
                out->pulling++;
        }
    }
    if (rc == 0)
        rc = ipd_table_list(table, IPD_TABLE_LIST_FAILED, refs, 0, &count, &total, NULL);
    out->failed = total;
    free(refs);
    return rc;
}

static int append_counters(ipd_buf_t *out, const ipd_stats_segment_t *seg)
{
    ipd_stats_totals_t t;
    ipd_stats_aggregate(seg, &t);
    int rc = ipd_buf_appendf(out, "\"workers\":{\"reporting\":%u", t.workers);
    for (int i = 0; rc == 0 && i < IPD_STATS_COUNT; i++) {
        if (i >= IPD_STATS_LATENCY_FIRST && i < IPD_STATS_LATENCY_FIRST + IPD_STATS_LATENCY_BUCKETS)
            continue;
        if (ipd_stats_is_gauge((ipd_stats_counter_t)i))
            rc = ipd_buf_appendf(out, ",\"%s\":%lld", ipd_stats_counter_name((ipd_stats_counter_t)i),
                                 (long long)(int64_t)t.c[i]);
        else
            rc = ipd_buf_appendf(out, ",\"%s\":%llu", ipd_stats_counter_name((ipd_stats_counter_t)i),
                                 (unsigned long long)t.c[i]);
    }
    if (rc == 0)
        rc = ipd_buf_append_str(out, ",\"latency_us_buckets\":[");
    for (unsigned b = 0; rc == 0 && b < IPD_STATS_LATENCY_BUCKETS; b++) {
        uint64_t bound = ipd_stats_latency_bound(b);
        if (bound == UINT64_MAX)
            rc = ipd_buf_appendf(out, "%s{\"le\":\"+Inf\",\"count\":%llu}", b ? "," : "",
                                 (unsigned long long)t.c[IPD_STATS_LATENCY_FIRST + b]);
        else
            rc = ipd_buf_appendf(out, "%s{\"le\":%llu,\"count\":%llu}", b ? "," : "", (unsigned long long)bound,
                                 (unsigned long long)t.c[IPD_STATS_LATENCY_FIRST + b]);
    }
    return rc == 0 ? ipd_buf_append_str(out, "]}") : rc;
}

int ipd_stats_report_json(const ipd_stats_segment_t *seg, const ipd_table_t *table, ipd_buf_t *out)
{
    char epoch[IPD_TABLE_EPOCH_HEX_SIZE];
    ipd_job_counts_t jobs;
    ipd_table_epoch_hex(table, epoch);
    ipd_stats_job_counts(table, &jobs);
    int rc = ipd_buf_appendf(out,
                             "{\"epoch\":\"%s\",\"generation\":%llu,\"ring_head\":%llu,"
                             "\"jobs\":{\"pending\":%llu,\"pulling\":%llu,\"failed\":%llu},\"master\":{",
                             epoch, (unsigned long long)ipd_table_generation(table),
                             (unsigned long long)ipd_table_ring_head(table), (unsigned long long)jobs.pending,
                             (unsigned long long)jobs.pulling, (unsigned long long)jobs.failed);
    const ipd_stats_block_t *m = ipd_stats_master_block_ro(seg);
    for (int i = 0; rc == 0 && i < IPD_MSTATS_COUNT; i++)
        rc = ipd_buf_appendf(out, "%s\"%s\":%llu", i ? "," : "", ipd_stats_master_counter_name((ipd_mstats_counter_t)i),
                             (unsigned long long)atomic_load_explicit(&m->c[i], memory_order_relaxed));
    if (rc == 0)
        rc = ipd_buf_append_str(out, "},");
    if (rc == 0)
        rc = append_counters(out, seg);
    return rc == 0 ? ipd_buf_append_char(out, '}') : rc;
}
