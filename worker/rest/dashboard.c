#include "worker/rest/dashboard.h"

#include <string.h>

#include "worker/rest/rest.h"

/*
 * The built-in dashboard: index.html at "/", its script and style sheet under "/ui/". The files
 * are ordinary files in worker/dashboard/, embedded at build time. The page needs no token to
 * load (it holds no data); every call it makes carries the token it keeps.
 *
 * The policy allows only the page's own script and style files (no inline script, no eval),
 * connections to this origin (REST and WebSocket; CSP level 3 lets 'self' cover ws: and wss:
 * of the same host), and nothing from any other origin. ETags are content hashes made at build
 * time; "no-cache" makes browsers revalidate, which costs a 304 while the binary is the same.
 */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ipd_dashboard_asset_t *ipd_dashboard_find(const char *path, size_t len)
{
    for (size_t i = 0; i < ipd_dashboard_nassets; i++)
        if (h2o_memis(path, len, ipd_dashboard_assets[i].path, strlen(ipd_dashboard_assets[i].path)))
            return &ipd_dashboard_assets[i];
    return NULL;
}

static void set_header(h2o_req_t *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
    h2o_set_header_by_str(&req->pool, &req->res.headers, name, nlen, 0, value, vlen, 1);
}

int ipd_dashboard_is_file(const char *path, size_t len)
{
    return ipd_dashboard_find(path, len) != NULL;
}

void ipd_worker_get_dashboard(ipd_worker_t *w, h2o_req_t *req, const char *id)
{
    (void)id; /* a route without {id} */
    (void)w;
    const ipd_dashboard_asset_t *a = ipd_dashboard_find(req->path_normalized.base, req->path_normalized.len);
    if (a == NULL) {
        ipd_worker_send_error(req, 404, "no such endpoint");
        return;
    }
    set_header(req, H2O_STRLIT("content-security-policy"), csp, sizeof(csp) - 1);
    set_header(req, H2O_STRLIT("x-content-type-options"), H2O_STRLIT("nosniff"));
    set_header(req, H2O_STRLIT("x-frame-options"), H2O_STRLIT("DENY"));
    set_header(req, H2O_STRLIT("referrer-policy"), H2O_STRLIT("no-referrer"));
    set_header(req, H2O_STRLIT("cache-control"), H2O_STRLIT("no-cache"));
    set_header(req, H2O_STRLIT("etag"), a->etag, strlen(a->etag));
    if (ipd_worker_not_modified(req, a->etag))
        return;
    ipd_worker_send_text(req, 200, a->content_type, (const char *)a->data, a->len);
}
