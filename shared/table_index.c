#include "shared/table_internal.h"

#include <string.h>

#include "proto/error.h"

/*
 * The id -> slot index: linear probing over a power-of-two array of 64-bit buckets, each
 * written with one atomic store, so a reader probing without locks sees either the old or the
 * new bucket. Two arrays exist: the writer updates the published one in place and, when
 * tombstones pile up, rebuilds the other one and publishes it by bumping `index_seq`.
 */

static uint32_t tag_of(uint64_t hash)
{
    return (uint32_t)(hash >> 32) | 1u; /* odd, so a live bucket is never EMPTY nor TOMB */
}

static _Atomic uint64_t *published(const ipd_table_t *t)
{
    return t->index[atomic_load_explicit(&t->hdr->index_seq, memory_order_relaxed) & 1];
}

int ipd_table_index_find(const ipd_table_t *t, const char *id, ipd_table_job_view_t *view)
{
    uint64_t hash = ipd_table_id_hash(id), mask = t->buckets - 1;
    uint32_t tag = tag_of(hash);

    for (int attempt = 0; attempt < TABLE_READ_RETRIES; attempt++) {
        /* Pairs with the release store of `index_seq` in ipd_table_index_rebuild(). */
        uint64_t seq = atomic_load_explicit(&t->hdr->index_seq, memory_order_acquire);
        _Atomic uint64_t *arr = t->index[seq & 1];
        for (uint64_t i = hash & mask, n = 0; n < t->buckets; n++, i = (i + 1) & mask) {
            /* Pairs with the release store in ipd_table_index_insert(): the slot was published first. */
            uint64_t b = atomic_load_explicit(&arr[i], memory_order_acquire);
            if (b == INDEX_EMPTY)
                break;
            if (b == INDEX_TOMB || (uint32_t)(b >> 32) != tag || (uint32_t)b >= t->job_cap)
                continue;
            int rc = ipd_table_read_slot(t, (uint32_t)b, id, 0, view);
            if (rc != IPD_ENOTFOUND)
                return rc;
        }
        /* Pairs with the release fence in ipd_table_index_rebuild(): a probe that raced a
         * rebuild of the array it walked sees `index_seq` moved and starts over. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->hdr->index_seq, memory_order_relaxed) == seq)
            return IPD_ENOTFOUND;
    }
    return IPD_EBUSY;
}

/* Writer: the bucket holding `id`, or -1. */
static int64_t bucket_of(const ipd_table_t *t, const char *id)
{
    uint64_t hash = ipd_table_id_hash(id), mask = t->buckets - 1;
    uint32_t tag = tag_of(hash);
    _Atomic uint64_t *arr = published(t);

    for (uint64_t i = hash & mask, n = 0; n < t->buckets; n++, i = (i + 1) & mask) {
        uint64_t b = atomic_load_explicit(&arr[i], memory_order_relaxed);
        if (b == INDEX_EMPTY)
            break;
        if (b != INDEX_TOMB && (uint32_t)(b >> 32) == tag && (uint32_t)b < t->job_cap &&
            strncmp(t->w->jobs[(uint32_t)b].id, id, IPD_JOB_ID_SIZE) == 0 && t->w->jobs[(uint32_t)b].live)
            return (int64_t)i;
    }
    return -1;
}

uint32_t ipd_table_index_lookup(const ipd_table_t *t, const char *id)
{
    int64_t i = bucket_of(t, id);
    return i < 0 ? UINT32_MAX : (uint32_t)atomic_load_explicit(&published(t)[i], memory_order_relaxed);
}

static void insert_into(_Atomic uint64_t *arr, uint64_t mask, const char *id, uint32_t slot, int *reused_tomb)
{
    uint64_t hash = ipd_table_id_hash(id);
    uint64_t i = hash & mask;

    while (1) {
        uint64_t b = atomic_load_explicit(&arr[i], memory_order_relaxed);
        if (b == INDEX_EMPTY || b == INDEX_TOMB) {
            *reused_tomb = b == INDEX_TOMB;
            /* Pairs with the acquire load of the bucket in ipd_table_index_find(). */
            atomic_store_explicit(&arr[i], ((uint64_t)tag_of(hash) << 32) | slot, memory_order_release);
            return;
        }
        i = (i + 1) & mask;
    }
}

void ipd_table_index_insert(ipd_table_t *t, const char *id, uint32_t slot)
{
    int reused = 0;
    insert_into(published(t), t->buckets - 1, id, slot, &reused);
    if (reused)
        t->w->index_tombs--;
    else
        t->w->index_used++;
    if ((uint64_t)t->w->index_used * 4 > (uint64_t)t->buckets * 3)
        ipd_table_index_rebuild(t);
}

void ipd_table_index_remove(ipd_table_t *t, const char *id, uint32_t slot)
{
    int64_t i = bucket_of(t, id);
    _Atomic uint64_t *arr = published(t);

    if (i < 0 || (uint32_t)atomic_load_explicit(&arr[i], memory_order_relaxed) != slot)
        return;
    /* A bucket followed by an empty one ends every probe chain through it: it can become empty. */
    uint64_t next = atomic_load_explicit(&arr[(uint64_t)(i + 1) & (t->buckets - 1)], memory_order_relaxed);
    if (next == INDEX_EMPTY) {
        atomic_store_explicit(&arr[i], INDEX_EMPTY, memory_order_relaxed);
        t->w->index_used--;
    } else {
        atomic_store_explicit(&arr[i], INDEX_TOMB, memory_order_relaxed);
        t->w->index_tombs++;
    }
}

void ipd_table_index_rebuild(ipd_table_t *t)
{
    uint64_t seq = atomic_load_explicit(&t->hdr->index_seq, memory_order_relaxed);
    _Atomic uint64_t *arr = t->index[(seq + 1) & 1];
    int reused;

    /* Pairs with the acquire fence in ipd_table_index_find(): a reader still probing this
     * array (published two rebuilds ago) that sees any store below also sees `index_seq` moved. */
    atomic_thread_fence(memory_order_release);
    for (uint32_t i = 0; i < t->buckets; i++)
        atomic_store_explicit(&arr[i], INDEX_EMPTY, memory_order_relaxed);
    t->w->index_used = 0;
    t->w->index_tombs = 0;
    for (uint32_t s = 0; s < t->job_cap; s++) {
        if (!t->w->jobs[s].live)
            continue;
        insert_into(arr, t->buckets - 1, t->w->jobs[s].id, s, &reused);
        t->w->index_used++;
    }
    /* Pairs with the acquire load of `index_seq` in ipd_table_index_find(). */
    atomic_store_explicit(&t->hdr->index_seq, seq + 1, memory_order_release);
}
