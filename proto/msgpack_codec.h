/*
 * msgpack encoding of the model, for Redis (per-node task hashes and the change stream) and for
 * clients that ask for application/msgpack.
 *
 * Records are maps with string keys, so a later version can add keys: decoders ignore keys
 * they do not know (of any type) and leave fields whose key is absent at their defaults
 * (ipd_task_init for tasks; zero, ttl_seconds_after_finished = -1 and unknown times for jobs).
 * Enums travel as their API names ("pulling", "IfNotPresent", "auth"); a cause that is none
 * (IPD_CAUSE_NONE) is left out, and nil decodes as none. Keys:
 *
 *   task    node, namespace, pod, state, reason, message, fail_reason, fail_message, cause,
 *           attempts, image_bytes, pull_ms, updated_at
 *   job     id, image, state, pull_policy, cancelled, created_at, started_at, finished_at, version,
 *           error_reason, error_message, error_cause, keep (keep jobs only),
 *           nodes {desired, pending, pulling, retrying, succeeded, failed, cancelled, unknown},
 *           spec {timeout_seconds, backoff_limit, deadline_seconds, parallelism,
 *                 ttl_seconds_after_finished, pull_secrets, refresh_seconds (keep jobs only)}
 *   change  job (a job map), tasks (an array of task maps), selection (keep jobs only: the node
 *           selection they follow and, for a job created with pod_selector, the pods it follows:
 *           JSON text as proto/label_selector.h's ipd_selection_write writes it, at most
 *           IPD_MSGPACK_SELECTION_MAX - 1 bytes; a text member, so the record's shape and format
 *           version are unchanged and older readers take the node members only)
 *
 * A job needs "id" and a task needs "node". Identifiers (id, image, node, namespace, pod) that do
 * not fit their field, or hold a NUL byte, are IPD_EINVAL; free text (reason, message,
 * fail_*, error_*, pull_secrets) is truncated at a UTF-8 boundary. A known key with a value of the
 * wrong type or out of range is IPD_EINVAL.
 *
 * Decoding reads the bytes in place into the caller's structs, without the msgpack library
 * (whose unpacker allocates 24 bytes per declared element before reading them, so a 6-byte input
 * can ask for gigabytes, and builds an object tree per record): it allocates nothing, checks
 * every length against the end and enforces the limits below as ipd_msgpack_check() does; when
 * it fails, the error is the one ipd_msgpack_check() gives for the bytes, if it gives one.
 */
#ifndef IPD_PROTO_MSGPACK_CODEC_H
#define IPD_PROTO_MSGPACK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"

/** Room for a change record's selection, its NUL included (proto/kube_job.h's IPD_SELECTION_SIZE). */
#define IPD_MSGPACK_SELECTION_MAX 2048
/** Largest job or task record a decoder accepts, in bytes. */
#define IPD_MSGPACK_RECORD_MAX (64 * 1024)
/** Deepest container nesting any decoder accepts (a change record needs 3). */
#define IPD_MSGPACK_DEPTH_MAX 8
/** Most elements of one array or pairs of one map in a job or task record. */
#define IPD_MSGPACK_ITEMS_MAX 256
/** Hard ceiling on the nesting a pre-validator allows, below the msgpack library's own stack of 32. */
#define IPD_MSGPACK_DEPTH_CEILING 24

/** Limits enforced by ipd_msgpack_check(). */
typedef struct ipd_msgpack_limits {
    size_t max_size;    /**< total input bytes */
    unsigned max_depth; /**< container nesting; a scalar alone is depth 0; capped at IPD_MSGPACK_DEPTH_CEILING */
    uint32_t max_items; /**< elements of any one array, pairs of any one map */
} ipd_msgpack_limits_t;

/**
 * Walks `len` bytes at `data` (borrowed) without allocating. Returns 0 if they are exactly one
 * well-formed msgpack object within `limits`; IPD_ETOOBIG if the input, a nesting level or a
 * container count exceeds a limit; IPD_EINVAL if the bytes are malformed: truncated, a declared
 * str/bin/ext length or element count larger than the bytes left, the reserved byte 0xc1, or
 * bytes after the object.
 */
int ipd_msgpack_check(const void *data, size_t len, const ipd_msgpack_limits_t *limits);

/** Appends a task map to `buf`. `task` is borrowed. Returns 0 or -ENOMEM (buffer restored). */
int ipd_msgpack_encode_task(ipd_buf_t *buf, const ipd_task_t *task);
/** Appends a job map (with spec and counts, without tasks). Returns 0 or -ENOMEM (buffer restored). */
int ipd_msgpack_encode_job(ipd_buf_t *buf, const ipd_job_t *job);

/**
 * Decodes one task record of `len` bytes (borrowed) into `task` (caller's memory). Returns 0,
 * IPD_ETOOBIG (over IPD_MSGPACK_RECORD_MAX, depth, item limits), IPD_EINVAL (malformed, not a
 * map, a bad field, no node) or -ENOMEM. On error `task` is untouched.
 */
int ipd_msgpack_decode_task(const void *data, size_t len, ipd_task_t *task);
/** Decodes one job record, as ipd_msgpack_decode_task() does (needs "id"). On error `job` is untouched. */
int ipd_msgpack_decode_job(const void *data, size_t len, ipd_job_t *job);

/**
 * Appends a change record {job, tasks}: `job` and its `ntasks` tasks (borrowed; `tasks` may be
 * NULL when 0). Returns 0 or -ENOMEM (buffer restored).
 */
int ipd_msgpack_encode_change(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks);

/**
 * Decodes a change record into `job` and up to `cap` tasks (caller's memory), setting *ntasks.
 * The record may be at most IPD_MSGPACK_RECORD_MAX * (cap + 1) bytes. Returns 0; IPD_ETOOBIG
 * if it holds more than `cap` tasks or exceeds a size or depth limit; IPD_EINVAL if malformed
 * (including a missing "job"; a missing "tasks" means none); -ENOMEM. On error *ntasks is 0 and
 * the contents of `job` and `tasks` are unspecified.
 */
int ipd_msgpack_decode_change(const void *data, size_t len, ipd_job_t *job, ipd_task_t *tasks, size_t cap,
                              size_t *ntasks);

/**
 * ipd_msgpack_encode_change() for a keep job: also writes `selection` (borrowed JSON text; NULL
 * or "" writes none, as for any other job).
 */
int ipd_msgpack_encode_keep_change(ipd_buf_t *buf, const ipd_job_t *job, const char *selection, const ipd_task_t *tasks,
                                   size_t ntasks);

/**
 * ipd_msgpack_decode_change() that also reads the selection into `selection` (caller's memory,
 * `selection_cap` bytes, "" when the record has none; NULL ignores it). A selection that is not
 * a string, holds a NUL byte or does not fit is IPD_EINVAL.
 */
int ipd_msgpack_decode_keep_change(const void *data, size_t len, ipd_job_t *job, char *selection, size_t selection_cap,
                                   ipd_task_t *tasks, size_t cap, size_t *ntasks);

/*
 * The two halves of ipd_msgpack_decode_keep_change(), apart so that tests can hold one to the
 * other; the daemon calls the whole.
 *
 * ipd_msgpack_decode_change_fast() reads only a record laid out as ipd_msgpack_encode_keep_change()
 * writes it: every key in the encoder's order, each value in the encoding the encoder gives it,
 * within the limits. For such a record it returns 0 with the result the generic decoder gives
 * (`job`, `*ntasks` tasks, `selection`); for any other bytes it returns 1 with *ntasks 0,
 * `selection` untouched and `job` and `tasks` unspecified, and the caller decodes them with
 * ipd_msgpack_decode_keep_change_generic(), which reads any well-formed record (any key order,
 * unknown keys, nil, every integer encoding) and gives the errors documented above.
 */
int ipd_msgpack_decode_change_fast(const void *data, size_t len, ipd_job_t *job, char *selection, size_t selection_cap,
                                   ipd_task_t *tasks, size_t cap, size_t *ntasks);
int ipd_msgpack_decode_keep_change_generic(const void *data, size_t len, ipd_job_t *job, char *selection,
                                           size_t selection_cap, ipd_task_t *tasks, size_t cap, size_t *ntasks);

#endif
