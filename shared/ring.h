/*
 * The event ring: a fixed array of change records in shared memory, written by the table's
 * single writer and read without locks by any number of readers, each with its own cursor.
 *
 * Sequence numbers start at 1 and increase by one per record; record `seq` lives in entry
 * `(seq - 1) % capacity`. The head (last published seq) sits in the table header. Each entry
 * stores its own seq, so a reader that copied an entry the writer was overwriting sees a seq
 * other than the one it asked for and reports IPD_EOVERRUN instead of returning a torn record.
 * The writer never waits for readers. docs/shm-layout.md describes the entry byte by byte.
 */
#ifndef IPD_SHARED_RING_H
#define IPD_SHARED_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/job.h"

/** What a change record says happened to a job. */
typedef enum ipd_ring_kind {
    IPD_RING_JOB_UPSERTED = 1, /**< the job was created or changed; read it by id or slot */
    IPD_RING_JOB_DELETED = 2,  /**< the job was deleted or evicted; the slot no longer holds it */
} ipd_ring_kind_t;

/** `task` of a record that names no task: a new job, a delete, a change of the task count or
 *  of more tasks than one change describes record by record. Read the whole job. */
#define IPD_RING_TASK_NONE 0xffffffu
/** `task` of a record whose change rewrote the job record alone (its tasks and task count are as before). */
#define IPD_RING_TASK_JOB 0xfffffeu
/** Task indexes a record can name: 0 .. IPD_RING_TASK_MAX (24 bits, the two values above excluded). */
#define IPD_RING_TASK_MAX (IPD_RING_TASK_JOB - 1u)
/** Bit 7 of an entry's kind byte: another record of the same change follows this one. */
#define IPD_RING_MORE 0x80u

/** One change record as a reader receives it (a private copy; no pointers into the segment). */
typedef struct ipd_ring_entry {
    uint64_t seq;     /**< 1, 2, 3, ...: position in the table's change history */
    uint64_t version; /**< the job's `version` at this change (for a delete: its last one) */
    uint32_t kind;    /**< ipd_ring_kind_t */
    uint32_t slot;    /**< job slot index the change concerns */
    /** the index of a task this change rewrote (its other tasks and task count are as before
     *  but for those named by the other records of the change), IPD_RING_TASK_JOB or
     *  IPD_RING_TASK_NONE */
    uint32_t task;
    /** non-zero: the next record is of the same change (same job, version and kind) and names
     *  another of its tasks; a change of several tasks is that run of records, the last with 0 */
    uint32_t more;
    char id[IPD_JOB_ID_SIZE]; /**< job id, NUL-terminated */
} ipd_ring_entry_t;

/** The in-segment form of an entry: one cache line, `seq` doubling as its own validity stamp. */
typedef struct ipd_ring_slot {
    _Atomic uint64_t seq; /**< seq of the record held, 0 while the writer rewrites the entry */
    uint64_t version;
    uint32_t kind_task; /**< kind in bits 0-6, IPD_RING_MORE in bit 7, task in bits 8-31 */
    uint32_t slot;
    char id[IPD_JOB_ID_SIZE];
} ipd_ring_slot_t;

_Static_assert(sizeof(ipd_ring_slot_t) == 64, "a ring entry is one cache line");

/** A view of a ring: where its entries and head live. Holds no resources; copy freely. */
typedef struct ipd_ring {
    ipd_ring_slot_t *entries; /**< borrowed: `capacity` entries (in the segment, or any memory) */
    _Atomic uint64_t *head;   /**< borrowed: the last published seq, 0 when empty */
    uint32_t capacity;        /**< number of entries, a power of two */
} ipd_ring_t;

/** Bytes needed for `capacity` entries. */
size_t ipd_ring_bytes(uint32_t capacity);

/**
 * Sets up a view over `entries` (`capacity` entries, a power of two >= 2) and `head`, both
 * borrowed. Does not touch the memory: the creator zeroes it once; a reattaching writer and
 * readers take it as it is. Returns 0, or IPD_EINVAL for a bad capacity.
 */
int ipd_ring_init(ipd_ring_t *ring, void *entries, uint32_t capacity, _Atomic uint64_t *head);

/** The last published seq (0 if none). Acquire load: entries up to it are readable. */
uint64_t ipd_ring_head(const ipd_ring_t *ring);

/**
 * Writer only. Appends a record with seq head + 1, publishes it and returns that seq.
 * `kind`, `slot`, `version`, `id` (borrowed, NUL-terminated, truncated to IPD_JOB_ID_SIZE - 1)
 * describe the change; `task` is the index of the one task it rewrote, IPD_RING_TASK_JOB or
 * IPD_RING_TASK_NONE (any other value above IPD_RING_TASK_MAX is recorded as IPD_RING_TASK_NONE). The oldest entry is
 * overwritten once the ring is full.
 */
uint64_t ipd_ring_append(ipd_ring_t *ring, ipd_ring_kind_t kind, uint32_t slot, uint32_t task, uint64_t version,
                         const char *id);

/**
 * Writer only. Like ipd_ring_append(), for one record of a change that several records describe
 * (one per task it rewrote): `more` non-zero marks every record of the run but its last.
 */
uint64_t ipd_ring_append_part(ipd_ring_t *ring, ipd_ring_kind_t kind, uint32_t slot, uint32_t task, uint64_t version,
                              const char *id, int more);

/**
 * Copies the records after `after_seq` into `out` (caller's array of `cap` entries), oldest
 * first, at most `cap` of them; sets `*count` to how many were copied (0 when the reader is
 * up to date). Call again with the last copied seq to continue.
 * Returns 0; IPD_EOVERRUN when a record after `after_seq` is no longer in the ring (the reader
 * is more than `capacity` records behind, or fell behind while copying): the reader must
 * resync from a snapshot and continue from ipd_ring_head(). IPD_EINVAL if `after_seq` is ahead
 * of the head. Never blocks and never waits for the writer.
 */
int ipd_ring_read(const ipd_ring_t *ring, uint64_t after_seq, ipd_ring_entry_t *out, size_t cap, size_t *count);

#endif
