#include "proto/error.h"
#include "shared/kube_internal.h"
#include "shared/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "kube"

#ifndef IPD_VERSION
#define IPD_VERSION "0"
#endif

/* Sets an option unless an earlier one failed; the first failure wins. */
#define SETOPT(cc, e, opt, val)                                                                                        \
    do {                                                                                                               \
        if ((cc) == CURLE_OK)                                                                                          \
            (cc) = curl_easy_setopt((e), (opt), (val));                                                                \
    } while (0)

static CURLcode setup_tls(ipd_kube_req_t *req)
{
    const ipd_kube_config_t *cfg = &req->kube->cfg;
    CURL *e = req->easy;
    CURLcode cc = CURLE_OK;
    /* The blobs belong to the client's profile, which outlives every request: no copy needed. */
    struct curl_blob ca = {cfg->ca_data.data, cfg->ca_data.len, CURL_BLOB_NOCOPY};
    struct curl_blob cert = {cfg->client_cert_data.data, cfg->client_cert_data.len, CURL_BLOB_NOCOPY};
    struct curl_blob key = {cfg->client_key_data.data, cfg->client_key_data.len, CURL_BLOB_NOCOPY};
    SETOPT(cc, e, CURLOPT_SSL_VERIFYPEER, cfg->insecure_skip_tls_verify ? 0L : 1L);
    SETOPT(cc, e, CURLOPT_SSL_VERIFYHOST, cfg->insecure_skip_tls_verify ? 0L : 2L);
    if (cfg->ca_file != NULL)
        SETOPT(cc, e, CURLOPT_CAINFO, cfg->ca_file);
    else if (cfg->ca_data.data != NULL)
        SETOPT(cc, e, CURLOPT_CAINFO_BLOB, &ca);
    if (cfg->client_cert_file != NULL)
        SETOPT(cc, e, CURLOPT_SSLCERT, cfg->client_cert_file);
    else if (cfg->client_cert_data.data != NULL)
        SETOPT(cc, e, CURLOPT_SSLCERT_BLOB, &cert);
    if (cfg->client_key_file != NULL)
        SETOPT(cc, e, CURLOPT_SSLKEY, cfg->client_key_file);
    else if (cfg->client_key_data.data != NULL)
        SETOPT(cc, e, CURLOPT_SSLKEY_BLOB, &key);
    if (cfg->client_cert_file != NULL || cfg->client_cert_data.data != NULL) {
        SETOPT(cc, e, CURLOPT_SSLCERTTYPE, "PEM");
        SETOPT(cc, e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return cc;
}

static CURLcode setup_method(ipd_kube_req_t *req, size_t body_len)
{
    CURL *e = req->easy;
    CURLcode cc = CURLE_OK;
    if (strcmp(req->method, "POST") == 0)
        SETOPT(cc, e, CURLOPT_POST, 1L);
    else if (strcmp(req->method, "GET") != 0)
        SETOPT(cc, e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body != NULL || strcmp(req->method, "POST") == 0) {
        SETOPT(cc, e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SETOPT(cc, e, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
    }
    return cc;
}

static int setup_easy(ipd_kube_req_t *req, const ipd_kube_req_spec_t *spec)
{
    const ipd_kube_options_t *o = &req->kube->opts;
    CURL *e = req->easy;
    CURLcode cc = CURLE_OK;
    SETOPT(cc, e, CURLOPT_URL, req->url);
    SETOPT(cc, e, CURLOPT_PRIVATE, req);
    SETOPT(cc, e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(cc, e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(cc, e, CURLOPT_ERRORBUFFER, req->errbuf);
    SETOPT(cc, e, CURLOPT_WRITEFUNCTION, ipd_kube_on_body);
    SETOPT(cc, e, CURLOPT_WRITEDATA, req);
    SETOPT(cc, e, CURLOPT_HTTPHEADER, req->headers);
    SETOPT(cc, e, CURLOPT_USERAGENT, "imgpulld/" IPD_VERSION);
    SETOPT(cc, e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SETOPT(cc, e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(cc, e, CURLOPT_TCP_KEEPIDLE, 30L);
    SETOPT(cc, e, CURLOPT_TCP_KEEPINTVL, 10L);
    if (req->kind == KUBE_REQ_ONESHOT) {
        long timeout = spec->timeout_ms == 0 ? o->timeout_ms : spec->timeout_ms < 0 ? 0 : spec->timeout_ms;
        SETOPT(cc, e, CURLOPT_TIMEOUT_MS, timeout);
        SETOPT(cc, e, CURLOPT_ACCEPT_ENCODING, "");
    } else {
        SETOPT(cc, e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (cc == CURLE_OK)
        cc = setup_method(req, spec->body_len);
    if (cc == CURLE_OK)
        cc = setup_tls(req);
    if (cc != CURLE_OK) {
        ipd_error(COMPONENT, "curl_easy_setopt(%s): %s", req->url, curl_easy_strerror(cc));
        return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : IPD_EINVAL;
    }
    return 0;
}

/* Appends "name: prefix value"; an empty value ("name:") tells curl to drop a header it would add itself. */
static int add_header(ipd_kube_req_t *req, const char *name, const char *prefix, const char *value)
{
    char line[8192];
    int n = snprintf(line, sizeof(line), "%s:%s%s%s", name, value[0] ? " " : "", prefix, value);
    struct curl_slist *l = n < 0 || (size_t)n >= sizeof(line) ? NULL : curl_slist_append(req->headers, line);
    explicit_bzero(line, sizeof(line));
    if (l == NULL)
        return n < 0 || (size_t)n >= sizeof(line) ? IPD_ETOOBIG : -ENOMEM;
    req->headers = l;
    return 0;
}

static int build_headers(ipd_kube_req_t *req, const ipd_kube_req_spec_t *spec)
{
    char *token = NULL, err[IPD_KUBE_ERRLEN];
    int rc = ipd_kube_config_read_token(&req->kube->cfg, &token, err, sizeof(err));
    if (rc != 0) {
        ipd_warn(COMPONENT, "%s %s: %s", req->method, req->url, err);
        return rc;
    }
    if ((rc = add_header(req, "Accept", "", "application/json, */*")) == 0 &&
        (rc = add_header(req, "Expect", "", "")) == 0 && token != NULL)
        rc = add_header(req, "Authorization", "Bearer ", token);
    if (rc == 0 && spec->body != NULL)
        rc = add_header(req, "Content-Type", "", spec->content_type ? spec->content_type : "application/json");
    ipd_kube_token_free(token);
    return rc;
}

static int valid_spec(const ipd_kube_req_spec_t *s)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    int known = s->method == NULL;
    for (size_t i = 0; !known && i < sizeof(methods) / sizeof(methods[0]); i++)
        known = strcmp(s->method, methods[i]) == 0;
    return known && s->path != NULL && s->path[0] == '/' && s->on_done != NULL &&
           !(s->on_line != NULL && s->on_data != NULL);
}

static ipd_kube_req_t *req_new(ipd_kube_t *k, const ipd_kube_req_spec_t *spec)
{
    ipd_kube_req_t *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->kube = k;
    req->next = k->reqs;
    if (k->reqs != NULL)
        k->reqs->prev = req;
    k->reqs = req;
    k->nreqs++;
    req->kind = spec->on_line ? KUBE_REQ_LINES : spec->on_data ? KUBE_REQ_BYTES : KUBE_REQ_ONESHOT;
    req->on_done = spec->on_done;
    req->on_line = spec->on_line;
    req->on_data = spec->on_data;
    req->data = spec->data;
    req->retryable = req->kind == KUBE_REQ_ONESHOT && !spec->no_retry && k->opts.retries > 0;
    req->attempts = 1;
    req->rx_time_ms = ipd_kube_now_ms();
    if (asprintf(&req->url, "%s%s", k->cfg.server, spec->path) < 0)
        req->url = NULL;
    req->method = strdup(spec->method ? spec->method : "GET");
    if (spec->body != NULL && (req->body = malloc(spec->body_len + 1)) != NULL) {
        memcpy(req->body, spec->body, spec->body_len);
        req->body[spec->body_len] = '\0';
    }
    req->easy = curl_easy_init();
    if (req->url == NULL || req->method == NULL || (spec->body != NULL && req->body == NULL) || req->easy == NULL) {
        ipd_kube_req_free(req);
        return NULL;
    }
    return req;
}

int ipd_kube_start(ipd_kube_t *kube, const ipd_kube_req_spec_t *spec, ipd_kube_req_t **out)
{
    if (!valid_spec(spec))
        return IPD_EINVAL;
    ipd_kube_req_t *req = req_new(kube, spec);
    if (req == NULL) {
        ipd_error(COMPONENT, "starting %s: out of memory", spec->path);
        return -ENOMEM;
    }
    int rc = build_headers(req, spec);
    if (rc == 0)
        rc = setup_easy(req, spec);
    if (rc == 0 && kube->in_curl > 0) {
        ipd_kube_defer(req); /* curl refuses new handles from inside its callbacks */
    } else if (rc == 0) {
        ipd_kube_enter(kube);
        CURLMcode mc = curl_multi_add_handle(kube->multi, req->easy);
        ipd_kube_leave(kube);
        if (mc != CURLM_OK) {
            ipd_error(COMPONENT, "curl_multi_add_handle(%s): %s", req->url, curl_multi_strerror(mc));
            rc = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : IPD_ESTATE;
        }
        req->added = rc == 0;
    }
    if (rc != 0) {
        ipd_kube_req_free(req);
        return rc;
    }
    if (out != NULL)
        *out = req;
    return 0;
}

void ipd_kube_attach(ipd_kube_req_t *req)
{
    ipd_kube_t *k = req->kube;
    ipd_kube_enter(k);
    CURLMcode mc = curl_multi_add_handle(k->multi, req->easy);
    ipd_kube_leave(k);
    if (mc == CURLM_OK) {
        req->added = 1;
        return;
    }
    req->fail = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : IPD_ESTATE;
    snprintf(req->msg, sizeof(req->msg), "%s %s: curl_multi_add_handle: %s", req->method, req->url,
             curl_multi_strerror(mc));
    ipd_kube_req_finish(req, CURLE_OK);
}

void ipd_kube_cancel(ipd_kube_req_t *req)
{
    if (req == NULL || req->cancelled)
        return;
    req->cancelled = 1;
    if (req->finishing)
        return; /* ipd_kube_req_finish frees it */
    ipd_kube_t *k = req->kube;
    if (k->in_curl > 0 || req->deferred) {
        ipd_kube_defer(req);
        return;
    }
    if (req->added) {
        ipd_kube_enter(k);
        CURLMcode mc = curl_multi_remove_handle(k->multi, req->easy);
        ipd_kube_leave(k);
        if (mc != CURLM_OK)
            ipd_warn(COMPONENT, "curl_multi_remove_handle(%s): %s", req->url, curl_multi_strerror(mc));
        req->added = 0;
    }
    ipd_kube_req_free(req);
}

int ipd_kube_resume(ipd_kube_req_t *req)
{
    if (req->kind != KUBE_REQ_BYTES || req->cancelled || req->finishing)
        return IPD_ESTATE;
    if (!req->paused || req->resume_pending)
        return 0;
    ipd_kube_t *k = req->kube;
    if (k->in_curl > 0) {
        req->resume_pending = 1;
        ipd_kube_defer(req);
        return 0;
    }
    req->paused = 0; /* before the call: on_data may run, and pause again, inside it */
    ipd_kube_enter(k);
    CURLcode cc = curl_easy_pause(req->easy, CURLPAUSE_CONT);
    ipd_kube_leave(k);
    if (cc != CURLE_OK)
        ipd_warn(COMPONENT, "curl_easy_pause(CONT): %s", curl_easy_strerror(cc));
    return 0;
}

int ipd_kube_paused(const ipd_kube_req_t *req)
{
    return req->paused;
}

uint64_t ipd_kube_rx_bytes(const ipd_kube_req_t *req)
{
    return req->rx_bytes;
}

uint64_t ipd_kube_rx_time_ms(const ipd_kube_req_t *req)
{
    return req->rx_time_ms;
}

char *ipd_kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}
