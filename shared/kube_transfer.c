#include "proto/error.h"
#include "shared/kube_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Line buffers larger than this are released once their line is delivered. */
#define LINE_BUF_KEEP (256u << 10)

static int is_2xx(long status)
{
    return status >= 200 && status < 300;
}

/* Appends n bytes, keeping a NUL after them; the buffer never holds more than `limit` bytes. */
static int buf_append(struct kube_buf *b, const char *p, size_t n, size_t limit)
{
    if (n > limit - b->len)
        return IPD_ETOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > limit + 1)
            cap = limit + 1;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return -ENOMEM;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void set_fail(ipd_kube_req_t *req, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_fail(ipd_kube_req_t *req, int rc, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    req->fail = rc;
    snprintf(req->msg, sizeof(req->msg), "%s %s: %s", req->method, req->url, what);
}

static void emit_line(ipd_kube_req_t *req, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    req->on_line(req, p, n, req->data);
}

/* Splits a chunk into lines; the partial tail waits in req->buf. Returns 0, or -1 to abort. */
static int feed_lines(ipd_kube_req_t *req, const char *p, size_t len)
{
    size_t max = req->kube->opts.max_line;
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl != NULL ? (size_t)(nl - p) : len;
        if (take > max - req->buf.len) {
            set_fail(req, IPD_ETOOBIG, "line exceeds %zu bytes", max);
            return -1;
        }
        if (nl == NULL)
            break;
        if (req->buf.len == 0) {
            emit_line(req, p, take); /* the whole line is in this chunk: no copy */
        } else {
            if (buf_append(&req->buf, p, take, max) != 0) {
                set_fail(req, -ENOMEM, "out of memory");
                return -1;
            }
            emit_line(req, req->buf.data, req->buf.len);
            req->buf.len = 0;
            if (req->buf.cap > LINE_BUF_KEEP) { /* one huge event must not pin its buffer for the watch's life */
                free(req->buf.data);
                req->buf = (struct kube_buf){0};
            }
        }
        if (req->cancelled)
            return -1;
        p += take + 1;
        len -= take + 1;
    }
    if (len > 0 && buf_append(&req->buf, p, len, max) != 0) {
        set_fail(req, -ENOMEM, "out of memory");
        return -1;
    }
    return 0;
}

size_t ipd_kube_on_body(char *p, size_t size, size_t nmemb, void *userp)
{
    ipd_kube_req_t *req = userp;
    size_t len = size * nmemb;
    if (req->cancelled)
        return CURL_WRITEFUNC_ERROR;
    if (req->status == 0 && curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status) != CURLE_OK)
        req->status = 0;
    if (req->kind != KUBE_REQ_ONESHOT && !is_2xx(req->status)) {
        size_t room = IPD_KUBE_MAX_ERROR_BODY - req->buf.len;
        (void)buf_append(&req->buf, p, len < room ? len : room, IPD_KUBE_MAX_ERROR_BODY); /* truncates */
        return len;
    }
    int rc = 0;
    switch (req->kind) {
    case KUBE_REQ_ONESHOT:
        if ((rc = buf_append(&req->buf, p, len, req->kube->opts.max_body)) == IPD_ETOOBIG)
            set_fail(req, rc, "response body exceeds %zu bytes", req->kube->opts.max_body);
        else if (rc != 0)
            set_fail(req, rc, "out of memory");
        break;
    case KUBE_REQ_LINES:
        rc = feed_lines(req, p, len);
        break;
    case KUBE_REQ_BYTES:
        if (req->on_data(req, p, len, req->data) == IPD_KUBE_DATA_PAUSE && !req->cancelled) {
            req->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        rc = req->cancelled ? -1 : 0;
        break;
    }
    if (rc != 0)
        return CURL_WRITEFUNC_ERROR;
    req->rx_bytes += len;
    req->rx_time_ms = ipd_kube_now_ms();
    return len;
}

static int map_curl_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return -EPROTO;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

void ipd_kube_req_finish(ipd_kube_req_t *req, CURLcode cc)
{
    ipd_kube_result_t res = {.status = req->status};
    req->finishing = 1;
    if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &res.status) != CURLE_OK)
        res.status = req->status;
    curl_off_t retry_after = 0;
    if ((res.status == 429 || res.status == 503) &&
        curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
        res.retry_after_ms = (uint64_t)retry_after * 1000;
    if (req->fail == 0 && cc == CURLE_OK && ipd_kube_retry_later(req, res.status, res.retry_after_ms))
        return; /* sent again later; on_done waits for the answer that ends it */
    res.attempts = req->attempts;
    if (req->fail != 0) {
        res.error = req->fail;
    } else if (cc != CURLE_OK) {
        res.error = map_curl_error(cc);
        snprintf(req->msg, sizeof(req->msg), "%s %s: %s", req->method, req->url,
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(cc));
    } else if (req->kind != KUBE_REQ_ONESHOT && !is_2xx(res.status)) {
        res.error = IPD_EREMOTE;
        snprintf(req->msg, sizeof(req->msg), "%s %s: HTTP %ld", req->method, req->url, res.status);
    } else if (req->kind == KUBE_REQ_LINES && req->buf.len > 0) {
        emit_line(req, req->buf.data, req->buf.len); /* a last line without '\n' */
    }
    if (res.error != 0)
        res.message = req->msg;
    if (req->kind == KUBE_REQ_ONESHOT || res.error == IPD_EREMOTE) {
        res.body = req->buf.data;
        res.body_len = req->buf.len;
    }
    if (!req->cancelled)
        req->on_done(req, &res, req->data);
    ipd_kube_req_free(req);
}

void ipd_kube_req_free(ipd_kube_req_t *req)
{
    ipd_kube_t *k = req->kube;
    ipd_kube_unwait(req);
    if (req->prev != NULL)
        req->prev->next = req->next;
    else if (k->reqs == req)
        k->reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    k->nreqs--;
    if (req->easy != NULL)
        curl_easy_cleanup(req->easy);
    for (struct curl_slist *h = req->headers; h != NULL; h = h->next)
        explicit_bzero(h->data, strlen(h->data)); /* the Authorization header carries the token */
    curl_slist_free_all(req->headers);
    free(req->url);
    free(req->method);
    free(req->body);
    free(req->buf.data);
    free(req);
}
