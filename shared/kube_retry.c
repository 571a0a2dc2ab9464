/*
 * Retries of one-shot requests that the apiserver answered 429 or 503 with Retry-After (the
 * contract is in kube_client.h, "Retries"). A waiting request keeps its easy handle, body and
 * headers; it sits on the client's `waiting` list, out of the multi handle, until the retry
 * timer (a timerfd in the client's own epoll set, so the host loop needs nothing new) says its
 * time has come, and is then added to the multi handle again as it was first.
 */
#include "proto/error.h"
#include "shared/kube_internal.h"
#include "shared/log.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define COMPONENT "kube"

/* Arms the retry timer for the earliest waiting request, or disarms it when none waits. */
static void arm(ipd_kube_t *k)
{
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (k->waiting != NULL) {
        uint64_t at = UINT64_MAX, now = ipd_kube_now_ms();
        for (const ipd_kube_req_t *r = k->waiting; r != NULL; r = r->wait_next)
            at = r->retry_at_ms < at ? r->retry_at_ms : at;
        uint64_t ms = at > now ? at - now : 0;
        its.it_value.tv_sec = (time_t)(ms / 1000);
        its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
        if (ms == 0)
            its.it_value.tv_nsec = 1; /* zero would disarm */
    }
    if (timerfd_settime(k->retry_tfd, 0, &its, NULL) != 0)
        ipd_error(COMPONENT, "timerfd_settime(retry): %s", strerror(errno));
}

int ipd_kube_retry_later(ipd_kube_req_t *req, long status, uint64_t retry_after_ms)
{
    ipd_kube_t *k = req->kube;
    if (!req->retryable || req->cancelled || (status != 429 && status != 503) || retry_after_ms == 0 ||
        req->attempts > (unsigned)k->opts.retries)
        return 0;
    uint64_t wait =
        retry_after_ms < (uint64_t)k->opts.retry_max_wait_ms ? retry_after_ms : (uint64_t)k->opts.retry_max_wait_ms;
    ipd_info(COMPONENT, "%s %s: HTTP %ld, sending it again in %llu ms as Retry-After asks (retry %u of %d)",
             req->method, req->url, status, (unsigned long long)wait, req->attempts, k->opts.retries);
    req->finishing = 0;
    req->status = 0;
    req->buf.len = 0;
    req->rx_bytes = 0;
    req->errbuf[0] = '\0';
    req->msg[0] = '\0';
    req->retry_at_ms = ipd_kube_now_ms() + wait;
    req->waiting = 1;
    req->wait_prev = NULL;
    req->wait_next = k->waiting;
    if (k->waiting != NULL)
        k->waiting->wait_prev = req;
    k->waiting = req;
    k->retries++;
    k->retries_429 += status == 429;
    arm(k);
    return 1;
}

void ipd_kube_unwait(ipd_kube_req_t *req)
{
    if (!req->waiting)
        return;
    ipd_kube_t *k = req->kube;
    if (req->wait_prev != NULL)
        req->wait_prev->wait_next = req->wait_next;
    else
        k->waiting = req->wait_next;
    if (req->wait_next != NULL)
        req->wait_next->wait_prev = req->wait_prev;
    req->wait_prev = req->wait_next = NULL;
    req->waiting = 0;
}

void ipd_kube_run_retries(ipd_kube_t *k)
{
    uint64_t ticks;
    if (read(k->retry_tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN && errno != EINTR)
        ipd_error(COMPONENT, "read(retry timerfd): %s", strerror(errno));
    uint64_t now = ipd_kube_now_ms();
    /* One at a time from the list head: an attach that fails calls on_done, which may cancel others. */
    for (;;) {
        ipd_kube_req_t *due = NULL;
        for (ipd_kube_req_t *r = k->waiting; r != NULL && due == NULL; r = r->wait_next)
            if (r->retry_at_ms <= now)
                due = r;
        if (due == NULL)
            break;
        ipd_kube_unwait(due);
        due->attempts++;
        due->rx_time_ms = now;
        ipd_kube_attach(due);
    }
    arm(k);
}

uint64_t ipd_kube_retries(const ipd_kube_t *kube)
{
    return kube->retries;
}

uint64_t ipd_kube_retries_429(const ipd_kube_t *kube)
{
    return kube->retries_429;
}
