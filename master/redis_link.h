/*
 * The Redis link: cross-node coherence for daemons in node scope (DESIGN.md, "Redis").
 *
 * Each daemon publishes the tasks of its own node and applies every other node's. Keys carry
 * the hash tag {prefix}, so one Redis Cluster slot holds them all:
 *
 *   {p}:tasks:<node>  hash   job id -> record of that node's task (the latest)
 *   {p}:stream        Stream of changes: n <node>, s <sequence>, j <job id>, r <record>, or
 *                     instead of r, x drop (job j aged out of node n's history: drop it);
 *                     trimmed with MAXLEN ~ redis_stream_maxlen
 *   {p}:seq           the sequence number of the last change (INCRBY, INCR)
 *   {p}:nodes         set of the nodes whose daemon connected (the liveness script adds it), or
 *                     for which another daemon stood in (ipd_redis_link_stand_in)
 *   {p}:alive:<node>  liveness key, TTL redis_liveness_ttl, refreshed every third of it
 *   {p}:rv            hash node -> the resourceVersion up to which its daemon saw its Jobs,
 *                     written by the liveness script (ipd_redis_link_note_rv)
 *   {p}:epoch         random token set once (SET NX): a new value means Redis lost its data
 *   {p}:lease:<name>  the node that holds lease <name> (ipd_redis_link_lease), with a TTL
 *   {p}:slots:<job>   hash of the parallelism slots of a job (ipd_redis_link_slot): node -> r
 *                     for each node that holds one, # -> their number; TTL redis_slots_ttl
 *
 * A record is one format-version byte (1) followed by a msgpack change record
 * (proto/msgpack_codec.h: {job, tasks: [task]}): the job's image, pull policy, spec, creation
 * time and node count, and the node's task. A publish writes the hash field, the sequence and
 * the Stream entry in one script (atomic); the changes of one turn of the loop share one script
 * call, in the order they were made. A record that does not decode, or has a newer
 * version byte, is skipped, counted, and logged the first time.
 *
 * Two connections: one for commands (publishes, liveness, snapshots), one for the blocking
 * XREAD. After every connect the daemon republishes its node, then takes a snapshot of every
 * node's hash together with the Stream's last id and sequence (one script, so consistent) and
 * reads the Stream from there. A sequence number that does not follow the last one applied (the
 * Stream was trimmed past it, or Redis restarted) triggers the same snapshot. Redis down is
 * degraded, never fatal: reconnects back off with jitter from 0.5 s to 30 s; a command
 * unanswered for max(2 s, TTL / 3) counts as a lost connection.
 */
#ifndef IPD_MASTER_REDIS_LINK_H
#define IPD_MASTER_REDIS_LINK_H

#include <stdint.h>

#include "master/loop.h"
#include "proto/buf.h"
#include "proto/job.h"
#include "shared/config.h"

/** The version byte of the records this build writes; records with a larger one are skipped. */
#define IPD_REDIS_RECORD_VERSION 1
/** Room for a resourceVersion the link carries (ipd_redis_link_note_rv), its NUL included. */
#define IPD_REDIS_RV_SIZE 64

typedef enum ipd_redis_state {
    IPD_REDIS_OFF = 0,     /**< not configured */
    IPD_REDIS_DOWN = 1,    /**< not connected; reconnecting with backoff */
    IPD_REDIS_SYNCING = 2, /**< connected, republishing and taking the snapshot */
    IPD_REDIS_UP = 3,      /**< connected and reading the Stream */
} ipd_redis_state_t;

/** What the link tells its owner. Pointers are borrowed for the call. */
typedef struct ipd_redis_link_ops {
    /**
     * Another node's task, as its daemon published it; `selection` is a keep job's node
     * selection (JSON text), "" for other jobs. A snapshot also gives this node's own tasks as
     * they are in Redis (the Stream never does).
     */
    void (*apply)(void *ctx, const ipd_job_t *job, const char *selection, const ipd_task_t *task);
    /**
     * Another node's daemon is alive or lost (its liveness key expired). For a lost one, `rv` is
     * the resourceVersion up to which it had seen its node's Jobs (ipd_redis_link_note_rv), ""
     * if it wrote none.
     */
    void (*node_alive)(void *ctx, const char *node, int alive, const char *rv);
    /** Publish every task of this node again (ipd_redis_link_publish for each). */
    void (*republish)(void *ctx);
    /** A daemon dropped job `id`: it aged out of that node's history (ipd_redis_link_drop). */
    void (*drop)(void *ctx, const char *id);
    /** `node`'s task of keep job `id` left the job (ipd_redis_link_leave). NULL: not told. */
    void (*leave)(void *ctx, const char *id, const char *node);
    /**
     * Redis granted `node` a parallelism slot of job `id` (ipd_redis_link_slot, a claim or a
     * hold): the Job `ns`/`name` may run. NULL: not told.
     */
    void (*slot_granted)(void *ctx, const char *id, const char *node, const char *ns, const char *name);
    /**
     * Redis wrote the leave of `node`'s task of keep job `id` that this daemon sent for a node
     * without a live daemon (ipd_redis_link_stand_in_leave): its Job `ns`/`name` may go. NULL: not told.
     */
    void (*stood_in_left)(void *ctx, const char *id, const char *node, const char *ns, const char *name);
    /** Redis's epoch as each liveness answer gives it ({p}:epoch; changed: Redis lost its data). NULL: not told. */
    void (*epoch)(void *ctx, const char *epoch);
    /**
     * Once, at the first liveness answer: the resourceVersion up to which the daemon of this node
     * before this link had seen its Jobs (ipd_redis_link_note_rv), "" if none. NULL: not told.
     */
    void (*own_rv)(void *ctx, const char *rv);
    void *ctx;
} ipd_redis_link_ops_t;

typedef struct ipd_redis_link_stats {
    uint64_t state; /**< ipd_redis_state_t */
    uint64_t connects, published, applied, skipped, resyncs, nodes_lost;
    uint64_t stood_in; /**< records written for nodes without a live daemon (ipd_redis_link_stand_in) */
} ipd_redis_link_stats_t;

typedef struct ipd_redis_link ipd_redis_link_t;

/**
 * Creates the link for `cfg` (copied: redis, redis_password_file, redis_username, redis_prefix,
 * redis_stream_maxlen, redis_liveness_ttl_ms, redis_slots_ttl_ms, node_name) on `loop` (borrowed) and starts
 * connecting. `ops` is copied. Returns 0 and an owned link, or a negative code (an unreadable
 * password file, out of memory) with a message in `err`.
 */
int ipd_redis_link_create(ipd_mloop_t *loop, const ipd_config_t *cfg, const ipd_redis_link_ops_t *ops,
                          ipd_redis_link_t **out, char *err, size_t errlen);
/** Closes the connections and frees the link. NULL is allowed. */
void ipd_redis_link_destroy(ipd_redis_link_t *l);

/**
 * Publishes one task of this node (borrowed), with a keep job's node selection (`selection`,
 * JSON text; NULL or "" for other jobs). Dropped while Redis is down: a reconnect republishes.
 * The record is encoded now and batched: the batch goes to Redis in one script call on
 * ipd_redis_link_flush(), at the latest when the loop's timers run next (a zero-delay timer),
 * or as soon as it holds 256 changes or 1 MiB of records. Each change stays atomic (its hash
 * field and Stream entry together) and changes reach the Stream in the order of the calls;
 * a drop or a snapshot sends the batch before itself.
 */
void ipd_redis_link_publish(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task);

/** Sends the changes batched by ipd_redis_link_publish() now. NULL is allowed. */
void ipd_redis_link_flush(ipd_redis_link_t *l);

/**
 * This node's task of keep job `id` (borrowed) left the job (its node left the selection): its
 * record leaves this node's hash and a Stream entry tells the other daemons to remove the task.
 * Sent after this node's batched changes; while the link is down, sent once it is up again (at
 * most DROPS_MAX of them, the oldest forgotten first).
 */
void ipd_redis_link_leave(ipd_redis_link_t *l, const char *id);

/**
 * ipd_redis_link_leave for `node`'s task of keep job `id`, written for a node whose daemon is not
 * alive (only while its liveness key is absent); once Redis wrote it, ops.stood_in_left names the
 * node's Job `ns`/`name` (all borrowed), which may go then: a Job deleted before would leave
 * nothing to find for a leave lost on its way. Returns 0 when sent, -ENOTCONN unless the link is
 * up, IPD_EINVAL for this node or a name too long.
 */
int ipd_redis_link_stand_in_leave(ipd_redis_link_t *l, const char *id, const char *node, const char *ns,
                                  const char *name);

/**
 * Publishes `task` (borrowed) of another node, whose daemon is not alive, for it: the record goes
 * into that node's hash and the Stream in one script, only while the node's liveness key is
 * absent (a daemon of it that came back is never written over), and the node joins {p}:nodes (so
 * every daemon judges it lost, and drops reach its hash). Sent at once, after this node's
 * batched changes. Returns 0 when sent, -ENOTCONN unless the link is up, IPD_EINVAL for a task
 * of this node.
 */
int ipd_redis_link_stand_in(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task);

/**
 * ipd_redis_link_stand_in, but written only where that node's hash has no record of the job, put
 * back after Redis lost its data from this daemon's table, never over a record there: the records
 * of nodes without a live daemon (no daemon of those nodes republishes them), or, with
 * `node_alive`, a final task of a node whose daemon runs and lost it too (its table emptied): the
 * Stream entry then carries `f`, and that node's daemon takes the task as its own when it holds
 * none of the job (ipd_redis_link_ops_t.apply with its own node).
 */
int ipd_redis_link_fill_in(ipd_redis_link_t *l, const ipd_job_t *job, uint32_t node_count, const char *selection,
                           int node_alive, const ipd_task_t *task);

/**
 * Notes the resourceVersion (borrowed) up to which this daemon has seen its node's Jobs. Each
 * liveness script writes the one noted at the script before into {p}:rv, so that a daemon
 * standing in once this one is lost (master/daemon_standin.c), or this node's next daemon
 * (ipd_redis_link_ops_t.own_rv, master/daemon_kube.c), can watch its Jobs from there and miss no
 * deletion. Longer than IPD_REDIS_RV_SIZE - 1 bytes: ignored.
 */
void ipd_redis_link_note_rv(ipd_redis_link_t *l, const char *rv);

/** Calls `fn` for this node and each node whose liveness key existed at the last liveness script. */
void ipd_redis_link_alive_nodes(const ipd_redis_link_t *l, void (*fn)(void *ctx, const char *node), void *ctx);

/**
 * Job `id` (borrowed) aged out of this node's table. If this node's hash holds a task of it, the
 * job leaves every node's hash and a Stream entry tells the other daemons to drop it, atomically.
 * Kept (up to 4096, oldest forgotten first) while Redis is down and sent after the next connect.
 */
void ipd_redis_link_drop(ipd_redis_link_t *l, const char *id);

/**
 * Whether this daemon holds the lease `name` (borrowed; at most 63 bytes): one daemon at a time
 * does what the lease stands for (master/daemon_follow.c: following one pod selection). The key
 * {p}:lease:<name> holds the holder's node name for the lease time, max(redis_liveness_ttl,
 * 3 x keep_pod_poll); a daemon takes it when nobody holds it. With `renew`, a claim (take or
 * renew) is sent when none is in flight and the lease is not held or has less than two thirds of
 * its time left: call it about every keep_pod_poll. Without, only the answer. The time counts from
 * when the granted claim was sent, so this daemon stops holding before Redis lets another take
 * it; while the link is down nothing is held. A lease not asked for over two lease times is
 * forgotten. Returns 1 while held, else 0.
 */
int ipd_redis_link_lease(ipd_redis_link_t *l, const char *name, int renew);

typedef enum ipd_redis_slot_op {
    IPD_REDIS_SLOT_CLAIM = 0, /**< take a slot if fewer than `parallelism` are held (or this node holds one) */
    IPD_REDIS_SLOT_HOLD,      /**< this node's Job runs: it holds a slot, whatever the count */
    IPD_REDIS_SLOT_DONE,      /**< this node's Job will not run again: its slot is free */
} ipd_redis_slot_op_t;

/**
 * A job's `parallelism` across the daemons of node scope (each sees only its node's Job): the
 * slots are counted in Redis, in the hash {p}:slots:<id>, by one script per call, so that two
 * daemons never take the last free slot both. Every Job of such a job is created suspended; a
 * node's daemon claims a slot for its Job (the stand-in for a node without a live daemon)
 * and resumes it once granted (ops.slot_granted), and says `done` once the Job will never run
 * again, which frees the slot (a keep job's next round claims anew). `ns`/`name` (the Job) come
 * back with the answer. A Redis that lost its data lost the slots: after every connect and
 * every new epoch each daemon holds its running Jobs' slots again, and the script grants no
 * claim until the epoch is a liveness TTL old, the time they take (the epoch carries when Redis
 * set it). Returns 0 when sent, -ENOTCONN unless the link is up, IPD_EINVAL for a string too
 * long.
 */
int ipd_redis_link_slot(ipd_redis_link_t *l, const char *id, const char *node, ipd_redis_slot_op_t op,
                        int32_t parallelism, const char *ns, const char *name);

/** The leases' time in ms: max(redis_liveness_ttl, 3 x keep_pod_poll). */
uint64_t ipd_redis_link_lease_ms(const ipd_redis_link_t *l);

/**
 * Gives back every lease this daemon asked for (a clean stop): one script per lease deletes
 * {p}:lease:<name> only while it holds this node's name, so another daemon takes it at its next
 * claim instead of after the lease time. From then on no claim is sent and
 * ipd_redis_link_lease() returns 0. The scripts go out on the command connection when it is
 * open (nothing is sent otherwise: the leases then expire by themselves). Returns the number
 * sent; a second call sends nothing. NULL is allowed.
 */
size_t ipd_redis_link_release_leases(ipd_redis_link_t *l);

/**
 * How long (ms) the master may still hold back publishing changes that only records of other
 * nodes made, the first of them at `since` (monotonic ms, ipd_model_remote_dirty_since; 0 or
 * -1: 0 is returned), at `now`, publishing at least every `window` ms (redis_catchup_publish):
 * more than 0 only while the link catches up, i.e. the last reply was full and the next one is
 * already arriving. A link that has caught up, is down, or is NULL returns 0: publish now.
 */
int64_t ipd_redis_link_publish_delay(const ipd_redis_link_t *l, int64_t since, int64_t now, int64_t window);

/**
 * While `paused`, the link sends no XREAD: a reply already asked for is still applied, nothing
 * after it. The master pauses it while it publishes what the link applied in parts
 * (master/publish.h); unpaused, it reads on (or resyncs, when a gap asked for it). The rest of
 * the link (publishing, liveness, leases) goes on. NULL is allowed.
 */
void ipd_redis_link_pause(ipd_redis_link_t *l, int paused);

/** Release scripts sent and not answered yet (0 once the link failed). NULL is allowed. */
size_t ipd_redis_link_releasing(const ipd_redis_link_t *l);

/** Republishes this node and resyncs (the owner's model was replaced). */
void ipd_redis_link_resync(ipd_redis_link_t *l);

void ipd_redis_link_stats(const ipd_redis_link_t *l, ipd_redis_link_stats_t *out);

/** True when both links carry the same settings (a reload that changes none keeps the link). */
int ipd_redis_config_equal(const ipd_config_t *a, const ipd_config_t *b);

/**
 * Encodes the record of `task` of `job` (borrowed) into `buf` (appended): the version byte, then
 * the msgpack change record, with a keep job's `selection` (NULL or "" for none; keys a version
 * 1 reader skips, so the version stays 1). Returns 0 or -ENOMEM.
 */
int ipd_redis_record_encode(ipd_buf_t *buf, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task);

/**
 * Decodes a record of `len` bytes; a keep job's selection goes to `selection` (`cap` bytes, at
 * least IPD_MSGPACK_SELECTION_MAX; "" when none; NULL ignores it). Returns 0 with all of `job`
 * and `task` written (the caller need not initialise them); -ENOTSUP for a newer version byte
 * followed by a msgpack map; IPD_EINVAL (or IPD_ETOOBIG) for anything malformed (text written by
 * hand included), leaving `job` and `task` unspecified.
 */
int ipd_redis_record_decode(const void *data, size_t len, ipd_job_t *job, ipd_task_t *task, char *selection,
                            size_t cap);

#endif
