#include "master/redis_link.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/redis_adapter.h"
#include "master/redis_arena.h"
#include "proto/error.h"
#include "proto/kube_job.h"
#include "proto/msgpack_codec.h"
#include "shared/log.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define XREAD_BLOCK_MS 1000
/* Bytes the reading connection's arena keeps per entry of a full XREAD reply (master/redis_arena.h:
 * about 1 330 for the link's records); never less than IPD_REDIS_ARENA_LIMIT in all. */
#define ARENA_PER_ENTRY 1536
#define CHECK_MS        250
#define KEY_SIZE        (IPD_CONFIG_INSTANCE_SIZE + IPD_NODE_SIZE + 24)
#define DROPS_MAX       4096
/* Changes per publish script call, and the bytes of their records, at most (a batch is sent at
 * the end of the loop's turn, or earlier when it reaches either). */
#define BATCH_MAX       256
#define BATCH_BYTES_MAX (1u << 20)

/*
 * A batch of changes, each the hash field, the sequence and the Stream entry together. ARGV: the
 * node, the Stream's MAXLEN, then job id and record for each change, in the order they were
 * made. The script is atomic, so a reader never sees a hash field without its entry; the
 * sequence numbers it reserves (INCRBY) are consecutive, in the order of the changes. The last
 * HSET of a field wins, so a job changed twice in one batch keeps its latest record, and the
 * Stream still carries every change. (The node joins {p}:nodes through the liveness script, which
 * runs right after every connect.)
 *
 * Why one script for a batch (Redis CPU per change, docs/benchmarks.md): a script call alone
 * costs Redis about 2.7 us and the record crosses into Lua and back; one call per loop turn
 * spreads that over every change of the turn. MULTI/EXEC of HSET and XADD cannot carry the
 * sequence an INCR in the same transaction returns, and the readers need it in each entry to see
 * that the Stream was trimmed past them or that Redis restarted. Trimming (MAXLEN ~) is done by
 * the batch's last XADD only. KEYS[5] is the node's {p}:left: hash: a record of a keep job the
 * node had left means it joined again, and the job leaves that hash (one EXISTS per batch when
 * the node left none).
 */
static const char publish_script[] =
    "local n = (#ARGV - 2) / 2 "
    "local s = redis.call('INCRBY', KEYS[3], n) - n "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3)) "
    "if redis.call('EXISTS', KEYS[5]) == 1 then "
    "for i = 1, n do redis.call('HDEL', KEYS[5], ARGV[2 * i + 1]) end "
    "end "
    "for i = 1, n - 1 do "
    "redis.call('XADD', KEYS[2], '*', 'n', ARGV[1], 's', s + i, 'j', ARGV[2 * i + 1], 'r', ARGV[2 * i + 2]) "
    "end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'n', ARGV[1], 's', s + n, 'j', ARGV[2 * n + 1], 'r', "
    "ARGV[2 * n + 2]) "
    "return n";

/*
 * A task of another node, published by the daemon that stands in for nodes without a live daemon
 * (master/daemon_standin.c), as its Kubernetes Job says. Written only while that node's liveness
 * key is absent, so a daemon of the node that has come back is never written over; the node
 * joins {p}:nodes, so every daemon sees it lost and a drop reaches its hash. KEYS: the node's
 * hash, the Stream, the sequence, {p}:nodes, the node's liveness key. ARGV: the node, MAXLEN, the
 * job id, the record, and "0", or for a fill (ipd_redis_link_fill_in: only where the hash has no
 * record of the job; its entry carries f) "1", or "2" for a fill of a node whose daemon is alive
 * (its liveness key is not asked). KEYS[6] is the node's {p}:left: hash: a keep job the node left
 * is not brought back from a Job still listed or a table that missed the leave. Returns 1 when
 * written, 0 when the node's daemon is alive, the node left the job (or, for a fill, the hash
 * has the job).
 */
static const char standin_script[] =
    "if (ARGV[5] ~= '2' and redis.call('EXISTS', KEYS[5]) == 1) or redis.call('HEXISTS', KEYS[6], ARGV[3]) == 1 "
    "then return 0 end "
    "if ARGV[5] ~= '0' and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then return 0 end "
    "redis.call('SADD', KEYS[4], ARGV[1]) "
    "redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) "
    "local s = redis.call('INCR', KEYS[3]) "
    "local fill = {} "
    "if ARGV[5] ~= '0' then fill = {'f', '1'} end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'n', ARGV[1], 's', s, 'j', ARGV[3], 'r', ARGV[4], "
    "unpack(fill)) "
    "return 1";

/*
 * A node's task of a keep job left it (the node left the job's selection, or the cluster): its
 * record leaves the node's hash for the node's {p}:left: hash, and one Stream entry (x = leave)
 * tells the other daemons to remove the task, in one script. A daemon that did not read that
 * entry (down, or the Stream trimmed past it) learns the leave from the {p}:left: hash in its
 * next snapshot. KEYS: the node's hash, the Stream, the sequence, the node's {p}:left: hash, and
 * for a stand-in the node's liveness key (nothing is written while it exists). ARGV: the job id,
 * the node, MAXLEN, and for a stand-in the namespace and name of the node's Job, which the reply
 * gives back with the job id and the node once the leave is written (0 while the key exists).
 */
static const char leave_script[] =
    "if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 1 then return 0 end "
    "redis.call('HDEL', KEYS[1], ARGV[1]) "
    "redis.call('HSET', KEYS[4], ARGV[1], '1') "
    "local s = redis.call('INCR', KEYS[3]) "
    "local x = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'n', ARGV[2], 's', s, 'j', ARGV[1], 'x', "
    "'leave') "
    "if KEYS[5] then return {ARGV[1], ARGV[2], ARGV[4], ARGV[5]} end "
    "return x";

/*
 * A job aged out of this node's table (its history): if this node's hash holds a task of it, or
 * the hash of a node whose daemon is not alive does (a stand-in's record, which no daemon of that
 * node will drop), the job leaves every node's hash and one Stream entry (x = drop) tells the
 * other daemons to drop it, in one script. A job this node had no task of is left to the live
 * nodes that had one. It leaves the {p}:left: hashes with the records (this node's at once,
 * whatever it held). ARGV: the job id, the node, MAXLEN, then the prefixes of the nodes' hashes,
 * liveness keys and {p}:left: hashes.
 */
static const char drop_script[] =
    "redis.call('HDEL', ARGV[6] .. ARGV[2], ARGV[1]) "
    "local held = redis.call('HDEL', KEYS[1], ARGV[1]) "
    "if held == 0 then "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[4])) do "
    "if redis.call('EXISTS', ARGV[5] .. n) == 0 and redis.call('HDEL', ARGV[4] .. n, ARGV[1]) == 1 then "
    "held = 1 end "
    "end "
    "end "
    "if held == 0 then return 0 end "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[4])) do "
    "redis.call('HDEL', ARGV[4] .. n, ARGV[1]) redis.call('HDEL', ARGV[6] .. n, ARGV[1]) "
    "end "
    "local s = redis.call('INCR', KEYS[3]) "
    "return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'n', ARGV[2], 's', s, 'j', ARGV[1], 'x', 'drop')";

/*
 * This node is alive; the epoch (set if absent: the candidate ARGV[5], a colon and Redis's time
 * in ms, so that the slot script can tell how old it is); the resourceVersion up to which this
 * node's daemon has seen its Jobs (ARGV[6], into the hash KEYS[4]; "" leaves it). Returns the
 * epoch, the version this node had there before ("" if none), and which nodes are alive, three
 * elements each: the node, whether its key exists, and for one that does not the resourceVersion
 * its daemon last wrote ("" if none).
 */
static const char liveness_script[] = "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
                                      "redis.call('SADD', KEYS[2], ARGV[3]) "
                                      "local mine = redis.call('HGET', KEYS[4], ARGV[3]) or '' "
                                      "if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[3], ARGV[6]) end "
                                      "local t = redis.call('TIME') "
                                      "redis.call('SET', KEYS[3], ARGV[5] .. ':' .. (t[1] * 1000 + "
                                      "math.floor(t[2] / 1000)), 'NX') "
                                      "local out = {redis.call('GET', KEYS[3]), mine} "
                                      "for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do "
                                      "local a = redis.call('EXISTS', ARGV[4] .. n) "
                                      "out[#out + 1] = n "
                                      "out[#out + 1] = a "
                                      "if a == 0 then out[#out + 1] = redis.call('HGET', KEYS[4], n) or '' "
                                      "else out[#out + 1] = '' end "
                                      "end "
                                      "return out";

/* Every node's hash and the keep jobs it left, with the Stream's last id and the sequence,
 * consistent with each other: id, sequence, then node, HGETALL of its hash, HKEYS of its
 * {p}:left: hash for each node. */
static const char snapshot_script[] = "local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1) "
                                      "local id = '0-0' "
                                      "if #last > 0 then id = last[1][1] end "
                                      "local out = {id, redis.call('GET', KEYS[3]) or '0'} "
                                      "for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do "
                                      "out[#out + 1] = n "
                                      "out[#out + 1] = redis.call('HGETALL', ARGV[1] .. n) "
                                      "out[#out + 1] = redis.call('HKEYS', ARGV[2] .. n) "
                                      "end "
                                      "return out";

/*
 * A lease (ipd_redis_link_lease): held by this node if it holds it already (renewed) or nobody
 * does (taken), for ARGV[2] ms. ARGV[3] is the lease's name, returned with the answer so that the
 * reply finds its lease.
 */
static const char lease_script[] = "local v = redis.call('GET', KEYS[1]) "
                                   "local held = 0 "
                                   "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) held = 1 "
                                   "elseif not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) held = 1 end "
                                   "return {ARGV[3], held}";

/* A lease given back (ipd_redis_link_release_leases): deleted only while it names this node. */
static const char release_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                     "return redis.call('DEL', KEYS[1]) end "
                                     "return 0";

/*
 * A parallelism slot (ipd_redis_link_slot): KEYS[1] is {p}:slots:<job>, a hash of node -> 'r'
 * (its Job may run: it holds a slot) and '#' -> the number of them; KEYS[2] the epoch. ARGV[1]
 * node, ARGV[2] 'c' (claim), 'h' (hold: a Job that runs holds its slot whatever the count) or
 * 'd' (done: the slot is free), ARGV[3] the job's parallelism, ARGV[4] the key's time (ms),
 * ARGV[5..7] job id, the Job's namespace and name, returned with the answer, ARGV[8] the
 * liveness TTL (ms). A claim is granted to a node that holds a slot already, or while fewer than
 * ARGV[3] nodes do, and only once the epoch is a liveness TTL old: a Redis that lost its data
 * lost the slots too, and every live daemon says again which its running Jobs hold within a TTL
 * of the new epoch (the liveness script, every third of the TTL, tells it). No epoch (emptied,
 * and no liveness script since) grants nothing; an epoch without its time (written by an older
 * daemon) is taken as old.
 */
static const char slot_script[] = "local held = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 "
                                  "local got = 0 "
                                  "if ARGV[2] == 'c' and not held then "
                                  "local e = redis.call('GET', KEYS[2]) "
                                  "local born = e and tonumber(string.match(e, ':(%d+)$')) "
                                  "local t = redis.call('TIME') "
                                  "if not e or (born and t[1] * 1000 + math.floor(t[2] / 1000) - born < "
                                  "tonumber(ARGV[8])) then "
                                  "return {ARGV[5], ARGV[1], 0, ARGV[6], ARGV[7]} end "
                                  "end "
                                  "if ARGV[2] == 'd' then "
                                  "if held then redis.call('HDEL', KEYS[1], ARGV[1]) "
                                  "redis.call('HINCRBY', KEYS[1], '#', -1) end "
                                  "elseif held then got = 1 "
                                  "elseif ARGV[2] == 'h' or "
                                  "tonumber(redis.call('HGET', KEYS[1], '#') or '0') < tonumber(ARGV[3]) then "
                                  "redis.call('HSET', KEYS[1], ARGV[1], 'r') "
                                  "redis.call('HINCRBY', KEYS[1], '#', 1) got = 1 end "
                                  "redis.call('PEXPIRE', KEYS[1], ARGV[4]) "
                                  "return {ARGV[5], ARGV[1], got, ARGV[6], ARGV[7]}";

#define LEASE_NAME_SIZE 64

/* A lease this daemon asked for: held until `held_until` (loop ms), measured from when the claim
 * that Redis granted was sent, so it ends here no later than in Redis. */
typedef struct lease {
    char name[LEASE_NAME_SIZE];
    uint64_t held_until, sent_ms, asked_ms;
    int inflight;
} lease_t;

struct ipd_redis_link {
    ipd_mloop_t *loop;
    ipd_redis_link_ops_t ops;
    char endpoint[IPD_CONFIG_ENDPOINT_SIZE];
    char node[IPD_NODE_SIZE];
    char username[IPD_CONFIG_INSTANCE_SIZE];
    char *password; /* owned; NULL for none */
    char k_stream[KEY_SIZE], k_seq[KEY_SIZE], k_nodes[KEY_SIZE], k_epoch[KEY_SIZE], k_alive[KEY_SIZE],
        k_tasks[KEY_SIZE], p_tasks[KEY_SIZE], p_alive[KEY_SIZE], k_left[KEY_SIZE], p_left[KEY_SIZE], k_rv[KEY_SIZE];
    char maxlen[24], ttl[24];
    int read_count;          /* XREAD COUNT (redis_read_count) ... */
    char read_count_arg[16]; /* ... as its argument */
    uint64_t ttl_ms, cmd_timeout_ms;
    uint64_t lease_ms;  /* leases' time: max(redis_liveness_ttl, 3 x keep_pod_poll) */
    char token[40];     /* this process: the liveness key's value */
    char epoch[40];     /* Redis's epoch as last seen; "" before the first */
    char candidate[40]; /* the epoch this daemon sets when there is none; new after each read */
    /* This node's Jobs' resourceVersion as the owner last noted it (ipd_redis_link_note_rv), and as
     * it was at the liveness script before: the one written, so that what the daemon saw up to
     * it was published (the turn's changes go out after the script) */
    char rv_now[IPD_REDIS_RV_SIZE], rv_prev[IPD_REDIS_RV_SIZE];
    int own_rv_told; /* ops.own_rv was called */

    ipd_redis_conn_t wr, rd;
    ipd_redis_state_t state;
    int closing;
    uint64_t backoff_ms, seed;
    uint64_t retry_ms; /* the jittered delay of the next reconnect, drawn when the link failed */
    ipd_mloop_timer_t reconnect_timer, close_timer, check_timer, live_timer;
    /* Commands awaiting an answer and when the connection last made progress. */
    unsigned wr_pending, rd_pending;
    uint64_t wr_progress, rd_progress;

    char last_id[64];  /* Stream id of the last entry applied */
    uint64_t next_seq; /* sequence expected next; 0: unknown */
    /* XREADs outstanding: 0 or 1. The read-ahead (on_xread) goes out once the reply before it
     * came back, before that reply's records are applied: never two at once. */
    int reading;
    int ahead;  /* the XREAD outstanding is a read-ahead, without BLOCK (read_from) */
    int paused; /* no XREAD goes out (ipd_redis_link_pause) */
    /* An XREAD reply kept in the reading connection's arena, applied at the end of the read
     * event (on_rd_read); NULL when none. */
    const redisReply *held;
    int snapshotting;  /* a snapshot is outstanding */
    int resync_wanted; /* a gap was seen: snapshot once the current read returns */
    int logged_malformed, logged_newer, logged_older;
    int older_seen; /* an entry older than the sequence was skipped: Redis's epoch is read at once */

    /* Changes not sent yet: job id and record of each, back to back in `batch`; change i is
     * bytes batch_at[2i]..batch_at[2i+1] (the id) and batch_at[2i+1]..batch_at[2i+2]. */
    ipd_buf_t batch;
    size_t batch_n;
    size_t batch_at[2 * BATCH_MAX + 1];
    ipd_mloop_timer_t batch_timer;
    ipd_redis_link_stats_t stats;
    /* Drops not yet sent (Redis was down): sent after the next connect; the oldest are
     * forgotten beyond DROPS_MAX. */
    char (*drops)[IPD_JOB_ID_SIZE];
    size_t ndrops;
    char (*leaves)[IPD_JOB_ID_SIZE]; /* keep jobs this node's task left while the link was down */
    size_t nleaves;
    char p_lease[KEY_SIZE]; /* {p}:lease: */
    char p_slots[KEY_SIZE]; /* {p}:slots: */
    char slots_ttl[24];     /* redis_slots_ttl in ms, the slots key's PEXPIRE */
    lease_t *leases;        /* owned, nleases entries */
    size_t nleases;
    /* The nodes whose liveness key existed at the last liveness script, this node first. */
    char (*alive)[IPD_NODE_SIZE];
    size_t nalive, alive_cap;
    int released;     /* the leases were given back: no claim is sent any more */
    size_t releasing; /* release scripts sent and not answered */
};

/* ---- records ---- */

int ipd_redis_record_encode(ipd_buf_t *buf, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task)
{
    ipd_job_t j = *job;
    if (j.nodes.desired < node_count)
        j.nodes.desired = node_count;
    size_t at = buf->len;
    int rc = ipd_buf_append_char(buf, (char)IPD_REDIS_RECORD_VERSION);
    if (rc == 0)
        rc = ipd_msgpack_encode_keep_change(buf, &j, selection, task, 1);
    if (rc != 0)
        ipd_buf_truncate(buf, at);
    return rc;
}

int ipd_redis_record_decode(const void *data, size_t len, ipd_job_t *job, ipd_task_t *task, char *selection, size_t cap)
{
    const unsigned char *p = data;
    if (len < 2)
        return IPD_EINVAL;
    /* A record of any version is a version byte and a msgpack map (fixmap, map 16, map 32); text
     * written by hand is neither, and is malformed rather than newer. */
    if (p[0] > IPD_REDIS_RECORD_VERSION)
        return (p[1] & 0xf0) == 0x80 || p[1] == 0xde || p[1] == 0xdf ? -ENOTSUP : IPD_EINVAL;
    if (p[0] != IPD_REDIS_RECORD_VERSION)
        return IPD_EINVAL;
    size_t n = 0;
    int rc = ipd_msgpack_decode_keep_change(p + 1, len - 1, job, selection, cap, task, 1, &n);
    if (rc != 0)
        return rc;
    return n == 1 ? 0 : IPD_EINVAL;
}

/* ---- state ---- */

static uint64_t now_ms(void)
{
    return ipd_mloop_clock_ms();
}

static void set_state(ipd_redis_link_t *l, ipd_redis_state_t s)
{
    l->state = s;
    l->stats.state = (uint64_t)s;
}

static uint64_t jitter(ipd_redis_link_t *l, uint64_t ms)
{
    l->seed = l->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    /* Between half and all of `ms`. */
    return ms / 2 + (l->seed >> 33) % (ms / 2 + 1);
}

/* Schedules closing both connections; a reconnect follows after the backoff. Idempotent. */
static void fail(ipd_redis_link_t *l, const char *why)
{
    if (l->closing || l->state == IPD_REDIS_DOWN)
        return;
    /* The delay is drawn here, so that the log says when the next attempt really comes. */
    l->retry_ms = jitter(l, l->backoff_ms);
    ipd_warn("redis",
             "link to %s down (%s): serving this node and the last known state of the others; "
             "reconnecting in %" PRIu64 " ms",
             l->endpoint, why, l->retry_ms);
    set_state(l, IPD_REDIS_DOWN);
    /* Closing frees hiredis contexts: never from inside one of their callbacks. */
    ipd_mloop_timer_start(l->loop, &l->close_timer, 0);
}

static void close_conns(ipd_redis_link_t *l)
{
    /* A reply held is never left past its read event; the arena goes with the connection. */
    l->held = NULL;
    ipd_redis_conn_close(&l->wr);
    ipd_redis_conn_close(&l->rd);
    l->wr_pending = l->rd_pending = 0;
    l->reading = l->ahead = l->snapshotting = l->resync_wanted = 0;
    /* A lease is not renewed while the link is down: held by nobody here from now on. */
    for (size_t i = 0; i < l->nleases; i++)
        l->leases[i].held_until = 0, l->leases[i].inflight = 0;
    l->releasing = 0;
    ipd_mloop_timer_stop(l->loop, &l->live_timer);
    /* Changes not sent are republished after the next connect. */
    ipd_buf_reset(&l->batch);
    l->batch_n = 0;
    ipd_mloop_timer_stop(l->loop, &l->batch_timer);
}

static void on_close_timer(ipd_mloop_timer_t *t)
{
    ipd_redis_link_t *l = t->data;
    close_conns(l);
    ipd_mloop_timer_start(l->loop, &l->reconnect_timer, l->retry_ms);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* ---- commands ---- */

static int command(ipd_redis_link_t *l, ipd_redis_conn_t *c, redisCallbackFn *fn, int argc, const char **argv,
                   const size_t *argvlen)
{
    if (c->ac == NULL)
        return -ENOTCONN;
    if (redisAsyncCommandArgv(c->ac, fn, l, argc, argv, argvlen) != REDIS_OK) {
        fail(l, "a command could not be queued");
        return -EIO;
    }
    if (c == &l->wr) {
        if (l->wr_pending++ == 0)
            l->wr_progress = now_ms();
    } else {
        if (l->rd_pending++ == 0)
            l->rd_progress = now_ms();
    }
    return 0;
}

/*
 * The reason for an error reply `r` to `what`. A Redis Cluster node answers MOVED (the slot of
 * the keys lives on another node) or ASK (it is migrating); hiredis 0.14 follows neither, so the
 * link counts it as a failure like any other and keeps retrying the same endpoint with backoff:
 * the reason says where the slot went.
 */
static void error_reason(char *out, size_t cap, const char *what, const redisReply *r)
{
    int redirect = (r->len > 6 && memcmp(r->str, "MOVED ", 6) == 0) || (r->len > 4 && memcmp(r->str, "ASK ", 4) == 0);
    snprintf(out, cap, "%s: %.*s%s", what, (int)r->len, r->str,
             redirect ? " (a Redis Cluster redirect, which the link does not follow: set redis to the node that "
                        "serves the keys' slot)"
                      : "");
}

/* A reply arrived on the command connection. Returns 0 when it is usable. */
static int wr_reply(ipd_redis_link_t *l, const redisReply *r, const char *what)
{
    if (l->wr_pending > 0)
        l->wr_pending--;
    l->wr_progress = now_ms();
    if (r == NULL) {
        fail(l, "connection lost");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char why[384];
        error_reason(why, sizeof(why), what, r);
        fail(l, why);
        return -1;
    }
    return 0;
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
    ipd_redis_link_t *l = priv;
    int wr = ac == l->wr.ac;
    if (wr) {
        wr_reply(l, reply, "AUTH");
        return;
    }
    if (l->rd_pending > 0)
        l->rd_pending--;
    const redisReply *r = reply;
    if (r == NULL)
        fail(l, "connection lost");
    else if (r->type == REDIS_REPLY_ERROR)
        fail(l, "AUTH refused");
}

static void auth(ipd_redis_link_t *l, ipd_redis_conn_t *c)
{
    if (l->password == NULL)
        return;
    const char *argv[3] = {"AUTH", l->username, l->password};
    size_t len[3] = {4, strlen(l->username), strlen(l->password)};
    if (l->username[0] == '\0')
        command(l, c, on_auth, 2, (const char *[]){"AUTH", l->password}, (size_t[]){4, len[2]});
    else
        command(l, c, on_auth, 3, argv, len);
}

static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "publish") == 0 && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        l->stats.published += (uint64_t)r->integer;
}

/* Sends the changes batched so far in one script call. */
static void flush_batch(ipd_redis_link_t *l)
{
    if (l->batch_n == 0)
        return;
    ipd_mloop_timer_stop(l->loop, &l->batch_timer);
    enum { FIXED = 8 };
    const char *argv[FIXED + 2 + 2 * BATCH_MAX];
    size_t len[FIXED + 2 + 2 * BATCH_MAX];
    const char *fixed[FIXED] = {"EVAL", publish_script, "5", l->k_tasks, l->k_stream, l->k_seq, l->k_nodes, l->k_left};
    for (int i = 0; i < FIXED; i++) {
        argv[i] = fixed[i];
        len[i] = strlen(fixed[i]);
    }
    /* ARGV[1] and [2]: the node and MAXLEN. */
    argv[FIXED] = l->node;
    len[FIXED] = strlen(l->node);
    argv[FIXED + 1] = l->maxlen;
    len[FIXED + 1] = strlen(l->maxlen);
    int argc = FIXED + 2;
    for (size_t i = 0; i < 2 * l->batch_n; i++) {
        argv[argc] = l->batch.data + l->batch_at[i];
        len[argc] = l->batch_at[i + 1] - l->batch_at[i];
        argc++;
    }
    /* hiredis copies the arguments into its output buffer. */
    command(l, &l->wr, on_published, argc, argv, len);
    ipd_buf_reset(&l->batch);
    l->batch_n = 0;
}

static void on_batch_timer(ipd_mloop_timer_t *t)
{
    flush_batch(t->data);
}

static void on_dropped(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    wr_reply(l, reply, "drop");
}

static void send_drop(ipd_redis_link_t *l, const char *id)
{
    flush_batch(l); /* after the changes made before it */
    const char *argv[] = {"EVAL", drop_script, "4",       l->k_tasks, l->k_stream, l->k_seq, l->k_nodes,
                          id,     l->node,     l->maxlen, l->p_tasks, l->p_alive,  l->p_left};
    size_t len[13];
    for (int i = 0; i < 13; i++)
        len[i] = strlen(argv[i]);
    command(l, &l->wr, on_dropped, 13, argv, len);
}

/* Keeps job `id` in the queue `*q` (`*n` entries) until the link is up: at most DROPS_MAX, the
 * oldest forgotten first. */
static void queue_id(char (**q)[IPD_JOB_ID_SIZE], size_t *n, const char *id)
{
    if (*q == NULL && (*q = calloc(DROPS_MAX, sizeof(**q))) == NULL)
        return;
    if (*n == DROPS_MAX) {
        memmove(*q, *q + 1, (DROPS_MAX - 1) * sizeof(**q));
        (*n)--;
    }
    snprintf((*q)[(*n)++], IPD_JOB_ID_SIZE, "%s", id);
}

/* Sends `send` for job `id` now if the link can write, else queues it in `*q`. */
static void send_or_queue(ipd_redis_link_t *l, const char *id, void (*send)(ipd_redis_link_t *, const char *),
                          char (**q)[IPD_JOB_ID_SIZE], size_t *n)
{
    if (l == NULL || id[0] == '\0' || strlen(id) >= IPD_JOB_ID_SIZE)
        return;
    if (l->state != IPD_REDIS_DOWN && l->wr.ac != NULL && l->wr.up)
        send(l, id);
    else
        queue_id(q, n, id);
}

void ipd_redis_link_drop(ipd_redis_link_t *l, const char *id)
{
    if (l != NULL)
        send_or_queue(l, id, send_drop, &l->drops, &l->ndrops);
}

static void send_leave(ipd_redis_link_t *l, const char *id)
{
    flush_batch(l); /* after the changes made before it */
    const char *argv[] = {"EVAL",   leave_script, "4", l->k_tasks, l->k_stream,
                          l->k_seq, l->k_left,    id,  l->node,    l->maxlen};
    size_t len[10];
    for (int i = 0; i < 10; i++)
        len[i] = strlen(argv[i]);
    command(l, &l->wr, on_dropped, 10, argv, len);
}

void ipd_redis_link_leave(ipd_redis_link_t *l, const char *id)
{
    if (l != NULL)
        send_or_queue(l, id, send_leave, &l->leaves, &l->nleaves);
}

/*
 * The job id, node, and the namespace and name of the node's Job that a script's reply `r` gives
 * back, at its elements `at`, copied into `out` (a node's name is the longest of the four).
 * Returns 0 unless all four are strings that fit.
 */
static int job_names(const redisReply *r, const size_t at[4], char out[4][IPD_NODE_SIZE])
{
    for (size_t i = 0; i < 4; i++) {
        const redisReply *e = r->element[at[i]];
        if (e->type != REDIS_REPLY_STRING || e->len >= IPD_NODE_SIZE)
            return 0;
        memcpy(out[i], e->str, e->len);
        out[i][e->len] = '\0';
    }
    return 1;
}

/* A stand-in's leave written: the reply names the job, the node and the node's Job (leave_script). */
static void on_stood_in_leave(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "leave") != 0 || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return;
    char s[4][IPD_NODE_SIZE];
    const size_t at[] = {0, 1, 2, 3};
    if (!job_names(r, at, s))
        return;
    if (l->ops.stood_in_left != NULL)
        l->ops.stood_in_left(l->ops.ctx, s[0], s[1], s[2], s[3]);
}

int ipd_redis_link_stand_in_leave(ipd_redis_link_t *l, const char *id, const char *node, const char *ns,
                                  const char *name)
{
    if (l == NULL || l->state != IPD_REDIS_UP || l->wr.ac == NULL || !l->wr.up)
        return -ENOTCONN;
    if (strcmp(node, l->node) == 0 || strlen(id) >= IPD_JOB_ID_SIZE || strlen(node) >= IPD_NODE_SIZE ||
        strlen(ns) >= IPD_NAMESPACE_SIZE || strlen(name) >= IPD_KUBE_JOB_NAME_SIZE)
        return IPD_EINVAL;
    char k_tasks[2 * KEY_SIZE], k_alive[2 * KEY_SIZE], k_left[2 * KEY_SIZE];
    snprintf(k_tasks, sizeof(k_tasks), "%s%s", l->p_tasks, node);
    snprintf(k_alive, sizeof(k_alive), "%s%s", l->p_alive, node);
    snprintf(k_left, sizeof(k_left), "%s%s", l->p_left, node);
    flush_batch(l);
    const char *argv[] = {"EVAL",  leave_script, "5",  k_tasks,   l->k_stream, l->k_seq, k_left,
                          k_alive, id,           node, l->maxlen, ns,          name};
    size_t len[13];
    for (int i = 0; i < 13; i++)
        len[i] = strlen(argv[i]);
    return command(l, &l->wr, on_stood_in_leave, 13, argv, len);
}

void ipd_redis_link_publish(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task)
{
    if (l == NULL || l->state == IPD_REDIS_DOWN || l->wr.ac == NULL || !l->wr.up)
        return;
    size_t at = l->batch.len;
    if (ipd_buf_append_str(&l->batch, job->id) != 0 ||
        ipd_redis_record_encode(&l->batch, job, node_count, selection, task) != 0) {
        ipd_buf_truncate(&l->batch, at);
        return;
    }
    l->batch_at[2 * l->batch_n] = at;
    l->batch_at[2 * l->batch_n + 1] = at + strlen(job->id);
    l->batch_at[2 * l->batch_n + 2] = l->batch.len;
    l->batch_n++;
    if (l->batch_n == BATCH_MAX || l->batch.len >= BATCH_BYTES_MAX)
        flush_batch(l);
    else if (!ipd_mloop_timer_active(&l->batch_timer))
        ipd_mloop_timer_start(l->loop, &l->batch_timer, 0);
}

void ipd_redis_link_flush(ipd_redis_link_t *l)
{
    if (l != NULL)
        flush_batch(l);
}

static void on_stood_in(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "stand-in publish") == 0 && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        l->stats.stood_in++;
}

/* `fill`: 0 a stand-in's write, 1 a fill, 2 a fill of a node whose daemon is alive (standin_script). */
static int stand_in(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                    const ipd_task_t *task, int fill)
{
    if (l == NULL || l->state != IPD_REDIS_UP || l->wr.ac == NULL || !l->wr.up)
        return -ENOTCONN;
    if (strcmp(task->node, l->node) == 0)
        return IPD_EINVAL;
    ipd_buf_t rec;
    ipd_buf_init(&rec);
    char k_tasks[2 * KEY_SIZE], k_alive[2 * KEY_SIZE], k_left[2 * KEY_SIZE];
    snprintf(k_tasks, sizeof(k_tasks), "%s%s", l->p_tasks, task->node);
    snprintf(k_alive, sizeof(k_alive), "%s%s", l->p_alive, task->node);
    snprintf(k_left, sizeof(k_left), "%s%s", l->p_left, task->node);
    int rc = ipd_redis_record_encode(&rec, job, node_count, selection, task);
    if (rc == 0) {
        /* This node's changes so far keep their place before it, as for a drop. */
        flush_batch(l);
        const char *argv[] = {
            "EVAL",  standin_script, "6",        k_tasks,   l->k_stream, l->k_seq, l->k_nodes,
            k_alive, k_left,         task->node, l->maxlen, job->id,     rec.data, fill == 2 ? "2" : fill ? "1" : "0"};
        size_t len[14];
        for (int i = 0; i < 14; i++)
            len[i] = strlen(argv[i]);
        len[12] = rec.len;
        rc = command(l, &l->wr, on_stood_in, 14, argv, len);
    }
    ipd_buf_dispose(&rec);
    return rc;
}

int ipd_redis_link_stand_in(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task)
{
    return stand_in(l, job, node_count, selection, task, 0);
}

int ipd_redis_link_fill_in(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                           int node_alive, const ipd_task_t *task)
{
    return stand_in(l, job, node_count, selection, task, node_alive ? 2 : 1);
}

void ipd_redis_link_alive_nodes(const ipd_redis_link_t *l, void (*fn)(void *ctx, const char *node), void *ctx)
{
    for (size_t i = 0; l != NULL && i < l->nalive; i++)
        fn(ctx, l->alive[i]);
}

/* ---- applying records ---- */

/* Counts a record or Stream entry skipped and logs the first of each kind (`logged`). */
static void skip(ipd_redis_link_t *l, int *logged, const char *node, size_t node_len, const char *why)
{
    l->stats.skipped++;
    if (*logged)
        return;
    *logged = 1;
    ipd_warn("redis",
             "skipped a record of node %.*s: %s (further ones are counted in redis_records_skipped_total, not "
             "logged)",
             (int)node_len, node, why);
}

/*
 * Decodes record `rec` of `node` and applies it. A record of this daemon's node is decoded all
 * the same, so that it is judged as any other, and applied only when `own` is set (the snapshot:
 * what a daemon of this node published before, ipd_model_own_records_done; or a fill, another
 * daemon's copy put back after Redis lost its data); in the Stream it is otherwise the echo of
 * this daemon's own. Returns 0, -ENOTSUP for a record of a newer format version or
 * IPD_EINVAL for a malformed one; both are skipped and counted.
 */
static int apply_record(ipd_redis_link_t *l, const char *node, size_t node_len, const redisReply *rec, int own)
{
    ipd_job_t job;
    ipd_task_t task;
    char selection[IPD_MSGPACK_SELECTION_MAX];
    /* Not initialised here: a record decoded writes all of both (ipd_redis_record_decode). */
    int rc = rec != NULL && rec->type == REDIS_REPLY_STRING
                 ? ipd_redis_record_decode(rec->str, rec->len, &job, &task, selection, sizeof(selection))
                 : IPD_EINVAL;
    if (rc == 0 && (strlen(task.node) != node_len || memcmp(task.node, node, node_len) != 0))
        rc = IPD_EINVAL; /* a record filed under another node than its own */
    if (rc != 0) {
        if (rc == -ENOTSUP)
            skip(l, &l->logged_newer, node, node_len, "a newer format version");
        else
            skip(l, &l->logged_malformed, node, node_len, "malformed");
        return rc == -ENOTSUP ? rc : IPD_EINVAL;
    }
    int mine = node_len == strlen(l->node) && memcmp(node, l->node, node_len) == 0;
    if (mine && !own)
        return 0;
    if (!mine)
        l->stats.applied++;
    if (l->ops.apply != NULL)
        l->ops.apply(l->ops.ctx, &job, selection, &task);
    return 0;
}

static void start_read(ipd_redis_link_t *l);
static void start_snapshot(ipd_redis_link_t *l);
static void liveness(ipd_redis_link_t *l);

/* The fields of a Stream entry the link reads, by their one-letter names (ENTRY_FIELDS). */
#define ENTRY_FIELDS "nsjrxf"
enum { F_NODE, F_SEQ, F_JOB, F_RECORD, F_DROP, F_FILL, F_COUNT };

/* One pass over [field, value, ...]: `out[i]` is the value of the first field named
 * ENTRY_FIELDS[i], NULL when there is none. */
static void entry_fields(const redisReply *fields, const redisReply *out[F_COUNT])
{
    for (int i = 0; i < F_COUNT; i++)
        out[i] = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        const char *at = k->type == REDIS_REPLY_STRING && k->len == 1 ? memchr(ENTRY_FIELDS, k->str[0], F_COUNT) : NULL;
        if (at != NULL && out[at - ENTRY_FIELDS] == NULL)
            out[at - ENTRY_FIELDS] = fields->element[i + 1];
    }
}

/* The sequence number `s` of an entry: 1 to 2^64 - 1 in decimal digits alone (the publishing
 * scripts' INCRBY and INCR start at 1). Returns 0 when `s` is none. Parsed in place (no copy):
 * this runs for every entry of every batch. */
static uint64_t entry_seq(const redisReply *s)
{
    if (s == NULL || s->type != REDIS_REPLY_STRING || s->len == 0 || s->len > 20)
        return 0;
    uint64_t seq = 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned d = (unsigned)(unsigned char)s->str[i] - '0';
        if (d > 9 || seq > (UINT64_MAX - d) / 10)
            return 0;
        seq = seq * 10 + d;
    }
    return seq;
}

/*
 * One Stream entry [id, [field, value, ...]]. Returns -1 on a gap in the sequence, else 0.
 *
 * Every daemon writes an entry with the sequence number (s) that follows the last one, node (n),
 * job (j) and a record (r) or x = drop (the scripts above). Against the number expected next:
 *   - s missing or not a number (entry_seq): malformed, skipped.
 *   - s above it: a gap. Entries were trimmed away before this daemon read them (or one was
 *     typed by hand with such a number: the hashes are the truth either way); resync.
 *   - s below the number last taken: older than what was applied, so not part of the sequence
 *     this daemon follows: typed by hand, or the counter started again because Redis lost its
 *     data under a connection that did not drop (FLUSHALL). Skipped; Redis's epoch is read at
 *     once (apply_xread), and a new one makes the daemon republish and resync (on_liveness), so
 *     changes skipped that way are applied from the hashes. (A Redis restarted empty drops the
 *     connection, and the reconnect resyncs before reading.)
 *   - s equal to it: the entry takes that number only when a daemon could have written it: a
 *     drop, or a record that decodes or is of a newer format version. A malformed one is
 *     skipped and leaves the number to the change that carries it; should that change never
 *     come (a daemon wrote the malformed record), the next one is a gap and resyncs.
 *   - s the number last taken, again: judged as the one expected next. The scripts' numbers come
 *     from the counter, each once, so one of the two entries was typed by hand (XADD leaves the
 *     counter as it is): an entry typed with the next number takes it (a record of a newer
 *     format is skipped, a valid one applied), and the change a daemon writes next carries the
 *     same number. It is applied, not skipped as older.
 * Every entry moves the read position (last_id) past it.
 */
static int apply_entry(ipd_redis_link_t *l, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const redisReply *id = e->element[0], *fields = e->element[1];
    if (id->len < sizeof(l->last_id)) {
        memcpy(l->last_id, id->str, id->len);
        l->last_id[id->len] = '\0';
    }
    const redisReply *f[F_COUNT] = {NULL};
    if (fields->type == REDIS_REPLY_ARRAY)
        entry_fields(fields, f);
    const redisReply *n = f[F_NODE];
    const char *node = n != NULL && n->type == REDIS_REPLY_STRING ? n->str : "(none)";
    size_t node_len = n != NULL && n->type == REDIS_REPLY_STRING ? n->len : 6;
    uint64_t seq = entry_seq(f[F_SEQ]);
    if (seq == 0) {
        skip(l, &l->logged_malformed, node, node_len, "malformed (no sequence number)");
        return 0;
    }
    if (l->next_seq != 0 && seq > l->next_seq) {
        ipd_info("redis",
                 "change %" PRIu64 " follows %" PRIu64 ": the Stream was trimmed past this daemon; resyncing "
                 "from the hashes",
                 seq, l->next_seq - 1);
        return -1;
    }
    if (l->next_seq != 0 && seq < l->next_seq - 1) {
        char why[160];
        snprintf(why, sizeof(why),
                 "change %" PRIu64 " is older than the last one applied (%" PRIu64
                 "): typed by hand, or Redis lost its data (its epoch is read now)",
                 seq, l->next_seq - 1);
        skip(l, &l->logged_older, node, node_len, why);
        l->older_seen = 1;
        return 0;
    }
    const redisReply *x = f[F_DROP], *j = f[F_JOB];
    if (x != NULL && x->type == REDIS_REPLY_STRING && x->len == 4 && memcmp(x->str, "drop", 4) == 0 && j != NULL &&
        j->type == REDIS_REPLY_STRING && j->len > 0 && j->len < IPD_JOB_ID_SIZE) {
        char job_id[IPD_JOB_ID_SIZE];
        memcpy(job_id, j->str, j->len);
        job_id[j->len] = '\0';
        l->next_seq = seq + 1;
        if (l->ops.drop != NULL)
            l->ops.drop(l->ops.ctx, job_id);
        return 0;
    }
    if (x != NULL && x->type == REDIS_REPLY_STRING && x->len == 5 && memcmp(x->str, "leave", 5) == 0 && j != NULL &&
        j->type == REDIS_REPLY_STRING && j->len > 0 && j->len < IPD_JOB_ID_SIZE && n != NULL &&
        n->type == REDIS_REPLY_STRING && n->len > 0 && n->len < IPD_NODE_SIZE) {
        char job_id[IPD_JOB_ID_SIZE], left[IPD_NODE_SIZE];
        memcpy(job_id, j->str, j->len);
        job_id[j->len] = '\0';
        memcpy(left, n->str, n->len);
        left[n->len] = '\0';
        l->next_seq = seq + 1;
        if (l->ops.leave != NULL && strcmp(left, l->node) != 0)
            l->ops.leave(l->ops.ctx, job_id, left);
        return 0;
    }
    if (n == NULL || n->type != REDIS_REPLY_STRING) {
        skip(l, &l->logged_malformed, node, node_len, "malformed (no node)");
        return 0;
    }
    /* A fill (f) of this node's task is no echo: another daemon put it back from its table. */
    if (apply_record(l, n->str, n->len, f[F_RECORD], f[F_FILL] != NULL) != IPD_EINVAL)
        l->next_seq = seq + 1;
    return 0;
}

static void read_from(ipd_redis_link_t *l, const char *id, size_t id_len, int ahead);

/* Reads on from the last entry applied, or takes the snapshot a gap asked for. */
static void read_on(ipd_redis_link_t *l)
{
    if (l->resync_wanted)
        start_snapshot(l);
    else
        start_read(l);
}

/* The entries of an XREAD reply, NULL when it has none. */
static const redisReply *xread_entries(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    const redisReply *stream = r->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 || stream->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return stream->element[1];
}

/* Applies the entries of XREAD reply `r`, then reads on, or resyncs after a gap. */
static void apply_xread(ipd_redis_link_t *l, const redisReply *r)
{
    const redisReply *entries = xread_entries(r);
    int gap = 0;
    for (size_t k = 0; entries != NULL && k < entries->elements && !gap; k++)
        gap = apply_entry(l, entries->element[k]) != 0;
    if (gap)
        l->resync_wanted = 1;
    /* Entries older than the sequence: if Redis lost its data, its epoch says so now rather
     * than at the next liveness refresh. */
    if (l->older_seen) {
        l->older_seen = 0;
        if (l->state == IPD_REDIS_UP && !gap)
            liveness(l);
    }
    /* The read-ahead's reply comes next; a link that failed meanwhile resyncs when it is back. */
    if (l->reading > 0 || l->state == IPD_REDIS_DOWN)
        return;
    read_on(l);
}

/* The reply on_xread kept: applied now, after the read-ahead went out, and given back. */
static void apply_held(ipd_redis_link_t *l)
{
    const redisReply *r = l->held;
    l->held = NULL;
    apply_xread(l, r);
    ipd_redis_arena_release(&l->rd.arena);
}

/* The reading connection's read event is over (master/redis_adapter.h, after_read). */
static void on_rd_read(ipd_redis_conn_t *c)
{
    ipd_redis_link_t *l = c->data;
    if (l->held != NULL)
        apply_held(l);
}

static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    /*
     * Two replies in one read event cannot both be XREADs with the read-ahead below; should they
     * be, this one was built with malloc() (the arena holds the older one) and is applied here,
     * after the older one. The older one is applied while this one's XREAD still counts as
     * outstanding: otherwise it would send the next XREAD from its own last id, and this reply's
     * entries would be read again.
     */
    if (l->held != NULL)
        apply_held(l);
    if (l->rd_pending > 0)
        l->rd_pending--;
    l->rd_progress = now_ms();
    if (l->reading > 0)
        l->reading--;
    l->ahead = 0;
    if (r == NULL) {
        fail(l, "connection lost");
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char why[384];
        error_reason(why, sizeof(why), "XREAD", r);
        fail(l, why);
        return;
    }
    const redisReply *entries = xread_entries(r);
    /*
     * Read-ahead: a full reply says more entries wait, so the next XREAD goes out before this
     * one's records are applied, from its last id, and Redis prepares the next reply meanwhile.
     * Should this reply hold a gap, the read-ahead's entries fail the sequence check as well
     * and are not applied; the snapshot follows once it has returned.
     */
    if (entries != NULL && entries->elements >= (size_t)l->read_count && !l->resync_wanted && l->reading == 0 &&
        !l->paused) {
        const redisReply *e = entries->element[entries->elements - 1];
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING)
            read_from(l, e->element[0]->str, e->element[0]->len, 1);
    }
    /*
     * The adapter writes the read-ahead only once the replies of this read event went to their
     * callbacks: the reply is kept (it lives in the connection's arena) and applied from
     * on_rd_read, after the write. A reply the arena could not keep (built with malloc()) is
     * applied here.
     */
    if (ipd_redis_arena_hold(&l->rd.arena, r) == 0) {
        l->held = r;
        return;
    }
    apply_xread(l, r);
}

/* XREAD from `id`: without BLOCK for a read-ahead (`ahead`), which then answers at once, with
 * the entries that wait or none, and says whether the link has caught up. */
static void read_from(ipd_redis_link_t *l, const char *id, size_t id_len, int ahead)
{
    char block[16];
    snprintf(block, sizeof(block), "%d", XREAD_BLOCK_MS);
    const char *argv[8];
    int argc = 0;
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = l->read_count_arg;
    if (!ahead) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = l->k_stream;
    argv[argc++] = id;
    size_t len[8];
    for (int i = 0; i < argc - 1; i++)
        len[i] = strlen(argv[i]);
    len[argc - 1] = id_len;
    if (command(l, &l->rd, on_xread, argc, argv, len) == 0) {
        l->reading++;
        l->ahead = ahead;
    }
}

int64_t ipd_redis_link_publish_delay(const ipd_redis_link_t *l, int64_t since, int64_t now, int64_t window)
{
    /* The read-ahead goes out after a full reply only (on_xread) and Redis answers it at once:
     * while it is out, the link is behind the Stream, or learns in one round trip that it is not. */
    if (l == NULL || since <= 0 || window <= 0 || l->state != IPD_REDIS_UP || l->reading == 0 || !l->ahead)
        return 0;
    int64_t left = since + window - now;
    return left > 0 && left <= window ? left : 0;
}

void ipd_redis_link_pause(ipd_redis_link_t *l, int paused)
{
    if (l == NULL || l->paused == (paused != 0))
        return;
    l->paused = paused != 0;
    /* Reads on from where it stopped, or takes the snapshot a gap asked for meanwhile. */
    if (!l->paused && l->state == IPD_REDIS_UP)
        read_on(l);
}

static void start_read(ipd_redis_link_t *l)
{
    if (l->reading || l->snapshotting || l->paused || l->state != IPD_REDIS_UP)
        return;
    read_from(l, l->last_id, strlen(l->last_id), 0);
}

/*
 * The keep jobs another node left, from its {p}:left: hash in a snapshot (`left`, an array of job
 * ids): each leaves the job here as the Stream's leave entry would have made it, which this
 * daemon did not read (it was down, or the Stream was trimmed past it).
 */
static void apply_left(ipd_redis_link_t *l, const redisReply *node, const redisReply *left)
{
    if (left->type != REDIS_REPLY_ARRAY || l->ops.leave == NULL || node->len == 0 || node->len >= IPD_NODE_SIZE)
        return;
    char name[IPD_NODE_SIZE], job_id[IPD_JOB_ID_SIZE];
    memcpy(name, node->str, node->len);
    name[node->len] = '\0';
    if (strcmp(name, l->node) == 0)
        return;
    for (size_t k = 0; k < left->elements; k++) {
        const redisReply *j = left->element[k];
        if (j->type != REDIS_REPLY_STRING || j->len == 0 || j->len >= IPD_JOB_ID_SIZE)
            continue;
        memcpy(job_id, j->str, j->len);
        job_id[j->len] = '\0';
        l->ops.leave(l->ops.ctx, job_id, name);
    }
}

static void on_snapshot(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    l->snapshotting = 0;
    if (wr_reply(l, r, "snapshot") != 0)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        fail(l, "snapshot: an unexpected reply");
        return;
    }
    snprintf(l->last_id, sizeof(l->last_id), "%.*s", (int)r->element[0]->len, r->element[0]->str);
    const redisReply *seq = r->element[1];
    l->next_seq = seq->type == REDIS_REPLY_STRING ? strtoull(seq->str, NULL, 10) + 1 : 0;
    for (size_t i = 2; i + 2 < r->elements; i += 3) {
        const redisReply *node = r->element[i], *hash = r->element[i + 1], *left = r->element[i + 2];
        if (node->type != REDIS_REPLY_STRING || hash->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t k = 0; k + 1 < hash->elements; k += 2)
            apply_record(l, node->str, node->len, hash->element[k + 1], 1);
        apply_left(l, node, left);
    }
    l->stats.resyncs++;
    l->resync_wanted = 0;
    if (l->state == IPD_REDIS_SYNCING) {
        ipd_info("redis", "link to %s up: resynced from the hashes, reading the Stream from %s", l->endpoint,
                 l->last_id);
        l->backoff_ms = BACKOFF_MIN_MS;
    }
    set_state(l, IPD_REDIS_UP);
    start_read(l);
}

static void start_snapshot(ipd_redis_link_t *l)
{
    if (l->snapshotting)
        return;
    if (l->reading) {
        l->resync_wanted = 1; /* after the outstanding read returns */
        return;
    }
    flush_batch(l); /* this node's changes first: the snapshot holds them */
    const char *argv[] = {"EVAL", snapshot_script, "3", l->k_stream, l->k_nodes, l->k_seq, l->p_tasks, l->p_left};
    size_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = strlen(argv[i]);
    if (command(l, &l->wr, on_snapshot, 8, argv, len) == 0)
        l->snapshotting = 1;
}

/* ---- liveness and epoch ---- */

/* Adds `node` to the nodes alive (l->alive); a node that finds no room is left out. */
static void note_alive(ipd_redis_link_t *l, const char *node)
{
    if (l->nalive == l->alive_cap) {
        size_t cap = l->alive_cap ? 2 * l->alive_cap : 16;
        char(*grown)[IPD_NODE_SIZE] = realloc(l->alive, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        l->alive = grown;
        l->alive_cap = cap;
    }
    snprintf(l->alive[l->nalive++], IPD_NODE_SIZE, "%s", node);
}

static void on_liveness(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "liveness") != 0)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    char epoch[sizeof(l->epoch)];
    snprintf(epoch, sizeof(epoch), "%.*s", (int)r->element[0]->len, r->element[0]->str);
    if (l->epoch[0] != '\0' && strcmp(epoch, l->epoch) != 0 && l->state == IPD_REDIS_UP) {
        ipd_warn("redis", "Redis lost its data (epoch %s, was %s): republishing this node and resyncing", epoch,
                 l->epoch);
        snprintf(l->epoch, sizeof(l->epoch), "%s", epoch);
        if (l->ops.republish != NULL)
            l->ops.republish(l->ops.ctx);
        l->next_seq = 0;
        snprintf(l->last_id, sizeof(l->last_id), "0-0");
        start_snapshot(l);
    }
    snprintf(l->epoch, sizeof(l->epoch), "%s", epoch);
    if (l->ops.epoch != NULL)
        l->ops.epoch(l->ops.ctx, l->epoch);
    /* The next candidate differs from every epoch so far: a Redis emptied (FLUSHALL, no dropped
     * connection) must get an epoch that no daemon holds, even when the daemon whose candidate
     * set the old one is the first to set it again. */
    l->seed = l->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    snprintf(l->candidate, sizeof(l->candidate), "%016" PRIx64, l->seed ^ (l->seed >> 29));
    uint64_t lost = 0;
    l->nalive = 0;
    note_alive(l, l->node);
    /* What the master before this one saw last, once (ipd_redis_link_ops_t.own_rv). */
    const redisReply *mine = r->elements > 1 ? r->element[1] : NULL;
    if (!l->own_rv_told && mine != NULL && mine->type == REDIS_REPLY_STRING && mine->len < IPD_REDIS_RV_SIZE) {
        char rv[IPD_REDIS_RV_SIZE];
        snprintf(rv, sizeof(rv), "%.*s", (int)mine->len, mine->str);
        l->own_rv_told = 1;
        if (l->ops.own_rv != NULL)
            l->ops.own_rv(l->ops.ctx, rv);
    }
    for (size_t i = 2; i + 2 < r->elements; i += 3) {
        const redisReply *n = r->element[i], *alive = r->element[i + 1], *rv = r->element[i + 2];
        if (n->type != REDIS_REPLY_STRING || alive->type != REDIS_REPLY_INTEGER || n->len >= IPD_NODE_SIZE)
            continue;
        char node[IPD_NODE_SIZE], seen[IPD_REDIS_RV_SIZE] = "";
        snprintf(node, sizeof(node), "%.*s", (int)n->len, n->str);
        if (strcmp(node, l->node) == 0)
            continue;
        if (rv->type == REDIS_REPLY_STRING && rv->len < sizeof(seen))
            snprintf(seen, sizeof(seen), "%.*s", (int)rv->len, rv->str);
        lost += alive->integer == 0;
        if (alive->integer != 0)
            note_alive(l, node);
        if (l->ops.node_alive != NULL)
            l->ops.node_alive(l->ops.ctx, node, alive->integer != 0, seen);
    }
    l->stats.nodes_lost = lost;
}

static void liveness(ipd_redis_link_t *l)
{
    const char *argv[] = {"EVAL",   liveness_script, "4",     l->k_alive, l->k_nodes,   l->k_epoch, l->k_rv,
                          l->token, l->ttl,          l->node, l->p_alive, l->candidate, l->rv_prev};
    size_t len[13];
    for (int i = 0; i < 13; i++)
        len[i] = strlen(argv[i]);
    command(l, &l->wr, on_liveness, 13, argv, len);
    memcpy(l->rv_prev, l->rv_now, sizeof(l->rv_prev));
}

void ipd_redis_link_note_rv(ipd_redis_link_t *l, const char *rv)
{
    if (l != NULL && strlen(rv) < sizeof(l->rv_now))
        snprintf(l->rv_now, sizeof(l->rv_now), "%s", rv);
}

static void on_live_timer(ipd_mloop_timer_t *t)
{
    ipd_redis_link_t *l = t->data;
    if (l->wr.up)
        liveness(l);
    ipd_mloop_timer_start(l->loop, t, l->ttl_ms / 3);
}

/* ---- leases ---- */

static lease_t *find_lease(ipd_redis_link_t *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->nleases; i++)
        if (strlen(l->leases[i].name) == len && memcmp(l->leases[i].name, name, len) == 0)
            return &l->leases[i];
    return NULL;
}

static void on_lease(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "lease") != 0 || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER)
        return;
    lease_t *s = find_lease(l, r->element[0]->str, r->element[0]->len);
    if (s == NULL || !s->inflight)
        return;
    s->inflight = 0;
    int was = s->held_until > now_ms();
    s->held_until = r->element[1]->integer == 1 ? s->sent_ms + l->lease_ms : 0;
    if (was != (s->held_until > now_ms()))
        ipd_info("redis", "lease %s%s: %s", l->p_lease, s->name, was ? "lost to another node" : "taken by this node");
}

int ipd_redis_link_lease(ipd_redis_link_t *l, const char *name, int renew)
{
    uint64_t now = now_ms();
    size_t len = strlen(name);
    lease_t *s = len < LEASE_NAME_SIZE ? find_lease(l, name, len) : NULL;
    if (s == NULL && renew && len < LEASE_NAME_SIZE) {
        /* Leases not asked for over two lease times are forgotten (their group is gone). */
        for (size_t i = l->nleases; i-- > 0;)
            if (!l->leases[i].inflight && now - l->leases[i].asked_ms > 2 * l->lease_ms)
                l->leases[i] = l->leases[--l->nleases];
        lease_t *grown = realloc(l->leases, (l->nleases + 1) * sizeof(*grown));
        if (grown != NULL) {
            l->leases = grown;
            s = &l->leases[l->nleases++];
            memset(s, 0, sizeof(*s));
            memcpy(s->name, name, len + 1);
        }
    }
    if (s == NULL || l->released)
        return 0;
    if (renew) {
        s->asked_ms = now;
        /* Renewed every third of the lease time; a claim unanswered that long is sent again. */
        if (l->state == IPD_REDIS_UP && (s->held_until <= now || s->held_until - now < 2 * l->lease_ms / 3) &&
            (!s->inflight || now - s->sent_ms > l->lease_ms / 3)) {
            char key[KEY_SIZE + LEASE_NAME_SIZE], ms[24];
            snprintf(key, sizeof(key), "%s%s", l->p_lease, name);
            snprintf(ms, sizeof(ms), "%" PRIu64, l->lease_ms);
            const char *argv[] = {"EVAL", lease_script, "1", key, l->node, ms, name};
            size_t alen[7];
            for (int i = 0; i < 7; i++)
                alen[i] = strlen(argv[i]);
            if (command(l, &l->wr, on_lease, 7, argv, alen) == 0) {
                s->inflight = 1;
                s->sent_ms = now;
            }
        }
    }
    return s->held_until > now;
}

/* ---- parallelism slots ---- */

static void on_slot(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (wr_reply(l, r, "parallelism slot") != 0 || r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
        r->element[2]->type != REDIS_REPLY_INTEGER)
        return;
    char s[4][IPD_NODE_SIZE];
    const size_t at[] = {0, 1, 3, 4};
    if (!job_names(r, at, s))
        return;
    if (r->element[2]->integer == 1 && l->ops.slot_granted != NULL)
        l->ops.slot_granted(l->ops.ctx, s[0], s[1], s[2], s[3]);
}

int ipd_redis_link_slot(ipd_redis_link_t *l, const char *id, const char *node, ipd_redis_slot_op_t op,
                        int32_t parallelism, const char *ns, const char *name)
{
    if (l == NULL || l->state != IPD_REDIS_UP || l->wr.ac == NULL)
        return -ENOTCONN;
    if (strlen(id) >= IPD_JOB_ID_SIZE || strlen(node) >= IPD_NODE_SIZE || strlen(ns) >= IPD_KUBE_JOB_NAME_SIZE ||
        strlen(name) >= IPD_KUBE_JOB_NAME_SIZE)
        return IPD_EINVAL;
    char key[KEY_SIZE + IPD_JOB_ID_SIZE], limit[16];
    snprintf(key, sizeof(key), "%s%s", l->p_slots, id);
    snprintf(limit, sizeof(limit), "%" PRId32, parallelism);
    const char *what = op == IPD_REDIS_SLOT_CLAIM ? "c" : op == IPD_REDIS_SLOT_HOLD ? "h" : "d";
    /* A Redis that lost its data lost the slots: the script grants no claim within a liveness
     * TTL of its new epoch, while the daemons say again which slots they hold. */
    const char *argv[] = {"EVAL", slot_script,  "2", key, l->k_epoch, node,  what,
                          limit,  l->slots_ttl, id,  ns,  name,       l->ttl};
    size_t alen[13];
    for (int i = 0; i < 13; i++)
        alen[i] = strlen(argv[i]);
    return command(l, &l->wr, on_slot, 13, argv, alen);
}

uint64_t ipd_redis_link_lease_ms(const ipd_redis_link_t *l)
{
    return l->lease_ms;
}

/* ---- connecting ---- */

static void both_up(ipd_redis_link_t *l)
{
    l->stats.connects++;
    set_state(l, IPD_REDIS_SYNCING);
    auth(l, &l->wr);
    auth(l, &l->rd);
    liveness(l);
    ipd_mloop_timer_start(l->loop, &l->live_timer, l->ttl_ms / 3);
    /* This node first (the snapshot then holds it too), then everyone's state and the Stream. */
    if (l->ops.republish != NULL)
        l->ops.republish(l->ops.ctx);
    for (size_t i = 0; i < l->ndrops; i++)
        send_drop(l, l->drops[i]);
    l->ndrops = 0;
    for (size_t i = 0; i < l->nleaves; i++)
        send_leave(l, l->leaves[i]);
    l->nleaves = 0;
    l->next_seq = 0;
    start_snapshot(l);
}

static void on_conn(ipd_redis_conn_t *c, int ok, const char *why)
{
    ipd_redis_link_t *l = c->data;
    if (!ok) {
        char text[256];
        snprintf(text, sizeof(text), "%s", why ? why : "connection lost");
        fail(l, text);
        return;
    }
    /* Connected: the pending count set when connecting is dropped (this is not a reply). */
    if (c == &l->wr && l->wr_pending > 0)
        l->wr_pending--;
    if (c == &l->rd && l->rd_pending > 0)
        l->rd_pending--;
    if (l->state == IPD_REDIS_SYNCING && l->wr.up && l->rd.up)
        both_up(l);
}

static void on_reconnect(ipd_mloop_timer_t *t)
{
    ipd_redis_link_t *l = t->data;
    const char *why = NULL;
    close_conns(l);
    /* Connecting counts as syncing, so that a failure reports and backs off once. */
    set_state(l, IPD_REDIS_SYNCING);
    l->wr_progress = l->rd_progress = now_ms();
    if (ipd_redis_conn_open(&l->wr, l->loop, l->endpoint, on_conn, l, &why) != 0 ||
        ipd_redis_conn_open(&l->rd, l->loop, l->endpoint, on_conn, l, &why) != 0) {
        char text[256];
        snprintf(text, sizeof(text), "%s", why ? why : "cannot connect");
        fail(l, text);
        return;
    }
    l->rd.after_read = on_rd_read;
    size_t keep = (size_t)l->read_count * ARENA_PER_ENTRY;
    ipd_redis_arena_set_limit(&l->rd.arena, keep > IPD_REDIS_ARENA_LIMIT ? keep : IPD_REDIS_ARENA_LIMIT);
    /* Both count as pending until connected: the check timer bounds the connect too. */
    l->wr_pending = l->rd_pending = 1;
}

static void on_check(ipd_mloop_timer_t *t)
{
    ipd_redis_link_t *l = t->data;
    uint64_t now = now_ms();
    if (l->state != IPD_REDIS_DOWN) {
        if (l->wr_pending > 0 && now - l->wr_progress > l->cmd_timeout_ms)
            fail(l, "Redis did not answer in time");
        else if (l->rd_pending > 0 && now - l->rd_progress > l->cmd_timeout_ms + XREAD_BLOCK_MS)
            fail(l, "Redis did not answer XREAD in time");
    }
    ipd_mloop_timer_start(l->loop, t, CHECK_MS);
}

/* ---- life cycle ---- */

static char *read_password(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "redis_password_file %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *p = fgets(line, sizeof(line), f) ? strdup(line) : strdup("");
    fclose(f);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p[strcspn(p, "\r\n")] = '\0';
    return p;
}

static void random_token(char *out, size_t cap, uint64_t *seed)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t v = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        uint64_t r;
        if (fread(&r, sizeof(r), 1, f) == 1)
            v ^= r;
        fclose(f);
    }
    *seed ^= v;
    snprintf(out, cap, "%016" PRIx64, v);
}

int ipd_redis_link_create(ipd_mloop_t *loop, const ipd_config_t *cfg, const ipd_redis_link_ops_t *ops,
                          ipd_redis_link_t **out, char *err, size_t errlen)
{
    ipd_redis_link_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->loop = loop;
    l->ops = *ops;
    snprintf(l->endpoint, sizeof(l->endpoint), "%s", cfg->redis);
    snprintf(l->node, sizeof(l->node), "%s", cfg->node_name);
    snprintf(l->username, sizeof(l->username), "%s", cfg->redis_username);
    if (cfg->redis_password_file[0] != '\0' &&
        (l->password = read_password(cfg->redis_password_file, err, errlen)) == NULL) {
        free(l);
        return IPD_EINVAL;
    }
    const char *p = cfg->redis_prefix;
    snprintf(l->k_stream, KEY_SIZE, "{%s}:stream", p);
    snprintf(l->k_seq, KEY_SIZE, "{%s}:seq", p);
    snprintf(l->k_nodes, KEY_SIZE, "{%s}:nodes", p);
    snprintf(l->k_epoch, KEY_SIZE, "{%s}:epoch", p);
    snprintf(l->p_tasks, KEY_SIZE, "{%s}:tasks:", p);
    snprintf(l->p_alive, KEY_SIZE, "{%s}:alive:", p);
    snprintf(l->p_left, KEY_SIZE, "{%s}:left:", p);
    snprintf(l->k_left, KEY_SIZE, "{%s}:left:%s", p, l->node);
    snprintf(l->k_tasks, KEY_SIZE, "{%s}:tasks:%s", p, l->node);
    snprintf(l->k_alive, KEY_SIZE, "{%s}:alive:%s", p, l->node);
    snprintf(l->k_rv, KEY_SIZE, "{%s}:rv", p);
    snprintf(l->p_lease, KEY_SIZE, "{%s}:lease:", p);
    snprintf(l->p_slots, KEY_SIZE, "{%s}:slots:", p);
    snprintf(l->slots_ttl, sizeof(l->slots_ttl), "%" PRIu64, cfg->redis_slots_ttl_ms);
    snprintf(l->maxlen, sizeof(l->maxlen), "%d", cfg->redis_stream_maxlen);
    l->read_count = cfg->redis_read_count > 0 ? cfg->redis_read_count : 1;
    snprintf(l->read_count_arg, sizeof(l->read_count_arg), "%d", l->read_count);
    l->ttl_ms = cfg->redis_liveness_ttl_ms;
    snprintf(l->ttl, sizeof(l->ttl), "%" PRIu64, l->ttl_ms);
    l->cmd_timeout_ms = l->ttl_ms / 3 > 2000 ? l->ttl_ms / 3 : 2000;
    l->lease_ms = 3 * cfg->keep_pod_poll_ms > l->ttl_ms ? 3 * cfg->keep_pod_poll_ms : l->ttl_ms;
    random_token(l->token, sizeof(l->token), &l->seed);
    random_token(l->candidate, sizeof(l->candidate), &l->seed);
    snprintf(l->last_id, sizeof(l->last_id), "0-0");
    l->backoff_ms = BACKOFF_MIN_MS;
    ipd_buf_init(&l->batch);
    ipd_mloop_timer_init(&l->batch_timer, on_batch_timer, l);
    ipd_mloop_timer_init(&l->reconnect_timer, on_reconnect, l);
    ipd_mloop_timer_init(&l->close_timer, on_close_timer, l);
    ipd_mloop_timer_init(&l->check_timer, on_check, l);
    ipd_mloop_timer_init(&l->live_timer, on_live_timer, l);
    set_state(l, IPD_REDIS_DOWN);
    ipd_mloop_timer_start(loop, &l->reconnect_timer, 0);
    ipd_mloop_timer_start(loop, &l->check_timer, CHECK_MS);
    ipd_info("redis", "linking node %s through %s (keys {%s}:*)", l->node, l->endpoint, p);
    *out = l;
    return 0;
}

void ipd_redis_link_destroy(ipd_redis_link_t *l)
{
    if (l == NULL)
        return;
    l->closing = 1;
    close_conns(l);
    ipd_mloop_timer_stop(l->loop, &l->reconnect_timer);
    ipd_mloop_timer_stop(l->loop, &l->close_timer);
    ipd_mloop_timer_stop(l->loop, &l->check_timer);
    ipd_mloop_timer_stop(l->loop, &l->live_timer);
    ipd_buf_dispose(&l->batch);
    free(l->drops);
    free(l->leaves);
    free(l->leases);
    free(l->alive);
    if (l->password != NULL) {
        memset(l->password, 0, strlen(l->password));
        free(l->password);
    }
    free(l);
}

static void on_release(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    ipd_redis_link_t *l = priv;
    const redisReply *r = reply;
    if (l->releasing > 0)
        l->releasing--;
    if (wr_reply(l, r, "lease release") == 0 && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        ipd_info("redis", "lease given back");
}

size_t ipd_redis_link_release_leases(ipd_redis_link_t *l)
{
    if (l == NULL || l->released)
        return 0;
    l->released = 1;
    size_t sent = 0;
    for (size_t i = 0; i < l->nleases; i++) {
        lease_t *s = &l->leases[i];
        s->held_until = 0;
        s->inflight = 0;
        char key[KEY_SIZE + LEASE_NAME_SIZE];
        snprintf(key, sizeof(key), "%s%s", l->p_lease, s->name);
        const char *argv[] = {"EVAL", release_script, "1", key, l->node};
        size_t alen[5];
        for (int k = 0; k < 5; k++)
            alen[k] = strlen(argv[k]);
        if (command(l, &l->wr, on_release, 5, argv, alen) == 0) {
            l->releasing++;
            sent++;
        }
    }
    return sent;
}

size_t ipd_redis_link_releasing(const ipd_redis_link_t *l)
{
    return l != NULL ? l->releasing : 0;
}

void ipd_redis_link_resync(ipd_redis_link_t *l)
{
    if (l == NULL || l->state != IPD_REDIS_UP)
        return;
    if (l->ops.republish != NULL)
        l->ops.republish(l->ops.ctx);
    start_snapshot(l);
}

void ipd_redis_link_stats(const ipd_redis_link_t *l, ipd_redis_link_stats_t *out)
{
    *out = l->stats;
}

int ipd_redis_config_equal(const ipd_config_t *a, const ipd_config_t *b)
{
    return strcmp(a->redis, b->redis) == 0 && strcmp(a->redis_password_file, b->redis_password_file) == 0 &&
           strcmp(a->redis_username, b->redis_username) == 0 && strcmp(a->redis_prefix, b->redis_prefix) == 0 &&
           a->redis_stream_maxlen == b->redis_stream_maxlen && a->redis_read_count == b->redis_read_count &&
           a->redis_liveness_ttl_ms == b->redis_liveness_ttl_ms && a->keep_pod_poll_ms == b->keep_pod_poll_ms &&
           a->redis_slots_ttl_ms == b->redis_slots_ttl_ms && strcmp(a->node_name, b->node_name) == 0;
}
