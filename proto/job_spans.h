/*
 * The byte spans of a job and a task record (proto/job.h): each string member, and the runs of
 * other bytes between them. What uses a record by its bytes in use rather than by its fixed-size
 * buffers walks these: the table's checksums and stores (shared/table_hash.c), and the copies
 * and comparisons of proto/job.c. A string counts up to its NUL; what lies after it is no part
 * of the record's value.
 *
 * The chains of asserts name every member in order, so that any change of proto/job.h stops the
 * build here until a new string member gets its span (and the table its layout version bump).
 */
#ifndef IPD_PROTO_JOB_SPANS_H
#define IPD_PROTO_JOB_SPANS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/job.h"

/** One span of a record: a string member (`str`), or bytes taken as they are. */
typedef struct ipd_span {
    uint16_t off;
    uint16_t len;
    uint8_t str;
} ipd_span_t;

#define IPD_MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
/* The initialisers of spans: a string member; the bytes from member `from` up to member `to`; the
 * bytes from member `from` to the end of the record, padding included. */
#define IPD_SPAN_STR(T, m)        offsetof(T, m), IPD_MEMBER_SIZE(T, m), 1
#define IPD_SPAN_RAW(T, from, to) offsetof(T, from), offsetof(T, to) - offsetof(T, from), 0
#define IPD_SPAN_REST(T, from)    offsetof(T, from), sizeof(T) - offsetof(T, from), 0
/* A string member is hashed by whole words (shared/table_hash.c): its size must be a multiple of 8. */
#define IPD_SPAN_STR_SIZE_OK(T, m)                                                                                     \
    _Static_assert(IPD_MEMBER_SIZE(T, m) % 8 == 0, #T "." #m ": string sizes are multiples of 8")
/* Member `b` starts where member `a` ends. */
#define IPD_SPAN_FOLLOWS(T, a, b)                                                                                      \
    _Static_assert(offsetof(T, b) == offsetof(T, a) + IPD_MEMBER_SIZE(T, a),                                           \
                   #T " changed after ." #a ": update the spans in proto/job_spans.h and bump TABLE_LAYOUT_VERSION")

static const ipd_span_t ipd_job_spans[] = {
    {IPD_SPAN_STR(ipd_job_t, id)},
    {IPD_SPAN_STR(ipd_job_t, image)},
    {IPD_SPAN_RAW(ipd_job_t, created_at, spec.pull_secrets)},
    {IPD_SPAN_STR(ipd_job_t, spec.pull_secrets)},
    {IPD_SPAN_RAW(ipd_job_t, spec.refresh_seconds, error_reason)},
    {IPD_SPAN_STR(ipd_job_t, error_reason)},
    {IPD_SPAN_STR(ipd_job_t, error_message)},
    {IPD_SPAN_REST(ipd_job_t, state)},
};
IPD_SPAN_STR_SIZE_OK(ipd_job_t, id);
IPD_SPAN_STR_SIZE_OK(ipd_job_t, image);
IPD_SPAN_STR_SIZE_OK(ipd_job_t, spec.pull_secrets);
IPD_SPAN_STR_SIZE_OK(ipd_job_t, error_reason);
IPD_SPAN_STR_SIZE_OK(ipd_job_t, error_message);
_Static_assert(offsetof(ipd_job_t, id) == 0, "ipd_job_t starts with id");
IPD_SPAN_FOLLOWS(ipd_job_t, id, image);
IPD_SPAN_FOLLOWS(ipd_job_t, image, created_at);
IPD_SPAN_FOLLOWS(ipd_job_t, created_at, started_at);
IPD_SPAN_FOLLOWS(ipd_job_t, started_at, finished_at);
IPD_SPAN_FOLLOWS(ipd_job_t, finished_at, version);
IPD_SPAN_FOLLOWS(ipd_job_t, version, spec);
_Static_assert(offsetof(ipd_job_spec_t, timeout_seconds) == 0, "ipd_job_spec_t starts with timeout_seconds");
IPD_SPAN_FOLLOWS(ipd_job_spec_t, timeout_seconds, backoff_limit);
IPD_SPAN_FOLLOWS(ipd_job_spec_t, backoff_limit, deadline_seconds);
IPD_SPAN_FOLLOWS(ipd_job_spec_t, deadline_seconds, parallelism);
IPD_SPAN_FOLLOWS(ipd_job_spec_t, parallelism, ttl_seconds_after_finished);
IPD_SPAN_FOLLOWS(ipd_job_spec_t, ttl_seconds_after_finished, pull_secrets);
IPD_SPAN_FOLLOWS(ipd_job_spec_t, pull_secrets, refresh_seconds);
_Static_assert(sizeof(ipd_job_spec_t) == offsetof(ipd_job_spec_t, refresh_seconds) + sizeof(int32_t),
               "ipd_job_spec_t changed: update the spans in proto/job_spans.h");
_Static_assert(sizeof(ipd_node_counts_t) == 8 * sizeof(uint32_t), "ipd_node_counts_t holds 8 counts, no string");
IPD_SPAN_FOLLOWS(ipd_job_t, spec, nodes);
IPD_SPAN_FOLLOWS(ipd_job_t, nodes, error_reason);
IPD_SPAN_FOLLOWS(ipd_job_t, error_reason, error_message);
IPD_SPAN_FOLLOWS(ipd_job_t, error_message, state);
IPD_SPAN_FOLLOWS(ipd_job_t, state, pull_policy);
IPD_SPAN_FOLLOWS(ipd_job_t, pull_policy, cancelled);
IPD_SPAN_FOLLOWS(ipd_job_t, cancelled, error_cause);
IPD_SPAN_FOLLOWS(ipd_job_t, error_cause, keep);
IPD_SPAN_FOLLOWS(ipd_job_t, keep, _reserved);
_Static_assert(sizeof(ipd_job_t) == 1744, "ipd_job_t changed: update the spans in proto/job_spans.h");

static const ipd_span_t ipd_task_spans[] = {
    {IPD_SPAN_STR(ipd_task_t, node)},         {IPD_SPAN_STR(ipd_task_t, ns)},
    {IPD_SPAN_STR(ipd_task_t, pod)},          {IPD_SPAN_STR(ipd_task_t, reason)},
    {IPD_SPAN_STR(ipd_task_t, message)},      {IPD_SPAN_STR(ipd_task_t, fail_reason)},
    {IPD_SPAN_STR(ipd_task_t, fail_message)}, {IPD_SPAN_REST(ipd_task_t, image_bytes)},
};
IPD_SPAN_STR_SIZE_OK(ipd_task_t, node);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, ns);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, pod);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, reason);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, message);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, fail_reason);
IPD_SPAN_STR_SIZE_OK(ipd_task_t, fail_message);
_Static_assert(offsetof(ipd_task_t, node) == 0, "ipd_task_t starts with node");
IPD_SPAN_FOLLOWS(ipd_task_t, node, ns);
IPD_SPAN_FOLLOWS(ipd_task_t, ns, pod);
IPD_SPAN_FOLLOWS(ipd_task_t, pod, reason);
IPD_SPAN_FOLLOWS(ipd_task_t, reason, message);
IPD_SPAN_FOLLOWS(ipd_task_t, message, fail_reason);
IPD_SPAN_FOLLOWS(ipd_task_t, fail_reason, fail_message);
IPD_SPAN_FOLLOWS(ipd_task_t, fail_message, image_bytes);
IPD_SPAN_FOLLOWS(ipd_task_t, image_bytes, pull_ms);
IPD_SPAN_FOLLOWS(ipd_task_t, pull_ms, updated_at);
IPD_SPAN_FOLLOWS(ipd_task_t, updated_at, attempts);
IPD_SPAN_FOLLOWS(ipd_task_t, attempts, state);
IPD_SPAN_FOLLOWS(ipd_task_t, state, cause);
IPD_SPAN_FOLLOWS(ipd_task_t, cause, _reserved);
_Static_assert(sizeof(ipd_task_t) == 1760, "ipd_task_t changed: update the spans in proto/job_spans.h");

#define IPD_JOB_NSPANS  (sizeof(ipd_job_spans) / sizeof(ipd_job_spans[0]))
#define IPD_TASK_NSPANS (sizeof(ipd_task_spans) / sizeof(ipd_task_spans[0]))

#endif
