#include "shared/table_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"

/* The writer's private state: free job slots, the task extent allocator (first fit over a
 * sorted, coalesced array of free extents) and the two ordered lists it publishes. */

int ipd_table_writer_new(ipd_table_t *t)
{
    table_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->jobs = calloc(t->job_cap, sizeof(*w->jobs));
    w->free_slots = calloc(t->job_cap, sizeof(*w->free_slots));
    w->free_ext = calloc((size_t)t->job_cap + 2, sizeof(*w->free_ext));
    w->active = calloc(t->job_cap, sizeof(*w->active));
    w->failed = calloc(t->job_cap, sizeof(*w->failed));
    t->w = w;
    if (w->jobs == NULL || w->free_slots == NULL || w->free_ext == NULL || w->active == NULL || w->failed == NULL) {
        ipd_table_writer_free(t);
        return -ENOMEM;
    }
    return 0;
}

void ipd_table_writer_free(ipd_table_t *t)
{
    table_writer_t *w = t->w;
    if (w == NULL)
        return;
    free(w->jobs);
    free(w->free_slots);
    free(w->free_ext);
    free(w->active);
    free(w->failed);
    free(w->scratch);
    free(w);
    t->w = NULL;
}

int ipd_table_extent_alloc(ipd_table_t *t, uint32_t count, uint32_t *first)
{
    table_writer_t *w = t->w;
    if (count == 0) {
        *first = 0;
        return 0;
    }
    for (uint32_t i = 0; i < w->nfree_ext; i++) {
        extent_t *e = &w->free_ext[i];
        if (e->count < count)
            continue;
        *first = e->first;
        e->first += count;
        e->count -= count;
        if (e->count == 0) {
            memmove(e, e + 1, (w->nfree_ext - i - 1) * sizeof(*e));
            w->nfree_ext--;
        }
        return 0;
    }
    return IPD_EFULL;
}

void ipd_table_extent_free(ipd_table_t *t, uint32_t first, uint32_t count)
{
    table_writer_t *w = t->w;
    uint32_t i = 0;

    if (count == 0)
        return;
    while (i < w->nfree_ext && w->free_ext[i].first < first)
        i++;
    int join_prev = i > 0 && w->free_ext[i - 1].first + w->free_ext[i - 1].count == first;
    int join_next = i < w->nfree_ext && first + count == w->free_ext[i].first;
    if (join_prev && join_next) {
        w->free_ext[i - 1].count += count + w->free_ext[i].count;
        memmove(&w->free_ext[i], &w->free_ext[i + 1], (w->nfree_ext - i - 1) * sizeof(extent_t));
        w->nfree_ext--;
    } else if (join_prev) {
        w->free_ext[i - 1].count += count;
    } else if (join_next) {
        w->free_ext[i].first = first;
        w->free_ext[i].count += count;
    } else {
        memmove(&w->free_ext[i + 1], &w->free_ext[i], (w->nfree_ext - i) * sizeof(extent_t));
        w->free_ext[i] = (extent_t){first, count};
        w->nfree_ext++;
    }
}

int ipd_table_extent_grow(ipd_table_t *t, uint32_t first, uint32_t count, uint32_t want)
{
    table_writer_t *w = t->w;
    uint32_t end = first + count, more = want - count;

    for (uint32_t i = 0; i < w->nfree_ext; i++) {
        extent_t *e = &w->free_ext[i];
        if (e->first != end)
            continue;
        if (e->count < more)
            return IPD_EFULL;
        e->first += more;
        e->count -= more;
        if (e->count == 0) {
            memmove(e, e + 1, (w->nfree_ext - i - 1) * sizeof(*e));
            w->nfree_ext--;
        }
        return 0;
    }
    return IPD_EFULL;
}

/* Which list a job belongs to: 0 active, 1 failed, -1 none. */
static int list_of(const wjob_t *j)
{
    if (!j->live)
        return -1;
    if (j->state == IPD_JOB_PENDING || j->state == IPD_JOB_PULLING || j->state == IPD_JOB_KEEPING)
        return IPD_TABLE_LIST_ACTIVE;
    return j->state == IPD_JOB_FAILED ? IPD_TABLE_LIST_FAILED : -1;
}

/* < 0 when `a` comes before `b` in list `kind`. */
static int order(int kind, const wjob_t *a, const wjob_t *b)
{
    if (kind == IPD_TABLE_LIST_ACTIVE) {
        if (a->created_at != b->created_at)
            return a->created_at < b->created_at ? -1 : 1;
        return strncmp(a->id, b->id, IPD_JOB_ID_SIZE);
    }
    if (a->finished_at != b->finished_at)
        return a->finished_at > b->finished_at ? -1 : 1;
    return strncmp(b->id, a->id, IPD_JOB_ID_SIZE);
}

static void list_insert(table_writer_t *w, int kind, uint32_t slot)
{
    uint32_t *arr = kind == IPD_TABLE_LIST_ACTIVE ? w->active : w->failed;
    uint32_t *n = kind == IPD_TABLE_LIST_ACTIVE ? &w->nactive : &w->nfailed;
    uint32_t lo = 0, hi = *n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (order(kind, &w->jobs[arr[mid]], &w->jobs[slot]) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&arr[lo + 1], &arr[lo], (*n - lo) * sizeof(*arr));
    arr[lo] = slot;
    (*n)++;
}

static void list_remove(table_writer_t *w, int kind, uint32_t slot)
{
    uint32_t *arr = kind == IPD_TABLE_LIST_ACTIVE ? w->active : w->failed;
    uint32_t *n = kind == IPD_TABLE_LIST_ACTIVE ? &w->nactive : &w->nfailed;

    for (uint32_t i = 0; i < *n; i++) {
        if (arr[i] == slot) {
            memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(*arr));
            (*n)--;
            return;
        }
    }
}

void ipd_table_lists_publish(ipd_table_t *t, ipd_table_list_kind_t kind)
{
    table_writer_t *w = t->w;
    slot_head_t *h = list_head(t, kind);
    const uint32_t *arr = kind == IPD_TABLE_LIST_ACTIVE ? w->active : w->failed;
    uint32_t n = kind == IPD_TABLE_LIST_ACTIVE ? w->nactive : w->nfailed;

    ipd_table_latch_begin(h);
    list_copy_t *c = list_copy(t, kind, atomic_load_explicit(&h->seq, memory_order_relaxed) + 1);
    c->generation = w->gen + 1;
    c->count = n;
    for (uint32_t i = 0; i < n; i++)
        c->refs[i] = (ipd_table_ref_t){arr[i], w->jobs[arr[i]].incarnation};
    ipd_table_latch_publish(h);
}

void ipd_table_lists_update(ipd_table_t *t, uint32_t slot, const wjob_t *before, const wjob_t *after)
{
    int from = list_of(before), to = list_of(after);

    if (from == to && (from < 0 || order(from, before, after) == 0))
        return;
    if (from >= 0)
        list_remove(t->w, from, slot);
    if (to >= 0)
        list_insert(t->w, to, slot);
    if (from >= 0)
        ipd_table_lists_publish(t, (ipd_table_list_kind_t)from);
    if (to >= 0 && to != from)
        ipd_table_lists_publish(t, (ipd_table_list_kind_t)to);
}

static int by_first(const void *a, const void *b)
{
    const extent_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Rebuilds free slots, free extents and both lists from `jobs`; IPD_ECORRUPT on overlapping extents. */
int ipd_table_writer_derive(ipd_table_t *t)
{
    table_writer_t *w = t->w;
    uint32_t nused = 0, next = 0;

    w->nfree_slots = w->nactive = w->nfailed = w->nfree_ext = 0;
    for (uint32_t s = t->job_cap; s-- > 0;) {
        if (!w->jobs[s].live) {
            w->free_slots[w->nfree_slots++] = s;
            continue;
        }
        if (w->jobs[s].task_count > 0)
            w->free_ext[nused++] = (extent_t){w->jobs[s].task_first, w->jobs[s].task_count};
        int kind = list_of(&w->jobs[s]);
        if (kind >= 0)
            list_insert(w, kind, s);
    }
    /* The used extents, sorted, must not overlap; their gaps are the free extents. */
    extent_t *used = malloc(((size_t)nused + 1) * sizeof(*used));
    if (used == NULL)
        return -ENOMEM;
    memcpy(used, w->free_ext, nused * sizeof(*used));
    qsort(used, nused, sizeof(*used), by_first);
    for (uint32_t i = 0; i < nused; i++) {
        if (used[i].first < next || (uint64_t)used[i].first + used[i].count > t->task_cap) {
            free(used);
            return IPD_ECORRUPT;
        }
        if (used[i].first > next)
            w->free_ext[w->nfree_ext++] = (extent_t){next, used[i].first - next};
        next = used[i].first + used[i].count;
    }
    if (next < t->task_cap)
        w->free_ext[w->nfree_ext++] = (extent_t){next, t->task_cap - next};
    free(used);
    return 0;
}
