/*
 * The stats document: one JSON object with the table's position, the job counts, the master's
 * figures and the workers' counters summed. SIGUSR1 writes it as one line (log and stats file);
 * GET /api/v1/stats serves the same document.
 */
#ifndef IPD_SHARED_STATS_REPORT_H
#define IPD_SHARED_STATS_REPORT_H

#include "proto/buf.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

/** Job counts read from the table's lists. */
typedef struct ipd_job_counts {
    uint64_t pending, pulling, failed;
} ipd_job_counts_t;

/** Counts active jobs by state and failed jobs, from the table (any mapping). 0 or IPD_EBUSY. */
int ipd_stats_job_counts(const ipd_table_t *table, ipd_job_counts_t *out);

/**
 * Appends the stats document for `seg` and `table` (both borrowed, read-only use) to `out`.
 * Returns 0 or -ENOMEM.
 */
int ipd_stats_report_json(const ipd_stats_segment_t *seg, const ipd_table_t *table, ipd_buf_t *out);

#endif
