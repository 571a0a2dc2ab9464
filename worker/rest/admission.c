#include "worker/rest/rest.h"

#include <stdio.h>

#include "proto/error.h"

/*
 * Admission of POST /api/v1/images/pull: will the table hold the new jobs?
 *
 * What the table can never give up is its active jobs (finished ones are evicted, oldest
 * first, to make room: shared/table_write.c), so a request fits when
 *     active jobs + reserved jobs + its jobs   <= table_jobs, and
 *     active tasks + reserved tasks + its tasks <= table_tasks.
 * "Reserved" is what POSTs of any worker have admitted and the table does not show yet: the
 * master inserts a job only when its watch sees the Kubernetes Jobs, tens of milliseconds
 * after the apiserver answered the worker.
 *
 * Workers map the table read-only, so no worker can claim a slot in it. Each worker keeps its
 * reservations in its own block of the stats segment instead (two gauges, which the master
 * clears when the worker dies, so a crash leaks nothing), and the two races are closed by the
 * order of the steps:
 *
 *   1. Reserve first: add this request to the own block (sequentially consistent RMW).
 *   2. Then sum every block's reservations (sequentially consistent loads).
 *   3. Then read the active jobs from the table.
 *   4. Over capacity: take the reservation back and refuse (503 table_full).
 *
 * Two workers racing for the last slot: each stores its reservation before it loads the
 * other's, so at least one of them sees both and refuses (both may refuse: the client retries
 * after Retry-After; neither can over-commit). A job becoming visible while another worker
 * counts: its worker releases the reservation only after the table shows the job (the 202
 * waits for that, worker/rest/h_job.c), and step 2 comes before step 3, so a job released before
 * step 2 is already in the table at step 3: it is counted once or twice, never not at all.
 * Counting twice only errs on the side of refusing.
 *
 * Not covered: Jobs created in the cluster by other means (kubectl, a daemon on another
 * node) reach the table without asking; the master then evicts history for them and, with
 * only active jobs left, counts a publish error (imgpulld_master_model_publish_errors_total).
 */

static uint64_t reserved(ipd_worker_t *w, ipd_stats_counter_t which)
{
    if (w->stats_seg == NULL)
        return atomic_load_explicit(&w->stats->c[which], memory_order_seq_cst);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < ipd_stats_blocks(w->stats_seg); i++) {
        const ipd_stats_block_t *b = ipd_stats_block(w->stats_seg, i);
        int64_t v = (int64_t)atomic_load_explicit(&b->c[which], memory_order_seq_cst);
        sum += v > 0 ? (uint64_t)v : 0;
    }
    return sum;
}

/* The active jobs and their tasks, as the table holds them now. */
static int active_load(ipd_worker_t *w, uint64_t *jobs, uint64_t *tasks)
{
    ipd_job_t job;
    ssize_t n = ipd_worker_read_list(w, IPD_TABLE_LIST_ACTIVE, NULL);
    if (n < 0)
        return (int)n;
    *jobs = 0;
    *tasks = 0;
    for (ssize_t i = 0; i < n; i++) {
        ipd_table_job_view_t view = {.job = &job};
        int rc = ipd_table_get_job_at(w->table, w->refs[i], &view);
        if (rc == IPD_ENOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        (*jobs)++;
        *tasks += view.ntasks;
    }
    return 0;
}

void ipd_worker_admit_release(ipd_worker_t *w, size_t njobs, size_t ntasks)
{
    if (njobs == 0 && ntasks == 0)
        return;
    atomic_fetch_sub_explicit(&w->stats->c[IPD_STATS_RESERVED_JOBS], njobs, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&w->stats->c[IPD_STATS_RESERVED_TASKS], ntasks, memory_order_seq_cst);
}

int ipd_worker_admit(ipd_worker_t *w, size_t njobs, size_t ntasks, char *msg, size_t cap)
{
    ipd_table_t *t = ipd_worker_table(w);
    uint64_t jobs = 0, tasks = 0;
    if (t == NULL) {
        snprintf(msg, cap, "the job table is not attached, so its free room is unknown");
        return IPD_EBUSY;
    }
    atomic_fetch_add_explicit(&w->stats->c[IPD_STATS_RESERVED_JOBS], njobs, memory_order_seq_cst);
    atomic_fetch_add_explicit(&w->stats->c[IPD_STATS_RESERVED_TASKS], ntasks, memory_order_seq_cst);
    uint64_t rjobs = reserved(w, IPD_STATS_RESERVED_JOBS), rtasks = reserved(w, IPD_STATS_RESERVED_TASKS);
    int rc = active_load(w, &jobs, &tasks);
    if (rc != 0) {
        ipd_worker_admit_release(w, njobs, ntasks);
        snprintf(msg, cap, "reading the job table: %s", ipd_strerror(rc));
        return IPD_EBUSY;
    }
    uint32_t job_cap = ipd_table_job_capacity(t), task_cap = ipd_table_task_capacity(t);
    if (jobs + rjobs > job_cap || tasks + rtasks > task_cap) {
        ipd_worker_admit_release(w, njobs, ntasks);
        if (jobs + rjobs > job_cap)
            snprintf(msg, cap,
                     "the job table is full: %llu active and %llu admitted jobs of %u slots (table_jobs) leave no room "
                     "for %zu more",
                     (unsigned long long)jobs, (unsigned long long)(rjobs - njobs), job_cap, njobs);
        else
            snprintf(msg, cap,
                     "the job table is full: %llu active and %llu admitted tasks of %u slots (table_tasks) leave no "
                     "room for %zu more",
                     (unsigned long long)tasks, (unsigned long long)(rtasks - ntasks), task_cap, ntasks);
        return IPD_EFULL;
    }
    return 0;
}
