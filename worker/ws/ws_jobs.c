#include "worker/ws/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json.h"
#include "shared/log.h"

#define ENTRY_OF(node, member) H2O_STRUCT_FROM_MEMBER(ipd_ws_entry_t, member, node)

static uint64_t hash_id(const char *id)
{
    return ipd_table_hash64(id, strnlen(id, IPD_JOB_ID_SIZE), 0);
}

ipd_ws_entry_t *ipd_ws_entry_find(ipd_ws_t *ws, const char *id)
{
    if (ws->nbuckets == 0)
        return NULL;
    uint64_t h = hash_id(id);
    for (ipd_ws_entry_t *e = ws->buckets[h & (ws->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && strncmp(e->id, id, IPD_JOB_ID_SIZE) == 0)
            return e;
    return NULL;
}

/* Doubles the bucket array; on failure the table keeps working with longer chains. */
static void grow_buckets(ipd_ws_t *ws)
{
    size_t n = ws->nbuckets != 0 ? ws->nbuckets * 2 : IPD_WS_BUCKETS_MIN;
    ipd_ws_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < ws->nbuckets; i++) {
        for (ipd_ws_entry_t *e = ws->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(ws->buckets);
    ws->buckets = b;
    ws->nbuckets = n;
}

ipd_ws_entry_t *ipd_ws_entry_get(ipd_ws_t *ws, const char *id)
{
    ipd_ws_entry_t *e = ipd_ws_entry_find(ws, id);
    if (e != NULL)
        return e;
    if (ws->nentries >= ws->nbuckets)
        grow_buckets(ws);
    if (ws->nbuckets == 0 || (e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    strncpy(e->id, id, IPD_JOB_ID_SIZE - 1);
    e->hash = hash_id(e->id);
    h2o_linklist_init_anchor(&e->subs);
    e->hnext = ws->buckets[e->hash & (ws->nbuckets - 1)];
    ws->buckets[e->hash & (ws->nbuckets - 1)] = e;
    ws->nentries++;
    return e;
}

void ipd_ws_entry_release_frames(ipd_ws_entry_t *e)
{
    ipd_ws_msg_release(e->update);
    ipd_ws_msg_release(e->snapshot);
    ipd_ws_msg_release(e->delta);
    e->update = e->snapshot = e->delta = NULL;
    e->version = 0;
}

void ipd_ws_entry_maybe_free(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    if (e->state == IPD_WS_LIVE || h2o_linklist_is_linked(&e->order) || h2o_linklist_is_linked(&e->batch) ||
        !h2o_linklist_is_empty(&e->subs) || e->pins != 0)
        return;
    ipd_ws_entry_t **pp = &ws->buckets[e->hash & (ws->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    ws->nentries--;
    ipd_ws_entry_release_frames(e);
    free(e->dtasks);
    free(e);
}

/* Moves `e` to the tail of the change list with a new ord. */
void ipd_ws_order_append(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    if (h2o_linklist_is_linked(&e->order))
        h2o_linklist_unlink(&e->order);
    e->ord = ++ws->ord_clock;
    h2o_linklist_insert(&ws->order, &e->order);
}

void ipd_ws_order_remove(ipd_ws_entry_t *e)
{
    if (h2o_linklist_is_linked(&e->order))
        h2o_linklist_unlink(&e->order);
    e->ord = 0;
}

void ipd_ws_gone_remove(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    if (!h2o_linklist_is_linked(&e->gone))
        return;
    h2o_linklist_unlink(&e->gone);
    ws->ngone--;
}

/*
 * Keeps at most gone_cap tombstones. Dropping one raises the floor: a client resuming from
 * before it could have missed that deletion, so it gets a resync instead.
 */
void ipd_ws_gone_trim(ipd_ws_t *ws)
{
    while (ws->ngone > ws->gone_cap) {
        ipd_ws_entry_t *e = ENTRY_OF(ws->gone.next, gone);
        ipd_ws_gone_remove(ws, e);
        if (e->seq > ws->floor_seq)
            ws->floor_seq = e->seq;
        if (e->ord > ws->evicted_ord)
            ws->evicted_ord = e->ord;
        ipd_ws_order_remove(e);
        ipd_ws_entry_maybe_free(ws, e);
    }
}

void ipd_ws_gone_add(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    ipd_ws_gone_remove(ws, e);
    h2o_linklist_insert(&ws->gone, &e->gone);
    ws->ngone++;
}

/* Reads job `id` once into `view` (the worker's buffers, valid until its next read). */
static int read_view(ipd_ws_t *ws, const char *id, ipd_table_job_view_t *view)
{
    if (ws->w->table == NULL)
        return IPD_ESTATE;
    return ipd_worker_read_job(ws->w, id, (ipd_table_ref_t){0, 0}, view);
}

/* Frames the job of `view` as an update at `seq`: *out (one reference) and *job_off. 0 or an error. */
static int frame_update(ipd_ws_t *ws, const ipd_table_job_view_t *view, uint64_t seq, ipd_ws_msg_t **out,
                        uint32_t *job_off)
{
    ipd_buf_t enc;
    int rc = 0;
    ipd_buf_init(&enc);
    const char *json = view->json;
    size_t len = view->json_len;
    if (!view->has_json || len == 0) {
        if ((rc = ipd_json_encode_job(&enc, view->job, view->tasks, view->ntasks)) != 0)
            return rc;
        json = enc.data;
        len = enc.len;
    }
    *out = ipd_ws_msg_job("update", ws->epoch, seq, json, len, job_off);
    ipd_buf_dispose(&enc);
    return *out != NULL ? 0 : -ENOMEM;
}

ipd_ws_msg_t *ipd_ws_entry_frame(ipd_ws_t *ws, ipd_ws_entry_t *e, int snapshot)
{
    if (e->state == IPD_WS_ABSENT || (e->state == IPD_WS_GONE && snapshot))
        return NULL;
    if (e->state == IPD_WS_GONE) {
        if (e->update == NULL)
            e->update = ipd_ws_msg_deleted(e->id, ws->epoch, e->seq);
        return e->update;
    }
    if (e->update == NULL) {
        ipd_table_job_view_t view;
        if (read_view(ws, e->id, &view) != 0 || frame_update(ws, &view, e->seq, &e->update, &e->job_off) != 0)
            return NULL;
        e->final = view.job->state >= IPD_JOB_SUCCEEDED;
        /* A delta chain keeps its base version: this later read lies within the next delta's range. */
        if (e->version == 0) {
            e->version = view.job->version;
            e->ntasks = (uint32_t)view.ntasks;
        }
    }
    if (!snapshot)
        return e->update;
    if (e->snapshot == NULL) {
        uint32_t off;
        e->snapshot = ipd_ws_msg_job("snapshot", ws->epoch, e->seq, e->update->data + e->job_off,
                                     e->update->len - e->job_off - 1, &off);
    }
    return e->snapshot;
}

ipd_ws_entry_t *ipd_ws_entry_next(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    return e->order.next == &ws->order ? NULL : ENTRY_OF(e->order.next, order);
}

ipd_ws_entry_t *ipd_ws_entry_from_ord(ipd_ws_t *ws, uint64_t ord)
{
    if (h2o_linklist_is_empty(&ws->order))
        return NULL;
    ipd_ws_entry_t *e = ENTRY_OF(ws->order.next, order);
    if (e->ord >= ord)
        return e;
    e = ENTRY_OF(ws->order.prev, order);
    if (e->ord < ord)
        return NULL;
    /* Owed entries sit at the tail: walk back over them only. */
    while (e->order.prev != &ws->order && ENTRY_OF(e->order.prev, order)->ord >= ord)
        e = ENTRY_OF(e->order.prev, order);
    return e;
}

uint64_t ipd_ws_ord_after_seq(ipd_ws_t *ws, uint64_t seq)
{
    uint64_t ord = ws->ord_clock + 1;
    for (h2o_linklist_t *n = ws->order.prev; n != &ws->order && ENTRY_OF(n, order)->seq > seq; n = n->prev)
        ord = ENTRY_OF(n, order)->ord;
    return ord;
}

/* Applies the last waiting change record of `e`. Returns 0, or -1 when it was left for later. */
static int apply(ipd_ws_t *ws, ipd_ws_entry_t *e)
{
    if (e->pending_kind == IPD_RING_JOB_UPSERTED) {
        ipd_table_job_view_t view;
        ipd_ws_msg_t *m = NULL;
        uint32_t off = 0;
        uint64_t from = e->version;
        uint32_t from_ntasks = e->ntasks;
        /* One read per change, only when some connection may want it; the whole-job frame only
         * when a connection takes whole jobs (a delta watch that needs one builds it later). */
        int whole = e->nsubs > e->ndelta || !h2o_linklist_is_empty(&ws->all_conns), rc = IPD_ESTATE;
        if (whole || e->ndelta != 0) {
            rc = read_view(ws, e->id, &view);
            if (rc == IPD_ENOTFOUND)
                return -1; /* gone again already: its deletion record follows */
            if (rc == 0 && whole)
                rc = frame_update(ws, &view, e->pending_seq, &m, &off);
        }
        ipd_ws_entry_release_frames(e);
        e->final = 0;
        if (rc == 0) {
            e->version = view.job->version;
            e->ntasks = (uint32_t)view.ntasks;
            e->final = view.job->state >= IPD_JOB_SUCCEEDED;
            /* One "tasks" frame per change for every delta subscription, from the same read. */
            if (e->ndelta != 0)
                ipd_ws_delta_build(ws, e, &view, e->pending_seq, from, from_ntasks);
        }
        ipd_ws_delta_forget(e);
        e->update = m;
        e->job_off = off;
        if (e->state != IPD_WS_LIVE)
            ws->nlive++;
        e->state = IPD_WS_LIVE;
        ipd_ws_gone_remove(ws, e);
    } else {
        ipd_ws_entry_release_frames(e);
        ipd_ws_delta_forget(e);
        if (e->state == IPD_WS_LIVE)
            ws->nlive--;
        e->state = IPD_WS_GONE;
        e->final = 1;
        ipd_ws_gone_add(ws, e);
    }
    e->seq = e->pending_seq;
    ipd_ws_order_append(ws, e);
    return 0;
}

/* Remembers the previous ord of an entry this batch moved (for the coalescing count). */
static void note_moved(ipd_ws_t *ws, size_t *n, uint64_t old_ord)
{
    if (old_ord == 0)
        return;
    if (*n == ws->moved_cap) {
        size_t cap = ws->moved_cap ? ws->moved_cap * 2 : 64;
        uint64_t *p = realloc(ws->moved, cap * sizeof(*p));
        if (p == NULL)
            return;
        ws->moved = p;
        ws->moved_cap = cap;
    }
    ws->moved[(*n)++] = old_ord;
}

/*
 * An all-jobs connection still writing when a batch arrives is behind: each entry of the batch
 * whose previous state it had not been sent yet is an update folded into the new one. Idle
 * connections (the common case) cost nothing here.
 */
static void count_coalesced(ipd_ws_t *ws, ipd_ws_conn_t *c, size_t nmoved)
{
    if (nmoved == 0 || !c->upgraded || c->sock == NULL || !h2o_socket_is_writing(c->sock))
        return;
    int64_t n = 0;
    for (size_t i = 0; i < nmoved; i++)
        n += ws->moved[i] >= c->next_ord && ws->moved[i] > c->snap_until_ord;
    if (n != 0)
        ipd_ws_count(ws, IPD_STATS_WS_COALESCED, n);
}

void ipd_ws_flush(ipd_ws_t *ws)
{
    int changed = !h2o_linklist_is_empty(&ws->batch) || ws->rebuilt;
    h2o_timeout_unlink(&ws->flush_entry);
    ws->rebuilt = 0;
    size_t nmoved = 0;
    while (!h2o_linklist_is_empty(&ws->batch)) {
        ipd_ws_entry_t *e = ENTRY_OF(ws->batch.next, batch);
        h2o_linklist_unlink(&e->batch);
        uint64_t old_ord = e->ord;
        if (e->pending_seq > ws->seq)
            ws->seq = e->pending_seq;
        if (apply(ws, e) != 0)
            continue;
        for (h2o_linklist_t *l = e->subs.next; l != &e->subs; l = l->next)
            ipd_ws_sub_touch(H2O_STRUCT_FROM_MEMBER(ipd_ws_sub_t, by_entry, l));
        note_moved(ws, &nmoved, old_ord);
    }
    ipd_ws_gone_trim(ws);
    /* Each touched connection writes once, with as many of the new frames as its batch takes. */
    while (!h2o_linklist_is_empty(&ws->kick)) {
        ipd_ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, kick, ws->kick.next);
        h2o_linklist_unlink(&c->kick);
        ipd_ws_conn_pump(c);
    }
    for (h2o_linklist_t *l = ws->all_conns.next, *next; changed && l != &ws->all_conns; l = next) {
        ipd_ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, all_link, l);
        next = l->next;
        count_coalesced(ws, c, nmoved);
        ipd_ws_conn_pump(c);
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    ipd_ws_flush(H2O_STRUCT_FROM_MEMBER(ipd_ws_t, flush_entry, entry));
}

static void on_change(ipd_worker_t *w, const ipd_ring_entry_t *rec, void *data)
{
    ipd_ws_t *ws = data;
    ipd_ws_entry_t *e = ipd_ws_entry_get(ws, rec->id);
    if (e == NULL) {
        ipd_error("ws", "out of memory tracking job %s: its watchers miss this change", rec->id);
        return;
    }
    e->pending_seq = rec->seq;
    e->pending_kind = rec->kind;
    if (e->ndelta != 0)
        ipd_ws_delta_note(e, rec);
    if (h2o_linklist_is_linked(&e->batch))
        h2o_linklist_unlink(&e->batch);
    h2o_linklist_insert(&ws->batch, &e->batch);
    if (!h2o_timeout_is_linked(&ws->flush_entry))
        h2o_timeout_link(w->loop, &w->ctx.zero_timeout, &ws->flush_entry);
}

int ipd_ws_jobs_start(ipd_ws_t *ws)
{
    h2o_linklist_init_anchor(&ws->order);
    h2o_linklist_init_anchor(&ws->batch);
    h2o_linklist_init_anchor(&ws->gone);
    ws->flush_entry.cb = on_flush;
    grow_buckets(ws);
    ipd_worker_observer_t o = {.on_change = on_change, .on_resync = ipd_ws_on_resync, .data = ws};
    if (ws->nbuckets == 0 || ipd_worker_observe(ws->w, &o) != 0)
        return -1;
    return 0;
}

void ipd_ws_jobs_stop(ipd_ws_t *ws)
{
    h2o_timeout_unlink(&ws->flush_entry);
    for (size_t i = 0; i < ws->nbuckets; i++) {
        for (ipd_ws_entry_t *e = ws->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            ipd_ws_entry_release_frames(e);
            free(e->dtasks);
            free(e);
        }
    }
    free(ws->buckets);
    free(ws->moved);
    ws->buckets = NULL;
    ws->moved = NULL;
    ws->nbuckets = ws->nentries = ws->moved_cap = 0;
}
