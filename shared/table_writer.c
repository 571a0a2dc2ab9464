#include "shared/table_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "shared/pages.h"

/* The writer's private state: free job slots, the task extent allocator (first fit over a
 * sorted, coalesced array of free extents) and the two ordered lists it publishes. */

static void set_full(wlist_t *l);

int ipd_table_writer_new(ipd_table_t *t)
{
    table_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    /* Arrays sized by the table's capacities live in mappings of their own (shared/pages.h):
     * a forked worker frees them without changing how its malloc serves it afterwards. */
    w->jobs = ipd_pages_alloc(t->job_cap, sizeof(*w->jobs));
    w->tasks = ipd_pages_alloc(t->task_cap, sizeof(*w->tasks));
    w->free_slots = ipd_pages_alloc(t->job_cap, sizeof(*w->free_slots));
    w->free_ext = ipd_pages_alloc((size_t)t->job_cap + 2, sizeof(*w->free_ext));
    t->w = w;
    int ok = w->jobs != NULL && w->tasks != NULL && w->free_slots != NULL && w->free_ext != NULL;
    for (int k = 0; k < 2; k++) {
        wlist_t *l = &w->lists[k];
        l->room = (uint32_t)list_positions(t->job_cap);
        l->store = ipd_pages_alloc(l->room, sizeof(*l->store));
        l->pos = ipd_pages_alloc(t->job_cap, sizeof(*l->pos));
        ok = ok && l->store != NULL && l->pos != NULL;
        if (l->pos != NULL)
            for (uint32_t s = 0; s < t->job_cap; s++)
                l->pos[s] = LIST_HOLE;
        set_full(l);
    }
    if (!ok) {
        ipd_table_writer_free(t);
        return -ENOMEM;
    }
    return 0;
}

void ipd_table_writer_zeroed(ipd_table_t *t)
{
    for (uint32_t s = 0; s < t->job_cap; s++)
        t->w->jobs[s].zero[0] = t->w->jobs[s].zero[1] = UINT8_MAX;
    for (uint32_t ts = 0; ts < t->task_cap; ts++)
        t->w->tasks[ts] = (wtask_t){.zero = {UINT8_MAX, UINT8_MAX}, .settled = 1};
}

void ipd_table_writer_free(ipd_table_t *t)
{
    table_writer_t *w = t->w;
    if (w == NULL)
        return;
    ipd_pages_free(w->jobs, t->job_cap, sizeof(*w->jobs));
    ipd_pages_free(w->tasks, t->task_cap, sizeof(*w->tasks));
    ipd_pages_free(w->free_slots, t->job_cap, sizeof(*w->free_slots));
    ipd_pages_free(w->free_ext, (size_t)t->job_cap + 2, sizeof(*w->free_ext));
    for (int k = 0; k < 2; k++) {
        ipd_pages_free(w->lists[k].store, w->lists[k].room, sizeof(*w->lists[k].store));
        ipd_pages_free(w->lists[k].pos, t->job_cap, sizeof(*w->lists[k].pos));
    }
    ipd_pages_free(w->scratch, t->task_cap, sizeof(*w->scratch));
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

/* < 0 when `a` is stored before `b`: API order for the active list, reverse API order for the failed one. */
static int stored_order(const table_writer_t *w, int kind, uint32_t a, uint32_t b)
{
    return kind == IPD_TABLE_LIST_ACTIVE ? order(kind, &w->jobs[a], &w->jobs[b])
                                         : order(kind, &w->jobs[b], &w->jobs[a]);
}

static const table_writer_t *sort_writer;
static int sort_kind;

static int by_stored_order(const void *a, const void *b)
{
    return stored_order(sort_writer, sort_kind, *(const uint32_t *)a, *(const uint32_t *)b);
}

/* Records that positions [first, first + count) of list `l` changed, for both copies: a run that
 * meets the last one recorded joins it; past LIST_OPS runs, or once the runs hold more positions
 * than the list, the copy is rewritten whole. */
static void note(wlist_t *l, uint32_t first, uint32_t count)
{
    for (int c = 0; c < 2; c++) {
        if (l->full[c])
            continue;
        list_op_t *last = l->nops[c] > 0 ? &l->ops[c][l->nops[c] - 1] : NULL;
        if (last != NULL && first <= last->first + last->count && last->first <= first + count) {
            uint32_t lo = first < last->first ? first : last->first;
            uint32_t hi = first + count > last->first + last->count ? first + count : last->first + last->count;
            l->opsum[c] += (hi - lo) - last->count;
            *last = (list_op_t){lo, hi - lo};
        } else if (l->nops[c] == LIST_OPS) {
            l->full[c] = 1;
            continue;
        } else {
            l->ops[c][l->nops[c]++] = (list_op_t){first, count};
            l->opsum[c] += count;
        }
        if (l->opsum[c] > l->len + 1)
            l->full[c] = 1;
    }
}

static void set_full(wlist_t *l)
{
    l->full[0] = l->full[1] = 1;
    l->nops[0] = l->nops[1] = 0;
    l->opsum[0] = l->opsum[1] = 0;
}

/* Rewrites list `kind` with `extra` (LIST_HOLE for none) put in its place: without holes, or with
 * `spread` one hole after every LIST_GAP refs (none at the end), so that a job moving to any
 * place afterwards finds a hole within a few positions. */
static void rebuild(table_writer_t *w, int kind, uint32_t extra, int spread)
{
    wlist_t *l = &w->lists[kind];
    uint32_t n = 0, at;

    for (uint32_t i = 0; i < l->len; i++)
        if (l->store[i] != LIST_HOLE)
            l->store[n++] = l->store[i];
    if (extra != LIST_HOLE) {
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (stored_order(w, kind, l->store[mid], extra) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        at = lo;
        memmove(&l->store[at + 1], &l->store[at], (n - at) * sizeof(*l->store));
        l->store[at] = extra;
        n++;
        l->live++;
    }
    l->len = n;
    if (spread && n > 0) {
        /* From the end down, so that no ref is overwritten before it moved. */
        l->len = n + (n - 1) / LIST_GAP;
        for (uint32_t i = n; i-- > 0;) {
            uint32_t to = i + i / LIST_GAP;
            l->store[to] = l->store[i];
            if (i > 0 && i % LIST_GAP == 0)
                l->store[to - 1] = LIST_HOLE;
        }
    }
    for (uint32_t i = 0; i < l->len; i++)
        if (l->store[i] != LIST_HOLE)
            l->pos[l->store[i]] = i;
    set_full(l);
}

/* The position before which `slot` goes in list `l`: every ref stored before it comes before
 * `slot`, every ref from it on after. A binary search that steps over holes. */
static uint32_t list_place(const table_writer_t *w, int kind, const wlist_t *l, uint32_t slot)
{
    uint32_t lo = 0, hi = l->len;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, m = mid;
        while (m < hi && l->store[m] == LIST_HOLE)
            m++;
        if (m == hi)
            hi = mid; /* only holes from mid to hi */
        else if (stored_order(w, kind, l->store[m], slot) <= 0)
            lo = m + 1;
        else
            hi = mid; /* holes from mid to m, then a ref that comes after `slot` */
    }
    return lo;
}

/*
 * Puts `slot` in its place: at the end for the newest job or failure; else before position
 * `at` found by list_place(), by shifting the refs between it and the nearest hole (the one a
 * moving job has just left, often) one position towards that hole. The work and the positions
 * republished are the refs shifted, not the list.
 */
static void list_insert(table_writer_t *w, int kind, uint32_t slot)
{
    wlist_t *l = &w->lists[kind];
    uint32_t at, r, g;

    if (l->len == l->room) {
        rebuild(w, kind, slot, 0);
        return;
    }
    /* The last stored position is never a hole (trailing holes are dropped). */
    if (l->len == 0 || stored_order(w, kind, l->store[l->len - 1], slot) <= 0)
        at = l->len;
    else
        at = list_place(w, kind, l, slot);
    /* The nearest hole at or after `at` (or the end), or before it. */
    for (r = at, g = at;; r++) {
        if (r == l->len || l->store[r] == LIST_HOLE)
            break;
        if (g > 0 && l->store[g - 1] == LIST_HOLE)
            break;
        if (g > 0)
            g--;
    }
    /* Shifting d refs each time a job lands far from a hole (jobs moving to the same place, to
     * the front of a dense list) would cost d per move; past sqrt(8 len) the list is rebuilt with
     * holes spread through it instead, which the next moves use: about sqrt(len) per move. */
    uint64_t d = r == l->len || l->store[r] == LIST_HOLE ? r - at : at - g;
    if (d > LIST_FAR && d * d > 8 * (uint64_t)l->len) {
        rebuild(w, kind, slot, 1);
        return;
    }
    if (r == l->len || l->store[r] == LIST_HOLE) {
        /* Positions at .. r - 1 move up one; `slot` takes `at`. */
        memmove(&l->store[at + 1], &l->store[at], (size_t)(r - at) * sizeof(*l->store));
        l->store[at] = slot;
        if (r == l->len)
            l->len++;
        for (uint32_t i = at; i <= r; i++)
            l->pos[l->store[i]] = i;
        note(l, at, r - at + 1);
    } else {
        /* Positions g .. at - 1 move down one; `slot` takes at - 1. */
        g--;
        memmove(&l->store[g], &l->store[g + 1], (size_t)(at - 1 - g) * sizeof(*l->store));
        l->store[at - 1] = slot;
        for (uint32_t i = g; i < at; i++)
            l->pos[l->store[i]] = i;
        note(l, g, at - g);
    }
    l->live++;
}

static void list_remove(table_writer_t *w, int kind, uint32_t slot)
{
    wlist_t *l = &w->lists[kind];
    uint32_t p = l->pos[slot];

    if (p == LIST_HOLE)
        return;
    l->store[p] = LIST_HOLE;
    l->pos[slot] = LIST_HOLE;
    l->live--;
    note(l, p, 1);
    /* Trailing holes are dropped: the copies' `len` says where the list ends. */
    while (l->len > 0 && l->store[l->len - 1] == LIST_HOLE)
        l->len--;
    if (l->len - l->live > LIST_SLACK && l->len - l->live > l->live)
        rebuild(w, kind, LIST_HOLE, 0);
}

uint32_t ipd_table_list_first(const ipd_table_t *t, ipd_table_list_kind_t kind, uint32_t skip)
{
    const wlist_t *l = &t->w->lists[kind];
    for (uint32_t i = 0; i < l->len; i++)
        if (l->store[i] != LIST_HOLE && l->store[i] != skip)
            return l->store[i];
    return LIST_HOLE;
}

void ipd_table_lists_publish(ipd_table_t *t, ipd_table_list_kind_t kind)
{
    table_writer_t *w = t->w;
    wlist_t *l = &w->lists[kind];
    slot_head_t *h = list_head(t, kind);

    ipd_table_latch_begin(h);
    uint64_t which = (atomic_load_explicit(&h->seq, memory_order_relaxed) + 1) & 1;
    list_copy_t *c = list_copy(t, kind, which);
    c->generation = w->gen + 1;
    if (l->full[which]) {
        for (uint32_t i = 0; i < l->len; i++) {
            uint32_t s = l->store[i];
            c->refs[i] = (ipd_table_ref_t){s, s == LIST_HOLE ? 0 : w->jobs[s].incarnation};
        }
    } else {
        for (uint32_t k = 0; k < l->nops[which]; k++) {
            list_op_t op = l->ops[which][k];
            uint32_t end = op.first + op.count < l->len ? op.first + op.count : l->len;
            for (uint32_t i = op.first; i < end; i++) {
                uint32_t s = l->store[i];
                c->refs[i] = (ipd_table_ref_t){s, s == LIST_HOLE ? 0 : w->jobs[s].incarnation};
            }
        }
    }
    c->count = l->live;
    c->len = l->len;
    l->full[which] = 0;
    l->nops[which] = 0;
    l->opsum[which] = 0;
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

    w->nfree_slots = w->nfree_ext = 0;
    for (int k = 0; k < 2; k++) {
        w->lists[k].len = w->lists[k].live = 0;
        for (uint32_t s = 0; s < t->job_cap; s++)
            w->lists[k].pos[s] = LIST_HOLE;
    }
    for (uint32_t s = t->job_cap; s-- > 0;) {
        if (!w->jobs[s].live) {
            w->free_slots[w->nfree_slots++] = s;
            continue;
        }
        if (w->jobs[s].task_count > 0)
            w->free_ext[nused++] = (extent_t){w->jobs[s].task_first, w->jobs[s].task_count};
        int kind = list_of(&w->jobs[s]);
        if (kind >= 0) {
            wlist_t *l = &w->lists[kind];
            l->store[l->len++] = s;
            l->live++;
        }
    }
    for (int k = 0; k < 2; k++) {
        wlist_t *l = &w->lists[k];
        sort_writer = w;
        sort_kind = k;
        qsort(l->store, l->len, sizeof(*l->store), by_stored_order);
        for (uint32_t i = 0; i < l->len; i++)
            l->pos[l->store[i]] = i;
        set_full(l);
    }
    /* The used extents, sorted, must not overlap; their gaps are the free extents. */
    extent_t *used = ipd_pages_alloc((size_t)nused + 1, sizeof(*used));
    if (used == NULL)
        return -ENOMEM;
    memcpy(used, w->free_ext, nused * sizeof(*used));
    qsort(used, nused, sizeof(*used), by_first);
    for (uint32_t i = 0; i < nused; i++) {
        if (used[i].first < next || (uint64_t)used[i].first + used[i].count > t->task_cap) {
            ipd_pages_free(used, (size_t)nused + 1, sizeof(*used));
            return IPD_ECORRUPT;
        }
        if (used[i].first > next)
            w->free_ext[w->nfree_ext++] = (extent_t){next, used[i].first - next};
        next = used[i].first + used[i].count;
    }
    if (next < t->task_cap)
        w->free_ext[w->nfree_ext++] = (extent_t){next, t->task_cap - next};
    ipd_pages_free(used, (size_t)nused + 1, sizeof(*used));
    return 0;
}
