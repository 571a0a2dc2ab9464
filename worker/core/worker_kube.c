#include "worker/core/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/kube_profile.h"
#include "shared/log.h"

static void on_kube_epoll(h2o_socket_t *sock, const char *err)
{
    (void)err;
    ipd_kube_on_epoll_ready(((ipd_worker_t *)sock->data)->kube);
}

static void on_kube_timer(h2o_socket_t *sock, const char *err)
{
    (void)err;
    ipd_kube_on_timer_ready(((ipd_worker_t *)sock->data)->kube);
}

/* Wraps a dup() of one of the client's fds, so that closing the h2o socket never closes the client's own fd. */
static h2o_socket_t *watch_fd(ipd_worker_t *w, int fd, h2o_socket_cb cb)
{
    int copy = dup(fd);
    if (copy < 0)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(w->loop, copy, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = w;
    h2o_socket_read_start(sock, cb);
    return sock;
}

void ipd_worker_kube_start(ipd_worker_t *w)
{
    ipd_kube_config_t kc;
    char err[IPD_KUBE_ERRLEN] = "";
    int epfd, timerfd;

    int rc = ipd_kube_profile_load(w->cfg, NULL, &kc, NULL, err, sizeof(err));
    if (rc != 0) {
        snprintf(w->kube_error, sizeof(w->kube_error), "Kubernetes client not configured: %.180s", err);
        ipd_warn("worker", "%s", w->kube_error);
        return;
    }
    ipd_kube_options_t kopts = ipd_kube_profile_options(w->cfg);
    if ((rc = ipd_kube_create(&w->kube, &kc, &kopts)) != 0) {
        ipd_kube_config_dispose(&kc);
        snprintf(w->kube_error, sizeof(w->kube_error), "Kubernetes client: %s", ipd_strerror(rc));
        ipd_warn("worker", "%s", w->kube_error);
        w->kube = NULL;
        return;
    }
    if (ipd_kube_fds(w->kube, &epfd, &timerfd) == 0) {
        w->kube_ep_sock = watch_fd(w, epfd, on_kube_epoll);
        w->kube_timer_sock = watch_fd(w, timerfd, on_kube_timer);
    }
    if (w->kube_ep_sock == NULL || w->kube_timer_sock == NULL) {
        snprintf(w->kube_error, sizeof(w->kube_error), "Kubernetes client: dup: %s", strerror(errno));
        ipd_error("worker", "%s", w->kube_error);
        ipd_worker_kube_stop(w);
    }
}

void ipd_worker_kube_stop(ipd_worker_t *w)
{
    if (w->kube_ep_sock != NULL)
        h2o_socket_close(w->kube_ep_sock);
    if (w->kube_timer_sock != NULL)
        h2o_socket_close(w->kube_timer_sock);
    w->kube_ep_sock = w->kube_timer_sock = NULL;
    ipd_kube_destroy(w->kube);
    w->kube = NULL;
}
