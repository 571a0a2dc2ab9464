#include "shared/table_internal.h"

/* ipd_table_read_slot: accept whatever job the slot holds. */
#define ANY_INCARNATION UINT32_MAX

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/error.h"

#define RETRY 1 /* internal: the job copy must be read again */

/*
 * Copies task slot `ts` as it was when job copy `stamp` was published: the published copy if
 * it is not newer than the job copy, else the previous copy. Returns 0, or RETRY when neither
 * copy fits (the writer moved on) or no stable copy could be read.
 */
static int read_task(const ipd_table_t *t, uint32_t ts, const job_copy_t *jc, uint32_t slot, uint32_t index,
                     ipd_task_t *out)
{
    const slot_head_t *h = task_head(t, ts);
    task_copy_t head;

    for (int attempt = 0; attempt < TABLE_READ_RETRIES; attempt++) {
        uint64_t seq = ipd_table_latch_enter(h);
        int torn = 0;
        for (int prev = 0; prev < 2 && seq != 0 && !(prev && seq < 2); prev++) {
            const task_copy_t *c = task_copy(t, ts, prev ? seq + 1 : seq);
            memcpy(&head, c, offsetof(task_copy_t, task));
            if (!prev && head.stamp > jc->stamp)
                continue; /* written after the job copy: its previous copy may be the one */
            memcpy(out, &c->task, sizeof(*out));
            if (!ipd_table_latch_stable(h, seq, prev)) {
                torn = 1;
                break;
            }
            if (head.stamp <= jc->stamp && (head.flags & COPY_LIVE) && head.job_slot == slot &&
                head.incarnation == jc->incarnation && head.index == index)
                return 0;
            return RETRY;
        }
        if (!torn)
            return RETRY;
    }
    return RETRY;
}

static int read_tasks(const ipd_table_t *t, const job_copy_t *jc, uint32_t slot, ipd_task_t *out)
{
    for (uint32_t i = 0; i < jc->task_count; i++)
        if (read_task(t, jc->task_first + i, jc, slot, i, &out[i]) != 0)
            return RETRY;
    return 0;
}

/* Copies the published job copy of `slot` (record into view->job, JSON if it fits) and its head into `jc`. */
static int copy_job(const ipd_table_t *t, uint32_t slot, uint64_t seq, job_copy_t *jc, ipd_table_job_view_t *view)
{
    const job_copy_t *c = job_copy(t, slot, seq);
    memcpy(jc, c, offsetof(job_copy_t, job));
    memcpy(view->job, &c->job, sizeof(*view->job));
    size_t len = jc->json_len < t->json_cap ? jc->json_len : t->json_cap;
    if ((jc->flags & COPY_HAS_JSON) && view->json != NULL && len <= view->json_cap)
        memcpy(view->json, job_json((job_copy_t *)c), len);
    return ipd_table_latch_stable(job_head(t, slot), seq, 0) ? 0 : RETRY;
}

/* Fills the view's "out" fields from a consistent job copy; returns 0 or IPD_ETOOBIG/IPD_ECORRUPT. */
static int describe(const ipd_table_t *t, uint32_t slot, const job_copy_t *jc, ipd_table_job_view_t *view)
{
    if ((uint64_t)jc->task_first + jc->task_count > t->task_cap || jc->json_len > t->json_cap)
        return IPD_ECORRUPT;
    view->job->id[IPD_JOB_ID_SIZE - 1] = '\0';
    view->ntasks = jc->task_count;
    view->has_json = (jc->flags & COPY_HAS_JSON) != 0;
    view->json_len = view->has_json ? jc->json_len : 0;
    view->ref.slot = slot;
    view->ref.incarnation = jc->incarnation;
    view->stamp = jc->stamp;
    if (view->has_json && view->json != NULL && view->json_len > view->json_cap)
        return IPD_ETOOBIG;
    if (view->tasks != NULL && view->ntasks > view->task_cap)
        return IPD_ETOOBIG;
    return 0;
}

int ipd_table_read_slot(const ipd_table_t *t, uint32_t slot, const char *id, uint32_t incarnation,
                        ipd_table_job_view_t *view)
{
    const slot_head_t *h = job_head(t, slot);
    job_copy_t jc;

    for (int attempt = 0; attempt < TABLE_READ_RETRIES; attempt++) {
        uint64_t seq = ipd_table_latch_enter(h);
        if (seq == 0)
            return IPD_ENOTFOUND;
        if (copy_job(t, slot, seq, &jc, view) != 0)
            continue;
        if (!(jc.flags & COPY_LIVE))
            return IPD_ENOTFOUND;
        if (id != NULL ? strncmp(view->job->id, id, IPD_JOB_ID_SIZE) != 0
                       : incarnation != ANY_INCARNATION && jc.incarnation != incarnation)
            return IPD_ENOTFOUND;
        int rc = describe(t, slot, &jc, view);
        if (rc != 0 && rc != IPD_ETOOBIG)
            return rc;
        if (rc == 0 && view->tasks != NULL && read_tasks(t, &jc, slot, view->tasks) != 0)
            continue;
        return rc;
    }
    return IPD_EBUSY;
}

int ipd_table_get_job(const ipd_table_t *t, const char *id, ipd_table_job_view_t *view)
{
    if (id == NULL || id[0] == '\0' || strnlen(id, IPD_JOB_ID_SIZE) == IPD_JOB_ID_SIZE)
        return IPD_ENOTFOUND;
    return ipd_table_index_find(t, id, view);
}

int ipd_table_get_job_at(const ipd_table_t *t, ipd_table_ref_t ref, ipd_table_job_view_t *view)
{
    if (ref.slot >= t->job_cap)
        return IPD_ENOTFOUND;
    return ipd_table_read_slot(t, ref.slot, NULL, ref.incarnation, view);
}

int ipd_table_get_job_in_slot(const ipd_table_t *t, uint32_t slot, ipd_table_job_view_t *view)
{
    if (slot >= t->job_cap)
        return IPD_ENOTFOUND;
    return ipd_table_read_slot(t, slot, NULL, ANY_INCARNATION, view);
}

/* Copies up to `cap` refs of list copy `c` in API order, skipping holes; returns how many. */
static size_t copy_refs(const list_copy_t *c, ipd_table_list_kind_t kind, size_t len, ipd_table_ref_t *refs, size_t cap)
{
    size_t k = 0;
    if (kind == IPD_TABLE_LIST_ACTIVE) {
        for (size_t i = 0; i < len && k < cap; i++)
            if (c->refs[i].slot != LIST_HOLE)
                refs[k++] = c->refs[i];
    } else {
        /* Stored oldest failure first: API order is from the end. */
        for (size_t i = len; i-- > 0 && k < cap;)
            if (c->refs[i].slot != LIST_HOLE)
                refs[k++] = c->refs[i];
    }
    return k;
}

int ipd_table_list(const ipd_table_t *t, ipd_table_list_kind_t kind, ipd_table_ref_t *refs, size_t cap, size_t *count,
                   size_t *total, uint64_t *generation)
{
    const slot_head_t *h = list_head(t, kind);
    size_t room = list_positions(t->job_cap);

    for (int attempt = 0; attempt < TABLE_READ_RETRIES; attempt++) {
        uint64_t seq = ipd_table_latch_enter(h), gen = 0;
        size_t n = 0, k = 0;
        if (seq != 0) {
            const list_copy_t *c = list_copy(t, kind, seq);
            size_t len = c->len < room ? c->len : room;
            n = c->count < t->job_cap ? c->count : t->job_cap;
            gen = c->generation;
            k = copy_refs(c, kind, len, refs, cap);
            if (!ipd_table_latch_stable(h, seq, 0))
                continue;
        }
        *count = k < n ? k : n;
        if (total != NULL)
            *total = n;
        if (generation != NULL)
            *generation = gen;
        return 0;
    }
    return IPD_EBUSY;
}

const ipd_ring_t *ipd_table_ring(const ipd_table_t *t)
{
    return &t->ring;
}

int ipd_table_ring_read(const ipd_table_t *t, uint64_t after_seq, ipd_ring_entry_t *entries, size_t cap, size_t *count)
{
    return ipd_ring_read(&t->ring, after_seq, entries, cap, count);
}

uint64_t ipd_table_epoch(const ipd_table_t *t)
{
    return t->hdr->epoch;
}

void ipd_table_epoch_hex(const ipd_table_t *t, char buf[IPD_TABLE_EPOCH_HEX_SIZE])
{
    snprintf(buf, IPD_TABLE_EPOCH_HEX_SIZE, "%016" PRIx64, t->hdr->epoch);
}

uint64_t ipd_table_generation(const ipd_table_t *t)
{
    /* Pairs with the release store of the generation in the writer's commit(). */
    return atomic_load_explicit(&t->hdr->generation, memory_order_acquire);
}

uint64_t ipd_table_ring_head(const ipd_table_t *t)
{
    return ipd_ring_head(&t->ring);
}

uint32_t ipd_table_job_capacity(const ipd_table_t *t)
{
    return t->job_cap;
}

uint32_t ipd_table_task_capacity(const ipd_table_t *t)
{
    return t->task_cap;
}

uint32_t ipd_table_ring_capacity(const ipd_table_t *t)
{
    return t->ring.capacity;
}

uint32_t ipd_table_json_capacity(const ipd_table_t *t)
{
    return t->json_cap;
}

uint32_t ipd_table_job_count(const ipd_table_t *t)
{
    return t->w != NULL ? t->job_cap - t->w->nfree_slots : 0;
}

void ipd_table_note(const ipd_table_t *t, char out[IPD_TABLE_NOTE_SIZE])
{
    memcpy(out, t->hdr->note, IPD_TABLE_NOTE_SIZE);
    out[IPD_TABLE_NOTE_SIZE - 1] = '\0';
}

void ipd_table_set_note(ipd_table_t *t, const char *text)
{
    if (t->w == NULL)
        return;
    char note[IPD_TABLE_NOTE_SIZE] = {0};
    snprintf(note, sizeof(note), "%s", text);
    memcpy(t->hdr->note, note, sizeof(note));
}
