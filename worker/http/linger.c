#include "worker/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/log.h"

typedef struct lingerer {
    ipd_worker_t *w;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
    h2o_linklist_t link;
} lingerer_t;

void ipd_worker_linger_init(ipd_worker_t *w)
{
    h2o_linklist_init_anchor(&w->lingering);
    h2o_timeout_init(w->loop, &w->linger_timeout, w->cfg->linger_timeout_ms);
}

void ipd_worker_linger_arm(ipd_worker_conn_t *conn)
{
    ipd_worker_t *w = conn->w;
    if (conn->linger_fd >= 0 || conn->sock->ssl != NULL || w->cfg->linger_timeout_ms == 0 ||
        w->nlingering >= (size_t)w->cfg->max_lingering_per_worker)
        return;
    int fd = h2o_socket_get_fd(conn->sock);
    if (fd < 0)
        return;
    conn->linger_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (conn->linger_fd < 0) {
        ipd_warn("worker", "dup of a refused connection: %s", strerror(errno));
        return;
    }
    w->nlingering++; /* counted from here: every armed connection reaches ipd_worker_linger_start */
}

static void finish(lingerer_t *l)
{
    ipd_worker_t *w = l->w;
    if (h2o_timeout_is_linked(&l->timeout))
        h2o_timeout_unlink(&l->timeout);
    h2o_linklist_unlink(&l->link);
    h2o_socket_close(l->sock);
    w->nlingering--;
    free(l);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    finish(H2O_STRUCT_FROM_MEMBER(lingerer_t, timeout, entry));
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    lingerer_t *l = sock->data;
    if (err != NULL) {
        finish(l); /* the client closed (or reset): done */
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

void ipd_worker_linger_start(ipd_worker_t *w, int fd)
{
    /* h2o's writes are in the kernel by now: the FIN goes out after the answer. */
    lingerer_t *l = calloc(1, sizeof(*l));
    if (l == NULL || shutdown(fd, SHUT_WR) != 0) {
        free(l);
        close(fd);
        w->nlingering--;
        return;
    }
    l->w = w;
    l->sock = h2o_evloop_socket_create(w->loop, fd, 0);
    l->sock->data = l;
    l->timeout.cb = on_timeout;
    h2o_timeout_link(w->loop, &w->linger_timeout, &l->timeout);
    h2o_linklist_insert(&w->lingering, &l->link);
    h2o_socket_read_start(l->sock, on_read);
}

void ipd_worker_linger_dispose(ipd_worker_t *w)
{
    while (!h2o_linklist_is_empty(&w->lingering))
        finish(H2O_STRUCT_FROM_MEMBER(lingerer_t, link, w->lingering.next));
}
