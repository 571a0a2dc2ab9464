#include "worker/http/http.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o/http2.h>
#include <h2o/http2_internal.h>

#include "shared/log.h"

/*
 * What the library's HTTP/2 code holds or does for a client before any handler runs, bounded
 * from outside it (docs/operations.md, "Hostile HTTP clients"):
 *
 *   - A header block that is never finished (HEADERS, then CONTINUATION frames without
 *     END_HEADERS, or one header frame sent a byte at a time). The library keeps up to about
 *     408 KiB of it per connection (H2O_MAX_REQLEN), and every byte restarts its idle timeout.
 *   - Streams opened and reset before their request was complete (HEADERS without END_STREAM,
 *     then RST_STREAM: rapid reset, CVE-2023-44487). They never reach the handler, so the
 *     request rate of router.c does not see them.
 *
 * The library has no hook for either. Once a second, while the worker has connections, the
 * sweep walks the context's list of HTTP/2 connections and reads their state from
 * h2o/http2_internal.h, a header of the same library package (so of the same layout; the
 * version check below stops a build against another one). A connection is dropped when its
 * unfinished header block is over max_header_size, when the same block has been unfinished for
 * http_idle_timeout, or when its streams that ended without reaching the handler empty its
 * request_rate_per_conn bucket; and, when the unfinished blocks of all the worker's connections
 * together are over max_header_bytes_per_worker, the connections holding the largest blocks
 * until the rest fit (the fewest drops, and a client whose headers are quick and small is the
 * last to go). Dropping queues GOAWAY (ENHANCE_YOUR_CALM, with the
 * reason as debug data) and shuts the socket's reading side: the library then sees end of stream, writes what it has
 * queued and closes the connection. At the next sweep, when the library has freed the connections, the allocator is
 * asked to give the freed memory back to the system: blocks of a few hundred KiB would otherwise stay in the worker's
 * heap, and its resident size at the high-water mark of the attack.
 */
#if H2O_LIBRARY_VERSION_MAJOR != 0 || H2O_LIBRARY_VERSION_MINOR != 13
#error "h2_guard.c reads the HTTP/2 connection state of libh2o 0.13 (h2o 2.2); check its fields in this version"
#endif

/* At most one warning about dropped connections per this many ms. */
#define DROP_WARN_EVERY_MS 10000

/*
 * Bytes of an unfinished header block the connection holds: what the library has gathered
 * from HEADERS and CONTINUATION frames, plus a header frame not yet complete in the input
 * (the library has not read its frame header's type byte for anything else yet). *stream is
 * the stream the block belongs to, as far as the input tells.
 */
static size_t header_bytes_held(h2o_http2_conn_t *h2, uint32_t *stream)
{
    size_t held = h2->_headers_unparsed != NULL ? h2->_headers_unparsed->size : 0;
    const h2o_buffer_t *in = h2->sock->input;
    *stream = h2->pull_stream_ids.max_open;
    if (in->size >= 4 &&
        (in->bytes[3] == H2O_HTTP2_FRAME_TYPE_HEADERS || in->bytes[3] == H2O_HTTP2_FRAME_TYPE_CONTINUATION)) {
        held += in->size;
        if (in->size >= 9)
            *stream = h2o_http2_decode32u((const uint8_t *)in->bytes + 5) & 0x7fffffff;
    }
    return held;
}

/* Why the connection's unfinished header block ends it, or NULL; adds the block's bytes to *held. */
static const char *check_headers(ipd_worker_t *w, ipd_worker_conn_t *conn, h2o_http2_conn_t *h2, uint64_t now,
                                 size_t *held_total)
{
    uint32_t stream;
    size_t held = header_bytes_held(h2, &stream);
    *held_total += held;
    if (held == 0) {
        conn->h2_block_since = 0;
        return NULL;
    }
    if (held > w->cfg->max_header_size)
        return "unfinished header block over max_header_size";
    if (conn->h2_block_since == 0 || conn->h2_block_stream != stream) {
        conn->h2_block_since = now;
        conn->h2_block_stream = stream;
        return NULL;
    }
    if (now - conn->h2_block_since >= w->cfg->http_idle_timeout_ms)
        return "header block unfinished for http_idle_timeout";
    return NULL;
}

/*
 * Why the connection's streams that ended before reaching the handler end it, or NULL. Every
 * stream the client opened (client stream ids are odd and rising) either reached the handler,
 * is still being received, or ended without a request: reset by the client, refused or reset
 * by the library. Each of the last kind takes a request from the connection's bucket.
 */
static const char *check_resets(ipd_worker_t *w, ipd_worker_conn_t *conn, h2o_http2_conn_t *h2, uint64_t now)
{
    uint64_t opened = ((uint64_t)h2->pull_stream_ids.max_open + 1) / 2;
    uint64_t receiving = h2->num_streams.pull.open - h2->num_streams.pull.half_closed;
    if (opened <= conn->h2_requests + receiving + conn->h2_resets)
        return NULL;
    uint64_t fresh = opened - conn->h2_requests - receiving - conn->h2_resets;
    conn->h2_resets += fresh;
    for (; fresh > 0; fresh--)
        if (!ipd_http_rate_take(&conn->rate, (unsigned)w->cfg->request_rate_per_conn, now))
            return "streams reset before their request over request_rate_per_conn";
    return NULL;
}

static void drop(ipd_worker_t *w, ipd_worker_conn_t *conn, h2o_http2_conn_t *h2, const char *why, uint64_t now)
{
    if (h2->state < H2O_HTTP2_CONN_STATE_HALF_CLOSED) {
        h2o_http2_encode_goaway_frame(&h2->_write.buf, h2->pull_stream_ids.max_open, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM,
                                      h2o_iovec_init(why, strlen(why)));
        h2o_http2_conn_request_write(h2);
        h2->state = H2O_HTTP2_CONN_STATE_HALF_CLOSED; /* the library opens no stream after a GOAWAY */
    }
    conn->closing = 1;
    w->h2_trim = 1;
    int fd = h2o_socket_get_fd(conn->sock);
    if (fd >= 0 && shutdown(fd, SHUT_RD) != 0)
        ipd_warn("worker", "shutdown(SHUT_RD) of a dropped HTTP/2 connection: %s", strerror(errno));
    ipd_stats_add(w->stats, IPD_STATS_RATE_LIMITED, 1);
    w->h2_drops++;
    if (w->h2_warned_at == 0 || now - w->h2_warned_at >= DROP_WARN_EVERY_MS) {
        ipd_warn("worker", "slot %d: HTTP/2 connection dropped: %s (%lu dropped since the last warning)", w->args->slot,
                 why, w->h2_drops);
        w->h2_warned_at = now;
        w->h2_drops = 0;
    }
}

typedef struct holder {
    size_t held;
    h2o_http2_conn_t *h2;
    ipd_worker_conn_t *conn;
} holder_t;

static int by_held_desc(const void *a, const void *b)
{
    size_t x = ((const holder_t *)a)->held, y = ((const holder_t *)b)->held;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The unfinished blocks of all connections come to `held`, over the budget: drops the largest until the rest fit. */
static void drop_largest(ipd_worker_t *w, size_t held, uint64_t now)
{
    size_t n = 0, cap = w->nconns;
    holder_t *all = calloc(cap > 0 ? cap : 1, sizeof(*all));
    if (all == NULL)
        return; /* the next sweep tries again */
    for (h2o_linklist_t *node = w->ctx.http2._conns.next; node != &w->ctx.http2._conns && n < cap; node = node->next) {
        h2o_http2_conn_t *h2 = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _conns, node);
        ipd_worker_conn_t *conn = h2->sock != NULL ? ipd_worker_conn_of_socket(h2->sock) : NULL;
        uint32_t stream;
        if (conn == NULL || conn->closing || h2->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING)
            continue;
        all[n] = (holder_t){header_bytes_held(h2, &stream), h2, conn};
        if (all[n].held > 0)
            n++;
    }
    qsort(all, n, sizeof(*all), by_held_desc);
    for (size_t i = 0; i < n && held > w->cfg->max_header_bytes_per_worker; i++) {
        drop(w, all[i].conn, all[i].h2, "unfinished header blocks over max_header_bytes_per_worker", now);
        held -= all[i].held;
    }
    free(all);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    ipd_worker_t *w = H2O_STRUCT_FROM_MEMBER(ipd_worker_t, h2_sweep, entry);
    uint64_t now = h2o_now(w->loop);
    size_t held = 0;
    if (w->h2_trim) {
        malloc_trim(0);
        w->h2_trim = 0;
    }
    for (h2o_linklist_t *node = w->ctx.http2._conns.next; node != &w->ctx.http2._conns; node = node->next) {
        h2o_http2_conn_t *h2 = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _conns, node);
        ipd_worker_conn_t *conn = h2->sock != NULL ? ipd_worker_conn_of_socket(h2->sock) : NULL;
        if (conn == NULL || conn->closing || h2->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING)
            continue;
        const char *why = check_resets(w, conn, h2, now);
        size_t mine = 0;
        if (why == NULL)
            why = check_headers(w, conn, h2, now, &mine);
        if (why != NULL)
            drop(w, conn, h2, why, now);
        else
            held += mine;
    }
    if (held > w->cfg->max_header_bytes_per_worker)
        drop_largest(w, held, now);
    ipd_worker_h2_guard_arm(w);
}

void ipd_worker_h2_guard_arm(ipd_worker_t *w)
{
    if ((w->nconns > 0 || w->h2_trim) && !h2o_timeout_is_linked(&w->h2_sweep)) {
        w->h2_sweep.cb = on_sweep;
        h2o_timeout_link(w->loop, &w->ctx.one_sec_timeout, &w->h2_sweep);
    }
}

void ipd_worker_h2_guard_dispose(ipd_worker_t *w)
{
    if (h2o_timeout_is_linked(&w->h2_sweep))
        h2o_timeout_unlink(&w->h2_sweep);
}
