/*
 * master/redis_adapter.c against a fake Redis on a Unix socket: the adapter's larger reads, the
 * write of commands queued by callbacks before the after_read hook, and replies around a close.
 */
#include <criterion/criterion.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "master/loop.h"
#include "master/redis_adapter.h"
#include "redis_resp.h"

/* The server side: accepts one client, records what it sends, writes `out` as the socket takes
 * it, and closes once `out` is written when asked to. */
typedef struct fake {
    char dir[48], path[96];
    int listen_fd, fd;
    text_t in, out;
    size_t sent;
    int close_when_sent;
} fake_t;

static void fake_start(fake_t *f)
{
    memset(f, 0, sizeof(*f));
    f->listen_fd = resp_listen(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "/tmp/ipd-redis-adapter-XXXXXX");
    f->fd = -1;
}

static void fake_pump(fake_t *f)
{
    if (f->fd == -1 && (f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK)) < 0) {
        f->fd = -1;
        return;
    }
    if (f->fd < 0)
        return; /* closed */
    char buf[4096];
    ssize_t n;
    while ((n = read(f->fd, buf, sizeof(buf))) > 0)
        raw(&f->in, buf, (size_t)n);
    while (f->sent < f->out.len && (n = write(f->fd, f->out.data + f->sent, f->out.len - f->sent)) > 0)
        f->sent += (size_t)n;
    if (f->close_when_sent && f->sent == f->out.len) {
        close(f->fd);
        f->fd = -2;
    }
}

static int fake_got(const fake_t *f, const char *what)
{
    return f->in.len > 0 && memmem(f->in.data, f->in.len, what, strlen(what)) != NULL;
}

static void fake_stop(fake_t *f)
{
    if (f->fd >= 0)
        close(f->fd);
    close(f->listen_fd);
    free(f->in.data);
    free(f->out.data);
}

/* The client side. */
typedef struct probe {
    ipd_redis_conn_t conn;
    ipd_mloop_t *loop;
    fake_t fake;
    int up, lost;
    redisReply *want; /* what the XREAD callback must get */
    int replies, nulls;
    const redisReply *kept; /* held by the XREAD callback, checked in after_read */
    int read_events;
    int ping_out_before_after_read;
} probe_t;

static void on_conn(ipd_redis_conn_t *c, int ok, const char *why)
{
    (void)why;
    probe_t *p = c->data;
    if (ok)
        p->up = 1;
    else
        p->lost++;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    probe_t *p = priv;
    if (reply == NULL)
        p->nulls++;
    else
        p->replies++;
}

/* Checks the reply, keeps it and queues the next command, as the link's XREAD callback does. */
static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
    probe_t *p = priv;
    if (reply == NULL) {
        p->nulls++;
        return;
    }
    p->replies++;
    same_reply(reply, p->want, "XREAD reply");
    cr_assert_eq(ipd_redis_arena_hold(&p->conn.arena, reply), 0);
    p->kept = reply;
    cr_assert_eq(redisAsyncCommand(ac, on_reply, p, "PING"), REDIS_OK);
}

static void after_read(ipd_redis_conn_t *c)
{
    probe_t *p = c->data;
    p->read_events++;
    if (p->kept == NULL)
        return;
    fake_pump(&p->fake);
    p->ping_out_before_after_read = fake_got(&p->fake, "PING");
    same_reply(p->kept, p->want, "the kept reply in after_read");
    p->kept = NULL;
    ipd_redis_arena_release(&c->arena);
}

static void turn(probe_t *p)
{
    fake_pump(&p->fake);
    cr_assert_geq(ipd_mloop_run_once(p->loop, 5), 0);
}

static void probe_start(probe_t *p)
{
    memset(p, 0, sizeof(*p));
    fake_start(&p->fake);
    cr_assert_eq(ipd_mloop_create(&p->loop), 0);
    char endpoint[160];
    snprintf(endpoint, sizeof(endpoint), "unix:%s", p->fake.path);
    const char *why = NULL;
    cr_assert_eq(ipd_redis_conn_open(&p->conn, p->loop, endpoint, on_conn, p, &why), 0, "%s", why);
    p->conn.after_read = after_read;
    for (int i = 0; i < 2000 && !(p->up && p->fake.fd >= 0); i++)
        turn(p);
    /* Connected: the path is not needed any more, and a failed test leaves nothing behind. */
    unlink(p->fake.path);
    rmdir(p->fake.dir);
    cr_assert(p->up && p->fake.fd >= 0, "the adapter did not connect");
}

static void probe_stop(probe_t *p)
{
    ipd_redis_conn_close(&p->conn);
    ipd_mloop_destroy(p->loop);
    fake_stop(&p->fake);
    if (p->want != NULL)
        freeReplyObject(p->want);
}

Test(redis_adapter, a_large_reply_takes_few_read_events_and_the_next_command_leaves_before_after_read)
{
    probe_t p;
    probe_start(&p);
    xread_reply(&p.fake.out, 1000, 537); /* about 600 KB, the link's XREAD COUNT 1000 */
    p.want = parse_default(&p.fake.out);
    size_t total = p.fake.out.len;
    p.fake.out.len = 0; /* held back until the command arrives */
    cr_assert_eq(redisAsyncCommand(p.conn.ac, on_xread, &p, "XREAD"), REDIS_OK);
    for (int i = 0; i < 2000 && !fake_got(&p.fake, "XREAD"); i++)
        turn(&p);
    p.fake.out.len = total;
    p.read_events = 0;
    for (int i = 0; i < 2000 && p.replies == 0; i++)
        turn(&p);
    cr_assert_eq(p.replies, 1);
    cr_assert_null(p.kept, "after_read ran after the callback");
    cr_assert(p.ping_out_before_after_read, "the command queued by the callback was not written before after_read");
    /* hiredis alone reads 16 KB per event: 37 events for this reply. */
    cr_assert_leq(p.read_events, 12, "%d read events for %zu bytes", p.read_events, total);
    ipd_redis_arena_stats_t s;
    ipd_redis_arena_stats(&p.conn.arena, &s);
    cr_assert_eq(s.replies, 1);
    cr_assert_eq(s.heap_replies, 0);
    probe_stop(&p);
    cr_assert_eq(p.nulls, 1, "the PING pending at the close gets NULL");
}

Test(redis_adapter, replies_written_just_before_the_server_closes_reach_their_callbacks)
{
    probe_t p;
    probe_start(&p);
    cr_assert_eq(redisAsyncCommand(p.conn.ac, on_reply, &p, "GET a"), REDIS_OK);
    cr_assert_eq(redisAsyncCommand(p.conn.ac, on_reply, &p, "GET b"), REDIS_OK);
    for (int i = 0; i < 2000 && !fake_got(&p.fake, "b\r\n"); i++) {
        cr_assert_geq(ipd_mloop_run_once(p.loop, 5), 0);
        fake_pump(&p.fake);
    }
    /* Both replies and the close are in the socket before the client reads. */
    put(&p.fake.out, "+OK\r\n:7\r\n");
    p.fake.close_when_sent = 1;
    fake_pump(&p.fake);
    cr_assert_eq(p.fake.fd, -2);
    for (int i = 0; i < 2000 && p.lost == 0; i++)
        cr_assert_geq(ipd_mloop_run_once(p.loop, 5), 0);
    cr_assert_eq(p.replies, 2, "replies %d, NULL %d", p.replies, p.nulls);
    cr_assert_eq(p.nulls, 0);
    cr_assert_eq(p.lost, 1);
    cr_assert_null(p.conn.ac);
    probe_stop(&p);
}

Test(redis_adapter, a_reply_cut_short_by_a_close_gives_null_and_is_freed)
{
    probe_t p;
    probe_start(&p);
    cr_assert_eq(redisAsyncCommand(p.conn.ac, on_reply, &p, "XREAD"), REDIS_OK);
    for (int i = 0; i < 2000 && !fake_got(&p.fake, "XREAD"); i++)
        turn(&p);
    xread_reply(&p.fake.out, 300, 537);
    p.fake.out.len /= 2;
    p.fake.close_when_sent = 1;
    for (int i = 0; i < 2000 && p.lost == 0; i++)
        turn(&p);
    cr_assert_eq(p.lost, 1);
    cr_assert_eq(p.replies, 0);
    cr_assert_eq(p.nulls, 1);
    /* The reader freed the half-built reply; the arena's memory goes at the close (ASan: no leak). */
    probe_stop(&p);
}
