#include "worker/internal.h"

#include <string.h>
#include <unistd.h>

#include "proto/http1_framing.h"
#include "proto/http_host.h"
#include "proto/job.h"
#include "worker/rest/dashboard.h"
#include "worker/logs/logs.h"
#include "worker/ws/ws.h"

#define JOBS_PREFIX "/api/v1/images/pull-jobs/"
#define WS_JOB_PREFIX "/ws/image-pull/"

struct route_handler {
    h2o_handler_t super;
    ipd_worker_t *w;
};

struct stats_logger {
    h2o_logger_t super;
    ipd_worker_t *w;
};

static const struct route_def {
    const char *path;
    unsigned read_methods : 1;  /* GET and HEAD */
    unsigned delete_method : 1; /* DELETE (admin) */
    unsigned post_method : 1;   /* POST (admin) */
    unsigned open : 1;          /* no token needed, whatever the listener */
    const char *allow;
} routes[IPD_ROUTE_COUNT] = {
    [IPD_ROUTE_ACTIVE] = {"/api/v1/images/pull-active", 1, 0, 0, 0, "GET, HEAD"},
    [IPD_ROUTE_FAILED] = {"/api/v1/images/pull-failed", 1, 0, 0, 0, "GET, HEAD"},
    [IPD_ROUTE_JOBS] = {"/api/v1/images/pull-jobs", 1, 0, 0, 0, "GET, HEAD"},
    [IPD_ROUTE_JOB] = {NULL, 1, 1, 0, 0, "GET, HEAD, DELETE"},
    [IPD_ROUTE_PULL] = {"/api/v1/images/pull", 0, 0, 1, 0, "POST"},
    [IPD_ROUTE_STATS] = {"/api/v1/stats", 1, 0, 0, 0, "GET, HEAD"},
    [IPD_ROUTE_HEALTHZ] = {"/healthz", 1, 0, 0, 1, "GET, HEAD"},
    [IPD_ROUTE_READYZ] = {"/readyz", 1, 0, 0, 1, "GET, HEAD"},
    [IPD_ROUTE_METRICS] = {"/metrics", 1, 0, 0, 0, "GET, HEAD"},
    [IPD_ROUTE_DASHBOARD] = {"/", 1, 0, 0, 1, "GET, HEAD"},
    [IPD_ROUTE_POD_LOGS] = {"/ws/pod-logs", 1, 0, 0, 0, "GET"},
    [IPD_ROUTE_WS_JOB] = {NULL, 1, 0, 0, 0, "GET"},
    [IPD_ROUTE_WS_ALL] = {"/ws/image-pull-all", 1, 0, 0, 0, "GET"},
    [IPD_ROUTE_OTHER] = {NULL, 0, 0, 0, 0, NULL},
};

/* Whether `path` is `prefix` followed by one id segment; copies the id into `id` (may be NULL). */
static int prefix_id(h2o_iovec_t path, const char *prefix, char *id)
{
    size_t plen = strlen(prefix);
    if (path.len <= plen || memcmp(path.base, prefix, plen) != 0)
        return 0;
    size_t n = path.len - plen;
    if (n >= IPD_JOB_ID_SIZE || memchr(path.base + plen, '/', n) != NULL)
        return -1;
    if (id != NULL) {
        memcpy(id, path.base + plen, n);
        id[n] = '\0';
    }
    return 1;
}

/* Finds the route of a normalized path; for the {id} routes copies the id into `id` (IPD_JOB_ID_SIZE). */
static ipd_worker_route_t classify(h2o_iovec_t path, char *id)
{
    int m = prefix_id(path, JOBS_PREFIX, id);
    if (m == 0 && (m = prefix_id(path, WS_JOB_PREFIX, id)) != 0)
        return m > 0 ? IPD_ROUTE_WS_JOB : IPD_ROUTE_OTHER;
    if (m != 0)
        return m > 0 ? IPD_ROUTE_JOB : IPD_ROUTE_OTHER;
    for (int r = 0; r < IPD_ROUTE_COUNT; r++)
        if (routes[r].path != NULL && h2o_memis(path.base, path.len, routes[r].path, strlen(routes[r].path)))
            return (ipd_worker_route_t)r;
    if (ipd_dashboard_find(path.base, path.len) != NULL)
        return IPD_ROUTE_DASHBOARD; /* the page's script and style sheet */
    return IPD_ROUTE_OTHER;
}

h2o_iovec_t ipd_worker_query(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return h2o_iovec_init("", 0);
    return h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
}

/* A WebSocket handshake without Authorization may carry its token as access_token or in Sec-WebSocket-Protocol. */
static ipd_http_role_t ws_role(ipd_worker_t *w, h2o_req_t *req, int *presented)
{
    char tok[IPD_HTTP_TOKEN_MAX + 1];
    if (req->upgrade.base == NULL)
        return IPD_HTTP_ROLE_NONE;
    h2o_iovec_t q = ipd_worker_query(req);
    ssize_t p = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), -1);
    int n = ipd_http_ws_token(q.base, q.len, p >= 0 ? req->headers.entries[p].value.base : NULL,
                              p >= 0 ? req->headers.entries[p].value.len : 0, tok, sizeof(tok));
    *presented = n != 0;
    ipd_http_role_t role = n > 0 ? ipd_http_tokens_role(&w->tokens, tok, (size_t)n) : IPD_HTTP_ROLE_NONE;
    explicit_bzero(tok, sizeof(tok));
    return role;
}

/*
 * The caller's role: from its bearer token; without one, admin on a loopback listener when no
 * tokens_file is set, loopback_role on a loopback listener when one is, none elsewhere.
 */
static ipd_http_role_t role_of(ipd_worker_t *w, ipd_worker_conn_t *conn, h2o_req_t *req, int *presented)
{
    const char *tok;
    size_t toklen;
    *presented = 0;
    int loopback = conn == NULL || !conn->needs_auth;
    if (loopback && w->cfg->tokens_file[0] == '\0')
        return IPD_HTTP_ROLE_ADMIN;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) {
        ipd_http_role_t role = ws_role(w, req, presented);
        if (*presented || !loopback)
            return role;
        return w->cfg->loopback_role == IPD_ROLE_ADMIN  ? IPD_HTTP_ROLE_ADMIN
               : w->cfg->loopback_role == IPD_ROLE_READ ? IPD_HTTP_ROLE_READ
                                                        : IPD_HTTP_ROLE_NONE;
    }
    *presented = 1;
    if (ipd_http_bearer(req->headers.entries[i].value.base, req->headers.entries[i].value.len, &tok, &toklen) != 0)
        return IPD_HTTP_ROLE_NONE;
    return ipd_http_tokens_role(&w->tokens, tok, toklen);
}

/* The size of the request's header block as sent: request line or pseudo-headers, then each field. */
static size_t header_bytes(const h2o_req_t *req)
{
    size_t n = req->input.method.len + req->input.path.len + req->input.authority.len + 16;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

/*
 * An HTTP/1.x request whose end a proxy in front may see elsewhere (proto/http1_framing.h): the
 * library has read it by its own rule, so the answer is 400 and the connection is closed, since
 * what follows on it cannot be trusted to start a request. The head is read where the library
 * parsed it: at the start of the connection's input, which it consumes only after the answer.
 * Returns 0 to go on, or -1 after answering.
 */
static int check_framing(h2o_req_t *req, ipd_worker_conn_t *conn)
{
    const char *why;
    if (req->version >= 0x200 || conn == NULL || conn->sock->input == NULL ||
        ipd_http1_framing_check(conn->sock->input->bytes, conn->sock->input->size, &why) >= 0)
        return 0;
    ipd_worker_conn_close_soon(conn, req);
    ipd_worker_send_error(req, 400, why);
    return -1;
}

/* This machine's host name, which clients on its network may use and no web page can rebind. */
static const char *own_host_name(void)
{
    static char name[256];
    static int done;
    if (!done) {
        if (gethostname(name, sizeof(name) - 1) != 0)
            name[0] = '\0';
        done = 1;
    }
    return name[0] != '\0' ? name : "localhost";
}

static int listed(const char (*list)[IPD_CONFIG_WEB_NAME_SIZE], size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

static int origin_listed(const ipd_config_t *cfg, const ipd_http_origin_t *o)
{
    for (size_t i = 0; i < cfg->allowed_origins_count; i++) {
        ipd_http_origin_t allowed;
        const char *s = cfg->allowed_origins[i];
        if (ipd_http_origin_parse(s, strlen(s), &allowed) == 0 && allowed.https == o->https &&
            ipd_http_authority_same(&allowed.authority, &o->authority, o->https ? 443 : 80))
            return 1;
    }
    return 0;
}

/*
 * Host and Origin, before anything else looks at the request (docs/operations.md, "Host and
 * Origin"). A Host must be a loopback name, an IP literal or listed in allowed_hosts: a web page
 * whose name was rebound to this address sends its own name and is answered 421. An Origin must
 * be the request's own scheme and authority or listed in allowed_origins: a page elsewhere gets
 * 403 for REST calls and WebSocket upgrades alike. Returns 0 to go on, or -1 after answering.
 */
static int check_site(ipd_worker_t *w, h2o_req_t *req)
{
    const ipd_config_t *cfg = w->cfg;
    h2o_iovec_t host = req->input.authority;
    ipd_http_authority_t a;
    /*
     * HTTP/1.0 without Host (no browser sends that): h2o fills in the host configuration's own
     * authority, which is no name a client reaches this server by.
     */
    int have_host = host.base != NULL && host.len > 0 &&
                    !(req->version < 0x200 && req->hostconf != NULL &&
                      h2o_memis(host.base, host.len, req->hostconf->authority.hostport.base,
                                req->hostconf->authority.hostport.len));
    if (have_host && ipd_http_authority_parse(host.base, host.len, &a) != 0) {
        ipd_worker_send_error(req, 400, "malformed Host header");
        return -1;
    }
    if (have_host && !a.is_ip && !ipd_http_host_is_loopback(&a) && !ipd_http_host_is(&a, own_host_name()) &&
        !listed(cfg->allowed_hosts, cfg->allowed_hosts_count, "*")) {
        size_t i = 0;
        while (i < cfg->allowed_hosts_count && !ipd_http_host_is(&a, cfg->allowed_hosts[i]))
            i++;
        if (i == cfg->allowed_hosts_count) {
            ipd_worker_send_error(req, 421, "this server does not answer for that Host; see allowed_hosts");
            return -1;
        }
    }
    ssize_t oi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (oi < 0 || listed(cfg->allowed_origins, cfg->allowed_origins_count, "*"))
        return 0;
    ipd_http_origin_t o;
    h2o_iovec_t ov = req->headers.entries[oi].value;
    int https = w->ssl != NULL;
    if (ipd_http_origin_parse(ov.base, ov.len, &o) == 0 &&
        ((have_host && o.https == https && ipd_http_authority_same(&o.authority, &a, https ? 443 : 80)) ||
         origin_listed(cfg, &o)))
        return 0;
    ipd_worker_send_error(req, 403, "requests from this Origin are not allowed; see allowed_origins");
    return -1;
}

static void dispatch(ipd_worker_t *w, h2o_req_t *req, ipd_worker_route_t route, int is_read, const char *id)
{
    switch (route) {
    case IPD_ROUTE_ACTIVE:
        ipd_worker_get_active(w, req);
        break;
    case IPD_ROUTE_FAILED:
        ipd_worker_get_failed(w, req);
        break;
    case IPD_ROUTE_JOBS:
        ipd_worker_get_jobs(w, req);
        break;
    case IPD_ROUTE_JOB:
        if (is_read)
            ipd_worker_get_job(w, req, id);
        else
            ipd_worker_delete_job(w, req, id);
        break;
    case IPD_ROUTE_PULL:
        ipd_worker_post_pull(w, req);
        break;
    case IPD_ROUTE_STATS:
        ipd_worker_get_stats(w, req);
        break;
    case IPD_ROUTE_HEALTHZ:
        ipd_worker_get_healthz(w, req);
        break;
    case IPD_ROUTE_READYZ:
        ipd_worker_get_readyz(w, req);
        break;
    case IPD_ROUTE_METRICS:
        ipd_worker_get_metrics(w, req);
        break;
    case IPD_ROUTE_DASHBOARD:
        ipd_worker_get_dashboard(w, req);
        break;
    case IPD_ROUTE_POD_LOGS:
        ipd_logs_handle(w, req);
        break;
    case IPD_ROUTE_WS_JOB:
        ipd_ws_serve(w, req, id);
        break;
    case IPD_ROUTE_WS_ALL:
        ipd_ws_serve(w, req, NULL);
        break;
    default:
        ipd_worker_send_error(req, 404, "no such endpoint");
        break;
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ipd_worker_t *w = ((struct route_handler *)self)->w;
    ipd_worker_conn_t *conn = ipd_worker_conn_of(req);
    char id[IPD_JOB_ID_SIZE];
    int presented;

    if (conn != NULL && req->version >= 0x200)
        conn->h2_requests++; /* streams that do not get here are counted by h2_guard.c */
    if (conn != NULL && (conn->closing || !ipd_http_rate_take(&conn->rate, (unsigned)w->cfg->request_rate_per_conn,
                                                              h2o_now(w->loop)))) {
        ipd_stats_add(w->stats, IPD_STATS_RATE_LIMITED, 1);
        ipd_worker_conn_close_soon(conn, req);
        ipd_worker_send_error(req, 429, "request rate over request_rate_per_conn; the connection is closed");
        return 0;
    }
    if (header_bytes(req) > w->cfg->max_header_size) {
        /* The connection goes too: a client sending such headers is not one to keep reading. */
        if (conn != NULL)
            ipd_worker_conn_close_soon(conn, req);
        ipd_worker_send_error(req, 431, "the request's header block is over max_header_size");
        return 0;
    }
    if (check_framing(req, conn) != 0)
        return 0;
    if (req->version >= 0x200 && req->input.path.len == 0) {
        /* RFC 9113 section 8.3.1: an empty :path is malformed, a stream error of type PROTOCOL_ERROR. */
        ipd_worker_reset_stream(req);
        return 0;
    }
    if (check_site(w, req) != 0)
        return 0;
    ipd_worker_route_t route = classify(req->path_normalized, id);
    const struct route_def *def = &routes[route];
    ipd_http_role_t role = role_of(w, conn, req, &presented);
    if (!def->open && role == IPD_HTTP_ROLE_NONE) {
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE,
                       presented ? "Bearer realm=\"imgpulld\", error=\"invalid_token\"" : "Bearer realm=\"imgpulld\"",
                       presented ? sizeof("Bearer realm=\"imgpulld\", error=\"invalid_token\"") - 1
                                 : sizeof("Bearer realm=\"imgpulld\"") - 1, 1);
        ipd_worker_send_error(req, 401, presented ? "invalid bearer token" : "a bearer token is required");
        return 0;
    }
    if (route == IPD_ROUTE_OTHER) {
        ipd_worker_send_error(req, 404, "no such endpoint");
        return 0;
    }
    int is_read = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
                  h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    int is_delete = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"));
    int is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (!((is_read && def->read_methods) || (is_delete && def->delete_method) || (is_post && def->post_method))) {
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, def->allow, strlen(def->allow), 1);
        ipd_worker_send_error(req, 405, "method not allowed here");
        return 0;
    }
    if (!def->open && !is_read && role < IPD_HTTP_ROLE_ADMIN) {
        ipd_worker_send_error(req, 403, "this token has the read role; the admin role is required");
        return 0;
    }
    dispatch(w, req, route, is_read, id);
    return 0;
}

static size_t status_kind(int status)
{
    static const int codes[IPD_WORKER_STATUS_KINDS] = IPD_WORKER_STATUS_CODES;
    size_t k = 0;
    while (k < IPD_WORKER_STATUS_KINDS - 1 && codes[k] != status)
        k++;
    return k;
}

static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    ipd_worker_t *w = ((struct stats_logger *)self)->w;
    int64_t us = 0;
    if (!h2o_time_compute_duration(req, &us) || us < 0)
        us = 0;
    ipd_stats_route_add(w->stats, (unsigned)(classify(req->path_normalized, NULL) * IPD_WORKER_STATUS_KINDS +
                                             status_kind(req->res.status)));
    ipd_stats_request(w->stats, req->res.status, (uint64_t)us, req->entity.len, req->bytes_sent);
}

void ipd_worker_router_register(ipd_worker_t *w, h2o_hostconf_t *host)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct route_handler *h = (struct route_handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->w = w;
    struct stats_logger *l = (struct stats_logger *)h2o_create_logger(pc, sizeof(*l));
    l->super.log_access = on_log_access;
    l->w = w;
}
