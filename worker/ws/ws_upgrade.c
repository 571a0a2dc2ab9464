#include "worker/ws/ws.h"

#include <ctype.h>
#include <h2o/websocket.h> /* h2o_is_websocket_handshake() */
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

/* A resume point from the query: since=<16 hex digits of the epoch>:<seq>. */
typedef struct since {
    int given;
    char epoch[IPD_TABLE_EPOCH_HEX_SIZE];
    uint64_t seq;
} since_t;

/* Parses the `since` value (still percent-encoded). Returns 0 or -1. */
static int parse_since(const char *s, size_t len, since_t *out)
{
    char buf[64];
    int n = ipd_http_percent_decode(s, len, buf, sizeof(buf));
    if (n < 16 + 2 || n > 16 + 1 + 20 || buf[16] != ':')
        return -1;
    for (int i = 0; i < 16; i++) {
        if (!isxdigit((unsigned char)buf[i]))
            return -1;
        out->epoch[i] = (char)tolower((unsigned char)buf[i]);
    }
    out->epoch[16] = '\0';
    uint64_t seq = 0;
    for (int i = 17; i < n; i++) {
        if (buf[i] < '0' || buf[i] > '9' || seq > (UINT64_MAX - 9) / 10)
            return -1;
        seq = seq * 10 + (uint64_t)(buf[i] - '0');
    }
    out->seq = seq;
    out->given = 1;
    return 0;
}

/* The query of a job watch: `access_token` is taken by the router. */
typedef struct query {
    since_t since;
    int task_deltas; /* updates=tasks */
} query_t;

/* Parses `updates` (still percent-encoded): `job` (the default) or `tasks`. Returns 0 or -1. */
static int parse_updates(const char *s, size_t len, int *task_deltas)
{
    char buf[8];
    int n = ipd_http_percent_decode(s, len, buf, sizeof(buf));
    if (n == 3 && memcmp(buf, "job", 3) == 0)
        *task_deltas = 0;
    else if (n == 5 && memcmp(buf, "tasks", 5) == 0)
        *task_deltas = 1;
    else
        return -1;
    return 0;
}

/* Reads and validates the query; answers 400 and returns -1 on a bad value. */
static int parse_query(h2o_req_t *req, int job_watch, query_t *out)
{
    h2o_iovec_t q = ipd_worker_query(req);
    ipd_http_param_t p;
    size_t pos = 0;
    memset(out, 0, sizeof(*out));
    while (ipd_http_query_next(q.base, q.len, &pos, &p)) {
        if (h2o_memis(p.name, p.name_len, H2O_STRLIT("since")) && parse_since(p.value, p.value_len, &out->since) != 0) {
            ipd_worker_send_error(req, 400, "since must be <epoch>:<seq>, as the epoch and seq of a message");
            return -1;
        }
        if (h2o_memis(p.name, p.name_len, H2O_STRLIT("updates")) &&
            parse_updates(p.value, p.value_len, &out->task_deltas) != 0) {
            ipd_worker_send_error(req, 400, "updates must be job or tasks");
            return -1;
        }
    }
    if (out->task_deltas && !job_watch) {
        ipd_worker_send_error(req, 400, "updates=tasks is offered on /ws/image-pull/{id} only");
        return -1;
    }
    return 0;
}

/* Answers the checks that come before an upgrade. Returns the client key, or NULL when answered. */
static const char *check_handshake(ipd_worker_t *w, h2o_req_t *req, int job_watch, query_t *query)
{
    const char *key = NULL;
    if (req->version >= 0x200) {
        ipd_worker_send_error(req, 400, "WebSocket needs HTTP/1.1: WebSocket over HTTP/2 is not supported");
        return NULL;
    }
    if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL) {
        ipd_worker_send_error(req, 400, "this endpoint takes a WebSocket upgrade (GET with Upgrade: websocket)");
        return NULL;
    }
    if (parse_query(req, job_watch, query) != 0)
        return NULL;
    if (w->draining) {
        ipd_worker_send_error(req, 503, "this worker is shutting down; connect again");
        return NULL;
    }
    if (ipd_worker_table(w) == NULL || w->ws->epoch[0] == '\0') {
        ipd_worker_send_error(req, 503, "the job table is not attached yet");
        return NULL;
    }
    if (w->ws->nconns >= (size_t)w->cfg->ws_max_connections) {
        ipd_ws_count(w->ws, IPD_STATS_WS_REFUSED, 1);
        ipd_worker_send_error(req, 503, "this worker holds ws_max_connections WebSocket connections; retry later");
        return NULL;
    }
    return key;
}

/* Whether /ws/image-pull/{id} has something to follow: the job exists, or its deletion is owed. */
static int job_known(ipd_worker_t *w, const char *id, int since_ok, uint64_t since)
{
    ipd_ws_entry_t *e = ipd_ws_entry_find(w->ws, id);
    ipd_table_job_view_t view;
    if (e != NULL && (e->state == IPD_WS_LIVE || (since_ok && e->state == IPD_WS_GONE && e->seq > since)))
        return 1;
    return ipd_worker_read_job(w, id, (ipd_table_ref_t){0, 0}, &view) == 0;
}

void ipd_ws_serve(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    ipd_ws_t *ws = w->ws;
    query_t query;
    const char *key = check_handshake(w, req, id != NULL, &query);
    if (key == NULL)
        return;
    const since_t since = query.since;
    /* Bring the worker's view up to the table before answering from it. */
    ipd_worker_ring_poll(w);
    ipd_ws_flush(ws);
    int since_set = since.given && strcmp(since.epoch, ws->epoch) == 0;
    int since_ok = since_set && since.seq >= ws->floor_seq && since.seq <= ws->seq;
    if (id != NULL && !job_known(w, id, since_ok, since.seq)) {
        ipd_worker_send_error(req, 404, "no pull job with this id");
        return;
    }
    /* The subprotocol that carried the token (auth.h) is echoed, as browsers require. */
    const char *proto = NULL;
    size_t protolen = 0;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), -1);
    if (i >= 0 && ipd_http_ws_protocol_select(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
                                              &proto, &protolen) != 0)
        proto = NULL;
    ipd_ws_conn_t *c =
        ipd_ws_conn_upgrade(ws, req, key, id != NULL ? IPD_WS_KIND_JOB : IPD_WS_KIND_ALL, proto, protolen);
    if (c == NULL) {
        ipd_worker_send_error(req, 503, "out of memory");
        return;
    }
    c->since = since.seq;
    c->since_set = (unsigned)since_ok;
    c->task_deltas = (unsigned)query.task_deltas;
    if (since.given && !since_ok)
        ipd_ws_sub_resync(c);
    if (id == NULL)
        return;
    if (ipd_ws_sub_add(c, id, since_ok) < 0) {
        ipd_ws_conn_abort(c, 0);
        return;
    }
    /* Resumed after the final update: nothing will follow it. */
    ipd_ws_entry_t *e = ipd_ws_entry_find(ws, id);
    if (since_ok && e != NULL && e->state == IPD_WS_LIVE && e->seq <= since.seq &&
        ipd_ws_entry_frame(ws, e, 0) != NULL && e->final)
        ipd_ws_conn_close(c, 1000);
}

int ipd_ws_start(ipd_worker_t *w)
{
    const ipd_config_t *cfg = w->cfg;
    ipd_ws_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return -1;
    ws->w = w;
    h2o_linklist_init_anchor(&ws->conns);
    h2o_linklist_init_anchor(&ws->dead);
    h2o_linklist_init_anchor(&ws->all_conns);
    h2o_linklist_init_anchor(&ws->kick);
    ws->max_subs = (uint32_t)cfg->ws_max_subscriptions;
    ws->max_total_subs = (uint64_t)cfg->ws_max_subscriptions_per_worker;
    ws->max_outbound = cfg->ws_max_outbound;
    h2o_timeout_init(w->loop, &ws->ping_timeout, cfg->ws_ping_interval_ms);
    h2o_timeout_init(w->loop, &ws->pong_timeout, cfg->ws_pong_timeout_ms);
    h2o_timeout_init(w->loop, &ws->write_timeout, cfg->ws_write_timeout_ms);
    h2o_timeout_init(w->loop, &ws->handshake_timeout, cfg->ws_handshake_timeout_ms);
    h2o_timeout_init(w->loop, &ws->poll_timeout, 100);
    ws->timeouts_ready = 1;
    w->ws = ws;
    if (ipd_ws_jobs_start(ws) != 0) {
        ipd_error("ws", "WebSocket module: out of memory or no observer slot");
        ipd_ws_stop(w);
        return -1;
    }
    return 0;
}

void ipd_ws_drain(ipd_worker_t *w)
{
    ipd_ws_t *ws = w->ws;
    if (ws == NULL)
        return;
    for (h2o_linklist_t *l = ws->conns.next, *next; l != &ws->conns; l = next) {
        next = l->next;
        ipd_ws_conn_close(H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, link, l), 1001);
    }
}

void ipd_ws_stop(ipd_worker_t *w)
{
    ipd_ws_t *ws = w->ws;
    if (ws == NULL)
        return;
    ipd_ws_conns_stop(ws);
    ipd_ws_jobs_stop(ws);
    if (ws->timeouts_ready) {
        h2o_timeout_dispose(w->loop, &ws->ping_timeout);
        h2o_timeout_dispose(w->loop, &ws->pong_timeout);
        h2o_timeout_dispose(w->loop, &ws->write_timeout);
        h2o_timeout_dispose(w->loop, &ws->handshake_timeout);
        h2o_timeout_dispose(w->loop, &ws->poll_timeout);
    }
    free(ws);
    w->ws = NULL;
}
