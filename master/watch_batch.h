/*
 * The watch lines of one loop iteration, the latest per object. Within an iteration only the
 * last state of an object matters to the model (it publishes once per iteration), so a burst of
 * events for few objects costs one JSON parse per object instead of one per event.
 */
#ifndef IPD_MASTER_WATCH_BATCH_H
#define IPD_MASTER_WATCH_BATCH_H

#include "proto/error.h"
#include <stddef.h>
#include <stdint.h>

#include "master/strmap.h"
#include "proto/buf.h"

typedef struct ipd_watch_line {
    size_t offset, len; /**< where the copy lies in the arena */
    int live;           /**< 0 once a later line of the same object came */
} ipd_watch_line_t;

typedef struct ipd_watch_batch {
    ipd_buf_t arena;         /**< copies of the lines, one allocation for the whole batch */
    ipd_watch_line_t *lines; /**< in arrival order */
    size_t nlines, cap;
    ipd_strmap_t latest; /**< object key -> index + 1 in `lines` */
    uint64_t superseded; /**< lines dropped because a later one of the same object came */
} ipd_watch_batch_t;

/** Prepares an empty batch in caller memory. */
void ipd_watch_batch_init(ipd_watch_batch_t *b);
/** Frees the batch and every held line without delivering it. */
void ipd_watch_batch_dispose(ipd_watch_batch_t *b);
/**
 * Holds a copy of `line` (`len` bytes) as the latest of object `key` (borrowed,
 * NUL-terminated), dropping an earlier line of the same object. Returns 0 or -ENOMEM.
 */
IPD_MUST_USE int ipd_watch_batch_put(ipd_watch_batch_t *b, const char *key, const char *line, size_t len);
/** Hands every held line to `cb` (borrowed for the call) in arrival order, then empties the batch. */
void ipd_watch_batch_drain(ipd_watch_batch_t *b, void (*cb)(void *ctx, const char *line, size_t len), void *ctx);
/** Lines held. */
size_t ipd_watch_batch_count(const ipd_watch_batch_t *b);

#endif
