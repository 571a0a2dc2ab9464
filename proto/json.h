/*
 * JSON encoding of the API documents (shared/API.md): a Job with its tasks, and the list
 * document {"epoch", "generation", "jobs"} built from already-encoded jobs.
 *
 * The encoder is hand-written and appends compact JSON (no whitespace) to an ipd_buf_t; keys come
 * in the order API.md shows. Rules:
 *   - strings are UTF-8: `"` and `\` are escaped, control characters become \u00XX, and each
 *     maximal invalid UTF-8 sequence becomes U+FFFD (strings come from the cluster);
 *   - times are "YYYY-MM-DDTHH:MM:SS.mmmZ", and IPD_TIME_NULL (or a time outside years
 *     0000..9999) is null;
 *   - a task's `namespace`, `pod`, `reason` and `message` are null while empty; its `cause`
 *     (after `message`) is the cause's API name or null (IPD_CAUSE_NONE), and `last_failure`
 *     is {"reason", "message"} (each null while empty), or null while both are empty;
 *     `image_bytes` and `pull_ms` are null while unknown (negative);
 *   - `nodes` carries desired, pending, pulling, succeeded, failed, then the extension keys
 *     retrying, cancelled, unknown (pulling includes retrying);
 *   - `error` is null when the job has no error reason, else {"reason", "message", "cause"}
 *     with a null message when it is empty and a null cause for IPD_CAUSE_NONE.
 * Time formatting and parsing (ipd_time_format, ipd_time_parse) live in proto/rfc3339.h,
 * which this header includes.
 * Encoding functions return 0, or -ENOMEM with the buffer restored to its length before the call.
 */
#ifndef IPD_PROTO_JSON_H
#define IPD_PROTO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"
#include "proto/rfc3339.h"

/** Room for an epoch in hex and its NUL. */
#define IPD_EPOCH_HEX_SIZE 17

/** Appends `len` bytes of `s` (borrowed; may hold NUL bytes) as a quoted, escaped JSON string. */
int ipd_json_append_string(ipd_buf_t *buf, const char *s, size_t len);

/** Appends a time as a quoted RFC 3339 string, or null (see the rules above). */
int ipd_json_append_time(ipd_buf_t *buf, int64_t ms);

/** Appends one task object, as found in a Job's `tasks` array. `task` is borrowed. */
int ipd_json_encode_task(ipd_buf_t *buf, const ipd_task_t *task);

/**
 * Appends a Job object. `job` and the `ntasks` records of `tasks` are borrowed; `tasks` may be
 * NULL when `ntasks` is 0. Fixed-size strings are read up to their buffer size even if a
 * record lacks its NUL.
 */
int ipd_json_encode_job(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks);

/**
 * ipd_json_encode_job() for a caller that knows which task strings are empty: `blank[i]` has bits
 * of ipd_task_blank(&tasks[i]) (proto/job.h; `blank` NULL or a 0 when unknown). A set bit must be
 * true (a debug build asserts it); the strings it names are not read, and the bytes appended are
 * the same as without it.
 */
int ipd_json_encode_job_known(ipd_buf_t *buf, const ipd_job_t *job, const ipd_task_t *tasks, const uint8_t *blank,
                              size_t ntasks);

/** Appends a Job object without its "tasks" member (`job` borrowed): the members a change of
 *  the job record alone can touch. */
int ipd_json_encode_job_summary(ipd_buf_t *buf, const ipd_job_t *job);

/** Writes `epoch` as 16 lowercase hex digits to `out` (also what ETags should use). */
void ipd_json_epoch_hex(uint64_t epoch, char out[IPD_EPOCH_HEX_SIZE]);

/**
 * A list document being built: begin, then add each job's JSON, then end. Lives in the caller's
 * memory; holds a borrowed pointer to the buffer, which must outlive it.
 */
typedef struct ipd_json_list {
    ipd_buf_t *buf; /**< borrowed */
    size_t count;   /**< jobs added so far */
} ipd_json_list_t;

/** Starts `{"epoch":"<16 hex>","generation":N,"jobs":[` in `buf`. */
int ipd_json_list_begin(ipd_json_list_t *list, ipd_buf_t *buf, uint64_t epoch, uint64_t generation);
/**
 * Appends one job's JSON: `len` bytes at `job_json` (borrowed), copied as they are. The bytes
 * must be one complete JSON value as produced by ipd_json_encode_job (for instance the copy a
 * table slot keeps); they are not checked.
 */
int ipd_json_list_add(ipd_json_list_t *list, const char *job_json, size_t len);
/**
 * Closes the array and the document. If `continue_token` (borrowed) is not NULL, a
 * `"continue"` key with that string is added after `jobs` (the paginated list's extension).
 */
int ipd_json_list_end(ipd_json_list_t *list, const char *continue_token);

#endif
