/*
 * A final state stays final: the writer keeps a published terminal state over a different one
 * (the contract is in table.h, ipd_table_put_job). The model decides terminal states from
 * evidence nothing later overturns; this is the line behind it, so that no bug upstream can
 * show a client `failed` and then `succeeded` for the same job and attempt.
 */
#include "shared/table_internal.h"

#include <string.h>

#include "shared/log.h"

uint64_t ipd_table_final_refusals(const ipd_table_t *t)
{
    return t->w != NULL ? t->w->final_refused : 0;
}

/* Counts one refusal; logs the first of a run for one job (a flip the caller repeats every flush
 * would otherwise log every flush). */
static void refused(ipd_table_t *t, const char *id, const char *node, const char *kept, const char *asked)
{
    t->w->final_refused++;
    if (strncmp(t->w->final_logged, id, sizeof(t->w->final_logged)) == 0)
        return;
    memcpy(t->w->final_logged, id, sizeof(t->w->final_logged));
    ipd_error("table", "job %s%s%s: kept the published final state %s over %s (final_overwrites_refused_total)", id,
              node[0] ? " node " : "", node, kept, asked);
}

const ipd_task_t *ipd_table_final_task(ipd_table_t *t, uint32_t slot, uint32_t inc, uint32_t old_ts, uint32_t index,
                                       const char *id, int keep, const ipd_task_t *task, ipd_task_t *fixed,
                                       ipd_node_counts_t *nodes)
{
    /* Most puts change a task that is not final: the writer knows it without reading the
     * published copy, a cache line the put would not touch otherwise. */
    if (old_ts == NO_TASK_SLOT || t->w->tasks[old_ts].settled)
        return task;
    uint64_t seq = atomic_load_explicit(&task_head(t, old_ts)->seq, memory_order_relaxed);
    const task_copy_t *c = task_copy(t, old_ts, seq);
    if (seq == 0 || !(c->flags & COPY_LIVE) || c->job_slot != slot || c->incarnation != inc || c->index != index)
        return task;
    ipd_task_state_t was = (ipd_task_state_t)c->task.state, now = (ipd_task_state_t)task->state;
    if (!ipd_task_state_is_final(was) || strncmp(c->task.node, task->node, sizeof(task->node)) != 0 ||
        (keep && !ipd_task_state_is_final(now)))
        return task;
    if (now == was) {
        /* The same final state in other words: the words published with it stay (a keep job's
         * task, which a new round may end in the same state, excepted, and words from the Job
         * alone, which give way to the pod's: ipd_task_words_from_job). */
        if (keep || (ipd_task_words_from_job(&c->task) && task->pod[0] != '\0') ||
            (strncmp(c->task.reason, task->reason, sizeof(task->reason)) == 0 &&
             strncmp(c->task.message, task->message, sizeof(task->message)) == 0))
            return task;
        *fixed = *task;
        memcpy(fixed->reason, c->task.reason, sizeof(fixed->reason));
        memcpy(fixed->message, c->task.message, sizeof(fixed->message));
        refused(t, id, task->node, "reason and message", "other words");
        return fixed;
    }
    *fixed = c->task;
    ipd_node_counts_add(nodes, task->state, -1);
    ipd_node_counts_add(nodes, fixed->state, +1);
    refused(t, id, task->node, ipd_task_state_name(was), ipd_task_state_name(now));
    return fixed;
}

const ipd_job_t *ipd_table_final_job(ipd_table_t *t, uint32_t slot, const ipd_job_t *job, ipd_job_t *fixed)
{
    const wjob_t *wj = &t->w->jobs[slot];
    ipd_job_state_t was = (ipd_job_state_t)wj->state, now = (ipd_job_state_t)job->state;
    if (!wj->live || !ipd_job_state_is_final(was) || now == was || (job->keep && was != IPD_JOB_CANCELLED))
        return job;
    uint64_t seq = atomic_load_explicit(&job_head(t, slot)->seq, memory_order_relaxed);
    const job_copy_t *c = job_copy(t, slot, seq);
    if (seq == 0 || !(c->flags & COPY_LIVE) || c->incarnation != wj->incarnation)
        return job;
    if (fixed != job)
        *fixed = *job;
    fixed->state = c->job.state;
    fixed->finished_at = c->job.finished_at;
    memcpy(fixed->error_reason, c->job.error_reason, sizeof(fixed->error_reason));
    memcpy(fixed->error_message, c->job.error_message, sizeof(fixed->error_message));
    fixed->error_cause = c->job.error_cause;
    refused(t, job->id, "", ipd_job_state_name(was), ipd_job_state_name(now));
    return fixed;
}
