#include "shared/table_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "shared/pages.h"

#define NO_SLOT UINT32_MAX

/*
 * Ends a change: appends its records, one per entry of `task` (`n` of them, borrowed: task
 * indexes, or one IPD_RING_TASK_JOB or IPD_RING_TASK_NONE), then announces the new generation.
 */
static void commit(ipd_table_t *t, ipd_ring_kind_t kind, uint32_t slot, const uint32_t *task, size_t n,
                   uint64_t version, const char *id)
{
    t->w->gen++;
    for (size_t i = 0; i < n; i++)
        ipd_ring_append_part(&t->ring, kind, slot, task[i], version, id, i + 1 < n);
    /* Pairs with the acquire load in ipd_table_generation(): a reader that sees the new
     * generation also sees every record copy and list written for it. */
    atomic_store_explicit(&t->hdr->generation, t->w->gen, memory_order_release);
}

static void write_job(ipd_table_t *t, uint32_t slot, uint32_t flags, const ipd_job_t *job, unsigned blank,
                      const void *json, size_t json_len)
{
    wjob_t *wj = &t->w->jobs[slot];
    slot_head_t *h = job_head(t, slot);

    ipd_table_latch_begin(h);
    uint64_t which = atomic_load_explicit(&h->seq, memory_order_relaxed) + 1;
    job_copy_t *c = job_copy(t, slot, which);
    memset(c, 0, offsetof(job_copy_t, job));
    c->stamp = t->w->gen + 1;
    c->incarnation = wj->incarnation;
    c->flags = flags | (json != NULL ? COPY_HAS_JSON : 0);
    c->task_first = wj->task_first;
    c->task_count = wj->task_count;
    c->json_len = json != NULL ? (uint32_t)json_len : 0;
    if (json != NULL)
        memcpy(job_json(c), json, json_len);
    ipd_table_job_store(c, job, blank, t->json_cap, &wj->zero[which & 1]);
    ipd_table_latch_publish(h);
}

/* Writes task `index` of job `slot` into task slot `ts`, unless `compare` is set and the
 * published copy already says the same. `blank`: strings of `task` known empty (0: unknown).
 * Returns 1 when written. */
static int write_task(ipd_table_t *t, uint32_t ts, uint32_t slot, uint32_t index, const ipd_task_t *task,
                      unsigned blank, int compare)
{
    slot_head_t *h = task_head(t, ts);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    uint32_t inc = t->w->jobs[slot].incarnation;
    task_copy_t *c = task_copy(t, ts, seq);

    if (compare && seq != 0 && (c->flags & COPY_LIVE) && c->job_slot == slot && c->incarnation == inc &&
        c->index == index && ipd_task_same(&c->task, task))
        return 0;
    ipd_table_latch_begin(h);
    c = task_copy(t, ts, seq + 1);
    c->stamp = t->w->gen + 1;
    c->job_slot = slot;
    c->incarnation = inc;
    c->index = index;
    c->flags = COPY_LIVE;
    wtask_t *wt = &t->w->tasks[ts];
    ipd_table_task_store(c, task, blank, &wt->zero[(seq + 1) & 1]);
    ipd_table_latch_publish(h);
    wt->settled = !ipd_task_state_is_final((ipd_task_state_t)task->state);
    return 1;
}

/* Removes the job in `slot`: deleted marker, index, lists, tasks, slot; then its record. */
static void delete_slot(ipd_table_t *t, uint32_t slot)
{
    table_writer_t *w = t->w;
    wjob_t before = w->jobs[slot];
    ipd_job_t last;

    memcpy(&last, &job_copy(t, slot, atomic_load_explicit(&job_head(t, slot)->seq, memory_order_relaxed))->job,
           sizeof(last));
    w->jobs[slot].task_first = w->jobs[slot].task_count = 0;
    write_job(t, slot, COPY_DELETED, &last, 0, NULL, 0);
    ipd_table_index_remove(t, before.id, slot);
    w->jobs[slot].live = 0;
    ipd_table_lists_update(t, slot, &before, &w->jobs[slot]);
    ipd_table_extent_free(t, before.task_first, before.task_count);
    w->free_slots[w->nfree_slots++] = slot;
    const uint32_t none = IPD_RING_TASK_NONE;
    commit(t, IPD_RING_JOB_DELETED, slot, &none, 1, last.version, before.id);
}

/* The next job to evict, never `keep`: the oldest succeeded or cancelled, else the oldest failed. */
static uint32_t victim(const ipd_table_t *t, uint32_t keep)
{
    const table_writer_t *w = t->w;
    uint32_t best = NO_SLOT;

    for (uint32_t s = 0; s < t->job_cap; s++) {
        const wjob_t *j = &w->jobs[s];
        if (!j->live || s == keep || (j->state != IPD_JOB_SUCCEEDED && j->state != IPD_JOB_CANCELLED))
            continue;
        if (best == NO_SLOT || j->finished_at < w->jobs[best].finished_at ||
            (j->finished_at == w->jobs[best].finished_at && j->created_at < w->jobs[best].created_at))
            best = s;
    }
    if (best == NO_SLOT)
        best = ipd_table_list_first(t, IPD_TABLE_LIST_FAILED, keep);
    return best;
}

static int take_slot(ipd_table_t *t, uint32_t *slot)
{
    if (t->w->nfree_slots == 0) {
        uint32_t v = victim(t, NO_SLOT);
        if (v == NO_SLOT)
            return IPD_EFULL;
        delete_slot(t, v);
    }
    *slot = t->w->free_slots[--t->w->nfree_slots];
    return 0;
}

/* Task slots held by active jobs other than `slot`: what eviction can never free. */
static uint64_t pinned_tasks(const ipd_table_t *t, uint32_t slot)
{
    const wlist_t *l = &t->w->lists[IPD_TABLE_LIST_ACTIVE];
    uint64_t n = 0;
    for (uint32_t i = 0; i < l->len; i++)
        if (l->store[i] != LIST_HOLE && l->store[i] != slot)
            n += t->w->jobs[l->store[i]].task_count;
    return n;
}

/* Finds room for `n` tasks of `slot`: its extent, grown in place, or a new one (`*moved`). */
static int place_tasks(ipd_table_t *t, uint32_t slot, uint32_t n, uint32_t *first, int *moved)
{
    const wjob_t *wj = &t->w->jobs[slot];

    *moved = 0;
    *first = wj->task_first;
    if (n <= wj->task_count || (wj->task_count > 0 && ipd_table_extent_grow(t, wj->task_first, wj->task_count, n) == 0))
        return 0;
    /*
     * A free extent first: when one fits, the pinned check below passes anyway (free room and
     * active jobs' tasks are disjoint), and pinned_tasks() walks every active job. Done for
     * every new job, that walk made filling a table quadratic in its active jobs (a daemon
     * applying thousands of remote jobs from Redis, docs/benchmarks.md).
     */
    if (ipd_table_extent_alloc(t, n, first) == 0) {
        *moved = 1;
        return 0;
    }
    if (n > t->task_cap - pinned_tasks(t, slot))
        return IPD_EFULL;
    while (ipd_table_extent_alloc(t, n, first) != 0) {
        uint32_t v = victim(t, slot);
        if (v == NO_SLOT)
            return IPD_EFULL;
        delete_slot(t, v);
    }
    *moved = 1;
    return 0;
}

static int check_put(const ipd_table_t *t, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks)
{
    if (t->w == NULL)
        return IPD_ESTATE;
    if (job == NULL || job->id[0] == '\0' || strnlen(job->id, IPD_JOB_ID_SIZE) == IPD_JOB_ID_SIZE ||
        job->state >= IPD_JOB_STATE_COUNT || (ntasks > 0 && tasks == NULL))
        return IPD_EINVAL;
    return ntasks > t->task_cap ? IPD_ETOOBIG : 0;
}

/*
 * The job to write: `job` itself, or `out` (the caller's room) holding a copy of it with the
 * counts `nodes` (when a kept final task moved them) and a kept final state. The 1.7 KB copy is
 * made only then, which is rare.
 */
static const ipd_job_t *final_job(ipd_table_t *t, uint32_t slot, const ipd_job_t *job, const ipd_node_counts_t *nodes,
                                  ipd_job_t *out)
{
    if (memcmp(nodes, &job->nodes, sizeof(*nodes)) != 0) {
        *out = *job;
        out->nodes = *nodes;
        job = out;
    }
    return ipd_table_final_job(t, slot, job, out);
}

/*
 * Records per change at most: a change of more tasks is one IPD_RING_TASK_NONE record, so that
 * one change never takes more than a sixty-fourth of the ring (table_ring).
 */
static size_t parts_max(const ipd_table_t *t)
{
    return t->ring.capacity / 64 > 1 ? t->ring.capacity / 64 : 1;
}

/* Ends a put of job `slot` whose tasks are written: job copy, writer state, index, lists, and the
 * records naming `task` (`ntask` entries, borrowed, as commit() takes them). */
static void finish_put(ipd_table_t *t, uint32_t slot, const wjob_t *before, int fresh, const ipd_job_t *job,
                       unsigned blank, const void *json, size_t json_len, const uint32_t *task, size_t ntask)
{
    wjob_t *wj = &t->w->jobs[slot];

    write_job(t, slot, COPY_LIVE, job, blank, json, json_len);
    if (fresh)
        wj->live = 1; /* before the index insert, which may rebuild from `live` slots */
    wj->state = job->state;
    wj->created_at = job->created_at;
    wj->finished_at = job->finished_at;
    if (fresh)
        ipd_table_index_insert(t, job->id, slot);
    ipd_table_lists_update(t, slot, before, wj);
    commit(t, IPD_RING_JOB_UPSERTED, slot, task, ntask, job->version, job->id);
}

int ipd_table_put_job(ipd_table_t *t, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json,
                      size_t json_len)
{
    return ipd_table_put_job_known(t, job, 0, tasks, NULL, ntasks, json, json_len);
}

int ipd_table_put_job_known(ipd_table_t *t, const ipd_job_t *job, unsigned job_blank, const ipd_task_t *tasks,
                            const uint8_t *task_blank, size_t ntasks, const void *json, size_t json_len)
{
    int rc = check_put(t, job, tasks, ntasks), moved, fresh;
    uint32_t slot, first, n = (uint32_t)ntasks, written = 0, last = IPD_RING_TASK_NONE;
    if (rc != 0)
        return rc;
    if (json_len > t->json_cap)
        json = NULL;
    slot = ipd_table_index_lookup(t, job->id);
    fresh = slot == NO_SLOT;
    if (fresh && (rc = take_slot(t, &slot)) != 0)
        return rc;
    if ((rc = place_tasks(t, slot, n, &first, &moved)) != 0) {
        if (fresh)
            t->w->free_slots[t->w->nfree_slots++] = slot;
        return rc;
    }
    wjob_t *wj = &t->w->jobs[slot], before = *wj;
    if (fresh) {
        memset(wj, 0, sizeof(*wj));
        memcpy(wj->id, job->id, sizeof(wj->id));
        wj->incarnation = before.incarnation + 1;
    }
    /* The published copies are read before the new ones are written (another copy of each slot). */
    uint64_t refusals = t->w->final_refused;
    ipd_node_counts_t nodes = job->nodes;
    ipd_job_t out;
    ipd_task_t kept;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t old_ts = !fresh && i < before.task_count ? before.task_first + i : NO_TASK_SLOT;
        const ipd_task_t *task =
            ipd_table_final_task(t, slot, wj->incarnation, old_ts, i, job->id, job->keep, &tasks[i], &kept, &nodes);
        /* A task the final states replaced is another record: its strings are not known. */
        unsigned blank = task == &tasks[i] && task_blank != NULL ? task_blank[i] : 0;
        if (write_task(t, first + i, slot, i, task, blank, 1)) {
            written++;
            last = i;
        }
    }
    const ipd_job_t *asked = job;
    job = final_job(t, slot, job, &nodes, &out);
    if (job != asked)
        job_blank = 0;
    if (t->w->final_refused != refusals)
        json = NULL;
    wj->task_first = first;
    wj->task_count = n;
    /* Compared task by task, a put names the one task it rewrote, or none but the job record. */
    int same = !fresh && !moved && n == before.task_count;
    uint32_t task = same && written == 1 ? last : same && written == 0 ? IPD_RING_TASK_JOB : IPD_RING_TASK_NONE;
    finish_put(t, slot, &before, fresh, job, job_blank, json, json_len, &task, 1);
    if (moved)
        ipd_table_extent_free(t, before.task_first, before.task_count);
    else if (n < before.task_count)
        ipd_table_extent_free(t, first + n, before.task_count - n);
    return 0;
}

int ipd_table_put_tasks(ipd_table_t *t, const ipd_job_t *job, size_t ntasks, const uint32_t *index,
                        const ipd_task_t *tasks, size_t nchanged, const void *json, size_t json_len)
{
    return ipd_table_put_tasks_known(t, job, 0, ntasks, index, tasks, NULL, nchanged, json, json_len);
}

int ipd_table_put_tasks_known(ipd_table_t *t, const ipd_job_t *job, unsigned job_blank, size_t ntasks,
                              const uint32_t *index, const ipd_task_t *tasks, const uint8_t *task_blank,
                              size_t nchanged, const void *json, size_t json_len)
{
    int rc = check_put(t, job, tasks, nchanged);
    uint32_t slot, written = 0, last = IPD_RING_TASK_NONE;
    if (rc != 0)
        return rc;
    if (nchanged > 0 && index == NULL)
        return IPD_EINVAL;
    if (json_len > t->json_cap)
        json = NULL;
    if ((slot = ipd_table_index_lookup(t, job->id)) == NO_SLOT)
        return IPD_ENOTFOUND;
    wjob_t *wj = &t->w->jobs[slot], before = *wj;
    if (ntasks != wj->task_count)
        return IPD_ESTATE;
    for (size_t i = 0; i < nchanged; i++)
        if (index[i] >= wj->task_count)
            return IPD_EINVAL;
    uint64_t refusals = t->w->final_refused;
    ipd_node_counts_t nodes = job->nodes;
    ipd_job_t out;
    ipd_task_t kept;
    for (size_t i = 0; i < nchanged; i++) {
        uint32_t ts = wj->task_first + index[i];
        const ipd_task_t *task =
            ipd_table_final_task(t, slot, wj->incarnation, ts, index[i], job->id, job->keep, &tasks[i], &kept, &nodes);
        unsigned blank = task == &tasks[i] && task_blank != NULL ? task_blank[i] : 0;
        if (write_task(t, ts, slot, index[i], task, blank, 0)) {
            written++;
            last = index[i];
        }
    }
    const ipd_job_t *asked = job;
    job = final_job(t, slot, job, &nodes, &out);
    if (job != asked)
        job_blank = 0;
    if (t->w->final_refused != refusals)
        json = NULL;
    /* The tasks named (a superset of those rewritten) go one record each, up to parts_max(). */
    uint32_t task = written == 1 ? last : written == 0 ? IPD_RING_TASK_JOB : IPD_RING_TASK_NONE;
    if (written > 1 && nchanged <= parts_max(t))
        finish_put(t, slot, &before, 0, job, job_blank, json, json_len, index, nchanged);
    else
        finish_put(t, slot, &before, 0, job, job_blank, json, json_len, &task, 1);
    return 0;
}

int ipd_table_delete_job(ipd_table_t *t, const char *id)
{
    if (t->w == NULL)
        return IPD_ESTATE;
    if (id == NULL || strnlen(id, IPD_JOB_ID_SIZE) == IPD_JOB_ID_SIZE)
        return IPD_ENOTFOUND;
    uint32_t slot = ipd_table_index_lookup(t, id);
    if (slot == NO_SLOT)
        return IPD_ENOTFOUND;
    delete_slot(t, slot);
    return 0;
}

int ipd_table_foreach(ipd_table_t *t, ipd_table_foreach_cb cb, void *ctx)
{
    if (t->w == NULL)
        return IPD_ESTATE;
    if (t->w->scratch == NULL && (t->w->scratch = ipd_pages_alloc(t->task_cap, sizeof(ipd_task_t))) == NULL)
        return -ENOMEM;
    for (uint32_t s = 0; s < t->job_cap; s++) {
        const wjob_t *wj = &t->w->jobs[s];
        if (!wj->live)
            continue;
        job_copy_t *c = job_copy(t, s, atomic_load_explicit(&job_head(t, s)->seq, memory_order_relaxed));
        for (uint32_t i = 0; i < wj->task_count; i++) {
            uint32_t ts = wj->task_first + i;
            t->w->scratch[i] =
                task_copy(t, ts, atomic_load_explicit(&task_head(t, ts)->seq, memory_order_relaxed))->task;
        }
        int has = (c->flags & COPY_HAS_JSON) != 0;
        int rc = cb(&c->job, t->w->scratch, wj->task_count, has ? job_json(c) : NULL, has ? c->json_len : 0, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}
