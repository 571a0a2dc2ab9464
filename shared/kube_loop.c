#include "proto/error.h"
#include "shared/kube_internal.h"
#include "shared/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define COMPONENT "kube"

uint64_t ipd_kube_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* curl tells us which sockets to watch; we mirror that into the private epoll set. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    ipd_kube_t *k = userp;
    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        /* curl may already have closed it, in which case the kernel dropped it from the set. */
        if (epoll_ctl(k->epfd, EPOLL_CTL_DEL, fd, NULL) != 0 && errno != ENOENT && errno != EBADF)
            ipd_warn(COMPONENT, "epoll_ctl(DEL, %d): %s", fd, strerror(errno));
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(k->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    if (errno == ENOENT && epoll_ctl(k->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    ipd_error(COMPONENT, "epoll_ctl(%d): %s", fd, strerror(errno));
    return -1;
}

/* curl asks to be called back after `ms`; only the timer is set here, never socket_action. */
static int on_curl_timer(CURLM *multi, long ms, void *userp)
{
    ipd_kube_t *k = userp;
    struct itimerspec its = {{0, 0}, {0, 0}};
    (void)multi;
    if (ms == 0)
        its.it_value.tv_nsec = 1; /* zero would disarm */
    else if (ms > 0) {
        its.it_value.tv_sec = ms / 1000;
        its.it_value.tv_nsec = (ms % 1000) * 1000000L;
    }
    if (timerfd_settime(k->tfd, 0, &its, NULL) != 0) {
        ipd_error(COMPONENT, "timerfd_settime: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void ipd_kube_enter(ipd_kube_t *kube)
{
    kube->in_curl++;
}

static void run_deferred(ipd_kube_t *k)
{
    k->running_deferred = 1;
    ipd_kube_req_t *r;
    while ((r = k->deferred) != NULL) {
        k->deferred = r->defer_next;
        r->defer_next = NULL;
        r->deferred = 0;
        if (r->cancelled) {
            if (r->added) {
                ipd_kube_enter(k);
                curl_multi_remove_handle(k->multi, r->easy);
                ipd_kube_leave(k);
            }
            ipd_kube_req_free(r);
            continue;
        }
        if (!r->added) {
            ipd_kube_attach(r);
            continue;
        }
        if (r->resume_pending) {
            r->resume_pending = 0;
            r->paused = 0;
            ipd_kube_enter(k);
            CURLcode cc = curl_easy_pause(r->easy, CURLPAUSE_CONT);
            ipd_kube_leave(k);
            if (cc != CURLE_OK)
                ipd_warn(COMPONENT, "curl_easy_pause(CONT): %s", curl_easy_strerror(cc));
        }
    }
    k->running_deferred = 0;
}

void ipd_kube_leave(ipd_kube_t *kube)
{
    if (--kube->in_curl == 0 && !kube->running_deferred)
        run_deferred(kube);
}

void ipd_kube_defer(ipd_kube_req_t *req)
{
    if (req->deferred)
        return;
    req->deferred = 1;
    req->defer_next = req->kube->deferred;
    req->kube->deferred = req;
}

/* Finishes every transfer curl reports done. Runs outside curl, so callbacks may add and remove. */
static void drain(ipd_kube_t *k)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(k->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        ipd_kube_req_t *req = NULL;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        ipd_kube_enter(k);
        CURLMcode mc = curl_multi_remove_handle(k->multi, m->easy_handle);
        ipd_kube_leave(k);
        if (mc != CURLM_OK)
            ipd_warn(COMPONENT, "curl_multi_remove_handle: %s", curl_multi_strerror(mc));
        req->added = 0;
        if (req->cancelled)
            ipd_kube_req_free(req);
        else
            ipd_kube_req_finish(req, cc);
    }
}

void ipd_kube_on_epoll_ready(ipd_kube_t *kube)
{
    struct epoll_event ev[32];
    int n = epoll_wait(kube->epfd, ev, 32, 0);
    if (n < 0 && errno != EINTR)
        ipd_error(COMPONENT, "epoll_wait: %s", strerror(errno));
    int retry_due = 0;
    ipd_kube_enter(kube);
    for (int i = 0; i < n; i++) {
        int flags = 0, running;
        if (ev[i].data.fd == kube->retry_tfd) {
            retry_due = 1; /* our own timer, not one of curl's sockets */
            continue;
        }
        if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
            flags |= CURL_CSELECT_IN;
        if (ev[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (ev[i].events & EPOLLERR)
            flags |= CURL_CSELECT_ERR;
        CURLMcode mc = curl_multi_socket_action(kube->multi, ev[i].data.fd, flags, &running);
        if (mc != CURLM_OK)
            ipd_warn(COMPONENT, "curl_multi_socket_action(%d): %s", ev[i].data.fd, curl_multi_strerror(mc));
    }
    ipd_kube_leave(kube);
    drain(kube);
    if (retry_due)
        ipd_kube_run_retries(kube);
}

void ipd_kube_on_timer_ready(ipd_kube_t *kube)
{
    uint64_t ticks;
    if (read(kube->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN && errno != EINTR)
        ipd_error(COMPONENT, "read(timerfd): %s", strerror(errno));
    int running;
    ipd_kube_enter(kube);
    CURLMcode mc = curl_multi_socket_action(kube->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    ipd_kube_leave(kube);
    if (mc != CURLM_OK)
        ipd_warn(COMPONENT, "curl_multi_socket_action(timeout): %s", curl_multi_strerror(mc));
    drain(kube);
}

static int init_curl(void)
{
    /* curl_global_init is reference counted (and thread safe since 7.84): one call per client. */
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        ipd_error(COMPONENT, "curl_global_init: %s", curl_easy_strerror(cc));
        return -ENOMEM;
    }
    return 0;
}

static void set_defaults(ipd_kube_options_t *o, const ipd_kube_options_t *in)
{
    if (in != NULL)
        *o = *in;
    if (o->max_body == 0)
        o->max_body = IPD_KUBE_DEFAULT_MAX_BODY;
    if (o->max_line == 0)
        o->max_line = IPD_KUBE_DEFAULT_MAX_LINE;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = IPD_KUBE_DEFAULT_CONNECT_TIMEOUT_MS;
    if (o->timeout_ms <= 0)
        o->timeout_ms = IPD_KUBE_DEFAULT_TIMEOUT_MS;
    if (o->retries == 0)
        o->retries = IPD_KUBE_DEFAULT_RETRIES;
    else if (o->retries < 0)
        o->retries = 0; /* never */
    if (o->retry_max_wait_ms <= 0)
        o->retry_max_wait_ms = IPD_KUBE_DEFAULT_RETRY_MAX_WAIT_MS;
}

int ipd_kube_create(ipd_kube_t **out, ipd_kube_config_t *cfg, const ipd_kube_options_t *opts)
{
    if (cfg == NULL || cfg->server == NULL)
        return IPD_EINVAL;
    int rc = init_curl();
    if (rc != 0)
        return rc;
    ipd_kube_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        rc = -ENOMEM;
        goto undo_global;
    }
    set_defaults(&k->opts, opts);
    if ((k->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        rc = -errno;
        ipd_error(COMPONENT, "epoll_create1: %s", strerror(errno));
        goto undo_alloc;
    }
    if ((k->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        rc = -errno;
        ipd_error(COMPONENT, "timerfd_create: %s", strerror(errno));
        goto undo_epoll;
    }
    struct epoll_event rev = {.events = EPOLLIN};
    if ((k->retry_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        rc = -errno;
        ipd_error(COMPONENT, "timerfd_create: %s", strerror(errno));
        goto undo_timer;
    }
    rev.data.fd = k->retry_tfd;
    if (epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->retry_tfd, &rev) != 0) {
        rc = -errno;
        ipd_error(COMPONENT, "epoll_ctl(ADD, retry timerfd): %s", strerror(errno));
        goto undo_retry_timer;
    }
    if ((k->multi = curl_multi_init()) == NULL) {
        rc = -ENOMEM;
        ipd_error(COMPONENT, "curl_multi_init failed");
        goto undo_retry_timer;
    }
    if (curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k) != CURLM_OK ||
        curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k) != CURLM_OK) {
        rc = -EINVAL;
        ipd_error(COMPONENT, "curl_multi_setopt failed");
        goto undo_multi;
    }
    k->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    *out = k;
    return 0;

undo_multi:
    curl_multi_cleanup(k->multi);
undo_retry_timer:
    close(k->retry_tfd);
undo_timer:
    close(k->tfd);
undo_epoll:
    close(k->epfd);
undo_alloc:
    free(k);
undo_global:
    curl_global_cleanup();
    return rc;
}

void ipd_kube_destroy(ipd_kube_t *kube)
{
    if (kube == NULL)
        return;
    while (kube->reqs != NULL) {
        ipd_kube_req_t *r = kube->reqs;
        if (r->added)
            curl_multi_remove_handle(kube->multi, r->easy);
        r->added = 0;
        ipd_kube_req_free(r);
    }
    kube->deferred = NULL;
    CURLMcode mc = curl_multi_cleanup(kube->multi);
    if (mc != CURLM_OK)
        ipd_warn(COMPONENT, "curl_multi_cleanup: %s", curl_multi_strerror(mc));
    close(kube->retry_tfd);
    close(kube->tfd);
    close(kube->epfd);
    ipd_kube_config_dispose(&kube->cfg);
    free(kube);
    curl_global_cleanup();
}

int ipd_kube_fds(const ipd_kube_t *kube, int *epfd, int *timerfd)
{
    *epfd = kube->epfd;
    *timerfd = kube->tfd;
    return 0;
}

const ipd_kube_config_t *ipd_kube_config(const ipd_kube_t *kube)
{
    return &kube->cfg;
}

size_t ipd_kube_pending(const ipd_kube_t *kube)
{
    return kube->nreqs;
}
