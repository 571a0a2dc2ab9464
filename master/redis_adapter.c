#include "master/redis_adapter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

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

static void on_io(ipd_mloop_io_t *io, uint32_t events)
{
    ipd_redis_conn_t *c = io->data;
    if (c->ac != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleRead(c->ac);
    /* Reading may have freed the context (the server closed the connection). */
    if (c->ac != NULL && (events & EPOLLOUT))
        redisAsyncHandleWrite(c->ac);
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
    if (c->ac == NULL)
        return;
    redisAsyncContext *ac = c->ac;
    /* No callback for a close the owner asked for. */
    ac->onDisconnect = NULL;
    c->up = 0;
    redisAsyncFree(ac);
    c->ac = NULL;
    c->events = 0;
    ipd_mloop_io_stop(c->loop, &c->io);
}
