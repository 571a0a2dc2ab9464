/*
 * Integration test harness: starts the real daemon, the Kubernetes simulator and redis-server
 * on loopback ports chosen at run time, talks HTTP to them, and stops them by PID.
 *
 * Paths come from the environment ctest sets: IPD_SOURCE_DIR (repo root) and IPD_BUILD_DIR.
 */
#ifndef IPD_TESTS_HARNESS_H
#define IPD_TESTS_HARNESS_H

#include <jansson.h>
#include <stddef.h>

#include "common/at.h"
#include <stdint.h>
#include <sys/types.h>

/** A child process started by the harness. */
typedef struct h_proc {
    pid_t pid;
    int port;      /**< the port it listens on, when known */
    char log[256]; /**< file receiving its stdout and stderr */
} h_proc_t;

/** Returns a free TCP port on 127.0.0.1 below the ephemeral range (bound and released; a tiny race
 * with other processes picking ports is accepted). */
int h_free_port(void);

/** Opens a TCP connection to 127.0.0.1:port; fails the test otherwise. The descriptor is the caller's. */
int h_dial(int port);

/**
 * Reads from `fd` until the peer closes it (end of stream or a reset: *eof is set) or
 * `timeout_ms` passes. Returns the bytes read, NUL-terminated (owned: free()).
 */
char *h_read_all(int fd, int timeout_ms, int *eof);

/** Writes all `len` bytes of `data` to `fd` (no SIGPIPE); fails the test on error. */
void h_send_all(int fd, const void *data, size_t len);

/**
 * Sends `text` (a raw request, any bytes) on a new connection to 127.0.0.1:port and returns
 * what the server sent within `timeout_ms` or until it closed the connection (*eof set then).
 * Owned (free).
 */
char *h_raw(int port, const char *text, int timeout_ms, int *eof);

/**
 * Sends `text` on a new connection and returns the status of the answer's first line, as soon
 * as that line arrived (at most 5 s); 0 when none came.
 */
int h_raw_status(int port, const char *text);

/** Monotonic ms. */
uint64_t h_now_ms(void);

/** Starts the simulator with extra arguments (NULL-terminated list, may be NULL). Fails the test on error. */
h_proc_t h_start_kubesim(const char *const *args);

/**
 * Starts redis-server on loopback port `port_or_0` (0: a free one) without persistence (working
 * directory `dir`), with extra arguments (NULL-terminated, may be NULL), and waits until it
 * answers PING.
 */
h_proc_t h_start_redis(const char *dir, int port_or_0, const char *const *args);

/**
 * Starts build/imgpulld with `args` (NULL-terminated) and extra environment entries `env`
 * (NULL-terminated "NAME=value", may be NULL). Does not wait for readiness.
 */
h_proc_t h_start_daemon(const char *const *args, const char *const *env);

/** Sends `sig` and waits up to `timeout_ms` for exit; SIGKILL after that. Returns the wait status. */
int h_stop(h_proc_t *p, int sig, int timeout_ms);

/** True if the log file of `p` contains `needle`. */
int h_log_contains(const h_proc_t *p, const char *needle);

/** Prints the tail of the log of `p` to stderr (for failures). */
void h_dump_log(const h_proc_t *p);

/** An HTTP answer. `body` is owned (free with h_resp_free). */
typedef struct h_resp {
    long status;
    char *body;
    size_t len;
    char headers[4096];
} h_resp_t;

/** Sends a request to 127.0.0.1:port. `body` may be NULL. Returns 0, or -1 on transport failure. */
int h_http(int port, const char *method, const char *path, const char *body, const char *const *headers, h_resp_t *out);
void h_resp_free(h_resp_t *r);

/*
 * The helpers named h_expect_*, h_post_pull and h_sim_ok fail the test at the line that calls them:
 * each is a macro passing the caller's file and line (IPD_AT, tests/common/at.h) to its _at function.
 */

/**
 * Sends a request as h_http and fails the test unless the transport worked and the answer's
 * status is `status`. `what` names the case in the failure message (may be NULL).
 */
#define h_expect_status(...) h_expect_status_at(IPD_AT, __VA_ARGS__)
void h_expect_status_at(const char *file, int line, int port, const char *method, const char *path, const char *body,
                        const char *const *headers, long status, const char *what);

/**
 * Fails the test unless `r` is an error answer of docs/api.md: `status`, a JSON content type, and
 * the body's error `code`, with a message starting with `prefix` (when not NULL). `what` names
 * the request in the failure message.
 */
#define h_expect_error_body(...) h_expect_error_body_at(IPD_AT, __VA_ARGS__)
void h_expect_error_body_at(const char *file, int line, const h_resp_t *r, long status, const char *code,
                            const char *prefix, const char *what);

/** h_http then json_loadb of the body; NULL on any failure. Owned (json_decref). */
json_t *h_http_json(int port, const char *method, const char *path, const char *body, long *status);

/**
 * POSTs the pull request `body` to /api/v1/images/pull on `port`, fails the test unless it is
 * answered 202 (saying the error message), and copies the first job's id into `id` (caller's,
 * `cap` bytes).
 */
#define h_post_pull(...) h_post_pull_at(IPD_AT, __VA_ARGS__)
void h_post_pull_at(const char *file, int line, int port, const char *body, char *id, size_t cap);

/**
 * GET /api/v1/images/pull-jobs/{id} on `port`: the body as JSON, or NULL on a transport failure or
 * a body that is not JSON. `status` (may be NULL) receives the HTTP status. Owned (json_decref).
 */
json_t *h_get_job(int port, const char *id, long *status);

/** h_get_job, failing the test unless job `id` is answered 200 with JSON. Owned (json_decref). */
#define h_expect_job(...) h_expect_job_at(IPD_AT, __VA_ARGS__)
json_t *h_expect_job_at(const char *file, int line, int port, const char *id);

/**
 * DELETEs job `id` on `port`: fails the test unless it is answered 202, and marks it failed (and
 * goes on) unless the answer's job is cancelled.
 */
#define h_expect_cancel(...) h_expect_cancel_at(IPD_AT, __VA_ARGS__)
void h_expect_cancel_at(const char *file, int line, int port, const char *id);

/**
 * Waits up to `timeout_ms` until GET /api/v1/images/pull-jobs/{id} on `port` says `state`; fails
 * the test otherwise, naming the state last seen.
 */
#define h_expect_job_state(...) h_expect_job_state_at(IPD_AT, __VA_ARGS__)
void h_expect_job_state_at(const char *file, int line, int port, const char *id, const char *state, int timeout_ms);

/** Sends a control or API request to the simulator on `port`; fails the test unless it answers 2xx. */
#define h_sim_ok(...) h_sim_ok_at(IPD_AT, __VA_ARGS__)
void h_sim_ok_at(const char *file, int line, int port, const char *method, const char *path, const char *body);
/** True once the simulator on `*(int *)port` holds no request injection (`/_sim/inject`) not yet used: an h_wait
 * predicate. */
int h_sim_injections_used(void *port);
/** True once the simulator on `port` answers 404 for the Job `name` of namespace imgpulld, within `timeout_ms`. */
int h_sim_job_gone(int port, const char *name, int timeout_ms);
/** True when the simulator on `port` holds the Job `name` of namespace imgpulld (answers 200). */
int h_sim_has_job(int port, const char *name);
/** Creates, in the simulator on `port`, the pod `name` of namespace default, labelled app=web, running `image`. */
#define h_sim_web_pod(...) h_sim_web_pod_at(IPD_AT, __VA_ARGS__)
void h_sim_web_pod_at(const char *file, int line, int port, const char *name, const char *image);

/** Polls `pred(ctx)` every 50 ms until it returns non-zero or `timeout_ms` passes. Returns the last value. */
int h_wait(int (*pred)(void *ctx), void *ctx, int timeout_ms);

/** A unique instance name for this test process ("t<pid>-<tag>"). */
void h_instance(char *out, size_t cap, const char *tag);

#endif

/* ---- Serving helpers: requests with protocol options, sd_notify, commands ---- */

/** Waits up to `timeout_ms` until the daemon answers GET /readyz with 200 on `port`. Fails the test otherwise. */
void h_wait_ready(const h_proc_t *daemon, int port, int timeout_ms);

/** Waits up to `timeout_ms` for `needle` in the log of `p`. Returns 1 if it appeared. */
int h_log_wait(const h_proc_t *p, const char *needle, int timeout_ms);

/** Occurrences of `needle` in the log of `p`. */
size_t h_log_count(const h_proc_t *p, const char *needle);

/** A request with protocol options for h_request. Zeroed fields take the defaults. */
typedef struct h_req {
    const char *method;         /**< default "GET" */
    const char *path;           /**< path and query */
    const char *body;           /**< may be NULL */
    size_t body_len;            /**< 0: strlen(body) */
    const char *const *headers; /**< NULL-terminated "Name: value" list, may be NULL (no default Content-Type) */
    long http_version;          /**< a CURL_HTTP_VERSION_* value; 0 is HTTP/1.1 */
    const char *ca_file;        /**< when set: https to 127.0.0.1, verified against this CA */
} h_req_t;

/**
 * Sends `rq` to 127.0.0.1:port. Bodies are not decoded (a gzip answer stays gzip'd).
 * `*http_version` (may be NULL) receives the CURL_HTTP_VERSION_* of the answer.
 * Returns 0, or -1 on transport failure (out->status is then 0).
 */
int h_request(int port, const h_req_t *rq, h_resp_t *out, long *http_version);

/** The value of response header `name` (case-insensitive) copied into `out`; 1 if present. */
int h_resp_header(const h_resp_t *r, const char *name, char *out, size_t cap);

/** A datagram socket standing in for systemd's NOTIFY_SOCKET. */
typedef struct h_notify {
    int fd;
    char path[108];
    char env[128]; /**< "NOTIFY_SOCKET=<path>", ready for h_start_daemon's env */
} h_notify_t;

/** Binds a fresh notify socket under /tmp. Fails the test on error. */
void h_notify_open(h_notify_t *n);
/** Receives one datagram within `timeout_ms` into `buf` (NUL-terminated). Returns its length or -1 on timeout. */
int h_notify_recv(h_notify_t *n, char *buf, size_t cap, int timeout_ms);
/**
 * Receives datagrams until one has a line equal to `line`, for up to `timeout_ms`. Every datagram
 * seen meanwhile is appended to `seen` (newline-separated; may be NULL). Returns 1 if found.
 */
int h_notify_wait(h_notify_t *n, const char *line, int timeout_ms, char *seen, size_t seencap);
/** Closes and unlinks the socket. */
void h_notify_close(h_notify_t *n);

/** Runs `sh -c cmd`, capturing at most `cap - 1` bytes of its standard output in `out` (may be NULL).
 *  Returns the wait status. */
int h_sh(const char *cmd, char *out, size_t cap);

/** Writes `text` to `path` (created or truncated, mode 0600). Fails the test on error. */
void h_write_file(const char *path, const char *text);

/**
 * The worker pids of the daemon, from its log's "worker N started on slot S (generation G)"
 * lines: pids[S] for generation `generation`. Returns how many slots were found (up to cap).
 */
size_t h_worker_pids(const h_proc_t *daemon, unsigned generation, pid_t *pids, size_t cap);

/** Unlinks the table and stats segments of `instance`. */
void h_unlink_instance(const char *instance);

/** The simulator and a daemon started from a configuration file (the serving tests' set-up). */
typedef struct h_world {
    h_proc_t sim, daemon;
    char instance[64];
    char dir[128];  /**< a private directory for the test's files (configuration, certificates, stats) */
    char conf[192]; /**< dir/imgpulld.conf */
    int port;       /**< the daemon's first listener (127.0.0.1) */
    int kube_unset; /**< when set, h_world_write_conf names no Kubernetes credentials (the test brings its own) */
} h_world_t;

/** Starts the simulator with `sim_args` (may be NULL) and creates the private directory. */
void h_world_sim(h_world_t *w, const char *tag, const char *const *sim_args);

/**
 * Writes the configuration file: kube_server (unless `extra` sets kube_server or kubeconfig, or
 * w->kube_unset is set), instance, stats_file, and unless `extra` sets them,
 * `listen 127.0.0.1:<free port>`, `workers 2` and `watch_backoff_max 1s`; then the lines of `extra`
 * (may be NULL). Sets w->port from the listen line when `extra` brings its own.
 */
void h_world_write_conf(h_world_t *w, const char *extra);

/** h_world_write_conf, then starts the daemon with `-c conf` and `env` (may be NULL); waits for /readyz when `ready`.
 */
void h_world_daemon(h_world_t *w, const char *extra, const char *const *env, int ready);

/**
 * Writes `tokens` (the tokens file's text) to w->dir/tokens, then h_world_daemon with
 * "tokens_file <that file>" followed by `extra` (may be NULL), waiting for /readyz.
 */
void h_world_daemon_tokens(h_world_t *w, const char *tokens, const char *extra);

/** Stops the daemon (SIGTERM) and the simulator, unlinks the segments and the directory. Returns the
 *  daemon's wait status. */
int h_world_stop(h_world_t *w);
/** h_world_stop, failing the test unless the daemon exited with status 0. */
void h_world_stop_clean(h_world_t *w);
/** For a test's .fini: h_world_stop if the daemon or the simulator still runs (after a failed assertion). */
void h_world_teardown(h_world_t *w);
