#include "worker/http/http.h"

#include <string.h>

/*
 * Errors that h2o answers itself, before any handler runs (a body over max_request_entity_size,
 * broken chunked encoding, a malformed request line), are plain text bound to the host's
 * fallback path. This filter, on that path only, turns them into the API's JSON error body,
 * keeping h2o's text as the message.
 */

#define TEXT_MAX 200

struct json_error_stream {
    h2o_ostream_t super;
    size_t len;
    char text[TEXT_MAX];
};

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    struct json_error_stream *s = (struct json_error_stream *)self;
    for (size_t i = 0; i < bufcnt; i++) {
        size_t n = bufs[i].len < TEXT_MAX - 1 - s->len ? bufs[i].len : TEXT_MAX - 1 - s->len;
        memcpy(s->text + s->len, bufs[i].base, n);
        s->len += n;
    }
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    while (s->len > 0 && (s->text[s->len - 1] == '\n' || s->text[s->len - 1] == '\r'))
        s->len--;
    s->text[s->len] = '\0';
    ipd_buf_t body;
    ipd_buf_init(&body);
    h2o_iovec_t out = h2o_iovec_init(NULL, 0);
    if (ipd_http_error_body(&body, ipd_http_error_code(req->res.status), s->text) == 0)
        out = h2o_strdup(&req->pool, body.data, body.len);
    ipd_buf_dispose(&body);
    h2o_ostream_send_next(self, req, &out, out.len != 0 ? 1 : 0, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status >= 400) {
        ipd_worker_conn_t *conn;
        if (req->version < 0x200 && !req->http1_is_persistent && (conn = ipd_worker_conn_of(req)) != NULL)
            ipd_worker_linger_arm(conn); /* h2o closes after this answer, maybe with the body unread */
        struct json_error_stream *s = (struct json_error_stream *)h2o_add_ostream(req, sizeof(*s), slot);
        s->super.do_send = on_send;
        s->len = 0;
        slot = &s->super.next;
        req->res.content_length = SIZE_MAX; /* the JSON length is known only once h2o's text has been seen */
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
    }
    h2o_setup_next_ostream(req, slot);
}

void ipd_worker_errors_register(h2o_hostconf_t *host)
{
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream;
}
