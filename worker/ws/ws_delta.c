#include "worker/ws/ws.h"

#include <stdlib.h>
#include <string.h>

/*
 * Task indexes noted for one change before its delta gives up and the whole job goes out: a
 * delta naming every task is about as large as the job itself.
 */
static uint32_t note_cap(const ipd_ws_entry_t *e)
{
    return e->ntasks > 64 ? e->ntasks : 64;
}

static void note_task(ipd_ws_entry_t *e, uint32_t task)
{
    if (e->dtasks_all)
        return;
    if (task == IPD_RING_TASK_JOB)
        return; /* the job record alone */
    if (task == IPD_RING_TASK_NONE || e->ndtasks >= note_cap(e)) {
        e->dtasks_all = 1;
        return;
    }
    if (e->ndtasks == e->dtasks_cap) {
        uint32_t cap = e->dtasks_cap != 0 ? e->dtasks_cap * 2 : 8;
        uint32_t *p = realloc(e->dtasks, cap * sizeof(*p));
        if (p == NULL) {
            e->dtasks_all = 1; /* the next change goes out whole */
            return;
        }
        e->dtasks = p;
        e->dtasks_cap = cap;
    }
    e->dtasks[e->ndtasks++] = task;
}

void ipd_ws_delta_note(ipd_ws_entry_t *e, const ipd_ring_entry_t *rec)
{
    if (rec->kind != IPD_RING_JOB_UPSERTED)
        e->dtasks_all = 1;
    else
        note_task(e, rec->task);
    if (rec->version > e->noted_version)
        e->noted_version = rec->version;
    e->noted_more = rec->more != 0;
}

void ipd_ws_delta_forget(ipd_ws_entry_t *e)
{
    e->ndtasks = 0;
    e->dtasks_all = 0;
    e->noted_version = 0;
    e->noted_more = 0;
}

/*
 * The table read returned version `version`, newer than the records the worker consumed, or
 * the last record consumed said more of its change follow: the writer published the job before
 * its change records, or the worker has not read the ring that far yet. Notes the records of
 * `e` after the worker's ring cursor up to the last one of `version`; the worker applies them
 * again later, which only repeats tasks. Returns 1 when that record was found (then every task
 * the read includes is noted), 0 otherwise.
 */
static int note_ahead(ipd_ws_t *ws, ipd_ws_entry_t *e, uint64_t version)
{
    const ipd_table_t *t = ws->w->table;
    uint64_t at = ws->w->catalog.cursor;
    ipd_ring_entry_t recs[32];
    for (;;) {
        size_t n = 0;
        if (ipd_table_ring_read(t, at, recs, sizeof(recs) / sizeof(recs[0]), &n) != 0 || n == 0)
            return 0;
        for (size_t i = 0; i < n; i++) {
            if (strncmp(recs[i].id, e->id, IPD_JOB_ID_SIZE) != 0)
                continue;
            if (recs[i].version > version)
                return 0;
            ipd_ws_delta_note(e, &recs[i]);
            if (recs[i].version == version && !recs[i].more)
                return !e->dtasks_all;
        }
        at = recs[n - 1].seq;
    }
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the noted indexes and drops repeats; returns 0, or -1 when one is out of range. */
static int unique_tasks(ipd_ws_entry_t *e, size_t ntasks)
{
    uint32_t n = 0;
    qsort(e->dtasks, e->ndtasks, sizeof(*e->dtasks), by_index);
    for (uint32_t i = 0; i < e->ndtasks; i++)
        if (n == 0 || e->dtasks[n - 1] != e->dtasks[i])
            e->dtasks[n++] = e->dtasks[i];
    e->ndtasks = n;
    return n == 0 || e->dtasks[n - 1] < ntasks ? 0 : -1;
}

void ipd_ws_delta_build(ipd_ws_t *ws, ipd_ws_entry_t *e, const ipd_table_job_view_t *view, uint64_t seq, uint64_t from,
                        uint32_t from_ntasks)
{
    const ipd_job_t *job = view->job;
    ipd_ws_msg_release(e->delta);
    e->delta = NULL;
    /* The records say which tasks changed only against the frames built before, at `from`. */
    int ok = from != 0 && !e->dtasks_all && view->ntasks == from_ntasks && view->ntasks <= view->task_cap &&
             job->version >= from && job->version >= e->noted_version;
    if (ok && (job->version > e->noted_version || e->noted_more))
        ok = note_ahead(ws, e, job->version);
    if (ok && unique_tasks(e, view->ntasks) == 0)
        e->delta = ipd_ws_msg_tasks(ws->epoch, seq, from, job, view->tasks, view->ntasks, e->dtasks, e->ndtasks);
    ipd_ws_delta_forget(e);
}
