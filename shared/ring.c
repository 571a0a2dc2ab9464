#include "shared/ring.h"

#include <string.h>

#include "proto/error.h"

size_t ipd_ring_bytes(uint32_t capacity)
{
    return (size_t)capacity * sizeof(ipd_ring_slot_t);
}

int ipd_ring_init(ipd_ring_t *ring, void *entries, uint32_t capacity, _Atomic uint64_t *head)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return IPD_EINVAL;
    ring->entries = entries;
    ring->head = head;
    ring->capacity = capacity;
    return 0;
}

uint64_t ipd_ring_head(const ipd_ring_t *ring)
{
    /* Pairs with the release store of the head in ipd_ring_append(). */
    return atomic_load_explicit(ring->head, memory_order_acquire);
}

static ipd_ring_slot_t *entry_of(const ipd_ring_t *ring, uint64_t seq)
{
    return &ring->entries[(seq - 1) & (ring->capacity - 1)];
}

uint64_t ipd_ring_append(ipd_ring_t *ring, ipd_ring_kind_t kind, uint32_t slot, uint32_t task, uint64_t version,
                         const char *id)
{
    return ipd_ring_append_part(ring, kind, slot, task, version, id, 0);
}

uint64_t ipd_ring_append_part(ipd_ring_t *ring, ipd_ring_kind_t kind, uint32_t slot, uint32_t task, uint64_t version,
                              const char *id, int more)
{
    uint64_t seq = atomic_load_explicit(ring->head, memory_order_relaxed) + 1;
    ipd_ring_slot_t *e = entry_of(ring, seq);

    /* Invalidate before rewriting. The release fence pairs with the acquire fence in
     * copy_entry(): a reader that observes any of the field stores below then reads a seq
     * of 0 or `seq`, never the seq it asked for. */
    atomic_store_explicit(&e->seq, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    e->version = version;
    if (task > IPD_RING_TASK_MAX && task != IPD_RING_TASK_JOB)
        task = IPD_RING_TASK_NONE;
    e->kind_task = ((uint32_t)kind & 0x7fu) | (more ? IPD_RING_MORE : 0) | task << 8;
    e->slot = slot;
    memset(e->id, 0, sizeof(e->id));
    strncpy(e->id, id, sizeof(e->id) - 1);
    /* Pairs with the acquire load of the entry seq in copy_entry(). */
    atomic_store_explicit(&e->seq, seq, memory_order_release);
    /* Pairs with the acquire load in ipd_ring_head(): an entry is complete before it is announced. */
    atomic_store_explicit(ring->head, seq, memory_order_release);
    return seq;
}

/* Copies entry `seq`; returns 0, or IPD_EOVERRUN if the entry no longer (or not yet) holds it. */
static int copy_entry(const ipd_ring_t *ring, uint64_t seq, ipd_ring_entry_t *out)
{
    ipd_ring_slot_t *e = entry_of(ring, seq);
    /* Pairs with the release store of the entry seq in ipd_ring_append(). */
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != seq)
        return IPD_EOVERRUN;
    out->version = e->version;
    uint32_t kind_task = e->kind_task;
    out->kind = kind_task & 0x7fu;
    out->more = (kind_task & IPD_RING_MORE) != 0;
    out->task = kind_task >> 8;
    out->slot = e->slot;
    memcpy(out->id, e->id, sizeof(out->id));
    /* Pairs with the release fence in ipd_ring_append(): if a field copied above came from a
     * later rewrite of this entry, the reload below sees that rewrite's 0 or its new seq. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->seq, memory_order_relaxed) != seq)
        return IPD_EOVERRUN;
    out->id[sizeof(out->id) - 1] = '\0';
    out->seq = seq;
    return 0;
}

int ipd_ring_read(const ipd_ring_t *ring, uint64_t after_seq, ipd_ring_entry_t *out, size_t cap, size_t *count)
{
    uint64_t head = ipd_ring_head(ring);
    size_t n = 0;

    *count = 0;
    if (after_seq > head)
        return IPD_EINVAL;
    if (head - after_seq > ring->capacity)
        return IPD_EOVERRUN;
    for (uint64_t seq = after_seq + 1; seq <= head && n < cap; seq++, n++) {
        int rc = copy_entry(ring, seq, &out[n]);
        if (rc != 0)
            return rc;
    }
    *count = n;
    return 0;
}
