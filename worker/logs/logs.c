/* The log-stream module of a worker: its list of streams, admission, drain, tear-down. */
#include "worker/logs/logs.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "shared/log.h"
#include "worker/http/http.h"

struct ipd_logs {
    ipd_worker_t *w;
    h2o_linklist_t streams; /**< ipd_logs_stream_t.link */
    size_t count;
    int draining;
};

int ipd_logs_init(ipd_worker_t *w)
{
    ipd_logs_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->w = w;
    h2o_linklist_init_anchor(&m->streams);
    w->logs = m;
    return 0;
}

/* Streams open on every worker, this one's included: the gauge summed over the stats segment. */
static int64_t total_streams(ipd_worker_t *w)
{
    ipd_stats_totals_t t;
    if (w->stats_seg == NULL)
        return (int64_t)w->logs->count + 1;
    ipd_stats_aggregate(w->stats_seg, &t);
    return (int64_t)t.c[IPD_STATS_LOG_STREAMS];
}

ipd_logs_stream_t *ipd_logs_stream_create(ipd_worker_t *w, const ipd_logs_query_t *q, int *status, const char **why)
{
    ipd_logs_t *m = w->logs;
    *status = 503;
    if (m->draining || w->draining) {
        *why = "this worker is draining; reconnect";
        return NULL;
    }
    if (m->count >= (size_t)w->cfg->logs_max_streams_per_worker) {
        *why = "too many log streams on this worker (logs_max_streams_per_worker)";
        return NULL;
    }
    /*
     * Count this stream before reading the total. Two workers admitting at the same moment then
     * each see the other's increment (the fence orders our add before our loads, and theirs
     * likewise), so the total never goes over logs_max_streams; at worst both refuse.
     */
    ipd_stats_gauge(w->stats, IPD_STATS_LOG_STREAMS, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (total_streams(w) > (int64_t)w->cfg->logs_max_streams) {
        ipd_stats_gauge(w->stats, IPD_STATS_LOG_STREAMS, -1);
        *why = "too many log streams on this server (logs_max_streams)";
        return NULL;
    }
    ipd_logs_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL || ipd_logs_framer_init(&s->framer, w->cfg->logs_frame_size) != 0) {
        free(s);
        ipd_stats_gauge(w->stats, IPD_STATS_LOG_STREAMS, -1);
        *status = 500;
        *why = "out of memory";
        return NULL;
    }
    s->mod = m;
    s->w = w;
    ipd_buf_init(&s->out);
    s->q = *q;
    h2o_linklist_insert(&m->streams, &s->link);
    m->count++;
    return s;
}

static void unlink_entry(h2o_timeout_entry_t *e)
{
    if (h2o_timeout_is_linked(e))
        h2o_timeout_unlink(e);
}

void ipd_logs_stream_destroy(ipd_logs_stream_t *s)
{
    ipd_worker_t *w = s->w;
    ipd_kube_cancel(s->kreq);
    s->kreq = NULL;
    ipd_logs_early_dispose(s);
    unlink_entry(&s->flush_entry);
    unlink_entry(&s->short_entry);
    unlink_entry(&s->tick_entry);
    if (s->anchor != NULL)
        s->anchor->stream = NULL;
    if (s->ws != NULL) {
        s->ws->data = NULL;
        ipd_stats_gauge(w->stats, IPD_STATS_WS_OPEN, -1);
    }
    ipd_logs_framer_dispose(&s->framer);
    ipd_buf_dispose(&s->out);
    h2o_linklist_unlink(&s->link);
    s->mod->count--;
    ipd_stats_gauge(w->stats, IPD_STATS_LOG_STREAMS, -1);
    free(s);
}

void ipd_logs_count_error(ipd_logs_stream_t *s)
{
    ipd_stats_add(s->w->stats, IPD_STATS_LOG_ERRORS, 1);
}

static ipd_logs_stream_t *first_of(h2o_linklist_t *node)
{
    return H2O_STRUCT_FROM_MEMBER(ipd_logs_stream_t, link, node);
}

void ipd_logs_drain(ipd_worker_t *w)
{
    ipd_logs_t *m = w->logs;
    if (m == NULL || m->draining)
        return;
    m->draining = 1;
    /* Nothing below frees a stream synchronously but the 503 answers, hence `next` first. */
    for (h2o_linklist_t *n = m->streams.next, *next; n != &m->streams; n = next) {
        next = n->next;
        ipd_logs_stream_t *s = first_of(n);
        if (s->req != NULL) {
            h2o_req_t *req = s->req;
            ipd_logs_stream_destroy(s);
            ipd_worker_send_error(req, 503, "this worker is draining; reconnect");
        } else if (s->phase != IPD_LOGS_CLOSING) {
            ipd_logs_ws_end(s, "server_shutdown", IPD_LOGS_CLOSE_GOING_AWAY);
        }
    }
}

void ipd_logs_dispose(ipd_worker_t *w)
{
    ipd_logs_t *m = w->logs;
    if (m == NULL)
        return;
    while (!h2o_linklist_is_empty(&m->streams)) {
        ipd_logs_stream_t *s = first_of(m->streams.next);
        if (s->ws != NULL)
            ipd_logs_ws_abort(s);
        else
            ipd_logs_stream_destroy(s);
    }
    if (m->count != 0)
        ipd_warn("logs", "%zu log streams unaccounted for at tear-down", m->count);
    free(m);
    w->logs = NULL;
}
