#include "shared/table_internal.h"

#include <stdio.h>
#include <string.h>

#include "proto/error.h"

/*
 * Reattach: a new writer takes over a segment whose previous writer may have died at any
 * instruction. A copy left mid-write (its slot's `writing` mark set) was never published, so
 * it is restored from the published copy and the slot keeps its last good record. Anything a
 * dead writer cannot explain (a bad checksum on a written copy, impossible fields, tasks that
 * do not belong to their job) fails the segment, and the caller rebuilds it.
 */

#define FAIL(info, ...) (snprintf((info)->detail, sizeof((info)->detail), __VA_ARGS__), IPD_ECORRUPT)

/* Restores the unpublished copy of a slot left mid-write from the published one (or zeroes). */
static void restore(slot_head_t *h, void *copy0, void *copy1, size_t len, ipd_table_open_info_t *info)
{
    if (atomic_load_explicit(&h->writing, memory_order_relaxed) == 0)
        return;
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    void *dst = (seq + 1) & 1 ? copy1 : copy0, *src = seq & 1 ? copy1 : copy0;
    /* Pairs with the acquire fence in ipd_table_latch_stable(): `writing` is still set, so a
     * reader that observes the stores below rejects the previous copy it was reading. */
    atomic_thread_fence(memory_order_release);
    if (seq == 0)
        memset(dst, 0, len);
    else
        memcpy(dst, src, len);
    /* Pairs with the acquire load of `writing` in ipd_table_latch_stable(). */
    atomic_store_explicit(&h->writing, 0, memory_order_release);
    info->repaired_slots++;
}

static int check_task_slot(ipd_table_t *t, uint32_t ts, uint64_t *max_stamp, ipd_table_open_info_t *info)
{
    slot_head_t *h = task_head(t, ts);
    restore(h, task_copy(t, ts, 0), task_copy(t, ts, 1), sizeof(task_copy_t), info);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    for (uint64_t k = 0; k < 2 && k < seq; k++) {
        const task_copy_t *c = task_copy(t, ts, seq + k);
        if (!ipd_table_task_copy_ok(c))
            return FAIL(info, "bad checksum or string tail in task slot %u copy %u", ts, (unsigned)((seq + k) & 1));
        if (c->stamp > *max_stamp)
            *max_stamp = c->stamp;
    }
    return 0;
}

/* Checks a job slot's copies and loads its published copy into the writer's state. */
static int check_job_slot(ipd_table_t *t, uint32_t s, uint64_t *max_stamp, ipd_table_open_info_t *info)
{
    slot_head_t *h = job_head(t, s);
    restore(h, job_copy(t, s, 0), job_copy(t, s, 1), t->job_copy_size, info);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    for (uint64_t k = 0; k < 2 && k < seq; k++) {
        const job_copy_t *c = job_copy(t, s, seq + k);
        if (!ipd_table_job_copy_ok(c, t->json_cap))
            return FAIL(info, "bad checksum or string tail in job slot %u copy %u", s, (unsigned)((seq + k) & 1));
        if (c->stamp > *max_stamp)
            *max_stamp = c->stamp;
    }
    wjob_t *wj = &t->w->jobs[s];
    memset(wj, 0, sizeof(*wj));
    if (seq == 0)
        return 0;
    const job_copy_t *c = job_copy(t, s, seq);
    wj->incarnation = c->incarnation;
    if (!(c->flags & COPY_LIVE))
        return 0;
    if (c->job.state >= IPD_JOB_STATE_COUNT || c->job.id[0] == '\0' ||
        strnlen(c->job.id, IPD_JOB_ID_SIZE) == IPD_JOB_ID_SIZE || (uint64_t)c->task_first + c->task_count > t->task_cap)
        return FAIL(info, "impossible job record in slot %u", s);
    memcpy(wj->id, c->job.id, sizeof(wj->id));
    wj->created_at = c->job.created_at;
    wj->finished_at = c->job.finished_at;
    wj->task_first = c->task_first;
    wj->task_count = c->task_count;
    wj->state = c->job.state;
    wj->live = 1;
    return 0;
}

/* Every task of a live job must have a copy that belongs to it and is not newer than the job copy. */
static int check_tasks_of(ipd_table_t *t, uint32_t s, ipd_table_open_info_t *info)
{
    const job_copy_t *jc = job_copy(t, s, atomic_load_explicit(&job_head(t, s)->seq, memory_order_relaxed));
    for (uint32_t i = 0; i < jc->task_count; i++) {
        uint32_t ts = jc->task_first + i;
        uint64_t seq = atomic_load_explicit(&task_head(t, ts)->seq, memory_order_relaxed);
        int ok = 0;
        for (uint64_t k = 0; k < 2 && k < seq && !ok; k++) {
            const task_copy_t *c = task_copy(t, ts, seq + k);
            ok = (c->flags & COPY_LIVE) && c->job_slot == s && c->incarnation == jc->incarnation && c->index == i &&
                 c->stamp <= jc->stamp;
        }
        if (!ok)
            return FAIL(info, "job %.40s: task %u does not belong to it", jc->job.id, i);
    }
    return 0;
}

/* Announces records the previous writer published without a change record. */
static void announce(ipd_table_t *t, uint64_t committed, ipd_table_open_info_t *info)
{
    for (uint32_t s = 0; s < t->job_cap; s++) {
        uint64_t seq = atomic_load_explicit(&job_head(t, s)->seq, memory_order_relaxed);
        const job_copy_t *c = job_copy(t, s, seq);
        if (seq == 0 || c->stamp <= committed || !(c->flags & (COPY_LIVE | COPY_DELETED)))
            continue;
        t->w->gen++;
        ipd_ring_append(&t->ring, c->flags & COPY_LIVE ? IPD_RING_JOB_UPSERTED : IPD_RING_JOB_DELETED, s,
                        IPD_RING_TASK_NONE, c->job.version, c->job.id);
        info->announced++;
    }
}

int ipd_table_reattach(ipd_table_t *t, ipd_table_open_info_t *info)
{
    uint64_t committed = atomic_load_explicit(&t->hdr->generation, memory_order_relaxed), max_stamp = committed;
    int rc;

    for (uint32_t ts = 0; ts < t->task_cap; ts++)
        if ((rc = check_task_slot(t, ts, &max_stamp, info)) != 0)
            return rc;
    for (uint32_t s = 0; s < t->job_cap; s++)
        if ((rc = check_job_slot(t, s, &max_stamp, info)) != 0)
            return rc;
    if ((rc = ipd_table_writer_derive(t)) != 0)
        return rc == IPD_ECORRUPT ? FAIL(info, "task extents overlap") : rc;
    for (uint32_t s = 0; s < t->job_cap; s++)
        if (t->w->jobs[s].live && (rc = check_tasks_of(t, s, info)) != 0)
            return rc;
    ipd_table_index_rebuild(t);
    for (uint32_t s = 0; s < t->job_cap; s++)
        if (t->w->jobs[s].live && ipd_table_index_lookup(t, t->w->jobs[s].id) != s)
            return FAIL(info, "job id %.40s held twice", t->w->jobs[s].id);
    /* Stamps above the last committed generation were used by the dead writer: never reuse them. */
    t->w->gen = max_stamp;
    announce(t, committed, info);
    ipd_table_lists_publish(t, IPD_TABLE_LIST_ACTIVE);
    ipd_table_lists_publish(t, IPD_TABLE_LIST_FAILED);
    /* Pairs with the acquire load in ipd_table_generation(). */
    atomic_store_explicit(&t->hdr->generation, t->w->gen, memory_order_release);
    return 0;
}

int ipd_table_verify(const ipd_table_t *t)
{
    if (t->w == NULL)
        return IPD_ESTATE;
    for (uint32_t ts = 0; ts < t->task_cap; ts++) {
        const slot_head_t *h = task_head(t, ts);
        uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
        uint64_t n = atomic_load_explicit(&h->writing, memory_order_relaxed) != 0 ? 1 : 2;
        for (uint64_t k = 0; k < n && k < seq; k++)
            if (!ipd_table_task_copy_ok(task_copy(t, ts, seq + k)))
                return IPD_ECORRUPT;
    }
    for (uint32_t s = 0; s < t->job_cap; s++) {
        const slot_head_t *h = job_head(t, s);
        uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
        uint64_t n = atomic_load_explicit(&h->writing, memory_order_relaxed) != 0 ? 1 : 2;
        for (uint64_t k = 0; k < n && k < seq; k++)
            if (!ipd_table_job_copy_ok(job_copy(t, s, seq + k), t->json_cap))
                return IPD_ECORRUPT;
    }
    return 0;
}
