#include "worker/ws.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

#define CONN_OF(entry, member) H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, member, entry)

static void on_write_done(h2o_socket_t *sock, const char *err);

void ipd_ws_count(ipd_ws_t *ws, ipd_stats_counter_t which, int64_t n)
{
    ipd_stats_gauge(ws->w->stats, which, n);
}

static void release_inflight(ipd_ws_conn_t *c)
{
    for (uint8_t i = 0; i < c->ninflight; i++)
        ipd_ws_msg_release(c->inflight[i]);
    c->ninflight = 0;
    free(c->ctl_frame);
    c->ctl_frame = NULL;
    c->ctl_frame_len = 0;
}

static void on_reap(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_t *c = CONN_OF(entry, write_entry);
    h2o_linklist_unlink(&c->link);
    free(c);
}

/* The socket is gone or must go now: releases everything and closes it. `c` is freed later. */
static void conn_lost(ipd_ws_conn_t *c)
{
    ipd_ws_t *ws = c->ws;
    if (c->dead)
        return;
    c->dead = 1;
    h2o_timeout_unlink(&c->ping_entry);
    h2o_timeout_unlink(&c->wait_entry);
    h2o_timeout_unlink(&c->write_entry);
    if (h2o_linklist_is_linked(&c->kick))
        h2o_linklist_unlink(&c->kick);
    ipd_ws_sub_clear(c);
    release_inflight(c);
    while (c->ctl_head != NULL) {
        ipd_ws_msg_t *m = c->ctl_head;
        c->ctl_head = m->next;
        ipd_ws_msg_release(m);
    }
    c->ctl_tail = NULL;
    h2o_linklist_unlink(&c->link);
    h2o_linklist_insert(&ws->dead, &c->link);
    ws->nconns--;
    ipd_ws_count(ws, IPD_STATS_WS_OPEN, -1);
    h2o_websocket_conn_t *wsc = c->wsc;
    c->wsc = NULL;
    if (wsc != NULL)
        h2o_websocket_close(wsc);
    /* Freed at the end of this loop iteration: callers up the stack may still look at `c`. */
    c->write_entry.cb = on_reap;
    h2o_timeout_link(ws->w->loop, &ws->w->ctx.zero_timeout, &c->write_entry);
}

static void on_deferred_abort(h2o_timeout_entry_t *entry)
{
    conn_lost(CONN_OF(entry, write_entry));
}

void ipd_ws_conn_abort(ipd_ws_conn_t *c, int slow)
{
    if (c->dead || c->abort_pending)
        return;
    if (slow) {
        ipd_ws_count(c->ws, IPD_STATS_WS_SLOW_CLOSES, 1);
        ipd_debug("ws", "closing a slow WebSocket client");
    }
    if (c->in_recv == 0) {
        conn_lost(c);
        return;
    }
    /* Inside wslay's receive path the context must outlive the call: close on the next turn. */
    c->abort_pending = 1;
    h2o_timeout_unlink(&c->write_entry);
    c->write_entry.cb = on_deferred_abort;
    h2o_timeout_link(c->ws->w->loop, &c->ws->w->ctx.zero_timeout, &c->write_entry);
}

static void on_timeout_abort(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_abort(CONN_OF(entry, wait_entry), 0);
}

static void on_write_timeout(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_abort(CONN_OF(entry, write_entry), 1);
}

static void arm_write_timer(ipd_ws_conn_t *c)
{
    if (h2o_timeout_is_linked(&c->write_entry))
        return;
    c->write_entry.cb = on_write_timeout;
    h2o_timeout_link(c->ws->w->loop, &c->ws->write_timeout, &c->write_entry);
}

/*
 * An idle connection keeps no input buffer: h2o allocates one (8 KB) on the next read. Called
 * outside h2o's read path only (write completion, timers), where the buffer is not in use.
 */
static void trim_input(h2o_socket_t *sock)
{
    if (sock->input->size == 0 && sock->input->bytes != NULL) {
        h2o_buffer_dispose(&sock->input);
        h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    }
}

/* Lets h2o run wslay (control frames, the close handshake); it may close the connection. */
static void proceed(ipd_ws_conn_t *c)
{
    if (c->in_recv == 0 && !c->dead && c->wsc != NULL)
        h2o_websocket_proceed(c->wsc);
}

static void start_write(ipd_ws_conn_t *c)
{
    h2o_iovec_t iov[IPD_WS_BATCH];
    size_t total = 0;
    for (uint8_t i = 0; i < c->ninflight; i++) {
        iov[i] = h2o_iovec_init(c->inflight[i]->data, c->inflight[i]->len);
        total += c->inflight[i]->len;
    }
    ipd_ws_count(c->ws, IPD_STATS_WS_MESSAGES_OUT, c->ninflight);
    ipd_ws_count(c->ws, IPD_STATS_WS_BYTES_OUT, (int64_t)total);
    arm_write_timer(c);
    h2o_socket_write(c->wsc->sock, iov, c->ninflight, on_write_done);
}

static void take_own_messages(ipd_ws_conn_t *c, size_t *bytes)
{
    while (c->ctl_head != NULL && c->ninflight < IPD_WS_BATCH) {
        ipd_ws_msg_t *m = c->ctl_head;
        c->ctl_head = m->next;
        if (c->ctl_head == NULL)
            c->ctl_tail = NULL;
        m->next = NULL;
        c->ctl_bytes -= m->len;
        c->inflight[c->ninflight++] = m;
        *bytes += m->len;
    }
}

static void queue_close(ipd_ws_conn_t *c)
{
    static const struct {
        uint16_t code;
        const char *reason;
    } reasons[] = {{1000, "done"}, {1001, "server going away"}, {1003, "binary frames are not accepted"}};
    const char *reason = "";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == c->close_code)
            reason = reasons[i].reason;
    c->close_queued = 1;
    wslay_event_queue_close(c->wsc->ws_ctx, c->close_code, (const uint8_t *)reason, strlen(reason));
    /* The client has one write timeout to answer the close. */
    h2o_timeout_unlink(&c->wait_entry);
    c->wait_entry.cb = on_timeout_abort;
    h2o_timeout_link(c->ws->w->loop, &c->ws->write_timeout, &c->wait_entry);
}

void ipd_ws_conn_pump(ipd_ws_conn_t *c)
{
    if (c->dead || !c->upgraded || c->abort_pending)
        return;
    h2o_websocket_conn_t *wsc = c->wsc;
    if (h2o_socket_is_writing(wsc->sock))
        return;
    if (wslay_event_want_write(wsc->ws_ctx)) {
        proceed(c);
        return;
    }
    size_t bytes = 0;
    /* Twice at most: collecting may queue a resync message of the connection's own. */
    for (int round = 0; round < 2 && c->ninflight == 0; round++) {
        take_own_messages(c, &bytes);
        if (c->close_code == 0 && !wslay_event_get_close_received(wsc->ws_ctx))
            ipd_ws_sub_collect(c, &bytes);
        if (c->dead || c->abort_pending)
            return; /* a resync message overflowed its queue */
    }
    if (c->ninflight > 0) {
        start_write(c);
    } else if (c->close_code != 0 && !c->close_queued && !wslay_event_get_close_received(wsc->ws_ctx)) {
        queue_close(c);
        proceed(c);
    }
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *wsc = sock->data;
    ipd_ws_conn_t *c = wsc->data;
    if (c->write_entry.cb == on_write_timeout)
        h2o_timeout_unlink(&c->write_entry);
    release_inflight(c);
    if (err != NULL) {
        conn_lost(c);
        return;
    }
    trim_input(sock);
    ipd_ws_conn_pump(c);
    /* h2o notices the end of the close handshake in proceed; nothing else needs it. */
    if (!c->dead && (wslay_event_want_write(wsc->ws_ctx) || !wslay_event_want_read(wsc->ws_ctx)))
        proceed(c);
}

/*
 * wslay's send callback, in place of h2o's: wslay only writes control frames here (job
 * messages bypass it). A frame is gathered (header, then payload) and written in one go, through
 * the same completion as the job messages so that the pump resumes after it.
 */
static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    h2o_websocket_conn_t *wsc = user;
    ipd_ws_conn_t *c = wsc->data;
    if (c->dead || h2o_socket_is_writing(wsc->sock) || c->ninflight != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->ctl_frame == NULL && (c->ctl_frame = malloc(IPD_WS_CONTROL_FRAME_MAX)) == NULL) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (len > IPD_WS_CONTROL_FRAME_MAX - c->ctl_frame_len) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    memcpy(c->ctl_frame + c->ctl_frame_len, data, len);
    c->ctl_frame_len += len;
    if (flags & WSLAY_MSG_MORE)
        return (ssize_t)len;
    h2o_iovec_t iov = h2o_iovec_init(c->ctl_frame, c->ctl_frame_len);
    arm_write_timer(c);
    h2o_socket_write(wsc->sock, &iov, 1, on_write_done);
    return (ssize_t)len;
}

static void on_msg(h2o_websocket_conn_t *wsc, const struct wslay_event_on_msg_recv_arg *arg)
{
    ipd_ws_conn_t *c = wsc->data;
    if (arg == NULL) {
        conn_lost(c);
        return;
    }
    /* Anything from the client proves it alive (the close deadline stays). */
    if (!c->close_queued)
        h2o_timeout_unlink(&c->wait_entry);
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        ipd_ws_count(c->ws, IPD_STATS_WS_MESSAGES_IN, 1);
        if (c->close_code != 0)
            break;
        c->in_recv++;
        ipd_ws_ops_handle(c, (const char *)arg->msg, arg->msg_length);
        c->in_recv--;
        break;
    case WSLAY_BINARY_FRAME:
        ipd_ws_count(c->ws, IPD_STATS_WS_MESSAGES_IN, 1);
        c->in_recv++;
        ipd_ws_conn_close(c, 1003);
        c->in_recv--;
        break;
    case WSLAY_CONNECTION_CLOSE:
        /* wslay answers the close itself; no job message goes out any more. */
        c->close_queued = 1;
        if (c->close_code == 0)
            c->close_code = 1000;
        break;
    default:
        break;
    }
}

static void on_ping(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_t *c = CONN_OF(entry, ping_entry);
    ipd_ws_t *ws = c->ws;
    struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
    h2o_timeout_link(ws->w->loop, &ws->ping_timeout, &c->ping_entry);
    if (c->close_queued || wslay_event_queue_msg(c->wsc->ws_ctx, &ping) != 0)
        return;
    if (!h2o_timeout_is_linked(&c->wait_entry)) {
        c->wait_entry.cb = on_timeout_abort;
        h2o_timeout_link(ws->w->loop, &ws->pong_timeout, &c->wait_entry);
    }
    trim_input(c->wsc->sock);
    ipd_ws_conn_pump(c);
}

/* Polls for the end of the upgrade: h2o sets wsc->sock once the 101 is written. */
static void on_upgrade_poll(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_t *c = CONN_OF(entry, write_entry);
    ipd_ws_t *ws = c->ws;
    if (c->wsc->sock == NULL) {
        h2o_timeout_link(ws->w->loop, &ws->poll_timeout, &c->write_entry);
        return;
    }
    c->upgraded = 1;
    h2o_timeout_unlink(&c->wait_entry);
    c->ping_entry.cb = on_ping;
    h2o_timeout_link(ws->w->loop, &ws->ping_timeout, &c->ping_entry);
    trim_input(c->wsc->sock);
    ipd_ws_conn_pump(c);
}

ipd_ws_conn_t *ipd_ws_conn_upgrade(ipd_ws_t *ws, h2o_req_t *req, const char *client_key, int kind, const char *proto,
                                   size_t protolen)
{
    ipd_ws_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->ws = ws;
    c->kind = (uint8_t)kind;
    h2o_linklist_init_anchor(&c->dirty);
    if (proto != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL, proto,
                              protolen);
    h2o_linklist_insert(&ws->conns, &c->link);
    ws->nconns++;
    ipd_ws_count(ws, IPD_STATS_WS_OPEN, 1);
    ipd_ws_count(ws, IPD_STATS_WS_OPENED, 1);
    c->wsc = h2o_upgrade_to_websocket(req, client_key, c, on_msg);
    struct wslay_event_callbacks cbs = c->wsc->ws_callbacks;
    cbs.send_callback = on_wslay_send;
    c->wsc->ws_callbacks = cbs;
    wslay_event_config_set_callbacks(c->wsc->ws_ctx, &cbs);
    wslay_event_config_set_max_recv_msg_length(c->wsc->ws_ctx, ws->w->cfg->ws_max_message);
    c->wait_entry.cb = on_timeout_abort;
    h2o_timeout_link(ws->w->loop, &ws->handshake_timeout, &c->wait_entry);
    c->write_entry.cb = on_upgrade_poll;
    h2o_timeout_link(ws->w->loop, &ws->w->ctx.zero_timeout, &c->write_entry);
    return c;
}

void ipd_ws_conn_send(ipd_ws_conn_t *c, ipd_ws_msg_t *m)
{
    if (m == NULL) {
        ipd_warn("ws", "out of memory building a WebSocket message; closing the connection");
        ipd_ws_conn_abort(c, 0);
        return;
    }
    if (c->dead) {
        ipd_ws_msg_release(m);
        return;
    }
    m->next = NULL;
    if (c->ctl_tail != NULL)
        c->ctl_tail->next = m;
    else
        c->ctl_head = m;
    c->ctl_tail = m;
    c->ctl_bytes += m->len;
    /* A client that sends requests without reading the answers is the slow client of this queue
     * (wslay's own queue holds the pongs and the close it owes the client). */
    size_t queued = c->ctl_bytes + (c->wsc != NULL ? wslay_event_get_queued_msg_length(c->wsc->ws_ctx) : 0);
    if (queued > c->ws->max_outbound)
        ipd_ws_conn_abort(c, 1);
}

void ipd_ws_conn_close(ipd_ws_conn_t *c, uint16_t code)
{
    if (c->close_code == 0)
        c->close_code = code;
    ipd_ws_conn_pump(c);
}

void ipd_ws_conns_stop(ipd_ws_t *ws)
{
    while (!h2o_linklist_is_empty(&ws->conns))
        conn_lost(CONN_OF(ws->conns.next, link));
    while (!h2o_linklist_is_empty(&ws->dead)) {
        ipd_ws_conn_t *c = CONN_OF(ws->dead.next, link);
        h2o_timeout_unlink(&c->write_entry);
        h2o_linklist_unlink(&c->link);
        free(c);
    }
}
