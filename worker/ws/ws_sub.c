#include "worker/ws/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SUB_OF(node, member) H2O_STRUCT_FROM_MEMBER(ipd_ws_sub_t, member, node)

/* Index of the first subscription whose entry is not below `e`; *found when it is `e`. */
static uint32_t sub_index(const ipd_ws_conn_t *c, const ipd_ws_entry_t *e, int *found)
{
    uint32_t lo = 0, hi = c->nsubs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)c->subs[mid]->entry < (uintptr_t)e)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->nsubs && c->subs[lo]->entry == e;
    return lo;
}

int ipd_ws_sub_has(ipd_ws_conn_t *c, const char *id)
{
    ipd_ws_entry_t *e = ipd_ws_entry_find(c->ws, id);
    int found = 0;
    if (e != NULL)
        sub_index(c, e, &found);
    return found;
}

void ipd_ws_sub_touch(ipd_ws_sub_t *sub)
{
    ipd_ws_conn_t *c = sub->conn;
    if (h2o_linklist_is_linked(&sub->dirty)) {
        h2o_linklist_unlink(&sub->dirty);
        if (!sub->snap) {
            ipd_ws_count(c->ws, IPD_STATS_WS_COALESCED, 1);
            sub->full = 1; /* the state a delta would apply to was never sent */
        }
    }
    h2o_linklist_insert(&c->dirty, &sub->dirty);
    if (!h2o_linklist_is_linked(&c->kick))
        h2o_linklist_insert(&c->ws->kick, &c->kick);
}

/* What a new or resynced subscription owes: a snapshot, or with a resume point the changes after it. */
static void owe_initial(ipd_ws_sub_t *sub, int since_ok)
{
    ipd_ws_conn_t *c = sub->conn;
    ipd_ws_entry_t *e = sub->entry;
    sub->snap = !since_ok;
    sub->full = 1; /* what the client holds is a snapshot to come, or unknown after a resume */
    if (since_ok) {
        if (e->state != IPD_WS_ABSENT && e->seq > c->since)
            ipd_ws_sub_touch(sub);
    } else if (e->state == IPD_WS_LIVE || (e->state == IPD_WS_GONE && c->kind == IPD_WS_KIND_JOB)) {
        ipd_ws_sub_touch(sub);
    }
}

int ipd_ws_sub_add(ipd_ws_conn_t *c, const char *id, int since_ok)
{
    ipd_ws_entry_t *e = ipd_ws_entry_get(c->ws, id);
    int found;
    if (e == NULL)
        return -ENOMEM;
    uint32_t i = sub_index(c, e, &found);
    if (found)
        return 0;
    if (c->nsubs == c->subs_cap) {
        uint32_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
        ipd_ws_sub_t **p = realloc(c->subs, cap * sizeof(*p));
        if (p == NULL)
            goto fail;
        c->subs = p;
        c->subs_cap = cap;
    }
    ipd_ws_sub_t *sub = calloc(1, sizeof(*sub));
    if (sub == NULL)
        goto fail;
    sub->entry = e;
    sub->conn = c;
    h2o_linklist_insert(&e->subs, &sub->by_entry);
    e->nsubs++;
    e->ndelta += c->task_deltas;
    memmove(&c->subs[i + 1], &c->subs[i], (c->nsubs - i) * sizeof(*c->subs));
    c->subs[i] = sub;
    c->nsubs++;
    c->ws->total_subs++;
    ipd_ws_count(c->ws, IPD_STATS_WS_SUBSCRIPTIONS, 1);
    owe_initial(sub, since_ok);
    return 1;
fail:
    ipd_ws_entry_maybe_free(c->ws, e);
    return -ENOMEM;
}

static void sub_free(ipd_ws_conn_t *c, ipd_ws_sub_t *sub)
{
    ipd_ws_entry_t *e = sub->entry;
    h2o_linklist_unlink(&sub->by_entry);
    e->nsubs--;
    e->ndelta -= c->task_deltas;
    if (h2o_linklist_is_linked(&sub->dirty))
        h2o_linklist_unlink(&sub->dirty);
    free(sub);
    c->ws->total_subs--;
    ipd_ws_count(c->ws, IPD_STATS_WS_SUBSCRIPTIONS, -1);
    ipd_ws_entry_maybe_free(c->ws, e);
}

int ipd_ws_sub_remove(ipd_ws_conn_t *c, const char *id)
{
    ipd_ws_entry_t *e = ipd_ws_entry_find(c->ws, id);
    int found = 0;
    if (e == NULL)
        return 0;
    uint32_t i = sub_index(c, e, &found);
    if (!found)
        return 0;
    ipd_ws_sub_t *sub = c->subs[i];
    memmove(&c->subs[i], &c->subs[i + 1], (c->nsubs - i - 1) * sizeof(*c->subs));
    c->nsubs--;
    sub_free(c, sub);
    return 1;
}

void ipd_ws_sub_unpin(ipd_ws_conn_t *c)
{
    ipd_ws_entry_t *e = c->pos;
    if (e == NULL)
        return;
    c->pos = NULL;
    e->pins--;
    ipd_ws_entry_maybe_free(c->ws, e);
}

static void pin(ipd_ws_conn_t *c, ipd_ws_entry_t *e)
{
    c->pos = e;
    c->pos_ord = e->ord;
    e->pins++;
}

/* Drops the explicit subscriptions (not the all-jobs mode). */
static void clear_set(ipd_ws_conn_t *c)
{
    for (uint32_t i = 0; i < c->nsubs; i++)
        sub_free(c, c->subs[i]);
    free(c->subs);
    c->subs = NULL;
    c->nsubs = c->subs_cap = 0;
}

void ipd_ws_sub_clear(ipd_ws_conn_t *c)
{
    clear_set(c);
    if (c->all) {
        h2o_linklist_unlink(&c->all_link);
        c->all = 0;
        ipd_ws_count(c->ws, IPD_STATS_WS_SUBSCRIPTIONS, -1);
    }
    ipd_ws_sub_unpin(c);
}

void ipd_ws_sub_all(ipd_ws_conn_t *c, int since_ok)
{
    ipd_ws_t *ws = c->ws;
    clear_set(c);
    ipd_ws_sub_unpin(c);
    if (!c->all) {
        h2o_linklist_insert(&ws->all_conns, &c->all_link);
        c->all = 1;
        ipd_ws_count(ws, IPD_STATS_WS_SUBSCRIPTIONS, 1);
    }
    if (since_ok) {
        c->next_ord = ipd_ws_ord_after_seq(ws, c->since);
        c->snap_until_ord = 0;
    } else {
        c->next_ord = 0;
        c->snap_until_ord = ws->ord_clock;
    }
}

void ipd_ws_sub_resync(ipd_ws_conn_t *c)
{
    ipd_ws_t *ws = c->ws;
    ipd_ws_count(ws, IPD_STATS_WS_RESYNCS, 1);
    ipd_ws_conn_send(c, ipd_ws_msg_resync());
    c->since_set = 0;
    if (c->all) {
        ipd_ws_sub_unpin(c);
        c->next_ord = 0;
        c->snap_until_ord = ws->ord_clock;
    }
    for (uint32_t i = 0; i < c->nsubs; i++) {
        ipd_ws_sub_t *sub = c->subs[i];
        if (h2o_linklist_is_linked(&sub->dirty))
            h2o_linklist_unlink(&sub->dirty);
        owe_initial(sub, 0);
        /* The one job of /ws/image-pull/{id} is no longer known: there is nothing left to watch. */
        if (c->kind == IPD_WS_KIND_JOB && sub->entry->state == IPD_WS_ABSENT)
            c->close_code = 1000;
    }
    if (!h2o_linklist_is_linked(&c->kick))
        h2o_linklist_insert(&ws->kick, &c->kick);
}

int ipd_ws_since_ok(ipd_ws_conn_t *c)
{
    return c->since_set && c->since >= c->ws->floor_seq && c->since <= c->ws->seq;
}

static void push(ipd_ws_conn_t *c, ipd_ws_msg_t *m, size_t *bytes)
{
    c->inflight[c->ninflight++] = ipd_ws_msg_ref(m);
    *bytes += m->len;
}

static void collect_dirty(ipd_ws_conn_t *c, size_t *bytes)
{
    ipd_ws_t *ws = c->ws;
    while (!h2o_linklist_is_empty(&c->dirty) && c->ninflight < IPD_WS_BATCH && *bytes < ws->max_outbound) {
        ipd_ws_sub_t *sub = SUB_OF(c->dirty.next, dirty);
        ipd_ws_entry_t *e = sub->entry;
        h2o_linklist_unlink(&sub->dirty);
        /* /ws/image-pull/{id} learns of a deletion even before its first snapshot. */
        int snapshot = sub->snap && !(e->state == IPD_WS_GONE && c->kind == IPD_WS_KIND_JOB);
        ipd_ws_msg_t *m = c->task_deltas && !snapshot && !sub->full && e->state == IPD_WS_LIVE ? e->delta : NULL;
        if (m == NULL)
            m = ipd_ws_entry_frame(ws, e, snapshot);
        if (m == NULL)
            continue;
        sub->snap = sub->full = 0;
        push(c, m, bytes);
        if (c->kind == IPD_WS_KIND_JOB && e->final) {
            c->close_code = 1000;
            return;
        }
    }
}

static void collect_all(ipd_ws_conn_t *c, size_t *bytes)
{
    ipd_ws_t *ws = c->ws;
    /* A deletion this connection still owed was forgotten: it can only start over. */
    if (ws->evicted_ord >= c->next_ord && ws->evicted_ord > c->snap_until_ord) {
        ipd_ws_sub_resync(c);
        return;
    }
    ipd_ws_entry_t *e = c->pos != NULL && c->pos->ord == c->pos_ord ? c->pos : ipd_ws_entry_from_ord(ws, c->next_ord);
    ipd_ws_sub_unpin(c);
    while (e != NULL && c->ninflight < IPD_WS_BATCH && *bytes < ws->max_outbound) {
        int snapshot = e->ord <= c->snap_until_ord;
        ipd_ws_msg_t *m = snapshot && e->state != IPD_WS_LIVE ? NULL : ipd_ws_entry_frame(ws, e, snapshot);
        c->next_ord = e->ord + 1;
        if (m != NULL)
            push(c, m, bytes);
        e = ipd_ws_entry_next(ws, e);
    }
    if (e != NULL)
        pin(c, e);
}

void ipd_ws_sub_collect(ipd_ws_conn_t *c, size_t *bytes)
{
    if (c->all)
        collect_all(c, bytes);
    else
        collect_dirty(c, bytes);
}
