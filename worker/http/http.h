/*
 * The worker's http room: connections and answers. Nothing outside worker/ includes this.
 *
 *   accept.c      listeners, TLS, accepting, connection tracking and the connection cap
 *   linger.c      lingering close of refused HTTP/1 connections
 *   h2_guard.c    HTTP/2 header blocks never finished and streams reset before their request
 *   h2o_errors.c  JSON bodies for the errors h2o answers before routing
 *   respond.c     answering: negotiation (msgpack, gzip), ETag/304, error bodies
 *   tokens_file.c the tokens file (tokens_file.h)
 *
 * Single-threaded: everything runs on the worker's loop.
 */
#ifndef IPD_WORKER_HTTP_H
#define IPD_WORKER_HTTP_H

#include "worker/core/core.h"

/** One accepted client connection (its socket's on_close.data). Heap memory, freed on close. */
typedef struct ipd_worker_conn {
    ipd_worker_t *w;
    h2o_socket_t *sock;
    int needs_auth; /**< accepted on a listener whose configured address is not loopback */
    int closing;    /**< over its rate: answered 429 and being closed */
    int linger_fd;  /**< a dup of the socket, drained once h2o has closed it (linger.c); -1 if none */
    ipd_http_rate_t rate;
    uint64_t h2_requests;     /**< HTTP/2 requests that reached the handler */
    uint64_t h2_resets;       /**< HTTP/2 streams counted as ended before reaching it (h2_guard.c) */
    uint64_t h2_block_since;  /**< loop ms since an unfinished header block was first seen; 0: none */
    uint32_t h2_block_stream; /**< the stream that block belongs to */
} ipd_worker_conn_t;

/* ---- accept.c ---- */
/** Sets up TLS (if configured) and the listeners from args->listen_fds. Returns 0 or -1 (logged). */
int ipd_worker_listen(ipd_worker_t *w);

/**
 * The TLS context for cfg's tls_cert and tls_key: `*out` is owned (SSL_CTX_free), NULL when TLS
 * is not configured. Returns 0, or IPD_EINVAL with `err` naming the directive, file and reason.
 */
int ipd_worker_tls_load(const ipd_config_t *cfg, SSL_CTX **out, char *err, size_t errlen);
/** Starts or stops reading the listeners according to the drain state and the connection cap. */
void ipd_worker_update_accepting(ipd_worker_t *w);
/** Closes the listeners and frees the TLS context. */
void ipd_worker_unlisten(ipd_worker_t *w);
/** The connection state of a request, or NULL if the request has no socket of ours. */
ipd_worker_conn_t *ipd_worker_conn_of(h2o_req_t *req);
/** The connection state of a socket (also after h2o's HTTP/1 upgrade handed it over), or NULL. */
ipd_worker_conn_t *ipd_worker_conn_of_socket(h2o_socket_t *sock);
/** Closes the connection of `conn` after what is queued has been written (used after a 429). */
void ipd_worker_conn_close_soon(ipd_worker_conn_t *conn, h2o_req_t *req);

/* ---- linger.c ---- */
/**
 * Lingering close for HTTP/1 connections that h2o closes with client input possibly unread (a
 * refused body, a malformed request, a 429, a WebSocket close after a protocol error): closing
 * such a socket makes the kernel send a reset that can destroy the answer before the client
 * reads it. Arming keeps a dup of the
 * socket; when h2o closes its own fd, the dup's sending side is shut down (the client sees
 * the answer and end of stream) and input is read and discarded until the client closes or
 * linger_timeout passes. No-op over TLS, when off, or at max_lingering_per_worker.
 */
void ipd_worker_linger_arm(ipd_worker_conn_t *conn);
/** Starts draining an armed connection; called when h2o has closed its socket. Takes conn->linger_fd. */
void ipd_worker_linger_start(ipd_worker_t *w, int fd);
/** Initialises the worker's lingering state (after the loop exists). */
void ipd_worker_linger_init(ipd_worker_t *w);
/** Closes every connection still being drained. */
void ipd_worker_linger_dispose(ipd_worker_t *w);

/* ---- h2_guard.c ---- */
/** Starts the once-a-second check of HTTP/2 connections if the worker has connections and it is not running. */
void ipd_worker_h2_guard_arm(ipd_worker_t *w);
/** Stops the check. */
void ipd_worker_h2_guard_dispose(ipd_worker_t *w);

/* ---- h2o_errors.c ---- */
/** Makes the errors h2o answers itself before routing (413, malformed requests) JSON error bodies. */
void ipd_worker_errors_register(h2o_hostconf_t *host);

/* ---- respond.c ---- */
/** Answers with a JSON error body (code from the status) and `message`. */
void ipd_worker_send_error(h2o_req_t *req, int status, const char *message);
/**
 * Ends a malformed HTTP/2 request with a stream error of type PROTOCOL_ERROR: h2o sends the
 * response's HEADERS (400), then RST_STREAM. For requests the library itself should have
 * refused as malformed (RFC 9113 section 8.1.1).
 */
void ipd_worker_reset_stream(h2o_req_t *req);
/**
 * Answers 503 with the JSON error body's `code` (a literal: "not_ready", "table_full") and
 * `message`, and, when `retry_after_s` > 0, a Retry-After header of that many seconds.
 */
void ipd_worker_send_unavailable(h2o_req_t *req, const char *code, const char *message, int retry_after_s);
/** Answers `doc` (a reference is taken for the response) with `status`, negotiating msgpack and gzip. */
void ipd_worker_send_doc(h2o_req_t *req, int status, ipd_worker_doc_t *doc);
/** Answers a one-off JSON body (copied) with `status`, negotiating msgpack and gzip. */
void ipd_worker_send_json(h2o_req_t *req, int status, const char *json, size_t len);
/** Answers a non-JSON body (copied) with `content_type` (a literal), gzip'd when accepted. */
void ipd_worker_send_text(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/** Answers 304 if the request's If-None-Match matches `etag`; returns 1 then, else 0. */
int ipd_worker_not_modified(h2o_req_t *req, const char *etag);

/** The query string of a request (after '?'), or an empty one. */
h2o_iovec_t ipd_worker_query(h2o_req_t *req);

#endif
