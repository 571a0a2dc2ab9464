/*
 * The Kubernetes HTTP client: libcurl's multi interface driven by whatever event loop the host
 * process runs (the master's plain epoll loop, an h2o worker loop, a test's poll()).
 *
 * Driving it. The client owns two file descriptors: a private epoll set holding curl's sockets
 * and a timerfd holding curl's next timeout. The host registers both for readability once
 * (ipd_kube_fds) and, when one is readable, calls ipd_kube_on_epoll_ready or
 * ipd_kube_on_timer_ready. Nothing else is needed: adding a request arms the timer, so the next
 * loop iteration starts it. Level-triggered registration is expected (both callbacks may leave
 * work for the next readiness report).
 *
 * Three kinds of request, chosen by the callbacks set in ipd_kube_req_spec_t:
 *   - one-shot (neither on_line nor on_data): the whole body, capped, goes to on_done;
 *   - lines (on_line): every '\n'-terminated line of a 2xx body goes to on_line (watches);
 *   - bytes (on_data): the raw 2xx body goes to on_data, which may pause the transfer (logs).
 * On a stream (lines or bytes), a non-2xx response is not delivered to on_line / on_data: its body
 * (normally a Status object) goes to on_done with error IPD_EREMOTE.
 *
 * Callback contract (libuv style):
 *   - A function that returns an error never calls its callback.
 *   - on_done is called exactly once per successfully started request, unless the request is
 *     cancelled first; the request is freed when on_done returns.
 *   - After ipd_kube_cancel returns, no callback of that request runs, ever.
 *   - Callbacks run only from ipd_kube_on_epoll_ready, ipd_kube_on_timer_ready and
 *     ipd_kube_resume (which may re-enter on_data synchronously).
 *   - Inside any callback it is allowed to start, cancel and resume requests (those calls take
 *     effect once curl returns, before the ready function does). ipd_kube_destroy is not allowed.
 *
 * Authentication: the bearer token is read from the profile on every request start, so a rotated
 * token file is picked up by the next request or reconnect. TLS verification is on unless the
 * profile disables it. One-shot requests share connections (and HTTP/2 multiplexing over TLS);
 * streams force HTTP/1.1, whose pause handling is the dependable one.
 *
 * Retries. An apiserver that answers 429 (too many requests, API Priority and Fairness) or 503
 * with a Retry-After header has not carried the request out and says when to ask again. A one-shot
 * request (unless its spec sets no_retry) is then sent again, unchanged, after that delay (capped
 * at retry_max_wait_ms), up to `retries` times, as client-go's rest client does; meanwhile it
 * stays started (on_done not called, cancel allowed) and waits on a timer in the client's epoll
 * set, so the host loop never blocks. The answer that ends it (any other answer, a 429 or 503
 * without Retry-After, or the last retry's) goes to on_done with `attempts` set. Streams are
 * never retried: a non-2xx stream answer goes to on_done with its retry_after_ms.
 *
 * Single-threaded: every function must be called from the thread that runs the host loop.
 */
#ifndef IPD_SHARED_KUBE_CLIENT_H
#define IPD_SHARED_KUBE_CLIENT_H

#include "shared/kubeconfig.h"

#include <stddef.h>
#include <stdint.h>

/** Default cap on a one-shot response body. */
#define IPD_KUBE_DEFAULT_MAX_BODY (16u << 20)
/** Default cap on one line of a lines stream (without its '\n'). */
#define IPD_KUBE_DEFAULT_MAX_LINE (4u << 20)
/** Default connect timeout. */
#define IPD_KUBE_DEFAULT_CONNECT_TIMEOUT_MS 10000
/** Default total timeout of a one-shot request. */
#define IPD_KUBE_DEFAULT_TIMEOUT_MS 30000
/** Default number of times a one-shot answered 429 or 503 with Retry-After is sent again. */
#define IPD_KUBE_DEFAULT_RETRIES 5
/** Default cap on one wait before such a retry. */
#define IPD_KUBE_DEFAULT_RETRY_MAX_WAIT_MS 30000
/** Cap on the error body kept for a non-2xx stream; longer bodies are truncated. */
#define IPD_KUBE_MAX_ERROR_BODY (64u << 10)

/** on_data returns this to take the bytes. */
#define IPD_KUBE_DATA_TAKEN 0
/** on_data returns this to refuse the bytes and pause; they are handed over again after ipd_kube_resume. */
#define IPD_KUBE_DATA_PAUSE 1

/** A client: one curl multi handle, its epoll set and timer, and one connection profile. */
typedef struct ipd_kube ipd_kube_t;
/** One in-flight request. Owned by the client; valid until on_done returns or ipd_kube_cancel is called. */
typedef struct ipd_kube_req ipd_kube_req_t;

/** Client limits. Zero in any member selects its default. */
typedef struct ipd_kube_options {
    /** Cap on a one-shot body; exceeding it fails the request with IPD_ETOOBIG. */
    size_t max_body;
    /** Cap on one line of a lines stream; exceeding it aborts the stream with IPD_ETOOBIG. */
    size_t max_line;
    /** Connect timeout (TCP and TLS handshake) of every request, in milliseconds. */
    long connect_timeout_ms;
    /** Default total timeout of one-shot requests, in milliseconds. */
    long timeout_ms;
    /**
     * How many times a one-shot request answered 429 or 503 with a Retry-After header is sent
     * again, each time after the delay the header asks for (see "Retries" above); -1: never.
     */
    int retries;
    /** Cap on one such delay, in milliseconds: a longer Retry-After waits this long. */
    long retry_max_wait_ms;
} ipd_kube_options_t;

/** The outcome of a request, handed to on_done. Everything it points to is borrowed for the call only. */
typedef struct ipd_kube_result {
    /**
     * 0 on success; otherwise IPD_ETOOBIG (body or line over its cap), IPD_EREMOTE (non-2xx answer
     * to a stream), -ETIMEDOUT (timeout), -ECONNREFUSED (connect failed), -EHOSTUNREACH (name not
     * resolved), -EPROTO (TLS failure, e.g. untrusted certificate), -ECONNRESET (connection lost
     * or malformed response), -EIO (any other transfer failure), or -ENOMEM. A one-shot request
     * that got any complete HTTP response has error 0: check `status`.
     */
    int error;
    /** HTTP status of the response, 0 when none was received. */
    long status;
    /** One-shot: the body. Stream with a non-2xx status: the (possibly truncated) error body. Else NULL. */
    const char *body;
    /** Length of `body`. */
    size_t body_len;
    /** NULL when error is 0; else a message naming the method, URL and cause. */
    const char *message;
    /**
     * 429 and 503 answers: the delay the server's Retry-After header asks for (seconds or an
     * HTTP date), in ms; 0 when there is none or for any other status.
     */
    uint64_t retry_after_ms;
    /** How many times the request was sent: 1, or more after retries (see "Retries" above). */
    unsigned attempts;
} ipd_kube_result_t;

/** Called once when a request finishes. `req` is freed when the callback returns. `data` is the spec's. */
typedef void (*ipd_kube_done_cb)(ipd_kube_req_t *req, const ipd_kube_result_t *res, void *data);
/**
 * Called for each line of a 2xx lines stream: `line` (borrowed for the call, not NUL-terminated)
 * excludes the '\n' and a preceding '\r'. A final line without '\n' is delivered when the stream
 * ends cleanly. Lines may be empty.
 */
typedef void (*ipd_kube_line_cb)(ipd_kube_req_t *req, const char *line, size_t len, void *data);
/**
 * Called with the next bytes of a 2xx bytes stream (borrowed for the call; usually at most 16 KiB).
 * Returns IPD_KUBE_DATA_TAKEN after taking all of them, or IPD_KUBE_DATA_PAUSE to take none and
 * pause the transfer; the same bytes are offered again after ipd_kube_resume.
 */
typedef int (*ipd_kube_data_cb)(ipd_kube_req_t *req, const char *buf, size_t len, void *data);

/** What to send and where to deliver the answer. All pointers are borrowed; the client copies what it keeps. */
typedef struct ipd_kube_req_spec {
    /** "GET" (NULL means GET), "POST", "PUT", "PATCH" or "DELETE". */
    const char *method;
    /** Path and query, starting with '/', already escaped (see ipd_kube_escape). */
    const char *path;
    /** Request body or NULL. Copied at start. */
    const char *body;
    /** Length of `body`. */
    size_t body_len;
    /** Content-Type of the body; NULL means "application/json". Ignored without a body. */
    const char *content_type;
    /** One-shot total timeout in milliseconds: 0 uses the client default, -1 none. Streams have none. */
    long timeout_ms;
    /** Required. Called once at the end (see the callback contract above). */
    ipd_kube_done_cb on_done;
    /** Set for a lines stream. */
    ipd_kube_line_cb on_line;
    /** Set for a bytes stream. Mutually exclusive with on_line. */
    ipd_kube_data_cb on_data;
    /** Passed to every callback of the request. */
    void *data;
    /** Set: a one-shot answered 429 or 503 goes to on_done at once (the caller retries by itself). */
    int no_retry;
} ipd_kube_req_spec_t;

/**
 * Creates a client. On success takes ownership of the members of *cfg (and zeroes *cfg); on
 * failure *cfg is untouched and still the caller's. `opts` (borrowed) may be NULL for defaults.
 * *out is owned (free with ipd_kube_destroy). Returns 0 or a negative code.
 */
int ipd_kube_create(ipd_kube_t **out, ipd_kube_config_t *cfg, const ipd_kube_options_t *opts);

/**
 * Cancels every request without calling back, closes the client's descriptors and frees it. The
 * host must unregister the two fds first (or, with plain epoll, closing them unregisters them).
 * Must not be called from inside a callback. NULL is allowed.
 */
void ipd_kube_destroy(ipd_kube_t *kube);

/** Stores the two descriptors the host loop must watch for readability. They live as long as the client. */
int ipd_kube_fds(const ipd_kube_t *kube, int *epfd, int *timerfd);

/** Call when the epoll descriptor is readable: runs curl on the ready sockets, then finishes done requests. */
void ipd_kube_on_epoll_ready(ipd_kube_t *kube);

/** Call when the timer descriptor is readable: runs curl's timeouts, then finishes done requests. */
void ipd_kube_on_timer_ready(ipd_kube_t *kube);

/** Returns the profile in use (borrowed; valid for the life of the client). */
const ipd_kube_config_t *ipd_kube_config(const ipd_kube_t *kube);

/** Returns the number of requests started and not yet finished or cancelled (waiting retries included). */
size_t ipd_kube_pending(const ipd_kube_t *kube);

/** Returns how many times a request was sent again after a 429 or 503 with Retry-After, since creation. */
uint64_t ipd_kube_retries(const ipd_kube_t *kube);
/** Of those, the ones after a 429 (the others followed a 503). */
uint64_t ipd_kube_retries_429(const ipd_kube_t *kube);

/**
 * Starts a request. On success *out (may be NULL) is the request handle, borrowed from the
 * client. Fails, without calling back, with IPD_EINVAL (bad spec), the token file's error, or
 * -ENOMEM.
 */
int ipd_kube_start(ipd_kube_t *kube, const ipd_kube_req_spec_t *spec, ipd_kube_req_t **out);

/**
 * Cancels a request: its transfer is abandoned (the connection is closed if the response was not
 * complete) and none of its callbacks runs after this returns. Calling it from the request's own
 * on_done is a no-op. NULL is allowed.
 */
void ipd_kube_cancel(ipd_kube_req_t *req);

/**
 * Resumes a bytes stream paused by IPD_KUBE_DATA_PAUSE; on_data may run again before this returns.
 * A request that is not paused is left alone. Returns 0, or IPD_ESTATE for a request that is
 * finishing or not a bytes stream.
 */
int ipd_kube_resume(ipd_kube_req_t *req);

/** Returns non-zero while a bytes stream is paused. */
int ipd_kube_paused(const ipd_kube_req_t *req);

/** Returns the number of 2xx body bytes received so far (taken by on_data, fed to on_line, or buffered). */
uint64_t ipd_kube_rx_bytes(const ipd_kube_req_t *req);

/**
 * Returns the CLOCK_MONOTONIC time in milliseconds at which the request last received body bytes
 * (its start time before any arrive). Stream callers use it for idle timeouts.
 */
uint64_t ipd_kube_rx_time_ms(const ipd_kube_req_t *req);

/**
 * Percent-encodes `s` (borrowed) for use as a query value or path segment: everything but
 * A-Z a-z 0-9 - . _ ~ is escaped, so label selectors such as "a=b,c!=d" survive.
 * Returns owned memory (free with free()) or NULL on ENOMEM.
 */
char *ipd_kube_escape(const char *s);

#endif
