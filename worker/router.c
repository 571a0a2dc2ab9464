#include "worker/router.h"

#include <string.h>
#include <unistd.h>

#include "proto/http1_framing.h"
#include "proto/http_host.h"
#include "proto/job.h"
#include "worker/http/http.h"
#include "worker/rest/rest.h"
#include "worker/rest/dashboard.h"
#include "worker/logs/logs.h"
#include "worker/ws/ws.h"

struct route_handler {
    h2o_handler_t super;
    ipd_worker_t *w;
};

struct stats_logger {
    h2o_logger_t super;
    ipd_worker_t *w;
};

/** A route's handler; `id` is the path's {id} segment on a route that has one, else NULL. */
typedef void (*route_fn)(ipd_worker_t *w, h2o_req_t *req, const char *id);

enum { M_GET = 1, M_HEAD = 2, M_POST = 4, M_DELETE = 8, M_READ = M_GET | M_HEAD };

/*
 * One route: its path (exact, or ending in "{id}" for one id segment there), the methods it
 * answers, the role a caller needs for GET and HEAD (POST and DELETE always need admin), the
 * `route` label of its metrics, and its handlers. A route is this one row: the router, the 405
 * Allow header, the auth check and the per-route metrics (slots in the stats segment, sized
 * from this table's length) all read it. docs/hacking.md walks through adding one.
 */
static const struct route {
    const char *path;
    unsigned methods;
    ipd_http_role_t role;
    const char *metric;
    route_fn on_read;                          /* GET and HEAD */
    route_fn on_write;                         /* POST and DELETE */
    int (*also)(const char *path, size_t len); /* other paths the route answers, or NULL */
    unsigned upgrade : 1;                      /* a WebSocket handshake: Allow says GET alone */
} routes[] = {
    {.path = "/api/v1/images/pull-active",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pull-active",
     .on_read = ipd_worker_get_active},
    {.path = "/api/v1/images/pull-failed",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pull-failed",
     .on_read = ipd_worker_get_failed},
    {.path = "/api/v1/images/pull-jobs",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pull-jobs",
     .on_read = ipd_worker_get_jobs},
    {.path = "/api/v1/images/pull-jobs/{id}",
     .methods = M_READ | M_DELETE,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pull-job",
     .on_read = ipd_worker_get_job,
     .on_write = ipd_worker_delete_job},
    {.path = "/api/v1/images/pull",
     .methods = M_POST,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pull",
     .on_write = ipd_worker_post_pull},
    {.path = "/api/v1/stats",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "stats",
     .on_read = ipd_worker_get_stats},
    {.path = "/healthz",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_NONE,
     .metric = "healthz",
     .on_read = ipd_worker_get_healthz},
    {.path = "/readyz",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_NONE,
     .metric = "readyz",
     .on_read = ipd_worker_get_readyz},
    {.path = "/metrics",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "metrics",
     .on_read = ipd_worker_get_metrics},
    {.path = "/",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_NONE,
     .metric = "dashboard",
     .on_read = ipd_worker_get_dashboard,
     .also = ipd_dashboard_is_file},
    {.path = "/ws/pod-logs",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "pod-logs",
     .on_read = ipd_logs_handle,
     .upgrade = 1},
    {.path = "/ws/image-pull/{id}",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "ws-job",
     .on_read = ipd_ws_serve,
     .upgrade = 1},
    {.path = "/ws/image-pull-all",
     .methods = M_READ,
     .role = IPD_HTTP_ROLE_READ,
     .metric = "ws-all",
     .on_read = ipd_ws_serve,
     .upgrade = 1},
};

#define ROUTES (sizeof(routes) / sizeof(routes[0]))
/* Anything else: 404, after the token check (an unknown path tells a stranger nothing). */
#define ROUTE_OTHER ROUTES

uint32_t ipd_worker_stats_route_slots(void)
{
    return (uint32_t)((ROUTES + 1) * ipd_http_status_kinds());
}

/* The `route` labels of the metrics (w->route_metrics): each row's, then "other". */
static const char *route_labels[ROUTES + 1];
/*
 * Per row, filled once by ipd_worker_router_register: the path's length, and for a path ending
 * in "{id}" the length before it (0 for the others), so that classifying a request, twice per
 * request (routing and the access log), measures no string.
 */
static size_t route_len[ROUTES], route_id_prefix[ROUTES];

/* Whether `path` is `prefix` followed by one id segment; copies the id into `id` (may be NULL). */
static int prefix_id(h2o_iovec_t path, const char *prefix, size_t plen, char *id)
{
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

/*
 * The route of a normalized path (ROUTE_OTHER for none); for the {id} routes copies the id into
 * `id` (IPD_JOB_ID_SIZE, may be NULL) and sets `*has_id`. A malformed id segment (too long, or
 * holding a '/') is no route.
 */
static size_t classify(h2o_iovec_t path, char *id, int *has_id)
{
    *has_id = 0;
    for (size_t r = 0; r < ROUTES; r++) {
        if (route_id_prefix[r] != 0) {
            int m = prefix_id(path, routes[r].path, route_id_prefix[r], id);
            if (m != 0) {
                *has_id = m > 0;
                return m > 0 ? r : ROUTE_OTHER;
            }
        }
    }
    for (size_t r = 0; r < ROUTES; r++)
        if (h2o_memis(path.base, path.len, routes[r].path, route_len[r]))
            return r;
    for (size_t r = 0; r < ROUTES; r++)
        if (routes[r].also != NULL && routes[r].also(path.base, path.len))
            return r;
    return ROUTE_OTHER;
}

/* The Allow header of a route: its methods, in a fixed order, in `buf` (caller's, 32 bytes). */
static size_t allow_of(const struct route *def, char *buf)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{M_GET, "GET"}, {M_HEAD, "HEAD"}, {M_POST, "POST"}, {M_DELETE, "DELETE"}};
    unsigned methods = def->upgrade ? M_GET : def->methods;
    size_t n = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (methods & names[i].bit)
            n += (size_t)sprintf(buf + n, "%s%s", n > 0 ? ", " : "", names[i].name);
    return n;
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ipd_worker_t *w = ((struct route_handler *)self)->w;
    ipd_worker_conn_t *conn = ipd_worker_conn_of(req);
    char id[IPD_JOB_ID_SIZE];
    int presented;

    if (conn != NULL && req->version >= 0x200)
        conn->h2_requests++; /* streams that do not get here are counted by h2_guard.c */
    if (conn != NULL && (conn->closing ||
                         !ipd_http_rate_take(&conn->rate, (unsigned)w->cfg->request_rate_per_conn, h2o_now(w->loop)))) {
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
    int has_id;
    size_t route = classify(req->path_normalized, id, &has_id);
    const struct route *def = route < ROUTES ? &routes[route] : NULL;
    ipd_http_role_t role = role_of(w, conn, req, &presented);
    /* An unknown path needs a token too: it is answered 404 only to callers who may read. */
    if (role == IPD_HTTP_ROLE_NONE && (def == NULL || def->role > IPD_HTTP_ROLE_NONE)) {
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE,
                       presented ? "Bearer realm=\"imgpulld\", error=\"invalid_token\"" : "Bearer realm=\"imgpulld\"",
                       presented ? sizeof("Bearer realm=\"imgpulld\", error=\"invalid_token\"") - 1
                                 : sizeof("Bearer realm=\"imgpulld\"") - 1,
                       1);
        ipd_worker_send_error(req, 401, presented ? "invalid bearer token" : "a bearer token is required");
        return 0;
    }
    if (def == NULL) {
        ipd_worker_send_error(req, 404, "no such endpoint");
        return 0;
    }
    h2o_iovec_t m = req->method;
    unsigned method = h2o_memis(m.base, m.len, H2O_STRLIT("GET"))      ? M_GET
                      : h2o_memis(m.base, m.len, H2O_STRLIT("HEAD"))   ? M_HEAD
                      : h2o_memis(m.base, m.len, H2O_STRLIT("POST"))   ? M_POST
                      : h2o_memis(m.base, m.len, H2O_STRLIT("DELETE")) ? M_DELETE
                                                                       : 0;
    if ((def->methods & method) == 0) {
        char allow[32];
        size_t n = allow_of(def, allow);
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, h2o_strdup(&req->pool, allow, n).base, n, 1);
        ipd_worker_send_error(req, 405, "method not allowed here");
        return 0;
    }
    int is_read = (method & M_READ) != 0;
    if (role < (is_read ? def->role : IPD_HTTP_ROLE_ADMIN)) {
        ipd_worker_send_error(req, 403, "this token has the read role; the admin role is required");
        return 0;
    }
    (is_read ? def->on_read : def->on_write)(w, req, has_id ? id : NULL);
    return 0;
}

static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    ipd_worker_t *w = ((struct stats_logger *)self)->w;
    int64_t us = 0;
    if (!h2o_time_compute_duration(req, &us) || us < 0)
        us = 0;
    int has_id;
    size_t route = classify(req->path_normalized, NULL, &has_id);
    ipd_stats_route_add(w->stats, (unsigned)(route * ipd_http_status_kinds() + ipd_http_status_kind(req->res.status)));
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
    static const char marker[] = "{id}";
    for (size_t r = 0; r < ROUTES; r++) {
        size_t len = strlen(routes[r].path);
        route_labels[r] = routes[r].metric;
        route_len[r] = len;
        route_id_prefix[r] =
            len > sizeof(marker) - 1 && strcmp(routes[r].path + len - (sizeof(marker) - 1), marker) == 0
                ? len - (sizeof(marker) - 1)
                : 0;
    }
    route_labels[ROUTE_OTHER] = "other";
    w->route_metrics = route_labels;
    w->nroutes = ROUTES + 1;
}
