/* Cutting log bytes into WebSocket frames at line ends. Pure. */
#include "proto/pod_logs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ipd_logs_framer_init(ipd_logs_framer_t *f, size_t cap)
{
    f->buf = malloc(cap);
    f->cap = cap;
    f->len = 0;
    return f->buf != NULL ? 0 : -ENOMEM;
}

void ipd_logs_framer_dispose(ipd_logs_framer_t *f)
{
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
}

/* Emits the first `n` bytes held and keeps the rest at the front. */
static int emit_front(ipd_logs_framer_t *f, size_t n, ipd_logs_frame_cb emit, void *data)
{
    if (n == 0)
        return 0;
    int rc = emit(f->buf, n, data);
    memmove(f->buf, f->buf + n, f->len - n);
    f->len -= n;
    return rc;
}

/* Bytes up to and including the last line end held, 0 when there is none. */
static size_t whole_lines(const ipd_logs_framer_t *f)
{
    const char *nl = f->len != 0 ? memrchr(f->buf, '\n', f->len) : NULL;
    return nl != NULL ? (size_t)(nl - f->buf) + 1 : 0;
}

int ipd_logs_framer_push(ipd_logs_framer_t *f, const char *p, size_t len, ipd_logs_frame_cb emit, void *data)
{
    while (len > 0) {
        size_t take = f->cap - f->len < len ? f->cap - f->len : len;
        memcpy(f->buf + f->len, p, take);
        f->len += take;
        p += take;
        len -= take;
        if (f->len < f->cap)
            break;
        /* Full: end the frame at the last line end, or split a line longer than a frame. */
        size_t cut = whole_lines(f);
        int rc = emit_front(f, cut != 0 ? cut : f->len, emit, data);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ipd_logs_framer_flush(ipd_logs_framer_t *f, int whole, ipd_logs_frame_cb emit, void *data)
{
    return emit_front(f, whole ? whole_lines(f) : f->len, emit, data);
}
