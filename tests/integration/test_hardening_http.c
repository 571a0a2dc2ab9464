/*
 * Hardening of the HTTP layer against hostile clients, over raw sockets: request-smuggling shapes
 * of HTTP/1.1, malformed HTTP/2 requests the library lets through, HTTP/2 header blocks that are
 * never finished, and HTTP/2 streams opened and reset before their request is complete.
 *
 * HTTP/2 is spoken by hand here (frames of RFC 9113, header blocks as HPACK literals without
 * indexing or Huffman coding) so that a test can send exactly the frames an attacker would.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "2", NULL};

static h_world_t w;

static void teardown(void)
{
    h_world_teardown(&w);
}

/* ---- a hand-made HTTP/2 client ---- */

enum { F_DATA = 0, F_HEADERS = 1, F_RST_STREAM = 3, F_SETTINGS = 4, F_GOAWAY = 7, F_CONTINUATION = 9 };
enum { FL_END_STREAM = 1, FL_END_HEADERS = 4 };

typedef struct frame {
    unsigned type, flags;
    uint32_t stream;
    uint32_t len;
    unsigned char payload[1 << 14];
} frame_t;

static void put_frame(int fd, unsigned type, unsigned flags, uint32_t stream, const void *payload, size_t len)
{
    unsigned char head[9] = {(unsigned char)(len >> 16),    (unsigned char)(len >> 8),    (unsigned char)len,
                             (unsigned char)type,           (unsigned char)flags,         (unsigned char)(stream >> 24),
                             (unsigned char)(stream >> 16), (unsigned char)(stream >> 8), (unsigned char)stream};
    h_send_all(fd, head, sizeof(head));
    if (len > 0)
        h_send_all(fd, payload, len);
}

/* Appends an HPACK integer with an `n`-bit prefix (first byte's high bits from `first`). */
static size_t hpack_int(unsigned char *out, unsigned first, unsigned n, size_t v)
{
    size_t max = (1u << n) - 1, i = 0;
    if (v < max) {
        out[i++] = (unsigned char)(first | v);
        return i;
    }
    out[i++] = (unsigned char)(first | max);
    for (v -= max; v >= 128; v >>= 7)
        out[i++] = (unsigned char)(0x80 | (v & 0x7f));
    out[i++] = (unsigned char)v;
    return i;
}

/* Appends a literal header field without indexing, new name (RFC 7541 section 6.2.2). */
static size_t hpack_field(unsigned char *out, const char *name, const char *value, size_t vlen)
{
    size_t i = 0, nlen = strlen(name);
    out[i++] = 0x00;
    i += hpack_int(out + i, 0, 7, nlen);
    memcpy(out + i, name, nlen);
    i += nlen;
    i += hpack_int(out + i, 0, 7, vlen);
    memcpy(out + i, value, vlen);
    return i + vlen;
}

/* A GET request's header block for `path` into `out` (at least 256 bytes); returns its length. */
static size_t request_block(unsigned char *out, const char *path)
{
    size_t i = 0;
    i += hpack_field(out + i, ":method", "GET", 3);
    i += hpack_field(out + i, ":scheme", "http", 4);
    i += hpack_field(out + i, ":path", path, strlen(path));
    i += hpack_field(out + i, ":authority", "127.0.0.1", 9);
    return i;
}

/* Connects and sends the client preface and an empty SETTINGS frame. */
static int h2_dial(int port)
{
    int fd = h_dial(port);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    h_send_all(fd, preface, sizeof(preface) - 1);
    put_frame(fd, F_SETTINGS, 0, 0, NULL, 0);
    return fd;
}

/* Reads one frame within `timeout_ms`: 1, 0 at end of stream (or a reset), -1 on timeout. */
static int get_frame(int fd, frame_t *f, int timeout_ms)
{
    unsigned char head[9];
    size_t have = 0;
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (have < 9) {
        int64_t left = (int64_t)deadline - (int64_t)h_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
            return -1;
        ssize_t n = read(fd, head + have, 9 - have);
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
    f->len = (uint32_t)head[0] << 16 | (uint32_t)head[1] << 8 | head[2];
    f->type = head[3];
    f->flags = head[4];
    f->stream = ((uint32_t)head[5] << 24 | (uint32_t)head[6] << 16 | (uint32_t)head[7] << 8 | head[8]) & 0x7fffffff;
    cr_assert_leq(f->len, sizeof(f->payload), "a frame of %u bytes", f->len);
    for (have = 0; have < f->len;) {
        int64_t left = (int64_t)deadline - (int64_t)h_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left > 0 ? (int)left : 100) <= 0)
            return -1;
        ssize_t n = read(fd, f->payload + have, f->len - have);
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
    return 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- issue 11 item 14: request smuggling shapes over HTTP/1.1 ---- */

/* Sends `text` on a new connection; the answer must be 400 with the JSON error body naming
 * `why`, and the connection must then be closed. */
static void expect_refused(const char *text, const char *why)
{
    int eof;
    char *out = h_raw(w.port, text, 5000, &eof);
    cr_assert(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "not refused:\n%s\n---\n%s", text, out);
    cr_assert_not_null(strstr(out, "\"code\":\"invalid_argument\""), "not the JSON error body: %s", out);
    cr_assert_not_null(strstr(out, why), "the answer does not say \"%s\": %s", why, out);
    cr_assert(eof, "the connection stayed open after refusing:\n%s", text);
    free(out);
}

Test(hardening_http, request_smuggling_shapes_are_answered_400_and_the_connection_closed, .fini = teardown)
{
    h_world_sim(&w, "smuggle", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    /* Two different lengths: a proxy that takes the second forwards 20 bytes, this server reads 2. */
    expect_refused("POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 2\r\nContent-Length: 20\r\n\r\n{}",
                   "Content-Length fields with different values");
    /* Content-Length and chunked together: each side may choose another one. */
    expect_refused("POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                   "both Content-Length and Transfer-Encoding");
    /* Bare LF line ends, on a GET that would otherwise be answered 200. */
    expect_refused("GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n", "bare LF");
    expect_refused("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\n\r\n", "bare LF");
    /* A folded field line. */
    expect_refused("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n 2\r\n\r\n", "obs-fold");

    /* The same length twice is one length, and an ordinary request on a new connection is served. */
    int eof;
    char *out = h_raw(w.port,
                      "POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                      5000, &eof);
    cr_assert_not_null(strstr(out, "image (or images, or pod_selector) is required"), "%s", out);
    free(out);
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, "after the refusals");
    h_world_stop_clean(&w);
}

Test(hardening_http, errors_the_library_answers_itself_carry_the_json_error_body, .fini = teardown)
{
    h_world_sim(&w, "liberr", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    expect_refused("POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                   "broken chunked-encoding");
    expect_refused("POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
                   "broken content-length header");
    expect_refused("POST /api/v1/images/pull HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                   "unknown transfer-encoding");
    h_world_stop_clean(&w);
}

/* ---- issue 11 item 16: an HTTP/2 request with an empty :path ---- */

Test(hardening_http, an_http2_request_with_an_empty_path_is_a_stream_error, .fini = teardown)
{
    h_world_sim(&w, "emptypath", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    int fd = h2_dial(w.port);
    unsigned char block[512];
    put_frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, 1, block, request_block(block, ""));
    /* RFC 9113 section 8.3.1: RST_STREAM with PROTOCOL_ERROR (1), and no document. */
    static frame_t f;
    int rc, reset = 0;
    while (!reset && (rc = get_frame(fd, &f, 5000)) == 1) {
        cr_assert(!(f.type == F_DATA && f.stream == 1 && f.len > 0), "an empty :path was answered with a document");
        if (f.type == F_RST_STREAM && f.stream == 1) {
            cr_assert_eq(be32(f.payload), 1, "RST_STREAM with error code %u", be32(f.payload));
            reset = 1;
        }
    }
    cr_assert(reset, "no RST_STREAM for the empty :path (read returned %d)", rc);
    /* The connection goes on: a well-formed request on it is answered. */
    put_frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, 3, block, request_block(block, "/healthz"));
    int answered = 0;
    while (!answered && get_frame(fd, &f, 5000) == 1)
        answered = f.type == F_HEADERS && f.stream == 3;
    cr_assert(answered, "the next request on the connection was not answered");
    close(fd);
    h_world_stop_clean(&w);
}

/* ---- issue 11 items 8 and 9: what HTTP/2 clients make a worker hold before any handler ---- */

/* The resident size of the daemon's first worker, in KiB. */
static long worker_rss_kib(void)
{
    pid_t pids[4];
    cr_assert_geq(h_worker_pids(&w.daemon, 1, pids, 4), 1, "no worker");
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[0]);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long kib = -1;
    while (kib < 0 && fgets(line, sizeof(line), f) != NULL)
        sscanf(line, "VmRSS: %ld kB", &kib);
    fclose(f);
    return kib;
}

/*
 * Whether the server has closed `fd`; consumes what it sent. The first GOAWAY seen sets *goaway
 * (-1 before) to its code: the library may send another one for frames that were still arriving.
 */
static int server_closed(int fd, long *goaway)
{
    static frame_t f;
    int rc;
    while ((rc = get_frame(fd, &f, 0)) == 1)
        if (f.type == F_GOAWAY && f.len >= 8 && *goaway == -1)
            *goaway = (long)be32(f.payload + 4);
    return rc == 0;
}

/*
 * Opens `n` connections that each start a request whose header block stays unfinished: a
 * HEADERS frame without END_HEADERS, then CONTINUATION frames up to `bytes`, then a
 * CONTINUATION frame whose first byte only is sent.
 */
static void open_unfinished(int *fds, size_t n, size_t bytes)
{
    static unsigned char chunk[1 << 14];
    for (size_t i = 0; i < n; i++) {
        fds[i] = h2_dial(w.port);
        size_t len = request_block(chunk, "/api/v1/images/pull-active");
        put_frame(fds[i], F_HEADERS, 0, 1, chunk, len);
        for (size_t sent = len, part; sent < bytes; sent += part) {
            part = bytes - sent < sizeof(chunk) ? bytes - sent : sizeof(chunk);
            put_frame(fds[i], F_CONTINUATION, 0, 1, chunk, part);
        }
        unsigned char head[10] = {0, 0x10, 0, F_CONTINUATION, 0, 0, 0, 0, 1, 0};
        h_send_all(fds[i], head, sizeof(head));
    }
}

/*
 * Trickles one byte a second on each of the `n` connections (the frame started by
 * open_unfinished) until the server has closed all of them or `timeout_ms` passed, checking
 * that another client is answered meanwhile and that a GOAWAY, when one arrives before the
 * close, says ENHANCE_YOUR_CALM. Returns the ms it took (`timeout_ms` if some are still open).
 */
static uint64_t trickle_until_closed(int *fds, size_t n, uint64_t timeout_ms)
{
    uint64_t start = h_now_ms();
    size_t open = n;
    long codes[64];
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++)
        codes[i] = -1;
    while (open > 0 && h_now_ms() - start < timeout_ms) {
        open = 0;
        for (size_t i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            if (server_closed(fds[i], &codes[i]) || send(fds[i], "", 1, MSG_NOSIGNAL) != 1) {
                close(fds[i]);
                fds[i] = -1;
            } else {
                open++;
            }
        }
        h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, "another client was not served meanwhile");
        if (open > 0)
            usleep(250000);
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert(codes[i] == -1 || codes[i] == 11, "GOAWAY code %ld, not ENHANCE_YOUR_CALM", codes[i]);
        if (fds[i] >= 0)
            close(fds[i]);
    }
    return open > 0 ? timeout_ms : h_now_ms() - start;
}

Test(hardening_http, unfinished_http2_header_blocks_are_dropped_before_authentication, .fini = teardown)
{
    h_world_sim(&w, "h2hdr", sim_args);
    h_world_daemon_tokens(&w, "admin-token-0123456789 admin\n", "http_idle_timeout 2s\nworkers 1\n");
    long before = worker_rss_kib();

    /* 40 connections holding 384 KiB each, over max_header_size: dropped at the next check. */
    int fds[40];
    open_unfinished(fds, 40, 384 * 1024);
    uint64_t took = trickle_until_closed(fds, 40, 6000);
    cr_assert_lt(took, 6000, "connections holding 384 KiB of unfinished headers were still open after 6 s");
    cr_assert(h_log_contains(&w.daemon, "unfinished header block over max_header_size"), "no reason logged");
    /* The worker gave the memory back (the sanitizer's allocator keeps freed memory on purpose). */
    usleep(1500000);
    long after = worker_rss_kib();
    if (getenv("ASAN_OPTIONS") == NULL)
        cr_assert_lt(after - before, 8 * 1024, "the worker grew from %ld to %ld KiB", before, after);

    /* 8 KiB, under max_header_size, trickled a byte a second: dropped after http_idle_timeout. */
    open_unfinished(fds, 8, 8 * 1024);
    took = trickle_until_closed(fds, 8, 8000);
    cr_assert_lt(took, 8000, "trickled header blocks outlived http_idle_timeout (2 s) by 6 s");
    cr_assert_geq(took, 1500, "dropped after %lu ms, before http_idle_timeout", (unsigned long)took);
    h_world_stop_clean(&w);
}

Test(hardening_http, unfinished_http2_header_blocks_over_the_worker_budget_drop_the_largest, .fini = teardown)
{
    h_world_sim(&w, "h2budget", sim_args);
    h_world_daemon(&w, "max_header_bytes_per_worker 64k\nworkers 1\n", NULL, 1);
    /*
     * Ten blocks, each under max_header_size and far from http_idle_timeout: five of 14 KiB and
     * five of 4 KiB, 90 KiB together. Two of the large ones must go for the rest to fit.
     */
    int fds[10];
    for (size_t i = 0; i < 10; i++)
        open_unfinished(&fds[i], 1, i % 2 == 0 ? 14 * 1024 : 4 * 1024);
    int closed[10] = {0};
    uint64_t start = h_now_ms();
    while (h_now_ms() - start < 3500) {
        for (size_t i = 0; i < 10; i++) {
            long code = -1;
            if (!closed[i] && (server_closed(fds[i], &code) || send(fds[i], "", 1, MSG_NOSIGNAL) != 1))
                closed[i] = 1;
        }
        usleep(250000);
    }
    char seen[11] = "";
    size_t large = 0, small = 0;
    for (size_t i = 0; i < 10; i++) {
        seen[i] = closed[i] ? 'x' : '-';
        large += closed[i] && i % 2 == 0;
        small += closed[i] && i % 2 == 1;
        close(fds[i]);
    }
    cr_assert(large == 2 && small == 0, "dropped (x) and kept (-), large blocks at even places: %s", seen);
    cr_assert(h_log_contains(&w.daemon, "unfinished header blocks over max_header_bytes_per_worker"),
              "no reason logged");
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, "after the refusals");
    h_world_stop_clean(&w);
}

Test(hardening_http, http2_streams_reset_before_their_request_count_against_the_request_rate, .fini = teardown)
{
    h_world_sim(&w, "h2reset", sim_args);
    h_world_daemon(&w, "request_rate_per_conn 200\nworkers 1\n", NULL, 1);
    long before = worker_rss_kib();
    /* HEADERS without END_STREAM, then RST_STREAM CANCEL, 100 000 times on one connection. */
    int fd = h2_dial(w.port);
    static unsigned char batch[1 << 16];
    unsigned char block[256], cancel[4] = {0, 0, 0, 8};
    size_t blen = request_block(block, "/healthz"), fill = 0, pairs = 0;
    uint32_t stream = 1;
    int broken = 0;
    for (; pairs < 100000 && !broken; pairs++, stream += 2) {
        if (fill + 2 * 9 + blen + 4 > sizeof(batch)) {
            broken = send(fd, batch, fill, MSG_NOSIGNAL) != (ssize_t)fill;
            fill = 0;
        }
        unsigned char *p = batch + fill;
        unsigned char h1[9] = {0,
                               0,
                               (unsigned char)blen,
                               F_HEADERS,
                               FL_END_HEADERS,
                               (unsigned char)(stream >> 24),
                               (unsigned char)(stream >> 16),
                               (unsigned char)(stream >> 8),
                               (unsigned char)stream};
        unsigned char h2[9] = {0, 0, 4, F_RST_STREAM, 0, h1[5], h1[6], h1[7], h1[8]};
        memcpy(p, h1, 9);
        memcpy(p + 9, block, blen);
        memcpy(p + 9 + blen, h2, 9);
        memcpy(p + 18 + blen, cancel, 4);
        fill += 22 + blen;
    }
    if (!broken && fill > 0)
        broken = send(fd, batch, fill, MSG_NOSIGNAL) != (ssize_t)fill;
    long goaway = -1;
    uint64_t deadline = h_now_ms() + 5000;
    int closed = broken;
    while (!closed && !(closed = server_closed(fd, &goaway)) && h_now_ms() < deadline)
        usleep(50000);
    close(fd);
    cr_assert(closed, "the connection was not dropped after %zu reset streams", pairs);
    /* The GOAWAY may be lost to the reset that closing on unread input sends; the log says why. */
    cr_assert(goaway == -1 || goaway == 11, "GOAWAY code %ld, not ENHANCE_YOUR_CALM", goaway);
    cr_assert(h_log_contains(&w.daemon, "streams reset before their request over request_rate_per_conn"),
              "the worker did not say why it dropped the connection");
    /* Other clients are served, and the worker did not grow. */
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, "after the refusals");
    long after = worker_rss_kib();
    if (getenv("ASAN_OPTIONS") == NULL)
        cr_assert_lt(after - before, 8 * 1024, "the worker grew from %ld to %ld KiB", before, after);

    /* Requests that reach the handler and resets together stay within an ordinary rate. */
    fd = h2_dial(w.port);
    for (stream = 1; stream < 2 * 50; stream += 2) {
        put_frame(fd, F_HEADERS, FL_END_HEADERS, stream, block, blen);
        put_frame(fd, F_RST_STREAM, 0, stream, cancel, 4);
    }
    put_frame(fd, F_HEADERS, FL_END_STREAM | FL_END_HEADERS, stream, block, blen);
    static frame_t f;
    int answered = 0;
    while (!answered && get_frame(fd, &f, 5000) == 1)
        answered = f.type == F_HEADERS && f.stream == stream;
    cr_assert(answered, "50 resets under the rate cost the connection");
    close(fd);
    h_world_stop_clean(&w);
}
