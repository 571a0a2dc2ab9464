#include "master/watch_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An arena larger than this after a drain is given back rather than kept for the next batch. */
#define KEEP_ARENA (16u << 20)

void ipd_watch_batch_init(ipd_watch_batch_t *b)
{
    memset(b, 0, sizeof(*b));
    ipd_strmap_init(&b->latest);
    ipd_buf_init(&b->arena);
}

void ipd_watch_batch_dispose(ipd_watch_batch_t *b)
{
    ipd_strmap_dispose(&b->latest);
    ipd_buf_dispose(&b->arena);
    free(b->lines);
    memset(b, 0, sizeof(*b));
}

int ipd_watch_batch_put(ipd_watch_batch_t *b, const char *key, const char *line, size_t len)
{
    if (b->nlines == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        ipd_watch_line_t *l = realloc(b->lines, cap * sizeof(*l));
        if (l == NULL)
            return -ENOMEM;
        b->lines = l;
        b->cap = cap;
    }
    uintptr_t older = (uintptr_t)ipd_strmap_get(&b->latest, key);
    size_t offset = b->arena.len;
    if (ipd_buf_append(&b->arena, line, len) != 0)
        return -ENOMEM;
    if (ipd_strmap_put(&b->latest, key, (void *)(uintptr_t)(b->nlines + 1)) != 0) {
        ipd_buf_truncate(&b->arena, offset);
        return -ENOMEM;
    }
    if (older != 0) {
        b->lines[older - 1].live = 0;
        b->superseded++;
    }
    b->lines[b->nlines++] = (ipd_watch_line_t){.offset = offset, .len = len, .live = 1};
    return 0;
}

void ipd_watch_batch_drain(ipd_watch_batch_t *b, void (*cb)(void *ctx, const char *line, size_t len), void *ctx)
{
    for (size_t i = 0; i < b->nlines; i++)
        if (b->lines[i].live)
            cb(ctx, b->arena.data + b->lines[i].offset, b->lines[i].len);
    b->nlines = 0;
    ipd_strmap_clear(&b->latest);
    if (b->arena.cap > KEEP_ARENA)
        ipd_buf_dispose(&b->arena);
    else
        ipd_buf_reset(&b->arena);
}

size_t ipd_watch_batch_count(const ipd_watch_batch_t *b)
{
    return b->latest.count;
}
