#include "shared/table_internal.h"

/*
 * The double-buffer latch. `seq` counts publications; copy seq & 1 is the published one and
 * the writer only ever fills the other copy, so a reader of the published copy is never
 * overwritten unless the writer publishes twice during the read, which the reader detects.
 * `writing` marks the unpublished copy as being filled, which lets a reader take the
 * previous copy too, and lets a reattaching writer find a copy left mid-write.
 * Record bytes are copied with plain memcpy between the fences below; the checks discard any
 * copy that overlapped a write.
 */

void ipd_table_latch_begin(slot_head_t *h)
{
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    atomic_store_explicit(&h->writing, seq + 1, memory_order_relaxed);
    /* Pairs with the acquire fence in ipd_table_latch_stable(). It orders both this `writing`
     * mark and the previous publication of `seq` before the copy stores that follow: a
     * reader that observes any of those stores then sees `writing` != 0 or a newer `seq`. */
    atomic_thread_fence(memory_order_release);
}

void ipd_table_latch_publish(slot_head_t *h)
{
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    /* Pairs with the acquire load in ipd_table_latch_enter(): the filled copy is visible to
     * any reader that reads the new `seq`. */
    atomic_store_explicit(&h->seq, seq + 1, memory_order_release);
    /* Pairs with the acquire load of `writing` in ipd_table_latch_stable(): a reader that sees
     * the mark cleared also sees the `seq` stored above. */
    atomic_store_explicit(&h->writing, 0, memory_order_release);
}

uint64_t ipd_table_latch_enter(const slot_head_t *h)
{
    /* Pairs with the release store of `seq` in ipd_table_latch_publish(). */
    return atomic_load_explicit(&h->seq, memory_order_acquire);
}

int ipd_table_latch_stable(const slot_head_t *h, uint64_t seq, int previous)
{
    /* Pairs with the release fence in ipd_table_latch_begin(): keeps the record loads before
     * the reloads below. */
    atomic_thread_fence(memory_order_acquire);
    if (previous && atomic_load_explicit(&h->writing, memory_order_acquire) != 0)
        return 0;
    return atomic_load_explicit(&h->seq, memory_order_relaxed) == seq;
}
