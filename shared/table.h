/*
 * The shared-memory job table: one POSIX shm object per instance, written by one process (the
 * master) and read by many (the workers) without locks. shared/shm.h names, finds and maps it.
 *
 * What it holds: fixed-capacity job slots and task slots (a job's tasks are a contiguous
 * extent of task slots), an id -> slot index, the active and failed job lists in API order,
 * and an event ring of change records (shared/ring.h). docs/shm-layout.md describes every byte.
 *
 * Concurrency contract:
 *  - Exactly one writer at a time: the table returned by ipd_table_create(). Writer functions
 *    are not thread-safe; call them from one thread.
 *  - Readers (ipd_table_attach_readonly(), or the writer's own table) never block the writer
 *    and never return a torn record. Every job and task slot holds two copies; the writer
 *    fills the unpublished one and then publishes it, so a reader always has a complete copy
 *    to read, even after the writer died in the middle of an update. A reader retries a
 *    bounded number of times when the writer overtakes it and then fails with IPD_EBUSY.
 *  - A job read is consistent with its tasks: every task copy is stamped with the table
 *    generation it was written at, and a reader accepts only task copies no newer than the
 *    job copy it read (falling back to the task's previous copy when needed).
 *  - The mapping of a read-only table is PROT_READ: a stray write from a worker faults.
 *
 * Errors: functions return 0 or a negative code, -errno for a failed system call (the log
 * line names the call) or an IPD_E* code from proto/error.h.
 */
#ifndef IPD_SHARED_TABLE_H
#define IPD_SHARED_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/job.h"
#include "shared/ring.h"
#include "shared/shm.h"

/** Longest instance name: [A-Za-z0-9_.-]{1,64}. */
#define IPD_TABLE_INSTANCE_MAX 64
/** Room for the epoch in hex: 16 digits and a NUL. */
#define IPD_TABLE_EPOCH_HEX_SIZE 17
/** Bytes of the master's note in the table's header (ipd_table_note). */
#define IPD_TABLE_NOTE_SIZE 64

/** Default capacities (ipd_table_options_init()). */
#define IPD_TABLE_DEFAULT_JOBS  4096
#define IPD_TABLE_DEFAULT_TASKS 65536
#define IPD_TABLE_DEFAULT_RING  65536
#define IPD_TABLE_DEFAULT_JSON  8192

/** Upper bounds accepted for capacities (keeps every index in 31 bits). */
#define IPD_TABLE_MAX_JOBS  (1u << 20)
#define IPD_TABLE_MAX_TASKS (1u << 24)
#define IPD_TABLE_MAX_RING  (1u << 24)
#define IPD_TABLE_MAX_JSON  (1u << 20)

/** A table handle: a mapping of the segment plus, for the writer, its private state. Opaque. */
typedef struct ipd_table ipd_table_t;

/** How the writer should create or reattach the table. Initialise with ipd_table_options_init(). */
typedef struct ipd_table_options {
    /** borrowed for the call: the instance name, [A-Za-z0-9_.-], 1..64 bytes */
    const char *instance;
    /** job slots (1..IPD_TABLE_MAX_JOBS); default 4096 */
    uint32_t job_capacity;
    /** task slots shared by all jobs (1..IPD_TABLE_MAX_TASKS); default 65536 */
    uint32_t task_capacity;
    /** ring entries, a power of two (2..IPD_TABLE_MAX_RING); default 65536 */
    uint32_t ring_capacity;
    /** inline pre-encoded JSON bytes per job (0..IPD_TABLE_MAX_JSON); default 8192 */
    uint32_t json_capacity;
    /** group allowed to read the segment (mode 0640, fchown to it); (gid_t)-1 for none (0600) */
    gid_t group;
    /** non-zero: never reattach an existing segment, always build a new one */
    int force_rebuild;
} ipd_table_options_t;

/** What ipd_table_create() did with the segment. */
typedef enum ipd_table_outcome {
    IPD_TABLE_CREATED = 1,    /**< no segment existed; a new one was built */
    IPD_TABLE_REATTACHED = 2, /**< an existing segment passed validation and was kept with its history */
    IPD_TABLE_REBUILT = 3,    /**< an existing segment was rejected, unlinked and replaced (new epoch) */
} ipd_table_outcome_t;

/** Detail of ipd_table_create()'s outcome, for the log and for tests. */
typedef struct ipd_table_open_info {
    /** ipd_table_outcome_t */
    int outcome;
    /** for IPD_TABLE_REBUILT: why (IPD_ECORRUPT, or IPD_ESTATE for force_rebuild); else 0 */
    int reason;
    /** for IPD_TABLE_REATTACHED: slots whose unpublished copy was left mid-write and restored */
    uint32_t repaired_slots;
    /** for IPD_TABLE_REATTACHED: records published by the previous writer without a change record, now announced */
    uint32_t announced;
    /** a one-line human explanation, e.g. "layout version 0 != 1"; empty when created */
    char detail[160];
    /** the name of the object the table lives in (shared/shm.h) */
    char name[IPD_SHM_NAME_SIZE];
} ipd_table_open_info_t;

/** Which ordered job list to read. */
typedef enum ipd_table_list_kind {
    IPD_TABLE_LIST_ACTIVE = 0, /**< pending and pulling jobs, oldest first (created_at, then id) */
    IPD_TABLE_LIST_FAILED = 1, /**< failed jobs, newest first (finished_at, then id, descending) */
} ipd_table_list_kind_t;

/** A reference to a job slot at one occupancy: it stops resolving once the job leaves the slot. */
typedef struct ipd_table_ref {
    uint32_t slot;        /**< job slot index */
    uint32_t incarnation; /**< bumped each time the slot receives another job */
} ipd_table_ref_t;

/**
 * Where a reader wants one job copied. All buffers are the caller's (borrowed for the call);
 * the table keeps no pointer to them. Fields marked "out" are set by the read.
 */
typedef struct ipd_table_job_view {
    /** required: receives the job record */
    ipd_job_t *job;
    /** optional (NULL with task_cap 0 to skip): receives the job's tasks in order */
    ipd_task_t *tasks;
    /** entries available in `tasks` */
    size_t task_cap;
    /** optional (NULL to skip): receives the job's pre-encoded JSON, not NUL-terminated */
    char *json;
    /** bytes available in `json` */
    size_t json_cap;
    /** out: the job's task count (may exceed task_cap, see ipd_table_get_job()) */
    size_t ntasks;
    /** out: bytes of inline JSON; 0 when absent */
    size_t json_len;
    /** out: non-zero when the table holds pre-encoded JSON for this job version */
    int has_json;
    /** out: the slot and occupancy read */
    ipd_table_ref_t ref;
    /** out: the table generation at which this job copy was written */
    uint64_t stamp;
} ipd_table_job_view_t;

/** Sets every field of `opts` to its default; `instance` to NULL, `group` to (gid_t)-1. */
void ipd_table_options_init(ipd_table_options_t *opts);

/** Returns 0 if `instance` is a valid instance name, else IPD_EINVAL. */
int ipd_table_check_instance(const char *instance);

/**
 * Writer. Opens the table of `opts->instance`: reattaches this user's newest segment of the
 * instance (ipd_shm_find()) if it passes validation (magic, layout version, every size equal to
 * the requested one, no bad checksum on a record copy, consistent task extents), keeping its
 * epoch, generation and ring; or unlinks a failing one and builds a new segment with a new
 * epoch; or creates one. Every other segment of this user's for the instance is unlinked;
 * another user's are neither used nor removed.
 * On success `*out` is owned by the caller (ipd_table_destroy()); `info` (optional, caller's)
 * says what happened. The writer's private state (free lists, task extent allocator, list
 * order) is rebuilt from the segment on reattach. Returns 0, IPD_EINVAL for bad options,
 * -errno (shm_open, fchown, fchmod, ftruncate, mmap, getrandom) or -ENOMEM.
 */
int ipd_table_create(const ipd_table_options_t *opts, ipd_table_t **out, ipd_table_open_info_t *info);

/**
 * Reader. Maps this user's newest table of `instance` (ipd_shm_find()) read-only (PROT_READ)
 * after validating its header against the object's size. `*out` is owned by the caller (ipd_table_destroy()).
 * Returns 0, IPD_EINVAL (bad name), IPD_ECORRUPT (bad header), -ENOENT or another -errno.
 */
int ipd_table_attach_readonly(const char *instance, ipd_table_t **out);

/** Unmaps and frees `t` (may be NULL). The segment itself stays; see ipd_table_unlink(). */
void ipd_table_destroy(ipd_table_t *t);

/** Removes this user's table objects of `instance`. Mappings stay valid. Returns 0, -ENOENT when
 *  there was none, IPD_EINVAL or -errno. */
int ipd_table_unlink(const char *instance);

/* ---- header accessors (writer and readers) ---- */

/** The random 64-bit epoch chosen when the segment was built. */
uint64_t ipd_table_epoch(const ipd_table_t *t);
/** Writes the epoch as 16 lowercase hex digits and a NUL into `buf` (caller's). */
void ipd_table_epoch_hex(const ipd_table_t *t, char buf[IPD_TABLE_EPOCH_HEX_SIZE]);
/** The generation: bumped by every change (upsert, delete, eviction). Acquire load. */
uint64_t ipd_table_generation(const ipd_table_t *t);
/** The seq of the last change record (0 if none). Acquire load. */
uint64_t ipd_table_ring_head(const ipd_table_t *t);
/** Capacities the segment was built with. */
uint32_t ipd_table_job_capacity(const ipd_table_t *t);
uint32_t ipd_table_task_capacity(const ipd_table_t *t);
uint32_t ipd_table_ring_capacity(const ipd_table_t *t);
uint32_t ipd_table_json_capacity(const ipd_table_t *t);
/** Jobs currently held (writer only; readers get 0). */
uint32_t ipd_table_job_count(const ipd_table_t *t);
/** Final states the writer kept over a different one since this writer attached (ipd_table_put_job; readers get 0). */
uint64_t ipd_table_final_refusals(const ipd_table_t *t);
/**
 * The master's note, kept with the table across the master's restarts (a segment rebuilt starts
 * with none): the Redis epoch its tasks were last in step with. ipd_table_note copies it into
 * `out` (IPD_TABLE_NOTE_SIZE bytes, "" for none); ipd_table_set_note stores `text` (truncated to
 * IPD_TABLE_NOTE_SIZE - 1 bytes; writer only: a reader's table is left as it is).
 */
void ipd_table_note(const ipd_table_t *t, char out[IPD_TABLE_NOTE_SIZE]);
void ipd_table_set_note(ipd_table_t *t, const char *text);

/* ---- readers (also valid on the writer's table) ---- */

/**
 * Copies the job `id` (borrowed, NUL-terminated) into `view`, with its tasks and inline JSON
 * when asked. Returns 0; IPD_ENOTFOUND; IPD_ETOOBIG when `task_cap` or `json_cap` is too small
 * (then `ntasks`/`json_len` say how much is needed and the job record is still copied);
 * IPD_EBUSY when no consistent copy could be read within the retry budget.
 */
int ipd_table_get_job(const ipd_table_t *t, const char *id, ipd_table_job_view_t *view);

/** Like ipd_table_get_job() for a reference from a list; IPD_ENOTFOUND once the slot holds another job or none. */
int ipd_table_get_job_at(const ipd_table_t *t, ipd_table_ref_t ref, ipd_table_job_view_t *view);

/**
 * Copies whatever job slot `slot` (0 .. job capacity - 1) holds, so that a reader can walk
 * every job of the table (succeeded and cancelled ones are in no list). Returns 0,
 * IPD_ENOTFOUND for an empty slot, IPD_ETOOBIG or IPD_EBUSY as ipd_table_get_job() does.
 */
int ipd_table_get_job_in_slot(const ipd_table_t *t, uint32_t slot, ipd_table_job_view_t *view);

/**
 * Copies the list `kind` in API order into `refs` (caller's, `cap` entries): the first
 * min(cap, total) entries. `*count` gets the number copied, `*total` (optional) the list's
 * length, `*generation` (optional) the generation the list was published at. The jobs may
 * move on after the list was read: resolve each ref with ipd_table_get_job_at() and skip
 * IPD_ENOTFOUND. Returns 0 or IPD_EBUSY.
 */
int ipd_table_list(const ipd_table_t *t, ipd_table_list_kind_t kind, ipd_table_ref_t *refs, size_t cap, size_t *count,
                   size_t *total, uint64_t *generation);

/** The table's event ring, for ipd_ring_read() (see shared/ring.h). */
const ipd_ring_t *ipd_table_ring(const ipd_table_t *t);

/** Shorthand for ipd_ring_read(ipd_table_ring(t), ...). */
int ipd_table_ring_read(const ipd_table_t *t, uint64_t after_seq, ipd_ring_entry_t *entries, size_t cap, size_t *count);

/* ---- writer ---- */

/**
 * Inserts or replaces the job `job->id` with `ntasks` tasks (`tasks`, borrowed; may be NULL
 * when ntasks is 0) and optional pre-encoded JSON (`json`, borrowed, `json_len` bytes; NULL or
 * longer than the inline capacity stores it as absent). All are copied; the table keeps no
 * pointer. Tasks whose bytes did not change are not rewritten. The table stores what it is
 * given: it derives nothing from the tasks. A new job that finds no free slot evicts the
 * oldest succeeded or cancelled job, then the oldest failed one; a job whose tasks do not fit
 * evicts the same way. Each change bumps the generation and appends a change record.
 * Returns 0; IPD_EINVAL (empty or unterminated id, bad state); IPD_ETOOBIG (ntasks above the
 * task capacity); IPD_EFULL (only active jobs left to evict, or the tasks cannot be placed;
 * finished jobs may have been evicted in the attempt); IPD_ESTATE on a read-only table.
 * The change record names the task rewritten when exactly one was (ring.h, `task`).
 *
 * A final state stays final, whatever the caller asks (the last line of defence against a bug
 * upstream): a job the table holds as succeeded, failed or cancelled keeps that state, its
 * finish time and its error when `job` says another state, except that a keep job may leave
 * succeeded or failed (a keep job is never final, only cancelled); a task (the same index and
 * node as the published one) that is succeeded, failed or cancelled keeps its record when the
 * new one has another state, except that a keep job's task may start a new round (pending,
 * pulling, retrying: a refresh, a node back); such a task of a job that is not a keep job keeps
 * its reason and message too when the new record says the same state in other words (figures
 * may still follow). What was kept is written in place of what was
 * asked, the job's node counts follow the tasks kept, the JSON is then left absent (readers
 * encode the records), and each refusal counts in ipd_table_final_refusals() and is logged once
 * per job in a row. A new job (or one deleted and put again) has nothing to keep.
 */
int ipd_table_put_job(ipd_table_t *t, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json,
                      size_t json_len);

/**
 * Replaces the job `job->id`, which the table holds with exactly `ntasks` tasks, changing only
 * the tasks named: task `index[i]` becomes `tasks[i]` for i < `nchanged` (both arrays borrowed;
 * NULL when nchanged is 0; indexes distinct). The job record and the optional JSON are replaced
 * as by ipd_table_put_job(); the other tasks are neither read nor compared, so the cost follows
 * `nchanged`, not the job's size. Readers see the job and all its tasks as one version, as
 * after ipd_table_put_job(). The change record names the task when exactly one was rewritten.
 * Returns 0; IPD_ENOTFOUND (no such job: use ipd_table_put_job()); IPD_ESTATE (the table holds
 * another task count, or a read-only table); IPD_EINVAL (bad job as for ipd_table_put_job(), an
 * index >= ntasks); IPD_ETOOBIG (nchanged above the task capacity). Nothing is written on error.
 * Final states stay final as for ipd_table_put_job().
 */
int ipd_table_put_tasks(ipd_table_t *t, const ipd_job_t *job, size_t ntasks, const uint32_t *index,
                        const ipd_task_t *tasks, size_t nchanged, const void *json, size_t json_len);

/**
 * ipd_table_put_job() and ipd_table_put_tasks() for a caller that knows which strings of its
 * records are empty without reading them: `job_blank` has the bits of ipd_job_blank(job),
 * `task_blank[i]` those of ipd_task_blank(&tasks[i]) (proto/job.h; NULL or 0 when unknown). A set
 * bit must be true (a debug build asserts it); the strings it names are not read, and what is
 * written, checksums included, is the same as without it.
 */
int ipd_table_put_job_known(ipd_table_t *t, const ipd_job_t *job, unsigned job_blank, const ipd_task_t *tasks,
                            const uint8_t *task_blank, size_t ntasks, const void *json, size_t json_len);
int ipd_table_put_tasks_known(ipd_table_t *t, const ipd_job_t *job, unsigned job_blank, size_t ntasks,
                              const uint32_t *index, const ipd_task_t *tasks, const uint8_t *task_blank,
                              size_t nchanged, const void *json, size_t json_len);

/** Deletes job `id` (borrowed): its slot and tasks are freed and a deleted record is appended.
 *  Returns 0, IPD_ENOTFOUND or IPD_ESTATE on a read-only table. */
int ipd_table_delete_job(ipd_table_t *t, const char *id);

/**
 * Called once per job by ipd_table_foreach(). `job`, `tasks` (`ntasks` entries) and `json`
 * (`json_len` bytes, NULL when absent) are borrowed until the callback returns.
 * Return 0 to go on, anything else to stop (ipd_table_foreach() then returns that value).
 */
typedef int (*ipd_table_foreach_cb)(const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json,
                                    size_t json_len, void *ctx);

/** Writer only: calls `cb` for every job held, in slot order, so a reattaching master can
 *  reload its model. `ctx` is passed through. Returns 0, the callback's non-zero value,
 *  -ENOMEM or IPD_ESTATE on a read-only table. */
int ipd_table_foreach(ipd_table_t *t, ipd_table_foreach_cb cb, void *ctx);

/** Writer only: recomputes the checksum of every written record copy and compares, and checks
 *  that every string field is zero after its NUL (the checksum covers strings up to the NUL).
 *  Returns 0, IPD_ECORRUPT, or IPD_ESTATE on a read-only table. */
int ipd_table_verify(const ipd_table_t *t);

/** The 64-bit hash used for record checksums and the id index (not cryptographic). */
uint64_t ipd_table_hash64(const void *data, size_t len, uint64_t seed);

#endif
