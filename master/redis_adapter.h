/*
 * hiredis 0.14's asynchronous API on the master's loop (master/loop.h).
 *
 * hiredis keeps its own file descriptor; the adapter turns its five event hooks into epoll
 * interest for that descriptor (addRead/delRead -> EPOLLIN, addWrite/delWrite -> EPOLLOUT,
 * cleanup -> stop watching). hiredis 0.14 has no timeouts: the owner times its commands with
 * the loop's timers and frees a context that overstays with ipd_redis_conn_close(), never from
 * inside a hiredis callback.
 *
 * Reading: hiredis reads at most 16 KB per call of redisAsyncHandleRead(), so a reply of 600 KB
 * took some 40 turns of the loop. On a read event the adapter first reads what the socket holds
 * (up to IPD_REDIS_READ_BYTES, leaving hiredis one byte so that hiredis, not the adapter, sees an
 * end of file or an error) into the context's reader (redisReaderFeed), then lets hiredis read
 * and hand the replies to their callbacks. Replies are built in the connection's arena
 * (master/redis_arena.h). Commands the callbacks queued are written right after, before the
 * owner's after_read hook runs: a callback can queue the next command, keep its reply
 * (ipd_redis_arena_hold) and leave the work on it to after_read, so that Redis prepares the next
 * reply meanwhile.
 */
#ifndef IPD_MASTER_REDIS_ADAPTER_H
#define IPD_MASTER_REDIS_ADAPTER_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "master/loop.h"
#include "master/redis_arena.h"

/** Bytes the adapter reads from the socket per read event, at most. */
#define IPD_REDIS_READ_BYTES (256u << 10)
/**
 * The reader's input buffer is kept between replies up to this many bytes free (hiredis frees
 * it beyond 16 KB, which for reads of IPD_REDIS_READ_BYTES meant a new buffer every read).
 */
#define IPD_REDIS_READER_KEEP (1u << 20)

typedef struct ipd_redis_conn ipd_redis_conn_t;

/** Called once the connection is up (`ok` 1) or could not be made or was lost (`ok` 0). */
typedef void (*ipd_redis_conn_cb)(ipd_redis_conn_t *c, int ok, const char *why);

struct ipd_redis_conn {
    redisAsyncContext *ac; /**< owned by hiredis; NULL once freed */
    ipd_mloop_t *loop;     /**< borrowed */
    ipd_mloop_io_t io;
    uint32_t events;
    int up;               /**< the connect callback said OK */
    ipd_redis_conn_cb cb; /**< connect and disconnect outcome */
    void *data;           /**< the owner's */
    /**
     * Builds the replies: at most IPD_REDIS_ARENA_LIMIT bytes kept between replies. Lives until
     * ipd_redis_conn_close(), also after hiredis freed the context on its own.
     */
    ipd_redis_arena_t arena;
    /**
     * Called at the end of each read event, after the replies read went to their callbacks and
     * the commands those queued were written; `ac` may be NULL by then (the connection was
     * lost), the arena is still there. Set by the owner after ipd_redis_conn_open(); NULL for
     * none. It must not close the connection.
     */
    void (*after_read)(ipd_redis_conn_t *c);
};

/**
 * Starts connecting `c` (caller's memory, zeroed or closed) to `endpoint` ("host:port" or
 * "unix:/path") on `loop`. `cb` reports the outcome and, later, a lost connection. Returns 0,
 * or a negative code with `why` (static text) set when the attempt could not even start.
 */
int ipd_redis_conn_open(ipd_redis_conn_t *c, ipd_mloop_t *loop, const char *endpoint, ipd_redis_conn_cb cb, void *data,
                        const char **why);

/**
 * Frees the context (pending command callbacks get a NULL reply) without calling `cb`, then the
 * arena's memory. Safe on a closed connection. Not from inside a hiredis callback of this
 * connection nor from its after_read hook.
 */
void ipd_redis_conn_close(ipd_redis_conn_t *c);

#endif
