/*
 * Private to shared/table_*.c: the segment layout (docs/shm-layout.md is its prose twin; keep
 * them in step and bump TABLE_LAYOUT_VERSION on any change), the handle, the writer's private
 * state, and the functions the table's .c files share.
 */
#ifndef IPD_SHARED_TABLE_INTERNAL_H
#define IPD_SHARED_TABLE_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/table.h"

#define TABLE_MAGIC          UINT64_C(0x656c626174647069) /* "ipdtable" in little-endian byte order */
#define TABLE_LAYOUT_VERSION 6u
#define TABLE_LINE           64u
#define TABLE_PAGE           4096u
#define TABLE_HEADER_SIZE    512u
/* Passes a reader makes before giving up with IPD_EBUSY. */
#define TABLE_READ_RETRIES 64
/* Index values: 0 = empty, all ones = tombstone, else (tag << 32) | slot with tag odd. */
#define INDEX_EMPTY UINT64_C(0)
#define INDEX_TOMB  UINT64_MAX

/* Flags of a record copy. */
#define COPY_LIVE     1u /* holds a job (or task) */
#define COPY_DELETED  2u /* job slot: the job `job.id` was deleted at `stamp` */
#define COPY_HAS_JSON 4u /* job slot: `json_len` bytes of pre-encoded JSON follow the record */

/* Byte layout of the header. Lines 0-2 never change after creation; line 3 is the hot line
 * written on every change; line 4 is the master's note; lines 5-7 are reserved (zero). */
typedef struct table_header {
    _Atomic uint64_t magic; /* stored last at creation, with release */
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t total_size;
    uint64_t epoch;
    int64_t created_at_ms;
    uint32_t creator_pid;
    uint32_t _reserved0[5];

    uint32_t job_capacity;
    uint32_t task_capacity;
    uint32_t ring_capacity;
    uint32_t json_capacity;
    uint32_t index_buckets;
    uint32_t job_record_size;
    uint32_t task_record_size;
    uint32_t ring_entry_size;
    uint32_t job_slot_size;
    uint32_t task_slot_size;
    uint32_t list_copy_size;
    uint32_t _reserved1[5];

    uint64_t off_jobs;
    uint64_t off_tasks;
    uint64_t off_index;
    uint64_t off_lists;
    uint64_t off_ring;
    uint64_t _reserved2[3];

    alignas(64) _Atomic uint64_t generation;
    _Atomic uint64_t ring_head;
    _Atomic uint64_t index_seq;
    uint64_t _reserved3[5];

    /* Line 4: the master's note (ipd_table_note), NUL-terminated; only the writer reads it. */
    char note[IPD_TABLE_NOTE_SIZE];
    uint8_t _reserved4[256 - IPD_TABLE_NOTE_SIZE];
} table_header_t;

_Static_assert(sizeof(table_header_t) == TABLE_HEADER_SIZE, "header is 512 bytes");
_Static_assert(offsetof(table_header_t, layout_version) == 8, "layout_version at 8");
_Static_assert(offsetof(table_header_t, epoch) == 24, "epoch at 24");
_Static_assert(offsetof(table_header_t, job_capacity) == 64, "geometry starts line 1");
_Static_assert(offsetof(table_header_t, list_copy_size) == 104, "list_copy_size at 104");
_Static_assert(offsetof(table_header_t, off_jobs) == 128, "offsets start line 2");
_Static_assert(offsetof(table_header_t, off_ring) == 160, "off_ring at 160");
_Static_assert(offsetof(table_header_t, generation) == 192, "hot line is line 3");
_Static_assert(offsetof(table_header_t, generation) % TABLE_LINE == 0, "hot fields are cache-line aligned");
_Static_assert(offsetof(table_header_t, ring_head) == 200, "ring_head at 200");
_Static_assert(offsetof(table_header_t, index_seq) == 208, "index_seq at 208");
_Static_assert(offsetof(table_header_t, note) == 256, "the note is line 4");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics are lock-free");

/* The first line of every job and task slot: the latch that says which copy is published. */
typedef struct slot_head {
    _Atomic uint64_t seq;     /* published copy = seq & 1; 0 = never published */
    _Atomic uint64_t writing; /* 0, or seq + 1 while copy (seq + 1) & 1 is being written */
    uint64_t _reserved[6];
} slot_head_t;

_Static_assert(sizeof(slot_head_t) == TABLE_LINE, "a slot head is one cache line");

/* A job copy: this head, the ipd_job_t, then `json_capacity` bytes of JSON room. */
typedef struct job_copy {
    uint64_t checksum; /* of the bytes in use from `stamp` to the end of the used JSON (table_hash.c) */
    uint64_t stamp;    /* table generation this copy was written at */
    uint32_t incarnation;
    uint32_t flags;
    uint32_t task_first;
    uint32_t task_count;
    uint32_t json_len;
    uint32_t _reserved[7];
    ipd_job_t job;
} job_copy_t;

_Static_assert(offsetof(job_copy_t, job) == TABLE_LINE, "the job record starts the second line of a copy");
_Static_assert(sizeof(job_copy_t) == TABLE_LINE + sizeof(ipd_job_t), "no padding after the job record");
_Static_assert(sizeof(ipd_job_t) % 8 == 0, "JSON room starts 8-byte aligned");

/* A task copy: this head then the ipd_task_t. */
typedef struct task_copy {
    uint64_t checksum; /* of the bytes in use from `stamp` to the end of the task (table_hash.c) */
    uint64_t stamp;    /* table generation this copy was written at */
    uint32_t job_slot; /* owner: job slot, its incarnation, and this task's index in the job */
    uint32_t incarnation;
    uint32_t index;
    uint32_t flags;
    ipd_task_t task;
} task_copy_t;

_Static_assert(offsetof(task_copy_t, task) == 32, "task record at 32");
_Static_assert(sizeof(task_copy_t) % TABLE_LINE == 0, "task copies keep cache-line alignment");

/*
 * One published list copy: this head then `len` positions, room for list_positions(job_capacity).
 * A position holds a ref or a hole (slot LIST_HOLE): a job that leaves a list leaves a hole,
 * so that neither leaving nor entering at the end moves the other refs. The active list is
 * stored in API order, the failed list in reverse API order (oldest first), so that a new job
 * and a new failure are both appended.
 */
typedef struct list_copy {
    uint64_t generation;
    uint32_t count; /* refs held, holes not counted */
    uint32_t len;   /* positions in use, holes counted */
    uint32_t _reserved[12];
    ipd_table_ref_t refs[];
} list_copy_t;

_Static_assert(sizeof(list_copy_t) == TABLE_LINE, "list refs start the second line");
_Static_assert(sizeof(ipd_table_ref_t) == 8, "a ref is 8 bytes");

/* The slot of a hole in a list, and of "not in the list" in the writer's position map. */
#define LIST_HOLE UINT32_MAX
/* A list compacts once its holes outnumber both its refs and this many. */
#define LIST_SLACK 64u
/* A job that lands further than this from the nearest hole (and further than sqrt(8 len)) has
 * the list rebuilt with one hole after every LIST_GAP refs instead of shifting the refs between. */
#define LIST_FAR 64u
#define LIST_GAP 4u
/* Runs of changed positions remembered per list copy between two of its publications; beyond, it is rewritten whole. */
#define LIST_OPS 96u

/* Positions a list copy has room for: refs plus the holes compaction allows. */
static inline size_t list_positions(uint32_t jobs)
{
    return 2 * (size_t)jobs + LIST_SLACK + 2;
}

/* A run of positions the writer changed in a list since a copy was last written: the copy
 * takes them from the writer's `store` when it is next published. */
typedef struct list_op {
    uint32_t first;
    uint32_t count;
} list_op_t;

/* The writer's private twin of one list: positions as published, and what each copy lacks. */
typedef struct wlist {
    uint32_t *store; /* `room` entries: a job slot or LIST_HOLE */
    uint32_t room;   /* list_positions(job_capacity) */
    uint32_t len;
    uint32_t live;
    uint32_t *pos;              /* job_capacity entries: position of the slot in `store`, or LIST_HOLE */
    list_op_t ops[2][LIST_OPS]; /* per copy: runs changed since the copy was last written */
    uint32_t nops[2];
    uint32_t opsum[2]; /* per copy: positions in its runs */
    uint8_t full[2];   /* per copy: rewrite it whole (too many changes, a rebuild, a compaction) */
} wlist_t;

/* The writer's private view of a job slot. */
typedef struct wjob {
    char id[IPD_JOB_ID_SIZE];
    int64_t created_at;
    int64_t finished_at;
    uint32_t incarnation;
    uint32_t task_first;
    uint32_t task_count;
    uint8_t live;
    uint8_t state;
    uint8_t zero[2]; /* per copy: bit i set = string span i of ipd_job_spans is known to be all zero */
} wjob_t;

/*
 * What the writer knows of a task slot's copies without reading them: the common write then
 * touches no shared-memory line it does not write (docs/shm-layout.md, "What the writer keeps").
 * Zero means "not known" and is always safe: the writer then reads the copy.
 */
typedef struct wtask {
    uint8_t zero[2]; /* per copy: bit i set = string span i of ipd_task_spans is known to be all zero */
    uint8_t settled; /* 1: the published copy is known to hold no live task in a final state */
    uint8_t _pad;
} wtask_t;

typedef struct extent {
    uint32_t first;
    uint32_t count;
} extent_t;

/* State only the writer has, rebuilt from the segment on reattach. */
typedef struct table_writer {
    wjob_t *jobs;         /* job_capacity entries */
    wtask_t *tasks;       /* task_capacity entries */
    uint32_t *free_slots; /* stack of free job slots */
    uint32_t nfree_slots;
    extent_t *free_ext; /* free task extents sorted by `first`, coalesced */
    uint32_t nfree_ext;
    wlist_t lists[2];    /* indexed by ipd_table_list_kind_t */
    uint32_t index_used; /* live + tombstone buckets in the published index */
    uint32_t index_tombs;
    uint64_t gen;                       /* last generation published */
    ipd_task_t *scratch;                /* ipd_table_foreach() gather buffer, task_capacity entries */
    uint64_t final_refused;             /* final states kept over a different one (shared/table_final.c) */
    char final_logged[IPD_JOB_ID_SIZE]; /* the job of the last refusal logged */
} table_writer_t;

struct ipd_table {
    uint8_t *base;
    size_t size;
    table_header_t *hdr;
    uint8_t *jobs;
    uint8_t *tasks;
    _Atomic uint64_t *index[2];
    uint8_t *lists;
    ipd_ring_t ring;
    uint32_t job_cap;
    uint32_t task_cap;
    uint32_t json_cap;
    uint32_t buckets;
    size_t job_copy_size;
    size_t job_slot_size;
    size_t job_copy1_off; /* copy 1's offset in a job slot; copy 0's is TABLE_LINE */
    size_t list_copy_size;
    table_writer_t *w; /* NULL on a read-only table */
};

static inline size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/*
 * A job slot is whole pages: the latch line and copy 0 from its first page on, copy 1 from the
 * next page boundary after copy 0. A record and a short JSON (up to 2 224 bytes) then take one
 * page per copy, and a new job touches two pages instead of three or four when the slot
 * followed the previous one without gaps (docs/shm-layout.md, "Job slot").
 */
static inline size_t job_copy_bytes(uint32_t json_cap)
{
    return align_up(sizeof(job_copy_t) + json_cap, TABLE_LINE);
}

static inline size_t job_copy1_offset(uint32_t json_cap)
{
    return align_up(TABLE_LINE + job_copy_bytes(json_cap), TABLE_PAGE);
}

static inline size_t job_slot_bytes(uint32_t json_cap)
{
    return align_up(job_copy1_offset(json_cap) + job_copy_bytes(json_cap), TABLE_PAGE);
}

static inline slot_head_t *job_head(const ipd_table_t *t, uint32_t slot)
{
    return (slot_head_t *)(t->jobs + (size_t)slot * t->job_slot_size);
}

static inline job_copy_t *job_copy(const ipd_table_t *t, uint32_t slot, uint64_t which)
{
    return (job_copy_t *)((uint8_t *)job_head(t, slot) + ((which & 1) ? t->job_copy1_off : TABLE_LINE));
}

static inline slot_head_t *task_head(const ipd_table_t *t, uint32_t slot)
{
    return (slot_head_t *)(t->tasks + (size_t)slot * (TABLE_LINE + 2 * sizeof(task_copy_t)));
}

static inline task_copy_t *task_copy(const ipd_table_t *t, uint32_t slot, uint64_t which)
{
    return (task_copy_t *)((uint8_t *)task_head(t, slot) + TABLE_LINE) + (which & 1);
}

static inline slot_head_t *list_head(const ipd_table_t *t, ipd_table_list_kind_t kind)
{
    return (slot_head_t *)(t->lists + (size_t)kind * (TABLE_LINE + 2 * t->list_copy_size));
}

static inline list_copy_t *list_copy(const ipd_table_t *t, ipd_table_list_kind_t kind, uint64_t which)
{
    return (list_copy_t *)((uint8_t *)list_head(t, kind) + TABLE_LINE + (which & 1) * t->list_copy_size);
}

static inline uint8_t *job_json(job_copy_t *c)
{
    return (uint8_t *)(c + 1);
}

/* table_hash.c: a copy's checksum covers its head from `stamp` on, the record's string fields up
 * to their NUL (each followed by its length), its other bytes as they are, and the used JSON.
 * The *_ok checks, for reattach, also require every string's tail after its NUL to be zero. */
uint64_t ipd_table_job_checksum(const job_copy_t *c, uint32_t json_cap);
uint64_t ipd_table_task_checksum(const task_copy_t *c);
int ipd_table_job_copy_ok(const job_copy_t *c, uint32_t json_cap);
int ipd_table_task_copy_ok(const task_copy_t *c);
/* The writer's stores: copies the record into a copy whose head (and, for a job, JSON) is
 * written, with every string zero after its NUL whatever the given record holds there, and sets
 * the checksum. `c` must hold a copy this writer stored before, or zeroes (its string tails are
 * zero). One pass over the bytes in use, not over the whole record. `zero` (in and out) says
 * which string spans of `c` are all zero (wjob_t, wtask_t): an empty string stored over one of
 * them is not written, which leaves its cache line untouched; on return it says which are.
 * `blank` names strings of the given record known empty (ipd_job_blank() / ipd_task_blank()
 * bits; 0 when unknown): those are not read. */
void ipd_table_job_store(job_copy_t *c, const ipd_job_t *job, unsigned blank, uint32_t json_cap, uint8_t *zero);
void ipd_table_task_store(task_copy_t *c, const ipd_task_t *task, unsigned blank, uint8_t *zero);
uint64_t ipd_table_id_hash(const char *id);

/* table_latch.c: the double-buffer protocol shared by job, task and list slots. Writer:
 * begin(), fill copy (seq + 1) & 1, publish(). Reader: s = enter(); if s == 0 nothing was
 * published; copy copy s & 1 (or with `previous`, copy (s + 1) & 1, needs s >= 2); keep the
 * copy only if stable(s, previous). */
void ipd_table_latch_begin(slot_head_t *h);
void ipd_table_latch_publish(slot_head_t *h);
uint64_t ipd_table_latch_enter(const slot_head_t *h);
int ipd_table_latch_stable(const slot_head_t *h, uint64_t seq, int previous);

/* table_index.c */
int ipd_table_index_find(const ipd_table_t *t, const char *id, ipd_table_job_view_t *view);
uint32_t ipd_table_index_lookup(const ipd_table_t *t, const char *id); /* writer; UINT32_MAX if absent */
void ipd_table_index_insert(ipd_table_t *t, const char *id, uint32_t slot);
void ipd_table_index_remove(ipd_table_t *t, const char *id, uint32_t slot);
void ipd_table_index_rebuild(ipd_table_t *t);

/* table_read.c */
int ipd_table_read_slot(const ipd_table_t *t, uint32_t slot, const char *id, uint32_t incarnation,
                        ipd_table_job_view_t *view);

/* table_writer.c: the writer's private state */
int ipd_table_writer_new(ipd_table_t *t);
/* Records what the writer knows of a segment it has just built, all zeroes: every string of
 * every copy is zero and no copy is published. */
void ipd_table_writer_zeroed(ipd_table_t *t);
void ipd_table_writer_free(ipd_table_t *t);
int ipd_table_writer_derive(ipd_table_t *t);
int ipd_table_extent_alloc(ipd_table_t *t, uint32_t count, uint32_t *first);
void ipd_table_extent_free(ipd_table_t *t, uint32_t first, uint32_t count);
int ipd_table_extent_grow(ipd_table_t *t, uint32_t first, uint32_t count, uint32_t want);
void ipd_table_lists_update(ipd_table_t *t, uint32_t slot, const wjob_t *before, const wjob_t *after);
void ipd_table_lists_publish(ipd_table_t *t, ipd_table_list_kind_t kind);
/* The first job slot stored in list `kind` other than `skip` (for the failed list: the oldest
 * failure), or LIST_HOLE when there is none. */
uint32_t ipd_table_list_first(const ipd_table_t *t, ipd_table_list_kind_t kind, uint32_t skip);

/* table_reattach.c */
int ipd_table_reattach(ipd_table_t *t, ipd_table_open_info_t *info);

/*
 * A final state stays final (shared/table_final.c, the contract in table.h): the writer's last
 * line of defence against a flip a caller's bug would publish. Both are called before the put
 * writes anything of the job.
 *
 * ipd_table_final_task: the task to write at index `index` of job `slot` (incarnation `inc`) in place
 * of `task`, whose published copy, if any, is in task slot `old_ts` (NO_TASK_SLOT for none).
 * Returns `task`, or `fixed` holding the published task when `task` would change its final state
 * (`keep`: the job is a keep job, whose final tasks may start a new round, non-final), or `task`
 * with the published reason and message when it keeps the final state in other words (not for a
 * keep job). The job's counts in `nodes` follow the task kept.
 *
 * ipd_table_final_job: returns `job`, or `fixed` (a copy of `job` with the published final state,
 * finish time and error) when `job` would change the final state of the job published in `slot`.
 */
#define NO_TASK_SLOT UINT32_MAX
const ipd_task_t *ipd_table_final_task(ipd_table_t *t, uint32_t slot, uint32_t inc, uint32_t old_ts, uint32_t index,
                                       const char *id, int keep, const ipd_task_t *task, ipd_task_t *fixed,
                                       ipd_node_counts_t *nodes);
const ipd_job_t *ipd_table_final_job(ipd_table_t *t, uint32_t slot, const ipd_job_t *job, ipd_job_t *fixed);

#endif
