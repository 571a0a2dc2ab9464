/*
 * WebSocket job watches: /ws/image-pull/{id} and /ws/image-pull-all (shared/API.md, docs/api.md).
 * The worker's private contract between its ws_*.c files; only router.c and server.c use the
 * entry points at the end.
 *
 *   ws_upgrade.c  the HTTP side: validation before the upgrade (404, 400, 503), tokens, the
 *                 module's start, drain and stop
 *   ws_jobs.c     the worker's view of every job: one entry per id, frames shared by all
 *                 connections, change batches from the ring, resync and the resume window
 *   ws_rebuild.c  the view rebuilt from the table and the ring window (start, overrun)
 *   ws_msg.c      pre-framed messages (refcounted) and the small per-connection ones
 *   ws_delta.c    task deltas (?updates=tasks): the tasks the ring named, one "tasks" frame per change
 *   ws_conn.c     one connection: the handshake, reading frames (proto/ws_frame.h), the write
 *                 pump, control frames, timers, the close handshake
 *   ws_sub.c      what a connection follows: its dirty subscriptions or its all-jobs cursor
 *   ws_ops.c      client messages: subscribe, unsubscribe, subscribe_all, unsubscribe_all
 *
 * Fan-out. A change record marks the job's entry; once per loop iteration the batch is applied:
 * the job is read from the table once and one "update" (or "deleted") frame is built, shared by
 * reference by every connection of this worker. Server frames are unmasked, so the bytes are
 * identical for every client and go to the socket as they are (writev of shared buffers).
 *
 * Memory. The connection takes the socket from h2o's HTTP/1 upgrade and speaks WebSocket itself
 * (h2o's WebSocket layer allocates a 9 KB wslay context per connection). An idle connection
 * holds its ipd_ws_conn_t and h2o's socket; the socket's input buffer is released whenever it
 * is empty, and a client message is assembled on the heap only while it arrives in fragments.
 *
 * Coalescing. No connection keeps a queue of job messages. A connection following given jobs
 * holds a list of dirty subscriptions (each at most once, oldest first); a connection following
 * all jobs holds a cursor into the worker's list of entries ordered by their last change. When a
 * connection can write, it takes the current frame of each job it still owes, so a slow client
 * receives the latest state of each job and memory is bounded by subscriptions, not by events.
 *
 * Task deltas. A connection of /ws/image-pull/{id}?updates=tasks receives, after its snapshot,
 * "tasks" messages: the job without its tasks and only the tasks the change records named
 * (ring.h, `task`), built once per applied batch for every such connection of the worker. A
 * delta applies to the state the connection was sent last; a connection that was not sent that
 * state (it coalesced, or resumed) and every change no delta can describe get the whole job in
 * an "update" instead.
 *
 * Ordering. Entries carry `ord`, a worker-local counter assigned each time an entry moves to the
 * tail of the change list; ords increase with seq, so a connection reading the list forwards
 * receives seq in increasing order.
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_WS_H
#define IPD_WORKER_WS_H

#include "proto/ws_frame.h"
#include "worker/http/http.h"

/** Messages handed to one writev per connection. */
#define IPD_WS_BATCH 8
/** Buckets of the entry hash start at this count and double as entries grow. */
#define IPD_WS_BUCKETS_MIN 256

typedef struct ipd_ws ipd_ws_t;
typedef struct ipd_ws_conn ipd_ws_conn_t;

/**
 * One server message as it goes on the wire: an unmasked text frame, header and payload.
 * Reference counted; heap memory freed with the last ipd_ws_msg_release(). `next` chains a
 * connection's own messages (acks, errors, resync), which have exactly one reference.
 */
typedef struct ipd_ws_msg {
    uint32_t refs;
    uint32_t len;            /**< bytes in data */
    struct ipd_ws_msg *next; /**< owned by the connection queue holding the message */
    char data[];
} ipd_ws_msg_t;

/** Frames `len` bytes of JSON (borrowed) as a text message with one reference, or NULL (ENOMEM). */
ipd_ws_msg_t *ipd_ws_msg_frame(const char *payload, size_t len);
/** A frame of `opcode` (a ping or pong) carrying `len` bytes (borrowed, at most 125); NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_control(uint8_t opcode, const void *payload, size_t len);
/** A close frame with `code` and `reason` (at most 123 bytes are kept); NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_close(uint16_t code, const char *reason);
/** Whether `m` is a close frame. */
static inline int ipd_ws_msg_is_close(const ipd_ws_msg_t *m)
{
    return m->len > 0 && (m->data[0] & 0x0f) == IPD_WS_OP_CLOSE;
}
/** Takes a reference. */
static inline ipd_ws_msg_t *ipd_ws_msg_ref(ipd_ws_msg_t *m)
{
    m->refs++;
    return m;
}
/** Drops a reference; NULL is allowed. */
void ipd_ws_msg_release(ipd_ws_msg_t *m);
/** {"type":"ack","op":op,"subscriptions":n}; NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_ack(const char *op, uint64_t n);
/** {"type":"error","code":code,"message":message}; NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_error(const char *code, const char *message);
/** {"type":"resync"}; NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_resync(void);
/** {"type":"deleted","id","epoch","seq"}; NULL on ENOMEM. */
ipd_ws_msg_t *ipd_ws_msg_deleted(const char *id, const char *epoch, uint64_t seq);
/**
 * {"type":type,"epoch","seq","job":<job>} where `job` is `len` bytes of Job JSON (borrowed).
 * Sets *job_off to the offset of the job JSON in the frame. NULL on ENOMEM.
 */
ipd_ws_msg_t *ipd_ws_msg_job(const char *type, const char *epoch, uint64_t seq, const char *job, size_t len,
                             uint32_t *job_off);

/**
 * {"type":"tasks","epoch","seq","from_version":from,"version","ntasks","summary","changed":[...]}
 * (docs/api.md, "Task deltas"): `job` without its tasks, then task `changed[i]` of `tasks` for
 * each i < `nchanged` (indexes below `ntasks`, increasing). All borrowed. NULL on ENOMEM.
 */
ipd_ws_msg_t *ipd_ws_msg_tasks(const char *epoch, uint64_t seq, uint64_t from, const ipd_job_t *job,
                               const ipd_task_t *tasks, size_t ntasks, const uint32_t *changed, size_t nchanged);

/** What the worker knows of a job id. */
typedef enum ipd_ws_entry_state {
    IPD_WS_ABSENT = 0, /**< not in the table and no deletion known: only subscribed to */
    IPD_WS_LIVE,       /**< in the table */
    IPD_WS_GONE,       /**< deleted at `seq` (a tombstone while it stays in the change list) */
} ipd_ws_entry_state_t;

/** A job id of the worker's view. Heap memory owned by the module (ws_jobs.c). */
typedef struct ipd_ws_entry {
    char id[IPD_JOB_ID_SIZE];
    struct ipd_ws_entry *hnext; /**< hash chain */
    uint64_t hash;
    uint64_t seq;           /**< seq of the last change applied; the floor for jobs older than the ring */
    uint64_t ord;           /**< position in the change list; 0 while not in it */
    uint64_t pending_seq;   /**< last change record not yet applied (while linked in the batch) */
    uint32_t pending_kind;  /**< its ipd_ring_kind_t */
    uint8_t state;          /**< ipd_ws_entry_state_t */
    uint8_t final;          /**< the job state is final (known once `update` was built); 1 when GONE */
    uint32_t job_off;       /**< offset of the Job JSON in `update` */
    uint32_t pins;          /**< connections holding the entry as their cursor position */
    ipd_ws_msg_t *update;   /**< one reference: "update" (LIVE) or "deleted" (GONE) at `seq`; NULL until built */
    ipd_ws_msg_t *snapshot; /**< one reference: "snapshot" at `seq`; NULL until built */
    ipd_ws_msg_t *delta;    /**< one reference: "tasks" at `seq` from the previous frames' version; or NULL */
    uint64_t version;       /**< the job version read at the last change applied (or by the first frame built
                                 since): what the next delta applies to; 0 when unknown */
    uint64_t noted_version; /**< highest job version of the change records noted since the last frames */
    uint32_t ntasks;        /**< the task count `update` carries */
    uint32_t nsubs;         /**< subscriptions (in `subs`) */
    uint32_t ndelta;        /**< of them, those that take task deltas */
    uint32_t *dtasks;       /**< owned: task indexes named by the change records noted (ws_delta.c) */
    uint32_t ndtasks, dtasks_cap;
    uint8_t dtasks_all;   /**< a noted record named no task: the next change has no delta */
    uint8_t noted_more;   /**< the last record noted said more records of its change follow */
    h2o_linklist_t order; /**< in ws->order while LIVE or a kept tombstone */
    h2o_linklist_t batch; /**< in ws->batch while a change record waits */
    h2o_linklist_t gone;  /**< in ws->gone while a kept tombstone */
    h2o_linklist_t subs;  /**< anchor of ipd_ws_sub_t.by_entry */
} ipd_ws_entry_t;

/** Looks an id up (borrowed, NUL-terminated); NULL when the worker has no entry for it. */
ipd_ws_entry_t *ipd_ws_entry_find(ipd_ws_t *ws, const char *id);
/** Finds or creates (ABSENT) the entry of `id`; NULL on ENOMEM. */
ipd_ws_entry_t *ipd_ws_entry_get(ipd_ws_t *ws, const char *id);
/** Frees the entry if nothing needs it any more (not LIVE, no tombstone, no subscription, no pin). */
void ipd_ws_entry_maybe_free(ipd_ws_t *ws, ipd_ws_entry_t *e);
/**
 * The frame a connection should receive for `e` (borrowed from the entry; take a reference to
 * keep it): the snapshot when `snapshot`, else the update or deleted frame. Builds it on first
 * use, reading the table once. NULL when there is nothing to send (ABSENT, a snapshot of a gone
 * job, a job that left the table before its deletion record was applied) or on failure.
 */
ipd_ws_msg_t *ipd_ws_entry_frame(ipd_ws_t *ws, ipd_ws_entry_t *e, int snapshot);
/** The entry following `e` in the change list, or NULL. */
ipd_ws_entry_t *ipd_ws_entry_next(ipd_ws_t *ws, ipd_ws_entry_t *e);
/** The first entry of the change list whose ord is >= `ord`, or NULL. */
ipd_ws_entry_t *ipd_ws_entry_from_ord(ipd_ws_t *ws, uint64_t ord);
/** The ord of the first entry changed after `seq` (ord_clock + 1 when none). */
uint64_t ipd_ws_ord_after_seq(ipd_ws_t *ws, uint64_t seq);
/** Applies the waiting change records now and fans them out. */
void ipd_ws_flush(ipd_ws_t *ws);
/** Drops the frames of `e`. */
void ipd_ws_entry_release_frames(ipd_ws_entry_t *e);
/** Moves `e` to the tail of the change list with a new ord. */
void ipd_ws_order_append(ipd_ws_t *ws, ipd_ws_entry_t *e);
/** Takes `e` out of the change list (ord 0). */
void ipd_ws_order_remove(ipd_ws_entry_t *e);
/** Adds `e` to the tombstones (or moves it to their tail). */
void ipd_ws_gone_add(ipd_ws_t *ws, ipd_ws_entry_t *e);
/** Takes `e` out of the tombstones. */
void ipd_ws_gone_remove(ipd_ws_t *ws, ipd_ws_entry_t *e);
/** Keeps at most gone_cap tombstones; dropping one raises floor_seq and evicted_ord. */
void ipd_ws_gone_trim(ipd_ws_t *ws);
/** Registers the observer. Returns 0 or -1. */
int ipd_ws_jobs_start(ipd_ws_t *ws);
/** Frees every entry (connections must be gone). */
void ipd_ws_jobs_stop(ipd_ws_t *ws);

/** One connection's subscription to one job (SET and JOB connections). Heap memory. */
typedef struct ipd_ws_sub {
    ipd_ws_entry_t *entry; /**< keeps the entry alive while linked */
    ipd_ws_conn_t *conn;
    h2o_linklist_t by_entry; /**< in entry->subs */
    h2o_linklist_t dirty;    /**< in conn->dirty while something is owed */
    uint8_t snap;            /**< the next message is a snapshot */
    uint8_t full;            /**< the client may lack the entry's previous state: no delta next */
} ipd_ws_sub_t;

/** Which endpoint a connection came in through. */
enum { IPD_WS_KIND_JOB = 1, IPD_WS_KIND_ALL = 2 };

/** One WebSocket connection. Heap memory owned by the module; freed after the socket closed. */
struct ipd_ws_conn {
    ipd_ws_t *ws;
    /** h2o's HTTP/1 socket until the upgrade completes (`upgraded` 0), then ours; NULL once closed. */
    h2o_socket_t *sock;
    struct ipd_ws_upgrade *upgrade; /**< carries the connection through h2o's upgrade; NULL after it */
    h2o_linklist_t link;            /**< in ws->conns, or ws->dead once closed */
    h2o_linklist_t all_link;        /**< in ws->all_conns while subscribed to all jobs */
    h2o_linklist_t kick;            /**< in ws->kick while a batch marked one of its subscriptions */
    h2o_linklist_t dirty;           /**< anchor of ipd_ws_sub_t.dirty, oldest first */
    ipd_ws_sub_t **subs;            /**< owned, sorted by entry address */
    uint32_t nsubs, subs_cap;
    uint64_t next_ord;                 /**< all-jobs mode: entries with ord >= next_ord are owed */
    uint64_t snap_until_ord;           /**< all-jobs mode: owed entries up to this ord go as snapshots */
    ipd_ws_entry_t *pos;               /**< all-jobs mode: pinned entry where the next walk starts, or NULL */
    uint64_t pos_ord;                  /**< pos->ord when it was pinned */
    uint64_t since;                    /**< resume point (when since_set) */
    ipd_ws_msg_t *ctl_head, *ctl_tail; /**< own messages (acks, errors, pings, pongs, the close), in order */
    size_t ctl_bytes;
    ipd_ws_msg_t *inflight[IPD_WS_BATCH]; /**< references held until the write completes */
    ipd_ws_reader_t rd;                   /**< the client's frames */
    h2o_timeout_entry_t ping_entry;       /**< ping period */
    h2o_timeout_entry_t wait_entry;       /**< handshake, pong or close deadline */
    h2o_timeout_entry_t write_entry;      /**< write deadline; also the reaper once closed */
    uint16_t close_code;                  /**< set: close after what is in flight */
    uint8_t kind, ninflight;
    uint8_t in_recv; /**< inside the read path: no close, abort on the next turn */
    unsigned upgraded : 1, all : 1, since_set : 1, close_queued : 1, dead : 1, abort_pending : 1, slow : 1;
    unsigned close_in_flight : 1; /**< the close frame is in the write in progress */
    unsigned close_sent : 1;      /**< our close frame is written: nothing more goes out */
    unsigned close_received : 1;  /**< the client's close frame arrived */
    unsigned discard_input : 1;   /**< after a protocol error or the client's close: input is read and dropped */
    unsigned task_deltas : 1;     /**< ?updates=tasks: "tasks" messages instead of whole-job updates */
};

/* ---- ws_rebuild.c ---- */
/** The observer's on_resync: rebuilds the view, then resyncs every connection. */
void ipd_ws_on_resync(ipd_worker_t *w, void *data);

/* ---- ws_conn.c ---- */
/**
 * Creates a connection for `req` and upgrades it (the 101 is written later by h2o). `proto`
 * (`protolen` bytes, borrowed from the request, or NULL) is echoed in Sec-WebSocket-Protocol.
 * Returns the connection or NULL (then nothing was answered).
 */
ipd_ws_conn_t *ipd_ws_conn_upgrade(ipd_ws_t *ws, h2o_req_t *req, const char *client_key, int kind, const char *proto,
                                   size_t protolen);
/** Writes whatever the connection owes and can take now. May start the close handshake. */
void ipd_ws_conn_pump(ipd_ws_conn_t *c);
/** Appends an own message (ownership taken; NULL is ignored). Over ws_max_outbound the client is closed. */
void ipd_ws_conn_send(ipd_ws_conn_t *c, ipd_ws_msg_t *m);
/** Closes with `code` once what is in flight is written (no more job messages). */
void ipd_ws_conn_close(ipd_ws_conn_t *c, uint16_t code);
/** Drops the connection without a close handshake (`slow` counts it as a slow client). */
void ipd_ws_conn_abort(ipd_ws_conn_t *c, int slow);
/** Frees closed connections and, with `all`, closes and frees the open ones. */
void ipd_ws_conns_stop(ipd_ws_t *ws);

/* ---- ws_sub.c ---- */
/** Subscribes `c` to `id`; `since_ok` answers with changes after c->since instead of a snapshot.
 *  Returns 1 added, 0 already subscribed, -ENOMEM. */
int ipd_ws_sub_add(ipd_ws_conn_t *c, const char *id, int since_ok);
/** Removes the subscription of `c` to `id`; returns 1 if there was one. */
int ipd_ws_sub_remove(ipd_ws_conn_t *c, const char *id);
/** Whether `c` follows `id` already. */
int ipd_ws_sub_has(ipd_ws_conn_t *c, const char *id);
/** Removes every subscription of `c`, and the all-jobs mode. */
void ipd_ws_sub_clear(ipd_ws_conn_t *c);
/** Switches `c` to all jobs: snapshots of every job, or with `since_ok` the changes after c->since. */
void ipd_ws_sub_all(ipd_ws_conn_t *c, int since_ok);
/** Marks `sub` as owing the entry's current state (moving it to the tail) and schedules its connection. */
void ipd_ws_sub_touch(ipd_ws_sub_t *sub);
/** Sends {"type":"resync"} and fresh snapshots of everything `c` follows. */
void ipd_ws_sub_resync(ipd_ws_conn_t *c);
/** Whether c->since is a resume point the worker can still answer. */
int ipd_ws_since_ok(ipd_ws_conn_t *c);
/** Appends the job frames `c` owes to c->inflight, up to the batch and byte limits. */
void ipd_ws_sub_collect(ipd_ws_conn_t *c, size_t *bytes);
/** Releases the cursor pin of `c`, if any. */
void ipd_ws_sub_unpin(ipd_ws_conn_t *c);

/* ---- ws_delta.c ---- */
/** Notes the task (or tasks) change record `rec` (borrowed) rewrote in `e`, for its next delta. */
void ipd_ws_delta_note(ipd_ws_entry_t *e, const ipd_ring_entry_t *rec);
/**
 * Builds e->delta, the "tasks" frame at `seq` from version `from` with `from_ntasks` tasks (what
 * e's previous frames carried; `from` 0 when there were none) to the job in `view` (borrowed,
 * just read for e->update), out of the tasks noted since the previous frames. Leaves e->delta
 * NULL when no delta describes the change (a record that named no single task, another task
 * count, no previous frames, out of memory). Forgets the noted tasks either way.
 */
void ipd_ws_delta_build(ipd_ws_t *ws, ipd_ws_entry_t *e, const ipd_table_job_view_t *view, uint64_t seq, uint64_t from,
                        uint32_t from_ntasks);
/** Forgets the noted tasks of `e`. */
void ipd_ws_delta_forget(ipd_ws_entry_t *e);

/* ---- ws_ops.c ---- */
/** Handles one text message from the client (`len` bytes, borrowed). */
void ipd_ws_ops_handle(ipd_ws_conn_t *c, const char *text, size_t len);

/** The module: one per worker (ws_upgrade.c creates it). */
struct ipd_ws {
    ipd_worker_t *w;
    char epoch[IPD_TABLE_EPOCH_HEX_SIZE]; /**< of the attached table; empty before */
    /* jobs (ws_jobs.c) */
    ipd_ws_entry_t **buckets; /**< owned */
    size_t nbuckets, nentries, nlive, ngone, gone_cap;
    h2o_linklist_t order;            /**< LIVE entries and kept tombstones, by ord */
    h2o_linklist_t batch;            /**< entries whose change records wait, by their last record */
    h2o_linklist_t gone;             /**< kept tombstones, oldest first */
    uint64_t ord_clock;              /**< last ord assigned */
    uint64_t seq;                    /**< last change record applied */
    uint64_t floor_seq;              /**< every change after this seq is known: resumes from here on work */
    uint64_t evicted_ord;            /**< highest ord of a dropped tombstone */
    h2o_timeout_entry_t flush_entry; /**< applies the batch at the end of the loop iteration */
    uint64_t *moved;                 /**< scratch: previous ords of the entries a batch moved (owned) */
    size_t moved_cap;
    /* connections (ws_conn.c) */
    h2o_linklist_t conns, dead, all_conns, kick;
    size_t nconns;
    h2o_timeout_t ping_timeout, pong_timeout, write_timeout, handshake_timeout, poll_timeout;
    int timeouts_ready;
    int rebuilt; /**< the view was rebuilt: every all-jobs connection has something to write */
    uint32_t max_subs;
    uint64_t max_total_subs; /**< ws_max_subscriptions_per_worker */
    uint64_t total_subs;     /**< job subscriptions held by every connection of this worker */
    size_t max_outbound;
};

/** Adds `n` to a counter of the worker's stats block. */
void ipd_ws_count(ipd_ws_t *ws, ipd_stats_counter_t which, int64_t n);

/* ---- entry points for the rest of the worker ---- */
/** Creates the module (before the table is first attached) and registers its ring observer. 0 or -1. */
int ipd_ws_start(ipd_worker_t *w);
/** Starts closing every WebSocket with 1001 (the worker drains). */
void ipd_ws_drain(ipd_worker_t *w);
/** Closes what is left and frees the module. */
void ipd_ws_stop(ipd_worker_t *w);
/** Serves /ws/image-pull/{id} (`id` borrowed) or, with `id` NULL, /ws/image-pull-all. */
void ipd_ws_serve(ipd_worker_t *w, h2o_req_t *req, const char *id);

#endif
