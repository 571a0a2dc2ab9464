/*
 * A growable byte buffer, the output of every encoder in proto/.
 *
 * The buffer owns `data` (heap memory, released by ipd_buf_dispose). Whenever `data` is not
 * NULL it is followed by a NUL byte that `len` does not count, so text can be used as a C
 * string. Functions never abort: an allocation failure returns -ENOMEM and leaves the buffer
 * as it was before the call.
 */
#ifndef IPD_PROTO_BUF_H
#define IPD_PROTO_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ipd_buf {
    char *data; /**< owned; NULL until the first byte is reserved */
    size_t len; /**< bytes in use */
    size_t cap; /**< bytes allocated, always > len once data is not NULL */
} ipd_buf_t;

/** Makes an empty buffer that owns nothing. Cannot fail. */
void ipd_buf_init(ipd_buf_t *buf);
/** Frees the memory and leaves an empty buffer (it may be reused). */
void ipd_buf_dispose(ipd_buf_t *buf);
/** Forgets the content but keeps the memory for reuse. */
void ipd_buf_reset(ipd_buf_t *buf);
/** Shortens the content to `len` bytes (no-op if `len` >= buf->len); used to undo a partial append. */
void ipd_buf_truncate(ipd_buf_t *buf, size_t len);
/** Makes room for `extra` more bytes (plus the NUL). Returns 0 or -ENOMEM (also on size overflow). */
int ipd_buf_reserve(ipd_buf_t *buf, size_t extra);
/** Appends `n` bytes from `src` (borrowed; may be NULL if `n` is 0). Returns 0 or -ENOMEM. */
int ipd_buf_append(ipd_buf_t *buf, const void *src, size_t n);
/** Appends a NUL-terminated string. Returns 0 or -ENOMEM. */
int ipd_buf_append_str(ipd_buf_t *buf, const char *s);
/** Appends one byte. Returns 0 or -ENOMEM. */
int ipd_buf_append_char(ipd_buf_t *buf, char c);
/**
 * Appends printf-formatted text. Returns 0, -ENOMEM, or -EINVAL if the format fails; on error
 * the content is unchanged.
 */
int ipd_buf_appendf(ipd_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** ipd_buf_appendf with a va_list. */
int ipd_buf_vappendf(ipd_buf_t *buf, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/**
 * A document being written that remembers its first failure: after it, writes do nothing and
 * `rc` says why. Saves checking every line of a long report. `buf` is borrowed.
 */
typedef struct ipd_buf_writer {
    ipd_buf_t *buf;
    int rc; /**< 0, or the first error (-ENOMEM, -EINVAL) */
} ipd_buf_writer_t;

/** Appends a formatted string unless an earlier write failed. */
void ipd_buf_writef(ipd_buf_writer_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
