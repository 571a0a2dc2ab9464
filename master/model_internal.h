/*
 * The model's private records, shared by master/model.c (jobs, publishing) and
 * master/model_kube.c (applying Kubernetes objects, computing tasks, actions).
 */
#ifndef IPD_MASTER_MODEL_INTERNAL_H
#define IPD_MASTER_MODEL_INTERNAL_H

#include <stddef.h>
#include <string.h>

#include "master/model.h"
#include "master/strmap.h"
#include "proto/buf.h"
#include "proto/kube_job.h"
#include "proto/kube_node.h"
#include "proto/label_selector.h"
#include "proto/kube_pod.h"

#define POD_KEY_SIZE    (IPD_NAMESPACE_SIZE + IPD_POD_SIZE)
#define POD_MAX_EVENTS  16
#define EVENT_NAME_SIZE 256

/** One Event of a pod, kept by the Event's own name so that updates (count++) replace it. */
typedef struct pod_event {
    char name[EVENT_NAME_SIZE];
    ipd_kube_event_t ev;
} pod_event_t;

/** A pod of ours (or, with obj NULL, a pod we have only seen events of so far). */
typedef struct pod_rec {
    char key[POD_KEY_SIZE]; /* "ns/name" */
    json_t *obj;            /* the latest Pod object, owned reference */
    char job_id[IPD_JOB_ID_SIZE];
    char node[IPD_NODE_SIZE];
    int64_t created; /* creationTimestamp, ms (1 s resolution) */
    uint64_t order;  /* when the model first saw it: breaks creationTimestamp ties */
    int failed;      /* phase Failed: a Job replaces it with a newer pod */
    uint32_t attempts;
    uint64_t mark;       /* pods list generation that last saw it */
    int64_t seen_at;     /* wall ms the record was created (orphans expire) */
    pod_event_t *events; /* owned, grown as Events come (a pull pod has about five), at most POD_MAX_EVENTS */
    size_t nevents, events_cap;
} pod_rec_t;

/*
 * A task's Kubernetes text: its Job's names and failure words, its pod, its give-up words. Held
 * apart from task_rec_t (1.6 KB) and made on first write (ipd_model_task_kube): another node's
 * task fed by Redis never has a Job or pod here, and a remote record that changes a task touches
 * the task's own lines only. A task without one reads it as all empty (task_text).
 */
typedef struct task_kube {
    char kjob_name[IPD_KUBE_JOB_NAME_SIZE];
    char kjob_ns[IPD_NAMESPACE_SIZE];
    char kjob_reason[IPD_REASON_SIZE];
    char kjob_message[IPD_MESSAGE_SIZE];
    char pod_key[POD_KEY_SIZE]; /* current pod, "" for none */
    char gave_up_reason[IPD_REASON_SIZE];
    char gave_up_message[IPD_MESSAGE_SIZE];
} task_kube_t;

/*
 * The first 64 bytes hold what a remote record, the counts and a flush look at (a task's records
 * are 64-byte aligned, master/model.c): with thousands of jobs every record finds its task out of
 * the cache, and each line of it is a miss. The flags are bytes: 0 or 1 unless said.
 */
typedef struct task_rec {
    /* `remote` and `sent` are held apart (1.7 KB each): a task needs one of them at most, and
     * most tasks need neither (a job's tasks are mostly other nodes' with Redis, mostly this
     * model's own otherwise). */
    _Alignas(64) ipd_task_t *remote; /* another node's daemon published this task (Redis): as published (owned);
                                        NULL if not, or while the record is `task` itself (has_record) */
    task_kube_t *kube;               /* its Kubernetes text (owned); NULL while none was written */
    /* A published record that no rule of the model changes is taken into `task` as it comes
     * (ipd_model_take_record) instead of into `remote`: one record's lines touched per change,
     * not two, and no `remote` block for most remote tasks. Then has_record is set, `remote` is
     * NULL, `task` is the record but for its time, record_updated_at, and record_changed says
     * whether `task` changed since the last computation. */
    int64_t record_updated_at;
    int64_t recheck_at; /* wall ms at which a time-based rule of the task comes due though no input changes (every
                           tick recomputes it while set); 0 for none */
    uint32_t table_pos; /* 1 + the index at which the table holds `task` as last computed; 0 if unknown */
    uint32_t adopted_attempts; /* attempts the table held when the task was reloaded; 0 once applied */
    uint32_t kjob_active;      /* status.active */
    uint8_t stale;             /* an input of the task changed: the next flush recomputes it */
    uint8_t computed;          /* recomputed by the publish in progress (own_task looks at these only) */
    uint8_t has_record;
    uint8_t record_changed;
    /* Made since the last flush and not computed yet: its first computation gives it its time
     * (the flush's, or its record's) whatever it computes to, so that a new task does not keep
     * the wall clock of the moment it was made (ipd_model_task). */
    uint8_t untimed;
    uint8_t counted;       /* what the job's counts hold of the task (master/model_counts.c); 0: nothing */
    uint8_t counted_state; /* the state they hold it in */
    uint8_t gave_up;       /* failed by the model: backoff limit reached on pull errors */
    uint8_t kjob_gone;     /* its Job was deleted while the task was not final */
    uint8_t has_kjob;
    uint8_t suspended;
    uint8_t kjob_failed;
    uint8_t kjob_complete;   /* condition Complete */
    uint8_t kjob_pulled;     /* annotation imgpulld.io/outcome=succeeded */
    uint8_t kjob_gave_up;    /* annotation imgpulld.io/outcome=failed: its node's daemon gave the task up */
    uint8_t master_deleting; /* the master itself asked for this task's Job to be deleted */
    uint8_t refreshing;      /* keep jobs: a re-pull is due; the old Job goes, then a new one comes */
    uint8_t leaving;         /* keep jobs: its node left the selection; its Job is being deleted */
    uint8_t slot;            /* actions.slot: what was last said of this node's slot (1 + op; 0 nothing yet) */
    /* Strings of `task` known empty (bits of ipd_task_blank, or fewer; 0 is always right): a record
     * taken into `task` compares and copies the others only (ipd_model_take_record). Every write
     * of `task` sets it anew (ipd_model_task_set) or clears it. */
    uint8_t blank;
    ipd_task_t task;         /* as last computed */
    ipd_task_t *sent;        /* this node's task as last handed to own_task (owned); NULL while never */
    int64_t create_asked_at; /* keep jobs: wall ms a Job was asked to be created; 0 for none */
    int64_t resume_asked_at; /* wall ms of the last resume request; 0 for none */
    int64_t stop_asked_at;   /* wall ms of the last delete request for a task that gave up */
    int64_t job_failed_at;   /* wall ms the model first saw the Job Failed before its pod; 0 if not */
    uint64_t kjob_mark;
    uint32_t attempts_before; /* attempts of the task's earlier pods */
    uint8_t node_deleted;     /* its Node was deleted (seen, then gone) while the task was not final */
} task_rec_t;

_Static_assert(sizeof(task_rec_t) % 64 == 0, "task_rec_t: a whole number of lines");
_Static_assert(offsetof(task_rec_t, task) == 64, "task_rec_t: the fields before `task` fill one line");

/* An empty task_kube_t: what a task without one reads. */
extern const task_kube_t ipd_model_no_kube;

/* The task's Kubernetes text, to read. */
static inline const task_kube_t *task_text(const task_rec_t *t)
{
    return t->kube != NULL ? t->kube : &ipd_model_no_kube;
}

/* The task's Kubernetes text, to write: made, all empty, on first use. NULL on -ENOMEM. */
task_kube_t *ipd_model_task_kube(task_rec_t *t);

/*
 * What a flush needs to know of all the tasks of a job, kept up to date as each task changes
 * (ipd_model_count_task), so that a flush costs its changed tasks, not the job's size.
 */
typedef struct task_counts {
    uint32_t state[IPD_TASK_UNKNOWN + 1]; /* tasks by state; any state past unknown counts as unknown */
    uint32_t failing;                     /* retrying or failed */
    uint32_t seen;                        /* with a Job seen, or final */
    uint32_t running;                     /* whose Job runs or may start a pod (ipd_model_kjob_active) */
    uint32_t queued;                      /* this node's suspended Jobs, no resume asked */
    uint32_t asked;                       /* this node's suspended Jobs with a resume asked */
    uint32_t gave_up;                     /* gave up, their Job still there */
    uint32_t recheck;                     /* waiting on the clock (recheck_at) */
    size_t first_failing;                 /* index of the first failing task, when first_failing_known */
    int first_failing_known;
} task_counts_t;

/* The job's task bitmaps (job_rec_t.bits), one bit per task index. */
enum {
    IPD_TASK_BITS_QUEUED = 0, /* this node's suspended Jobs, no resume asked */
    IPD_TASK_BITS_ASKED,      /* this node's suspended Jobs, a resume asked */
    IPD_TASK_BITS_GAVE_UP,    /* gave up, their Job still there */
    IPD_TASK_BITS
};

/* A Node, pruned to ipd_kube_node_shape. */
typedef struct node_rec {
    json_t *obj;   /* owned reference */
    uint64_t mark; /* nodes list generation that last saw it */
} node_rec_t;

/* A keep job's node selection (proto/label_selector.h), from its Jobs' annotations or the table. */
typedef struct keep_rec {
    int known;            /* the selection below is set */
    int anchored;         /* its anchor Job is in the cluster (proto/kube_job.h) */
    int anchor_kind;      /* the collection (ipd_model_kind_t) that last showed the anchor ... */
    uint64_t anchor_mark; /* ... and its list generation then */
    int all;
    ipd_label_selector_t sel;
    char *selection;                /* JSON text, for new Jobs and the published record (owned); NULL until known */
    char (*removed)[IPD_NODE_SIZE]; /* nodes whose tasks left: late objects do not bring them back */
    size_t nremoved;
    int follows; /* the selection has a pod_selector: master/model_follow.c follows those pods' images */
    char pod_ns[IPD_NAMESPACE_SIZE];
    ipd_label_selector_t pod_sel;
    int64_t retire_asked_at; /* wall ms the master asked to cancel it (its pods run its image no more) */
} keep_rec_t;

/*
 * Where a job's created_at came from, worst first. Every daemon shows the same job (docs/api.md),
 * so its creation time is taken from the best source seen (ipd_model_take_created): a job first
 * seen through its pod, or through another daemon's record, publishes a time that its Kubernetes
 * Job (which carries the time its creator gave it, proto/kube_job.c) or a record corrects later.
 */
typedef enum created_by {
    CREATED_FLUSH,  /* nothing said it: the time of the flush that first publishes the job */
    CREATED_POD,    /* the earliest creationTimestamp of its pods (a pod is created after its Job) */
    CREATED_TABLE,  /* as the table holds it (this daemon published it before) */
    CREATED_RECORD, /* another node's record, the last one (its daemon tells it again once its Job corrects it) */
    CREATED_KJOB,   /* a Kubernetes Job of the job, the earliest (they all carry the job's annotation) */
} created_by_t;

/*
 * The first 64 bytes hold what a remote record and a flush look at of the job itself (records are
 * 64-byte aligned), the job's id and image follow: with thousands of jobs each record finds its
 * job out of the cache, and each line of it is a miss. The flags are bytes, 0 or 1.
 */
typedef struct job_rec {
    _Alignas(64) task_rec_t *tasks;
    uint32_t ntasks, cap;
    /* The model's jobs by id (job_index_t): the job's hash (ipd_strmap_hash of its id) and the
     * next job of its bucket, beside what a record reads next, the id in the line after. */
    size_t hash;
    struct job_rec *hash_next;
    struct job_rec *next_dirty;
    /*
     * The tasks marked stale, by index, each once (cap entries, in the block of bits[0]). Valid while no task was
     * inserted, removed or reset since the last publication (counts_due clear); else the flush
     * walks every task.
     */
    uint32_t *stale_list;
    uint32_t nstale;
    uint32_t node_count;
    uint8_t dirty;     /* publish and act at the next flush */
    uint8_t all_stale; /* an input of every task changed (the job's spec, the model's scope): recompute all */
    /*
     * Tasks were inserted, removed or reset (or all are stale): the counts and bitmaps are
     * recounted, the stale list is not used, and every task's table position is checked, at the
     * next publication (and before the actions, ipd_model_counts_ready).
     */
    uint8_t counts_due;
    uint8_t was_published;
    uint8_t from_table; /* loaded at start; not yet confirmed by Kubernetes */
    uint8_t from_heap;  /* allocated from the heap, not from the model's slabs (master/model.c, job_alloc) */
    uint8_t created_by; /* created_by_t: where job.created_at came from */
    /* Strings of `published` known empty (bits of ipd_job_blank, or fewer; 0 is always right):
     * a publication compares and copies the others only. Every write of `published` sets it. */
    uint8_t published_blank;
    ipd_job_t job; /* metadata plus the last aggregation */
    task_counts_t counts;
    uint64_t *bits[IPD_TASK_BITS]; /* cap bits each; one block (owned through bits[0]) holds them and the stale list */
    ipd_job_t published;           /* what the table holds */
    json_t *tolerations;           /* the pull pod's tolerations from its Job's template (owned), NULL for none */
    keep_rec_t keep;
    /* Another node's daemon dropped the job while it waited to be published: it leaves the
     * table right after its publication, if nothing here follows it then (ipd_model_remote_drop). */
    uint8_t drop_wanted;
    /* The earliest started_at and finished_at that other nodes' records gave for the job
     * (IPD_TIME_NULL while none): its times are the earliest any daemon saw, so that every daemon
     * shows the same, including one that learnt the job from the Redis hashes long after. */
    int64_t started_hint, finished_hint;
    /* With a remote feed, when every task seen (torn_seen of them) was first found cancelled with
     * nodes not seen yet (wall ms; 0: not so): the job ends torn down teardown_wait_ms later. */
    int64_t torn_since;
    uint32_t torn_seen;
} job_rec_t;
_Static_assert(offsetof(job_rec_t, job) == 64, "job_rec_t: the fields before `job` fill one line");
_Static_assert(sizeof(job_rec_t) % 64 == 0, "job_rec_t: a whole number of lines");

/* Job records, a slab of fresh zeroed memory at a time (master/model.c, job_alloc). */
typedef struct job_slab {
    struct job_slab *next;
    size_t used; /* records handed out of `recs` */
    job_rec_t recs[];
} job_slab_t;

/*
 * The model's jobs by id: a chained hash table whose links are in the job records themselves
 * (job_rec_t.hash, hash_next), so that finding a job reads its bucket and then the job's own
 * first lines, not a map entry of its own first. Buckets, growth and order are those of
 * master/strmap.c.
 */
typedef struct job_index {
    struct job_rec **buckets;
    size_t nbuckets, count;
} job_index_t;

struct ipd_model {
    ipd_table_t *table;
    ipd_model_actions_t actions;
    job_index_t jobs;   /* id -> job_rec_t */
    ipd_strmap_t pods;  /* "ns/name" -> pod_rec_t */
    ipd_strmap_t nodes; /* name -> node_rec_t */
    int nodes_listed;   /* the Nodes were listed once: a node absent from the map does not exist */
    uint64_t pod_order;
    job_rec_t *dirty; /* jobs to publish, in the order marked; the last one is dirty_tail */
    job_rec_t *dirty_tail;
    /* What made the dirty jobs dirty (ipd_model_remote_dirty_since): records of other nodes only
     * (`marking_remote` is set while ipd_model_remote_task runs), since `remote_dirty_since`
     * (monotonic ms; 0: nothing marked since the last flush), or another input as well
     * (`local_dirty`). */
    int marking_remote, local_dirty;
    int64_t remote_dirty_since;
    uint64_t mark[IPD_MODEL_KIND_COUNT];
    ipd_buf_t json;
    ipd_task_t *scratch; /* publish()'s task array, reused (owned) */
    ipd_task_t *changed; /* publish()'s changed tasks and their indexes, scratch_cap entries (owned) */
    uint32_t *changed_index;
    uint8_t *scratch_blank;   /* the blank bits of scratch's and changed's tasks (task_rec_t.blank), */
    uint8_t *changed_blank;   /* scratch_cap entries each (owned) */
    uint32_t *computed_index; /* the tasks publish() recomputed, scratch_cap entries (owned) ... */
    size_t ncomputed;         /* ... for the actions run right after it (ipd_model_run_actions) */
    size_t scratch_cap;
    int copy_tasks;       /* ipd_model_set_copy_tasks: single tasks are copied too */
    job_slab_t *slabs;    /* the job records' slabs, newest first (owned) */
    job_rec_t *free_jobs; /* records of forgotten jobs, for reuse, linked by next_dirty */
    ipd_model_stats_t stats;
    char self_node[IPD_NODE_SIZE]; /* node scope: this node; "" in cluster scope */
    int remote_feed;               /* other nodes' tasks come from Redis, not from their Jobs */
    int64_t teardown_wait_ms;      /* ipd_model_set_teardown_wait */
    ipd_strmap_t lost_nodes;       /* nodes whose daemon is lost -> (void *)1 */
    ipd_strmap_t follows;          /* pod selection text -> follow_rec_t (master/model_follow.c) */
    /*
     * Jobs the table evicted (id -> (void *)1), the latest as many as the table holds jobs, in the
     * ring `gone_ids` (owned, gone_cap entries, next write at gone_next): a late object of one of
     * them does not bring it back as a new job (ipd_model_job).
     */
    ipd_strmap_t gone;
    char (*gone_ids)[IPD_JOB_ID_SIZE];
    size_t gone_cap, gone_next;
    /* This node's tasks as a daemon of this node published them before this master started: job
     * id -> own_rec_t (owned), from the Redis snapshot, until ipd_model_own_records_done (then
     * own_records_done is set and none is kept again). */
    ipd_strmap_t own_records;
    int own_records_done;
    int lists_done; /* every collection was listed once (ipd_model_initial_sync_done) */
};

/*
 * This node's task of a job as the Redis snapshot gave it (a daemon of this node published it
 * before this master started, a table it did not find), and the job's times in that record. A
 * task the model does not have is made from it (master/model.c, own_record); a task this master
 * computes the same but for its time keeps the record's time, so that a restart with an empty
 * table does not show a new time for what did not change.
 */
typedef struct own_rec {
    ipd_task_t task;
    int64_t started_at, finished_at;
} own_rec_t;

/* The own_rec_t of job `id`, or NULL. */
const own_rec_t *ipd_model_own_record(const ipd_model_t *m, const char *id);

/* Iteration over the model's jobs: `bucket` starts at 0, `prev` at NULL; returns the next job or
 * NULL. No job is added or removed meanwhile. */
job_rec_t *ipd_model_next_job(const ipd_model_t *m, size_t *bucket, job_rec_t *prev);

/* True when the task on `node` belongs to another node's daemon (node scope). */
static inline int model_is_remote(const ipd_model_t *m, const char *node)
{
    return m->self_node[0] != '\0' && strcmp(node, m->self_node) != 0;
}

/*
 * What the next flush does for a job. Publishing and actions are cheap; recomputing a task from
 * its Kubernetes objects is not (jansson lookups), so a flush recomputes only the tasks an input
 * touched: a job of 5 000 tasks costs one task's work when one pod changes.
 *   ipd_model_mark_dirty: every task (an input of all of them changed, or the caller cannot say);
 *   ipd_model_mark_task: task `t` of `j` (its Job, pod, events, node, or remote record changed);
 *   ipd_model_mark_job: none (the clock moved: actions and aggregation only).
 */
void ipd_model_mark_dirty(ipd_model_t *m, job_rec_t *j);
void ipd_model_mark_task(ipd_model_t *m, job_rec_t *j, task_rec_t *t);
void ipd_model_mark_job(ipd_model_t *m, job_rec_t *j);
/* Marks task `node` of every job that has one (a node, or its daemon, changed), and every keep
 * job (the node may enter or leave its selection). `active_only`: jobs that are not final only. */
void ipd_model_mark_node(ipd_model_t *m, const char *node, int active_only);
/*
 * The job `id`, or NULL. With `create`, a job the model does not hold comes back from the table
 * with its published record (a finished job it let go of) or, when the table has never had it
 * or no longer has it, is created anew; never anew when the table evicted it (its terminal
 * state was published) or when the table could not be read: NULL then.
 */
job_rec_t *ipd_model_job(ipd_model_t *m, const char *id, int create);
task_rec_t *ipd_model_task(job_rec_t *j, const char *node, int create);
/*
 * Takes `at` (IPD_TIME_NULL: none) as the creation time of `j` when source `by` (created_by_t)
 * is as good as the one it has: the earliest of its pods' or Jobs' times, a record's last. A
 * time its Kubernetes Job corrects is told again with this node's task (own_task), so that the
 * last record of every node carries the time every daemon shows.
 */
void ipd_model_take_created(ipd_model_t *m, job_rec_t *j, int64_t at, created_by_t by);
/*
 * Whether remote record `rec` can be taken into task `t` (ipd_model_take_record): no rule of
 * ipd_model_compute_task would change it (it is neither final nor unknown, its daemon is not
 * lost, and the task is not final and has no attempts, give-up or deletion of its own). `t` is
 * NULL for a task about to be made for it.
 */
int ipd_model_takes_record(const ipd_model_t *m, const task_rec_t *t, const ipd_task_t *rec);
/* Takes remote record `rec` (borrowed) into `t->task`, its cause set as the model sets it. */
void ipd_model_take_record(task_rec_t *t, const ipd_task_t *rec);
/* Gives `t->task` the value of `src` (ipd_task_copy), keeping t->blank true. */
void ipd_model_task_set(task_rec_t *t, const ipd_task_t *src);
/* Frees what task `t` owns (its remote and sent records, its Kubernetes text), leaving them NULL. */
void ipd_model_task_dispose(task_rec_t *t);
/* Records `t->task` as handed to own_task now; 0, or -ENOMEM (then none is recorded: the task is
 * handed over again at its next computation). */
int ipd_model_note_sent(task_rec_t *t);
void ipd_model_pod_free(pod_rec_t *p);
/* Drops event-only pod records older than `max_age_ms`. */
void ipd_model_expire_orphans(ipd_model_t *m, int64_t now, int64_t max_age_ms);
/* Recomputes t->task from its Job and pod; returns 1 when it changed. */
int ipd_model_compute_task(ipd_model_t *m, job_rec_t *j, task_rec_t *t, int64_t now);
/*
 * Whether a pull pod of `j` can start on `node` now (proto/kube_node.h); on a block, writes the
 * pending reason and message. Usable while the Nodes have not been listed yet.
 */
ipd_node_block_t ipd_model_node_block(ipd_model_t *m, const job_rec_t *j, const char *node, char *reason, size_t rcap,
                                      char *message, size_t mcap);
/* Keep jobs (master/model_keep.c). */
/* Takes the node selection from JSON (a Job annotation's text parsed, or the table's record). */
void ipd_model_keep_learn(job_rec_t *j, const json_t *selection);
/* True when a task for `node` must not be created from a Kubernetes object (it left the job). */
int ipd_model_keep_refuses(const job_rec_t *j, const char *node);
/* Makes the node set follow the cluster: creates, removes and refreshes tasks. */
void ipd_model_keep_reconcile(ipd_model_t *m, job_rec_t *j, int64_t now);
/* The keep job's node selection as JSON text; "" while none is known. */
static inline const char *ipd_model_keep_selection(const job_rec_t *j)
{
    return j->keep.selection != NULL ? j->keep.selection : "";
}
/* Appends the keep members to the job's JSON in `buf` (its last byte is the closing brace). */
int ipd_model_keep_json(const job_rec_t *j, ipd_buf_t *buf);
void ipd_model_keep_dispose(job_rec_t *j);
/* Frees the pod-following records (master/model_follow.c). */
void ipd_model_follow_dispose(ipd_model_t *m);
/* Task counts (master/model_counts.c). */
/* A Job that runs a pod, or may start one, in the cluster: not suspended and not finished, or
 * still reporting active pods (a failed Job's pods until they are gone). */
int ipd_model_kjob_active(const task_rec_t *t);
/* Moves task `i` of `j` in the counts and bitmaps to what its fields say now. */
void ipd_model_count_task(ipd_model_t *m, job_rec_t *j, size_t i);
/* Counts every task of `j` anew; clears counts_due. */
void ipd_model_recount(ipd_model_t *m, job_rec_t *j);
/* Recounts `j` when counts_due says its counts are behind its tasks. */
static inline void ipd_model_counts_ready(ipd_model_t *m, job_rec_t *j)
{
    if (j->counts_due)
        ipd_model_recount(m, j);
}
/* The first task of `j` (by index) that is retrying or failed, or NULL. The counts must be ready. */
const ipd_task_t *ipd_model_first_failing(job_rec_t *j);
/* The job's node counts from its task counts, plus `extra_pending` desired nodes with no task yet
 * counted pending, and `extra_cancelled` such nodes counted cancelled (the job was torn down before
 * their Jobs came). */
void ipd_model_job_counts(const job_rec_t *j, uint32_t extra_pending, uint32_t extra_cancelled, ipd_node_counts_t *out);
/* The first index >= `from` set in one of the bitmaps `which` (bit 1 << IPD_TASK_BITS_* for each),
 * or j->ntasks. The counts must be ready. */
size_t ipd_model_next_bits(const job_rec_t *j, unsigned which, size_t from);
/* Grows the job's stale list and bitmaps to `cap` tasks; 0 or -ENOMEM (then unchanged in size). */
int ipd_model_grow_task_index(job_rec_t *j, size_t cap);
void ipd_model_dispose_task_index(job_rec_t *j);
/* Asks the cluster for what the job's state calls for (resume, stop, restart). */
void ipd_model_run_actions(ipd_model_t *m, job_rec_t *j, int64_t now);

#endif
