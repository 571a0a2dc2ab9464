/*
 * Private to the Kubernetes client: kube_loop.c drives curl, kube_request.c builds requests,
 * kube_transfer.c receives and finishes them. Not part of the public API.
 *
 * Re-entrancy: libcurl forbids adding and removing easy handles from inside its callbacks, and
 * our callbacks may want to do both. `in_curl` counts nested calls into curl; while it is
 * non-zero, start, cancel and resume only mark the request and push it on the `deferred` list,
 * which ipd_kube_leave() works off once the outermost curl call has returned.
 */
#ifndef IPD_SHARED_KUBE_INTERNAL_H
#define IPD_SHARED_KUBE_INTERNAL_H

#include "shared/kube_client.h"

#include <curl/curl.h>

enum kube_req_kind {
    KUBE_REQ_ONESHOT,
    KUBE_REQ_LINES,
    KUBE_REQ_BYTES,
};

/** A growable byte buffer. */
struct kube_buf {
    char *data;
    size_t len;
    size_t cap;
};

struct ipd_kube_req {
    ipd_kube_t *kube;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *method;
    char *body;
    enum kube_req_kind kind;
    ipd_kube_done_cb on_done;
    ipd_kube_line_cb on_line;
    ipd_kube_data_cb on_data;
    void *data;
    /** Body (one-shot), partial line (lines), or error body (non-2xx stream). */
    struct kube_buf buf;
    /** Set when we aborted the transfer ourselves (IPD_ETOOBIG, -ENOMEM); `msg` says why. */
    int fail;
    /** HTTP status once known from inside the write callback; 0 before the first body byte. */
    long status;
    uint64_t rx_bytes;
    uint64_t rx_time_ms;
    /** In the multi handle. */
    unsigned added : 1;
    /** Cancelled: no callback may run; freed by whoever holds it next. */
    unsigned cancelled : 1;
    /** on_data returned IPD_KUBE_DATA_PAUSE and no resume happened since. */
    unsigned paused : 1;
    /** A resume was asked for while inside curl. */
    unsigned resume_pending : 1;
    /** On the client's deferred list. */
    unsigned deferred : 1;
    /** Being finished (trailing line or on_done running): cancel only marks it. */
    unsigned finishing : 1;
    /** One-shot that may be sent again after a 429 or 503 with Retry-After. */
    unsigned retryable : 1;
    /** Times sent so far. */
    unsigned attempts;
    /** Waiting for a retry (on the client's `waiting` list): CLOCK_MONOTONIC ms when it is sent again. */
    uint64_t retry_at_ms;
    ipd_kube_req_t *prev, *next;
    /** On the client's `waiting` list. */
    ipd_kube_req_t *wait_prev, *wait_next;
    unsigned waiting : 1;
    ipd_kube_req_t *defer_next;
    char errbuf[CURL_ERROR_SIZE];
    char msg[512];
};

struct ipd_kube {
    CURLM *multi;
    int epfd;
    int tfd;
    ipd_kube_config_t cfg;
    ipd_kube_options_t opts;
    /** All live requests, to cancel them on destroy. */
    ipd_kube_req_t *reqs;
    size_t nreqs;
    ipd_kube_req_t *deferred;
    unsigned in_curl;
    int running_deferred;
    /** Timerfd in `epfd` (not one of curl's sockets): the earliest retry of the `waiting` requests. */
    int retry_tfd;
    /** One-shots waiting to be sent again after a 429 or 503 with Retry-After. */
    ipd_kube_req_t *waiting;
    uint64_t retries;
    uint64_t retries_429; /* of which after a 429 (the rest after a 503) */
};

/** Marks entry into curl. */
void ipd_kube_enter(ipd_kube_t *kube);
/** Marks the return from curl; the outermost return works off the deferred list. */
void ipd_kube_leave(ipd_kube_t *kube);
/** Pushes a request on the deferred list (once). */
void ipd_kube_defer(ipd_kube_req_t *req);
/** Adds the easy handle of a request to the multi handle; on failure finishes it with the error. */
void ipd_kube_attach(ipd_kube_req_t *req);
/** Unlinks and frees a request (its easy handle must not be in the multi handle). */
void ipd_kube_req_free(ipd_kube_req_t *req);
/** Finishes a request curl reported done: builds the result, calls back unless cancelled, frees it. */
void ipd_kube_req_finish(ipd_kube_req_t *req, CURLcode cc);
/** CURLOPT_WRITEFUNCTION of every request: routes body bytes by request kind. */
size_t ipd_kube_on_body(char *p, size_t size, size_t nmemb, void *userp);
/**
 * Called by ipd_kube_req_finish: if the answer asks for a retry the request may still make,
 * puts it on the waiting list and returns 1 (on_done is not called); else 0.
 */
int ipd_kube_retry_later(ipd_kube_req_t *req, long status, uint64_t retry_after_ms);
/** Takes a request off the waiting list, if it is on it. */
void ipd_kube_unwait(ipd_kube_req_t *req);
/** Sends again the waiting requests whose time has come, and arms the retry timer for the rest. */
void ipd_kube_run_retries(ipd_kube_t *kube);
/** Returns CLOCK_MONOTONIC in milliseconds. */
uint64_t ipd_kube_now_ms(void);

#endif
