/*
 * Cutting log bytes into frames (proto/pod_logs.h). The first byte sets the frame size (1-64),
 * the second how many bytes arrive at a time (1-32); the rest is the log. Properties: the frames
 * put together are exactly the bytes pushed; no frame is empty or longer than the frame size;
 * every frame but the last of a final flush ends at a line end unless it is full; a whole-line
 * flush leaves only a partial line held.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/pod_logs.h"

typedef struct sink {
    char *out;
    size_t len;
    size_t cap;
    int whole; /* frames of this flush must end at a line end unless full */
} sink_t;

static int collect(const char *frame, size_t len, void *data)
{
    sink_t *s = data;
    if (len == 0 || len > s->cap)
        abort();
    if (len < s->cap && s->whole && frame[len - 1] != '\n')
        abort();
    memcpy(s->out + s->len, frame, len);
    s->len += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = 1 + data[0] % 64, step = 1 + data[1] % 32;
    const char *log = (const char *)data + 2;
    size_t n = size - 2;
    ipd_logs_framer_t f;
    if (ipd_logs_framer_init(&f, cap) != 0)
        abort();
    sink_t s = {malloc(n + 1), 0, cap, 1};
    if (s.out == NULL)
        abort();
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        if (ipd_logs_framer_push(&f, log + i, k, collect, &s) != 0)
            abort();
        if (f.len > cap)
            abort();
    }
    if (ipd_logs_framer_flush(&f, 1, collect, &s) != 0 || memchr(f.buf, '\n', f.len) != NULL)
        abort();
    s.whole = 0;
    if (ipd_logs_framer_flush(&f, 0, collect, &s) != 0 || f.len != 0)
        abort();
    if (s.len != n || memcmp(s.out, log, n) != 0)
        abort();
    free(s.out);
    ipd_logs_framer_dispose(&f);
    return 0;
}
