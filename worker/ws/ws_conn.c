#include "worker/ws/ws.h"

#include <errno.h>
#include <h2o/http1.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/log.h"

#define CONN_OF(entry, member) H2O_STRUCT_FROM_MEMBER(ipd_ws_conn_t, member, entry)

/*
 * The user data of h2o's upgrade. h2o calls back once the 101 is written (or failed), maybe
 * after the connection was given up; then `c` is NULL and the socket is simply closed.
 */
struct ipd_ws_upgrade {
    ipd_ws_conn_t *c;
};

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
    ipd_ws_reader_dispose(&c->rd);
    h2o_linklist_unlink(&c->link);
    h2o_linklist_insert(&ws->dead, &c->link);
    ws->nconns--;
    ipd_ws_count(ws, IPD_STATS_WS_OPEN, -1);
    h2o_socket_t *sock = c->sock;
    c->sock = NULL;
    if (c->upgraded) {
        if (sock != NULL)
            h2o_socket_close(sock);
    } else {
        /*
         * h2o still owns the socket: ending it makes h2o's upgrade fail, and the callback,
         * which no longer finds the connection, cleans up.
         */
        if (c->upgrade != NULL)
            c->upgrade->c = NULL;
        c->upgrade = NULL;
        if (sock != NULL && h2o_socket_get_fd(sock) >= 0)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    }
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
    /* Inside the read path the socket's input is in use: close on the next turn. */
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

/* An idle connection keeps no input buffer: h2o allocates one (8 KB) on the next read. */
static void trim_input(h2o_socket_t *sock)
{
    if (sock->input->size == 0 && sock->input->bytes != NULL) {
        h2o_buffer_dispose(&sock->input);
        h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    }
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
    h2o_socket_write(c->sock, iov, c->ninflight, on_write_done);
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
        if (ipd_ws_msg_is_close(m))
            c->close_in_flight = 1;
    }
}

static void enqueue(ipd_ws_conn_t *c, ipd_ws_msg_t *m)
{
    m->next = NULL;
    if (c->ctl_tail != NULL)
        c->ctl_tail->next = m;
    else
        c->ctl_head = m;
    c->ctl_tail = m;
    c->ctl_bytes += m->len;
}

/* Appends the close frame after the connection's own messages; nothing is queued after it. */
static void queue_close(ipd_ws_conn_t *c)
{
    static const struct {
        uint16_t code;
        const char *reason;
    } reasons[] = {{1000, "done"},
                   {1001, "server going away"},
                   {1002, "protocol error"},
                   {1003, "binary frames are not accepted"},
                   {1007, "a text message is not valid UTF-8"},
                   {1009, "message larger than ws_max_message"}};
    const char *reason = "";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == c->close_code)
            reason = reasons[i].reason;
    ipd_ws_msg_t *m = ipd_ws_msg_close(c->close_code, reason);
    if (m == NULL) {
        ipd_ws_conn_abort(c, 0);
        return;
    }
    c->close_queued = 1;
    enqueue(c, m);
    /* The client has one write timeout to answer the close. */
    h2o_timeout_unlink(&c->wait_entry);
    c->wait_entry.cb = on_timeout_abort;
    h2o_timeout_link(c->ws->w->loop, &c->ws->write_timeout, &c->wait_entry);
}

void ipd_ws_conn_pump(ipd_ws_conn_t *c)
{
    if (c->dead || !c->upgraded || c->abort_pending || c->close_sent)
        return;
    if (h2o_socket_is_writing(c->sock))
        return;
    size_t bytes = 0;
    /* Twice at most: collecting may queue a resync message of the connection's own. */
    for (int round = 0; round < 2 && c->ninflight == 0; round++) {
        take_own_messages(c, &bytes);
        if (c->close_code == 0 && !c->close_received)
            ipd_ws_sub_collect(c, &bytes);
        if (c->dead || c->abort_pending)
            return; /* a resync message overflowed its queue */
    }
    if (c->ninflight == 0 && c->close_code != 0 && !c->close_queued) {
        queue_close(c);
        if (c->dead || c->abort_pending)
            return;
        take_own_messages(c, &bytes);
    }
    if (c->ninflight > 0)
        start_write(c);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    ipd_ws_conn_t *c = sock->data;
    if (c->write_entry.cb == on_write_timeout)
        h2o_timeout_unlink(&c->write_entry);
    release_inflight(c);
    if (err != NULL) {
        conn_lost(c);
        return;
    }
    if (c->close_in_flight) {
        c->close_in_flight = 0;
        c->close_sent = 1;
        if (c->close_received) {
            conn_lost(c); /* the close handshake is complete: the server closes the TCP connection */
            return;
        }
        /*
         * After a protocol error the client's input is not trusted any more: the connection
         * ends with the worker's lingering close (linger.c), so the client reads the close
         * frame and end of stream rather than a reset while it is still sending.
         */
        if (c->discard_input) {
            ipd_worker_conn_t *wc = ipd_worker_conn_of_socket(sock);
            if (wc != NULL)
                ipd_worker_linger_arm(wc);
            conn_lost(c);
        }
        return;
    }
    trim_input(sock);
    ipd_ws_conn_pump(c);
}

/* A protocol error of the client: close with `code` after what is queued; input is dropped from here. */
static void fail(ipd_ws_conn_t *c, uint16_t code)
{
    ipd_debug("ws", "closing a WebSocket client with %u: its frames break the protocol", code);
    c->discard_input = 1;
    if (c->close_queued) {
        ipd_ws_conn_abort(c, 0);
        return;
    }
    c->close_code = code;
}

static void on_event(ipd_ws_conn_t *c, const ipd_ws_event_t *ev)
{
    switch (ev->opcode) {
    case IPD_WS_OP_TEXT:
        ipd_ws_count(c->ws, IPD_STATS_WS_MESSAGES_IN, 1);
        if (c->close_code == 0)
            ipd_ws_ops_handle(c, (const char *)ev->data, ev->len);
        break;
    case IPD_WS_OP_BINARY:
        ipd_ws_count(c->ws, IPD_STATS_WS_MESSAGES_IN, 1);
        ipd_ws_conn_close(c, 1003);
        break;
    case IPD_WS_OP_PING:
        if (!c->close_queued)
            ipd_ws_conn_send(c, ipd_ws_msg_control(IPD_WS_OP_PONG, ev->data, ev->len));
        break;
    case IPD_WS_OP_CLOSE:
        c->close_received = 1;
        c->discard_input = 1; /* nothing may follow a close frame */
        if (c->close_sent) {
            conn_lost(c); /* the answer to ours: done */
            break;
        }
        /* Answered with the client's code, after the messages already owed; no job message goes out any more. */
        if (!c->close_queued)
            c->close_code = ev->close_code == IPD_WS_CLOSE_NO_STATUS ? IPD_WS_CLOSE_NORMAL : ev->close_code;
        break;
    default: /* a pong, or a fragment absorbed */
        break;
    }
}

/* Decodes and handles every whole frame in the socket's input. */
static void read_frames(ipd_ws_conn_t *c)
{
    h2o_socket_t *sock = c->sock;
    c->in_recv++;
    while (!c->dead && !c->abort_pending && !c->discard_input && sock->input->size != 0) {
        ipd_ws_event_t ev;
        ssize_t n = ipd_ws_reader_next(&c->rd, (uint8_t *)sock->input->bytes, sock->input->size, &ev);
        if (n == 0)
            break;
        if (n < 0) {
            fail(c, (uint16_t)-n);
            break;
        }
        /* Anything from the client proves it alive (the close deadline stays). */
        if (!c->close_queued)
            h2o_timeout_unlink(&c->wait_entry);
        on_event(c, &ev);
        if (c->dead)
            break;
        h2o_buffer_consume(&sock->input, (size_t)n);
    }
    c->in_recv--;
    if (!c->dead && c->discard_input)
        h2o_buffer_consume(&sock->input, sock->input->size);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    ipd_ws_conn_t *c = sock->data;
    if (err != NULL) {
        conn_lost(c); /* the client closed or reset the connection */
        return;
    }
    read_frames(c);
    if (c->dead)
        return;
    trim_input(sock);
    ipd_ws_conn_pump(c);
}

static void on_ping(h2o_timeout_entry_t *entry)
{
    ipd_ws_conn_t *c = CONN_OF(entry, ping_entry);
    ipd_ws_t *ws = c->ws;
    h2o_timeout_link(ws->w->loop, &ws->ping_timeout, &c->ping_entry);
    if (c->close_queued)
        return;
    ipd_ws_conn_send(c, ipd_ws_msg_control(IPD_WS_OP_PING, NULL, 0));
    if (c->dead)
        return;
    if (!h2o_timeout_is_linked(&c->wait_entry)) {
        c->wait_entry.cb = on_timeout_abort;
        h2o_timeout_link(ws->w->loop, &ws->pong_timeout, &c->wait_entry);
    }
    trim_input(c->sock);
    ipd_ws_conn_pump(c);
}

/* h2o wrote the 101 (`sock` is ours now, `reqsize` bytes of its input were the request) or failed (NULL). */
static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    struct ipd_ws_upgrade *u = data;
    ipd_ws_conn_t *c = u->c;
    free(u);
    if (c == NULL) {
        if (sock != NULL)
            h2o_socket_close(sock);
        return;
    }
    c->upgrade = NULL;
    c->sock = sock;
    if (sock == NULL) {
        conn_lost(c);
        return;
    }
    c->upgraded = 1;
    sock->data = c;
    /* What the kernel buffers is beyond coalescing: a bounded buffer lets the worker fold the rest. */
    int sndbuf = (int)c->ws->w->cfg->ws_send_buffer;
    if (sndbuf > 0 && setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0)
        ipd_warn("ws", "setsockopt(SO_SNDBUF %d): %s", sndbuf, strerror(errno));
    h2o_buffer_consume(&sock->input, reqsize);
    ipd_ws_t *ws = c->ws;
    h2o_timeout_unlink(&c->wait_entry);
    c->ping_entry.cb = on_ping;
    h2o_timeout_link(ws->w->loop, &ws->ping_timeout, &c->ping_entry);
    h2o_socket_read_start(sock, on_read);
    /* Frames the client sent right behind its request are in the input already. */
    read_frames(c);
    if (c->dead)
        return;
    trim_input(sock);
    ipd_ws_conn_pump(c);
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + the GUID of RFC 6455)). */
static int accept_key(const char *key, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char src[24 + sizeof(guid) - 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    memcpy(src, key, 24); /* h2o_is_websocket_handshake() accepts only 24-byte keys */
    memcpy(src + 24, guid, sizeof(guid) - 1);
    if (EVP_Digest(src, sizeof(src), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    h2o_base64_encode(out, md, mdlen, 0);
    return 0;
}

ipd_ws_conn_t *ipd_ws_conn_upgrade(ipd_ws_t *ws, h2o_req_t *req, const char *client_key, int kind, const char *proto,
                                   size_t protolen)
{
    ipd_worker_conn_t *wc = ipd_worker_conn_of(req);
    char key[32];
    if (wc == NULL || accept_key(client_key, key) != 0)
        return NULL;
    ipd_ws_conn_t *c = calloc(1, sizeof(*c));
    struct ipd_ws_upgrade *u = malloc(sizeof(*u));
    if (c == NULL || u == NULL) {
        free(c);
        free(u);
        return NULL;
    }
    c->ws = ws;
    c->kind = (uint8_t)kind;
    c->sock = wc->sock;
    c->rd.max_message = ws->w->cfg->ws_max_message;
    c->upgrade = u;
    u->c = c;
    h2o_linklist_init_anchor(&c->dirty);
    if (proto != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL, proto,
                              protolen);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_iovec_t accept = h2o_strdup(&req->pool, key, strlen(key));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept.base,
                          accept.len);
    h2o_linklist_insert(&ws->conns, &c->link);
    ws->nconns++;
    ipd_ws_count(ws, IPD_STATS_WS_OPEN, 1);
    ipd_ws_count(ws, IPD_STATS_WS_OPENED, 1);
    c->wait_entry.cb = on_timeout_abort;
    h2o_timeout_link(ws->w->loop, &ws->handshake_timeout, &c->wait_entry);
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, u);
    return c;
}

void ipd_ws_conn_send(ipd_ws_conn_t *c, ipd_ws_msg_t *m)
{
    if (m == NULL) {
        ipd_warn("ws", "out of memory building a WebSocket message; closing the connection");
        ipd_ws_conn_abort(c, 0);
        return;
    }
    if (c->dead || c->close_queued) {
        ipd_ws_msg_release(m); /* nothing goes after the close frame */
        return;
    }
    enqueue(c, m);
    /* A client that sends requests without reading the answers is the slow client of this queue. */
    if (c->ctl_bytes > c->ws->max_outbound)
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
