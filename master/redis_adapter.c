#include "master/redis_adapter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/config.h"
#include "shared/log.h"

static void update(ipd_redis_conn_t *c)
{
    int rc;
    if (c->events == 0)
        ipd_mloop_io_stop(c->loop, &c->io);
    else if ((rc = ipd_mloop_io_start(c->loop, &c->io, c->events)) != 0)
        /* epoll_ctl failed (ENOMEM): the link stalls until its timeout reconnects it. */
        ipd_error("redis", "epoll_ctl for the Redis connection: %s", ipd_strerror(rc));
}

static void add_read(void *p)
{
    ipd_redis_conn_t *c = p;
    c->events |= EPOLLIN;
    update(c);
}

static void del_read(void *p)
{
    ipd_redis_conn_t *c = p;
    c->events &= ~(uint32_t)EPOLLIN;
    update(c);
}

static void add_write(void *p)
{
    ipd_redis_conn_t *c = p;
    c->events |= EPOLLOUT;
    update(c);
}

static void del_write(void *p)
{
    ipd_redis_conn_t *c = p;
    c->events &= ~(uint32_t)EPOLLOUT;
    update(c);
}

/* hiredis frees the context: called before it closes its fd. */
static void cleanup(void *p)
{
    ipd_redis_conn_t *c = p;
    c->events = 0;
    ipd_mloop_io_stop(c->loop, &c->io);
    c->ac = NULL;
}

/*
 * Feeds the reader what the socket holds, up to IPD_REDIS_READ_BYTES, but one byte: hiredis's
 * own read that follows then gets data, never the end of the stream, so that replies read
 * before a close still reach their callbacks, as without this. The master is single-threaded:
 * one buffer serves every connection.
 */
static void read_more(ipd_redis_conn_t *c)
{
    static char buf[IPD_REDIS_READ_BYTES];
    redisContext *rc = &c->ac->c;
    int avail = 0;
    if (!(rc->flags & REDIS_CONNECTED) || rc->err != 0 || ioctl(rc->fd, FIONREAD, &avail) != 0 || avail <= 1)
        return;
    size_t want = (size_t)avail - 1 < sizeof(buf) ? (size_t)avail - 1 : sizeof(buf);
    ssize_t n = read(rc->fd, buf, want);
    /* A failed feed (out of memory) leaves the reader in error: hiredis's read then fails the
     * connection. */
    if (n > 0)
        redisReaderFeed(rc->reader, buf, (size_t)n);
}

static void on_io(ipd_mloop_io_t *io, uint32_t events)
{
    ipd_redis_conn_t *c = io->data;
    int readable = c->ac != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP));
    if (readable) {
        read_more(c);
        redisAsyncHandleRead(c->ac);
    }
    /* Reading may have freed the context (the server closed the connection). Commands the
     * callbacks queued go out now rather than at the next turn of the loop. */
    if (c->ac != NULL && ((events & EPOLLOUT) || (readable && (c->events & EPOLLOUT))))
        redisAsyncHandleWrite(c->ac);
    if (readable && c->after_read != NULL)
        c->after_read(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    ipd_redis_conn_t *c = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback; cleanup() clears c->ac. */
        c->up = 0;
        c->cb(c, 0, ac->errstr[0] ? ac->errstr : "connection refused");
        return;
    }
    c->up = 1;
    c->cb(c, 1, NULL);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    ipd_redis_conn_t *c = ac->data;
    int was_up = c->up;
    c->up = 0;
    if (was_up || status != REDIS_OK)
        c->cb(c, 0, ac->errstr[0] ? ac->errstr : "connection closed");
}

int ipd_redis_conn_open(ipd_redis_conn_t *c, ipd_mloop_t *loop, const char *endpoint, ipd_redis_conn_cb cb, void *data,
                        const char **why)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->cb = cb;
    c->data = data;
    redisAsyncContext *ac;
    if (strncmp(endpoint, "unix:", 5) == 0) {
        ac = redisAsyncConnectUnix(endpoint + 5);
    } else {
        ipd_config_hostport_t hp;
        if (ipd_config_parse_hostport(endpoint, false, &hp) != 0) {
            *why = "not host:port";
            return IPD_EINVAL;
        }
        ac = redisAsyncConnect(hp.host, hp.port);
    }
    if (ac == NULL) {
        *why = "out of memory";
        return -ENOMEM;
    }
    if (ac->err) {
        static char text[128];
        snprintf(text, sizeof(text), "%s", ac->errstr);
        *why = text;
        redisAsyncFree(ac);
        return -ECONNREFUSED;
    }
    c->ac = ac;
    ac->data = c;
    ipd_redis_arena_init(&c->arena, IPD_REDIS_ARENA_LIMIT);
    ipd_redis_arena_attach(&c->arena, ac->c.reader);
    ac->c.reader->maxbuf = IPD_REDIS_READER_KEEP;
    ipd_mloop_io_init(&c->io, ac->c.fd, on_io, c);
    /* The adapter first: setting the connect callback arms write interest. */
    ac->ev.data = c;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (strncmp(endpoint, "unix:", 5) != 0)
        redisEnableKeepAlive(&ac->c);
    return 0;
}

void ipd_redis_conn_close(ipd_redis_conn_t *c)
{
    if (c->ac != NULL) {
        redisAsyncContext *ac = c->ac;
        /* No callback for a close the owner asked for. */
        ac->onDisconnect = NULL;
        c->up = 0;
        redisAsyncFree(ac);
        c->ac = NULL;
        c->events = 0;
        ipd_mloop_io_stop(c->loop, &c->io);
    }
    /* hiredis has freed every reply with the context (or before, when it freed it itself). */
    ipd_redis_arena_dispose(&c->arena);
}
