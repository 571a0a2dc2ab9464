#include "worker/router.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"
#include "worker/http/http.h"
#include "worker/http/tokens_file.h"
#include "worker/logs/logs.h"
#include "worker/rest/rest.h"
#include "worker/ws/ws.h"

#define TABLE_WAIT_MS 2000

static void begin_drain(ipd_worker_t *w, const char *why)
{
    if (w->draining)
        return;
    w->draining = 1;
    w->drain_deadline = h2o_now(w->loop) + w->cfg->reload_drain_timeout_ms;
    ipd_worker_update_accepting(w);
    h2o_context_request_shutdown(&w->ctx);
    ipd_logs_drain(w);
    ipd_ws_drain(w);
    ipd_info("worker", "slot %d draining (%s): %zu connections open", w->args->slot, why, w->nconns);
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    ipd_worker_t *w = sock->data;
    struct signalfd_siginfo si;
    (void)err;
    while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGQUIT) {
            ipd_info("worker", "slot %d: SIGQUIT, exiting now", w->args->slot);
            w->stop = 1;
        } else {
            begin_drain(w, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        }
    }
}

static void on_parent(h2o_socket_t *sock, const char *err)
{
    ipd_worker_t *w = sock->data;
    char buf[64];
    (void)err;
    ssize_t r;
    while ((r = read(h2o_socket_get_fd(sock), buf, sizeof(buf))) > 0)
        ;
    if (r == 0) {
        ipd_warn("worker", "slot %d: the master is gone, exiting", w->args->slot);
        w->stop = 1;
        h2o_socket_read_stop(sock);
    }
}

/* Takes the signals to a signalfd: nothing runs in signal context. Returns the fd or -1. */
static int take_signals(void)
{
    sigset_t mask;
    struct sigaction ign, dfl;
    memset(&ign, 0, sizeof(ign));
    memset(&dfl, 0, sizeof(dfl));
    ign.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGQUIT);
    /* Block first, so a signal arriving meanwhile stays pending for the signalfd. */
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGQUIT, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGUSR1, &ign, NULL);
    sigaction(SIGUSR2, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

static h2o_socket_t *watch(ipd_worker_t *w, int fd, h2o_socket_cb cb)
{
    h2o_socket_t *sock = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = w;
    h2o_socket_read_start(sock, cb);
    return sock;
}

static void attach_stats(ipd_worker_t *w)
{
    int rc = ipd_stats_attach(w->cfg->instance, &w->stats_seg);
    w->stats = w->own_stats;
    if (rc == 0 && ipd_stats_route_slots(w->stats_seg) < ipd_worker_stats_route_slots()) {
        ipd_warn("worker", "the stats segment has %u route slots, fewer than the %u of this build's routes",
                 ipd_stats_route_slots(w->stats_seg), ipd_worker_stats_route_slots());
        ipd_stats_destroy(w->stats_seg);
        rc = IPD_ECORRUPT;
    }
    if (rc != 0) {
        w->stats_seg = NULL;
        ipd_info("worker", "no stats segment (%s): counting privately", ipd_strerror(rc));
    }
}

/*
 * Claims the stats block once everything is set up: the master reads the claim as "this worker
 * serves" before it lets the previous generation go. What was counted privately meanwhile moves
 * into the block.
 */
static void claim_stats(ipd_worker_t *w)
{
    int block = w->args->stats_block;
    if (w->stats_seg == NULL || block < 0)
        return;
    ipd_stats_block_t *b = ipd_stats_block(w->stats_seg, (uint32_t)block);
    if (b == NULL || ipd_stats_claim(w->stats_seg, (uint32_t)block, getpid()) != 0) {
        ipd_warn("worker", "stats segment has no block %d: counting privately", block);
        return;
    }
    for (size_t i = 0; i < IPD_STATS_COUNT; i++)
        ipd_stats_add(b, (ipd_stats_counter_t)i, atomic_load_explicit(&w->own_stats->c[i], memory_order_relaxed));
    for (size_t i = 0; i < ipd_worker_stats_route_slots(); i++)
        atomic_fetch_add_explicit(&b->route[i], atomic_load_explicit(&w->own_stats->route[i], memory_order_relaxed),
                                  memory_order_relaxed);
    w->stats = b;
}

int ipd_worker_check_config(const ipd_config_t *cfg, char *err, size_t errlen)
{
    char sub[512];
    if (cfg->tokens_file[0] != '\0') {
        ipd_http_tokens_t tokens = {0};
        int rc = ipd_http_tokens_load(cfg->tokens_file, &tokens, sub, sizeof(sub));
        ipd_http_tokens_dispose(&tokens);
        if (rc != 0) {
            snprintf(err, errlen, "tokens_file %s", sub);
            return rc;
        }
    }
    SSL_CTX *ssl = NULL;
    int rc = ipd_worker_tls_load(cfg, &ssl, sub, sizeof(sub));
    if (ssl != NULL)
        SSL_CTX_free(ssl);
    if (rc != 0)
        snprintf(err, errlen, "%s", sub);
    return rc;
}

static void wait_for_table(ipd_worker_t *w)
{
    struct timespec pause = {0, 100 * 1000 * 1000};
    for (int waited = 0; ipd_worker_table(w) == NULL && waited < TABLE_WAIT_MS; waited += 100) {
        nanosleep(&pause, NULL);
        w->table_retry_at = 0;
    }
    if (w->table == NULL)
        ipd_warn("worker", "table %s not available yet; serving 503 until it is", w->cfg->instance);
}

static int setup(ipd_worker_t *w)
{
    const ipd_config_t *cfg = w->cfg;
    char err[512];
    attach_stats(w);
    if (cfg->tokens_file[0] != '\0' && ipd_http_tokens_load(cfg->tokens_file, &w->tokens, err, sizeof(err)) != 0) {
        ipd_error("worker", "tokens_file %s", err);
        return -1;
    }
    h2o_config_init(&w->config);
    w->config.server_name = h2o_iovec_init(H2O_STRLIT("imgpulld"));
    /*
     * h2o refuses bodies over this size itself: over HTTP/1 with a 413 (made JSON by
     * h2o_errors.c), over HTTP/2 by resetting the stream. Reading up to twice max_request_body
     * lets the handler answer a JSON 413 on both protocols for bodies just over the limit.
     */
    w->config.max_request_entity_size = cfg->max_request_body * 2;
    w->config.http1.upgrade_to_http2 = 1;
    w->config.http1.req_timeout = cfg->http_idle_timeout_ms;
    w->config.http2.idle_timeout = cfg->http_idle_timeout_ms;
    w->config.handshake_timeout = cfg->http_idle_timeout_ms;
    h2o_hostconf_t *host = h2o_config_register_host(&w->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    ipd_worker_router_register(w, host);
    ipd_worker_errors_register(host);
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &w->config);
    ipd_worker_linger_init(w);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = w->config.hosts;
    /* Before the table is attached: the WebSocket view is built from the first resync. */
    if (ipd_ws_start(w) != 0)
        return -1;
    if (ipd_worker_ops_start(w) != 0)
        return -1;
    if (ipd_worker_listen(w) != 0)
        return -1;
    int sigfd = take_signals();
    int parent = w->args->parent_fd >= 0 ? dup(w->args->parent_fd) : -2;
    if (sigfd < 0 || parent == -1) {
        ipd_error("worker", "%s: %s", sigfd < 0 ? "signalfd" : "dup(parent pipe)", strerror(errno));
        if (sigfd >= 0)
            close(sigfd);
        return -1;
    }
    w->signal_sock = watch(w, sigfd, on_signal);
    if (parent >= 0)
        w->parent_sock = watch(w, parent, on_parent);
    wait_for_table(w);
    if (ipd_worker_ring_start(w) != 0)
        return -1;
    ipd_worker_kube_start(w);
    if (ipd_logs_init(w) != 0) {
        ipd_error("worker", "pod logs: out of memory");
        return -1;
    }
    claim_stats(w);
    return 0;
}

static void run(ipd_worker_t *w)
{
    while (!w->stop) {
        if (w->draining && (w->nconns == 0 || h2o_now(w->loop) >= w->drain_deadline))
            break;
        if (h2o_evloop_run(w->loop, w->draining ? 100 : INT32_MAX) != 0 && errno != EINTR) {
            ipd_error("worker", "event loop: %s", strerror(errno));
            break;
        }
    }
    if (w->draining)
        ipd_info("worker", "slot %d drained, %zu connections left", w->args->slot, w->nconns);
}

/*
 * Releases what the worker owns. The h2o context and loop are left to the process exit: after a
 * drain h2o may still hold timer entries of the connections it just closed, and disposing a
 * context with linked entries aborts.
 */
static void teardown(ipd_worker_t *w)
{
    if (w->loop != NULL) {
        ipd_logs_dispose(w); /* before the client its streams use, and before the loop's last run */
        ipd_ws_stop(w);      /* before the ring and the table its view reads */
        ipd_worker_kube_stop(w);
        ipd_worker_ring_dispose(w);
        if (w->signal_sock != NULL)
            h2o_socket_close(w->signal_sock);
        if (w->parent_sock != NULL)
            h2o_socket_close(w->parent_sock);
        ipd_worker_h2_guard_dispose(w);
        ipd_worker_unlisten(w);
        ipd_worker_linger_dispose(w);
        h2o_evloop_run(w->loop, 0); /* lets the loop free the sockets closed above */
    } else if (w->ssl != NULL) {
        SSL_CTX_free(w->ssl);
    }
    ipd_worker_cache_clear(&w->cache);
    ipd_worker_cache_clear(&w->job_cache);
    ipd_table_destroy(w->table);
    ipd_stats_destroy(w->stats_seg);
    ipd_http_tokens_dispose(&w->tokens);
}

int ipd_worker_main(const ipd_worker_args_t *args)
{
    /* glibc's malloc thresholds fixed: a freed chunk that was mmapped raises the mmap threshold
     * (and the trim threshold, to twice it) for the rest of the process, whether the master
     * freed it before the fork or the worker freed one of its own Kubernetes response buffers
     * (128-512 KB). Then freed heap up to that trim threshold stayed resident: the worker's
     * memory depended on what it happened to free first. The trim threshold stays at its
     * default, so freed heap above 128 KB at the top is returned. The mmap threshold is 4 MB: a
     * job's JSON encoded by the worker (hundreds of KB for a job of a thousand tasks) comes from
     * the heap rather than from a fresh mapping faulted in on each encode, which cost about twice
     * the worker's CPU of such a GET (docs/benchmarks.md, "Worker memory and large jobs"). */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    ipd_worker_t *w = calloc(1, sizeof(*w));
    ipd_stats_block_t *own = calloc(1, ipd_stats_block_size(ipd_worker_stats_route_slots()));
    if (w == NULL || own == NULL) {
        free(w);
        free(own);
        ipd_error("worker", "out of memory");
        return 1;
    }
    w->own_stats = own;
    w->args = args;
    w->cfg = args->cfg;
    int rc = setup(w);
    if (rc == 0) {
        ipd_info("worker", "slot %d serving on %zu listeners%s", args->slot, w->nlisten, w->ssl ? " (TLS)" : "");
        run(w);
    }
    int fast = w->stop && !w->draining;
    if (!fast)
        teardown(w);
    free(w->own_stats);
    free(w);
    return rc == 0 ? 0 : 1;
}
