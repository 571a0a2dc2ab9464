/*
 * hiredis 0.14's asynchronous API on the master's loop (master/loop.h).
 *
 * hiredis keeps its own file descriptor; the adapter turns its five event hooks into epoll
 * interest for that descriptor (addRead/delRead -> EPOLLIN, addWrite/delWrite -> EPOLLOUT,
 * cleanup -> stop watching). hiredis 0.14 has no timeouts: the owner times its commands with
 * the loop's timers and frees a context that overstays with ipd_redis_conn_close(), never from
 * inside a hiredis callback.
 */
#ifndef IPD_MASTER_REDIS_ADAPTER_H
#define IPD_MASTER_REDIS_ADAPTER_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "master/loop.h"

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
};

/**
 * Starts connecting `c` (caller's memory, zeroed or closed) to `endpoint` ("host:port" or
 * "unix:/path") on `loop`. `cb` reports the outcome and, later, a lost connection. Returns 0,
 * or a negative code with `why` (static text) set when the attempt could not even start.
 */
int ipd_redis_conn_open(ipd_redis_conn_t *c, ipd_mloop_t *loop, const char *endpoint, ipd_redis_conn_cb cb, void *data,
                        const char **why);

/**
 * Frees the context (pending command callbacks get a NULL reply) without calling `cb`. Safe on a
 * closed connection. Not from inside a hiredis callback of this connection.
 */
void ipd_redis_conn_close(ipd_redis_conn_t *c);

#endif
