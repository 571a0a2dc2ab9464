/*
 * Pure helpers of the REST layer: query strings, list parameters, the `continue` cursor, entity
 * tags, content negotiation and the JSON error body. None of them touches h2o or the table, so
 * they are tested in isolation (tests/unit/test_http_parse.c).
 *
 * Inputs are (pointer, length) pairs that need not be NUL-terminated and are borrowed for the
 * call. Messages written to `msg` buffers are one line, name the offending parameter first and
 * are ready for the error body's "message".
 */
#ifndef IPD_PROTO_HTTP_PARSE_H
#define IPD_PROTO_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/job.h"

/** Bounds of the `limit` parameter of the list endpoints (API.md). */
#define IPD_HTTP_LIMIT_MIN 1
#define IPD_HTTP_LIMIT_MAX 1000
/** Default `limit` of GET /api/v1/images/pull-failed. */
#define IPD_HTTP_FAILED_LIMIT_DEFAULT 50
/** Default `limit` of GET /api/v1/images/pull-jobs. */
#define IPD_HTTP_JOBS_LIMIT_DEFAULT 100
/** Longest encoded continue token accepted or produced. */
#define IPD_HTTP_CURSOR_MAX 160
/** Room for an ETag with its quotes and NUL: "\"<16 hex>-<20 digits>\"". */
#define IPD_HTTP_ETAG_SIZE 48

/** One `name=value` pair of a query string, still percent-encoded. Points into the query. */
typedef struct ipd_http_param {
    const char *name;
    size_t name_len;
    const char *value; /**< empty (len 0) when the pair has no '=' */
    size_t value_len;
} ipd_http_param_t;

/**
 * Iterates over a query string (the part after '?'). `*pos` starts at 0 and is advanced.
 * Empty pairs ("a=1&&b=2") are skipped. Returns 1 with `out` filled, or 0 at the end.
 */
int ipd_http_query_next(const char *query, size_t len, size_t *pos, ipd_http_param_t *out);

/**
 * Percent-decodes `len` bytes of `s` into `out` (`cap` bytes, NUL-terminated on success); '+'
 * becomes a space. Returns the decoded length, or -1 for a bad escape, a NUL byte (encoded or
 * raw: it would cut the value short), or a result that does not fit in cap - 1 bytes.
 */
int ipd_http_percent_decode(const char *s, size_t len, char *out, size_t cap);

/**
 * Parses a `limit` value: decimal digits only, IPD_HTTP_LIMIT_MIN..IPD_HTTP_LIMIT_MAX.
 * Returns 0 and sets *out, or -1.
 */
int ipd_http_parse_limit(const char *s, size_t len, unsigned *out);

/**
 * Replaces each control byte (below 0x20, and 0x7f) of the NUL-terminated `msg` with '?': a
 * message that quotes a client's text stays one line, in the error body and in the log.
 */
void ipd_http_message_one_line(char *msg);

/** Query of GET /api/v1/images/pull-failed. */
typedef struct ipd_http_failed_query {
    unsigned limit; /**< 1..1000, default 50 */
} ipd_http_failed_query_t;

/**
 * Parses the query of GET /api/v1/images/pull-failed (`query` may be NULL when `len` is 0).
 * Returns 0, or -1 with a message naming the parameter (a bad or repeated `limit`, or an
 * unknown parameter).
 */
int ipd_http_parse_failed_query(const char *query, size_t len, ipd_http_failed_query_t *out, char *msg, size_t msgcap);

/** Query of GET /api/v1/images/pull-jobs. Lives in the caller's memory; holds no pointers. */
typedef struct ipd_http_jobs_query {
    /** Bit (1u << state) per accepted ipd_job_state_t; 0 accepts every state. */
    unsigned states;
    /** Exact image reference to match; empty for any. */
    char image[IPD_IMAGE_SIZE];
    /** Node that must have a task of the job; empty for any. */
    char node[IPD_NODE_SIZE];
    /** Bit (1u << cause) per accepted ipd_cause_t: a task of the job must have one; 0 for any. */
    unsigned causes;
    /** Page size, 1..1000, default 100. */
    unsigned limit;
    /** The raw (still encoded) continue token; empty for the first page. */
    char cont[IPD_HTTP_CURSOR_MAX + 1];
} ipd_http_jobs_query_t;

/**
 * Parses the query of GET /api/v1/images/pull-jobs. `state` and `cause` may be repeated and
 * may list names separated by commas; the others may be given once. Returns 0, or -1 with a message
 * naming the parameter.
 */
int ipd_http_parse_jobs_query(const char *query, size_t len, ipd_http_jobs_query_t *out, char *msg, size_t msgcap);

/** A position in the pull-jobs order (created_at, then id): the last job of a page. */
typedef struct ipd_http_cursor {
    uint64_t epoch;           /**< the table epoch the listing started in */
    int64_t created_at;       /**< Unix ms */
    char id[IPD_JOB_ID_SIZE]; /**< NUL-terminated */
} ipd_http_cursor_t;

/**
 * Encodes `c` as an opaque token: base64url (no padding) of
 * "1:<epoch 16 hex>:<created_at>:<id>:<check 16 hex>", where the check is a 64-bit hash of
 * everything before it. It detects corrupted or edited tokens; it is not a secret (a forged
 * position only changes where a listing resumes). Writes a NUL-terminated token into `out`
 * (`cap` bytes; IPD_HTTP_CURSOR_MAX + 1 is enough). Returns its length, or -1 if it does not fit.
 */
int ipd_http_cursor_encode(const ipd_http_cursor_t *c, char *out, size_t cap);

/**
 * Decodes a token made by ipd_http_cursor_encode() into `out`. Returns 0; -1 if the token is
 * malformed or its check fails; -2 if it is well formed but was made for an epoch other than
 * `epoch` (the table was rebuilt: the client must start over).
 */
int ipd_http_cursor_decode(const char *token, size_t len, uint64_t epoch, ipd_http_cursor_t *out);

/** Orders two positions: negative, 0, positive as (a_created, a_id) is before, equal, after (b_created, b_id). */
int ipd_http_cursor_cmp(int64_t a_created, const char *a_id, int64_t b_created, const char *b_id);

/**
 * Formats the ETag of a list document, "\"<epoch 16 hex>-<generation>\"" (quotes included)
 * into `out`. Returns its length.
 */
int ipd_http_etag_format(uint64_t epoch, uint64_t generation, char out[IPD_HTTP_ETAG_SIZE]);

/**
 * True when an If-None-Match header value (`hdr`, `len` bytes) matches the entity tag `etag`
 * (`etag_len` bytes, with its quotes): "*" matches anything; otherwise the comma-separated list
 * is compared with the weak comparison of RFC 9110 (a "W/" prefix on either side is ignored).
 * A malformed list element stops the scan; elements before it still count.
 */
int ipd_http_etag_match(const char *hdr, size_t len, const char *etag, size_t etag_len);

/** True when an Accept-Encoding value allows gzip (gzip, x-gzip or "*" with a non-zero q). */
int ipd_http_accepts_gzip(const char *hdr, size_t len);

/**
 * True when an Accept value prefers msgpack: application/msgpack (or application/x-msgpack)
 * is listed with a q above that of application/json, application/ * and * / *.
 * Ties go to JSON, the default representation.
 */
int ipd_http_wants_msgpack(const char *hdr, size_t len);

/**
 * True when a Content-Type value is application/json, optionally with a charset parameter
 * equal to utf-8 (any case, quoted or not). Any other parameter makes it false.
 */
int ipd_http_is_json_type(const char *hdr, size_t len);

/* One table of HTTP statuses (proto/http_status.c) answers the next five. */

/** The error code of the API error body for an HTTP status ("invalid_argument" for 400, ...). */
const char *ipd_http_error_code(int status);

/** The reason phrase of an HTTP status ("Not Found"); "Error" (or "Internal Server Error" for
 *  5xx) for one the daemon does not use. Static. */
const char *ipd_http_reason(int status);

/** How many kinds of status the metrics count per route: each counted status, then "other". */
size_t ipd_http_status_kinds(void);

/** The kind of `status` (< ipd_http_status_kinds(); the last one for any uncounted status). */
size_t ipd_http_status_kind(int status);

/** The status of kind `kind`; 0 for the last kind, "other". */
int ipd_http_status_kind_code(size_t kind);

/**
 * Appends {"error":{"code":"<code>","message":"<message>"}} to `buf`. `code` and `message` are
 * borrowed, NUL-terminated; the message is escaped. Returns 0 or -ENOMEM (buffer restored).
 */
int ipd_http_error_body(ipd_buf_t *buf, const char *code, const char *message);

#endif
