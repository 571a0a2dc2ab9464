/* The WebSocket side of a log stream: upgrade, messages, backpressure signals, closing. */
#include "worker/logs/logs.h"

#include <stdio.h>
#include <string.h>

#include "proto/json.h"
#include "shared/log.h"
#include "worker/http/http.h"

/* A frame's write completed: as h2o's own completion, go on with what wslay holds. */
static void on_ws_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *conn = sock->data;
    ipd_logs_stream_t *s = conn->data;
    if (s != NULL)
        ipd_buf_reset(&s->out);
    if (err != NULL) {
        conn->cb(conn, NULL); /* as h2o does on a failed write: the connection is closed */
        return;
    }
    h2o_websocket_proceed(conn);
}

/*
 * wslay's send callback, in place of h2o's (2.2), which writes every call at once: a frame's
 * header and then its payload, two writes (two segments, two wake-ups of the client), the second
 * only after the first completed, a loop turn later. Here the header, which wslay flags
 * WSLAY_MSG_MORE when a payload follows, waits in s->out for its payload and the frame goes in
 * one write. While the stream streams, a whole frame also waits when wslay holds another message
 * after it (it hands that one over in the same wslay_event_send, so the last frame of the run
 * writes them all): the "started" message and the first log bytes, queued together, go in one
 * write rather than two a loop turn apart, up to logs_frame_size bytes. Once the stream closes
 * every frame goes at once, so that a close frame, after which wslay sends nothing more, is
 * never held. Like h2o's, it refuses (would block) while a write is in flight, so a successful
 * call means the client socket took the previous frame: progress for the write timeout, and a
 * moment to check whether the upstream may resume.
 */
static ssize_t on_ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    h2o_websocket_conn_t *conn = user;
    ipd_logs_stream_t *s = conn->data;
    if (s == NULL || conn->sock == NULL || h2o_socket_is_writing(conn->sock)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (ipd_buf_append(&s->out, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
        return -1;
    }
    int more =
        (flags & WSLAY_MSG_MORE) || (s->phase == IPD_LOGS_STREAMING && wslay_event_get_queued_msg_count(ctx) > 1 &&
                                     s->out.len < s->w->cfg->logs_frame_size);
    if (!more) {
        h2o_iovec_t buf = h2o_iovec_init(s->out.data, s->out.len);
        h2o_socket_write(conn->sock, &buf, 1, on_ws_written);
    }
    s->last_progress = h2o_now(s->w->loop);
    if ((s->kreq != NULL && ipd_kube_paused(s->kreq)) || (s->phase == IPD_LOGS_CLOSING && !s->close_queued))
        ipd_logs_kick(s);
    return (ssize_t)len;
}

static void on_ws_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    ipd_logs_stream_t *s = conn->data;
    if (arg == NULL) {
        /* Closed: handshake done either way, I/O error, or the client went away. */
        if (s != NULL)
            ipd_logs_stream_destroy(s);
        h2o_websocket_close(conn);
        return;
    }
    if (s == NULL)
        return;
    s->awaiting_pong = 0; /* any frame shows the client is there */
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        /* The client leaves: stop the upstream now; wslay answers the close by itself. */
        ipd_kube_cancel(s->kreq);
        s->kreq = NULL;
        if (h2o_timeout_is_linked(&s->short_entry))
            h2o_timeout_unlink(&s->short_entry);
        s->phase = IPD_LOGS_CLOSING;
        s->close_queued = 1;
        s->close_deadline = h2o_now(s->w->loop) + IPD_LOGS_CLOSE_WAIT_MS;
    } else if (!wslay_is_ctrl_frame(arg->opcode)) {
        ipd_stats_add(s->w->stats, IPD_STATS_WS_MESSAGES_IN, 1); /* taken and ignored */
    }
}

int ipd_logs_ws_upgrade(ipd_logs_stream_t *s)
{
    h2o_req_t *req = s->req;
    const char *key, *proto;
    size_t protolen;
    if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL)
        return -1;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), -1);
    if (i >= 0 && ipd_http_ws_protocol_select(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
                                              &proto, &protolen) == 0)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL, proto,
                              protolen);
    /* From here the request is h2o's to finish: its pool dies once the 101 is written. */
    s->anchor->stream = NULL;
    s->anchor = NULL;
    s->req = NULL;
    s->ws = h2o_upgrade_to_websocket(req, key, s, on_ws_msg);
    wslay_event_config_set_max_recv_msg_length(s->ws->ws_ctx, IPD_LOGS_MAX_CLIENT_MSG);
    struct wslay_event_callbacks cbs = s->ws->ws_callbacks;
    cbs.send_callback = on_ws_send;
    wslay_event_config_set_callbacks(s->ws->ws_ctx, &cbs);
    s->last_progress = h2o_now(s->w->loop);
    ipd_stats_gauge(s->w->stats, IPD_STATS_WS_OPEN, 1);
    ipd_stats_add(s->w->stats, IPD_STATS_WS_OPENED, 1);
    return 0;
}

int ipd_logs_ws_blocked(const ipd_logs_stream_t *s)
{
    return s->ws != NULL &&
           wslay_event_get_queued_msg_length(s->ws->ws_ctx) >= IPD_LOGS_QUEUE_FRAMES * s->w->cfg->logs_frame_size;
}

int ipd_logs_ws_pending(const ipd_logs_stream_t *s)
{
    return s->ws != NULL && (wslay_event_get_queued_msg_length(s->ws->ws_ctx) != 0 ||
                             (s->ws->sock != NULL && h2o_socket_is_writing(s->ws->sock)));
}

static void queue(ipd_logs_stream_t *s, uint8_t opcode, const char *data, size_t len)
{
    if (s->ws == NULL || s->phase == IPD_LOGS_CLOSING)
        return;
    /* The write timeout counts from the moment something waits for the client. */
    if (!ipd_logs_ws_pending(s))
        s->last_progress = h2o_now(s->w->loop);
    struct wslay_event_msg msg = {opcode, (const uint8_t *)data, len};
    if (wslay_event_queue_msg(s->ws->ws_ctx, &msg) == 0)
        ipd_stats_add(s->w->stats, IPD_STATS_WS_MESSAGES_OUT, 1);
    ipd_logs_kick(s);
}

void ipd_logs_ws_text(ipd_logs_stream_t *s, const char *json, size_t len)
{
    queue(s, WSLAY_TEXT_FRAME, json, len);
}

int ipd_logs_ws_binary(const char *data, size_t len, void *stream)
{
    ipd_logs_stream_t *s = stream;
    queue(s, WSLAY_BINARY_FRAME, data, len);
    ipd_stats_add(s->w->stats, IPD_STATS_LOG_BYTES, len);
    return 0;
}

/* Stops the upstream and schedules the close frame, which goes once the messages before it are out. */
static void ws_close(ipd_logs_stream_t *s, int code, const char *reason)
{
    ipd_kube_cancel(s->kreq);
    s->kreq = NULL;
    if (h2o_timeout_is_linked(&s->short_entry))
        h2o_timeout_unlink(&s->short_entry);
    if (s->phase != IPD_LOGS_CLOSING) {
        s->phase = IPD_LOGS_CLOSING;
        s->close_code = code;
        snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    }
    ipd_logs_kick(s);
}

void ipd_logs_ws_error(ipd_logs_stream_t *s, const char *code, const char *message, int close_code)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"error\",\"code\":");
    rc = rc != 0 ? rc : ipd_json_append_string(&b, code, strlen(code));
    rc = rc != 0 ? rc : ipd_buf_append_str(&b, ",\"message\":");
    rc = rc != 0 ? rc : ipd_json_append_string(&b, message, strlen(message));
    rc = rc != 0 ? rc : ipd_buf_append_str(&b, "}");
    if (rc == 0)
        ipd_logs_ws_text(s, b.data, b.len);
    ipd_buf_dispose(&b);
    ipd_logs_count_error(s);
    ipd_info("logs", "stream %s/%s closed with %d: %s: %s", s->ns, s->pod[0] ? s->pod : "-", close_code, code, message);
    ws_close(s, close_code, code);
}

void ipd_logs_ws_end(ipd_logs_stream_t *s, const char *reason, int close_code)
{
    ipd_buf_t b;
    ipd_logs_framer_flush(&s->framer, 0, ipd_logs_ws_binary, s);
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"end\",\"reason\":");
    rc = rc != 0 ? rc : ipd_json_append_string(&b, reason, strlen(reason));
    rc = rc != 0 ? rc : ipd_buf_append_str(&b, "}");
    if (rc == 0)
        ipd_logs_ws_text(s, b.data, b.len);
    ipd_buf_dispose(&b);
    ipd_debug("logs", "stream %s/%s ended: %s", s->ns, s->pod, reason);
    ws_close(s, close_code, reason);
}

void ipd_logs_ws_ping(ipd_logs_stream_t *s)
{
    struct wslay_event_msg msg = {WSLAY_PING, NULL, 0};
    if (s->ws == NULL || wslay_event_queue_msg(s->ws->ws_ctx, &msg) != 0)
        return;
    s->ping_sent_at = h2o_now(s->w->loop);
    s->awaiting_pong = 1;
    ipd_logs_kick(s);
}

void ipd_logs_ws_proceed(ipd_logs_stream_t *s)
{
    if (s->ws == NULL)
        return;
    if (s->phase == IPD_LOGS_CLOSING && !s->close_queued && wslay_event_get_queued_msg_count(s->ws->ws_ctx) == 0) {
        wslay_event_queue_close(s->ws->ws_ctx, (uint16_t)s->close_code, (const uint8_t *)s->close_reason,
                                strlen(s->close_reason));
        s->close_queued = 1;
        s->close_deadline = h2o_now(s->w->loop) + IPD_LOGS_CLOSE_WAIT_MS;
    }
    if (s->ws->sock != NULL)
        h2o_websocket_proceed(s->ws);
}

void ipd_logs_ws_abort(ipd_logs_stream_t *s)
{
    h2o_websocket_conn_t *conn = s->ws;
    ipd_logs_stream_destroy(s);
    if (conn != NULL)
        h2o_websocket_close(conn);
}
