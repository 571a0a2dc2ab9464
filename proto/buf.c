#include "proto/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ipd_buf_init(ipd_buf_t *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void ipd_buf_dispose(ipd_buf_t *buf)
{
    free(buf->data);
    ipd_buf_init(buf);
}

void ipd_buf_reset(ipd_buf_t *buf)
{
    buf->len = 0;
    if (buf->data != NULL)
        buf->data[0] = '\0';
}

void ipd_buf_truncate(ipd_buf_t *buf, size_t len)
{
    if (len >= buf->len)
        return;
    buf->len = len;
    buf->data[len] = '\0';
}

int ipd_buf_reserve(ipd_buf_t *buf, size_t extra)
{
    if (extra > SIZE_MAX / 2 - 1 - buf->len)
        return -ENOMEM;
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap < 64 ? 64 : buf->cap;
    while (cap < need)
        cap *= 2;
    char *p = realloc(buf->data, cap);
    if (p == NULL)
        return -ENOMEM;
    if (buf->data == NULL)
        p[0] = '\0';
    buf->data = p;
    buf->cap = cap;
    return 0;
}

int ipd_buf_append(ipd_buf_t *buf, const void *src, size_t n)
{
    int rc = ipd_buf_reserve(buf, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(buf->data + buf->len, src, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return 0;
}

int ipd_buf_append_str(ipd_buf_t *buf, const char *s)
{
    return ipd_buf_append(buf, s, strlen(s));
}

int ipd_buf_append_char(ipd_buf_t *buf, char c)
{
    return ipd_buf_append(buf, &c, 1);
}

int ipd_buf_vappendf(ipd_buf_t *buf, const char *fmt, va_list ap)
{
    va_list again;
    char small[256];
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0 || (size_t)n < sizeof(small)) {
        va_end(again);
        return n < 0 ? -EINVAL : ipd_buf_append(buf, small, (size_t)n);
    }
    int rc = ipd_buf_reserve(buf, (size_t)n);
    if (rc != 0) {
        va_end(again);
        return rc;
    }
    int m = vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, again);
    va_end(again);
    if (m != n) {
        buf->data[buf->len] = '\0';
        return -EINVAL;
    }
    buf->len += (size_t)n;
    return 0;
}

int ipd_buf_appendf(ipd_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ipd_buf_vappendf(buf, fmt, ap);
    va_end(ap);
    return rc;
}

void ipd_buf_writef(ipd_buf_writer_t *w, const char *fmt, ...)
{
    if (w->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    w->rc = ipd_buf_vappendf(w->buf, fmt, ap);
    va_end(ap);
}
