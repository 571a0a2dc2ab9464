/*
 * The pull-job model: a job pulls one image onto a set of nodes, one task per node.
 *
 * These are plain fixed-size records with no pointers, so the master can store them in the
 * shared-memory table as they are and a restarted master can read them back. Strings are
 * NUL-terminated and truncated to their buffer (UTF-8 safe truncation is the encoder's job).
 * Times are Unix milliseconds, with IPD_TIME_NULL for "not yet".
 */
#ifndef IPD_PROTO_JOB_H
#define IPD_PROTO_JOB_H

#include <stddef.h>
#include <stdint.h>

#define IPD_JOB_ID_SIZE    40  /**< "pj-" + 8 hex digits today; room for longer ids */
#define IPD_IMAGE_SIZE     512 /**< a full reference with registry, path, tag and digest */
#define IPD_NODE_SIZE      256 /**< a DNS subdomain (253) + NUL */
#define IPD_NAMESPACE_SIZE 64  /**< a DNS label (63) + NUL */
#define IPD_POD_SIZE       256 /**< a DNS subdomain (253) + NUL */
#define IPD_REASON_SIZE    64  /**< kubelet reasons are CamelCase words */
#define IPD_MESSAGE_SIZE   512 /**< kubelet messages are truncated to this */
#define IPD_SECRETS_SIZE   512 /**< imagePullSecrets names, comma-separated */
#define IPD_TIME_NULL      INT64_C(0)
#define IPD_UNKNOWN_I64    INT64_C(-1)

typedef enum ipd_task_state {
    IPD_TASK_PENDING = 0, /**< no pod yet, or the pod is not scheduled/started */
    IPD_TASK_PULLING,     /**< the kubelet is pulling the image */
    IPD_TASK_RETRYING,    /**< a pull attempt failed; the Job will try again */
    IPD_TASK_SUCCEEDED,   /**< the image is on the node */
    IPD_TASK_FAILED,      /**< the Job's backoff limit or deadline is exhausted */
    IPD_TASK_CANCELLED,   /**< the job was cancelled before this task finished */
    IPD_TASK_UNKNOWN,     /**< the task's node stopped reporting (stale remote node) */
    IPD_TASK_STATE_COUNT
} ipd_task_state_t;

typedef enum ipd_job_state {
    IPD_JOB_PENDING = 0, /**< no task has started */
    IPD_JOB_PULLING,     /**< at least one task started, not all finished */
    IPD_JOB_SUCCEEDED,   /**< every task succeeded */
    IPD_JOB_FAILED,      /**< every task finished and at least one failed */
    IPD_JOB_CANCELLED,   /**< cancelled by a client */
    IPD_JOB_KEEPING,     /**< a keep job: open until cancelled, its node set follows the cluster */
    IPD_JOB_STATE_COUNT
} ipd_job_state_t;

/**
 * Why a task failed, as a class a client can act on (docs/api.md has the mapping from kubelet
 * and registry messages; proto/cause.h classifies). IPD_CAUSE_NONE is "null": nothing failed.
 */
typedef enum ipd_cause {
    IPD_CAUSE_NONE = 0,
    IPD_CAUSE_AUTH,              /**< the registry refused the credentials, or none were given */
    IPD_CAUSE_NOT_FOUND,         /**< no such repository, tag or digest */
    IPD_CAUSE_NETWORK,           /**< the registry could not be reached (DNS, connect, reset) */
    IPD_CAUSE_TLS,               /**< certificate or TLS protocol failure */
    IPD_CAUSE_RATE_LIMITED,      /**< the registry answered 429 / toomanyrequests */
    IPD_CAUSE_TIMEOUT,           /**< a pull attempt or a registry request took too long */
    IPD_CAUSE_INVALID_REFERENCE, /**< the image reference cannot be parsed */
    IPD_CAUSE_NODE_UNAVAILABLE,  /**< the node went away, is not ready, or evicted the pod */
    IPD_CAUSE_DEADLINE,          /**< the job's deadline_seconds ran out */
    IPD_CAUSE_CANCELLED,         /**< cancelled by a client, or its Kubernetes Job was deleted */
    IPD_CAUSE_UNKNOWN,           /**< a failure none of the above describes */
    IPD_CAUSE_COUNT
} ipd_cause_t;

typedef enum ipd_pull_policy { IPD_PULL_IF_NOT_PRESENT = 0, IPD_PULL_ALWAYS, IPD_PULL_POLICY_COUNT } ipd_pull_policy_t;

/** One node's part of a job. */
typedef struct ipd_task {
    char node[IPD_NODE_SIZE];
    char ns[IPD_NAMESPACE_SIZE]; /**< namespace of the pod; empty until known */
    char pod[IPD_POD_SIZE];      /**< empty until the pod exists */
    char reason[IPD_REASON_SIZE];
    char message[IPD_MESSAGE_SIZE];
    /** The last failure as the kubelet (or the pod) reported it, verbatim; empty while none.
     *  A later bare "Back-off pulling image" does not replace it (proto/cause.h). */
    char fail_reason[IPD_REASON_SIZE];
    char fail_message[IPD_MESSAGE_SIZE];
    int64_t image_bytes; /**< IPD_UNKNOWN_I64 until a Pulled event says */
    int64_t pull_ms;     /**< IPD_UNKNOWN_I64 until a Pulled event says */
    int64_t updated_at;  /**< Unix ms of the last change */
    uint32_t attempts;   /**< pull attempts seen (failed attempts + the current one) */
    uint8_t state;       /**< ipd_task_state_t */
    uint8_t cause;       /**< ipd_cause_t; IPD_CAUSE_NONE while nothing failed */
    uint8_t _reserved[2];
} ipd_task_t;

/** What a client asked for; kept so that a restarted master can go on launching tasks. */
typedef struct ipd_job_spec {
    int32_t timeout_seconds;            /**< per attempt; 0 = none */
    int32_t backoff_limit;              /**< Kubernetes Job backoffLimit */
    int32_t deadline_seconds;           /**< activeDeadlineSeconds; 0 = none */
    int32_t parallelism;                /**< at most this many tasks pulling at once; 0 = all */
    int32_t ttl_seconds_after_finished; /**< -1 = unset */
    char pull_secrets[IPD_SECRETS_SIZE];
    int32_t refresh_seconds; /**< keep jobs: re-pull on each node this long after its last pull; 0 = never */
} ipd_job_spec_t;

/** Task counts by state. `pulling` includes `retrying`; the sum of the states is `desired`. */
typedef struct ipd_node_counts {
    uint32_t desired, pending, pulling, retrying, succeeded, failed, cancelled, unknown;
} ipd_node_counts_t;

/** A job without its tasks (the table keeps tasks in their own slots). */
typedef struct ipd_job {
    char id[IPD_JOB_ID_SIZE];
    char image[IPD_IMAGE_SIZE];
    int64_t created_at;
    int64_t started_at;  /**< IPD_TIME_NULL until a task leaves pending */
    int64_t finished_at; /**< IPD_TIME_NULL until the job reaches a final state */
    uint64_t version;    /**< increases with every change of the job or one of its tasks */
    ipd_job_spec_t spec;
    ipd_node_counts_t nodes;
    char error_reason[IPD_REASON_SIZE]; /**< empty = "error": null */
    char error_message[IPD_MESSAGE_SIZE];
    uint8_t state;       /**< ipd_job_state_t */
    uint8_t pull_policy; /**< ipd_pull_policy_t */
    uint8_t cancelled;   /**< a client asked to cancel; the state becomes cancelled */
    uint8_t error_cause; /**< ipd_cause_t of `error`; IPD_CAUSE_NONE when error is null */
    uint8_t keep;        /**< a keep job: its state is keeping until cancelled */
    uint8_t _reserved[7];
} ipd_job_t;

/** Returns the API name of a state or policy ("pending", "IfNotPresent", ...); never NULL. */
const char *ipd_task_state_name(ipd_task_state_t s);
const char *ipd_job_state_name(ipd_job_state_t s);
const char *ipd_pull_policy_name(ipd_pull_policy_t p);

/** Returns the API name of a cause ("auth", ...), or NULL for IPD_CAUSE_NONE and values out of range. */
const char *ipd_cause_name(ipd_cause_t c);

/** Parses an API name. Returns the enum value, or -1 if `name` (of `len` bytes) is not one. */
int ipd_task_state_parse(const char *name, size_t len);
/** Parses a cause name ("auth" ... "unknown"; never "null"). Returns the ipd_cause_t or -1. */
int ipd_cause_parse(const char *name, size_t len);
int ipd_job_state_parse(const char *name, size_t len);
int ipd_pull_policy_parse(const char *name, size_t len);

/** True for succeeded, failed, cancelled. */
/** Whether a final task's words came from its Job alone: no pod named, no attempt counted. Such
 *  words give way to those its pod gave for the same end (shared/table_final.c). */
int ipd_task_words_from_job(const ipd_task_t *t);
int ipd_task_state_is_final(ipd_task_state_t s);
/** True for succeeded, failed, cancelled. Active = not final. */
int ipd_job_state_is_final(ipd_job_state_t s);

/** Sets a task to its initial state for `node` (pending, unknown sizes) at time `now`. */
void ipd_task_init(ipd_task_t *task, const char *node, int64_t now);
/** ipd_task_init() by value (ipd_task_same() holds between the two): the bytes after each
 *  string's NUL are left as they are, so that a new record touches the lines its value lives
 *  in only (8 of a task's 28). */
void ipd_task_init_value(ipd_task_t *task, const char *node, int64_t now);

/**
 * Recomputes a job's counts, state, started_at, finished_at and error from its tasks, at time
 * `now`. Does not touch `version`: the caller bumps it when the job record actually changed.
 * Rules (DESIGN.md): cancelled if `job->cancelled`; pending while no task has left pending;
 * succeeded when all succeeded; failed when all are final and at least one failed; else
 * pulling. `error` is the first failing (retrying or failed) task's reason, message and cause;
 * when that task's last failure (fail_reason, fail_message) is not already part of its message
 * (a bare "Back-off pulling image" replaced the registry's words), the message becomes
 * "<message>: <fail_reason>: <fail_message>", so a failed job names what the registry said.
 *
 * Details: a task has "started" when it is pulling, retrying, succeeded or failed (pending,
 * cancelled and unknown tasks have not). A job with no tasks is pending. A job whose tasks are
 * all final, none failed and some cancelled is cancelled. Unknown tasks are not final, so they
 * keep a job active. `started_at` is set to `now` the first time a started task is seen and is
 * kept afterwards; `finished_at` is set to `now` when the job becomes final (kept if already
 * set) and cleared if it becomes active again. A failing task without a kubelet reason gives
 * the error reason "retrying" or "failed" (its state name), so `error` is never null while a
 * task is failing. Equal jobs are ipd_job_same(), not always equal byte for byte: a string's
 * buffer past its NUL keeps what it held.
 */
void ipd_job_aggregate(ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, int64_t now);

/**
 * ipd_job_aggregate() over tasks that are not contiguous: task i is at `(const char *)tasks + i *
 * stride` (borrowed), as in an array of records that each hold one. `extra_pending` and
 * `extra_cancelled` tasks beyond those count as pending or cancelled tasks without a node (the
 * nodes a job targets that have not reported yet), as if they followed the others.
 */
void ipd_job_aggregate_stride(ipd_job_t *job, const ipd_task_t *tasks, size_t stride, size_t ntasks,
                              uint32_t extra_pending, uint32_t extra_cancelled, int64_t now);

/**
 * Adds `delta` (+1 or -1) tasks in `state` to `c`'s per-state figures (a retrying task counts as
 * pulling too, as the type says; a state outside the enum counts as unknown). `desired` is left
 * alone.
 */
void ipd_node_counts_add(ipd_node_counts_t *c, uint8_t state, int delta);

/**
 * ipd_job_aggregate() from counts made elsewhere (borrowed; `desired` included) and the job's
 * first failing task (retrying or failed, in task order; borrowed, NULL for none), for a caller
 * that keeps the counts as its tasks change instead of walking them.
 */
void ipd_job_aggregate_counts(ipd_job_t *job, const ipd_node_counts_t *c, const ipd_task_t *failing, int64_t now);

/*
 * Records by value. A string member's value ends at its NUL: what follows is not part of it, may
 * be anything, and is neither compared nor copied. These touch the bytes in use only, not the
 * whole fixed-size buffers (a task record is 1 760 bytes, its strings mostly short): the model
 * compares and copies every remote record (master/model.c), and over thousands of jobs each copy
 * is a cache miss per line it touches (docs/benchmarks.md). The members are listed once, in
 * proto/job_spans.h.
 */
/** True when `a` and `b` hold the same value: the same strings and the same other bytes. */
int ipd_task_same(const ipd_task_t *a, const ipd_task_t *b);
/** ipd_task_same() but for `updated_at`. */
int ipd_task_same_but_time(const ipd_task_t *a, const ipd_task_t *b);
int ipd_job_same(const ipd_job_t *a, const ipd_job_t *b);
int ipd_job_spec_same(const ipd_job_spec_t *a, const ipd_job_spec_t *b);
/** Gives `dst` the value of `src` (ipd_task_same() holds after): each string with its NUL (a
 *  full buffer without one as it is) and every other byte; `dst`'s bytes after its new NULs are
 *  left as they were. `dst` and `src` are the same record or do not overlap. */
void ipd_task_copy(ipd_task_t *dst, const ipd_task_t *src);
void ipd_job_copy(ipd_job_t *dst, const ipd_job_t *src);

/*
 * The same for a record whose empty strings are known without reading them: a holder keeps
 * ipd_task_blank() of its record beside it (in a line it reads anyway), and a string known empty
 * on both sides is neither read nor written, so that a record whose strings are mostly empty
 * touches the lines of the others only. A set bit must be true (the string is empty); a clear
 * bit says nothing, so 0 is always right.
 */
/** Bit i set when the i-th string of `t` (proto/job_spans.h order) is empty. */
unsigned ipd_task_blank(const ipd_task_t *t);
/** ipd_task_same_but_time(a, b), `a_blank` and `b_blank` bits of ipd_task_blank() of each; the
 *  bytes other than strings are compared first. */
int ipd_task_same_but_time_known(const ipd_task_t *a, unsigned a_blank, const ipd_task_t *b, unsigned b_blank);
/** ipd_task_copy(dst, src), `dst_blank` and `src_blank` bits of ipd_task_blank() of each: a string
 *  empty in both is left alone. */
void ipd_task_copy_known(ipd_task_t *dst, unsigned dst_blank, const ipd_task_t *src, unsigned src_blank);
/** The same for job records: bit i set when the i-th string of `job` is empty. */
unsigned ipd_job_blank(const ipd_job_t *job);
/** ipd_job_same(a, b), `a_blank` and `b_blank` bits of ipd_job_blank() of each. */
int ipd_job_same_known(const ipd_job_t *a, unsigned a_blank, const ipd_job_t *b, unsigned b_blank);
/** ipd_job_copy(dst, src), `dst_blank` and `src_blank` bits of ipd_job_blank() of each. */
void ipd_job_copy_known(ipd_job_t *dst, unsigned dst_blank, const ipd_job_t *src, unsigned src_blank);

/** Copies `src` into `dst` (size `cap` >= 1), truncating at a UTF-8 boundary. Returns bytes copied. */
size_t ipd_strlcpy_utf8(char *dst, const char *src, size_t cap);

#endif
