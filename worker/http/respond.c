#include "worker/http/http.h"

#include <string.h>

#include "shared/log.h"

/* A response whose body lives in a shared document: holds one reference until the request is disposed. */
struct doc_response {
    h2o_generator_t super;
    ipd_worker_doc_t *doc;
};

static void on_generator_idle(h2o_generator_t *self, h2o_req_t *req)
{
    /* The whole body is handed over in one final send: there is nothing to proceed or stop. */
    (void)self;
    (void)req;
}

static void on_doc_response_dispose(void *p)
{
    ipd_worker_doc_release(((struct doc_response *)p)->doc);
}

static void set_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
    h2o_set_header(&req->pool, &req->res.headers, token, value, len, 1);
}

/* Sends `len` bytes at `body` (kept valid by the caller until the request is disposed). */
static void send_final(h2o_req_t *req, int status, const char *body, size_t len, h2o_generator_t *gen)
{
    static h2o_generator_t plain = {on_generator_idle, on_generator_idle};
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    /*
     * A draining worker ends HTTP/1.1 connections after the answer in flight: h2o closes only
     * the connections idle when the shutdown was requested, and a kept-alive one would hold the
     * drain until its idle timeout. (HTTP/2 connections got GOAWAY and close by themselves.)
     */
    ipd_worker_conn_t *conn = ipd_worker_conn_of(req);
    if (conn != NULL && conn->w->draining && req->version < 0x200)
        req->http1_is_persistent = 0;
    req->res.status = status;
    req->res.reason = ipd_http_reason(status);
    /* A 304 must not claim a length of 0 for the representation it stands for. */
    req->res.content_length = status == 304 ? SIZE_MAX : len;
    h2o_start_response(req, gen != NULL ? gen : &plain);
    h2o_send(req, &buf, len != 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
}

static int header_has(h2o_req_t *req, const h2o_token_t *token, int (*pred)(const char *, size_t))
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i >= 0 && pred(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

void ipd_worker_send_doc(h2o_req_t *req, int status, ipd_worker_doc_t *doc)
{
    int format = header_has(req, H2O_TOKEN_ACCEPT, ipd_http_wants_msgpack) ? IPD_DOC_MSGPACK : IPD_DOC_JSON;
    int encoding = header_has(req, H2O_TOKEN_ACCEPT_ENCODING, ipd_http_accepts_gzip) ? IPD_DOC_GZIP : IPD_DOC_IDENTITY;
    const ipd_buf_t *body = ipd_worker_doc_body(doc, &format, &encoding);

    if (format == IPD_DOC_MSGPACK)
        set_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/msgpack"));
    else
        set_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json; charset=utf-8"));
    if (encoding == IPD_DOC_GZIP)
        set_header(req, H2O_TOKEN_CONTENT_ENCODING, H2O_STRLIT("gzip"));
    if (doc->etag[0] != '\0')
        set_header(req, H2O_TOKEN_ETAG, doc->etag, strlen(doc->etag));
    set_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Accept, Accept-Encoding"));
    set_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));

    struct doc_response *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_doc_response_dispose);
    r->super.proceed = on_generator_idle;
    r->super.stop = on_generator_idle;
    r->doc = doc;
    doc->refs++;
    send_final(req, status, body->data, body->len, &r->super);
}

void ipd_worker_send_json(h2o_req_t *req, int status, const char *json, size_t len)
{
    ipd_worker_doc_t *doc = ipd_worker_doc_create();
    if (doc == NULL || ipd_buf_append(&doc->body[IPD_DOC_JSON][IPD_DOC_IDENTITY], json, len) != 0) {
        ipd_worker_doc_release(doc);
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        set_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
        send_final(req, 500, oom, sizeof(oom) - 1, NULL);
        return;
    }
    ipd_worker_send_doc(req, status, doc);
    ipd_worker_doc_release(doc);
}

void ipd_worker_send_error(h2o_req_t *req, int status, const char *message)
{
    ipd_buf_t buf;
    ipd_buf_init(&buf);
    if (ipd_http_error_body(&buf, ipd_http_error_code(status), message) != 0) {
        ipd_worker_send_json(req, 500, NULL, 0);
    } else {
        ipd_worker_send_json(req, status, buf.data, buf.len);
    }
    ipd_buf_dispose(&buf);
}

void ipd_worker_reset_stream(h2o_req_t *req)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = 400;
    req->res.reason = "Bad Request";
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

void ipd_worker_send_unavailable(h2o_req_t *req, const char *code, const char *message, int retry_after_s)
{
    ipd_buf_t buf;
    if (retry_after_s > 0) {
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", retry_after_s);
        set_header(req, H2O_TOKEN_RETRY_AFTER, h2o_strdup(&req->pool, v, (size_t)n).base, (size_t)n);
    }
    ipd_buf_init(&buf);
    if (ipd_http_error_body(&buf, code, message) != 0)
        ipd_worker_send_json(req, 500, NULL, 0);
    else
        ipd_worker_send_json(req, 503, buf.data, buf.len);
    ipd_buf_dispose(&buf);
}

void ipd_worker_send_text(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    ipd_buf_t gz;
    ipd_buf_init(&gz);
    set_header(req, H2O_TOKEN_CONTENT_TYPE, content_type, strlen(content_type));
    set_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Accept-Encoding"));
    if (len >= IPD_WORKER_GZIP_MIN && header_has(req, H2O_TOKEN_ACCEPT_ENCODING, ipd_http_accepts_gzip) &&
        ipd_worker_gzip(body, len, 1, &gz) == 0) {
        set_header(req, H2O_TOKEN_CONTENT_ENCODING, H2O_STRLIT("gzip"));
        body = gz.data;
        len = gz.len;
    }
    char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(copy, body, len);
    ipd_buf_dispose(&gz);
    send_final(req, status, copy, len, NULL);
}

int ipd_worker_not_modified(h2o_req_t *req, const char *etag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i < 0 ||
        !ipd_http_etag_match(req->headers.entries[i].value.base, req->headers.entries[i].value.len, etag, strlen(etag)))
        return 0;
    set_header(req, H2O_TOKEN_ETAG, etag, strlen(etag));
    set_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Accept, Accept-Encoding"));
    set_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    send_final(req, 304, NULL, 0, NULL);
    return 1;
}

h2o_iovec_t ipd_worker_query(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return h2o_iovec_init("", 0);
    return h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
}
