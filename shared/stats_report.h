/*
 * The stats figures and their JSON document: the table's position, jobs by state, the master's
 * figures and the workers' counters summed. SIGUSR1 writes the document as one line (log and
 * stats file); GET /api/v1/stats serves the same document; /metrics renders the same figures.
 */
#ifndef IPD_SHARED_STATS_REPORT_H
#define IPD_SHARED_STATS_REPORT_H

#include "proto/buf.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

/** Everything the reports show, gathered once. */
typedef struct ipd_stats_figures {
    ipd_stats_totals_t totals;          /**< workers' counters summed */
    const ipd_stats_block_t *master;    /**< borrowed from the segment; NULL without one */
    uint64_t jobs[IPD_JOB_STATE_COUNT]; /**< jobs in the table by state */
    int table;                          /**< a table was given */
    char epoch[IPD_TABLE_EPOCH_HEX_SIZE];
    uint64_t generation, ring_head;
} ipd_stats_figures_t;

/** Counts the jobs of `table` by state, walking every slot (about 1 µs per slot). */
void ipd_stats_count_jobs(const ipd_table_t *table, uint64_t jobs[IPD_JOB_STATE_COUNT]);

/** Fills `f` from `seg` and `table` (both borrowed; either may be NULL). */
void ipd_stats_gather(const ipd_stats_segment_t *seg, const ipd_table_t *table, ipd_stats_figures_t *f);

/** Appends the JSON document of `f` to `out`. Returns 0, -ENOMEM or IPD_ETOOBIG. */
int ipd_stats_report_json(const ipd_stats_figures_t *f, ipd_buf_t *out);

#endif
