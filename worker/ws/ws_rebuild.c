#include "worker/ws/ws.h"

#include <stdlib.h>

#include "proto/error.h"
#include "shared/log.h"

/* Stamps an entry with a change record read from the ring window. */
static void stamp(ipd_ws_t *ws, const ipd_ring_entry_t *r)
{
    ipd_ws_entry_t *e = ipd_ws_entry_find(ws, r->id);
    if (e != NULL && e->state == IPD_WS_LIVE) {
        e->seq = r->seq;
    } else if (r->kind == IPD_RING_JOB_DELETED && (e != NULL || (e = ipd_ws_entry_get(ws, r->id)) != NULL)) {
        e->state = IPD_WS_GONE;
        e->final = 1;
        e->seq = r->seq;
    }
}

/*
 * Reads the ring window (from, head] and stamps each job with its last change in it. Returns
 * the floor: the seq after which every change is known. If the writer laps the reader, the
 * window starts later.
 */
static uint64_t stamp_from_ring(ipd_ws_t *ws, uint64_t head)
{
    const ipd_table_t *t = ws->w->table;
    uint32_t cap = ipd_table_ring_capacity(t);
    uint64_t from = head > cap ? head - cap : 0, at = from;
    ipd_ring_entry_t recs[64];
    while (at < head) {
        size_t n = 0;
        int rc = ipd_table_ring_read(t, at, recs, sizeof(recs) / sizeof(recs[0]), &n);
        if (rc == IPD_EOVERRUN) {
            from = at = at + cap / 4 < head ? at + cap / 4 : head;
            continue;
        }
        if (rc != 0 || n == 0)
            break;
        for (size_t i = 0; i < n && recs[i].seq <= head; i++)
            stamp(ws, &recs[i]);
        at = recs[n - 1].seq;
    }
    return from;
}

static int by_seq(const void *a, const void *b)
{
    const ipd_ws_entry_t *x = *(ipd_ws_entry_t *const *)a, *y = *(ipd_ws_entry_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Forgets the change list: every entry becomes ABSENT, with no frame. */
static void forget(ipd_ws_t *ws)
{
    while (!h2o_linklist_is_empty(&ws->batch))
        h2o_linklist_unlink(ws->batch.next);
    h2o_timeout_unlink(&ws->flush_entry);
    for (size_t i = 0; i < ws->nbuckets; i++) {
        for (ipd_ws_entry_t *e = ws->buckets[i]; e != NULL; e = e->hnext) {
            ipd_ws_entry_release_frames(e);
            ipd_ws_delta_forget(e);
            ipd_ws_order_remove(e);
            ipd_ws_gone_remove(ws, e);
            e->state = IPD_WS_ABSENT;
            e->seq = 0;
            e->final = 0;
        }
    }
    ws->nlive = 0;
}

/* Orders the LIVE entries and tombstones by their last change into a new change list. */
static void reorder(ipd_ws_t *ws, uint64_t floor)
{
    ipd_ws_entry_t **v = malloc((ws->nentries + 1) * sizeof(*v));
    size_t n = 0;
    if (v == NULL) {
        ipd_error("ws", "out of memory ordering %zu jobs: WebSocket clients see no job until they change",
                  ws->nentries);
        return;
    }
    for (size_t i = 0; i < ws->nbuckets; i++) {
        for (ipd_ws_entry_t *e = ws->buckets[i]; e != NULL; e = e->hnext) {
            if (e->state == IPD_WS_LIVE && e->seq < floor)
                e->seq = floor; /* changed at or before the floor */
            if (e->state != IPD_WS_ABSENT)
                v[n++] = e;
        }
    }
    qsort(v, n, sizeof(*v), by_seq);
    for (size_t i = 0; i < n; i++) {
        ipd_ws_order_append(ws, v[i]);
        if (v[i]->state == IPD_WS_GONE)
            ipd_ws_gone_add(ws, v[i]);
    }
    free(v);
}

/*
 * After the first attach or an overrun: rebuilds the view from the catalogue (which the worker
 * just rebuilt from the table) and the ring window, then restarts every connection with a
 * resync. A job changed inside the window keeps its real seq, so a client that resumes after a
 * worker restart is still answered with changes, not a resync.
 */
static void rebuild(ipd_ws_t *ws)
{
    ipd_worker_t *w = ws->w;
    uint64_t head = w->catalog.cursor;
    ipd_table_epoch_hex(w->table, ws->epoch);
    forget(ws);
    for (uint32_t s = 0; s < w->catalog.nslots; s++) {
        ipd_ws_entry_t *e = w->catalog.ids[s][0] != '\0' ? ipd_ws_entry_get(ws, w->catalog.ids[s]) : NULL;
        if (e != NULL && e->state != IPD_WS_LIVE) {
            e->state = IPD_WS_LIVE;
            ws->nlive++;
        }
    }
    uint64_t floor = stamp_from_ring(ws, head);
    ws->gone_cap = ipd_table_job_capacity(w->table);
    reorder(ws, floor);
    ws->floor_seq = floor;
    ws->seq = head;
    ipd_ws_gone_trim(ws);
    for (size_t i = 0; i < ws->nbuckets; i++) {
        for (ipd_ws_entry_t *e = ws->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            ipd_ws_entry_maybe_free(ws, e);
        }
    }
    for (h2o_linklist_t *l = ws->conns.next, *next; l != &ws->conns; l = next) {
        next = l->next; /* a connection whose queue overflows moves to the dead list */
        ipd_ws_sub_resync(H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, link, l));
    }
    ipd_info("ws", "job view rebuilt: %zu jobs, %zu tombstones, resumable from seq %llu to %llu", ws->nlive, ws->ngone,
             (unsigned long long)ws->floor_seq, (unsigned long long)ws->seq);
}

void ipd_ws_on_resync(ipd_worker_t *w, void *data)
{
    ipd_ws_t *ws = data;
    rebuild(ws);
    /* Each connection writes its resync message and snapshots on the next turn. */
    ws->rebuilt = 1;
    if (!h2o_timeout_is_linked(&ws->flush_entry))
        h2o_timeout_link(w->loop, &w->ctx.zero_timeout, &ws->flush_entry);
}
