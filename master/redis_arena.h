/*
 * Reply objects for one hiredis reader, carved from one block of memory instead of a dozen
 * malloc() and free() calls per Stream entry.
 *
 * hiredis 0.14 builds every reply through the reader's redisReplyObjectFunctions (read.c): each
 * element is made by createString/createArray/createInteger/createNil, which also link it into
 * its parent's element array, and the whole tree is given back through freeObject on its root
 * only: after the command's callback (async.c, redisProcessCallbacks), for a reply nobody
 * waits for, and for a reply still being parsed when the reader fails (a protocol error, out of
 * memory) or is freed (the context is freed, e.g. on a lost connection). The arena's objects
 * are ordinary redisReply structs with NUL-terminated strings, so every consumer reads them
 * unchanged; only freeing differs: they must never be passed to freeReplyObject().
 *
 * One reply at a time lives in the arena: its objects are taken from the block by bumping a
 * cursor, and freeing its root makes the whole block free again. A reply that starts while the
 * arena's reply is still alive (a synchronous caller keeping a reply while reading the next,
 * or a held reply, see below) is built with malloc() instead, object by object, and freed the
 * same way; so is nothing else. The asynchronous API never does this: it frees each reply
 * before it parses the next.
 *
 * Memory: the block kept between replies is at most `limit` bytes (IPD_REDIS_ARENA_LIMIT for
 * the link's connections). A reply that needs more takes further chunks with malloc() while it
 * is parsed; they are freed with the reply, and the block then grows to what that reply needed,
 * never beyond `limit`. So an idle arena holds at most `limit` bytes, and a reply of any size
 * is read whole.
 */
#ifndef IPD_MASTER_REDIS_ARENA_H
#define IPD_MASTER_REDIS_ARENA_H

#include <hiredis/read.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The link's limit: bytes an arena keeps between replies. An XREAD COUNT 1000 reply of the
 * link's records (536 bytes each) takes about 1.33 MB in the arena (12 objects of 56 bytes and
 * the strings, per entry); a snapshot of about 6 000 tasks fits as well. Larger replies spill
 * over into chunks that are freed with them.
 */
#define IPD_REDIS_ARENA_LIMIT (4u << 20)

typedef struct ipd_redis_arena_chunk ipd_redis_arena_chunk_t;

typedef struct ipd_redis_arena_stats {
    uint64_t replies;      /**< replies built in the arena */
    uint64_t heap_replies; /**< replies built with malloc() (another reply was alive) */
    uint64_t spilled;      /**< replies of the arena that needed chunks beyond the block */
    size_t block;          /**< bytes of the block kept now (at most the limit) */
} ipd_redis_arena_stats_t;

typedef struct ipd_redis_arena {
    size_t _limit;
    char *_block; /* owned, _cap bytes; NULL until a reply needed memory */
    size_t _cap;
    char *_cur, *_end;                /* the free part of the block or of the newest chunk */
    ipd_redis_arena_chunk_t *_chunks; /* owned: the spill-over of the reply in the arena */
    size_t _spill;                    /* bytes the reply in the arena took from chunks */
    const void *_root;                /* the reply in the arena; NULL when none is alive */
    int _heap;                        /* the reply being parsed is built with malloc() */
    int _held;                        /* the owner keeps _root past hiredis's free */
    int _freed;                       /* hiredis freed _root while it was held */
    ipd_redis_arena_stats_t _stats;
} ipd_redis_arena_t;

/** Prepares `a` (caller's memory) to keep at most `limit` bytes between replies. Allocates nothing. */
void ipd_redis_arena_init(ipd_redis_arena_t *a, size_t limit);
/** Sets the bytes the arena keeps between replies from now on; a block larger than that is
 *  freed once no reply lives in it. */
void ipd_redis_arena_set_limit(ipd_redis_arena_t *a, size_t limit);

/**
 * Frees the arena's memory. Every reply built by it must be gone already (the reader it was
 * attached to freed, or at least idle with its replies freed), a held one included.
 */
void ipd_redis_arena_dispose(ipd_redis_arena_t *a);

/**
 * Makes reader `r` (borrowed; it must not have begun a reply) build its replies with `a`: sets
 * its object functions and its privdata. `a` must outlive the reader: hiredis frees a reply
 * still being parsed when it frees the reader.
 */
void ipd_redis_arena_attach(ipd_redis_arena_t *a, redisReader *r);

/**
 * Keeps `reply` (a reply of `a` being handed to a callback) alive after hiredis frees it, until
 * ipd_redis_arena_release(): the owner may read it after the callback returns. Returns 0, or
 * IPD_EINVAL when `reply` is not the arena's reply (built with malloc(), or a reply of another
 * reader), which hiredis frees as usual after the callback. One reply at a time is held.
 */
int ipd_redis_arena_hold(ipd_redis_arena_t *a, const void *reply);

/** Ends the hold: the held reply is freed now if hiredis freed it meanwhile. Safe without a hold. */
void ipd_redis_arena_release(ipd_redis_arena_t *a);

void ipd_redis_arena_stats(const ipd_redis_arena_t *a, ipd_redis_arena_stats_t *out);

#endif
