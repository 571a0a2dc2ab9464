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
#include <stdint.h>
#include <sys/types.h>

/** A child process started by the harness. */
typedef struct h_proc {
    pid_t pid;
    int port;          /**< the port it listens on, when known */
    char log[256];     /**< file receiving its stdout and stderr */
} h_proc_t;

/** Returns a free TCP port on 127.0.0.1 (bound and released; a tiny race is accepted). */
int h_free_port(void);

/** Monotonic ms. */
uint64_t h_now_ms(void);

/** Starts the simulator with extra arguments (NULL-terminated list, may be NULL). Fails the test on error. */
h_proc_t h_start_kubesim(const char *const *args);

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
int h_http(int port, const char *method, const char *path, const char *body, const char *const *headers,
           h_resp_t *out);
void h_resp_free(h_resp_t *r);

/** h_http then json_loadb of the body; NULL on any failure. Owned (json_decref). */
json_t *h_http_json(int port, const char *method, const char *path, const char *body, long *status);

/** Polls `pred(ctx)` every 50 ms until it returns non-zero or `timeout_ms` passes. Returns the last value. */
int h_wait(int (*pred)(void *ctx), void *ctx, int timeout_ms);

/** A unique instance name for this test process ("t<pid>-<tag>"). */
void h_instance(char *out, size_t cap, const char *tag);

#endif
