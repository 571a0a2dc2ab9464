/*
 * master/redis_link.c against a fake Redis on a Unix socket: the path where an XREAD reply is
 * applied inside its callback. And the sequence judging of Stream entries typed by hand
 * (apply_entry, called directly).
 *
 * The link keeps an XREAD reply in the reading connection's arena and applies it after the read
 * event (on_rd_read). Should a second XREAD reply be parsed in the same read event, the arena
 * still holds the first: the second is built with malloc() and applied inside on_xread, after
 * the first. The link never has two XREADs outstanding by itself (a read-ahead goes out only
 * once the reply before it came), so this test sends the second one as a read-ahead would,
 * through the link's own read_from(): the source is included for that, and the test links it
 * in place of the library's copy.
 */
#include "master/redis_link.c"

#include <criterion/criterion.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "redis_resp.h"

#define ENTRIES     6
#define PER_REPLY   3 /* entries per XREAD reply, whatever the XREAD's COUNT */
#define XREADS_MAX  16
#define CLIENTS_MAX 4
#define ARGS_MAX    32

typedef struct client {
    int fd;
    text_t in;
    size_t parsed;
} client_t;

/* An XREAD not answered yet: its client, the id it reads after, and whether it has BLOCK. */
typedef struct xread {
    int client;
    char from[32];
    int block;
} xread_t;

/* The server side: answers the liveness and snapshot scripts of a Redis holding nothing but
 * the Stream `entries` (of node-2), and XREADs from it, PER_REPLY entries at most each; an
 * XREAD with nothing after its id waits, as does every XREAD while `hold`. */
typedef struct fake {
    char dir[48], path[96];
    int listen_fd;
    client_t c[CLIENTS_MAX];
    int nc;
    text_t entry[ENTRIES];
    char id[ENTRIES][16];
    xread_t waiting[XREADS_MAX];
    int nwaiting;
    char asked[XREADS_MAX][32];  /* the id of every XREAD, in the order they came */
    int asked_block[XREADS_MAX]; /* and whether it had BLOCK */
    int nasked;
    int hold;
    int snapshot_hashes; /* the snapshot also holds node-1's and node-2's hash, a record each, and
                            their {p}:left: hash, a keep job each left (pj-left-1, pj-left-2) */
} fake_t;

/* The record of `node`'s task of job `id` (pulling), encoded. */
static void record_of(ipd_buf_t *rec, const char *id, const char *node)
{
    ipd_job_t job;
    ipd_task_t task;
    memset(&job, 0, sizeof(job));
    snprintf(job.id, sizeof(job.id), "%s", id);
    snprintf(job.image, sizeof(job.image), "registry.example/app:%s", id);
    job.spec.ttl_seconds_after_finished = -1;
    ipd_task_init(&task, node, 1000);
    task.state = IPD_TASK_PULLING;
    ipd_buf_init(rec);
    cr_assert_eq(ipd_redis_record_encode(rec, &job, 2, NULL, &task), 0);
}

/* That record as a bulk string. */
static void record_bulk(text_t *t, const char *id, const char *node)
{
    ipd_buf_t rec;
    record_of(&rec, id, node);
    put(t, "$%zu\r\n", rec.len);
    raw(t, rec.data, rec.len);
    put(t, "\r\n");
    ipd_buf_dispose(&rec);
}

/* Stream ids "<ms>-<seq>" compared as numbers. */
static int id_after(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am > bm || (am == bm && as > bs);
}

/* One command [arg, ...] from `in` at `at`: its length in bytes, 0 when it is not all there. */
static size_t parse_command(const char *in, size_t len, size_t at, const char *arg[ARGS_MAX], size_t alen[ARGS_MAX],
                            int *argc)
{
    const char *p = in + at, *end = in + len;
    char *nl;
    if (p >= end || *p != '*' || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
        return 0;
    int n = atoi(p + 1);
    p = nl + 1;
    *argc = 0;
    for (int i = 0; i < n; i++) {
        if (p >= end || *p != '$' || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            return 0;
        size_t l = (size_t)atol(p + 1);
        p = nl + 1;
        if ((size_t)(end - p) < l + 2)
            return 0;
        if (*argc < ARGS_MAX) {
            arg[*argc] = p;
            alen[*argc] = l;
            (*argc)++;
        }
        p += l + 2;
    }
    return (size_t)(p - (in + at));
}

static void send_all(int fd, const text_t *t)
{
    size_t sent = 0;
    while (sent < t->len) {
        ssize_t n = write(fd, t->data + sent, t->len - sent);
        cr_assert_gt(n, 0, "the fake Redis could not write");
        sent += (size_t)n;
    }
}

/* The reply to XREAD `x` into `out`; 0 when nothing follows its id and it has BLOCK (it waits);
 * without BLOCK it is answered with none (nil), as Redis does. */
static int xread_reply_of(fake_t *f, const xread_t *x, text_t *out)
{
    int first = 0;
    while (first < ENTRIES && !id_after(f->id[first], x->from))
        first++;
    int n = ENTRIES - first < PER_REPLY ? ENTRIES - first : PER_REPLY;
    if (n == 0 && !x->block)
        put(out, "*-1\r\n");
    if (n == 0)
        return !x->block;
    put(out, "*1\r\n*2\r\n");
    bulk(out, "{t}:stream");
    put(out, "*%d\r\n", n);
    for (int i = first; i < first + n; i++)
        raw(out, f->entry[i].data, f->entry[i].len);
    return 1;
}

/* Answers every waiting XREAD that can be answered; the replies of one client go out in one
 * write, so that the link reads them in one read event. */
static void fake_answer(fake_t *f)
{
    if (f->hold)
        return;
    for (int c = 0; c < f->nc; c++) {
        text_t out = {0};
        int k = 0;
        for (int i = 0; i < f->nwaiting; i++) {
            if (f->waiting[i].client == c && xread_reply_of(f, &f->waiting[i], &out))
                continue;
            f->waiting[k++] = f->waiting[i];
        }
        f->nwaiting = k;
        if (out.len > 0)
            send_all(f->c[c].fd, &out);
        free(out.data);
    }
}

static void fake_command(fake_t *f, int c, const char **arg, const size_t *alen, int argc)
{
    text_t out = {0};
    if (argc >= 6 && alen[0] == 5 && strncasecmp(arg[0], "XREAD", 5) == 0) {
        cr_assert_lt(f->nwaiting, XREADS_MAX);
        cr_assert_lt(f->nasked, XREADS_MAX);
        xread_t *x = &f->waiting[f->nwaiting++];
        x->client = c;
        x->block = 0;
        for (int i = 1; i < argc; i++)
            x->block |= alen[i] == 5 && strncasecmp(arg[i], "BLOCK", 5) == 0;
        snprintf(x->from, sizeof(x->from), "%.*s", (int)alen[argc - 1], arg[argc - 1]);
        f->asked_block[f->nasked] = x->block;
        memcpy(f->asked[f->nasked++], x->from, sizeof(x->from));
        return;
    }
    if (argc >= 2 && alen[0] == 4 && strncasecmp(arg[0], "EVAL", 4) == 0 &&
        memmem(arg[1], alen[1], "XREVRANGE", 9) != NULL) {
        /* the snapshot: an empty Stream, sequence 0, and no node's hash unless asked */
        put(&out, "*%d\r\n", f->snapshot_hashes ? 8 : 2);
        bulk(&out, "0-0");
        bulk(&out, "0");
        for (int k = 0; f->snapshot_hashes && k < 2; k++) {
            const char *node = k == 0 ? "node-1" : "node-2";
            char id[IPD_JOB_ID_SIZE];
            snprintf(id, sizeof(id), "pj-hash-%d", k + 1);
            bulk(&out, node);
            put(&out, "*2\r\n");
            bulk(&out, id);
            record_bulk(&out, id, node);
            snprintf(id, sizeof(id), "pj-left-%d", k + 1);
            put(&out, "*1\r\n");
            bulk(&out, id);
        }
    } else if (argc >= 2 && alen[0] == 4 && strncasecmp(arg[0], "EVAL", 4) == 0 &&
               memmem(arg[1], alen[1], "'PX'", 4) != NULL) {
        put(&out, "*1\r\n"); /* liveness: the epoch, no other node */
        bulk(&out, "epoch-1");
    } else {
        put(&out, ":0\r\n");
    }
    send_all(f->c[c].fd, &out);
    free(out.data);
}

static void fake_pump(fake_t *f)
{
    int fd;
    while (f->nc < CLIENTS_MAX && (fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
        f->c[f->nc++] = (client_t){.fd = fd};
    for (int c = 0; c < f->nc; c++) {
        client_t *cl = &f->c[c];
        char buf[4096];
        ssize_t n;
        while (cl->fd >= 0 && (n = read(cl->fd, buf, sizeof(buf))) > 0)
            raw(&cl->in, buf, (size_t)n);
        const char *arg[ARGS_MAX];
        size_t alen[ARGS_MAX], used;
        int argc;
        while ((used = parse_command(cl->in.data, cl->in.len, cl->parsed, arg, alen, &argc)) > 0) {
            cl->parsed += used;
            fake_command(f, c, arg, alen, argc);
        }
    }
    fake_answer(f);
}

/* The entry of change `seq` (1 up): `node`'s task of job pj-<seq>. */
static void fake_entry_of(fake_t *f, int seq, const char *node)
{
    char id[IPD_JOB_ID_SIZE];
    snprintf(id, sizeof(id), "pj-%d", seq);
    ipd_buf_t rec;
    record_of(&rec, id, node);
    text_t *t = &f->entry[seq - 1];
    free(t->data);
    memset(t, 0, sizeof(*t));
    snprintf(f->id[seq - 1], sizeof(f->id[0]), "%d-1", seq);
    char s[16];
    snprintf(s, sizeof(s), "%d", seq);
    put(t, "*2\r\n");
    bulk(t, f->id[seq - 1]);
    put(t, "*8\r\n");
    bulk(t, "n");
    bulk(t, node);
    bulk(t, "s");
    bulk(t, s);
    bulk(t, "j");
    bulk(t, id);
    bulk(t, "r");
    put(t, "$%zu\r\n", rec.len);
    raw(t, rec.data, rec.len);
    put(t, "\r\n");
    ipd_buf_dispose(&rec);
}

/* The entry of change `seq` (1 up): node-2's task of job pj-<seq>. */
static void fake_entry(fake_t *f, int seq)
{
    fake_entry_of(f, seq, "node-2");
}

static void fake_start(fake_t *f)
{
    memset(f, 0, sizeof(*f));
    f->listen_fd = resp_listen(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "/tmp/ipd-redis-link-XXXXXX");
    for (int seq = 1; seq <= ENTRIES; seq++)
        fake_entry(f, seq);
}

static void fake_stop(fake_t *f)
{
    for (int c = 0; c < f->nc; c++) {
        close(f->c[c].fd);
        free(f->c[c].in.data);
    }
    for (int i = 0; i < ENTRIES; i++)
        free(f->entry[i].data);
    resp_unlisten(f->listen_fd, f->dir, f->path);
}

/* What the link applied: the job ids, in order, and node-1's (this node's) apart. */
typedef struct applied {
    char id[ENTRIES * 4][IPD_JOB_ID_SIZE];
    int n;
    char own_id[4][IPD_JOB_ID_SIZE];
    int own;
    char left[4][IPD_JOB_ID_SIZE + IPD_NODE_SIZE]; /* "<job> <node>" of each leave */
    int nleft;
} applied_t;

static void on_leave(void *ctx, const char *id, const char *node)
{
    applied_t *a = ctx;
    if (a->nleft < 4)
        snprintf(a->left[a->nleft], sizeof(a->left[0]), "%s %s", id, node);
    a->nleft++;
}

static void on_apply(void *ctx, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    (void)selection;
    applied_t *a = ctx;
    if (strcmp(task->node, "node-1") == 0) {
        if (a->own < 4)
            snprintf(a->own_id[a->own], sizeof(a->own_id[0]), "%s", job->id);
        a->own++;
        return;
    }
    cr_assert_str_eq(task->node, "node-2");
    if (a->n < ENTRIES * 4)
        snprintf(a->id[a->n], sizeof(a->id[0]), "%s", job->id);
    a->n++;
}

typedef struct world {
    fake_t fake;
    ipd_mloop_t *loop;
    ipd_redis_link_t *link;
    applied_t applied;
} world_t;

static void turn(world_t *w)
{
    fake_pump(&w->fake);
    cr_assert_geq(ipd_mloop_run_once(w->loop, 5), 0);
    fake_pump(&w->fake);
}

#define TURNS_MAX 4000

/* The fake (holding its answers back when `hold`) and node-1's link to it, reading `read_count`
 * entries per XREAD (0: the default). */
static void start(world_t *w, int hold, int read_count)
{
    static ipd_config_t cfg;
    char err[256];
    memset(w, 0, sizeof(*w));
    fake_start(&w->fake);
    w->fake.hold = hold;
    cr_assert_eq(ipd_mloop_create(&w->loop), 0);
    ipd_config_init(&cfg);
    cr_assert_eq(ipd_config_finalize(&cfg, err, sizeof(err)), 0, "%s", err);
    snprintf(cfg.redis, sizeof(cfg.redis), "unix:%s", w->fake.path);
    snprintf(cfg.node_name, sizeof(cfg.node_name), "node-1");
    snprintf(cfg.redis_prefix, sizeof(cfg.redis_prefix), "t");
    if (read_count > 0)
        cfg.redis_read_count = read_count;
    ipd_redis_link_ops_t ops = {.apply = on_apply, .leave = on_leave, .ctx = &w->applied};
    cr_assert_eq(ipd_redis_link_create(w->loop, &cfg, &ops, &w->link, err, sizeof(err)), 0, "%s", err);
}

Test(redis_link, a_second_xread_reply_in_one_read_event_is_applied_in_its_callback_after_the_first)
{
    static world_t w;
    start(&w, 1, 0);
    ipd_redis_link_t *l = w.link;

    /* Up, and reading the Stream from the snapshot's id. */
    for (int i = 0; i < TURNS_MAX && w.fake.nasked < 1; i++)
        turn(&w);
    cr_assert_eq(l->state, IPD_REDIS_UP);
    cr_assert_eq(w.fake.nasked, 1, "the link did not read the Stream");
    cr_assert_str_eq(w.fake.asked[0], "0-0");
    /* A second XREAD from where the first one's reply will end, as a read-ahead would be. */
    read_from(l, w.fake.id[PER_REPLY - 1], strlen(w.fake.id[PER_REPLY - 1]), 1);
    for (int i = 0; i < TURNS_MAX && w.fake.nasked < 2; i++)
        turn(&w);
    cr_assert_eq(w.fake.nasked, 2);
    cr_assert_eq(w.fake.nwaiting, 2);
    /* Both replies in one write: the link parses the second while it holds the first. */
    w.fake.hold = 0;
    fake_answer(&w.fake);
    cr_assert_eq(w.fake.nwaiting, 0);
    for (int i = 0; i < TURNS_MAX && (w.applied.n < ENTRIES || w.fake.nasked < 3); i++)
        turn(&w);
    /* A little longer: whatever the link reads next is applied or skipped now. */
    for (int i = 0; i < 50; i++)
        turn(&w);

    ipd_redis_arena_stats_t as;
    ipd_redis_arena_stats(&l->rd.arena, &as);
    cr_assert_eq(as.heap_replies, 1, "the second reply was not built with malloc(): the path was not taken");
    cr_assert_eq(w.applied.n, ENTRIES, "%d records applied, not %d", w.applied.n, ENTRIES);
    for (int i = 0; i < ENTRIES; i++) {
        char want[IPD_JOB_ID_SIZE];
        snprintf(want, sizeof(want), "pj-%d", i + 1);
        cr_assert_str_eq(w.applied.id[i], want, "record %d", i + 1);
    }
    ipd_redis_link_stats_t st;
    ipd_redis_link_stats(l, &st);
    cr_assert_eq(st.applied, ENTRIES);
    cr_assert_eq(st.skipped, 0, "%" PRIu64 " entries read again and skipped", st.skipped);
    cr_assert_eq(st.resyncs, 1, "the link resynced after the two replies");
    /* And reads on after the last entry applied, not from the first reply's end. */
    cr_assert_geq(w.fake.nasked, 3);
    cr_assert_str_eq(w.fake.asked[2], w.fake.id[ENTRIES - 1]);
    cr_assert_eq(l->reading, 1);
    cr_assert_null(l->held);

    ipd_redis_link_destroy(w.link);
    ipd_mloop_destroy(w.loop);
    fake_stop(&w.fake);
}

/*
 * Catching up (ipd_redis_link_publish_delay, which master/daemon.c asks before it publishes): a
 * full reply sends the read-ahead without BLOCK, and while it is out the master may hold back
 * publishing what records of other nodes changed, for what is left of the window. Redis
 * answers a read-ahead at once; answered with nothing, the link has caught up: it reads on with
 * BLOCK and nothing is held back, whatever the window.
 */
Test(redis_link, publishing_is_held_back_while_the_link_catches_up_and_never_once_it_has)
{
    static world_t w;
    start(&w, 0, PER_REPLY); /* every reply of the fake with entries is full */
    ipd_redis_link_t *l = w.link;

    const int64_t window = 60000;
    int held = 0;
    for (int i = 0; i < TURNS_MAX && !(w.applied.n == ENTRIES && w.fake.nasked >= 4 && w.fake.nwaiting == 1); i++) {
        turn(&w);
        int64_t now = (int64_t)now_ms();
        int64_t delay = ipd_redis_link_publish_delay(l, now - 10, now, window);
        cr_assert_leq(delay, window - 10);
        if (delay > 0) {
            held++;
            cr_assert_lt(w.applied.n, ENTRIES + 1);
            cr_assert_eq(ipd_redis_link_publish_delay(l, now - window, now, window), 0,
                         "held back for longer than the window");
            cr_assert_eq(ipd_redis_link_publish_delay(l, -1, now, window), 0, "held back another input's change");
            cr_assert_eq(ipd_redis_link_publish_delay(l, now, now, 0), 0, "held back with a window of 0");
        }
    }
    cr_assert_eq(w.applied.n, ENTRIES);
    cr_assert_gt(held, 0, "nothing was held back while the link caught up");
    /* The reads: from the snapshot with BLOCK; two read-aheads without, the second answered with
     * nothing; then reading on with BLOCK from the last entry. */
    cr_assert_eq(w.fake.nasked, 4);
    const int want_block[4] = {1, 0, 0, 1};
    const char *want_from[4] = {"0-0", w.fake.id[PER_REPLY - 1], w.fake.id[ENTRIES - 1], w.fake.id[ENTRIES - 1]};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(w.fake.asked_block[i], want_block[i], "XREAD %d %s BLOCK", i + 1,
                     want_block[i] ? "lacked" : "had");
        cr_assert_str_eq(w.fake.asked[i], want_from[i], "XREAD %d", i + 1);
    }
    /* Caught up: its reading XREAD waits in Redis, and nothing is held back. */
    int64_t now = (int64_t)now_ms();
    cr_assert_eq(l->reading, 1);
    cr_assert_eq(ipd_redis_link_publish_delay(l, now, now, window), 0, "held back after the link caught up");
    cr_assert_eq(ipd_redis_link_publish_delay(NULL, now, now, window), 0);

    ipd_redis_link_destroy(w.link);
    ipd_mloop_destroy(w.loop);
    fake_stop(&w.fake);
}

/*
 * A paused link (ipd_redis_link_pause, while the master publishes what it applied in parts)
 * sends no XREAD: the reply already asked for is applied, nothing follows it, not even the
 * read-ahead a full reply sends. Resumed, it reads on from the last entry applied.
 */
Test(redis_link, a_paused_link_reads_nothing_more_and_reads_on_once_resumed)
{
    static world_t w;
    start(&w, 1, PER_REPLY);
    ipd_redis_link_t *l = w.link;
    for (int i = 0; i < TURNS_MAX && w.fake.nasked < 1; i++)
        turn(&w);
    cr_assert_eq(w.fake.nasked, 1, "the link did not read the Stream");
    ipd_redis_link_pause(l, 1);
    w.fake.hold = 0;
    for (int i = 0; i < TURNS_MAX && w.applied.n < PER_REPLY; i++)
        turn(&w);
    for (int i = 0; i < 50; i++)
        turn(&w);
    cr_assert_eq(w.applied.n, PER_REPLY, "the reply asked for before the pause was not applied");
    cr_assert_eq(w.fake.nasked, 1, "a paused link sent %d more XREADs", w.fake.nasked - 1);
    cr_assert_eq(l->reading, 0);
    int64_t now = (int64_t)now_ms();
    cr_assert_eq(ipd_redis_link_publish_delay(l, now, now, 60000), 0, "a paused link held publishing back");

    ipd_redis_link_pause(l, 0);
    for (int i = 0; i < TURNS_MAX && !(w.applied.n == ENTRIES && w.fake.nasked >= 4 && w.fake.nwaiting == 1); i++)
        turn(&w);
    cr_assert_eq(w.applied.n, ENTRIES);
    cr_assert_eq(w.fake.nasked, 4);
    const int want_block[4] = {1, 1, 0, 1};
    const char *want_from[4] = {"0-0", w.fake.id[PER_REPLY - 1], w.fake.id[ENTRIES - 1], w.fake.id[ENTRIES - 1]};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(w.fake.asked_block[i], want_block[i], "XREAD %d", i + 1);
        cr_assert_str_eq(w.fake.asked[i], want_from[i], "XREAD %d", i + 1);
    }
    ipd_redis_link_stats_t st;
    ipd_redis_link_stats(l, &st);
    cr_assert_eq(st.skipped, 0);
    ipd_redis_link_pause(NULL, 1);

    ipd_redis_link_destroy(w.link);
    ipd_mloop_destroy(w.loop);
    fake_stop(&w.fake);
}

/* ---- sequence numbers of entries typed by hand ---- */

/* Stream entry `id` as XREAD returns it: node `node`, sequence `seq`, job `job`, record `rec`. */
static redisReply *typed_entry(const char *id, const char *node, const char *seq, const char *job, const char *rec,
                               size_t rec_len)
{
    text_t t = {0};
    put(&t, "*2\r\n");
    bulk(&t, id);
    put(&t, "*8\r\n");
    bulk(&t, "n");
    bulk(&t, node);
    bulk(&t, "s");
    bulk(&t, seq);
    bulk(&t, "j");
    bulk(&t, job);
    bulk(&t, "r");
    put(&t, "$%zu\r\n", rec_len);
    raw(&t, rec, rec_len);
    put(&t, "\r\n");
    redisReply *r = parse_default(&t);
    free(t.data);
    return r;
}

/* Entry `id` of node-2's change `seq`, as its daemon publishes it: its task of job `job`. */
static redisReply *published_entry(const char *id, const char *seq, const char *job)
{
    ipd_job_t j;
    ipd_task_t task;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", job);
    snprintf(j.image, sizeof(j.image), "registry.example/app:1");
    j.spec.ttl_seconds_after_finished = -1;
    ipd_task_init(&task, "node-2", 1000);
    task.state = IPD_TASK_SUCCEEDED;
    ipd_buf_t rec;
    ipd_buf_init(&rec);
    cr_assert_eq(ipd_redis_record_encode(&rec, &j, 2, NULL, &task), 0);
    redisReply *r = typed_entry(id, "node-2", seq, job, rec.data, rec.len);
    ipd_buf_dispose(&rec);
    return r;
}

/*
 * An entry typed by hand (redis-cli XADD, which leaves the counter {p}:seq as it is) with the
 * sequence number expected next and a record of format version 2: the link cannot tell it from
 * a newer daemon's, so it takes the number and skips the record (counted, logged once as of a
 * newer format). The change a daemon publishes next carries that same number, the counter's
 * next: it is applied, not skipped as older than what was applied and not taken for a gap, and
 * the changes after it follow on.
 */
Test(redis_link, the_change_that_carries_the_number_a_typed_newer_record_took_is_applied)
{
    ipd_mloop_t *loop;
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    static ipd_config_t cfg;
    char err[256];
    ipd_config_init(&cfg);
    cr_assert_eq(ipd_config_finalize(&cfg, err, sizeof(err)), 0, "%s", err);
    snprintf(cfg.redis, sizeof(cfg.redis), "unix:/nonexistent/redis.sock"); /* the loop never runs: no connect */
    snprintf(cfg.node_name, sizeof(cfg.node_name), "node-1");
    snprintf(cfg.redis_prefix, sizeof(cfg.redis_prefix), "t");
    applied_t applied = {0};
    ipd_redis_link_ops_t ops = {.apply = on_apply, .ctx = &applied};
    ipd_redis_link_t *l;
    cr_assert_eq(ipd_redis_link_create(loop, &cfg, &ops, &l, err, sizeof(err)), 0, "%s", err);
    FILE *log = tmpfile();
    cr_assert_not_null(log);
    ipd_log_set_fd(fileno(log));
    l->next_seq = 5; /* as after a snapshot of a Redis whose counter holds 4 */

    redisReply *typed = typed_entry("100-0", "node-9", "5", "pj-typed", "\x02\x80", 2);
    cr_assert_eq(apply_entry(l, typed), 0, "taken for a gap");
    cr_assert_eq(l->next_seq, 6, "a record of a newer format takes its number");
    redisReply *fifth = published_entry("101-0", "5", "pj-5");
    cr_assert_eq(apply_entry(l, fifth), 0, "the daemon's change 5 was taken for a gap");
    redisReply *sixth = published_entry("102-0", "6", "pj-6");
    cr_assert_eq(apply_entry(l, sixth), 0, "the daemon's change 6 was taken for a gap");

    ipd_redis_link_stats_t st;
    ipd_redis_link_stats(l, &st);
    cr_assert_eq(st.skipped, 1, "%" PRIu64 " entries skipped: the typed one only", st.skipped);
    cr_assert_eq(applied.n, 2, "%d changes applied, want the daemon's 5 and 6", applied.n);
    cr_assert_str_eq(applied.id[0], "pj-5");
    cr_assert_str_eq(applied.id[1], "pj-6");
    cr_assert_eq(l->next_seq, 7);
    cr_assert_str_eq(l->last_id, "102-0");

    ipd_log_set_fd(STDERR_FILENO);
    char text[4096];
    size_t n = (rewind(log), fread(text, 1, sizeof(text) - 1, log));
    text[n] = '\0';
    fclose(log);
    cr_assert_not_null(strstr(text, "skipped a record of node node-9: a newer format version"), "logged: %s", text);
    cr_assert_null(strstr(text, "older"), "logged: %s", text);
    cr_assert_null(strstr(text, "resyncing"), "logged: %s", text);

    freeReplyObject(typed);
    freeReplyObject(fifth);
    freeReplyObject(sixth);
    ipd_redis_link_destroy(l);
    ipd_mloop_destroy(loop);
}

/*
 * This node's own records: the snapshot gives them to the master (what a daemon of this node
 * published before it, ipd_model_own_records_done), the Stream never does (there they are the
 * echoes of its own changes). Neither counts as applied. The keep jobs another node left (its
 * {p}:left: hash) leave them as a leave entry would; this node's own are its own daemon's doing.
 */
Test(redis_link, a_snapshot_gives_this_node_s_records_and_the_stream_does_not)
{
    static world_t w;
    start(&w, 0, 0);
    w.fake.snapshot_hashes = 1;
    fake_entry_of(&w.fake, ENTRIES, "node-1"); /* the last entry is this node's own */
    for (int i = 0; i < TURNS_MAX && (w.applied.n < ENTRIES || w.fake.nasked < 3); i++)
        turn(&w);
    for (int i = 0; i < 50; i++)
        turn(&w);
    cr_assert_eq(w.link->state, IPD_REDIS_UP);
    cr_assert_eq(w.applied.own, 1, "%d records of this node given, not 1", w.applied.own);
    cr_assert_eq(w.applied.nleft, 1, "%d leaves given, not 1", w.applied.nleft);
    cr_assert_str_eq(w.applied.left[0], "pj-left-2 node-2");
    cr_assert_str_eq(w.applied.own_id[0], "pj-hash-1");
    /* node-2's record of the snapshot, then its Stream entries; node-1's Stream entry is not given. */
    cr_assert_eq(w.applied.n, ENTRIES, "%d records of node-2 given, not %d", w.applied.n, ENTRIES);
    cr_assert_str_eq(w.applied.id[0], "pj-hash-2");
    for (int i = 1; i < ENTRIES; i++) {
        char want[IPD_JOB_ID_SIZE];
        snprintf(want, sizeof(want), "pj-%d", i);
        cr_assert_str_eq(w.applied.id[i], want, "record %d", i);
    }
    ipd_redis_link_stats_t st;
    ipd_redis_link_stats(w.link, &st);
    cr_assert_eq(st.applied, ENTRIES, "%" PRIu64 " applied", st.applied);
    cr_assert_eq(st.skipped, 0);

    ipd_redis_link_destroy(w.link);
    ipd_mloop_destroy(w.loop);
    fake_stop(&w.fake);
}

/* The slot granted, as the link tells its owner. */
static char granted[4][IPD_NODE_SIZE];
static int ngranted;

static void on_granted(void *ctx, const char *id, const char *node, const char *ns, const char *name)
{
    (void)ctx;
    snprintf(granted[0], sizeof(granted[0]), "%s", id);
    snprintf(granted[1], sizeof(granted[1]), "%s", node);
    snprintf(granted[2], sizeof(granted[2]), "%s", ns);
    snprintf(granted[3], sizeof(granted[3]), "%s", name);
    ngranted++;
}

static redisReply bulk_of(const char *s)
{
    redisReply r = {.type = REDIS_REPLY_STRING, .len = strlen(s), .str = (char *)s};
    return r;
}

/*
 * The answer of the slot script ({id, node, granted, namespace, name}) reaches the owner with
 * the node's whole name: a node's name may be 253 bytes. Before, the answer of a node whose name
 * did not fit the 64 bytes of a Job's name was dropped, and its Job was never resumed.
 */
Test(redis_link, a_slot_granted_to_a_node_with_a_long_name_reaches_the_owner)
{
    ipd_redis_link_t l;
    memset(&l, 0, sizeof(l));
    l.ops.slot_granted = on_granted;
    char node[254];
    memset(node, 'n', sizeof(node) - 1);
    node[sizeof(node) - 1] = '\0';
    redisReply e[5] = {bulk_of("pj-0000abcd"),
                       bulk_of(node),
                       {.type = REDIS_REPLY_INTEGER, .integer = 1},
                       bulk_of("imgpulld"),
                       bulk_of("imgpull-pj-0000abcd-3f2a")};
    redisReply *ep[5] = {&e[0], &e[1], &e[2], &e[3], &e[4]};
    redisReply r = {.type = REDIS_REPLY_ARRAY, .elements = 5, .element = ep};
    on_slot(NULL, &r, &l);
    cr_assert_eq(ngranted, 1);
    cr_expect_str_eq(granted[0], "pj-0000abcd");
    cr_expect_str_eq(granted[1], node);
    cr_expect_str_eq(granted[2], "imgpulld");
    cr_expect_str_eq(granted[3], "imgpull-pj-0000abcd-3f2a");
    /* Not granted: nothing told. */
    e[2].integer = 0;
    on_slot(NULL, &r, &l);
    cr_expect_eq(ngranted, 1);
}
