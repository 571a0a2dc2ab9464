#include "worker/http/http.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"

static void on_conn_close(void *data)
{
    ipd_worker_conn_t *conn = data;
    ipd_worker_t *w = conn->w;
    if (conn->linger_fd >= 0)
        ipd_worker_linger_start(w, conn->linger_fd);
    w->nconns--;
    ipd_stats_gauge(w->stats, IPD_STATS_CONNECTIONS, -1);
    free(conn);
    ipd_worker_update_accepting(w);
}

/* How long accepting pauses after accept(2) failed for lack of descriptors or memory. */
#define IPD_ACCEPT_PAUSE_MS 200
/* At most one warning about it per this many ms. */
#define ACCEPT_WARN_EVERY_MS 10000

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    ipd_worker_t *w = H2O_STRUCT_FROM_MEMBER(ipd_worker_t, accept_resume, entry);
    w->accept_paused = 0;
    ipd_worker_update_accepting(w);
}

/*
 * accept(2) failed with EMFILE, ENFILE, ENOBUFS or ENOMEM: the connection stays queued and the
 * listener stays readable, so reading on would spin the loop. Stop reading the listeners for
 * IPD_ACCEPT_PAUSE_MS, then try again; say so in the log, at most every ACCEPT_WARN_EVERY_MS.
 */
static void pause_accepting(ipd_worker_t *w, int err)
{
    uint64_t now = h2o_now(w->loop);
    w->accept_failures++;
    if (w->accept_warned_at == 0 || now - w->accept_warned_at >= ACCEPT_WARN_EVERY_MS) {
        ipd_warn("worker", "slot %d: accept: %s (%lu times, %zu connections open); pausing accepts for %d ms",
                 w->args->slot, strerror(err), w->accept_failures, w->nconns, IPD_ACCEPT_PAUSE_MS);
        w->accept_warned_at = now;
        w->accept_failures = 0;
    }
    w->accept_paused = 1;
    ipd_worker_update_accepting(w);
    if (!h2o_timeout_is_linked(&w->accept_resume))
        h2o_timeout_link(w->loop, &w->accept_pause, &w->accept_resume);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    ipd_worker_listener_t *l = listener->data;
    ipd_worker_t *w = l->w;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    /* Accept a bounded batch per wake-up so one busy listener cannot starve the loop. */
    for (int i = 0; i < 64 && w->accepting; i++) {
        errno = 0;
        if ((sock = h2o_evloop_socket_accept(listener)) == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(w, errno);
            break;
        }
        ipd_worker_conn_t *conn = calloc(1, sizeof(*conn));
        if (conn == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        conn->w = w;
        conn->sock = sock;
        conn->needs_auth = l->needs_auth;
        conn->linger_fd = -1;
        ipd_http_rate_init(&conn->rate, (unsigned)w->cfg->request_rate_per_conn, h2o_now(w->loop));
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = conn;
        w->nconns++;
        ipd_stats_gauge(w->stats, IPD_STATS_CONNECTIONS, 1);
        h2o_accept(&w->accept_ctx, sock);
        ipd_worker_h2_guard_arm(w);
        ipd_worker_update_accepting(w);
    }
}

void ipd_worker_update_accepting(ipd_worker_t *w)
{
    int want = !w->draining && !w->accept_paused && w->nconns < (size_t)w->cfg->max_connections_per_worker;
    if (want == w->accepting)
        return;
    for (size_t i = 0; i < w->nlisten; i++) {
        if (want)
            h2o_socket_read_start(w->listeners[i].sock, on_accept);
        else
            h2o_socket_read_stop(w->listeners[i].sock);
    }
    w->accepting = want;
}

/* Formats "<what> <path>: <OpenSSL's reason>" into err and returns IPD_EINVAL. */
static int ssl_fail(char *err, size_t errlen, const char *what, const char *path)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "%s \"%s\": %s", what, path, e != 0 ? buf : "unknown error");
    return IPD_EINVAL;
}

int ipd_worker_tls_load(const ipd_config_t *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')
        return 0;
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    int rc = 0;
    if (ssl == NULL)
        return ssl_fail(err, errlen, "SSL_CTX_new", "");
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ssl, cfg->tls_cert) != 1)
        rc = ssl_fail(err, errlen, "tls_cert: loading certificate", cfg->tls_cert);
    else if (SSL_CTX_use_PrivateKey_file(ssl, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
        rc = ssl_fail(err, errlen, "tls_key: loading key", cfg->tls_key);
    else if (SSL_CTX_check_private_key(ssl) != 1)
        rc = ssl_fail(err, errlen, "tls_key: the key does not match the certificate", cfg->tls_cert);
    if (rc != 0) {
        SSL_CTX_free(ssl);
        return rc;
    }
    *out = ssl;
    return 0;
}

static int setup_tls(ipd_worker_t *w)
{
    char err[512];
    if (ipd_worker_tls_load(w->cfg, &w->ssl, err, sizeof(err)) != 0) {
        ipd_error("worker", "%s", err);
        return -1;
    }
    if (w->ssl == NULL)
        return 0;
    h2o_ssl_register_alpn_protocols(w->ssl, h2o_alpn_protocols);
    w->accept_ctx.ssl_ctx = w->ssl;
    return 0;
}

int ipd_worker_listen(ipd_worker_t *w)
{
    const ipd_config_t *cfg = w->cfg;
    if (setup_tls(w) != 0)
        return -1;
    h2o_timeout_init(w->loop, &w->accept_pause, IPD_ACCEPT_PAUSE_MS);
    w->accept_resume.cb = on_accept_resume;
    if (w->args->nlisten > IPD_CONFIG_MAX_LISTEN) {
        ipd_error("worker", "%zu listening sockets, at most %d are supported", w->args->nlisten, IPD_CONFIG_MAX_LISTEN);
        return -1;
    }
    for (size_t i = 0; i < w->args->nlisten; i++) {
        ipd_worker_listener_t *l = &w->listeners[i];
        int fd = dup(w->args->listen_fds[i]);
        if (fd < 0) {
            ipd_error("worker", "dup(listening socket %zu): %s", i, strerror(errno));
            return -1;
        }
        /* Authentication follows the configured address: the socket may be a loopback stand-in. */
        l->needs_auth = i >= cfg->listen_count || !ipd_config_hostport_is_loopback(&cfg->listen[i]);
        l->w = w;
        l->sock = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        l->sock->data = l;
        w->nlisten++;
    }
    ipd_worker_update_accepting(w);
    return 0;
}

void ipd_worker_unlisten(ipd_worker_t *w)
{
    if (h2o_timeout_is_linked(&w->accept_resume))
        h2o_timeout_unlink(&w->accept_resume);
    for (size_t i = 0; i < w->nlisten; i++) {
        if (w->accepting)
            h2o_socket_read_stop(w->listeners[i].sock);
        h2o_socket_close(w->listeners[i].sock);
    }
    w->nlisten = 0;
    w->accepting = 0;
    if (w->ssl != NULL)
        SSL_CTX_free(w->ssl);
    w->ssl = NULL;
}

ipd_worker_conn_t *ipd_worker_conn_of_socket(h2o_socket_t *sock)
{
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

ipd_worker_conn_t *ipd_worker_conn_of(h2o_req_t *req)
{
    if (req->conn == NULL || req->conn->callbacks->get_socket == NULL)
        return NULL;
    return ipd_worker_conn_of_socket(req->conn->callbacks->get_socket(req->conn));
}

void ipd_worker_conn_close_soon(ipd_worker_conn_t *conn, h2o_req_t *req)
{
    conn->closing = 1;
    if (req->version < 0x200) {
        /* HTTP/1: the connection closes once this answer is written; pipelined input is drained. */
        req->http1_is_persistent = 0;
        ipd_worker_linger_arm(conn);
        return;
    }
    /*
     * HTTP/2: stop taking input. The connection sees end-of-stream on its next read, writes
     * what it has queued (this answer included) and closes; other streams are abandoned.
     */
    int fd = h2o_socket_get_fd(conn->sock);
    if (fd >= 0 && shutdown(fd, SHUT_RD) != 0)
        ipd_warn("worker", "shutdown(SHUT_RD) of a rate-limited connection: %s", strerror(errno));
}
